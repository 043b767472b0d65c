/* The VM-wide state KVM emulates in the kernel: the two 8259 PICs and the
 * IOAPIC (KVM_GET_IRQCHIP), the PIT (KVM_GET_PIT2) and the kvmclock base
 * (KVM_GET_CLOCK).
 *
 * Clock: the restored guest's kvmclock continues from the value it had
 * when saved (KVM_SET_CLOCK without KVM_CLOCK_REALTIME), as its TSC does
 * (MSR_IA32_TSC is restored to the saved value): the guest sees no time
 * pass while it was saved, and no jump; its wall clock is behind by that
 * much until it resynchronises (NTP, or the RTC). The realtime/host TSC
 * pair KVM reports (KVM_CLOCK_REALTIME | KVM_CLOCK_HOST_TSC, where the
 * host has them) is stored for tools that want to advance it instead. */
#ifndef KVMRUN_SNAPSHOT_VM_STATE_H
#define KVMRUN_SNAPSHOT_VM_STATE_H

#include <linux/kvm.h>
#include <stddef.h>

struct snap_writer;
struct snap_reader;
struct snap_timing;

#define VM_STATE_IRQCHIPS 3   /* KVM_IRQCHIP_PIC_MASTER, _PIC_SLAVE, _IOAPIC */

struct vm_state {
	struct kvm_irqchip irqchip[VM_STATE_IRQCHIPS];
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;
};

/* With every vCPU out of KVM_RUN. Returns 0 or -errno (logged). */
int vm_state_save(struct vm_state *s, int vm_fd, struct snap_timing *t);
/* Interrupt controllers and PIT: before the vCPUs' state. */
int vm_state_restore_chips(const struct vm_state *s, int vm_fd, struct snap_timing *t);
/* The clock: last, once every vCPU's TSC and kvmclock MSRs are back. */
int vm_state_restore_clock(const struct vm_state *s, int vm_fd, struct snap_timing *t);

void vm_state_write(const struct vm_state *s, struct snap_writer *w);
int vm_state_read(struct vm_state *s, const struct snap_reader *r, char *err, size_t errlen);

#endif
