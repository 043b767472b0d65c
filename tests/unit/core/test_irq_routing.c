/* The PC GSI routing: every ISA IRQ reaches the I/O APIC pin the MP table
 * and the MADT name (IRQ 0 on pin 2), the 8259s keep their inputs, and
 * nothing else is routed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "irq_routing.h"

/* The pin of `chip` that `gsi` drives, or -1. */
static int pin_of(const struct kvm_irq_routing_entry *e, unsigned n, unsigned gsi, unsigned chip)
{
	int pin = -1;

	for (unsigned i = 0; i < n; i++) {
		if (e[i].gsi != gsi || e[i].u.irqchip.irqchip != chip)
			continue;
		assert_int_equal(pin, -1);          /* one route per GSI and chip */
		pin = (int)e[i].u.irqchip.pin;
	}
	return pin;
}

static void test_pc_routing(void **state)
{
	struct kvm_irq_routing_entry e[IRQ_ROUTING_PC_ENTRIES];
	unsigned n = irq_routing_pc(e);

	(void)state;
	assert_int_equal(n, IRQ_ROUTING_PC_ENTRIES);
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(e[i].type, KVM_IRQ_ROUTING_IRQCHIP);
		assert_int_equal(e[i].flags, 0);
	}
	/* The PIT: the 8259's input 0 and I/O APIC pin 2. */
	assert_int_equal(pin_of(e, n, 0, KVM_IRQCHIP_IOAPIC), 2);
	assert_int_equal(pin_of(e, n, 0, KVM_IRQCHIP_PIC_MASTER), 0);
	/* The cascade is nobody's interrupt. */
	assert_int_equal(pin_of(e, n, 2, KVM_IRQCHIP_IOAPIC), -1);
	assert_int_equal(pin_of(e, n, 2, KVM_IRQCHIP_PIC_MASTER), -1);
	for (unsigned gsi = 1; gsi < 24; gsi++) {
		if (gsi == 2)
			continue;
		assert_int_equal(pin_of(e, n, gsi, KVM_IRQCHIP_IOAPIC), gsi);
		assert_int_equal(pin_of(e, n, gsi, KVM_IRQCHIP_PIC_MASTER), gsi < 8 ? (int)gsi : -1);
		assert_int_equal(pin_of(e, n, gsi, KVM_IRQCHIP_PIC_SLAVE),
				 gsi >= 8 && gsi < 16 ? (int)gsi - 8 : -1);
	}
	/* No route beyond the I/O APIC's 24 pins, and nothing reaches pin 0
	 * (the 8259's ExtINT input on a PC). */
	for (unsigned i = 0; i < n; i++) {
		assert_true(e[i].gsi < 24);
		if (e[i].u.irqchip.irqchip == KVM_IRQCHIP_IOAPIC)
			assert_int_not_equal(e[i].u.irqchip.pin, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pc_routing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
