/* The snapshot tests' guest (tests/guest/snapshot.py): a long deterministic
 * computation whose state lives in vector registers for the whole run,
 * handed from CPU to CPU by IPIs, reading and writing a virtio-blk disk.
 * A snapshot taken at any moment and restored must end with the same
 * result, the same console transcript and the same disk as a run that was
 * never interrupted.
 *
 * Each CPU keeps its own mixing state in ymm0-ymm3 (AVX2) or xmm0-xmm3
 * (SSE2, when the CPU or XCR0 has no AVX2), loaded once and never spilled:
 * the library is built with -mgeneral-regs-only, so no code but the
 * mixing asm touches vector registers. A snapshot that loses the upper
 * halves of the ymm registers, or any vCPU's FPU state, changes the
 * result.
 *
 * Rounds go around the CPUs as a token: in round r, CPU r % n mixes the
 * baton into its registers for `iters` steps, writes disk sector r % 64
 * with the new baton, reads back sector (7r + 3) % 64 and folds it in,
 * prints one line, and sends a fixed IPI to the next CPU (itself with one
 * CPU), whose handler lets it take round r + 1. Every step depends on the
 * previous one, so the transcript and the result are the same however the
 * run is timed. The loops run at CPL 3; only the IPI send (a WRMSR, after
 * returning from run_in_user) and the handler run at CPL 0.
 *
 * Command line: rounds=N (default 60), iters=N mixing steps per round
 * (default 2000000), sectors=N the disk's capacity (required),
 * ballast=N (MiB, default 0, at most 16): RAM filled once at start, one
 * page of it rewritten each round, and its checksum printed at the end,
 * so that a snapshot holds megabytes the guest does not otherwise touch
 * and a diff snapshot only the few pages each round changes. */
#include "apic.h"
#include "desc.h"
#include "io.h"
#include "libguest.h"
#include "smp.h"
#include "user.h"
#include "virtio.h"

#define TOKEN_VECTOR 0x60   /* IPI: your turn */
#define QSIZE        16
#define SECTOR       512
#define DISK_SECTORS 64     /* the sectors the rounds use */
#define WAIT_SPINS   4000000000ULL

#define CR0_EMULATE    (1ULL << 2)
#define CR0_MONITOR    (1ULL << 1)
#define CR4_OSFXSR_BIT (1ULL << 9)
#define CR4_OSXMMEXCPT (1ULL << 10)
#define CR4_OSXSAVE_BIT (1ULL << 18)
#define XCR0_AVX      0x7ULL   /* x87 | SSE | AVX */

struct blk_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

static uint8_t ring_mem[VRING_BYTES(QSIZE)] __aligned(4096);
static uint8_t sector_buf[SECTOR] __aligned(512);
static struct blk_hdr hdr __aligned(16);
static volatile uint8_t status;
static struct virtio_dev dev;
static struct vring vq;

static bool avx2;                         /* which mixing code runs */
static uint64_t rounds = 60, iters = 2000000;
static unsigned nr_cpus;
static volatile uint64_t round;           /* the next round to run */
static volatile uint64_t baton = 0x243f6a8885a308d3ULL;
static volatile uint32_t go[GUEST_MAX_CPUS];
static volatile uint32_t ipis[GUEST_MAX_CPUS];
static volatile bool failed;

#define BALLAST_MAX_MIB 16
#define PAGE_BYTES      4096
/* In .bss: costs no RAM (the loader does not clear it) unless ballast=. */
static uint8_t ballast[BALLAST_MAX_MIB << 20] __aligned(PAGE_BYTES);
static uint64_t ballast_pages;

/* Time must run on across a snapshot: each round checks that the TSC and
 * kvmclock (api.rst "KVM_SET_CLOCK"; the guest side is the pvclock ABI)
 * never went backwards since the previous round on any CPU. */
struct pvclock {
	uint32_t version;
	uint32_t pad0;
	uint64_t tsc_timestamp;
	uint64_t system_time;
	uint32_t tsc_to_system_mul;
	int8_t tsc_shift;
	uint8_t flags;
	uint8_t pad[2];
};

#define MSR_KVM_SYSTEM_TIME_NEW 0x4b564d01
#define KVM_CPUID_FEATURES      0x40000001
#define KVM_FEATURE_CLOCKSOURCE2 3

static struct pvclock pvclock[GUEST_MAX_CPUS] __aligned(64);
static bool have_kvmclock;
static volatile uint64_t last_tsc, last_ns;
static volatile bool time_backwards;

