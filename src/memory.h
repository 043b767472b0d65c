/* Guest RAM: one memfd mapped contiguously in the VMM, exposed to the guest as
 * one or two regions (below the device hole, and above 4 GiB). */
#ifndef KVMRUN_MEMORY_H
#define KVMRUN_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GUEST_MEMORY_MAX_REGIONS 2

struct guest_region {
	uint64_t gpa;          /* guest physical start */
	uint64_t size;         /* bytes */
	uint64_t host_offset;  /* offset into guest_memory.host */
};

struct guest_memory {
	uint8_t *host;         /* base of the host mapping, size bytes */
	uint64_t size;         /* total RAM */
	int fd;                /* memfd backing the RAM, -1 if anonymous */
	bool private_file;     /* fd is a file mapped copy-on-write (a restored
				* snapshot's memory file), not the memfd */
	unsigned nr_regions;
	struct guest_region regions[GUEST_MEMORY_MAX_REGIONS];
	/* Pages kvmrun itself wrote (virtio rings and device-writable
	 * buffers, fw_cfg DMA, guest_memory_write): one bit per 4 KiB page
	 * of RAM offset, set atomically from any thread. NULL unless diff
	 * snapshots track dirty pages: KVM's dirty log sees only what the
	 * guest writes (docs/snapshots.md, "Diff snapshots"). */
	uint64_t *vmm_dirty;
};

#define GUEST_MEMORY_DIRTY_PAGE 4096u

/* Compute the region layout for `size` bytes of RAM without allocating
 * anything (pure; used by guest_memory_create and the unit tests). */
void guest_memory_layout(struct guest_memory *mem, uint64_t size);

/* Allocate RAM from a memfd and lay it out. Returns 0 or -errno. */
int guest_memory_create(struct guest_memory *mem, uint64_t size);

/* Allocate RAM from anonymous memory (unit tests; no memfd needed). */
int guest_memory_create_anonymous(struct guest_memory *mem, uint64_t size);

/* RAM from `size` bytes of the open file `fd` at `offset` (page aligned),
 * mapped MAP_PRIVATE: the guest starts with the file's contents, pages
 * are read in as the guest touches them, and its writes stay private to
 * this process (the file never changes). What a snapshot restore maps,
 * so its cost does not grow with the RAM size. Takes `fd` (closed by
 * guest_memory_destroy, also on failure). Returns 0 or -errno. */
int guest_memory_map_file(struct guest_memory *mem, int fd, uint64_t offset, uint64_t size);

void guest_memory_destroy(struct guest_memory *mem);

/* Start tracking the pages kvmrun writes (mem->vmm_dirty, all clear). A
 * VM created on such memory also has KVM log the guest's writes
 * (KVM_MEM_LOG_DIRTY_PAGES, vm.c). Returns 0 or -ENOMEM. */
int guest_memory_track_dirty(struct guest_memory *mem);

/* Record that kvmrun wrote `len` bytes at `host` (a pointer into RAM that
 * guest_memory_ptr returned). Every write into guest RAM that is not the
 * guest's own must be marked, or a diff snapshot misses it. A no-op
 * without tracking. Safe from any thread. */
void guest_memory_mark_dirty(const struct guest_memory *mem, const void *host, uint64_t len);

/* The one checked gpa -> host translation: returns a pointer to `len` bytes
 * at `gpa` only if the whole range lies inside one RAM region, else NULL.
 * Overflow-safe for any gpa and len. len 0 is treated as 1. */
void *guest_memory_ptr(const struct guest_memory *mem, uint64_t gpa, uint64_t len);

/* Copy in / out through guest_memory_ptr (a write is marked dirty).
 * Return 0 or -EFAULT. */
int guest_memory_write(const struct guest_memory *mem, uint64_t gpa, const void *src, uint64_t len);
int guest_memory_read(const struct guest_memory *mem, uint64_t gpa, void *dst, uint64_t len);

/* Highest RAM address below the device hole (exclusive). */
uint64_t guest_memory_low_end(const struct guest_memory *mem);

#endif
