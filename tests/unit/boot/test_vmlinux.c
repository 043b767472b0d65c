/* ELF64 vmlinux (no PVH note) through the Linux 64-bit boot protocol, and
 * the ELF validation every ELF loader shares. */
#include <elf.h>
#include <errno.h>
#include <stdlib.h>

#include "boot_test.h"
#include "e820.h"
#include "layout.h"

struct fixture {
	struct guest_memory mem;
	struct test_elf spec;
	struct boot_entry entry;
	char err[BOOT_ERROR_MAX];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	ram_create(&f->mem, TEST_RAM);
	test_elf_defaults64(&f->spec);
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

static int load_spec(struct fixture *f, const char *cmdline)
{
	size_t size;
	uint8_t *img = test_elf_build(&f->spec, &size);
	int ret = load(&f->mem, img, size, NULL, 0, cmdline, &f->entry, f->err);

	free(img);
	return ret;
}

/* Build the default image, let `patch` damage it, load it. */
static int load_patched(struct fixture *f, void (*patch)(uint8_t *img, size_t *size))
{
	size_t size;
	uint8_t *img = test_elf_build(&f->spec, &size);
	int ret;

	patch(img, &size);
	ret = load(&f->mem, img, size, NULL, 0, "", &f->entry, f->err);
	free(img);
	return ret;
}

static void test_loads_segments_by_paddr(void **state)
{
	struct fixture *f = *state;
	size_t size;
	uint8_t *img = test_elf_build(&f->spec, &size);
	const struct test_segment *text = &f->spec.segments[0], *data = &f->spec.segments[1];

	/* RAM starts zeroed (boot_load's contract), so bss is left as it is:
	 * check it stays zero and nothing spills past p_filesz. */
	assert_int_equal(load(&f->mem, img, size, NULL, 0, "", &f->entry, f->err), 0);
	assert_memory_equal(gpa(&f->mem, text->paddr, text->filesz),
			    img + test_elf_segment_data_offset(&f->spec, img, 0), text->filesz);
	assert_memory_equal(gpa(&f->mem, data->paddr, data->filesz),
			    img + test_elf_segment_data_offset(&f->spec, img, 1), data->filesz);
	assert_true(ram_is_zero(&f->mem, data->paddr + data->filesz, data->memsz - data->filesz));

	assert_int_equal(f->entry.protocol, BOOT_PROTOCOL_LINUX64);
	assert_int_equal(f->entry.mode, BOOT_CPU_LONG64);
	assert_int_equal(f->entry.rip, 0x1000000);
	assert_int_equal(f->entry.rsi, LAYOUT_ZERO_PAGE);
	free(img);
}

static void test_virtual_entry_is_translated(void **state)
{
	struct fixture *f = *state;

	f->spec.entry = 0xffffffff81200040ULL;   /* in segment 1's virtual range */
	assert_int_equal(load_spec(f, ""), 0);
	assert_int_equal(f->entry.rip, 0x1200040);
}

static void test_zero_page_built_from_scratch(void **state)
{
	struct fixture *f = *state;
	struct boot_config cfg;
	uint8_t initrd[10000];
	size_t size;
	uint8_t *img = test_elf_build(&f->spec, &size);
	const uint8_t *zp;
	struct e820_entry map[E820_MAX_ENTRIES];
	unsigned n;
	uint64_t addr;

	for (size_t i = 0; i < sizeof(initrd); i++)
		initrd[i] = (uint8_t)(i * 13);
	cfg = (struct boot_config){ .kernel = img, .kernel_size = size, .initrd = initrd,
				    .initrd_size = sizeof(initrd), .cmdline = "console=ttyS0" };
	assert_int_equal(boot_load(&f->mem, &cfg, &f->entry, f->err), 0);
	zp = gpa(&f->mem, LAYOUT_ZERO_PAGE, 4096);
	assert_int_equal(test_get16(zp + 0x1fe), 0xaa55);           /* boot_flag */
	assert_memory_equal(zp + 0x202, "HdrS", 4);
	assert_int_equal(test_get16(zp + 0x206), 0x020f);           /* version */
	assert_int_equal(zp[0x210], 0xff);                          /* type_of_loader */
	assert_int_equal(zp[0x211], 0x01);                          /* loadflags: LOADED_HIGH */
	assert_int_equal(test_get32(zp + 0x230), 0x200000);         /* kernel_alignment */
	assert_int_equal(test_get32(zp + 0x238), 2047);             /* cmdline_size */
	assert_int_equal(test_get32(zp + 0x228), LAYOUT_CMDLINE);
	assert_string_equal((const char *)gpa(&f->mem, LAYOUT_CMDLINE, 14), "console=ttyS0");
	assert_int_equal(zp[0x1ef], 0);                             /* sentinel */

	addr = test_get32(zp + 0x218);
	assert_int_equal(test_get32(zp + 0x21c), sizeof(initrd));
	assert_int_equal(addr % 4096, 0);
	assert_true(addr >= 0x1205000);                             /* above the segments */
	assert_true(addr + sizeof(initrd) <= TEST_RAM);
	assert_memory_equal(gpa(&f->mem, addr, sizeof(initrd)), initrd, sizeof(initrd));

	n = e820_build(&f->mem, map);
	assert_int_equal(zp[0x1e8], n);
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(test_get64(zp + 0x2d0 + 20 * i), map[i].addr);
		assert_int_equal(test_get64(zp + 0x2d0 + 20 * i + 8), map[i].size);
		assert_int_equal(test_get32(zp + 0x2d0 + 20 * i + 16), map[i].type);
	}
	/* Same GDT and identity map as for a bzImage. */
	assert_int_equal(((const uint64_t *)gpa(&f->mem, LAYOUT_BOOT_GDT, 32))[2], 0x00af9b000000ffffULL);
	assert_int_equal(((const uint64_t *)gpa(&f->mem, LAYOUT_PAGE_TABLES, 8))[0] & ~0xfffULL,
			 LAYOUT_PAGE_TABLES + 0x1000);
	free(img);
}

