/* MCFG (PCI Firmware Specification 3.2 §4.1.2): where the ECAM window of
 * src/pci/pci_bus.c is, so that guests use memory-mapped configuration
 * space (and its 4 KiB per function) instead of ports 0xcf8/0xcfc. The
 * window must also be reserved, or Linux refuses it: the DSDT lists it as
 * a motherboard resource (PNP0C02). */
#include <errno.h>

#include "acpi/build.h"
#include "layout.h"

#define ACPI_MCFG_REVISION 1
#define ACPI_MCFG_LAST_BUS ((LAYOUT_PCI_ECAM_SIZE >> 20) - 1)   /* 1 MiB per bus */

_Static_assert(ACPI_MCFG_LAST_BUS <= 255, "an ECAM window covers at most 256 buses");

int acpi_mcfg_build(struct acpi_area *a, uint64_t *gpa)
{
	size_t len = sizeof(struct acpi_mcfg) + sizeof(struct acpi_mcfg_allocation);
	struct acpi_mcfg *mcfg = acpi_area_alloc(a, len, 8, gpa);
	struct acpi_mcfg_allocation *alloc;

	if (!mcfg)
		return -ENOSPC;
	acpi_header_init(&mcfg->header, "MCFG", (uint32_t)len, ACPI_MCFG_REVISION);
	alloc = (struct acpi_mcfg_allocation *)(mcfg + 1);
	alloc->base_address = LAYOUT_PCI_ECAM_BASE;
	alloc->segment = 0;
	alloc->start_bus = 0;
	alloc->end_bus = ACPI_MCFG_LAST_BUS;
	acpi_table_finish(&mcfg->header);
	return 0;
}
