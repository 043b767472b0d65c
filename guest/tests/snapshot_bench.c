/* The snapshot benchmark's guest (bench/snapshot_qemu.py and kvmrun's own
 * snapshot benchmark): makes most of its RAM non-zero, then keeps running
 * and says so on the serial port, so that a save must write every page and a
 * restore must bring them back. Both kvmrun and QEMU skip zero pages, so a
 * guest that leaves its RAM zero measures nothing.
 *
 * Command line (all optional):
 *   fill=MIB     write at most MIB MiB (default: all RAM the guest can map,
 *                from the end of the image up, low RAM first)
 *   tick_us=N    one progress line every N microseconds by the TSC
 *                (default 1000)
 *   ticks=N      stop after N progress lines (default 0: run for ever)
 *   verify       before stopping, check every filled word (CPL 3) and
 *                report the result; the exit status is report_summary()'s
 *
 * Serial output, in order:
 *   snapshot_bench: RAM <R> MiB, filling <F> MiB from 0x<start>
 *   snapshot_bench: filled <F> MiB in <ms> ms
 *   snapshot_bench: ready
 *   tick <n>                           n = 1, 2, ...; every tick_us
 * A 'v' on the console input (the guest polls the UART once per tick)
 * checks every filled word at once, in the middle of the ticks:
 *   snapshot_bench: verify: <F> MiB, <B> bad words (first at 0x<addr>)
 * which is how a host checks a restored guest's memory after timing it.
 * With ticks=N, after the N-th tick, "snapshot_bench: stopped after
 * <N> ticks, <spins> spins" (plus the verify report) and the exit.
 *
 * Every filled 64-bit word holds SNAPSHOT_PATTERN ^ its guest physical
 * address: never zero, different in every page, and checkable after a
 * restore. Everything that loops runs at CPL 3 (CPL 0 is emulated on this
 * project's machines). RAM above 4 GiB is mapped with page directories of
 * our own (the boot stub's tables map the first 4 GiB only). */
#include "io.h"
#include "libguest.h"
#include "serial.h"
#include "startinfo.h"
#include "tsc.h"
#include "user.h"

#define SNAPSHOT_PATTERN 0x736e617062656e63ULL  /* "snapbenc" */
#define MIB              (UINT64_C(1) << 20)
#define GIB              (UINT64_C(1) << 30)
#define LARGE_PAGE       (UINT64_C(2) << 20)
#define E820_RAM         1
/* Page directories for 4 GiB up to HIGH_LIMIT (one 4 KiB table per GiB);
 * the .bss holds them, so they cost nothing when unused. */
#define HIGH_LIMIT       (64 * GIB)
#define HIGH_PDS         ((HIGH_LIMIT - 4 * GIB) / GIB)
#define PTE_TABLE        0x007ULL  /* present, writable, user */
#define PTE_LARGE        0x087ULL  /* the same with PS: a 2 MiB page */
#define MAX_RANGES       STARTINFO_MEMMAP_MAX

extern uint64_t boot_pml4[512];  /* entry.S */
extern char _end[];              /* guest.ld: end of the image's .bss */

static uint64_t high_pd[HIGH_PDS][512] __aligned(4096);

struct range {
	uint64_t start, end;
};

/* What the CPL 3 parts work on. */
struct plan {
	struct range ranges[MAX_RANGES];
	unsigned count;
	uint64_t high_end;       /* end of RAM above 4 GiB to map, 0 if none */
	uint64_t filled, tick_cycles, ticks, spins, bad_words, first_bad;
};

static struct plan plan;

/* The RAM ranges to fill: type-1 entries above the image, 2 MiB aligned
 * (the granularity of the mapping), capped at `limit` bytes in total and
 * at HIGH_LIMIT. Returns the bytes planned. */
static uint64_t plan_ranges(struct plan *p, uint64_t limit, uint64_t *ram)
{
	const struct hvm_memmap_table_entry *map;
	uint64_t floor = ((uint64_t)_end + LARGE_PAGE - 1) & ~(LARGE_PAGE - 1);
	uint64_t total = 0;
	unsigned entries;

	map = startinfo_memmap(&entries);
	*ram = 0;
	for (unsigned i = 0; i < entries; i++) {
		uint64_t start, end;

		if (map[i].type != E820_RAM || map[i].size == 0)
			continue;
		*ram += map[i].size;
		start = (map[i].addr + LARGE_PAGE - 1) & ~(LARGE_PAGE - 1);
		end = (map[i].addr + map[i].size) & ~(LARGE_PAGE - 1);
		if (start < floor)
			start = floor;
		if (end > HIGH_LIMIT)
			end = HIGH_LIMIT;
		if (end <= start || p->count == MAX_RANGES)
			continue;
		if (end - start > limit - total)
			end = start + (limit - total);
		if (end <= start)
			continue;
		p->ranges[p->count++] = (struct range){ start, end };
		total += end - start;
		if (end > 4 * GIB && end > p->high_end)
			p->high_end = end;
	}
	return total;
}