static void test_cmdline_limit(void **state)
{
	struct fixture *f = *state;
	char *cmdline = malloc(2049);

	assert_non_null(cmdline);
	memset(cmdline, 'k', 2047);
	cmdline[2047] = '\0';
	assert_int_equal(load_spec(f, cmdline), 0);
	ram_clear(&f->mem);
	cmdline[2047] = 'k';
	cmdline[2048] = '\0';
	assert_int_equal(load_spec(f, cmdline), -E2BIG);
	assert_non_null(strstr(f->err, "2048"));
	assert_non_null(strstr(f->err, "2047"));
	free(cmdline);
}

static void test_refused_image_writes_nothing(void **state)
{
	struct fixture *f = *state;
	const struct test_segment *text = &f->spec.segments[0];
	char *cmdline = malloc(5000);

	assert_non_null(cmdline);
	memset(cmdline, 'k', 4999);
	cmdline[4999] = '\0';
	assert_int_equal(load_spec(f, cmdline), -E2BIG);
	assert_true(ram_is_zero(&f->mem, 0, 2 << 20));
	assert_true(ram_is_zero(&f->mem, text->paddr, text->memsz));
	free(cmdline);
}

/* ---- malformed ELF ---- */

static void patch_magic(uint8_t *img, size_t *size) { (void)size; img[1] = 'F'; }
static void patch_class(uint8_t *img, size_t *size) { (void)size; img[EI_CLASS] = 5; }
static void patch_endian(uint8_t *img, size_t *size) { (void)size; img[EI_DATA] = ELFDATA2MSB; }
static void patch_version(uint8_t *img, size_t *size) { (void)size; img[EI_VERSION] = 0; }
static void patch_type(uint8_t *img, size_t *size)
{
	(void)size;
	test_put16(img + offsetof(Elf64_Ehdr, e_type), ET_DYN);
}
static void patch_machine(uint8_t *img, size_t *size)
{
	(void)size;
	test_put16(img + offsetof(Elf64_Ehdr, e_machine), EM_AARCH64);
}
static void patch_phentsize(uint8_t *img, size_t *size)
{
	(void)size;
	test_put16(img + offsetof(Elf64_Ehdr, e_phentsize), sizeof(Elf64_Phdr) - 1);
}
static void patch_phnum_zero(uint8_t *img, size_t *size)
{
	(void)size;
	test_put16(img + offsetof(Elf64_Ehdr, e_phnum), 0);
}
static void patch_phnum_huge(uint8_t *img, size_t *size)
{
	(void)size;
	test_put16(img + offsetof(Elf64_Ehdr, e_phnum), 0xffff);
}
static void patch_phnum_beyond_file(uint8_t *img, size_t *size)
{
	/* 200 program headers would need 11 KiB; the file is shorter. */
	*size = sizeof(Elf64_Ehdr) + 100 * sizeof(Elf64_Phdr);
	test_put16(img + offsetof(Elf64_Ehdr, e_phnum), 200);
}
static void patch_phoff_beyond_file(uint8_t *img, size_t *size)
{
	test_put64(img + offsetof(Elf64_Ehdr, e_phoff), *size - 8);
}
static void patch_phoff_wraps(uint8_t *img, size_t *size)
{
	(void)size;
	test_put64(img + offsetof(Elf64_Ehdr, e_phoff), UINT64_MAX - 16);
}
static void truncate_in_header(uint8_t *img, size_t *size) { (void)img; *size = 40; }
static void truncate_in_phdrs(uint8_t *img, size_t *size)
{
	(void)img;
	*size = sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr) + 10;
}
static void truncate_in_segment_data(uint8_t *img, size_t *size)
{
	/* Cut inside segment 1's file data. */
	*size = test_get64(img + sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr) +
			   offsetof(Elf64_Phdr, p_offset)) + 0x100;
}

