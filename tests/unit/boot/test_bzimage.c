/* bzImage loading through the Linux 64-bit boot protocol. Offsets are
 * written out from Documentation/arch/x86/boot.rst and zero-page.rst rather
 * than taken from the loader's headers, so a wrong constant there fails. */
#include <errno.h>
#include <stdlib.h>

#include "boot_test.h"
#include "e820.h"
#include "layout.h"

struct fixture {
	struct guest_memory mem;
	struct test_bzimage spec;
	struct boot_entry entry;
	char err[BOOT_ERROR_MAX];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	ram_create(&f->mem, TEST_RAM);
	test_bzimage_defaults(&f->spec);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	guest_memory_destroy(&f->mem);
	free(f);
	return 0;
}

static int load_spec(struct fixture *f, const uint8_t *initrd, size_t initrd_size,
		     const char *cmdline)
{
	size_t size;
	uint8_t *img = test_bzimage_build(&f->spec, &size);
	int ret = load(&f->mem, img, size, initrd, initrd_size, cmdline, &f->entry, f->err);

	free(img);
	return ret;
}

/* Load a default image truncated to `size` bytes. */
static int load_truncated(struct fixture *f, size_t size)
{
	size_t full;
	uint8_t *img = test_bzimage_build(&f->spec, &full);
	int ret;

	assert_true(size <= full);
	ret = load(&f->mem, img, size, NULL, 0, "", &f->entry, f->err);
	free(img);
	return ret;
}

static void test_loads_kernel_and_zero_page(void **state)
{
	struct fixture *f = *state;
	uint8_t initrd[5000];
	size_t size;
	uint8_t *img = test_bzimage_build(&f->spec, &size);
	size_t setup_size = test_bzimage_setup_size(&f->spec);
	const uint8_t *zp;
	struct e820_entry map[E820_MAX_ENTRIES];
	unsigned n;

	for (size_t i = 0; i < sizeof(initrd); i++)
		initrd[i] = (uint8_t)(i ^ 0xa5);
	assert_int_equal(load(&f->mem, img, size, initrd, sizeof(initrd), "console=ttyS0 quiet",
			      &f->entry, f->err), 0);

	/* Entry: 64-bit entry point at load address + 0x200, RSI = zero page. */
	assert_int_equal(f->entry.protocol, BOOT_PROTOCOL_LINUX64);
	assert_int_equal(f->entry.mode, BOOT_CPU_LONG64);
	assert_int_equal(f->entry.rip, 0x100000 + 0x200);
	assert_int_equal(f->entry.rsi, LAYOUT_ZERO_PAGE);

	/* The protected-mode part, and only it, at 1 MiB. */
	assert_memory_equal(gpa(&f->mem, 0x100000, size - setup_size), img + setup_size,
			    size - setup_size);
	assert_true(ram_is_zero(&f->mem, 0x100000 + (size - setup_size), 4096));

	zp = gpa(&f->mem, LAYOUT_ZERO_PAGE, 4096);
	/* Setup header copied from 0x1f1 to 0x202 + byte at 0x201, nothing after. */
	assert_memory_equal(zp + 0x1f1, img + 0x1f1, 0x1fa - 0x1f1);
	assert_memory_equal(zp + 0x1fc, img + 0x1fc, 0x210 - 0x1fc);
	assert_memory_equal(zp + 0x22c, img + 0x22c, 0x250 - 0x22c);
	assert_memory_equal(zp + 0x258, img + 0x258, 0x26c - 0x258);
	for (unsigned off = 0x26c; off < 0x290; off++)
		assert_int_equal(zp[off], 0);
	assert_int_equal(test_get16(zp + 0x1fe), 0xaa55);            /* boot_flag */
	assert_memory_equal(zp + 0x202, "HdrS", 4);                   /* header */
	assert_int_equal(test_get16(zp + 0x206), 0x020f);            /* version */
	assert_int_equal(zp[0x210], 0xff);                           /* type_of_loader */
	assert_int_equal(zp[0x211] & 0x01, 0x01);                    /* LOADED_HIGH */
	assert_int_equal(zp[0x211] & 0x80, 0);                       /* no CAN_USE_HEAP */
	assert_int_equal(test_get32(zp + 0x214), 0x100000);          /* code32_start */
	assert_int_equal(test_get64(zp + 0x250), 0);                 /* setup_data */
	assert_int_equal(test_get16(zp + 0x1fa), 0xffff);            /* vid_mode "normal" */
	assert_int_equal(zp[0x1ef], 0);                              /* sentinel */

	/* Command line */
	assert_int_equal(test_get32(zp + 0x228), LAYOUT_CMDLINE);    /* cmd_line_ptr */
	assert_int_equal(test_get32(zp + 0x0c8), 0);                 /* ext_cmd_line_ptr */
	assert_string_equal((const char *)gpa(&f->mem, LAYOUT_CMDLINE, 32), "console=ttyS0 quiet");

	/* initrd: page aligned, above the kernel's footprint (decompression at
	 * pref_address 16 MiB + init_size 8 MiB), at the top of RAM. */
	{
		uint64_t addr = test_get32(zp + 0x218) | (uint64_t)test_get32(zp + 0x0c0) << 32;
		uint64_t len = test_get32(zp + 0x21c) | (uint64_t)test_get32(zp + 0x0c4) << 32;

		assert_int_equal(len, sizeof(initrd));
		assert_int_equal(addr % 4096, 0);
		assert_true(addr >= 0x1000000 + 0x800000);
		assert_true(addr + len <= TEST_RAM);
		assert_true(addr + len + 4096 > TEST_RAM);
		assert_memory_equal(gpa(&f->mem, addr, len), initrd, len);
	}

	/* e820 in the zero page: e820_entries at 0x1e8, table at 0x2d0. */
	n = e820_build(&f->mem, map);
	assert_int_equal(zp[0x1e8], n);
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *e = zp + 0x2d0 + 20 * i;

		assert_int_equal(test_get64(e), map[i].addr);
		assert_int_equal(test_get64(e + 8), map[i].size);
		assert_int_equal(test_get32(e + 16), map[i].type);
	}
	free(img);
}

