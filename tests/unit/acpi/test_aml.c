/* The AML encoder against the byte encodings of ACPI 6.4 chapter 20 and
 * the resource descriptors of §6.4, and its error contract. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "acpi/aml.h"

#define BUF_SIZE 65536

static uint8_t buf[BUF_SIZE];

/* Decode a PkgLength at p: returns its value and sets *n to its size. */
static uint32_t pkg_length_decode(const uint8_t *p, unsigned *n)
{
	unsigned follow = p[0] >> 6;
	uint32_t v;

	*n = follow + 1;
	if (!follow)
		return p[0] & 0x3f;
	assert_int_equal(p[0] & 0x30, 0);  /* bits 5:4 reserved when bytes follow */
	v = p[0] & 0x0f;
	for (unsigned i = 1; i <= follow; i++)
		v |= (uint32_t)p[i] << (4 + 8 * (i - 1));
	return v;
}

static void expect_bytes(struct aml *a, const uint8_t *want, size_t len)
{
	long n = aml_finish(a);

	assert_int_equal(n, (long)len);
	assert_memory_equal(a->buf, want, len);
}

static void test_pkg_length_boundaries(void **state)
{
	/* body length -> bytes of encoding */
	static const struct { size_t body; unsigned bytes; } cases[] = {
		{ 0, 1 }, { 1, 1 }, { 62, 1 },                 /* total <= 63 */
		{ 63, 2 }, { 0xfff - 2, 2 },                   /* total <= 0xfff */
		{ 0xfff - 1, 3 }, { 0xfffff - 3, 3 },          /* total <= 0xfffff */
		{ 0xfffff - 2, 4 }, { AML_PKG_LENGTH_MAX - 4, 4 },
	};
	uint8_t out[4];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned n = aml_pkg_length_encode(cases[i].body, out), dn;

		assert_int_equal(n, cases[i].bytes);
		/* The value counts the PkgLength bytes themselves. */
		assert_int_equal(pkg_length_decode(out, &dn), cases[i].body + n);
		assert_int_equal(dn, n);
	}
	assert_int_equal(aml_pkg_length_encode(AML_PKG_LENGTH_MAX - 3, out), 0);
	assert_int_equal(aml_pkg_length_encode(SIZE_MAX, out), 0);
	/* The spec's example shape: 65 total -> 0x41 0x04. */
	assert_int_equal(aml_pkg_length_encode(63, out), 2);
	assert_int_equal(out[0], 0x41);
	assert_int_equal(out[1], 0x04);
}

static void test_name_strings(void **state)
{
	struct aml a;

	(void)state;
	aml_init(&a, buf, BUF_SIZE);
	aml_name_string(&a, "_HID");
	aml_name_string(&a, "RTC");
	aml_name_string(&a, "\\_SB");
	aml_name_string(&a, "\\_SB.PCI0");
	aml_name_string(&a, "\\_SB.PCI0.COM1");
	aml_name_string(&a, "^^AB");
	aml_name_string(&a, "");
	aml_name_string(&a, "\\");
	expect_bytes(&a, (const uint8_t *)
		     "_HID" "RTC_" "\\_SB_" "\\\x2e_SB_PCI0" "\\\x2f\x03_SB_PCI0COM1" "^^AB__"
		     "\0" "\\\0", 4 + 4 + 5 + 10 + 15 + 6 + 1 + 2);
}

static void test_bad_names(void **state)
{
	static const char *bad[] = {
		"1ABC", "ABCDE", "abc", "_SB.", ".ABC", "A..B", "A-B", "\\^A", "A B",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct aml a;

		aml_init(&a, buf, BUF_SIZE);
		aml_name_string(&a, bad[i]);
		assert_int_equal(aml_finish(&a), -EINVAL);
	}
}

static void test_integers(void **state)
{
	struct aml a;

	(void)state;
	aml_init(&a, buf, BUF_SIZE);
	aml_integer(&a, 0);
	aml_integer(&a, 1);
	aml_integer(&a, 2);
	aml_integer(&a, 0xff);
	aml_integer(&a, 0x100);
	aml_integer(&a, 0xffff);
	aml_integer(&a, 0x10000);
	aml_integer(&a, 0xffffffffu);
	aml_integer(&a, 0x100000000ULL);
	aml_integer(&a, UINT64_MAX);
	expect_bytes(&a, (const uint8_t[]){
		0x00, 0x01, 0x0a, 0x02, 0x0a, 0xff, 0x0b, 0x00, 0x01, 0x0b, 0xff, 0xff,
		0x0c, 0x00, 0x00, 0x01, 0x00, 0x0c, 0xff, 0xff, 0xff, 0xff,
		0x0e, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0xff }, 32);
}

