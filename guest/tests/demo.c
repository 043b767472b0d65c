/* What a VMM gives a guest, printed: the memory map from the PVH start
 * info, the CPUs from the MP table (each started and checked in), and how
 * fast code runs at CPL 3. */
#include "apic.h"
#include "io.h"
#include "libguest.h"
#include "smp.h"
#include "startinfo.h"
#include "tsc.h"
#include "user.h"

#define LOOP_ITERATIONS 200000000ULL

static uint32_t checkin_apic_id[GUEST_MAX_CPUS];
static uint32_t checked_in;

static void checkin(void *arg __unused)
{
	checkin_apic_id[smp_id()] = apic_id();
	__atomic_fetch_add(&checked_in, 1, __ATOMIC_ACQ_REL);
}

/* add/xor loop; returns the checksum so the work cannot be dropped */
static long compute_loop(void *p)
{
	uint64_t n = *(uint64_t *)p, a = 1, b = 0x9e3779b97f4a7c15ULL;

	for (uint64_t i = 0; i < n; i++) {
		a += b;
		b ^= a;
		__asm__ volatile("" : "+r"(a), "+r"(b));
	}
	return (long)(a ^ b);
}

int main(int argc __unused, char **argv __unused)
{
	const struct hvm_memmap_table_entry *map;
	unsigned entries, cpus;
	const char *tsc_source;
	uint64_t hz;
	uint64_t iterations = LOOP_ITERATIONS, t0, t1, cycles;
	long sum;

	printf("kvmrun demo guest\n");
	printf("command line: \"%s\"\n", cmdline_get());

	map = startinfo_memmap(&entries);
	printf("memory map (PVH start info v%u, %u entries):\n", startinfo_version(), entries);
	for (unsigned i = 0; i < entries; i++) {
		if (map[i].size == 0)
			printf("  %016lx (empty entry, type %u)\n", map[i].addr, map[i].type);
		else
			printf("  %016lx-%016lx %s\n", map[i].addr,
			       map[i].addr + map[i].size - 1, memmap_type_name(map[i].type));
	}

	cpus = smp_init();
	printf("CPUs: %u in the MP table, %u online\n", smp_mptable_cpu_count(), cpus);
	on_cpus(checkin, NULL);
	for (unsigned i = 0; i < cpus; i++)
		printf("  CPU %u: APIC ID %u, checked in\n", i, checkin_apic_id[i]);
	printf("%u of %u CPUs checked in\n", READ_ONCE(checked_in), cpus);

	hz = tsc_hz(&tsc_source);
	printf("TSC: %lu kHz (from %s)\n", hz / 1000, tsc_source);

	t0 = rdtsc();
	sum = run_in_user(compute_loop, &iterations);
	t1 = rdtsc();
	cycles = t1 - t0;
	printf("CPL 3 loop: %lu iterations of add/xor in %lu TSC cycles (checksum %lx)\n",
	       iterations, cycles, (uint64_t)sum);
	if (hz && cycles) {
		uint64_t us = cycles / (hz / 1000000);

		printf("  %lu.%03lu s, %lu M iterations/s\n", us / 1000000, us / 1000 % 1000,
		       us ? iterations / us : 0);
	}
	printf("demo done\n");
	return 0;
}