static void write_cr0(uint64_t v)
{
	__asm__ volatile("mov %0, %%cr0" : : "r"(v) : "memory");
}

static void write_cr4(uint64_t v)
{
	__asm__ volatile("mov %0, %%cr4" : : "r"(v) : "memory");
}

/* Per CPU, at CPL 0: SSE on (CR0.EM clear, CR4.OSFXSR), and AVX state in
 * XCR0 when the CPU has AVX2 and XSAVE. */
static void enable_vector_unit(void *arg __unused)
{
	write_cr0((read_cr0() & ~CR0_EMULATE) | CR0_MONITOR);
	write_cr4(read_cr4() | CR4_OSFXSR_BIT | CR4_OSXMMEXCPT);
	if (avx2) {
		write_cr4(read_cr4() | CR4_OSXSAVE_BIT);
		__asm__ volatile("xsetbv" : : "c"(0), "a"((uint32_t)XCR0_AVX), "d"(0));
	}
	if (have_kvmclock)
		wrmsr(MSR_KVM_SYSTEM_TIME_NEW, (uintptr_t)&pvclock[smp_id()] | 1);
}

/* MTRRs (Intel SDM vol. 3A §12.11) set as a firmware would, unlike
 * kvmrun's boot values (MTRRdefType 0x806, nothing else): KVM leaves them
 * out of KVM_GET_MSR_INDEX_LIST, so a snapshot must save them apart, and
 * the result line prints CPU 0's to show they came back. */
#define MSR_MTRR_DEF_TYPE   0x2ff
#define MSR_MTRR_FIX_64K    0x250
#define MSR_MTRR_PHYS_BASE0 0x200
#define MSR_MTRR_PHYS_MASK0 0x201
#define MTRR_DEF_TYPE_SET   0xc06ULL                /* enabled, fixed on, WB */
#define MTRR_FIX_WB         0x0606060606060606ULL   /* 0-512 KiB write-back */
#define MTRR_BASE0_SET      0xd0000000ULL           /* the MMIO window, UC */
#define MTRR_MASK0_SET      0xff0000800ULL          /* 256 MiB, valid (bits 35:28) */

static void set_mtrrs(void *arg __unused)
{
	wrmsr(MSR_MTRR_FIX_64K, MTRR_FIX_WB);
	wrmsr(MSR_MTRR_PHYS_BASE0, MTRR_BASE0_SET);
	wrmsr(MSR_MTRR_PHYS_MASK0, MTRR_MASK0_SET);
	wrmsr(MSR_MTRR_DEF_TYPE, MTRR_DEF_TYPE_SET);
}

static bool mtrrs_as_set(void)
{
	uint64_t def = rdmsr(MSR_MTRR_DEF_TYPE), fix = rdmsr(MSR_MTRR_FIX_64K);
	uint64_t base = rdmsr(MSR_MTRR_PHYS_BASE0), mask = rdmsr(MSR_MTRR_PHYS_MASK0);

	printf("mtrr deftype %llx fix64k %llx base0 %llx mask0 %llx\n", (unsigned long long)def,
	       (unsigned long long)fix, (unsigned long long)base, (unsigned long long)mask);
	return def == MTRR_DEF_TYPE_SET && fix == MTRR_FIX_WB && base == MTRR_BASE0_SET &&
	       mask == MTRR_MASK0_SET;
}

static bool cpu_has_kvmclock(void)
{
	return cpuid(0x40000000, 0).eax >= KVM_CPUID_FEATURES &&
	       (cpuid(KVM_CPUID_FEATURES, 0).eax & (1u << KVM_FEATURE_CLOCKSOURCE2));
}

/* Nanoseconds of this CPU's kvmclock (the pvclock ABI: version odd while
 * KVM updates the area). */
static uint64_t kvmclock_ns(void)
{
	volatile struct pvclock *p = &pvclock[smp_id()];
	uint32_t version;
	uint64_t ns;

	do {
		version = p->version;
		barrier();
		uint64_t delta = rdtsc() - p->tsc_timestamp;

		if (p->tsc_shift >= 0)
			delta <<= p->tsc_shift;
		else
			delta >>= -p->tsc_shift;
		ns = p->system_time + (uint64_t)(((unsigned __int128)delta * p->tsc_to_system_mul) >> 32);
		barrier();
	} while ((version & 1) || version != p->version);
	return ns;
}

/* The rounds run one after another, so each one's clocks must be at or
 * after the previous one's, whichever CPU read them. */