static void test_strings_and_eisaids(void **state)
{
	struct aml a;

	(void)state;
	aml_init(&a, buf, BUF_SIZE);
	aml_string(&a, "LNRO0005");
	aml_string(&a, "");
	aml_eisaid(&a, "PNP0501");
	aml_eisaid(&a, "PNP0A03");
	aml_eisaid(&a, "PNP0B00");
	expect_bytes(&a, (const uint8_t[]){
		0x0d, 'L', 'N', 'R', 'O', '0', '0', '0', '5', 0x00, 0x0d, 0x00,
		/* "PNP" = 16,14,16 in 5 bits each = 0x41d0, then the digits */
		0x0c, 0x41, 0xd0, 0x05, 0x01, 0x0c, 0x41, 0xd0, 0x0a, 0x03,
		0x0c, 0x41, 0xd0, 0x0b, 0x00 }, 27);

	static const char *bad[] = { "PNP050", "PNP05011", "pnp0501", "PNP050G", "P1P0501" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		aml_init(&a, buf, BUF_SIZE);
		aml_eisaid(&a, bad[i]);
		assert_int_equal(aml_finish(&a), -EINVAL);
	}
	aml_init(&a, buf, BUF_SIZE);
	aml_string(&a, "caf\xc3\xa9");
	assert_int_equal(aml_finish(&a), -EINVAL);
}

static void test_scope_device_name(void **state)
{
	struct aml a;

	(void)state;
	aml_init(&a, buf, BUF_SIZE);
	aml_scope_begin(&a, "\\_SB");
	aml_device_begin(&a, "COM1");
	aml_name_eisaid(&a, "_HID", "PNP0501");
	aml_end(&a);
	aml_end(&a);
	/* Scope (\_SB) { Device (COM1) { Name (_HID, EisaId ("PNP0501")) } } */
	expect_bytes(&a, (const uint8_t[]){
		0x10, 0x17, '\\', '_', 'S', 'B', '_',
		0x5b, 0x82, 0x0f, 'C', 'O', 'M', '1',
		0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x05, 0x01 }, 24);
}

/* Blocks that outgrow a 1-byte PkgLength are moved up, nested ones too. */
static void test_long_blocks_move_their_bodies(void **state)
{
	static uint8_t payload[5000];
	struct aml a;
	const uint8_t *p;
	uint32_t outer, inner;
	unsigned n1, n2;

	(void)state;
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7);
	aml_init(&a, buf, BUF_SIZE);
	aml_scope_begin(&a, "\\_SB");
	aml_device_begin(&a, "DEV0");
	aml_name(&a, "BUF0");
	aml_buffer(&a, payload, sizeof(payload));
	aml_end(&a);
	aml_end(&a);
	assert_true(aml_finish(&a) > 5000);

	p = buf;
	assert_int_equal(p[0], 0x10);
	outer = pkg_length_decode(p + 1, &n1);
	assert_int_equal(n1, 3);                          /* > 0xfff */
	assert_int_equal(1 + outer, a.len);               /* the scope ends with the AML */
	assert_memory_equal(p + 1 + n1, "\\_SB_", 5);
	p += 1 + n1 + 5;
	assert_int_equal(p[0], 0x5b);
	assert_int_equal(p[1], 0x82);
	inner = pkg_length_decode(p + 2, &n2);
	assert_int_equal(n2, 3);
	assert_int_equal(p + 2 + inner, buf + a.len);     /* the device ends there too */
	assert_memory_equal(p + 2 + n2, "DEV0", 4);
	p += 2 + n2 + 4;
	assert_memory_equal(p, "\x08" "BUF0" "\x11", 6);
	p += 6;
	{
		unsigned n3;
		uint32_t blen = pkg_length_decode(p, &n3);

		assert_int_equal(n3, 3);
		assert_int_equal(p + blen, buf + a.len);
		assert_memory_equal(p + n3, "\x0b\x88\x13", 3);   /* BufferSize 5000 */
		assert_memory_equal(p + n3 + 3, payload, sizeof(payload));
	}
}