/* CPL 3: the page directory entries for [4 GiB, high_end). */
static long build_high_pds(void *arg)
{
	struct plan *p = arg;

	for (uint64_t a = 4 * GIB; a < p->high_end; a += LARGE_PAGE) {
		uint64_t i = (a - 4 * GIB) / GIB, j = (a % GIB) / LARGE_PAGE;

		high_pd[i][j] = a | PTE_LARGE;
	}
	return 0;
}

/* CPL 0: hook the directories into the boot PDPT (the identity map makes
 * physical addresses usable as pointers) and reload CR3. A not-present
 * entry becoming present needs no invalidation (SDM vol. 3 §4.10.4.3); the
 * reload is for clarity, it costs one emulated instruction. */
static void map_high(const struct plan *p)
{
	uint64_t *pdpt = (uint64_t *)(boot_pml4[0] & ~0xfffULL);
	uint64_t gibs = (p->high_end - 4 * GIB + GIB - 1) / GIB;

	run_in_user(build_high_pds, (void *)p);
	for (uint64_t i = 0; i < gibs; i++)
		pdpt[4 + i] = (uint64_t)high_pd[i] | PTE_TABLE;
	__asm__ volatile("mov %0, %%cr3" : : "r"(read_cr3()) : "memory");
}

static long fill(void *arg)
{
	struct plan *p = arg;

	for (unsigned r = 0; r < p->count; r++)
		for (uint64_t a = p->ranges[r].start; a < p->ranges[r].end; a += 8)
			*(volatile uint64_t *)a = SNAPSHOT_PATTERN ^ a;
	return 0;
}

static long verify(void *arg)
{
	struct plan *p = arg;

	p->bad_words = p->first_bad = 0;
	for (unsigned r = 0; r < p->count; r++)
		for (uint64_t a = p->ranges[r].start; a < p->ranges[r].end; a += 8)
			if (*(volatile uint64_t *)a != (SNAPSHOT_PATTERN ^ a)) {
				if (p->bad_words++ == 0)
					p->first_bad = a;
			}
	return 0;
}

/* CPL 3: spin, counting, and print a line every tick. The next deadline
 * is taken from the time the line was written, so a long pause (a
 * snapshot) gives one late line, not a burst of catch-up lines. */
static long run_ticks(void *arg)
{
	struct plan *p = arg;
	volatile uint64_t *spins = &p->spins;

	for (uint64_t n = 1; p->ticks == 0 || n <= p->ticks; n++) {
		uint64_t deadline = rdtsc() + p->tick_cycles;

		while (rdtsc() < deadline)
			(*spins)++;
		printf("tick %lu\n", n);
		if (serial_rx_ready() && serial_getc() == 'v') {
			verify(p);
			printf("snapshot_bench: verify: %lu MiB, %lu bad words (first at 0x%lx)\n",
			       p->filled / MIB, p->bad_words, p->first_bad);
		}
	}
	return 0;
}

int main(int argc __unused, char **argv __unused)
{
	uint64_t fill_mib = ~0ULL, tick_us = 1000, ram, planned, hz, t0, t1;
	const char *source;

	cmdline_get_u64("fill", &fill_mib);
	cmdline_get_u64("tick_us", &tick_us);
	cmdline_get_u64("ticks", &plan.ticks);
	if (tick_us == 0)
		tick_us = 1;
	hz = tsc_hz(&source);
	if (hz == 0)
		guest_abort("snapshot_bench: no TSC frequency (%s)", source);
	plan.tick_cycles = hz / 1000000 * tick_us;

	planned = plan.filled = plan_ranges(&plan, fill_mib > HIGH_LIMIT / MIB ? HIGH_LIMIT : fill_mib * MIB,
			      &ram);
	printf("snapshot_bench: RAM %lu MiB, filling %lu MiB from 0x%lx\n", ram / MIB,
	       planned / MIB, plan.count ? plan.ranges[0].start : 0);
	if (plan.high_end)
		map_high(&plan);
	t0 = rdtsc();
	run_in_user(fill, &plan);
	t1 = rdtsc();
	printf("snapshot_bench: filled %lu MiB in %lu ms\n", planned / MIB,
	       (t1 - t0) / (hz / 1000));
	printf("snapshot_bench: ready\n");

	run_in_user(run_ticks, &plan);
	printf("snapshot_bench: stopped after %lu ticks, %lu spins\n", plan.ticks, plan.spins);
	if (!cmdline_has("verify"))
		return 0;
	run_in_user(verify, &plan);
	report(plan.bad_words == 0, "snapshot_bench: %lu MiB hold the pattern (%lu bad words, "
	       "first at 0x%lx)", planned / MIB, plan.bad_words, plan.first_bad);
	return report_summary();
}