static void check_time(void)
{
	uint64_t tsc = rdtsc(), ns = have_kvmclock ? kvmclock_ns() : 0;

	if (tsc < last_tsc || ns < last_ns)
		time_backwards = true;
	last_tsc = tsc;
	last_ns = ns;
}

static bool cpu_has_avx2(void)
{
	struct cpuid_result l1 = cpuid(1, 0), l7 = cpuid(7, 0);

	/* CPUID.1:ECX XSAVE (26), AVX (28); CPUID.7.0:EBX AVX2 (5). */
	return (l1.ecx & (1u << 26)) && (l1.ecx & (1u << 28)) && (l7.ebx & (1u << 5));
}

/* --- the mixing state, in vector registers --- */

/* Seed this CPU's registers from its index. */
static void mix_init(unsigned cpu)
{
	uint64_t seed = 0x9e3779b97f4a7c15ULL * (cpu + 1);

	if (avx2)
		__asm__ volatile(
			"vmovq %0, %%xmm0\n\t"
			"vpbroadcastq %%xmm0, %%ymm0\n\t"
			"vpshufd $0x1b, %%ymm0, %%ymm1\n\t"
			"vpaddd %%ymm0, %%ymm1, %%ymm2\n\t"
			"vpxor %%ymm1, %%ymm2, %%ymm3\n\t"
			/* a different constant in each lane: the upper halves matter */
			"mov $0x0123456789abcdef, %%rax\n\t"
			"vmovq %%rax, %%xmm4\n\t"
			"mov $0x0f1e2d3c4b5a6978, %%rax\n\t"
			"vpinsrq $1, %%rax, %%xmm4, %%xmm4\n\t"
			"vinserti128 $1, %%xmm4, %%ymm4, %%ymm4\n\t"
			"vpaddd %%ymm4, %%ymm4, %%ymm5\n\t"
			"vpxor %%ymm5, %%ymm1, %%ymm1\n\t"
			"vperm2i128 $0x01, %%ymm5, %%ymm5, %%ymm5\n\t"
			: : "r"(seed) : "rax", "memory");
	else
		__asm__ volatile(
			"movq %0, %%xmm0\n\t"
			"pshufd $0x44, %%xmm0, %%xmm0\n\t"
			"pshufd $0x1b, %%xmm0, %%xmm1\n\t"
			"movdqa %%xmm0, %%xmm2\n\t"
			"paddd %%xmm1, %%xmm2\n\t"
			"movdqa %%xmm2, %%xmm3\n\t"
			"pxor %%xmm1, %%xmm3\n\t"
			"mov $0x0123456789abcdef, %%rax\n\t"
			"movq %%rax, %%xmm4\n\t"
			"pshufd $0x44, %%xmm4, %%xmm4\n\t"
			"movdqa %%xmm4, %%xmm5\n\t"
			"paddd %%xmm4, %%xmm5\n\t"
			: : "r"(seed) : "rax", "memory");
}

/* Fold `in` into the state, run `n` steps, return a digest of all of
 * it (every lane of every state register). */