static void test_packages_count_their_elements(void **state)
{
	struct aml a;

	(void)state;
	aml_init(&a, buf, BUF_SIZE);
	aml_name(&a, "\\_S5");
	aml_package_begin(&a);
	aml_integer(&a, 5);
	aml_string(&a, "x");
	aml_package_begin(&a);
	aml_end(&a);
	aml_eisaid(&a, "PNP0000");
	aml_buffer(&a, (const uint8_t *)"\1\2", 2);
	aml_end(&a);
	expect_bytes(&a, (const uint8_t[]){
		0x08, '\\', '_', 'S', '5', '_',
		0x12, 0x15, 0x05,                     /* 5 elements */
		0x0a, 0x05,
		0x0d, 'x', 0x00,
		0x12, 0x02, 0x00,                     /* an empty package */
		0x0c, 0x41, 0xd0, 0x00, 0x00,
		0x11, 0x05, 0x0a, 0x02, 0x01, 0x02 }, 28);
}

static void test_errors_are_sticky(void **state)
{
	struct aml a;

	(void)state;
	/* aml_end() without a block */
	aml_init(&a, buf, BUF_SIZE);
	aml_end(&a);
	assert_int_equal(aml_finish(&a), -EINVAL);
	/* a block left open */
	aml_init(&a, buf, BUF_SIZE);
	aml_scope_begin(&a, "\\_SB");
	assert_int_equal(aml_finish(&a), -EINVAL);
	/* too deep */
	aml_init(&a, buf, BUF_SIZE);
	for (unsigned i = 0; i <= AML_MAX_DEPTH; i++)
		aml_package_begin(&a);
	assert_int_equal(aml_finish(&a), -E2BIG);
	/* a package of 256 elements needs a VarPackage */
	aml_init(&a, buf, BUF_SIZE);
	aml_package_begin(&a);
	for (unsigned i = 0; i < 256; i++)
		aml_integer(&a, i);
	aml_end(&a);
	assert_int_equal(aml_finish(&a), -EINVAL);
	/* 255 is fine */
	aml_init(&a, buf, BUF_SIZE);
	aml_package_begin(&a);
	for (unsigned i = 0; i < 255; i++)
		aml_integer(&a, i);
	aml_end(&a);
	assert_true(aml_finish(&a) > 0);
	assert_int_equal(buf[3], 255);
	/* the first error wins and later calls write nothing */
	aml_init(&a, buf, BUF_SIZE);
	aml_integer(&a, 7);
	aml_name_string(&a, "bad");
	aml_integer(&a, 8);
	assert_int_equal(a.len, 2);
	assert_int_equal(aml_finish(&a), -EINVAL);
}

/* A full buffer: -ENOSPC, including when a closing block needs room for
 * a longer PkgLength, and nothing past the capacity is touched. */
static void test_buffer_full(void **state)
{
	uint8_t small[80];
	struct aml a;

	(void)state;
	memset(small, 0xee, sizeof(small));
	aml_init(&a, small, 8);
	aml_string(&a, "12345678");
	assert_int_equal(aml_finish(&a), -ENOSPC);
	for (size_t i = 8; i < sizeof(small); i++)
		assert_int_equal(small[i], 0xee);

	/* PackageOp, PkgLength, NumElements and 63 bytes of elements fill
	 * 66 bytes exactly, but the body (64 bytes) needs a 2-byte PkgLength. */
	aml_init(&a, small, 66);
	aml_package_begin(&a);
	for (unsigned i = 0; i < 31; i++)
		aml_integer(&a, 2);               /* 2 bytes each */
	aml_integer(&a, 1);
	assert_int_equal(a.len, a.cap);
	aml_end(&a);
	assert_int_equal(aml_finish(&a), -ENOSPC);
	assert_int_equal(small[a.cap], 0xee);

	/* One more byte of room and it closes. */
	aml_init(&a, small, 67);
	aml_package_begin(&a);
	for (unsigned i = 0; i < 31; i++)
		aml_integer(&a, 2);
	aml_integer(&a, 1);
	aml_end(&a);
	assert_int_equal(aml_finish(&a), 67);
	assert_int_equal(small[1], 0x40 | (66 & 0x0f));   /* 2-byte PkgLength: 66 */
	assert_int_equal(small[2], 66 >> 4);
	assert_int_equal(small[3], 32);                   /* NumElements */
}

