#include "tsc.h"

#include "io.h"
#include "libguest.h"

#define PIT_HZ            1193182ULL
#define PIT_CH2_DATA      0x42
#define PIT_COMMAND       0x43
#define PIT_PORT_B        0x61      /* bit 0: ch2 gate, bit 1: speaker, bit 5: ch2 OUT */
#define PIT_CH2_MODE0     0xb0      /* channel 2, lobyte/hibyte, mode 0, binary */
#define PIT_CALIBRATE_COUNT 59659   /* ~50 ms */

static uint64_t tsc_from_cpuid_15(void)
{
	struct cpuid_result r;

	if (cpuid(0, 0).eax < 0x15)
		return 0;
	r = cpuid(0x15, 0);
	/* EAX: denominator, EBX: numerator, ECX: crystal Hz (0 = unknown). */
	if (!r.eax || !r.ebx || !r.ecx)
		return 0;
	return (uint64_t)r.ecx * r.ebx / r.eax;
}

static uint64_t tsc_from_hypervisor_leaf(void)
{
	struct cpuid_result r;

	if (!(cpuid(1, 0).ecx & (1u << 31)))  /* no hypervisor */
		return 0;
	if (cpuid(0x40000000, 0).eax < 0x40000010)
		return 0;
	r = cpuid(0x40000010, 0);
	return (uint64_t)r.eax * 1000;
}

/* KVM paravirtual clock (Linux Documentation/virt/kvm/x86/msr.rst,
 * MSR_KVM_SYSTEM_TIME_NEW): KVM publishes how it scales TSC ticks to
 * nanoseconds, ns = ((tsc << shift, or >> -shift) * mul) >> 32, which
 * gives the TSC rate exactly. */
#define KVM_CPUID_SIGNATURE       0x40000000
#define KVM_CPUID_FEATURES        0x40000001
#define KVM_FEATURE_CLOCKSOURCE2  (1u << 3)
#define MSR_KVM_SYSTEM_TIME_NEW   0x4b564d01

struct pvclock_vcpu_time_info {
	uint32_t version;
	uint32_t pad0;
	uint64_t tsc_timestamp;
	uint64_t system_time;
	uint32_t tsc_to_system_mul;
	int8_t tsc_shift;
	uint8_t flags;
	uint8_t pad[2];
} __attribute__((packed));

static bool hypervisor_is_kvm(void)
{
	struct cpuid_result r;

	if (!(cpuid(1, 0).ecx & (1u << 31)))
		return false;
	r = cpuid(KVM_CPUID_SIGNATURE, 0);
	return r.ebx == 0x4b4d564b && r.ecx == 0x564b4d56 && r.edx == 0x4d;  /* "KVMKVMKVM" */
}

static uint64_t tsc_from_kvmclock(void)
{
	/* KVM writes this page while the MSR points at it; one per call
	 * is enough because the MSR is cleared again before returning. */
	static struct pvclock_vcpu_time_info pvti __aligned(64);
	uint32_t version, mul;
	int8_t shift;
	const uint64_t ns_scaled = 1000000000ULL << 32;

	if (read_cpl() != 0 || !hypervisor_is_kvm() ||
	    !(cpuid(KVM_CPUID_FEATURES, 0).eax & KVM_FEATURE_CLOCKSOURCE2))
		return 0;
	wrmsr(MSR_KVM_SYSTEM_TIME_NEW, (uintptr_t)&pvti | 1);
	do {
		version = READ_ONCE(pvti.version);
		barrier();
		mul = READ_ONCE(pvti.tsc_to_system_mul);
		shift = READ_ONCE(pvti.tsc_shift);
		barrier();
	} while ((version & 1) || version != READ_ONCE(pvti.version));
	wrmsr(MSR_KVM_SYSTEM_TIME_NEW, 0);
	if (!mul || shift < -31 || shift > 31)
		return 0;
	if (shift >= 0)
		return ns_scaled / ((uint64_t)mul << shift);
	return (ns_scaled / mul) << -shift;
}

static uint64_t tsc_from_pit(void)
{
	uint8_t b = inb(PIT_PORT_B);
	uint64_t t0, t1;

	/* Mode 0: OUT goes low when the count is written and high at
	 * terminal count (8254 data sheet); the gate must be high. */
	outb(PIT_PORT_B, (uint8_t)((b & ~0x02) | 0x01));
	outb(PIT_COMMAND, PIT_CH2_MODE0);
	outb(PIT_CH2_DATA, PIT_CALIBRATE_COUNT & 0xff);
	outb(PIT_CH2_DATA, PIT_CALIBRATE_COUNT >> 8);
	/* OUT high right away: no PIT channel 2 or no port 0x61 (QEMU
	 * microvm has none); a bogus measurement is worse than none. */
	if (inb(PIT_PORT_B) & 0x20) {
		outb(PIT_PORT_B, b);
		return 0;
	}
	t0 = rdtsc();
	while (!(inb(PIT_PORT_B) & 0x20))
		cpu_relax();
	t1 = rdtsc();
	outb(PIT_PORT_B, b);
	return (t1 - t0) * PIT_HZ / PIT_CALIBRATE_COUNT;
}

uint64_t tsc_hz(const char **source)
{
	uint64_t hz;

	if ((hz = tsc_from_cpuid_15())) {
		*source = "cpuid-0x15";
		return hz;
	}
	if ((hz = tsc_from_hypervisor_leaf())) {
		*source = "cpuid-0x40000010";
		return hz;
	}
	if ((hz = tsc_from_kvmclock())) {
		*source = "kvmclock";
		return hz;
	}
	if ((hz = tsc_from_pit())) {
		*source = "pit";
		return hz;
	}
	*source = "unknown";
	return 0;
}
