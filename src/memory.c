#include "memory.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "layout.h"

void guest_memory_layout(struct guest_memory *mem, uint64_t size)
{
	uint64_t low = size < LAYOUT_MMIO_HOLE_START ? size : LAYOUT_MMIO_HOLE_START;

	mem->size = size;
	mem->nr_regions = 1;
	mem->regions[0] = (struct guest_region){ .gpa = 0, .size = low, .host_offset = 0 };
	if (size > low) {
		mem->regions[1] = (struct guest_region){
			.gpa = LAYOUT_MMIO_HOLE_END, .size = size - low, .host_offset = low,
		};
		mem->nr_regions = 2;
	}
}

static int map_ram(struct guest_memory *mem, uint64_t size, int fd)
{
	int flags = fd >= 0 ? MAP_SHARED : MAP_PRIVATE | MAP_ANONYMOUS;
	/* MAP_NORESERVE: RAM is committed as the guest touches it, so a large
	 * guest costs nothing until used. */
	void *host = mmap(NULL, size, PROT_READ | PROT_WRITE, flags | MAP_NORESERVE, fd, 0);

	if (host == MAP_FAILED)
		return -errno;
	/* Transparent huge pages where the host allows them for this kind of
	 * memory (shmem_enabled "advise", or "madvise" for anonymous RAM): a
	 * guest's first touch of 2 MiB then costs one fault (one EPT
	 * violation) instead of 512, and the TLB covers more. Only a hint: it
	 * fails harmlessly without THP, and Debian's default for shmem is
	 * "never" (README, "Limits"). */
	madvise(host, size, MADV_HUGEPAGE);
	mem->host = host;
	mem->fd = fd;
	guest_memory_layout(mem, size);
	return 0;
}

int guest_memory_create(struct guest_memory *mem, uint64_t size)
{
	int fd, ret;

	memset(mem, 0, sizeof(*mem));
	mem->fd = -1;
	if (size == 0)
		return -EINVAL;
	fd = memfd_create("kvmrun-guest-ram", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0) {
		ret = -errno;
		goto close_fd;
	}
	ret = map_ram(mem, size, fd);
	if (ret < 0)
		goto close_fd;
	return 0;

close_fd:
	close(fd);
	return ret;
}

int guest_memory_create_anonymous(struct guest_memory *mem, uint64_t size)
{
	memset(mem, 0, sizeof(*mem));
	mem->fd = -1;
	if (size == 0)
		return -EINVAL;
	return map_ram(mem, size, -1);
}

int guest_memory_map_file(struct guest_memory *mem, int fd, uint64_t offset, uint64_t size)
{
	void *host;

	memset(mem, 0, sizeof(*mem));
	mem->fd = -1;
	if (size == 0 || (offset & 0xfff) || offset > (uint64_t)INT64_MAX) {
		close(fd);
		return -EINVAL;
	}
	/* MAP_NORESERVE as for fresh RAM: copy-on-write pages are committed
	 * only as the guest writes them. */
	host = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, fd, (off_t)offset);
	if (host == MAP_FAILED) {
		int err = errno;

		close(fd);
		return -err;
	}
	mem->host = host;
	mem->fd = fd;
	mem->private_file = true;
	guest_memory_layout(mem, size);
	return 0;
}

void guest_memory_destroy(struct guest_memory *mem)
{
	free(mem->vmm_dirty);
	if (mem->host)
		munmap(mem->host, mem->size);
	if (mem->fd >= 0)
		close(mem->fd);
	memset(mem, 0, sizeof(*mem));
	mem->fd = -1;
}

int guest_memory_track_dirty(struct guest_memory *mem)
{
	uint64_t pages = (mem->size + GUEST_MEMORY_DIRTY_PAGE - 1) / GUEST_MEMORY_DIRTY_PAGE;

	if (mem->vmm_dirty)
		return 0;
	mem->vmm_dirty = calloc((size_t)((pages + 63) / 64), sizeof(uint64_t));
	return mem->vmm_dirty ? 0 : -ENOMEM;
}

void guest_memory_mark_dirty(const struct guest_memory *mem, const void *host, uint64_t len)
{
	uintptr_t base = (uintptr_t)mem->host, at = (uintptr_t)host;
	uint64_t first, last;

	if (!mem->vmm_dirty || len == 0 || at < base)
		return;
	first = at - base;
	if (first >= mem->size || len > mem->size - first)
		return;   /* not inside RAM: no caller passes such a range */
	last = (first + len - 1) / GUEST_MEMORY_DIRTY_PAGE;
	for (uint64_t p = first / GUEST_MEMORY_DIRTY_PAGE; p <= last; p++)
		__atomic_fetch_or(&mem->vmm_dirty[p / 64], 1ULL << (p % 64), __ATOMIC_RELAXED);
}

void *guest_memory_ptr(const struct guest_memory *mem, uint64_t gpa, uint64_t len)
{
	if (len == 0)
		len = 1;
	for (unsigned i = 0; i < mem->nr_regions; i++) {
		const struct guest_region *r = &mem->regions[i];

		/* Written so that nothing can overflow: gpa >= r->gpa first,
		 * then compare offsets against the region size. */
		if (gpa < r->gpa)
			continue;
		uint64_t offset = gpa - r->gpa;
		if (offset >= r->size || len > r->size - offset)
			continue;
		return mem->host + r->host_offset + offset;
	}
	return NULL;
}

int guest_memory_write(const struct guest_memory *mem, uint64_t gpa, const void *src, uint64_t len)
{
	void *dst;

	if (len == 0)
		return 0;
	dst = guest_memory_ptr(mem, gpa, len);
	if (!dst)
		return -EFAULT;
	memcpy(dst, src, len);
	guest_memory_mark_dirty(mem, dst, len);
	return 0;
}

int guest_memory_read(const struct guest_memory *mem, uint64_t gpa, void *dst, uint64_t len)
{
	const void *src;

	if (len == 0)
		return 0;
	src = guest_memory_ptr(mem, gpa, len);
	if (!src)
		return -EFAULT;
	memcpy(dst, src, len);
	return 0;
}

uint64_t guest_memory_low_end(const struct guest_memory *mem)
{
	return mem->nr_regions ? mem->regions[0].size : 0;
}