static void test_boot_gdt_and_identity_map(void **state)
{
	struct fixture *f = *state;
	const uint64_t *gdt, *pml4, *pdpt;

	assert_int_equal(load_spec(f, NULL, 0, ""), 0);
	gdt = gpa(&f->mem, LAYOUT_BOOT_GDT, 32);
	assert_int_equal(gdt[0], 0);
	assert_int_equal(gdt[1], 0);
	assert_int_equal(gdt[2], 0x00af9b000000ffffULL);   /* __BOOT_CS: 64-bit code */
	assert_int_equal(gdt[3], 0x00cf93000000ffffULL);   /* __BOOT_DS: flat data */

	pml4 = gpa(&f->mem, LAYOUT_PAGE_TABLES, 4096);
	pdpt = gpa(&f->mem, LAYOUT_PAGE_TABLES + 0x1000, 4096);
	assert_int_equal(pml4[0] & ~0xfffULL, LAYOUT_PAGE_TABLES + 0x1000);
	assert_int_equal(pml4[0] & 3, 3);
	for (unsigned i = 1; i < 512; i++)
		assert_int_equal(pml4[i], 0);
	for (unsigned i = 0; i < 4; i++) {
		const uint64_t *pd = gpa(&f->mem, LAYOUT_PAGE_TABLES + 0x2000 + i * 0x1000, 4096);

		assert_int_equal(pdpt[i] & ~0xfffULL, LAYOUT_PAGE_TABLES + 0x2000 + i * 0x1000);
		assert_int_equal(pdpt[i] & 3, 3);
		for (uint64_t j = 0; j < 512; j++) {
			assert_int_equal(pd[j] & ~0xfffULL, ((uint64_t)i << 30) + (j << 21));
			assert_int_equal(pd[j] & 0x83, 0x83);  /* present, writable, 2 MiB */
		}
	}
	for (unsigned i = 4; i < 512; i++)
		assert_int_equal(pdpt[i], 0);
}

static void test_no_initrd_leaves_ramdisk_fields_zero(void **state)
{
	struct fixture *f = *state;
	const uint8_t *zp;

	assert_int_equal(load_spec(f, NULL, 0, ""), 0);
	zp = gpa(&f->mem, LAYOUT_ZERO_PAGE, 4096);
	assert_int_equal(test_get32(zp + 0x218), 0);
	assert_int_equal(test_get32(zp + 0x21c), 0);
	assert_int_equal(test_get32(zp + 0x0c0), 0);
	assert_int_equal(test_get32(zp + 0x0c4), 0);
	assert_int_equal(*(const char *)gpa(&f->mem, LAYOUT_CMDLINE, 1), '\0');
}

