/* A software interrupt KVM may hide from KVM_GET_VCPU_EVENTS. See
 * soft_event.h. */
#include "snapshot/soft_event.h"

#include <linux/kvm.h>
#include <stdint.h>
#include <sys/ioctl.h>

#include "memory.h"

#define OPCODE_INT3 0xcc
#define OPCODE_INT  0xcd   /* INT imm8 */
#define OPCODE_INTO 0xce

/* The byte at guest-virtual `gva` through the vCPU's page tables
 * (KVM_TRANSLATE), or -1. */
static int guest_byte(int vcpu_fd, const struct guest_memory *mem, uint64_t gva)
{
	struct kvm_translation tr = { .linear_address = gva };
	const uint8_t *p;

	if (ioctl(vcpu_fd, KVM_TRANSLATE, &tr) < 0 || !tr.valid)
		return -1;
	p = guest_memory_ptr(mem, tr.physical_address, 1);
	return p ? *p : -1;
}

/* Whether the instruction ending at `rip` raises `vector` in software. */
static bool soft_instruction_before(int vcpu_fd, const struct guest_memory *mem, uint64_t rip,
				    unsigned vector)
{
	int last = guest_byte(vcpu_fd, mem, rip - 1);

	if ((vector == 3 && last == OPCODE_INT3) || (vector == 4 && last == OPCODE_INTO))
		return true;
	return last == (int)vector && guest_byte(vcpu_fd, mem, rip - 2) == OPCODE_INT;
}

bool soft_event_maybe_hidden(int vcpu_fd, const struct guest_memory *mem)
{
	struct kvm_vcpu_events ev;
	struct kvm_regs regs;

	if (ioctl(vcpu_fd, KVM_GET_VCPU_EVENTS, &ev) < 0 || ioctl(vcpu_fd, KVM_GET_REGS, &regs) < 0)
		return false;
	/* A reported event is saved and restored as it is. */
	if (ev.exception.injected || ev.exception.pending || ev.interrupt.injected)
		return false;
	/* nr keeps the vector KVM last queued even when it reports nothing
	 * else (a soft event, or one long delivered). */
	return soft_instruction_before(vcpu_fd, mem, regs.rip, ev.exception.nr) ||
	       soft_instruction_before(vcpu_fd, mem, regs.rip, ev.interrupt.nr);
}