static void test_refuses_malformed_headers(void **state)
{
	struct fixture *f = *state;
	const struct {
		void (*patch)(uint8_t *, size_t *);
		const char *expect;
	} cases[] = {
		{ patch_magic, "unrecognised" },
		{ patch_class, "EI_CLASS" },
		{ patch_endian, "EI_DATA" },
		{ patch_version, "EI_VERSION" },
		{ patch_type, "e_type" },
		{ patch_machine, "e_machine" },
		{ patch_phentsize, "e_phentsize" },
		{ patch_phnum_zero, "e_phnum" },
		{ patch_phnum_huge, "e_phnum" },
		{ patch_phnum_beyond_file, "beyond" },
		{ patch_phoff_beyond_file, "beyond" },
		{ patch_phoff_wraps, "beyond" },
		{ truncate_in_header, "truncated" },
		{ truncate_in_phdrs, "beyond" },
		{ truncate_in_segment_data, "beyond" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(load_patched(f, cases[i].patch), -ENOEXEC);
		if (!strstr(f->err, cases[i].expect))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, f->err, cases[i].expect);
		assert_true(ram_is_zero(&f->mem, 0, 2 << 20));
	}
}

static void test_refuses_segment_offset_beyond_file(void **state)
{
	struct fixture *f = *state;

	f->spec.segments[1].offset = 0x100000;   /* far past the ~24 KiB file */
	assert_int_equal(load_spec(f, ""), -ENOEXEC);
	assert_non_null(strstr(f->err, "segment 1"));
	f->spec.segments[1].offset = UINT64_MAX - 0x100;   /* offset + filesz wraps */
	assert_int_equal(load_spec(f, ""), -ENOEXEC);
	assert_non_null(strstr(f->err, "beyond"));
}

static void test_refuses_filesz_above_memsz(void **state)
{
	struct fixture *f = *state;

	f->spec.segments[1].memsz = f->spec.segments[1].filesz - 1;
	assert_int_equal(load_spec(f, ""), -ENOEXEC);
	assert_non_null(strstr(f->err, "p_filesz"));
	/* p_memsz 0 with file bytes is not an empty segment to skip. */
	f->spec.segments[1].memsz = 0;
	assert_int_equal(load_spec(f, ""), -ENOEXEC);
	assert_non_null(strstr(f->err, "p_filesz"));
}

