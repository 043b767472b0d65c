/* Every vCPU comes up and they talk through x2APIC IPIs.
 *
 * cpus=N on the command line is the count the VMM was asked for; the MP
 * table and the started CPUs must both match it. Then the BSP sends a
 * fixed IPI to each AP, and each AP's handler answers with one to the BSP. */
#include "apic.h"
#include "io.h"
#include "libguest.h"
#include "smp.h"

#define PING_VECTOR 0x40
#define PONG_VECTOR 0x41

static uint32_t checked_in;
static uint32_t checkin_apic_id[GUEST_MAX_CPUS];
static uint32_t pings[GUEST_MAX_CPUS];   /* per receiving CPU */
static uint32_t pongs;                    /* on the BSP */

static void checkin(void *arg __unused)
{
	checkin_apic_id[smp_id()] = apic_id();
	__atomic_fetch_add(&checked_in, 1, __ATOMIC_ACQ_REL);
}

static void ping_handler(struct ex_regs *regs __unused)
{
	__atomic_fetch_add(&pings[smp_id()], 1, __ATOMIC_RELAXED);
	apic_eoi();
	apic_send_ipi(percpu[0].apic_id, PONG_VECTOR);
}

static void pong_handler(struct ex_regs *regs __unused)
{
	__atomic_fetch_add(&pongs, 1, __ATOMIC_RELEASE);
	apic_eoi();
}

int main(int argc __unused, char **argv __unused)
{
	uint64_t want = 0;
	unsigned n, distinct = 1;
	bool ids_ok = true, pings_ok = true;

	report_prefix_push("smp");
	if (!cmdline_get_u64("cpus", &want))
		report_info("no cpus=N on the command line; not checking the count");

	n = smp_init();
	report_info("%u CPUs online, MP table lists %u", n, smp_mptable_cpu_count());
	if (want)
		report(n == want, "CPUs online %u == cpus=%lu", n, want);
	report(smp_mptable_cpu_count() == n, "MP table CPU count %u == CPUs online %u",
	       smp_mptable_cpu_count(), n);

	on_cpus(checkin, NULL);
	report(READ_ONCE(checked_in) == n, "%u of %u CPUs checked in", READ_ONCE(checked_in), n);
	for (unsigned i = 0; i < n; i++) {
		if (checkin_apic_id[i] != percpu[i].apic_id)
			ids_ok = false;
	}
	for (unsigned i = 1; i < n; i++) {
		bool seen = false;

		for (unsigned j = 0; j < i; j++)
			seen |= checkin_apic_id[j] == checkin_apic_id[i];
		distinct += !seen;
	}
	report(ids_ok, "each CPU reports the APIC ID it was started with");
	report(distinct == n, "%u distinct APIC IDs", distinct);

	idt_set_handler(PING_VECTOR, ping_handler);
	idt_set_handler(PONG_VECTOR, pong_handler);
	/* One AP at a time: a LAPIC holds one pending interrupt per vector
	 * (one IRR bit), so pongs sent at once could merge into one. Each
	 * pong is an interrupt to this CPU, so HLT wakes for it; a lost IPI
	 * shows up as the runner's timeout. */
	irq_disable();
	for (unsigned i = 1; i < n; i++) {
		apic_send_ipi(percpu[i].apic_id, PING_VECTOR);
		while (__atomic_load_n(&pongs, __ATOMIC_ACQUIRE) < i)
			safe_halt();
	}
	for (unsigned i = 1; i < n; i++) {
		if (READ_ONCE(pings[i]) != 1) {
			report_info("CPU %u got %u pings", i, READ_ONCE(pings[i]));
			pings_ok = false;
		}
	}
	report(pings_ok, "every AP got exactly one ping");
	report(READ_ONCE(pongs) == n - 1, "%u pings answered by %u pongs", n - 1, READ_ONCE(pongs));

	return report_summary();
}
