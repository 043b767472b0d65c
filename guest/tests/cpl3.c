/* User mode: compute at CPL 3, port I/O from CPL 3, user-accessible
 * memory, and exceptions raised at CPL 3 coming back to CPL 0. */
#include "desc.h"
#include "io.h"
#include "libguest.h"
#include "serial.h"
#include "user.h"

#define LCG_MUL 6364136223846793005ULL   /* Knuth's MMIX LCG */
#define LCG_ADD 1442695040888963407ULL
#define ITERATIONS 100000000ULL

struct lcg_job {
	uint64_t seed;
	uint64_t steps;
	unsigned cpl;
	uint64_t rflags;
};

static long lcg_run(void *p)
{
	struct lcg_job *job = p;
	uint64_t x = job->seed;

	job->cpl = read_cpl();
	job->rflags = read_rflags();
	for (uint64_t i = 0; i < job->steps; i++) {
		x = x * LCG_MUL + LCG_ADD;
		/* Keep the compiler from collapsing the loop. */
		__asm__ volatile("" : "+r"(x));
	}
	return (long)x;
}

/* x after n LCG steps in O(log n), computed at CPL 0 to check the CPL 3
 * loop: compose the affine map x -> a*x + c with itself (F. Brown, "Random
 * number generation with arbitrary strides", 1994). */
static uint64_t lcg_skip(uint64_t x, uint64_t n)
{
	uint64_t acc_mul = 1, acc_add = 0, mul = LCG_MUL, add = LCG_ADD;

	while (n) {
		if (n & 1) {
			acc_mul *= mul;
			acc_add = acc_add * mul + add;
		}
		add = (mul + 1) * add;
		mul *= mul;
		n >>= 1;
	}
	return acc_mul * x + acc_add;
}

#define UART_SCRATCH (SERIAL_COM1 + 7)

static long port_io_run(void *p __unused)
{
	outb(UART_SCRATCH, 0x5a);
	if (inb(UART_SCRATCH) != 0x5a)
		return 1;
	outb(UART_SCRATCH, 0xa5);
	return inb(UART_SCRATCH) == 0xa5 ? 0 : 2;
}

static uint64_t kernel_data = 0x1234;

static long memory_run(void *p)
{
	volatile uint64_t *far = p;
	uint64_t old = kernel_data;

	kernel_data = old + 1;   /* a kernel .data variable */
	*far = 0xfeedface;       /* a page far from the image */
	return (long)old;
}

static void do_hlt(void *p __unused)
{
	__asm__ volatile("hlt");
}

static void do_ud2(void *p __unused)
{
	__asm__ volatile("ud2");
}

static void do_wrmsr(void *p __unused)
{
	wrmsr(0x10, 0);  /* IA32_TIME_STAMP_COUNTER: privileged at CPL 3 */
}

int main(int argc __unused, char **argv __unused)
{
	struct lcg_job job = { .seed = 42, .steps = ITERATIONS };
	uint64_t t0, t1, got, want;
	struct ex_regs regs;
	/* 6 MiB: past the image, below kvmrun's 8 MiB minimum of RAM */
	volatile uint64_t *far = (uint64_t *)(uintptr_t)0x600000;
	long r;

	report_prefix_push("cpl3");

	t0 = rdtsc();
	got = (uint64_t)run_in_user(lcg_run, &job);
	t1 = rdtsc();
	want = lcg_skip(job.seed, job.steps);
	report(job.cpl == 3, "loop ran at CPL %u", job.cpl);
	/* Informational only: nested KVM hosts of this project show IOPL 0 at
	 * CPL 3 and enforce the TSS I/O bitmap instead (see desc.h). */
	report_info("RFLAGS at CPL 3: 0x%lx (IOPL %lu)", job.rflags, (job.rflags >> 12) & 3);
	report(got == want, "%llu LCG steps: 0x%lx, expected 0x%lx", ITERATIONS, got, want);
	report_info("%llu iterations took %lu TSC cycles", ITERATIONS, t1 - t0);

	report(run_in_user(port_io_run, NULL) == 0, "port I/O at CPL 3 (UART scratch register)");

	r = run_in_user(memory_run, (void *)far);
	report(r == 0x1234 && kernel_data == 0x1235, "user code reads and writes kernel data");
	report(*far == 0xfeedface, "user code writes a page at 6 MiB");

	report(exception_expect_user(GP_VECTOR, do_hlt, NULL, &regs) && (regs.cs & 3) == 3,
	       "hlt at CPL 3 raises #GP from CPL 3");
	report(exception_expect_user(UD_VECTOR, do_ud2, NULL, &regs) && (regs.cs & 3) == 3,
	       "ud2 at CPL 3 raises #UD");
	report(exception_expect_user(GP_VECTOR, do_wrmsr, NULL, NULL), "wrmsr at CPL 3 raises #GP");
	report(exception_expect(UD_VECTOR, do_ud2, NULL, &regs) && (regs.cs & 3) == 0,
	       "ud2 at CPL 0 raises #UD from CPL 0");
	report(run_in_user(port_io_run, NULL) == 0, "user mode still works after exceptions");

	return report_summary();
}