static void test_setup_sects_zero_means_four(void **state)
{
	struct fixture *f = *state;
	size_t size;
	uint8_t *img;

	f->spec.setup_sects = 0;
	img = test_bzimage_build(&f->spec, &size);
	assert_int_equal(load(&f->mem, img, size, NULL, 0, "", &f->entry, f->err), 0);
	/* Protected-mode part starts at (4 + 1) * 512. */
	assert_memory_equal(gpa(&f->mem, 0x100000, 4096), img + 5 * 512, 4096);
	free(img);
}

/* With more RAM than the hole allows below 4 GiB, the initrd must stay
 * below initrd_addr_max and below the device hole. */
static void test_initrd_respects_initrd_addr_max_and_hole(void **state)
{
	struct fixture *f = *state;
	static uint8_t initrd[3 * 4096 + 17];
	const uint8_t *zp;
	uint64_t addr;

	guest_memory_destroy(&f->mem);
	ram_create(&f->mem, 5ULL << 30);

	assert_int_equal(load_spec(f, initrd, sizeof(initrd), ""), 0);
	zp = gpa(&f->mem, LAYOUT_ZERO_PAGE, 4096);
	addr = test_get32(zp + 0x218);
	assert_int_equal(addr % 4096, 0);
	assert_true(addr + sizeof(initrd) - 1 <= 0x7fffffff);
	assert_true(addr + sizeof(initrd) + 4096 > 0x80000000ULL);

	/* A kernel allowing the whole 32-bit space still gets it below the hole. */
	ram_clear(&f->mem);
	f->spec.initrd_addr_max = 0xffffffff;
	assert_int_equal(load_spec(f, initrd, sizeof(initrd), ""), 0);
	zp = gpa(&f->mem, LAYOUT_ZERO_PAGE, 4096);
	addr = test_get32(zp + 0x218);
	assert_int_equal(test_get32(zp + 0x0c0), 0);
	assert_true(addr + sizeof(initrd) <= LAYOUT_MMIO_HOLE_START);
	assert_true(addr + sizeof(initrd) + 4096 > LAYOUT_MMIO_HOLE_START);
}

/* The footprint is the larger of the file at 1 MiB and the decompression
 * area: max(align_up(1 MiB, kernel_alignment), pref_address) + init_size. */
static void test_initrd_stays_above_kernel_footprint(void **state)
{
	struct fixture *f = *state;
	uint8_t *initrd;
	const size_t initrd_size = 30ULL << 20;
	const uint8_t *zp;

	/* 64 MiB RAM; footprint ends at 16 MiB + 18 MiB = 34 MiB; a 30 MiB
	 * initrd fits exactly between 34 MiB and 64 MiB. */
	f->spec.init_size = 18 << 20;
	initrd = calloc(1, initrd_size);
	assert_non_null(initrd);
	assert_int_equal(load_spec(f, initrd, initrd_size, ""), 0);
	zp = gpa(&f->mem, LAYOUT_ZERO_PAGE, 4096);
	assert_int_equal(test_get32(zp + 0x218), 34 << 20);

	/* One more page of init_size and it no longer fits. */
	ram_clear(&f->mem);
	f->spec.init_size = (18 << 20) + 4096;
	assert_int_equal(load_spec(f, initrd, initrd_size, ""), -ENOMEM);
	assert_non_null(strstr(f->err, "31457280"));   /* names the initrd size */
	free(initrd);
}

static void test_refuses_initrd_too_large_for_memory(void **state)
{
	struct fixture *f = *state;
	const size_t initrd_size = TEST_RAM;
	uint8_t *initrd = calloc(1, initrd_size);

	assert_non_null(initrd);
	assert_int_equal(load_spec(f, initrd, initrd_size, ""), -ENOMEM);
	assert_non_null(strstr(f->err, "initrd"));
	assert_non_null(strstr(f->err, "67108864"));
	free(initrd);
}