static void test_resource_descriptors(void **state)
{
	struct aml_resources r;
	struct aml a;
	const uint8_t want[] = {
		0x11, 0x40, 0x05, 0x0a, 0x4c,                          /* Buffer, size 76 */
		0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08,        /* IO (Decode16, 0x3f8, 0x3f8, 1, 8) */
		0x22, 0x10, 0x00,                                      /* IRQNoFlags () {4} */
		0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0xe0,        /* Memory32Fixed (ReadWrite, */
		0x00, 0x00, 0x00, 0x10,                                /*   0xe0000000, 0x10000000) */
		0x89, 0x06, 0x00, 0x03, 0x01, 0x05, 0x00, 0x00, 0x00,  /* Interrupt (Consumer, Edge, High) {5} */
		0x88, 0x0d, 0x00, 0x02, 0x0c, 0x00, 0x00, 0x00,        /* WordBusNumber 0-255 */
		0x00, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x01,
		0x87, 0x17, 0x00, 0x00, 0x0c, 0x01, 0x00, 0x00, 0x00,  /* DWordMemory */
		0x00, 0x00, 0x00, 0x00, 0xf0, 0xff, 0xff, 0xff, 0xfb,  /*   0xf0000000-0xfbffffff */
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c,
		0x79, 0x00,                                            /* End Tag */
	};

	(void)state;
	aml_resources_init(&r);
	aml_res_io(&r, 0x3f8, 8);
	aml_res_irq(&r, 4);
	aml_res_memory32_fixed(&r, 0xe0000000u, 0x10000000u, true);
	aml_res_interrupt(&r, 5, false, false);
	aml_res_bus_numbers(&r, 0, 255);
	aml_res_memory_window(&r, 0xf0000000u, 0xfbffffffu);
	aml_init(&a, buf, BUF_SIZE);
	aml_resource_template(&a, &r);
	expect_bytes(&a, want, sizeof(want));

	/* Level, active-low interrupt flags; an I/O window with _RNG. */
	aml_resources_init(&r);
	aml_res_interrupt(&r, 20, true, true);
	aml_res_io_window(&r, 0x0d00, 0xffff);
	assert_int_equal(r.error, 0);
	assert_int_equal(r.buf[3], 0x05);          /* consumer, level, active low */
	assert_memory_equal(r.buf + 9, "\x88\x0d\x00\x01\x0c\x03", 6);
	assert_memory_equal(r.buf + 9 + 8, "\x00\x0d\xff\xff\x00\x00\x00\xf3", 8);
}

static void test_resource_errors(void **state)
{
	struct aml_resources r;
	struct aml a;

	(void)state;
	aml_resources_init(&r);
	aml_res_irq(&r, 16);
	assert_int_equal(r.error, -EINVAL);
	aml_resources_init(&r);
	aml_res_io_window(&r, 0, 0xffff);             /* length 0x10000 does not fit */
	assert_int_equal(r.error, -EINVAL);
	aml_resources_init(&r);
	aml_res_bus_numbers(&r, 5, 4);
	assert_int_equal(r.error, -EINVAL);
	aml_resources_init(&r);
	aml_res_memory_window(&r, 0, UINT32_MAX);
	assert_int_equal(r.error, -EINVAL);
	/* the error reaches the AML */
	aml_init(&a, buf, BUF_SIZE);
	aml_resource_template(&a, &r);
	assert_int_equal(aml_finish(&a), -EINVAL);
	/* a full template */
	aml_resources_init(&r);
	for (unsigned i = 0; i < AML_RESOURCES_MAX; i++)
		aml_res_io(&r, (uint16_t)i, 1);
	assert_int_equal(r.error, -ENOSPC);
	assert_true(r.len <= AML_RESOURCES_MAX - 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pkg_length_boundaries),
		cmocka_unit_test(test_name_strings),
		cmocka_unit_test(test_bad_names),
		cmocka_unit_test(test_integers),
		cmocka_unit_test(test_strings_and_eisaids),
		cmocka_unit_test(test_scope_device_name),
		cmocka_unit_test(test_long_blocks_move_their_bodies),
		cmocka_unit_test(test_packages_count_their_elements),
		cmocka_unit_test(test_errors_are_sticky),
		cmocka_unit_test(test_buffer_full),
		cmocka_unit_test(test_resource_descriptors),
		cmocka_unit_test(test_resource_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
