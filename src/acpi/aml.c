#include "acpi/aml.h"

#include <errno.h>
#include <string.h>

#define AML_NAME_SEG_LEN 4

void aml_init(struct aml *a, uint8_t *buf, size_t cap)
{
	*a = (struct aml){ .buf = buf, .cap = cap };
}

static void aml_fail(struct aml *a, int error)
{
	if (!a->error)
		a->error = error;
}

static void aml_put(struct aml *a, const void *bytes, size_t n)
{
	if (a->error)
		return;
	if (a->cap - a->len < n) {
		aml_fail(a, -ENOSPC);
		return;
	}
	memcpy(a->buf + a->len, bytes, n);
	a->len += n;
}

static void aml_put_byte(struct aml *a, uint8_t b)
{
	aml_put(a, &b, 1);
}

/* A data object was emitted: inside a package it is one more element. */
static void aml_element_done(struct aml *a)
{
	if (a->depth && a->open[a->depth - 1].kind == AML_BLOCK_PACKAGE)
		a->open[a->depth - 1].elements++;
}

long aml_finish(struct aml *a)
{
	if (a->error)
		return a->error;
	if (a->depth)
		return -EINVAL;
	return (long)a->len;
}

unsigned aml_pkg_length_encode(size_t body_len, uint8_t out[4])
{
	/* One byte holds lengths up to 63 in bits 5:0. Longer ones put the
	 * count of following bytes in bits 7:6, the low nibble in bits 3:0
	 * and the rest in the following bytes, least significant first. */
	if (body_len > AML_PKG_LENGTH_MAX)
		return 0;  /* and body_len + 4 cannot overflow below */
	if (body_len + 1 <= 0x3f) {
		out[0] = (uint8_t)(body_len + 1);
		return 1;
	}
	for (unsigned n = 2; n <= 4; n++) {
		uint64_t total = (uint64_t)body_len + n;

		if (total >> (4 + 8 * (n - 1)))
			continue;
		out[0] = (uint8_t)((n - 1) << 6 | (total & 0x0f));
		for (unsigned i = 1; i < n; i++)
			out[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
		return n;
	}
	return 0;
}

static bool aml_lead_char(char c)
{
	return (c >= 'A' && c <= 'Z') || c == '_';
}

static bool aml_name_char(char c)
{
	return aml_lead_char(c) || (c >= '0' && c <= '9');
}

/* Parse one segment at *p into seg (padded with '_'); advance past it. */
static bool aml_parse_seg(const char **p, uint8_t seg[AML_NAME_SEG_LEN])
{
	const char *s = *p;
	size_t n = 0;

	if (!aml_lead_char(*s))
		return false;
	while (aml_name_char(s[n])) {
		if (n == AML_NAME_SEG_LEN)
			return false;
		n++;
	}
	memset(seg, '_', AML_NAME_SEG_LEN);
	memcpy(seg, s, n);
	*p = s + n;
	return true;
}

void aml_name_string(struct aml *a, const char *path)
{
	uint8_t segs[255][AML_NAME_SEG_LEN];
	unsigned count = 0;
	const char *p = path;

	if (*p == '\\') {
		aml_put_byte(a, AML_ROOT_CHAR);
		p++;
	} else {
		while (*p == '^') {
			aml_put_byte(a, AML_PARENT_PREFIX);
			p++;
		}
	}
	while (*p) {
		if (count == 255 || !aml_parse_seg(&p, segs[count])) {
			aml_fail(a, -EINVAL);
			return;
		}
		count++;
		if (*p == '.' && p[1])
			p++;
		else if (*p) {
			aml_fail(a, -EINVAL);
			return;
		}
	}
	switch (count) {
	case 0:
		aml_put_byte(a, 0x00);  /* NullName */
		return;
	case 1:
		break;
	case 2:
		aml_put_byte(a, AML_DUAL_NAME_PREFIX);
		break;
	default:
		aml_put_byte(a, AML_MULTI_NAME_PREFIX);
		aml_put_byte(a, (uint8_t)count);
		break;
	}
	aml_put(a, segs, (size_t)count * AML_NAME_SEG_LEN);
}

/* The shortest encoding of an integer constant (§20.2.3). */
static size_t aml_integer_encode(uint64_t value, uint8_t out[9])
{
	size_t n;

	if (value == 0 || value == 1) {
		out[0] = value ? AML_ONE_OP : AML_ZERO_OP;
		return 1;
	}
	if (value == UINT64_MAX) {
		/* Ones is all bits set: 64 of them in a revision 2 DSDT. */
		out[0] = AML_ONES_OP;
		return 1;
	}
	if (value <= UINT8_MAX) {
		out[0] = AML_BYTE_PREFIX;
		n = 1;
	} else if (value <= UINT16_MAX) {
		out[0] = AML_WORD_PREFIX;
		n = 2;
	} else if (value <= UINT32_MAX) {
		out[0] = AML_DWORD_PREFIX;
		n = 4;
	} else {
		out[0] = AML_QWORD_PREFIX;
		n = 8;
	}
	for (size_t i = 0; i < n; i++)
		out[1 + i] = (uint8_t)(value >> (8 * i));
	return 1 + n;
}

void aml_integer(struct aml *a, uint64_t value)
{
	uint8_t enc[9];

	aml_put(a, enc, aml_integer_encode(value, enc));
	aml_element_done(a);
}

void aml_string(struct aml *a, const char *s)
{
	for (const char *c = s; *c; c++) {
		if ((unsigned char)*c > 0x7f) {
			aml_fail(a, -EINVAL);
			return;
		}
	}
	aml_put_byte(a, AML_STRING_PREFIX);
	aml_put(a, s, strlen(s) + 1);
	aml_element_done(a);
}

static int aml_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void aml_eisaid(struct aml *a, const char *id)
{
	uint16_t vendor = 0, product = 0;
	uint8_t bytes[5];

	/* Three letters (each 'A'-'Z' stored as 1-26 in 5 bits) and four hex
	 * digits, stored big-endian: the compressed EISA ID of §6.1.5. */
	if (strlen(id) != 7) {
		aml_fail(a, -EINVAL);
		return;
	}
	for (unsigned i = 0; i < 3; i++) {
		if (id[i] < 'A' || id[i] > 'Z') {
			aml_fail(a, -EINVAL);
			return;
		}
		vendor = (uint16_t)(vendor << 5 | (id[i] - 0x40));
	}
	for (unsigned i = 3; i < 7; i++) {
		int d = aml_hex_digit(id[i]);

		if (d < 0) {
			aml_fail(a, -EINVAL);
			return;
		}
		product = (uint16_t)(product << 4 | d);
	}
	bytes[0] = AML_DWORD_PREFIX;
	bytes[1] = (uint8_t)(vendor >> 8);
	bytes[2] = (uint8_t)vendor;
	bytes[3] = (uint8_t)(product >> 8);
	bytes[4] = (uint8_t)product;
	aml_put(a, bytes, sizeof(bytes));
	aml_element_done(a);
}

void aml_buffer(struct aml *a, const uint8_t *data, size_t len)
{
	uint8_t size[9], pkg[4];
	size_t size_len = aml_integer_encode(len, size);
	unsigned pkg_len;

	/* BufferOp PkgLength BufferSize ByteList: the length is known, so it
	 * is written first instead of being patched. */
	if (len > AML_PKG_LENGTH_MAX) {
		aml_fail(a, -E2BIG);
		return;
	}
	pkg_len = aml_pkg_length_encode(size_len + len, pkg);
	if (!pkg_len) {
		aml_fail(a, -E2BIG);
		return;
	}
	aml_put_byte(a, AML_BUFFER_OP);
	aml_put(a, pkg, pkg_len);
	aml_put(a, size, size_len);
	aml_put(a, data, len);
	aml_element_done(a);
}

void aml_name(struct aml *a, const char *path)
{
	aml_put_byte(a, AML_NAME_OP);
	aml_name_string(a, path);
}

/* Push a block whose PkgLength byte is reserved at the current end. */
static void aml_open(struct aml *a, enum aml_block kind)
{
	if (a->error)
		return;
	if (a->depth == AML_MAX_DEPTH) {
		aml_fail(a, -E2BIG);
		return;
	}
	a->open[a->depth] = (struct aml_open_block){ .kind = kind, .pkg_length_at = a->len };
	aml_put_byte(a, 0);
	if (!a->error)
		a->depth++;
}

void aml_scope_begin(struct aml *a, const char *path)
{
	aml_put_byte(a, AML_SCOPE_OP);
	aml_open(a, AML_BLOCK_SCOPE);
	aml_name_string(a, path);
}

void aml_device_begin(struct aml *a, const char *path)
{
	aml_put_byte(a, AML_EXT_OP_PREFIX);
	aml_put_byte(a, AML_DEVICE_OP);
	aml_open(a, AML_BLOCK_DEVICE);
	aml_name_string(a, path);
}

void aml_package_begin(struct aml *a)
{
	/* The package is an element of the enclosing one, if any. */
	aml_element_done(a);
	aml_put_byte(a, AML_PACKAGE_OP);
	aml_open(a, AML_BLOCK_PACKAGE);
	if (a->error)
		return;
	a->open[a->depth - 1].count_at = a->len;
	aml_put_byte(a, 0);  /* NumElements, written by aml_end() */
}

void aml_end(struct aml *a)
{
	uint8_t pkg[4];
	size_t at, body;
	unsigned n;

	if (a->error)
		return;
	if (!a->depth) {
		aml_fail(a, -EINVAL);
		return;
	}
	a->depth--;
	if (a->open[a->depth].kind == AML_BLOCK_PACKAGE) {
		if (a->open[a->depth].elements > UINT8_MAX) {
			aml_fail(a, -EINVAL);  /* would need a VarPackage */
			return;
		}
		a->buf[a->open[a->depth].count_at] = (uint8_t)a->open[a->depth].elements;
	}
	at = a->open[a->depth].pkg_length_at;
	body = a->len - (at + 1);
	n = aml_pkg_length_encode(body, pkg);
	if (!n) {
		aml_fail(a, -E2BIG);
		return;
	}
	if (n > 1) {
		if (a->cap - a->len < n - 1) {
			aml_fail(a, -ENOSPC);
			return;
		}
		memmove(a->buf + at + n, a->buf + at + 1, body);
		a->len += n - 1;
	}
	memcpy(a->buf + at, pkg, n);
}

void aml_name_integer(struct aml *a, const char *path, uint64_t value)
{
	aml_name(a, path);
	aml_integer(a, value);
}

void aml_name_string_value(struct aml *a, const char *path, const char *s)
{
	aml_name(a, path);
	aml_string(a, s);
}

void aml_name_eisaid(struct aml *a, const char *path, const char *id)
{
	aml_name(a, path);
	aml_eisaid(a, id);
}
