/* SMP bring-up and cross-CPU calls. */
#include "smp.h"

#include "apic.h"
#include "io.h"
#include "libguest.h"
#include "mptable.h"

struct percpu percpu[GUEST_MAX_CPUS];

/* Kernel stacks; entry.S starts the BSP on kernel_stacks[0]. */
uint8_t kernel_stacks[GUEST_MAX_CPUS][KERNEL_STACK_SIZE] __aligned(16);

/* Hand-over to the AP being started: the trampoline has no way to find
 * its stack and index, so the BSP publishes them here and starts one AP
 * at a time. */
uint64_t ap_boot_stack;
static uint32_t ap_boot_index;

/* Bring-up results, written once by smp_init() on the BSP. */
static unsigned cpus_online = 1;
static unsigned mptable_cpus;
static bool smp_initialised;

extern const char ap_trampoline_start[], ap_trampoline_end[];

/* An AP that has not checked in after this many TSC cycles (a few seconds
 * at any plausible TSC rate) is given up on. */
#define AP_BOOT_TIMEOUT_CYCLES 10000000000ULL

unsigned smp_cpu_count(void)
{
	return READ_ONCE(cpus_online);
}

unsigned smp_mptable_cpu_count(void)
{
	return mptable_cpus;
}

static void smp_ipi_handler(struct ex_regs *regs __unused)
{
	apic_eoi();
}

/* Spurious interrupts need no EOI (SDM vol. 3 §10.9). */
static void spurious_handler(struct ex_regs *regs __unused)
{
}

/* Wait with HLT until *flag is 0; the CPU that clears it sends
 * SMP_IPI_VECTOR to wake us. */
static void wait_while_set(uint32_t *flag)
{
	uint64_t rflags = read_rflags();

	irq_disable();
	while (__atomic_load_n(flag, __ATOMIC_ACQUIRE))
		safe_halt();
	write_rflags(rflags);
}

static void __noreturn smp_idle(struct percpu *cpu)
{
	for (;;) {
		irq_disable();
		if (__atomic_load_n(&cpu->work_busy, __ATOMIC_ACQUIRE)) {
			void (*fn)(void *) = cpu->work_fn;
			void *arg = cpu->work_arg;
			uint32_t requester = cpu->work_requester_apic_id;

			fn(arg);
			__atomic_store_n(&cpu->work_busy, 0, __ATOMIC_RELEASE);
			apic_send_ipi(requester, SMP_IPI_VECTOR);
		} else {
			safe_halt();
		}
	}
}

void ap_main(void) __noreturn;
void ap_main(void)
{
	struct percpu *cpu = &percpu[__atomic_load_n(&ap_boot_index, __ATOMIC_ACQUIRE)];

	desc_load_cpu(cpu->index, &cpu->tss);
	apic_enable();
	cpu->apic_id = apic_id();
	__atomic_store_n(&cpu->online, 1, __ATOMIC_RELEASE);
	smp_idle(cpu);
}

static bool smp_start_ap(unsigned index, uint32_t id)
{
	struct percpu *cpu = &percpu[index];
	uint64_t start;

	cpu->index = index;
	cpu->apic_id = id;
	ap_boot_stack = (uintptr_t)(kernel_stacks[index] + KERNEL_STACK_SIZE);
	__atomic_store_n(&ap_boot_index, index, __ATOMIC_RELEASE);
	/* INIT puts the AP in wait-for-SIPI whatever firmware left it doing;
	 * the second SIPI is the MP spec's retry and is ignored by a CPU
	 * that already started (SDM vol. 3 §8.4.4.1). KVM's LAPIC needs no
	 * delays between them. */
	apic_send_init(id);
	apic_send_sipi(id, AP_TRAMPOLINE_ADDR >> 12);
	apic_send_sipi(id, AP_TRAMPOLINE_ADDR >> 12);
	start = rdtsc();
	while (!__atomic_load_n(&cpu->online, __ATOMIC_ACQUIRE)) {
		if (rdtsc() - start > AP_BOOT_TIMEOUT_CYCLES)
			return false;
		cpu_relax();
	}
	return true;
}

unsigned smp_init(void)
{
	struct mptable_info mp;
	const char *why = NULL;
	uint32_t bsp_id;
	unsigned n = 1;

	if (smp_initialised)
		return cpus_online;
	smp_initialised = true;

	idt_set_handler(SMP_IPI_VECTOR, smp_ipi_handler);
	idt_set_handler(SPURIOUS_VECTOR, spurious_handler);
	apic_enable();
	bsp_id = apic_id();
	percpu[0].apic_id = bsp_id;
	percpu[0].online = 1;

	if (!mptable_find(&mp, &why)) {
		printf("smp: %s; running on the BSP only\n", why);
		return cpus_online;
	}
	mptable_cpus = mp.cpu_count;
	if (mp.cpu_count > GUEST_MAX_CPUS)
		printf("smp: MP table lists %u CPUs, starting only %u\n", mp.cpu_count,
		       GUEST_MAX_CPUS);

	memcpy((void *)AP_TRAMPOLINE_ADDR, ap_trampoline_start,
	       (size_t)(ap_trampoline_end - ap_trampoline_start));
	for (unsigned i = 0; i < mp.cpu_count && i < GUEST_MAX_CPUS; i++) {
		if (mp.apic_ids[i] == bsp_id)
			continue;
		if (!smp_start_ap(n, mp.apic_ids[i])) {
			/* It might still start later and use the hand-over
			 * slot, so start no more. */
			printf("smp: CPU with APIC ID %u did not come online\n", mp.apic_ids[i]);
			break;
		}
		n++;
	}
	__atomic_store_n(&cpus_online, n, __ATOMIC_RELEASE);
	return n;
}

void on_cpu_async(unsigned cpu, void (*fn)(void *), void *arg)
{
	struct percpu *c;

	if (cpu >= smp_cpu_count() || cpu == smp_id())
		guest_abort("on_cpu_async: bad target CPU %u", cpu);
	c = &percpu[cpu];
	wait_while_set(&c->work_busy);
	c->work_fn = fn;
	c->work_arg = arg;
	c->work_requester_apic_id = this_cpu()->apic_id;
	__atomic_store_n(&c->work_busy, 1, __ATOMIC_RELEASE);
	apic_send_ipi(c->apic_id, SMP_IPI_VECTOR);
}

void on_cpu_wait(unsigned cpu)
{
	if (cpu >= smp_cpu_count())
		guest_abort("on_cpu_wait: bad CPU %u", cpu);
	wait_while_set(&percpu[cpu].work_busy);
}

void on_cpu(unsigned cpu, void (*fn)(void *), void *arg)
{
	if (cpu == smp_id()) {
		fn(arg);
		return;
	}
	on_cpu_async(cpu, fn, arg);
	on_cpu_wait(cpu);
}

void on_cpus(void (*fn)(void *), void *arg)
{
	unsigned self = smp_id(), n = smp_cpu_count();

	for (unsigned i = 0; i < n; i++) {
		if (i != self)
			on_cpu_async(i, fn, arg);
	}
	fn(arg);
	for (unsigned i = 0; i < n; i++) {
		if (i != self)
			on_cpu_wait(i);
	}
}
