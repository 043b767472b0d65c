/* PVH boot: ELF32/ELF64 images with a XEN_ELFNOTE_PHYS32_ENTRY note. The
 * hvm_start_info layout is written out from xen/include/public/arch-x86/
 * hvm/start_info.h rather than taken from the loader. */
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
	test_elf_defaults_pvh32(&f->spec);
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

static int load_spec_initrd(struct fixture *f, const uint8_t *initrd, size_t initrd_size,
			    const char *cmdline)
{
	size_t size;
	uint8_t *img = test_elf_build(&f->spec, &size);
	int ret = load(&f->mem, img, size, initrd, initrd_size, cmdline, &f->entry, f->err);

	free(img);
	return ret;
}

static int load_spec(struct fixture *f)
{
	return load_spec_initrd(f, NULL, 0, "");
}

/* hvm_start_info fields */
#define SI_MAGIC          0
#define SI_VERSION        4
#define SI_FLAGS          8
#define SI_NR_MODULES     12
#define SI_MODLIST_PADDR  16
#define SI_CMDLINE_PADDR  24
#define SI_RSDP_PADDR     32
#define SI_MEMMAP_PADDR   40
#define SI_MEMMAP_ENTRIES 48

static void check_memmap(const struct fixture *f, const uint8_t *si)
{
	struct e820_entry map[E820_MAX_ENTRIES];
	unsigned n = e820_build(&f->mem, map);
	const uint8_t *mm;

	assert_int_equal(test_get32(si + SI_MEMMAP_ENTRIES), n);
	mm = gpa(&f->mem, test_get64(si + SI_MEMMAP_PADDR), 24 * n);
	for (unsigned i = 0; i < n; i++) {
		/* hvm_memmap_table_entry: addr, size, type, reserved */
		assert_int_equal(test_get64(mm + 24 * i), map[i].addr);
		assert_int_equal(test_get64(mm + 24 * i + 8), map[i].size);
		assert_int_equal(test_get32(mm + 24 * i + 16), map[i].type);
		assert_int_equal(test_get32(mm + 24 * i + 20), 0);
	}
}

static void test_elf32_pvh_boot(void **state)
{
	struct fixture *f = *state;
	size_t size;
	uint8_t *img = test_elf_build(&f->spec, &size);
	const struct test_segment *seg = &f->spec.segments[0];
	const uint8_t *si;
	const uint64_t *gdt;

	assert_int_equal(load(&f->mem, img, size, NULL, 0, "console=hvc0", &f->entry, f->err), 0);
	assert_int_equal(f->entry.protocol, BOOT_PROTOCOL_PVH);
	assert_int_equal(f->entry.mode, BOOT_CPU_PROTECTED32);
	assert_int_equal(f->entry.rip, 0x100000);
	assert_int_equal(f->entry.rbx, LAYOUT_PVH_START_INFO);

	assert_memory_equal(gpa(&f->mem, seg->paddr, seg->filesz),
			    img + test_elf_segment_data_offset(&f->spec, img, 0), seg->filesz);
	assert_true(ram_is_zero(&f->mem, seg->paddr + seg->filesz, seg->memsz - seg->filesz));

	si = gpa(&f->mem, LAYOUT_PVH_START_INFO, 56);
	assert_int_equal(test_get32(si + SI_MAGIC), 0x336ec578);
	assert_int_equal(test_get32(si + SI_VERSION), 1);
	assert_int_equal(test_get32(si + SI_FLAGS), 0);
	assert_int_equal(test_get32(si + SI_NR_MODULES), 0);
	assert_int_equal(test_get64(si + SI_MODLIST_PADDR), 0);
	assert_int_equal(test_get64(si + SI_RSDP_PADDR), 0);
	assert_int_equal(test_get64(si + SI_CMDLINE_PADDR), LAYOUT_CMDLINE);
	assert_string_equal((const char *)gpa(&f->mem, LAYOUT_CMDLINE, 13), "console=hvc0");
	check_memmap(f, si);

	/* The boot GDT has a flat 32-bit code segment at __BOOT_CS. */
	gdt = gpa(&f->mem, LAYOUT_BOOT_GDT, 32);
	assert_int_equal(gdt[2], 0x00cf9b000000ffffULL);
	assert_int_equal(gdt[3], 0x00cf93000000ffffULL);
	/* No page tables and no zero page for PVH. */
	assert_true(ram_is_zero(&f->mem, LAYOUT_PAGE_TABLES, 0x6000));
	assert_true(ram_is_zero(&f->mem, LAYOUT_ZERO_PAGE, 0x1000));
	free(img);
}

