/* The vCPU stress tests' guest: every CPU spins at CPL3 with no VM exits at
 * all, incrementing its own counter, so only a kick can get a vCPU out of
 * KVM_RUN. The host reads the counters from guest memory to see that the
 * vCPUs really stop while paused and run again after a resume.
 *
 * Command line: counters=GPA (64-byte slot per CPU, user-accessible RAM). */
#include "libguest.h"
#include "smp.h"
#include "user.h"

#define SLOT_WORDS 8  /* one cache line per CPU: no false sharing */

static volatile uint64_t *counters;

static long spin_forever(void *slot)
{
	volatile uint64_t *c = slot;

	for (;;)
		(*c)++;
	return 0;
}

static void spin_cpu(void *unused __unused)
{
	run_in_user(spin_forever, (void *)&counters[smp_id() * SLOT_WORDS]);
}

int main(int argc __unused, char **argv __unused)
{
	uint64_t gpa;
	unsigned n;

	if (!cmdline_get_u64("counters", &gpa)) {
		printf("spin: needs counters=GPA on the command line\n");
		return 1;
	}
	counters = (volatile uint64_t *)gpa;
	n = smp_init();
	printf("spin: %u CPUs spinning at CPL3\n", n);
	for (unsigned i = 1; i < n; i++)
		on_cpu_async(i, spin_cpu, NULL);
	spin_cpu(NULL);
	return 1;
}
