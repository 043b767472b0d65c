/* The exit benchmark's guest (bench/README.md, "Exit-path benchmark"): `count`
 * one-byte writes from a CPL 3 loop, each of which is one VM exit that the
 * VMM handles, timed with the TSC.
 *
 * Command line: port=N count=N   `out` to I/O port N
 *               mmio=GPA count=N `mov` to guest physical address GPA, which
 *                                must lie in the device hole (uncached in
 *                                the library's page tables, no RAM there)
 *                                but not on the in-kernel IOAPIC or LAPIC
 *               quiet            print nothing: the only exits are the
 *                                writes and a dozen of the library's (the
 *                                benchmark reads kvmrun's handler times)
 *
 * It prints one line and exits 0 (here spread over three):
 *   io_loop: pio  0x00000080 count 50000 ticks 1500000000 tsc_hz 2100000000
 *            exits/s 86666 chunk 500 min_chunk_ticks 14100000
 *            median_chunk_ticks 14900000 (kvmclock)
 * ticks: the whole loop; exits/s = count * tsc_hz / ticks. The loop is also
 * timed in chunks of `chunk` writes: min_chunk_ticks is the fastest chunk,
 * median_chunk_ticks the median one. Time the host spends on other tasks
 * only ever lengthens chunks, so the fastest is the least disturbed
 * measure of the exits themselves. Every number is printed at a fixed
 * width, so a run with count=0 sends exactly as many console bytes (exits)
 * as any other run: the benchmark subtracts such a run's instruction count
 * from a long run's. */
#include "io.h"
#include "libguest.h"
#include "tsc.h"
#include "user.h"

/* Ports the loop must not hit: the console would print the bytes, the
 * exit ports would end the run. */
#define COM1_FIRST        0x3f8
#define COM1_LAST         0x3ff
#define MAX_PORT          0xffff

/* The device hole (kvmrun's src/layout.h) without 0xfec00000-0xfeffffff:
 * the in-kernel IOAPIC and LAPIC (a write there is handled by KVM, not the
 * VMM, and has effects) and the pages KVM keeps for itself (TSS, identity
 * map). 0xff000000 up is pc-testdev's MMIO window under kvmrun. */
#define MMIO_HOLE_START   0xd0000000ULL
#define MMIO_APIC_START   0xfec00000ULL
#define MMIO_APIC_END     0xff000000ULL
#define MMIO_HOLE_END     0x100000000ULL

/* count * tsc_hz must fit in 64 bits (no 128-bit division without libgcc);
 * at ~30 us per exit this is hours anyway. */
#define MAX_COUNT         1000000000ULL

/* Chunks: at least MIN_CHUNK writes each (~15 ms here, several scheduler
 * ticks' worth would hide nothing), at most MAX_CHUNKS of them. */
#define MIN_CHUNK         500
#define MAX_CHUNKS        4096

struct io_job {
	uint64_t addr;     /* port or guest physical address */
	bool is_mmio;
	uint64_t count;
	uint64_t chunk;    /* writes per timed chunk */
	uint64_t ticks;    /* TSC ticks all writes took */
	unsigned nr_chunks;          /* full chunks timed */
	uint64_t min_chunk_ticks;    /* the fastest chunk; 0 without a full chunk */
	uint64_t median_chunk_ticks; /* 0 without a full chunk */
};

/* TSC ticks of each full chunk, sorted in place for the median. */
static uint64_t chunk_ticks[MAX_CHUNKS];

static void write_n(const struct io_job *job, uint64_t n)
{
	if (job->is_mmio) {
		volatile uint8_t *reg = (volatile uint8_t *)(uintptr_t)job->addr;

		for (uint64_t i = 0; i < n; i++)
			*reg = (uint8_t)i;
	} else {
		uint16_t port = (uint16_t)job->addr;

		for (uint64_t i = 0; i < n; i++)
			outb(port, (uint8_t)i);
	}
}