static uint64_t mix(uint64_t in, uint64_t n)
{
	uint64_t lo, hi;

	if (avx2)
		__asm__ volatile(
			"vmovq %2, %%xmm7\n\t"
			"vpxor %%ymm7, %%ymm0, %%ymm0\n\t"
			"1:\n\t"
			"vpaddd %%ymm1, %%ymm0, %%ymm0\n\t"
			"vpxor %%ymm0, %%ymm3, %%ymm3\n\t"
			"vpshufd $0x93, %%ymm3, %%ymm3\n\t"
			"vpaddd %%ymm3, %%ymm2, %%ymm2\n\t"
			"vpxor %%ymm2, %%ymm1, %%ymm1\n\t"
			"vpslld $7, %%ymm1, %%ymm6\n\t"
			"vpsrld $25, %%ymm1, %%ymm1\n\t"
			"vpor %%ymm6, %%ymm1, %%ymm1\n\t"
			"vpaddd %%ymm4, %%ymm0, %%ymm0\n\t"
			"vpxor %%ymm5, %%ymm2, %%ymm2\n\t"
			"vperm2i128 $0x01, %%ymm3, %%ymm3, %%ymm3\n\t"
			"dec %3\n\t"
			"jnz 1b\n\t"
			"vpxor %%ymm0, %%ymm1, %%ymm6\n\t"
			"vpxor %%ymm2, %%ymm6, %%ymm6\n\t"
			"vpxor %%ymm3, %%ymm6, %%ymm6\n\t"
			"vextracti128 $1, %%ymm6, %%xmm7\n\t"
			"vpxor %%xmm7, %%xmm6, %%xmm6\n\t"
			"vmovq %%xmm6, %0\n\t"
			"vpextrq $1, %%xmm6, %1\n\t"
			: "=r"(lo), "=r"(hi), "+r"(in), "+r"(n) : : "cc", "memory");
	else
		__asm__ volatile(
			"movq %2, %%xmm7\n\t"
			"pxor %%xmm7, %%xmm0\n\t"
			"1:\n\t"
			"paddd %%xmm1, %%xmm0\n\t"
			"pxor %%xmm0, %%xmm3\n\t"
			"pshufd $0x93, %%xmm3, %%xmm3\n\t"
			"paddd %%xmm3, %%xmm2\n\t"
			"pxor %%xmm2, %%xmm1\n\t"
			"movdqa %%xmm1, %%xmm6\n\t"
			"pslld $7, %%xmm6\n\t"
			"psrld $25, %%xmm1\n\t"
			"por %%xmm6, %%xmm1\n\t"
			"paddd %%xmm4, %%xmm0\n\t"
			"pxor %%xmm5, %%xmm2\n\t"
			"dec %3\n\t"
			"jnz 1b\n\t"
			"movdqa %%xmm0, %%xmm6\n\t"
			"pxor %%xmm1, %%xmm6\n\t"
			"pxor %%xmm2, %%xmm6\n\t"
			"pxor %%xmm3, %%xmm6\n\t"
			"movq %%xmm6, %0\n\t"
			"pshufd $0x4e, %%xmm6, %%xmm6\n\t"
			"movq %%xmm6, %1\n\t"
			: "=r"(lo), "=r"(hi), "+r"(in), "+r"(n) : : "cc", "memory");
	return lo ^ (hi << 17 | hi >> 47);
}

/* --- the disk (polled at CPL 3) --- */

static bool blk_request(uint32_t type, uint64_t sector)
{
	struct vring_buf b[3] = {
		{ (uintptr_t)&hdr, sizeof(hdr), false },
		{ (uintptr_t)sector_buf, SECTOR, type == 0 },
		{ (uintptr_t)&status, 1, true },
	};
	uint32_t id, len;

	hdr = (struct blk_hdr){ .type = type, .sector = sector };
	status = 0xee;
	vring_add(&vq, b, 3);
	vring_kick(&vq);
	return vring_wait(&vq, &id, &len, WAIT_SPINS) && status == 0;
}

static uint64_t disk_round(uint64_t r, uint64_t value)
{
	uint64_t *words = (uint64_t *)sector_buf, h = 0;

	for (unsigned i = 0; i < SECTOR / 8; i++)
		words[i] = value ^ (i * 0x100000001b3ULL);
	if (!blk_request(1, r % DISK_SECTORS)) {
		failed = true;
		return 0;
	}
	if (!blk_request(0, (7 * r + 3) % DISK_SECTORS)) {
		failed = true;
		return 0;
	}
	for (unsigned i = 0; i < SECTOR / 8; i++)
		h = (h ^ words[i]) * 0x100000001b3ULL;
	return h;
}

/* --- ballast (CPL 3: the loops are long) --- */

static long ballast_fill(void *arg __unused)
{
	uint64_t *w = (uint64_t *)ballast;

	for (uint64_t i = 0; i < ballast_pages * (PAGE_BYTES / 8); i++)
		w[i] = i * 0x9e3779b97f4a7c15ULL;
	return 0;
}

/* Round r rewrites one page, spread over the ballast. */
static void ballast_touch(uint64_t r)
{
	uint64_t *w;

	if (!ballast_pages)
		return;
	w = (uint64_t *)(ballast + (r * 7919 % ballast_pages) * PAGE_BYTES);
	for (unsigned i = 0; i < PAGE_BYTES / 8; i++)
		w[i] ^= (r + 1) * (i + 1);
}

static long ballast_sum(void *arg __unused)
{
	const uint64_t *w = (const uint64_t *)ballast;
	uint64_t h = 0xcbf29ce484222325ULL;

	for (uint64_t i = 0; i < ballast_pages * (PAGE_BYTES / 8); i++)
		h = (h ^ w[i]) * 0x100000001b3ULL;
	return (long)h;
}

/* --- the token ring --- */

