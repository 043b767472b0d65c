/* pause_latency: how long vm_pause() takes to get busy vCPUs out of
 * KVM_RUN and parked, for bench/exits.py (bench/README.md, "Exit-path benchmark").
 *
 * Usage: pause_latency SPIN_IMAGE VCPUS CYCLES
 *
 * Boots SPIN_IMAGE (build/guest/spin.elf: every vCPU increments its own
 * counter at CPL 3 and never exits on its own) with VCPUS vCPUs and 64 MiB,
 * the way tests/kvm/test_vcpu_stress.c drives a machine, then times CYCLES
 * vm_pause() calls. Before each one, a vCPU has run guest code since the
 * last resume (its counter moved), so every pause has at least one vCPU to
 * kick out of the guest. Prints one line:
 *
 *   pause_latency vcpus=4 cycles=2000 p50_us=F p99_us=F max_us=F mean_us=F kicks=N
 *
 * kicks: kick signals sent (vCPUs that were inside KVM_RUN when kicked).
 * Exit status: 0; 77 (meson's "skipped") without a usable /dev/kvm; 1 when
 * the machine cannot be built or a pause misbehaves. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "machine.h"
#include "vcpu.h"
#include "vm.h"

#define STATUS_SKIP      77
#define COUNTERS_GPA     0x1000000ULL   /* 16 MiB: above spin.elf, inside 64 MiB */
#define SLOT_BYTES       64             /* spin.c: one cache line per vCPU */
#define WARMUP_CYCLES    20
#define WAIT_LIMIT_NS    (5ULL * 1000000000ULL)
#define MAX_VCPUS        64             /* the guest library's GUEST_MAX_CPUS */
#define MAX_CYCLES       10000000UL

