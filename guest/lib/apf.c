/* KVM asynchronous page faults and the cooperative scheduler: see apf.h.
 * Both handlers run at CPL 0, which is emulated on this project's hosts,
 * so they do little: read and clear the shared area, mark a task, swap a
 * frame. */
#include "apf.h"

#include "apic.h"
#include "desc.h"
#include "io.h"
#include "libguest.h"
#include "smp.h"
#include "user.h"

struct apf_task {
	struct ex_regs regs;   /* the task's CPL 3 state while it is not running */
	uint32_t token;        /* the page it waits for; 0 when runnable */
	bool started;          /* regs hold a real context (else: start fn) */
	void (*fn)(void *);
	void *arg;
};

/* Scheduler state for the one CPU that runs apf_run() (see apf.h). Task 0
 * is the main task, then the background tasks, then the idle task, which
 * is always runnable. */
static struct apf_task tasks[APF_MAX_TASKS + 2];
static unsigned nr_background;
static unsigned current;
static bool running;
static uint8_t task_stacks[APF_MAX_TASKS + 1][APF_TASK_STACK_SIZE] __aligned(16);

/* Tokens whose "page ready" came while no task waited on them (KVM may
 * complete the work before the "not present" #PF is handled; Linux keeps
 * such wake-ups too, arch/x86/kernel/kvm.c). A small ring: the oldest is
 * dropped when full, which at worst leaves a task to the wake-all. */
#define EARLY_TOKENS 8
static uint32_t early_tokens[EARLY_TOKENS];
static unsigned early_next;

static struct kvm_vcpu_pv_apf_data apf_area[GUEST_MAX_CPUS];
static struct apf_stats stats;

static unsigned idle_index(void)
{
	return nr_background + 1;
}

static void __noreturn task_entry(void (*fn)(void *), void *arg)
{
	if (fn)
		fn(arg);
	for (;;)
		cpu_relax();
}

/* Resume task `next` when the handler returns: save the interrupted CPL 3
 * frame into the current task and load next's (a fresh task starts at
 * task_entry on its own stack, interrupts on). */
static void switch_to(struct ex_regs *regs, unsigned next)
{
	struct apf_task *t = &tasks[next];

	if (next == current)
		return;
	tasks[current].regs = *regs;
	if (!t->started) {
		uint8_t *top = task_stacks[next - 1] + APF_TASK_STACK_SIZE;

		memset(&t->regs, 0, sizeof(t->regs));
		t->regs.rip = (uintptr_t)task_entry;
		t->regs.cs = USER_CS;
		t->regs.rflags = RFLAGS_IF | RFLAGS_IOPL3 | RFLAGS_RESERVED1;
		t->regs.rsp = (uintptr_t)top - 8;  /* as if called: ABI alignment */
		t->regs.ss = USER_DS;
		t->regs.rdi = (uintptr_t)t->fn;
		t->regs.rsi = (uintptr_t)t->arg;
		t->started = true;
	}
	*regs = t->regs;
	current = next;
	stats.switches++;
	if (next == idle_index())
		stats.idle_entries++;
}

static unsigned pick_runnable(void)
{
	for (unsigned i = 0; i < idle_index(); i++) {
		if (!tasks[i].token)
			return i;
	}
	return idle_index();
}

static bool take_early(uint32_t token)
{
	for (unsigned i = 0; i < EARLY_TOKENS; i++) {
		if (early_tokens[i] == token) {
			early_tokens[i] = 0;
			return true;
		}
	}
	return false;
}

/* Make the tasks waiting on `token` runnable; false if none was. */
static bool wake(uint32_t token)
{
	bool found = false;

	for (unsigned i = 0; i < idle_index(); i++) {
		if (tasks[i].token && (tasks[i].token == token || token == KVM_APF_WAKE_ALL_TOKEN)) {
			tasks[i].token = 0;
			found = true;
		}
	}
	return found;
}

static void apf_pf_handler(struct ex_regs *regs)
{
	struct kvm_vcpu_pv_apf_data *area = &apf_area[smp_id()];
	uint32_t reason = READ_ONCE(area->flags), token;

	if (!(reason & KVM_PV_REASON_PAGE_NOT_PRESENT))
		exception_unhandled(regs);  /* an ordinary #PF */
	token = (uint32_t)read_cr2();
	/* msr.rst: reset flags before anything that can raise a real #PF. */
	WRITE_ONCE(area->flags, 0);
	stats.not_present++;
	if ((regs->cs & 3) != 3 || !running)
		guest_abort("async PF 'page not present' (token 0x%x) at CPL %lu: no task to park",
			    token, regs->cs & 3);
	if (take_early(token)) {
		stats.ready_early++;
		return;  /* already there: retry the access */
	}
	tasks[current].token = token;
	switch_to(regs, pick_runnable());
}

