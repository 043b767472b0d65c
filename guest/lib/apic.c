#include "apic.h"

#include "io.h"
#include "libguest.h"

bool apic_x2apic_supported(void)
{
	return cpuid(1, 0).ecx & (1u << 21);
}

void apic_enable(void)
{
	uint64_t base;

	if (!apic_x2apic_supported())
		guest_abort("apic_enable: no x2APIC (CPUID.1:ECX[21] clear)");
	base = rdmsr(MSR_IA32_APIC_BASE);
	/* Disabled -> x2APIC directly is an invalid transition (SDM vol. 3
	 * §10.12.5, figure 10-27): go through xAPIC mode first. */
	if (!(base & APIC_BASE_EN)) {
		base |= APIC_BASE_EN;
		wrmsr(MSR_IA32_APIC_BASE, base);
	}
	if (!(base & APIC_BASE_EXTD))
		wrmsr(MSR_IA32_APIC_BASE, base | APIC_BASE_EXTD);
	wrmsr(MSR_X2APIC_SVR, APIC_SVR_ENABLE | SPURIOUS_VECTOR);
	/* The BSP's LINT0 is ExtINT after reset: keep the 8259 out. */
	wrmsr(MSR_X2APIC_LVT_LINT0, APIC_LVT_MASKED);
}

uint32_t apic_id(void)
{
	return (uint32_t)rdmsr(MSR_X2APIC_ID);
}

void apic_eoi(void)
{
	wrmsr(MSR_X2APIC_EOI, 0);
}

void apic_icr_write(uint32_t dest, uint32_t low)
{
	/* x2APIC ICR is one 64-bit MSR: destination in bits 63:32, and no
	 * delivery-status polling is needed (SDM vol. 3 §10.12.9). */
	wrmsr(MSR_X2APIC_ICR, ((uint64_t)dest << 32) | low);
}

void apic_send_ipi(uint32_t dest, uint8_t vector)
{
	apic_icr_write(dest, APIC_ICR_FIXED | APIC_ICR_ASSERT | vector);
}

void apic_send_init(uint32_t dest)
{
	apic_icr_write(dest, APIC_ICR_INIT | APIC_ICR_ASSERT);
}

void apic_send_sipi(uint32_t dest, uint8_t page)
{
	apic_icr_write(dest, APIC_ICR_STARTUP | APIC_ICR_ASSERT | page);
}
