/* The root of the tables: RSDP (ACPI 6.4 §5.2.5), RSDT (§5.2.7) and XSDT
 * (§5.2.8). Both RSDT and XSDT list the same tables, so a guest that only
 * knows ACPI 1.0 (RSDT) and one that prefers the XSDT see the same set. */
#include <errno.h>
#include <string.h>

#include "acpi/build.h"

#define ACPI_RSDP_REVISION 2
#define ACPI_RSDT_REVISION 1
#define ACPI_XSDT_REVISION 1

int acpi_rsdp_alloc(struct acpi_area *a, struct acpi_rsdp **rsdp, uint64_t *gpa)
{
	/* §5.2.5.1: on a 16-byte boundary. */
	*rsdp = acpi_area_alloc(a, sizeof(**rsdp), 16, gpa);
	return *rsdp ? 0 : -ENOSPC;
}

void acpi_rsdp_fill(struct acpi_rsdp *rsdp, uint64_t rsdt, uint64_t xsdt)
{
	memcpy(rsdp->signature, "RSD PTR ", sizeof(rsdp->signature));
	memcpy(rsdp->oem_id, ACPI_OEM_ID, sizeof(rsdp->oem_id));
	rsdp->revision = ACPI_RSDP_REVISION;
	rsdp->rsdt_address = (uint32_t)rsdt;
	rsdp->length = sizeof(*rsdp);
	rsdp->xsdt_address = xsdt;
	rsdp->checksum = 0;
	rsdp->extended_checksum = 0;
	/* The first checksum covers the ACPI 1.0 part only; the extended one
	 * covers everything, including the first checksum. */
	rsdp->checksum = acpi_checksum(rsdp, ACPI_RSDP_V1_LENGTH);
	rsdp->extended_checksum = acpi_checksum(rsdp, sizeof(*rsdp));
}

static int acpi_sdt_build(struct acpi_area *a, const char signature[4], size_t entry_size,
			  const uint64_t *tables, unsigned n, uint64_t *gpa)
{
	size_t len = sizeof(struct acpi_header) + n * entry_size;
	uint8_t *t = acpi_area_alloc(a, len, 8, gpa);

	if (!t)
		return -ENOSPC;
	acpi_header_init((struct acpi_header *)t, signature, (uint32_t)len,
			 entry_size == 4 ? ACPI_RSDT_REVISION : ACPI_XSDT_REVISION);
	for (unsigned i = 0; i < n; i++) {
		uint8_t *e = t + sizeof(struct acpi_header) + i * entry_size;

		/* Little-endian, unaligned in the XSDT (8-byte entries at 36). */
		for (size_t b = 0; b < entry_size; b++)
			e[b] = (uint8_t)(tables[i] >> (8 * b));
	}
	acpi_table_finish((struct acpi_header *)t);
	return 0;
}

int acpi_rsdt_build(struct acpi_area *a, const uint64_t *tables, unsigned n, uint64_t *gpa)
{
	/* 32-bit entries: every table must be below 4 GiB. */
	for (unsigned i = 0; i < n; i++)
		if (tables[i] > UINT32_MAX)
			return -EINVAL;
	return acpi_sdt_build(a, "RSDT", 4, tables, n, gpa);
}

int acpi_xsdt_build(struct acpi_area *a, const uint64_t *tables, unsigned n, uint64_t *gpa)
{
	return acpi_sdt_build(a, "XSDT", 8, tables, n, gpa);
}
