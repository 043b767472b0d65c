/* A small AML (ACPI Machine Language) encoder for the DSDT: name strings,
 * integers, strings, EISA IDs, Scope/Device/Package blocks with their
 * PkgLength, Name declarations and ResourceTemplate buffers. ACPI 6.4
 * chapter 20 (AML grammar) and §6.4 (resource data types).
 *
 * Encoding is into a caller-supplied buffer of fixed size, so the DSDT is
 * written straight into the table area. Errors are sticky: every call after
 * the first failure does nothing, and aml_finish() reports it, so a builder
 * is a plain sequence of calls with one check at the end.
 *
 * Blocks (Scope, Device, Package) are opened with a `_begin` call and
 * closed with aml_end(). Their PkgLength is only known at the end: one byte
 * is reserved when the block opens and, if the finished block needs a
 * longer encoding (more than 63 bytes), its body is moved up by the
 * missing bytes. Package elements are counted as they are emitted, so a
 * package's NumElements is always right. */
#ifndef KVMRUN_ACPI_AML_H
#define KVMRUN_ACPI_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AML_MAX_DEPTH         8
/* The largest PkgLength (§20.2.4: 28 bits with a 4-byte encoding). */
#define AML_PKG_LENGTH_MAX    0x0fffffffu

enum aml_block {
	AML_BLOCK_SCOPE,
	AML_BLOCK_DEVICE,
	AML_BLOCK_PACKAGE,
};

struct aml_open_block {
	enum aml_block kind;
	size_t pkg_length_at;            /* the reserved PkgLength byte */
	size_t count_at;                 /* Package: the NumElements byte */
	unsigned elements;               /* Package: data objects emitted so far */
};

struct aml {
	uint8_t *buf;
	size_t cap;
	size_t len;
	int error;                       /* first error, 0 if none */
	unsigned depth;                  /* open blocks */
	struct aml_open_block open[AML_MAX_DEPTH];
};

void aml_init(struct aml *a, uint8_t *buf, size_t cap);

/* Returns the number of AML bytes written, or the first error: -ENOSPC
 * (the buffer is full), -EINVAL (a bad name, EISA ID or string, a package
 * of more than 255 elements, aml_end() without a block, or blocks still
 * open here), -E2BIG (nesting deeper than AML_MAX_DEPTH, or a block longer
 * than AML_PKG_LENGTH_MAX). */
long aml_finish(struct aml *a);

/* PkgLength (§20.2.4) for a package whose contents after the PkgLength are
 * `body_len` bytes: writes 1-4 bytes to `out` and returns how many, or 0
 * if the package would exceed AML_PKG_LENGTH_MAX. The encoded value counts
 * the PkgLength bytes themselves. */
unsigned aml_pkg_length_encode(size_t body_len, uint8_t out[4]);

/* NameString (§20.2.2): "_HID", "\\_SB", "\\_SB.PCI0", "^PCI0"; each
 * segment 1-4 characters of [A-Z0-9_] (not starting with a digit), padded
 * with '_'. An empty path is the NullName. */
void aml_name_string(struct aml *a, const char *path);

/* Data objects; each counts as one element inside a package. */
void aml_integer(struct aml *a, uint64_t value);   /* Zero, One, Ones or the smallest prefix */
void aml_string(struct aml *a, const char *s);     /* ASCII 0x01-0x7f */
/* An EISA ID such as "PNP0501" as its compressed 32-bit form (§6.1.5). */
void aml_eisaid(struct aml *a, const char *id);
void aml_buffer(struct aml *a, const uint8_t *data, size_t len);

/* Name(path, <data object that the caller emits next>) */
void aml_name(struct aml *a, const char *path);

void aml_scope_begin(struct aml *a, const char *path);
void aml_device_begin(struct aml *a, const char *path);
void aml_package_begin(struct aml *a);
void aml_end(struct aml *a);

/* Shorthands: Name(path, value). */
void aml_name_integer(struct aml *a, const char *path, uint64_t value);
void aml_name_string_value(struct aml *a, const char *path, const char *s);
void aml_name_eisaid(struct aml *a, const char *path, const char *id);

/* A ResourceTemplate (§6.4): resource descriptors built here, then emitted
 * as one Buffer with aml_resource_template(), which appends the End Tag. */
#define AML_RESOURCES_MAX 256

struct aml_resources {
	uint8_t buf[AML_RESOURCES_MAX];
	size_t len;
	int error;
};

void aml_resources_init(struct aml_resources *r);
/* I/O Port Descriptor (§6.4.2.5), 16-bit decode, fixed at `base`. */
void aml_res_io(struct aml_resources *r, uint16_t base, uint8_t len);
/* IRQ Descriptor without the flags byte (§6.4.2.1): ISA IRQ 0-15,
 * edge-triggered, active high. */
void aml_res_irq(struct aml_resources *r, unsigned irq);
/* 32-Bit Fixed Memory Range Descriptor (§6.4.3.4). */
void aml_res_memory32_fixed(struct aml_resources *r, uint32_t base, uint32_t len,
			    bool writable);
/* Extended Interrupt Descriptor (§6.4.3.6): one GSI, consumer, exclusive. */
void aml_res_interrupt(struct aml_resources *r, uint32_t gsi, bool level, bool active_low);
/* Word Address Space Descriptors (§6.4.3.5.3), produced by a bridge: a bus
 * number range and an I/O window [min, max]. */
void aml_res_bus_numbers(struct aml_resources *r, uint16_t min, uint16_t max);
void aml_res_io_window(struct aml_resources *r, uint16_t min, uint16_t max);
/* DWord Address Space Descriptor (§6.4.3.5.2): a non-cacheable, read-write
 * memory window [min, max] produced by a bridge. */
void aml_res_memory_window(struct aml_resources *r, uint32_t min, uint32_t max);

/* Emit Buffer() holding the descriptors and an End Tag. Errors of `r`
 * become errors of `a`. */
void aml_resource_template(struct aml *a, const struct aml_resources *r);

/* AML opcodes (§20.2.5), shared with the tests that parse what we emit. */
#define AML_ZERO_OP          0x00
#define AML_ONE_OP           0x01
#define AML_NAME_OP          0x08
#define AML_BYTE_PREFIX      0x0a
#define AML_WORD_PREFIX      0x0b
#define AML_DWORD_PREFIX     0x0c
#define AML_STRING_PREFIX    0x0d
#define AML_QWORD_PREFIX     0x0e
#define AML_SCOPE_OP         0x10
#define AML_BUFFER_OP        0x11
#define AML_PACKAGE_OP       0x12
#define AML_DUAL_NAME_PREFIX 0x2e
#define AML_MULTI_NAME_PREFIX 0x2f
#define AML_EXT_OP_PREFIX    0x5b
#define AML_DEVICE_OP        0x82   /* after AML_EXT_OP_PREFIX */
#define AML_ROOT_CHAR        0x5c   /* '\\' */
#define AML_PARENT_PREFIX    0x5e   /* '^' */
#define AML_ONES_OP          0xff

#endif