static void test_elf64_pvh_note_takes_precedence(void **state)
{
	struct fixture *f = *state;

	/* A vmlinux with a PVH note boots through PVH, 8-byte descriptor as
	 * Linux emits it (_ASM_PTR), in an 8-aligned note segment. */
	test_elf_defaults64(&f->spec);
	f->spec.pvh_note = true;
	f->spec.pvh_descsz = 8;
	f->spec.pvh_entry = 0x1000100;
	f->spec.pvh_note_align = 8;
	assert_int_equal(load_spec(f), 0);
	assert_int_equal(f->entry.protocol, BOOT_PROTOCOL_PVH);
	assert_int_equal(f->entry.rip, 0x1000100);

	ram_clear(&f->mem);
	f->spec.pvh_note_align = 4;
	assert_int_equal(load_spec(f), 0);
	assert_int_equal(f->entry.rip, 0x1000100);
}

static void test_initrd_is_module_zero(void **state)
{
	struct fixture *f = *state;
	uint8_t initrd[9000];
	const uint8_t *si, *mod;
	uint64_t addr;

	for (size_t i = 0; i < sizeof(initrd); i++)
		initrd[i] = (uint8_t)(i * 31 + 1);
	assert_int_equal(load_spec_initrd(f, initrd, sizeof(initrd), ""), 0);
	si = gpa(&f->mem, LAYOUT_PVH_START_INFO, 56);
	assert_int_equal(test_get32(si + SI_NR_MODULES), 1);
	mod = gpa(&f->mem, test_get64(si + SI_MODLIST_PADDR), 32);
	addr = test_get64(mod);
	assert_int_equal(test_get64(mod + 8), sizeof(initrd));
	assert_int_equal(test_get64(mod + 16), 0);   /* no module command line */
	assert_int_equal(addr % 4096, 0);
	assert_true(addr >= 0x104000);               /* above the image */
	assert_true(addr + sizeof(initrd) <= TEST_RAM);
	assert_true(addr + sizeof(initrd) + 4096 > TEST_RAM);
	assert_memory_equal(gpa(&f->mem, addr, sizeof(initrd)), initrd, sizeof(initrd));
	/* The start info structures stay below the zero page slot. */
	assert_true(test_get64(si + SI_MODLIST_PADDR) + 32 <= LAYOUT_ZERO_PAGE);
	assert_true(test_get64(si + SI_MEMMAP_PADDR) >= LAYOUT_PVH_START_INFO + 56);
	check_memmap(f, si);
}

static void test_initrd_goes_below_image_when_above_is_full(void **state)
{
	struct fixture *f = *state;
	const size_t initrd_size = 2 << 20;
	uint8_t *initrd = calloc(1, initrd_size);
	const uint8_t *si, *mod;
	uint64_t addr;

	assert_non_null(initrd);
	/* Image from 40 MiB to 1 MiB below the end of RAM. */
	f->spec.segments[0].paddr = 40 << 20;
	f->spec.segments[0].memsz = (23 << 20);
	f->spec.pvh_entry = 40 << 20;
	assert_int_equal(load_spec_initrd(f, initrd, initrd_size, ""), 0);
	si = gpa(&f->mem, LAYOUT_PVH_START_INFO, 56);
	mod = gpa(&f->mem, test_get64(si + SI_MODLIST_PADDR), 32);
	addr = test_get64(mod);
	assert_int_equal(addr, (40 << 20) - initrd_size);

	/* Neither above nor below: refused, naming the size. */
	ram_clear(&f->mem);
	f->spec.segments[0].paddr = 2 << 20;
	f->spec.segments[0].memsz = (61 << 20) + 4096;
	f->spec.pvh_entry = 2 << 20;
	assert_int_equal(load_spec_initrd(f, initrd, initrd_size, ""), -ENOMEM);
	assert_non_null(strstr(f->err, "2097152"));
	free(initrd);
}

static void test_refuses_bad_descsz(void **state)
{
	struct fixture *f = *state;
	const uint32_t bad[] = { 0, 2, 5, 12 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		f->spec.pvh_descsz = bad[i];
		assert_int_equal(load_spec(f), -ENOEXEC);
		assert_non_null(strstr(f->err, "descsz"));
	}
}

