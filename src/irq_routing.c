#include "irq_routing.h"

#include <string.h>

#define PC_ISA_IRQS     16
#define PC_IOAPIC_PINS  24
#define PC_PIT_GSI      0
#define PC_PIT_PIN      2     /* the ISA IRQ 0 override */
#define PC_CASCADE_GSI  2

static void route(struct kvm_irq_routing_entry *e, unsigned gsi, unsigned chip, unsigned pin)
{
	memset(e, 0, sizeof(*e));
	e->gsi = gsi;
	e->type = KVM_IRQ_ROUTING_IRQCHIP;
	e->u.irqchip.irqchip = chip;
	e->u.irqchip.pin = pin;
}

unsigned irq_routing_pc(struct kvm_irq_routing_entry entries[IRQ_ROUTING_PC_ENTRIES])
{
	unsigned n = 0;

	for (unsigned gsi = 0; gsi < PC_IOAPIC_PINS; gsi++) {
		if (gsi == PC_CASCADE_GSI)
			continue;
		if (gsi < 8)
			route(&entries[n++], gsi, KVM_IRQCHIP_PIC_MASTER, gsi);
		else if (gsi < PC_ISA_IRQS)
			route(&entries[n++], gsi, KVM_IRQCHIP_PIC_SLAVE, gsi - 8);
		route(&entries[n++], gsi, KVM_IRQCHIP_IOAPIC, gsi == PC_PIT_GSI ? PC_PIT_PIN : gsi);
	}
	return n;
}
