/* Guest side of the eventfd fast-path test (tests/kvm/test_eventfds.c):
 * route IOAPIC pin 5 to this CPU, ring a doorbell port the host has bound
 * to an ioeventfd (the write must complete in KVM, never reaching the VMM),
 * then wait for the interrupt the host injects through an irqfd on GSI 5,
 * and exit with 0x5a (1 if more than one interrupt arrived). */
#include "apic.h"
#include "desc.h"
#include "io.h"
#include "libguest.h"

#define IOAPIC_BASE     0xfec00000UL
#define IOAPIC_REGSEL   0x00
#define IOAPIC_WINDOW   0x10
#define IOAPIC_REDTBL   0x10   /* pin n: registers 0x10 + 2n (low), 0x11 + 2n (high) */
#define IRQ_PIN         5
#define IRQ_VECTOR      0x45
#define DOORBELL_PORT   0x604
#define DOORBELL_VALUE  1
#define SUCCESS         0x5a

static volatile unsigned interrupts;

static void ioapic_write(unsigned reg, uint32_t value)
{
	*(volatile uint32_t *)(IOAPIC_BASE + IOAPIC_REGSEL) = reg;
	*(volatile uint32_t *)(IOAPIC_BASE + IOAPIC_WINDOW) = value;
}

static void irq_handler(struct ex_regs *regs __unused)
{
	interrupts++;
	apic_eoi();
}

int main(int argc __unused, char **argv __unused)
{
	apic_enable();
	idt_set_handler(IRQ_VECTOR, irq_handler);
	/* Fixed delivery, physical destination, active high, edge, unmasked. */
	ioapic_write(IOAPIC_REDTBL + 2 * IRQ_PIN + 1, apic_id() << 24);
	ioapic_write(IOAPIC_REDTBL + 2 * IRQ_PIN, IRQ_VECTOR);
	printf("eventfd: ringing the doorbell\n");
	outb(DOORBELL_PORT, DOORBELL_VALUE);
	/* The host answers through the irqfd; HLT with interrupts on wakes
	 * for it. A lost interrupt leaves us halted: the host test's timeout
	 * reports it. */
	while (!interrupts)
		safe_halt();
	printf("eventfd: %u interrupt(s)\n", interrupts);
	return interrupts == 1 ? SUCCESS : 1;
}
