/* vCPU core under stress, on KVM, with 4 vCPUs spinning at CPL3 and never
 * exiting on their own (guest/tests/spin.c):
 *  - 10,000 pause/resume cycles: every pause returns with all vCPUs parked
 *    and the guest's counters frozen; after resume they advance again;
 *  - kicker threads hammer random vCPUs with requests for 10 s: every
 *    request is observed exactly once, by the vCPU it was sent to.
 * Exits 77 (meson's SKIP) with a loud message when /dev/kvm is unusable. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "machine.h"
#include "vcpu.h"
#include "vm.h"
#include "kvm_test.h"

#define NR_VCPUS        4
#define COUNTERS_GPA    0x1000000ULL
#define SLOT_WORDS      8
#define PAUSE_CYCLES    10000
#define NR_KICKERS      3
#define HAMMER_SECONDS  10
#define WAIT_LIMIT_NS   (5ULL * 1000000000ULL)

static struct machine *machine;
static struct vm *vm;
static struct config cfg;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t counter(unsigned cpu)
{
	volatile uint64_t *c = guest_memory_ptr(&vm->mem, COUNTERS_GPA + cpu * SLOT_WORDS * 8, 8);

	return *c;
}

/* Wait until every vCPU's counter moves past `before` (NULL: past 0). */
static bool wait_all_counters_advance(const uint64_t *before)
{
	uint64_t deadline = now_ns() + WAIT_LIMIT_NS;

	for (unsigned cpu = 0; cpu < NR_VCPUS; cpu++) {
		while (counter(cpu) == (before ? before[cpu] : 0)) {
			if (now_ns() > deadline)
				return false;
			sched_yield();
		}
	}
	return true;
}

/* ---- requests observed by the vCPUs (the VM's request hook) ---- */

static atomic_uint_fast64_t sent[NR_KICKERS][NR_VCPUS];
static atomic_uint_fast64_t observed[NR_KICKERS][NR_VCPUS];
static atomic_uint_fast64_t foreign_bits;

static void count_request(void *ctx, struct vcpu *vcpu, unsigned requests)
{
	(void)ctx;
	for (unsigned k = 0; k < NR_KICKERS; k++) {
		if (requests & (1u << (VCPU_REQUEST_HOOK_SHIFT + k))) {
			atomic_fetch_add(&observed[k][vcpu->index], 1);
			requests &= ~(1u << (VCPU_REQUEST_HOOK_SHIFT + k));
		}
	}
	if (requests)
		atomic_fetch_add(&foreign_bits, 1);
}

