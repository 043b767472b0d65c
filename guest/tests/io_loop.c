/* The exit benchmark's guest (bench/README.md, "Exit path"): `count`
 * one-byte writes from a CPL 3 loop, each of which is one VM exit that the
 * VMM handles, timed with the TSC.
 *
 * Command line: port=N count=N   `out` to I/O port N
 *               mmio=GPA count=N `mov` to guest physical address GPA, which
 *                                must lie in the device hole (uncached in
 *                                the library's page tables, no RAM there)
 *
 * It prints one line and exits 0:
 *   io_loop: pio 0x0080 count 50000 ticks 1500000000 tsc_hz 2100000000 exits/s 70000 (cpuid-0x15)
 * Every number is printed at a fixed width, so a run with count=0 sends
 * exactly as many console bytes (exits) as any other run: the benchmark
 * subtracts such a run's instruction count from a long run's. */
#include "io.h"
#include "libguest.h"
#include "tsc.h"
#include "user.h"

/* Ports the loop must not hit: the console would print the bytes, the
 * exit ports would end the run. */
#define COM1_FIRST        0x3f8
#define COM1_LAST         0x3ff
#define MAX_PORT          0xffff

/* The device hole (kvmrun's src/layout.h), up to the in-kernel IOAPIC and
 * LAPIC: a write there is handled by KVM, not the VMM, and has effects. */
#define MMIO_HOLE_START   0xd0000000ULL
#define MMIO_HOLE_END     0xfec00000ULL

/* count * tsc_hz must fit in 64 bits (no 128-bit division without libgcc);
 * at ~30 us per exit this is hours anyway. */
#define MAX_COUNT         1000000000ULL

struct io_job {
	uint64_t addr;     /* port or guest physical address */
	uint64_t count;
	uint64_t ticks;    /* TSC ticks the writes took */
};

/* The loops run at CPL 3 because CPL 0 is emulated on this project's
 * machines (docs/guest-library.md): only the exit is measured, not the
 * emulator. rdtsc is allowed at CPL 3 (CR4.TSD is clear). */
static long pio_loop(void *p)
{
	struct io_job *job = p;
	uint16_t port = (uint16_t)job->addr;
	uint64_t n = job->count, t0 = rdtsc();

	for (uint64_t i = 0; i < n; i++)
		outb(port, (uint8_t)i);
	job->ticks = rdtsc() - t0;
	return 0;
}

static long mmio_loop(void *p)
{
	struct io_job *job = p;
	volatile uint8_t *reg = (volatile uint8_t *)(uintptr_t)job->addr;
	uint64_t n = job->count, t0 = rdtsc();

	for (uint64_t i = 0; i < n; i++)
		*reg = (uint8_t)i;
	job->ticks = rdtsc() - t0;
	return 0;
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
	bool is_mmio;
	uint64_t hz, rate;

	is_mmio = cmdline_get_u64("mmio", &job.addr);
	if (!cmdline_get_u64("count", &job.count) ||
	    (!is_mmio && !cmdline_get_u64("port", &job.addr))) {
		printf("io_loop: needs port=N count=N or mmio=GPA count=N on the command line\n");
		return 1;
	}
	if (job.count > MAX_COUNT) {
		printf("io_loop: count=%lu: more than %llu\n", job.count, MAX_COUNT);
		return 1;
	}
	if (!is_mmio && !port_allowed(job.addr)) {
		printf("io_loop: port=0x%lx: not a port the loop may write (console, exit ports, > 0xffff)\n",
		       job.addr);
		return 1;
	}
	if (is_mmio && (job.addr < MMIO_HOLE_START || job.addr >= MMIO_HOLE_END)) {
		printf("io_loop: mmio=0x%lx: outside the device hole 0x%llx-0x%llx\n", job.addr,
		       MMIO_HOLE_START, MMIO_HOLE_END - 1);
		return 1;
	}

	hz = tsc_hz(&source);
	run_in_user(is_mmio ? mmio_loop : pio_loop, &job);
	rate = job.ticks ? job.count * hz / job.ticks : 0;
	printf("io_loop: %s 0x%08lx count %12lu ticks %16lu tsc_hz %12lu exits/s %10lu (%s)\n",
	       is_mmio ? "mmio" : "pio ", job.addr, job.count, job.ticks, hz, rate, source);
	return 0;
}
