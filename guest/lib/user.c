/* run_in_user(): the C side. The mode switch itself is in entry.S. */
#include "user.h"

#include "io.h"
#include "libguest.h"
#include "smp.h"

/* One user stack per CPU; not zeroed, not shared. */
static uint8_t user_stacks[GUEST_MAX_CPUS][USER_STACK_SIZE] __aligned(16);

/* entry.S: saves the callee-saved registers and RFLAGS on the kernel
 * stack, stores that stack pointer in tss->rsp0 (the TSS's RSP0, where the
 * CPU switches on any exception or interrupt from CPL 3) and IRETQs to
 * CPL 3. The user-return gate unwinds to that frame. */
long __run_in_user(long (*fn)(void *), void *arg, struct tss64 *tss, void *user_stack_top);

long run_in_user(long (*fn)(void *), void *arg)
{
	struct percpu *cpu = this_cpu();

	if (read_cpl() != 0)
		guest_abort("run_in_user called at CPL %u", read_cpl());
	return __run_in_user(fn, arg, &cpu->tss.tss, user_stacks[cpu->index] + USER_STACK_SIZE);
}
