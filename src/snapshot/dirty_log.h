/* The pages a VM's RAM changed since its last snapshot, for diff
 * snapshots (docs/snapshots.md, "Diff snapshots").
 *
 * Two sources, both needed:
 *   - KVM's dirty log of each memory slot (slots created with
 *     KVM_MEM_LOG_DIRTY_PAGES, read and reset by KVM_GET_DIRTY_LOG): every
 *     page the guest wrote, and the pages KVM wrote for it (kvmclock,
 *     steal time, async-PF data, PV EOI: kvm_write_guest marks them);
 *   - guest_memory.vmm_dirty: the pages kvmrun wrote through its own
 *     mapping (virtio rings and buffers, io_uring reads into guest
 *     buffers, fw_cfg DMA), which KVM never sees.
 *
 * Both are moved into `pending` at each save; `pending` is cleared only
 * once a snapshot has been written, so a failed save loses nothing: the
 * next one still writes every page changed since the last snapshot that
 * exists on disk. */
#ifndef KVMRUN_SNAPSHOT_DIRTY_LOG_H
#define KVMRUN_SNAPSHOT_DIRTY_LOG_H

#include <stdint.h>

struct guest_memory;

struct dirty_log {
	int vm_fd;                     /* borrowed */
	struct guest_memory *mem;      /* borrowed; tracks dirty pages */
	uint64_t pages;                /* RAM pages (4 KiB) */
	uint64_t *pending;             /* changed since the last snapshot on disk */
	uint64_t *slot_bits;           /* KVM_GET_DIRTY_LOG's buffer, the largest slot */
};

/* For the VM `vm_fd` whose slot i is mem->regions[i] (vm.c) and whose
 * RAM tracks dirty pages (guest_memory_track_dirty before vm_create).
 * Returns 0, -EINVAL (RAM not tracked, or not whole pages) or -ENOMEM. */
int dirty_log_init(struct dirty_log *dl, int vm_fd, struct guest_memory *mem);
void dirty_log_destroy(struct dirty_log *dl);

/* Move what KVM and kvmrun logged since the last call into `pending`
 * (KVM resets its log: the next call sees only later writes). With the
 * VM paused and its devices quiesced, `pending` is then complete.
 * Returns 0 or -errno (logged). */
int dirty_log_collect(struct dirty_log *dl);

/* A snapshot with the pending pages (or a full one) is on disk. */
void dirty_log_commit(struct dirty_log *dl);

#endif