static void test_refuses_overlapping_segments(void **state)
{
	struct fixture *f = *state;

	f->spec.segments[1].paddr = f->spec.segments[0].paddr + f->spec.segments[0].memsz - 1;
	assert_int_equal(load_spec(f, ""), -ENOEXEC);
	assert_non_null(strstr(f->err, "overlap"));
	/* Touching is fine. */
	f->spec.segments[1].paddr = f->spec.segments[0].paddr + f->spec.segments[0].memsz;
	f->spec.entry = f->spec.segments[0].paddr;
	assert_int_equal(load_spec(f, ""), 0);
}

static void test_refuses_segment_outside_ram(void **state)
{
	struct fixture *f = *state;

	f->spec.segments[1].paddr = TEST_RAM - 0x1000;   /* crosses the end of RAM */
	assert_int_equal(load_spec(f, ""), -ENOMEM);
	f->spec.segments[1].paddr = LAYOUT_MMIO_HOLE_START + 0x1000;   /* in the hole */
	assert_int_equal(load_spec(f, ""), -ENOMEM);
	f->spec.segments[1].paddr = 0x100000000ULL;   /* above 4 GiB, no RAM there */
	assert_int_equal(load_spec(f, ""), -ENOMEM);
	assert_non_null(strstr(f->err, "RAM"));
}

static void test_refuses_segment_above_hole_even_with_ram_there(void **state)
{
	struct fixture *f = *state;

	guest_memory_destroy(&f->mem);
	ram_create(&f->mem, 5ULL << 30);
	f->spec.segments[1].paddr = 0x100000000ULL;   /* RAM, but not reachable at entry */
	assert_int_equal(load_spec(f, ""), -ENOMEM);
}

static void test_refuses_segment_in_low_memory(void **state)
{
	struct fixture *f = *state;

	f->spec.segments[1].paddr = LAYOUT_EBDA_START;
	assert_int_equal(load_spec(f, ""), -ENOEXEC);
	assert_non_null(strstr(f->err, "1 MiB"));
	f->spec.segments[1].paddr = 0x7000;   /* would overwrite the zero page */
	assert_int_equal(load_spec(f, ""), -ENOEXEC);
}

static void test_refuses_paddr_overflow(void **state)
{
	struct fixture *f = *state;

	f->spec.segments[1].paddr = UINT64_MAX - 0x1000;
	assert_int_equal(load_spec(f, ""), -ENOEXEC);
	assert_non_null(strstr(f->err, "overflows"));
}

static void test_refuses_entry_outside_segments(void **state)
{
	struct fixture *f = *state;

	f->spec.entry = 0x2000000;
	assert_int_equal(load_spec(f, ""), -ENOEXEC);
	assert_non_null(strstr(f->err, "e_entry"));
}

static void test_refuses_image_without_load_segments(void **state)
{
	struct fixture *f = *state;

	f->spec.segments[0].type = PT_NULL;
	f->spec.segments[1].type = PT_NULL;
	assert_int_equal(load_spec(f, ""), -ENOEXEC);
	assert_non_null(strstr(f->err, "PT_LOAD"));
}

static void test_refuses_elf32_without_pvh_note(void **state)
{
	struct fixture *f = *state;

	test_elf_defaults_pvh32(&f->spec);
	f->spec.pvh_note = false;
	assert_int_equal(load_spec(f, ""), -ENOEXEC);
	assert_non_null(strstr(f->err, "PVH"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_loads_segments_by_paddr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_virtual_entry_is_translated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_zero_page_built_from_scratch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cmdline_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_image_writes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_malformed_headers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_segment_offset_beyond_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_filesz_above_memsz, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_overlapping_segments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_segment_outside_ram, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_segment_above_hole_even_with_ram_there, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_segment_in_low_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_paddr_overflow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_entry_outside_segments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_image_without_load_segments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_elf32_without_pvh_note, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
