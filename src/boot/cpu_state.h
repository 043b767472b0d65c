/* Entry CPU state for the boot vCPU, as KVM register structures. */
#ifndef KVMRUN_BOOT_CPU_STATE_H
#define KVMRUN_BOOT_CPU_STATE_H

#include <linux/kvm.h>

#include "boot/boot.h"

/* Fill regs/sregs for `entry`. `sregs` must hold the vCPU's current special
 * registers (from KVM_GET_SREGS): fields the boot protocol does not define
 * (APIC base, interrupt bitmap) are left as KVM reset them. Pure function. */
void boot_entry_to_cpu_state(const struct boot_entry *entry,
			     struct kvm_regs *regs, struct kvm_sregs *sregs);

#endif