static void test_refuses_entry_above_4g(void **state)
{
	struct fixture *f = *state;

	f->spec.pvh_descsz = 8;
	f->spec.pvh_entry = 0x100100000ULL;
	assert_int_equal(load_spec(f), -ENOEXEC);
	assert_non_null(strstr(f->err, "4 GiB"));
}

static void test_refuses_entry_outside_image(void **state)
{
	struct fixture *f = *state;

	f->spec.pvh_entry = 0x200000;
	assert_int_equal(load_spec(f), -ENOEXEC);
	assert_non_null(strstr(f->err, "PT_LOAD"));
}

static void test_refuses_note_overrunning_segment(void **state)
{
	struct fixture *f = *state;
	size_t size;
	uint8_t *img = test_elf_build(&f->spec, &size);
	uint8_t *ph = img + test_elf_phdr_offset(&f->spec, 1);   /* the PT_NOTE */
	uint32_t note_off = test_get32(ph + offsetof(Elf32_Phdr, p_offset));

	/* The Xen note (after the 20-byte GNU note) claims a huge name. */
	test_put32(img + note_off + 20, 0x7fffffff);
	assert_int_equal(load(&f->mem, img, size, NULL, 0, "", &f->entry, f->err), -ENOEXEC);
	assert_non_null(strstr(f->err, "overruns"));

	/* The note segment itself reaches past the end of the file. */
	test_put32(img + note_off + 20, 4);
	test_put32(ph + offsetof(Elf32_Phdr, p_filesz), (uint32_t)size);
	assert_int_equal(load(&f->mem, img, size, NULL, 0, "", &f->entry, f->err), -ENOEXEC);
	assert_non_null(strstr(f->err, "PT_NOTE"));

	/* Truncated in the middle of the note. */
	test_put32(ph + offsetof(Elf32_Phdr, p_filesz), 36);
	assert_int_equal(load(&f->mem, img, note_off + 30, NULL, 0, "", &f->entry, f->err), -ENOEXEC);
	assert_true(ram_is_zero(&f->mem, 0, 2 << 20));
	free(img);
}

static void test_refuses_bad_segments(void **state)
{
	struct fixture *f = *state;

	f->spec.segments[0].filesz = f->spec.segments[0].memsz + 1;
	assert_int_equal(load_spec(f), -ENOEXEC);
	test_elf_defaults_pvh32(&f->spec);
	f->spec.segments[0].paddr = 0x9f000;   /* the EBDA */
	f->spec.pvh_entry = 0x9f000;
	assert_int_equal(load_spec(f), -ENOEXEC);
	test_elf_defaults_pvh32(&f->spec);
	f->spec.segments[0].paddr = 0xfffff000;   /* wraps in 32 bits, not in ours */
	f->spec.pvh_entry = 0xfffff000;
	assert_int_equal(load_spec(f), -ENOMEM);
	assert_true(ram_is_zero(&f->mem, 0, 2 << 20));
}

static void test_refuses_elf32_with_wrong_machine(void **state)
{
	struct fixture *f = *state;
	size_t size;
	uint8_t *img = test_elf_build(&f->spec, &size);

	test_put16(img + offsetof(Elf32_Ehdr, e_machine), EM_X86_64);
	assert_int_equal(load(&f->mem, img, size, NULL, 0, "", &f->entry, f->err), -ENOEXEC);
	assert_non_null(strstr(f->err, "EM_386"));
	free(img);
}

/* With ACPI tables, the start info points at the RSDP. */
static void test_rsdp_is_passed(void **state)
{
	struct fixture *f = *state;
	size_t size;
	uint8_t *img = test_elf_build(&f->spec, &size);
	struct boot_config cfg = { .kernel = img, .kernel_size = size, .cmdline = "",
				   .acpi_rsdp = 0xe0000 };

	assert_int_equal(boot_load(&f->mem, &cfg, &f->entry, f->err), 0);
	assert_int_equal(test_get64(gpa(&f->mem, LAYOUT_PVH_START_INFO, 56) + SI_RSDP_PADDR), 0xe0000);
	free(img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_elf32_pvh_boot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rsdp_is_passed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_elf64_pvh_note_takes_precedence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_initrd_is_module_zero, setup, teardown),
		cmocka_unit_test_setup_teardown(test_initrd_goes_below_image_when_above_is_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_bad_descsz, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_entry_above_4g, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_entry_outside_image, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_note_overrunning_segment, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_bad_segments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_elf32_with_wrong_machine, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