struct bench {
	struct machine *machine;
	struct vm *vm;
	unsigned nr_vcpus;
	volatile uint64_t *counters;  /* in guest RAM: SLOT_BYTES per vCPU */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t counter(const struct bench *b, unsigned cpu)
{
	return b->counters[cpu * (SLOT_BYTES / sizeof(uint64_t))];
}

/* Spin (no sleeping: a sleeping waiter would hand both host cores to the
 * vCPUs and then wait a scheduler tick to run again) until any vCPU's
 * counter differs from `before`, or, with `all`, every vCPU's does. */
static bool wait_counters(const struct bench *b, const uint64_t *before, bool all)
{
	uint64_t deadline = now_ns() + WAIT_LIMIT_NS;

	for (;;) {
		unsigned moved = 0;

		for (unsigned cpu = 0; cpu < b->nr_vcpus; cpu++)
			moved += counter(b, cpu) != before[cpu];
		if (all ? moved == b->nr_vcpus : moved > 0)
			return true;
		if (now_ns() > deadline)
			return false;
	}
}

static void snapshot(const struct bench *b, uint64_t *out)
{
	for (unsigned cpu = 0; cpu < b->nr_vcpus; cpu++)
		out[cpu] = counter(b, cpu);
}

/* One pause/resume cycle; *took is the vm_pause() time. Returns 0, or -1
 * with a message when the pause did not leave every vCPU parked. */
static int pause_cycle(struct bench *b, uint64_t *took)
{
	uint64_t before[MAX_VCPUS];
	uint64_t t0 = now_ns();
	unsigned parked;
	int ret = vm_pause(b->vm);

	*took = now_ns() - t0;
	if (ret < 0) {
		fprintf(stderr, "pause_latency: vm_pause: %s\n", strerror(-ret));
		return -1;
	}
	pthread_mutex_lock(&b->vm->pause_lock);
	parked = b->vm->nr_parked;
	pthread_mutex_unlock(&b->vm->pause_lock);
	if (parked != b->nr_vcpus) {
		fprintf(stderr, "pause_latency: vm_pause returned with %u of %u vCPUs parked\n",
			parked, b->nr_vcpus);
		return -1;
	}
	snapshot(b, before);
	vm_resume(b->vm);
	if (!wait_counters(b, before, false)) {
		fprintf(stderr, "pause_latency: no vCPU ran within 5 s of a resume\n");
		return -1;
	}
	return 0;
}

static int compare_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted values. */
static uint64_t percentile(const uint64_t *sorted, size_t n, unsigned pct)
{
	size_t rank = (n * pct + 99) / 100;

	return sorted[rank ? rank - 1 : 0];
}

static uint64_t kicks_signalled(const struct bench *b)
{
	uint64_t sum = 0;

	for (unsigned v = 0; v < b->nr_vcpus; v++)
		sum += atomic_load(&b->vm->vcpus[v].kicks_signalled);
	return sum;
}

static int measure(struct bench *b, unsigned long cycles)
{
	uint64_t *lat = calloc(cycles, sizeof(*lat));
	uint64_t total = 0, kicks, took;
	int ret = -1;

	if (!lat) {
		fprintf(stderr, "pause_latency: cannot allocate %lu latencies\n", cycles);
		return -1;
	}
	/* The first pauses find threads and pages cold. */
	for (unsigned i = 0; i < WARMUP_CYCLES; i++)
		if (pause_cycle(b, &took) < 0)
			goto free_latencies;
	kicks = kicks_signalled(b);
	for (unsigned long i = 0; i < cycles; i++) {
		if (pause_cycle(b, &lat[i]) < 0)
			goto free_latencies;
		total += lat[i];
	}
	kicks = kicks_signalled(b) - kicks;
	qsort(lat, cycles, sizeof(*lat), compare_u64);
	printf("pause_latency vcpus=%u cycles=%lu p50_us=%.1f p99_us=%.1f max_us=%.1f "
	       "mean_us=%.1f kicks=%llu\n", b->nr_vcpus, cycles,
	       percentile(lat, cycles, 50) / 1e3, percentile(lat, cycles, 99) / 1e3,
	       lat[cycles - 1] / 1e3, (double)total / cycles / 1e3, (unsigned long long)kicks);
	ret = 0;
free_latencies:
	free(lat);
	return ret;
}

/* Parse a decimal in [min, max]; false on anything else. */
static bool parse_ulong(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno == 0 && end != s && *end == '\0' && s[0] != '-' && *out >= min && *out <= max;
}

int main(int argc, char **argv)
{
	char cpus_arg[16], err[CONFIG_ERROR_MAX];
	unsigned long nr_vcpus, cycles;
	uint64_t zero[MAX_VCPUS] = { 0 };
	struct bench b = { 0 };
	struct config cfg;
	int fd, ret = 1;

	if (argc != 4 || !parse_ulong(argv[2], 1, MAX_VCPUS, &nr_vcpus) ||
	    !parse_ulong(argv[3], 1, MAX_CYCLES, &cycles)) {
		fprintf(stderr, "usage: pause_latency SPIN_IMAGE VCPUS(1-%d) CYCLES(1-%lu)\n",
			MAX_VCPUS, MAX_CYCLES);
		return 1;
	}
	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "pause_latency: /dev/kvm: %s: SKIPPED\n", strerror(errno));
		return STATUS_SKIP;
	}
	close(fd);

	snprintf(cpus_arg, sizeof(cpus_arg), "%lu", nr_vcpus);
	char *vmm_argv[] = { "kvmrun", "--kernel", argv[1], "--cpus", cpus_arg,
			     "--memory", "64M", "--console", "none",
			     "--cmdline", "counters=0x1000000", NULL };
	if (config_parse(&cfg, (int)(sizeof(vmm_argv) / sizeof(vmm_argv[0])) - 1, vmm_argv, err) < 0) {
		fprintf(stderr, "pause_latency: %s\n", err);
		return 1;
	}
	/* As kvmrun's main: the kick signal is blocked in every thread but
	 * the vCPUs. */
	if (vcpu_setup_kick_signal() < 0)
		return 1;
	if (machine_create(&cfg, &b.machine) != EXIT_STATUS_OK)
		return 1;
	b.vm = machine_vm(b.machine);
	b.nr_vcpus = (unsigned)nr_vcpus;
	b.counters = guest_memory_ptr(&b.vm->mem, COUNTERS_GPA, nr_vcpus * SLOT_BYTES);
	if (!b.counters) {
		fprintf(stderr, "pause_latency: counters at 0x%llx are not in guest RAM\n", COUNTERS_GPA);
		goto destroy_machine;
	}
	if (machine_start(b.machine) < 0)
		goto stop_machine;
	if (!wait_counters(&b, zero, true)) {
		fprintf(stderr, "pause_latency: the guest's vCPUs did not all start spinning\n");
		goto stop_machine;
	}
	if (measure(&b, cycles) == 0)
		ret = 0;
stop_machine:
	vm_request_stop(b.vm, VM_STOP_POWEROFF, 0);
	machine_wait(b.machine);
destroy_machine:
	machine_destroy(b.machine);
	return ret;
}
