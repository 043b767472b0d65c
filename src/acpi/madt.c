/* MADT (ACPI 6.4 §5.2.12): the same interrupt model as the MP table
 * (boot/mptable.c): local APICs 0..n-1 at LAYOUT_LAPIC_BASE, one I/O APIC
 * with ID n and 24 pins from GSI 0, the 8259s (KVM's in-kernel PIC) still
 * present, ISA IRQ 0 on pin 2 and LINT1 as NMI. Every other ISA IRQ maps
 * to the GSI of the same number with ISA's edge / active-high default, so
 * it needs no entry; the SCI (IRQ 9) gets one because it is level-
 * triggered, active high, as on PIIX4 and ICH chipsets. */
#include <errno.h>
#include <string.h>

#include "acpi/build.h"
#include "devices/acpi_pm.h"
#include "layout.h"

/* The revision whose LAPIC, I/O APIC, override and NMI entries these are;
 * they have not changed since. */
#define ACPI_MADT_REVISION 3

#define ACPI_MADT_OVERRIDES 2
#define ACPI_MADT_SIZE(cpus) (sizeof(struct acpi_madt) + \
			      (cpus) * sizeof(struct acpi_madt_lapic) + \
			      sizeof(struct acpi_madt_ioapic) + \
			      ACPI_MADT_OVERRIDES * sizeof(struct acpi_madt_iso) + \
			      sizeof(struct acpi_madt_lapic_nmi))

static uint8_t *madt_put(uint8_t *p, const void *entry, size_t size)
{
	memcpy(p, entry, size);
	return p + size;
}

static uint8_t *madt_override(uint8_t *p, uint8_t irq, uint32_t gsi, uint16_t flags)
{
	struct acpi_madt_iso iso = {
		.type = ACPI_MADT_ISO, .length = sizeof(iso),
		.bus = 0, .source = irq, .gsi = gsi, .flags = flags,
	};

	return madt_put(p, &iso, sizeof(iso));
}

int acpi_madt_build(struct acpi_area *a, unsigned nr_cpus, uint64_t *gpa)
{
	size_t len = ACPI_MADT_SIZE(nr_cpus);
	struct acpi_madt *madt;
	uint8_t *p;

	if (nr_cpus == 0)
		return -EINVAL;
	if (nr_cpus > ACPI_MAX_CPUS)
		return -E2BIG;
	madt = acpi_area_alloc(a, len, 8, gpa);
	if (!madt)
		return -ENOSPC;
	acpi_header_init(&madt->header, "APIC", (uint32_t)len, ACPI_MADT_REVISION);
	madt->lapic_address = (uint32_t)LAYOUT_LAPIC_BASE;
	madt->flags = ACPI_MADT_PCAT_COMPAT;

	p = (uint8_t *)(madt + 1);
	/* The boot processor first, as OSes expect (§5.2.12.2); the
	 * processor UID is the APIC ID and matches the DSDT's _UID. */
	for (unsigned cpu = 0; cpu < nr_cpus; cpu++) {
		struct acpi_madt_lapic lapic = {
			.type = ACPI_MADT_LAPIC, .length = sizeof(lapic),
			.processor_uid = (uint8_t)cpu, .apic_id = (uint8_t)cpu,
			.flags = ACPI_MADT_ENABLED,
		};

		p = madt_put(p, &lapic, sizeof(lapic));
	}
	{
		struct acpi_madt_ioapic ioapic = {
			.type = ACPI_MADT_IOAPIC, .length = sizeof(ioapic),
			.ioapic_id = (uint8_t)nr_cpus,
			.address = (uint32_t)LAYOUT_IOAPIC_BASE, .gsi_base = 0,
		};
		struct acpi_madt_lapic_nmi nmi = {
			.type = ACPI_MADT_LAPIC_NMI, .length = sizeof(nmi),
			.processor_uid = ACPI_ALL_PROCESSORS, .flags = ACPI_INTI_CONFORMS,
			.lint = 1,
		};

		p = madt_put(p, &ioapic, sizeof(ioapic));
		p = madt_override(p, 0, 2, ACPI_INTI_EDGE | ACPI_INTI_ACTIVE_HIGH);
		p = madt_override(p, ACPI_PM_SCI_IRQ, ACPI_PM_SCI_IRQ,
				  ACPI_INTI_LEVEL | ACPI_INTI_ACTIVE_HIGH);
		p = madt_put(p, &nmi, sizeof(nmi));
	}
	acpi_table_finish(&madt->header);
	return 0;
}
