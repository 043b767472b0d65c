/* KVM's GSI routing for the PC platform kvmrun describes.
 *
 * KVM's default routing sends GSI n to PIC input n (n < 16) and I/O APIC
 * pin n. But the MP table and the MADT say, as on every PC, that ISA IRQ 0
 * (the PIT, which KVM's in-kernel PIT raises as GSI 0) arrives on I/O APIC
 * pin 2, pin 0 being the 8259's ExtINT input. So kvmrun installs the
 * routing QEMU installs for its PC machines (target/i386/kvm
 * kvm_pc_setup_irq_routing):
 *
 *   GSI 0          PIC master pin 0 and I/O APIC pin 2
 *   GSI 1, 3-7     PIC master pin n and I/O APIC pin n
 *   GSI 8-15       PIC slave pin n - 8 and I/O APIC pin n
 *   GSI 16-23      I/O APIC pin n
 *   GSI 2          none: the cascade, never a device interrupt
 *
 * KVM resolves ack and mask notifiers through this table too, so the
 * PIT's tick reinjection (KVM_REINJECT_CONTROL) follows an EOI on pin 2. */
#ifndef KVMRUN_IRQ_ROUTING_H
#define KVMRUN_IRQ_ROUTING_H

#include <linux/kvm.h>

#define IRQ_ROUTING_PC_ENTRIES 38   /* 2 for GSI 0, 2 x 14 for 1, 3-15, 8 for 16-23 */

/* Fill `entries` with the routing above; returns the number written. */
unsigned irq_routing_pc(struct kvm_irq_routing_entry entries[IRQ_ROUTING_PC_ENTRIES]);

#endif
