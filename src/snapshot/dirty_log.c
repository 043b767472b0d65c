/* The pages RAM changed since the last snapshot. See dirty_log.h.
 *
 * Why the bitmap log and not the dirty ring (KVM_CAP_DIRTY_LOG_RING): a
 * snapshot reads the log once per save with every vCPU parked, so one
 * KVM_GET_DIRTY_LOG per slot is all it takes (its cost is the bitmap,
 * 32 KiB per GiB of RAM); the ring would add per-vCPU harvesting and a
 * ring-full exit to handle while the guest runs, which only pays off for
 * live migration's repeated passes.
 *
 * Why not KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 / KVM_CLEAR_DIRTY_LOG: with
 * the VM paused between the read and the reset, reading and clearing in
 * one KVM_GET_DIRTY_LOG write-protects exactly the pages CLEAR would,
 * under the same lock, with one ioctl fewer (api.rst, KVM_GET_DIRTY_LOG
 * and KVM_CLEAR_DIRTY_LOG; virt/kvm/kvm_main.c kvm_get_dirty_log_protect). Manual protection
 * helps when the guest runs between the two (migration), or to skip the
 * write-protection of a populated slot when logging is turned on
 * (KVM_DIRTY_LOG_INITIALLY_SET); kvmrun's slots are logged from their
 * creation, before any page is mapped. */
#include "snapshot/dirty_log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include <linux/kvm.h>

#include "log.h"
#include "memory.h"
#include "snapshot/dirty_bitmap.h"

#define PAGE GUEST_MEMORY_DIRTY_PAGE

int dirty_log_init(struct dirty_log *dl, int vm_fd, struct guest_memory *mem)
{
	uint64_t largest = 0;

	memset(dl, 0, sizeof(*dl));
	if (!mem->vmm_dirty || mem->size % PAGE)
		return -EINVAL;
	for (unsigned i = 0; i < mem->nr_regions; i++) {
		if (mem->regions[i].size % PAGE || mem->regions[i].host_offset % PAGE)
			return -EINVAL;
		if (mem->regions[i].size / PAGE > largest)
			largest = mem->regions[i].size / PAGE;
	}
	dl->vm_fd = vm_fd;
	dl->mem = mem;
	dl->pages = mem->size / PAGE;
	dl->pending = calloc(DIRTY_BITMAP_WORDS(dl->pages), sizeof(uint64_t));
	/* KVM writes ALIGN(pages, BITS_PER_LONG) / 8 bytes (api.rst KVM_GET_DIRTY_LOG). */
	dl->slot_bits = calloc(DIRTY_BITMAP_WORDS(largest), sizeof(uint64_t));
	if (!dl->pending || !dl->slot_bits) {
		dirty_log_destroy(dl);
		return -ENOMEM;
	}
	return 0;
}

void dirty_log_destroy(struct dirty_log *dl)
{
	free(dl->pending);
	free(dl->slot_bits);
	memset(dl, 0, sizeof(*dl));
}

int dirty_log_collect(struct dirty_log *dl)
{
	const struct guest_memory *mem = dl->mem;

	for (unsigned i = 0; i < mem->nr_regions; i++) {
		const struct guest_region *r = &mem->regions[i];
		struct kvm_dirty_log log = { .slot = i, .dirty_bitmap = dl->slot_bits };

		/* Reads and resets the slot's log (without manual protection,
		 * KVM_GET_DIRTY_LOG is get-and-clear, and write-protects the
		 * pages it reports so their next write is logged again). */
		if (ioctl(dl->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0)
			return log_syscall_error("KVM_GET_DIRTY_LOG", errno);
		dirty_bitmap_or(dl->pending, r->host_offset / PAGE, dl->slot_bits, r->size / PAGE);
	}
	dirty_bitmap_take(dl->pending, mem->vmm_dirty, DIRTY_BITMAP_WORDS(dl->pages));
	return 0;
}

void dirty_log_commit(struct dirty_log *dl)
{
	memset(dl->pending, 0, DIRTY_BITMAP_WORDS(dl->pages) * sizeof(uint64_t));
}