static void apf_ready_handler(struct ex_regs *regs)
{
	struct kvm_vcpu_pv_apf_data *area = &apf_area[smp_id()];
	uint32_t token = READ_ONCE(area->token);

	/* Free the slot, then tell KVM it may deliver the next one. */
	WRITE_ONCE(area->token, 0);
	wrmsr(MSR_KVM_ASYNC_PF_ACK, 1);
	apic_eoi();
	if (!token)
		return;
	stats.page_ready++;
	if (token == KVM_APF_WAKE_ALL_TOKEN)
		stats.wake_all++;
	if (!wake(token) && token != KVM_APF_WAKE_ALL_TOKEN) {
		early_tokens[early_next] = token;
		early_next = (early_next + 1) % EARLY_TOKENS;
	}
	/* A woken task that comes first preempts; only CPL 3 frames are
	 * tasks (at CPL 0 we are in apf_run's own code). */
	if (running && (regs->cs & 3) == 3) {
		unsigned next = pick_runnable();

		if (next < current)
			switch_to(regs, next);
	}
}

static void wrmsr_fn(void *arg)
{
	const uint64_t *msr_value = arg;

	wrmsr((uint32_t)msr_value[0], msr_value[1]);
}

static bool wrmsr_safe(uint32_t msr, uint64_t value)
{
	uint64_t args[2] = { msr, value };

	return !exception_expect(GP_VECTOR, wrmsr_fn, args, NULL);
}

enum apf_status apf_enable(void)
{
	struct cpuid_result sig = cpuid(KVM_CPUID_SIGNATURE, 0), features;
	struct kvm_vcpu_pv_apf_data *area = &apf_area[smp_id()];

	/* "KVMKVMKVM\0\0\0" in EBX, ECX, EDX (cpuid.rst). */
	if (sig.ebx != 0x4b4d564b || sig.ecx != 0x564b4d56 || sig.edx != 0x4d)
		return APF_NO_KVM;
	features = cpuid(KVM_CPUID_FEATURES, 0);
	if (!(features.eax & (1u << KVM_FEATURE_ASYNC_PF)))
		return APF_NO_FEATURE_ASYNC_PF;
	if (!(features.eax & (1u << KVM_FEATURE_ASYNC_PF_INT)))
		return APF_NO_FEATURE_ASYNC_PF_INT;
	apic_enable();
	idt_set_handler(PF_VECTOR, apf_pf_handler);
	idt_set_handler(APF_VECTOR, apf_ready_handler);
	memset(area, 0, sizeof(*area));
	/* msr.rst: the vector is set before delivery as an interrupt is
	 * enabled. */
	if (!wrmsr_safe(MSR_KVM_ASYNC_PF_INT, APF_VECTOR))
		return APF_MSR_INT_REFUSED;
	if (!wrmsr_safe(MSR_KVM_ASYNC_PF_EN,
			(uintptr_t)area | KVM_ASYNC_PF_ENABLED | KVM_ASYNC_PF_DELIVERY_AS_INT))
		return APF_MSR_EN_REFUSED;
	return APF_OK;
}

void apf_disable(void)
{
	wrmsr(MSR_KVM_ASYNC_PF_EN, 0);
}

const char *apf_status_name(enum apf_status status)
{
	switch (status) {
	case APF_OK: return "enabled";
	case APF_NO_KVM: return "no KVM hypervisor CPUID leaf";
	case APF_NO_FEATURE_ASYNC_PF: return "CPUID lacks KVM_FEATURE_ASYNC_PF";
	case APF_NO_FEATURE_ASYNC_PF_INT: return "CPUID lacks KVM_FEATURE_ASYNC_PF_INT";
	case APF_MSR_INT_REFUSED: return "WRMSR MSR_KVM_ASYNC_PF_INT refused (#GP)";
	case APF_MSR_EN_REFUSED: return "WRMSR MSR_KVM_ASYNC_PF_EN refused (#GP)";
	}
	return "unknown";
}

const struct apf_stats *apf_get_stats(void)
{
	return &stats;
}

void apf_task_add(void (*fn)(void *), void *arg)
{
	if (running || nr_background >= APF_MAX_TASKS)
		guest_abort("apf_task_add: %s", running ? "scheduler running" : "too many tasks");
	tasks[++nr_background] = (struct apf_task){ .fn = fn, .arg = arg };
}

long apf_run(long (*fn)(void *), void *arg)
{
	long ret;

	tasks[0] = (struct apf_task){ .started = true };
	tasks[idle_index()] = (struct apf_task){ 0 };
	memset(early_tokens, 0, sizeof(early_tokens));
	current = 0;
	WRITE_ONCE(running, true);
	/* KVM sends "page not present" only with interrupts on (the guest
	 * could not take the "page ready" otherwise); CPL 3 inherits IF. */
	irq_enable();
	ret = run_in_user(fn, arg);
	irq_disable();
	WRITE_ONCE(running, false);
	nr_background = 0;
	return ret;
}
