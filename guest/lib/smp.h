/* Per-CPU state and multiprocessor bring-up.
 *
 * CPU 0 is the bootstrap processor (BSP). smp_init() finds the other
 * processors in the MP table, starts each with INIT-SIPI-SIPI through a
 * real-mode trampoline and leaves it idle in HLT, waiting for work posted
 * with on_cpu(). */
#ifndef GUEST_SMP_H
#define GUEST_SMP_H

#include <stdbool.h>
#include <stdint.h>

#include "desc.h"
#include "segments.h"

struct ex_jmp_buf {
	uint64_t rbx, rbp, r12, r13, r14, r15, rsp, rip, rflags;
};

struct percpu {
	uint32_t index;
	uint32_t apic_id;
	uint32_t online;          /* set by the CPU once it is idle and ready */
	struct tss_io tss __attribute__((aligned(16)));

	/* exception_expect() state */
	bool catch_active;
	unsigned catch_vector;
	struct ex_jmp_buf catch_jmp;
	struct ex_regs catch_regs;

	/* on_cpu() mailbox: `busy` is set by the requester after fn/arg and
	 * cleared by this CPU after running fn. */
	void (*work_fn)(void *);
	void *work_arg;
	uint32_t work_requester_apic_id;
	uint32_t work_busy;
};

/* The per-CPU array; CPU n's state is percpu[n]. Global because the
 * exception stubs and AP bring-up need to find it without arguments. */
extern struct percpu percpu[GUEST_MAX_CPUS];

/* This CPU's index. Derived from the task register (each CPU has its own
 * TSS selector), so it costs no exit and also works at CPL 3. */
static inline unsigned smp_id(void)
{
	uint16_t tr;

	__asm__ volatile("str %0" : "=r"(tr));
	return tr < TSS_SEL_FIRST ? 0 : (unsigned)(tr - TSS_SEL_FIRST) / 16;
}

static inline struct percpu *this_cpu(void)
{
	return &percpu[smp_id()];
}

/* Enable the BSP's x2APIC, start every processor in the MP table and wait
 * for each to come online. Returns the number of CPUs online (>= 1).
 * Calling it again returns the same count. */
unsigned smp_init(void);
/* CPUs online (1 before smp_init()). */
unsigned smp_cpu_count(void);
/* CPUs the MP table lists (0 if there is none); valid after smp_init(). */
unsigned smp_mptable_cpu_count(void);

/* Run fn(arg) at CPL 0 on CPU `cpu` and wait for it to return. On the
 * calling CPU it is a plain call. The target runs it from its idle loop
 * with interrupts disabled. */
void on_cpu(unsigned cpu, void (*fn)(void *), void *arg);
/* Post fn(arg) to `cpu` without waiting (cpu must not be the caller). */
void on_cpu_async(unsigned cpu, void (*fn)(void *), void *arg);
/* Wait until `cpu` has finished the work posted to it. */
void on_cpu_wait(unsigned cpu);
/* Run fn(arg) on every online CPU, the caller included, and wait for all. */
void on_cpus(void (*fn)(void *), void *arg);

#endif
