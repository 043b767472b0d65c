/* The PIT's lost-tick policy (kvmrun --pit-reinject on|off, KVM's
 * KVM_REINJECT_CONTROL), seen from the guest.
 *
 * PIT channel 0 ticks at ~100 Hz into IRQ 0, routed as the MP table and
 * the MADT say (I/O APIC pin 2; irq_routing.h). The guest keeps interrupts
 * off for 500 ms, so ~50 ticks come due while it cannot take them, then
 * counts the interrupts it gets during the next 200 ms:
 *
 *   reinject=on   KVM queued the missed ticks and delivers one per EOI:
 *                 the backlog arrives back to back, on top of the ~20
 *                 ticks of the window itself
 *   reinject=off  missed ticks are lost: one pending interrupt plus at
 *                 most the ~20 of the window
 *
 * The threshold sits between the two (backlog / 2 above the window). The
 * rate is low because on hosts where guest CPL 0 is emulated each
 * interrupt costs a good fraction of a millisecond: at 1 kHz the window
 * itself would not get all its ticks. */
#include "apic.h"
#include "desc.h"
#include "io.h"
#include "libguest.h"
#include "tsc.h"

#define PIT_CH0          0x40
#define PIT_COMMAND      0x43
#define PIT_CH0_RATE_GEN 0x34          /* channel 0, lobyte/hibyte, mode 2 */
#define PIT_HZ           1193182u
#define PIT_DIVISOR      11932u        /* ~100 Hz */
#define IOAPIC_BASE      0xfec00000UL
#define IOAPIC_REDTBL    0x10
#define IOAPIC_MASKED    (1u << 16)
#define IRQ0_PIN         2             /* the ISA IRQ 0 override */
#define TICK_VECTOR      0x40
#define MASKED_MS        500
#define WINDOW_MS        200

static volatile unsigned ticks;

static void tick_handler(struct ex_regs *regs __unused)
{
	ticks++;
	apic_eoi();
}

static void ioapic_write(unsigned reg, uint32_t value)
{
	*(volatile uint32_t *)(IOAPIC_BASE) = reg;
	*(volatile uint32_t *)(IOAPIC_BASE + 0x10) = value;
}

static void spin_ms(uint64_t hz, unsigned ms)
{
	uint64_t start = rdtsc();

	while (rdtsc() - start < hz / 1000 * ms)
		cpu_relax();
}

int main(int argc, char **argv)
{
	const char *source;
	char want[8] = "";
	uint64_t hz = tsc_hz(&source);
	unsigned got, window = WINDOW_MS * (PIT_HZ / PIT_DIVISOR) / 1000;
	unsigned backlog = MASKED_MS * (PIT_HZ / PIT_DIVISOR) / 1000;

	(void)argc;
	(void)argv;
	report_prefix_push("pit");
	if (!cmdline_get_str("reinject", want, sizeof(want)) ||
	    (strcmp(want, "on") && strcmp(want, "off"))) {
		report(false, "reinject=on|off on the command line");
		return report_summary();
	}
	if (!hz) {
		report_skip("TSC frequency unknown");
		return report_summary();
	}

	apic_enable();
	idt_set_handler(TICK_VECTOR, tick_handler);
	ioapic_write(IOAPIC_REDTBL + 2 * IRQ0_PIN + 1, apic_id() << 24);
	ioapic_write(IOAPIC_REDTBL + 2 * IRQ0_PIN, TICK_VECTOR);   /* edge, active high */
	outb(PIT_COMMAND, PIT_CH0_RATE_GEN);
	outb(PIT_CH0, PIT_DIVISOR & 0xff);
	outb(PIT_CH0, PIT_DIVISOR >> 8);

	/* Interrupts are off since boot: let ticks come due. */
	spin_ms(hz, MASKED_MS);
	ticks = 0;
	irq_enable();
	spin_ms(hz, WINDOW_MS);
	irq_disable();
	got = ticks;
	ioapic_write(IOAPIC_REDTBL + 2 * IRQ0_PIN, IOAPIC_MASKED);

	report_info("%u interrupts in %u ms after %u ms with interrupts off (TSC: %s)", got,
		    WINDOW_MS, MASKED_MS, source);
	if (!strcmp(want, "on"))
		report(got >= window + backlog / 2,
		       "reinject on: %u interrupts, the missed ticks were delivered (>= %u)", got,
		       window + backlog / 2);
	else
		report(got >= 1 && got <= window + 10,
		       "reinject off: %u interrupts, the missed ticks were dropped (<= %u)", got,
		       window + 10);
	return report_summary();
}
