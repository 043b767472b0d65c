/* ResourceTemplate descriptors (ACPI 6.4 §6.4): small descriptors start
 * with one byte (type << 3 | length), large ones with 0x80 | type and a
 * 16-bit length of what follows. All fields are little-endian. */
#include <errno.h>
#include <string.h>

#include "acpi/aml.h"

#define RES_SMALL_IRQ          0x22   /* IRQ, 2 bytes (no flags byte) */
#define RES_SMALL_IO           0x47   /* I/O port, 7 bytes */
#define RES_SMALL_END_TAG      0x79   /* End Tag, 1 byte (checksum) */
#define RES_LARGE_MEMORY32_FIXED 0x86
#define RES_LARGE_DWORD_SPACE  0x87
#define RES_LARGE_WORD_SPACE   0x88
#define RES_LARGE_EXT_IRQ      0x89

/* Address space descriptors (§6.4.3.5): resource type and flags. */
#define SPACE_MEMORY           0
#define SPACE_IO               1
#define SPACE_BUS_NUMBER       2
/* General flags: bit 0 clear = produced by this device for its children
 * (a bridge window), bit 1 clear = positive decode, bits 2 and 3 = the
 * minimum and maximum addresses are fixed. */
#define SPACE_FIXED_WINDOW     0x0c
#define SPACE_IO_ENTIRE_RANGE  0x03   /* _RNG: ISA and non-ISA ranges */
#define SPACE_MEMORY_RW        0x01   /* _RW, non-cacheable (_MEM = 0) */

/* Extended interrupt flags (§6.4.3.6). */
#define EXT_IRQ_CONSUMER       0x01
#define EXT_IRQ_EDGE           0x02
#define EXT_IRQ_ACTIVE_LOW     0x04

void aml_resources_init(struct aml_resources *r)
{
	memset(r, 0, sizeof(*r));
}

static void res_put(struct aml_resources *r, const uint8_t *bytes, size_t n)
{
	if (r->error)
		return;
	/* Room is always kept for the End Tag (2 bytes). */
	if (sizeof(r->buf) - 2 - r->len < n) {
		r->error = -ENOSPC;
		return;
	}
	memcpy(r->buf + r->len, bytes, n);
	r->len += n;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

void aml_res_io(struct aml_resources *r, uint16_t base, uint8_t len)
{
	uint8_t d[8] = { RES_SMALL_IO, 0x01 /* 16-bit decode */ };

	put16(d + 2, base);   /* minimum base */
	put16(d + 4, base);   /* maximum base: the range cannot move */
	d[6] = 1;             /* alignment */
	d[7] = len;
	res_put(r, d, sizeof(d));
}

void aml_res_irq(struct aml_resources *r, unsigned irq)
{
	uint8_t d[3] = { RES_SMALL_IRQ };

	if (irq > 15) {
		if (!r->error)
			r->error = -EINVAL;
		return;
	}
	put16(d + 1, (uint16_t)(1u << irq));
	res_put(r, d, sizeof(d));
}

void aml_res_memory32_fixed(struct aml_resources *r, uint32_t base, uint32_t len,
			    bool writable)
{
	uint8_t d[12] = { RES_LARGE_MEMORY32_FIXED, 9, 0, writable ? 1 : 0 };

	put32(d + 4, base);
	put32(d + 8, len);
	res_put(r, d, sizeof(d));
}

void aml_res_interrupt(struct aml_resources *r, uint32_t gsi, bool level, bool active_low)
{
	uint8_t d[9] = { RES_LARGE_EXT_IRQ, 6, 0 };

	d[3] = EXT_IRQ_CONSUMER | (level ? 0 : EXT_IRQ_EDGE) | (active_low ? EXT_IRQ_ACTIVE_LOW : 0);
	d[4] = 1;  /* one interrupt */
	put32(d + 5, gsi);
	res_put(r, d, sizeof(d));
}

static void res_word_space(struct aml_resources *r, uint8_t type, uint8_t type_flags,
			   uint16_t min, uint16_t max)
{
	uint8_t d[16] = { RES_LARGE_WORD_SPACE, 13, 0, type, SPACE_FIXED_WINDOW, type_flags };
	uint32_t len = (uint32_t)max - min + 1;

	if (min > max || len > UINT16_MAX) {
		if (!r->error)
			r->error = -EINVAL;
		return;
	}
	/* granularity 0 (d + 6): a fixed window */
	put16(d + 8, min);
	put16(d + 10, max);
	/* translation offset 0 (d + 12) */
	put16(d + 14, (uint16_t)len);
	res_put(r, d, sizeof(d));
}

void aml_res_bus_numbers(struct aml_resources *r, uint16_t min, uint16_t max)
{
	res_word_space(r, SPACE_BUS_NUMBER, 0, min, max);
}

void aml_res_io_window(struct aml_resources *r, uint16_t min, uint16_t max)
{
	res_word_space(r, SPACE_IO, SPACE_IO_ENTIRE_RANGE, min, max);
}

void aml_res_memory_window(struct aml_resources *r, uint32_t min, uint32_t max)
{
	uint8_t d[26] = { RES_LARGE_DWORD_SPACE, 23, 0, SPACE_MEMORY, SPACE_FIXED_WINDOW,
			  SPACE_MEMORY_RW };

	if (min > max || (min == 0 && max == UINT32_MAX)) {
		if (!r->error)
			r->error = -EINVAL;
		return;
	}
	put32(d + 10, min);
	put32(d + 14, max);
	put32(d + 22, max - min + 1);
	res_put(r, d, sizeof(d));
}

void aml_resource_template(struct aml *a, const struct aml_resources *r)
{
	uint8_t buf[AML_RESOURCES_MAX];

	if (r->error) {
		if (!a->error)
			a->error = r->error;
		return;
	}
	memcpy(buf, r->buf, r->len);
	/* End Tag with checksum 0: "the resource data is treated as if the
	 * checksum operation succeeded" (§6.4.2.9). */
	buf[r->len] = RES_SMALL_END_TAG;
	buf[r->len + 1] = 0;
	aml_buffer(a, buf, r->len + 2);
}