static int setup(void **state)
{
	static char *argv[] = { "kvmrun", "--kernel", "guest/spin.elf", "--cpus", "4",
				"--memory", "64M", "--console", "none",
				"--cmdline", "counters=0x1000000", NULL };
	char err[CONFIG_ERROR_MAX];

	(void)state;
	if (config_parse(&cfg, 11, argv, err) < 0) {
		fprintf(stderr, "config: %s\n", err);
		return -1;
	}
	if (machine_create(&cfg, &machine) != EXIT_STATUS_OK)
		return -1;
	vm = machine_vm(machine);
	vm->request_hook = count_request;
	if (machine_start(machine) < 0)
		return -1;
	if (!wait_all_counters_advance(NULL)) {
		fprintf(stderr, "the guest's vCPUs never started spinning\n");
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (!machine)
		return 0;
	vm_request_stop(vm, VM_STOP_POWEROFF, 0);
	machine_wait(machine);
	machine_destroy(machine);
	return 0;
}

static void snapshot_counters(uint64_t *out)
{
	for (unsigned cpu = 0; cpu < NR_VCPUS; cpu++)
		out[cpu] = counter(cpu);
}

/* After a resume, wait (spinning: a sleeping waiter would let the
 * spinning vCPUs keep both host cores) until some vCPU has executed guest
 * code again, so the next pause has to get it out of KVM_RUN. */
static bool wait_any_counter_advances(const uint64_t *before)
{
	uint64_t deadline = now_ns() + WAIT_LIMIT_NS;

	for (;;) {
		for (unsigned cpu = 0; cpu < NR_VCPUS; cpu++)
			if (counter(cpu) != before[cpu])
				return true;
		if (now_ns() > deadline)
			return false;
	}
}

static void test_pause_resume_cycles(void **state)
{
	uint64_t worst_ns = 0, total_ns = 0, kicks_before = 0, kicks = 0;
	uint64_t frozen[NR_VCPUS];

	(void)state;
	for (unsigned v = 0; v < NR_VCPUS; v++)
		kicks_before += atomic_load(&vm->vcpus[v].kicks_signalled);
	for (unsigned cycle = 0; cycle < PAUSE_CYCLES; cycle++) {
		uint64_t t0 = now_ns();

		assert_int_equal(vm_pause(vm), 0);
		uint64_t took = now_ns() - t0;
		total_ns += took;
		worst_ns = took > worst_ns ? took : worst_ns;
		assert_true(took < WAIT_LIMIT_NS);
		pthread_mutex_lock(&vm->pause_lock);
		unsigned parked = vm->nr_parked;
		pthread_mutex_unlock(&vm->pause_lock);
		assert_int_equal(parked, NR_VCPUS);

		snapshot_counters(frozen);
		if (cycle % 1000 == 0) {
			/* Parked means out of the guest: nothing may count. */
			usleep(2000);
			for (unsigned cpu = 0; cpu < NR_VCPUS; cpu++)
				assert_int_equal(counter(cpu), frozen[cpu]);
		}
		vm_resume(vm);
		if (cycle % 100 == 0)
			assert_true(wait_all_counters_advance(frozen));  /* every vCPU runs again */
		else
			assert_true(wait_any_counter_advances(frozen));
	}
	for (unsigned v = 0; v < NR_VCPUS; v++)
		kicks += atomic_load(&vm->vcpus[v].kicks_signalled);
	kicks -= kicks_before;
	/* Every cycle had a vCPU back in the guest: each pause had to get at
	 * least that one out of KVM_RUN, by signal. */
	assert_true(kicks >= PAUSE_CYCLES);
	print_message("%u pause/resume cycles, pause latency mean %.1f us, worst %.1f us, "
		      "%llu kick signals\n", PAUSE_CYCLES, (double)total_ns / PAUSE_CYCLES / 1000.0,
		      (double)worst_ns / 1000.0, (unsigned long long)kicks);
}

struct kicker {
	unsigned index;
	unsigned seed;
	bool lost;
	uint64_t requests;
};

static atomic_bool hammer_stop;

static void *kicker_main(void *arg)
{
	struct kicker *k = arg;
	unsigned bit = 1u << (VCPU_REQUEST_HOOK_SHIFT + k->index);

	while (!atomic_load(&hammer_stop)) {
		unsigned v = (unsigned)rand_r(&k->seed) % NR_VCPUS;
		uint64_t want = atomic_fetch_add(&sent[k->index][v], 1) + 1;
		uint64_t deadline = now_ns() + WAIT_LIMIT_NS;

		vcpu_kick(&vm->vcpus[v], bit);
		/* One request of ours in flight at a time, so none can merge
		 * with another: each must be observed before the next. */
		while (atomic_load(&observed[k->index][v]) < want) {
			if (now_ns() > deadline) {
				k->lost = true;
				return NULL;
			}
			sched_yield();
		}
		k->requests++;
	}
	return NULL;
}

static void test_kick_hammer(void **state)
{
	pthread_t threads[NR_KICKERS];
	struct kicker kickers[NR_KICKERS];
	uint64_t total = 0, signalled = 0;

	(void)state;
	for (unsigned k = 0; k < NR_KICKERS; k++) {
		kickers[k] = (struct kicker){ .index = k, .seed = 12345 + k };
		assert_int_equal(pthread_create(&threads[k], NULL, kicker_main, &kickers[k]), 0);
	}
	sleep(HAMMER_SECONDS);
	atomic_store(&hammer_stop, true);
	for (unsigned k = 0; k < NR_KICKERS; k++)
		pthread_join(threads[k], NULL);

	for (unsigned k = 0; k < NR_KICKERS; k++) {
		assert_false(kickers[k].lost);
		total += kickers[k].requests;
		for (unsigned v = 0; v < NR_VCPUS; v++)
			assert_int_equal(atomic_load(&observed[k][v]), atomic_load(&sent[k][v]));
	}
	assert_int_equal(atomic_load(&foreign_bits), 0);
	for (unsigned v = 0; v < NR_VCPUS; v++)
		signalled += atomic_load(&vm->vcpus[v].kicks_signalled);
	/* Scheduling-bound on a loaded 2-core host (a few hundred per second
	 * here): the point is that every one arrived, but there must be many. */
	assert_true(total >= 100);
	print_message("%llu requests from %d kickers in %d s, each observed once by its vCPU "
		      "(%llu kicks needed a signal)\n", (unsigned long long)total, NR_KICKERS,
		      HAMMER_SECONDS, (unsigned long long)signalled);
	/* The guest still runs after all that. */
	uint64_t before[NR_VCPUS];
	for (unsigned cpu = 0; cpu < NR_VCPUS; cpu++)
		before[cpu] = counter(cpu);
	assert_true(wait_all_counters_advance(before));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pause_resume_cycles),
		cmocka_unit_test(test_kick_hammer),
	};

	return kvm_test_run("vCPU stress tests", tests, setup, teardown);
}