static void test_refused_load_writes_nothing(void **state)
{
	struct fixture *f = *state;
	const size_t initrd_size = TEST_RAM;
	uint8_t *initrd = calloc(1, initrd_size);

	assert_non_null(initrd);
	assert_int_equal(load_spec(f, initrd, initrd_size, "root=/dev/vda"), -ENOMEM);
	assert_true(ram_is_zero(&f->mem, 0, 2 << 20));
	free(initrd);
}

static void test_cmdline_length_limit(void **state)
{
	struct fixture *f = *state;
	char cmdline[64];

	/* cmdline_size counts characters without the NUL: 16 fit, 17 do not. */
	f->spec.cmdline_size = 16;
	memset(cmdline, 'a', 16);
	cmdline[16] = '\0';
	assert_int_equal(load_spec(f, NULL, 0, cmdline), 0);
	assert_string_equal((const char *)gpa(&f->mem, LAYOUT_CMDLINE, 17), cmdline);

	ram_clear(&f->mem);
	cmdline[16] = 'b';
	cmdline[17] = '\0';
	assert_int_equal(load_spec(f, NULL, 0, cmdline), -E2BIG);
	assert_non_null(strstr(f->err, "17"));
	assert_non_null(strstr(f->err, "16"));
	assert_true(ram_is_zero(&f->mem, 0, 2 << 20));
}

static void test_refuses_kernel_too_large_for_memory(void **state)
{
	struct fixture *f = *state;

	f->spec.init_size = 0xf0000000;
	assert_int_equal(load_spec(f, NULL, 0, ""), -ENOMEM);
	assert_non_null(strstr(f->err, "init_size"));

	f->spec.init_size = 0x800000;
	f->spec.pref_address = 0xffffffffffff0000ULL;   /* would overflow pref + init_size */
	assert_int_equal(load_spec(f, NULL, 0, ""), -ENOMEM);
}

static void test_refuses_truncated_images(void **state)
{
	struct fixture *f = *state;
	size_t setup_size = test_bzimage_setup_size(&f->spec);
	const size_t cuts[] = { 1, 0x100, 0x205, 0x206, 0x230, 0x28f, setup_size,
				setup_size + 0x100, setup_size + 0x200 };

	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		assert_int_equal(load_truncated(f, cuts[i]), -ENOEXEC);
		assert_true(ram_is_zero(&f->mem, 0, 2 << 20));
	}
	/* syssize promising more than the file holds */
	f->spec.syssize_too_big = true;
	assert_int_equal(load_spec(f, NULL, 0, ""), -ENOEXEC);
	assert_non_null(strstr(f->err, "syssize"));
}

static void test_refuses_bad_boot_flag(void **state)
{
	struct fixture *f = *state;
	size_t size;
	uint8_t *img = test_bzimage_build(&f->spec, &size);

	test_put16(img + 0x1fe, 0x55aa);
	assert_int_equal(load(&f->mem, img, size, NULL, 0, "", &f->entry, f->err), -ENOEXEC);
	assert_non_null(strstr(f->err, "boot_flag"));
	free(img);
}

static void test_refuses_bad_header_magic(void **state)
{
	struct fixture *f = *state;
	size_t size;
	uint8_t *img = test_bzimage_build(&f->spec, &size);

	memcpy(img + 0x202, "HdrX", 4);
	assert_int_equal(load(&f->mem, img, size, NULL, 0, "", &f->entry, f->err), -ENOEXEC);
	assert_non_null(strstr(f->err, "unrecognised"));
	free(img);
}

static void test_refuses_protocol_older_than_2_12(void **state)
{
	struct fixture *f = *state;

	f->spec.version = 0x020b;
	assert_int_equal(load_spec(f, NULL, 0, ""), -ENOEXEC);
	assert_non_null(strstr(f->err, "2.11"));
	assert_non_null(strstr(f->err, "2.12"));

	f->spec.version = 0x020c;
	assert_int_equal(load_spec(f, NULL, 0, ""), 0);
}

static void test_refuses_kernel_without_64bit_entry(void **state)
{
	struct fixture *f = *state;

	f->spec.xloadflags = 0x02;
	assert_int_equal(load_spec(f, NULL, 0, ""), -ENOEXEC);
	assert_non_null(strstr(f->err, "XLF_KERNEL_64"));
}

