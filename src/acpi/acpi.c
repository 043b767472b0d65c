/* Assembling the tables: the area, the common header and checksum, and
 * acpi_write(), which builds everything in a host buffer and copies it to
 * guest RAM in one piece. */
#include "acpi/acpi.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "acpi/build.h"
#include "layout.h"
#include "zeroed_pages.h"

#define ACPI_AREA_SIZE (LAYOUT_ACPI_END - LAYOUT_ACPI_START)

void *acpi_area_alloc(struct acpi_area *a, size_t len, size_t align, uint64_t *gpa)
{
	uint64_t start = (a->gpa + a->used + align - 1) & ~(uint64_t)(align - 1);
	size_t offset = (size_t)(start - a->gpa);

	if (offset > a->size || len > a->size - offset)
		return NULL;
	a->used = offset + len;
	*gpa = start;
	return a->buf + offset;
}

uint8_t acpi_checksum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	for (size_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + b[i]);
	return (uint8_t)-sum;
}

void acpi_header_init(struct acpi_header *h, const char signature[4], uint32_t length,
		      uint8_t revision)
{
	memcpy(h->signature, signature, sizeof(h->signature));
	h->length = length;
	h->revision = revision;
	h->checksum = 0;
	memcpy(h->oem_id, ACPI_OEM_ID, sizeof(h->oem_id));
	memcpy(h->oem_table_id, ACPI_OEM_TABLE_ID, sizeof(h->oem_table_id));
	h->oem_revision = ACPI_OEM_REVISION;
	memcpy(h->creator_id, ACPI_CREATOR_ID, sizeof(h->creator_id));
	h->creator_revision = ACPI_CREATOR_REVISION;
}

void acpi_table_finish(struct acpi_header *h)
{
	h->checksum = 0;
	h->checksum = acpi_checksum(h, h->length);
}

static int acpi_check_config(const struct acpi_config *cfg)
{
	if (cfg->nr_cpus == 0)
		return -EINVAL;
	if (cfg->nr_cpus > ACPI_MAX_CPUS || cfg->nr_virtio_mmio > ACPI_MAX_MMIO_DEVICES)
		return -E2BIG;
	if (cfg->nr_virtio_mmio && !cfg->virtio_mmio)
		return -EINVAL;
	return 0;
}

/* The order in the area: the RSDP first (it must be at a 16-byte boundary
 * the guest scans), the FACS (64-byte aligned), then the DSDT, the tables
 * that the XSDT lists, and the RSDT and XSDT themselves. */
static int acpi_build(struct acpi_area *area, const struct acpi_config *cfg,
		      struct acpi_tables *t)
{
	struct acpi_rsdp *rsdp;
	uint64_t listed[3];
	int ret;

	ret = acpi_rsdp_alloc(area, &rsdp, &t->rsdp);
	if (!ret)
		ret = acpi_facs_build(area, &t->facs);
	if (!ret)
		ret = acpi_dsdt_build(area, cfg, &t->dsdt);
	if (!ret)
		ret = acpi_fadt_build(area, t->facs, t->dsdt, &t->fadt);
	if (!ret)
		ret = acpi_madt_build(area, cfg->nr_cpus, &t->madt);
	if (!ret)
		ret = acpi_mcfg_build(area, &t->mcfg);
	if (ret)
		return ret;
	/* The FADT first: ACPICA expects it as the first entry (it finds it
	 * by signature anyway). */
	listed[0] = t->fadt;
	listed[1] = t->madt;
	listed[2] = t->mcfg;
	ret = acpi_rsdt_build(area, listed, 3, &t->rsdt);
	if (!ret)
		ret = acpi_xsdt_build(area, listed, 3, &t->xsdt);
	if (ret)
		return ret;
	acpi_rsdp_fill(rsdp, t->rsdt, t->xsdt);
	t->size = area->used;
	return 0;
}

int acpi_write(struct guest_memory *mem, const struct acpi_config *cfg, struct acpi_tables *out)
{
	struct acpi_area area = { .gpa = LAYOUT_ACPI_START, .size = ACPI_AREA_SIZE };
	struct acpi_tables t;
	int ret = acpi_check_config(cfg);

	if (ret)
		return ret;
	memset(&t, 0, sizeof(t));
	area.buf = zeroed_pages_alloc(area.size);
	if (!area.buf)
		return -ENOMEM;
	ret = acpi_build(&area, cfg, &t);
	if (!ret && guest_memory_write(mem, area.gpa, area.buf, area.used) < 0)
		ret = -EFAULT;
	zeroed_pages_free(area.buf, area.size);
	if (!ret && out)
		*out = t;
	return ret;
}
