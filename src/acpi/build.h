/* Shared by the table builders: the area the tables are assembled in and
 * the standard header and checksum. Internal to src/acpi/. */
#ifndef KVMRUN_ACPI_BUILD_H
#define KVMRUN_ACPI_BUILD_H

#include <stddef.h>
#include <stdint.h>

#include "acpi/acpi.h"
#include "acpi/tables.h"

#define ACPI_OEM_ID        "KVMRUN"     /* 6 characters */
#define ACPI_OEM_TABLE_ID  "MICROVM "   /* 8 characters */
#define ACPI_OEM_REVISION  1
#define ACPI_CREATOR_ID    "KVMR"
#define ACPI_CREATOR_REVISION 1

/* A host buffer standing for guest memory [gpa, gpa + size): tables are
 * allocated in it front to back. */
struct acpi_area {
	uint8_t *buf;        /* zeroed */
	uint64_t gpa;
	size_t size;
	size_t used;
};

/* Reserve `len` zeroed bytes aligned to `align` (a power of two) in guest
 * address terms. Returns the host pointer and sets *gpa, or returns NULL
 * if the area is full. */
void *acpi_area_alloc(struct acpi_area *a, size_t len, size_t align, uint64_t *gpa);

/* The value that makes `len` bytes at `p` sum to 0 (mod 256) once stored
 * in a byte that is 0 while summing. */
uint8_t acpi_checksum(const void *p, size_t len);

/* Fill a table header (checksum 0) and, once the body is written, set the
 * checksum over header->length bytes. */
void acpi_header_init(struct acpi_header *h, const char signature[4], uint32_t length,
		      uint8_t revision);
void acpi_table_finish(struct acpi_header *h);

/* The builders: each allocates its table in the area and returns 0 with
 * its address in *gpa, or -errno. */
int acpi_facs_build(struct acpi_area *a, uint64_t *gpa);
int acpi_dsdt_build(struct acpi_area *a, const struct acpi_config *cfg, uint64_t *gpa);
int acpi_fadt_build(struct acpi_area *a, uint64_t facs, uint64_t dsdt, uint64_t *gpa);
int acpi_madt_build(struct acpi_area *a, unsigned nr_cpus, uint64_t *gpa);
int acpi_mcfg_build(struct acpi_area *a, uint64_t *gpa);
/* RSDT (32-bit entries) and XSDT (64-bit) listing `n` tables. */
int acpi_rsdt_build(struct acpi_area *a, const uint64_t *tables, unsigned n, uint64_t *gpa);
int acpi_xsdt_build(struct acpi_area *a, const uint64_t *tables, unsigned n, uint64_t *gpa);
/* The RSDP, which must be allocated first so that it lands at the start
 * of the area (16-byte aligned), is filled in last by acpi_rsdp_fill(). */
int acpi_rsdp_alloc(struct acpi_area *a, struct acpi_rsdp **rsdp, uint64_t *gpa);
void acpi_rsdp_fill(struct acpi_rsdp *rsdp, uint64_t rsdt, uint64_t xsdt);

#endif
