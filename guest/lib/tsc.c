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
	*source = "pit";
	return tsc_from_pit();
}