static void token_handler(struct ex_regs *regs __unused)
{
	unsigned me = smp_id();

	ipis[me]++;
	go[me] = 1;
	apic_eoi();
}

/* One turn at CPL 3: wait for the token, run a round. Returns 1 when the
 * token must go on to the next CPU (sent at CPL 0: an IPI is a WRMSR), 0
 * when all rounds are done. The vector registers keep their contents
 * across the return to CPL 0 and back: nothing there touches them. */
static long worker_turn(void *arg __unused)
{
	static bool seeded[GUEST_MAX_CPUS];
	unsigned me = smp_id();
	uint64_t r, digest;

	if (!seeded[me]) {
		mix_init(me);
		seeded[me] = true;
	}
	while (!go[me] && round < rounds && !failed)
		cpu_relax();
	if (round >= rounds || failed)
		return 0;
	go[me] = 0;
	r = round;
	check_time();
	digest = mix(baton, iters);
	digest ^= disk_round(r, digest);
	ballast_touch(r);
	baton = digest;
	printf("round %llu cpu %u baton %016llx\n", (unsigned long long)r, me,
	       (unsigned long long)digest);
	round = r + 1;
	/* No token after the last round: every IPI sent is then handled
	 * before the result is printed. */
	return r + 1 < rounds;
}

static void worker(void)
{
	unsigned me = smp_id();

	while (run_in_user(worker_turn, NULL))
		apic_send_ipi(percpu[(me + 1) % nr_cpus].apic_id, TOKEN_VECTOR);
}

static void ap_main(void *arg __unused)
{
	irq_enable();
	worker();
	for (;;)
		cpu_relax();
}

static void setup_disk(void)
{
	uint64_t sectors = 0;

	if (!cmdline_get_u64("sectors", &sectors) || sectors < DISK_SECTORS ||
	    !virtio_probe(VIRTIO_ID_BLOCK, 0, &dev))
		guest_abort("needs a virtio-blk disk of at least %d sectors and sectors=", DISK_SECTORS);
	if (virtio_negotiate(&dev, 1ULL << VIRTIO_F_EVENT_IDX) != 0 ||
	    virtio_queue_setup(&dev, &vq, 0, QSIZE, ring_mem) != 0)
		guest_abort("virtio-blk setup failed");
	virtio_driver_ok(&dev);
}

int main(int argc __unused, char **argv __unused)
{
	uint64_t total = 0, mib = 0;

	cmdline_get_u64("rounds", &rounds);
	cmdline_get_u64("ballast", &mib);
	if (mib > BALLAST_MAX_MIB)
		guest_abort("ballast=%llu: at most %d MiB", (unsigned long long)mib, BALLAST_MAX_MIB);
	ballast_pages = mib * ((1 << 20) / PAGE_BYTES);
	run_in_user(ballast_fill, NULL);
	cmdline_get_u64("iters", &iters);
	if (iters == 0)
		iters = 1;
	nr_cpus = smp_init();
	avx2 = cpu_has_avx2();
	have_kvmclock = cpu_has_kvmclock();
	on_cpus(enable_vector_unit, NULL);
	on_cpus(set_mtrrs, NULL);
	idt_set_handler(TOKEN_VECTOR, token_handler);
	setup_disk();
	printf("snapshot_compute: %u cpus, %s, %llu rounds of %llu steps\n", nr_cpus,
	       avx2 ? "avx2 (ymm state)" : "sse2 (xmm state)", (unsigned long long)rounds,
	       (unsigned long long)iters);
	for (unsigned i = 1; i < nr_cpus; i++)
		on_cpu_async(i, ap_main, NULL);
	go[0] = 1;
	irq_enable();
	worker();
	irq_disable();
	for (unsigned i = 0; i < nr_cpus; i++)
		total += ipis[i];
	if (ballast_pages)
		printf("ballast %016llx over %llu MiB\n", (unsigned long long)run_in_user(ballast_sum, NULL),
		       (unsigned long long)mib);
	printf("result %016llx after %llu rounds, %llu token IPIs\n", (unsigned long long)baton,
	       (unsigned long long)round, (unsigned long long)total);
	report(mtrrs_as_set(), "CPU 0's MTRRs are the ones it set");
	report(!failed, "disk requests all succeeded");
	report(round == rounds, "%llu rounds done", (unsigned long long)round);
	report(!time_backwards, "TSC%s never went backwards between rounds",
	       have_kvmclock ? " and kvmclock" : "");
	return report_summary();
}