static void sort_u64(uint64_t *v, unsigned n)
{
	for (unsigned i = 1; i < n; i++) {
		uint64_t x = v[i];
		unsigned j = i;

		for (; j > 0 && v[j - 1] > x; j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
}

/* Runs at CPL 3 because CPL 0 is emulated on this project's machines
 * (docs/guest-library.md): only the exits are measured, not the emulator.
 * rdtsc is allowed at CPL 3 (CR4.TSD is clear). */
static long io_loop(void *p)
{
	struct io_job *job = p;
	uint64_t left = job->count, t0 = rdtsc(), t = t0;

	job->nr_chunks = 0;
	while (left) {
		uint64_t n = left < job->chunk ? left : job->chunk, now;

		write_n(job, n);
		now = rdtsc();
		if (n == job->chunk && job->nr_chunks < MAX_CHUNKS)
			chunk_ticks[job->nr_chunks++] = now - t;
		t = now;
		left -= n;
	}
	job->ticks = t - t0;
	/* Sorting here, natively, takes milliseconds; at CPL 0 it would take
	 * seconds. */
	sort_u64(chunk_ticks, job->nr_chunks);
	job->min_chunk_ticks = job->nr_chunks ? chunk_ticks[0] : 0;
	job->median_chunk_ticks = job->nr_chunks ? chunk_ticks[job->nr_chunks / 2] : 0;
	return 0;
}

static bool mmio_allowed(uint64_t gpa)
{
	return gpa >= MMIO_HOLE_START && gpa < MMIO_HOLE_END &&
	       !(gpa >= MMIO_APIC_START && gpa < MMIO_APIC_END);
}

static bool port_allowed(uint64_t port)
{
	return port <= MAX_PORT && !(port >= COM1_FIRST && port <= COM1_LAST) &&
	       port != EXIT_PORT_KVMRUN && port != EXIT_PORT_QEMU;
}

int main(int argc __unused, char **argv __unused)
{
	struct io_job job = { 0 };
	const char *source;
	uint64_t hz, rate;

	job.is_mmio = cmdline_get_u64("mmio", &job.addr);
	if (!cmdline_get_u64("count", &job.count) ||
	    (!job.is_mmio && !cmdline_get_u64("port", &job.addr))) {
		printf("io_loop: needs port=N count=N or mmio=GPA count=N on the command line\n");
		return 1;
	}
	if (job.count > MAX_COUNT) {
		printf("io_loop: count=%lu: more than %llu\n", job.count, MAX_COUNT);
		return 1;
	}
	if (!job.is_mmio && !port_allowed(job.addr)) {
		printf("io_loop: port=0x%lx: not a port the loop may write (console, exit ports, > 0xffff)\n",
		       job.addr);
		return 1;
	}
	if (job.is_mmio && !mmio_allowed(job.addr)) {
		printf("io_loop: mmio=0x%lx: not in the device hole 0x%llx-0x%llx, or on the APICs "
		       "0x%llx-0x%llx\n", job.addr, MMIO_HOLE_START, MMIO_HOLE_END - 1,
		       MMIO_APIC_START, MMIO_APIC_END - 1);
		return 1;
	}

	job.chunk = (job.count + MAX_CHUNKS - 1) / MAX_CHUNKS;
	if (job.chunk < MIN_CHUNK)
		job.chunk = MIN_CHUNK;

	hz = tsc_hz(&source);
	run_in_user(io_loop, &job);
	rate = job.ticks ? job.count * hz / job.ticks : 0;
	if (cmdline_has("quiet"))
		return 0;
	printf("io_loop: %s 0x%08lx count %12lu ticks %16lu tsc_hz %12lu exits/s %10lu "
	       "chunk %10lu min_chunk_ticks %14lu median_chunk_ticks %14lu (%s)\n",
	       job.is_mmio ? "mmio" : "pio ", job.addr, job.count, job.ticks, hz, rate,
	       job.chunk, job.min_chunk_ticks, job.median_chunk_ticks, source);
	return 0;
}