static void test_refuses_non_relocatable_kernel(void **state)
{
	struct fixture *f = *state;

	f->spec.relocatable_kernel = 0;
	assert_int_equal(load_spec(f, NULL, 0, ""), -ENOEXEC);
	assert_non_null(strstr(f->err, "relocatable_kernel"));
}

static void test_refuses_zimage(void **state)
{
	struct fixture *f = *state;

	f->spec.loadflags = 0;
	assert_int_equal(load_spec(f, NULL, 0, ""), -ENOEXEC);
	assert_non_null(strstr(f->err, "LOADED_HIGH"));
}

static void test_refuses_bad_kernel_alignment(void **state)
{
	struct fixture *f = *state;

	f->spec.kernel_alignment = 0;
	assert_int_equal(load_spec(f, NULL, 0, ""), -ENOEXEC);
	f->spec.kernel_alignment = 0x300000;
	assert_int_equal(load_spec(f, NULL, 0, ""), -ENOEXEC);
	assert_non_null(strstr(f->err, "kernel_alignment"));
}

static void test_refuses_bad_header_length(void **state)
{
	struct fixture *f = *state;

	f->spec.header_len = 0x20;    /* ends at 0x222: before the 2.12 fields */
	assert_int_equal(load_spec(f, NULL, 0, ""), -ENOEXEC);
	f->spec.header_len = 0x90;    /* ends at 0x292: past the header area */
	assert_int_equal(load_spec(f, NULL, 0, ""), -ENOEXEC);
	assert_non_null(strstr(f->err, "setup header"));
}

static void test_refuses_bad_config(void **state)
{
	struct fixture *f = *state;
	struct boot_config cfg = { .kernel = NULL, .kernel_size = 0, .cmdline = "" };

	assert_int_equal(boot_load(&f->mem, &cfg, &f->entry, f->err), -EINVAL);
	test_assert_one_line(f->err);
	cfg = (struct boot_config){ .kernel = (const uint8_t *)"x", .kernel_size = 1, .cmdline = NULL };
	assert_int_equal(boot_load(&f->mem, &cfg, &f->entry, f->err), -EINVAL);
	test_assert_one_line(f->err);
	cfg = (struct boot_config){ .kernel = (const uint8_t *)"x", .kernel_size = 1, .cmdline = "",
				    .initrd = NULL, .initrd_size = 10 };
	assert_int_equal(boot_load(&f->mem, &cfg, &f->entry, f->err), -EINVAL);
	test_assert_one_line(f->err);
}

static void test_refuses_too_little_ram(void **state)
{
	struct fixture *f = *state;

	guest_memory_destroy(&f->mem);
	ram_create(&f->mem, 4 << 20);
	assert_int_equal(load_spec(f, NULL, 0, ""), -ENOMEM);
}

/* With ACPI tables, the zero page's acpi_rsdp_addr (0x070, protocol 2.14)
 * points at the RSDP. */
static void test_rsdp_is_passed(void **state)
{
	struct fixture *f = *state;
	size_t size;
	uint8_t *img = test_bzimage_build(&f->spec, &size);
	struct boot_config cfg = { .kernel = img, .kernel_size = size, .cmdline = "",
				   .acpi_rsdp = 0xe0000 };

	assert_int_equal(boot_load(&f->mem, &cfg, &f->entry, f->err), 0);
	assert_int_equal(test_get64(gpa(&f->mem, LAYOUT_ZERO_PAGE, 0x1000) + 0x070), 0xe0000);
	free(img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_loads_kernel_and_zero_page, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rsdp_is_passed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_boot_gdt_and_identity_map, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_initrd_leaves_ramdisk_fields_zero, setup, teardown),
		cmocka_unit_test_setup_teardown(test_setup_sects_zero_means_four, setup, teardown),
		cmocka_unit_test_setup_teardown(test_initrd_respects_initrd_addr_max_and_hole, setup, teardown),
		cmocka_unit_test_setup_teardown(test_initrd_stays_above_kernel_footprint, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_initrd_too_large_for_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_load_writes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cmdline_length_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_kernel_too_large_for_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_truncated_images, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_bad_boot_flag, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_bad_header_magic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_protocol_older_than_2_12, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_kernel_without_64bit_entry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_non_relocatable_kernel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_zimage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_bad_kernel_alignment, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_bad_header_length, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_bad_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_too_little_ram, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
