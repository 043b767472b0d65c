/* Multiboot v1: ELF32 images and a.out-kludge images with a Multiboot
 * header, the information block they receive, and every malformed header
 * refused with one line. Offsets of the header and of the information are
 * written out from the Multiboot Specification 0.6.96 (§3.1.1, §3.3)
 * rather than taken from the loader. */
#include <elf.h>
#include <errno.h>
#include <stdlib.h>

#include "boot_test.h"
#include "e820.h"
#include "layout.h"

#define KERNEL_NAME "/images/kernel.elf"

/* Header fields (§3.1.1) */
#define MH_MAGIC         0
#define MH_FLAGS         4
#define MH_CHECKSUM      8
#define MH_HEADER_ADDR   12
#define MH_LOAD_ADDR     16
#define MH_LOAD_END_ADDR 20
#define MH_BSS_END_ADDR  24
#define MH_ENTRY_ADDR    28

/* Information fields (§3.3) */
#define MI_FLAGS            0
#define MI_MEM_LOWER        4
#define MI_MEM_UPPER        8
#define MI_CMDLINE          16
#define MI_MODS_COUNT       20
#define MI_MODS_ADDR        24
#define MI_MMAP_LENGTH      44
#define MI_MMAP_ADDR        48
#define MI_BOOT_LOADER_NAME 64

#define AOUT_KLUDGE (1u << 16)

struct fixture {
	struct guest_memory mem;
	struct test_elf spec;
	struct boot_entry entry;
	char err[BOOT_ERROR_MAX];
	const char *kernel_name;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	ram_create(&f->mem, TEST_RAM);
	/* An ELF32 at 1 MiB: 8 KiB of code and data, 8 KiB of bss. */
	test_elf_defaults_pvh32(&f->spec);
	f->spec.pvh_note = false;
	f->spec.entry = 0x100040;
	f->kernel_name = KERNEL_NAME;
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

static int mb_load(struct fixture *f, const uint8_t *img, size_t size, const uint8_t *initrd,
		   size_t initrd_size, const char *cmdline)
{
	struct boot_config cfg = {
		.kernel = img, .kernel_size = size, .initrd = initrd, .initrd_size = initrd_size,
		.cmdline = cmdline, .kernel_name = f->kernel_name,
	};
	int ret;

	memset(f->err, 'x', sizeof(f->err));
	ret = boot_load(&f->mem, &cfg, &f->entry, f->err);
	if (ret == 0)
		assert_string_equal(f->err, "");
	else
		test_assert_one_line(f->err);
	return ret;
}

/* Write a header with a correct checksum at `off`. */
static void header_put(uint8_t *img, size_t off, uint32_t flags)
{
	test_put32(img + off + MH_MAGIC, 0x1BADB002);
	test_put32(img + off + MH_FLAGS, flags);
	test_put32(img + off + MH_CHECKSUM, 0u - (0x1BADB002u + flags));
}

static void kludge_put(uint8_t *img, size_t off, uint32_t header_addr, uint32_t load_addr,
		       uint32_t load_end, uint32_t bss_end, uint32_t entry)
{
	test_put32(img + off + MH_HEADER_ADDR, header_addr);
	test_put32(img + off + MH_LOAD_ADDR, load_addr);
	test_put32(img + off + MH_LOAD_END_ADDR, load_end);
	test_put32(img + off + MH_BSS_END_ADDR, bss_end);
	test_put32(img + off + MH_ENTRY_ADDR, entry);
}

/* The ELF32 from the fixture with a header 16 bytes into its segment
 * (file offset 0x1010: in the first 8 KiB). */
static uint8_t *elf_build(const struct fixture *f, uint32_t flags, size_t *size,
			  size_t *header_off)
{
	uint8_t *img = test_elf_build(&f->spec, size);
	size_t off = test_elf_segment_data_offset(&f->spec, img, 0) + 16;

	header_put(img, off, flags);
	if (header_off)
		*header_off = off;
	return img;
}

static int load_elf(struct fixture *f, uint32_t flags)
{
	size_t size;
	uint8_t *img = elf_build(f, flags, &size, NULL);
	int ret = mb_load(f, img, size, NULL, 0, "");

	free(img);
	return ret;
}

/* A raw (non-ELF) a.out-kludge image of 12 KiB: header at file offset
 * 0x40, loaded from offset 0 at 2 MiB, data to 2 MiB + 12 KiB, bss to
 * 2 MiB + 64 KiB, entry 0x100 into the image. */
#define AOUT_SIZE     0x3000
#define AOUT_HDR      0x40
#define AOUT_LOAD     0x200000u
#define AOUT_BSS_END  (AOUT_LOAD + 0x10000u)
#define AOUT_ENTRY    (AOUT_LOAD + 0x100u)

static uint8_t *aout_build(size_t *size)
{
	uint8_t *img = malloc(AOUT_SIZE);

	assert_non_null(img);
	for (size_t i = 0; i < AOUT_SIZE; i++)
		img[i] = test_pattern(i);
	header_put(img, AOUT_HDR, AOUT_KLUDGE | 0x3);
	kludge_put(img, AOUT_HDR, AOUT_LOAD + AOUT_HDR, AOUT_LOAD, AOUT_LOAD + AOUT_SIZE,
		   AOUT_BSS_END, AOUT_ENTRY);
	*size = AOUT_SIZE;
	return img;
}

static const uint8_t *info_get(const struct fixture *f)
{
	return gpa(&f->mem, LAYOUT_MULTIBOOT_INFO, 116);
}

static const char *string_at(const struct fixture *f, uint32_t addr)
{
	const char *s = gpa(&f->mem, addr, 1);

	/* The string and its NUL lie in RAM. */
	assert_non_null(guest_memory_ptr(&f->mem, addr, strlen(s) + 1));
	return s;
}

static void check_mmap(const struct fixture *f, const uint8_t *info)
{
	struct e820_entry map[E820_MAX_ENTRIES];
	unsigned n = e820_build(&f->mem, map);
	uint32_t length = test_get32(info + MI_MMAP_LENGTH);
	const uint8_t *p = gpa(&f->mem, test_get32(info + MI_MMAP_ADDR), length);
	unsigned i = 0;

	/* Walk it the way a kernel does: by each entry's size field + 4. */
	for (uint32_t pos = 0; pos < length; pos += test_get32(p + pos) + 4, i++) {
		assert_true(i < n);
		assert_int_equal(test_get32(p + pos), 20);
		assert_int_equal(test_get64(p + pos + 4), map[i].addr);
		assert_int_equal(test_get64(p + pos + 12), map[i].size);
		assert_int_equal(test_get32(p + pos + 20), map[i].type);
	}
	assert_int_equal(i, n);
	/* RAM from 1 MiB to the end of RAM is in it. */
	assert_int_equal(map[2].addr, 0x100000);
	assert_int_equal(map[2].type, E820_RAM);
}

static void test_elf32_boot(void **state)
{
	struct fixture *f = *state;
	const struct test_segment *seg = &f->spec.segments[0];
	size_t size;
	uint8_t *img = elf_build(f, 0x3, &size, NULL);
	const uint8_t *info;
	const uint64_t *gdt;

	assert_int_equal(mb_load(f, img, size, NULL, 0, "console=ttyS0 x=1"), 0);
	assert_int_equal(f->entry.protocol, BOOT_PROTOCOL_MULTIBOOT);
	assert_int_equal(f->entry.mode, BOOT_CPU_PROTECTED32);
	assert_int_equal(f->entry.rip, 0x100040);
	assert_int_equal(f->entry.rax, 0x2BADB002);
	assert_int_equal(f->entry.rbx, LAYOUT_MULTIBOOT_INFO);

	/* Segment by p_paddr, bss zero. */
	assert_memory_equal(gpa(&f->mem, seg->paddr, seg->filesz),
			    img + test_elf_segment_data_offset(&f->spec, img, 0), seg->filesz);
	assert_true(ram_is_zero(&f->mem, seg->paddr + seg->filesz, seg->memsz - seg->filesz));

	info = info_get(f);
	/* mem (0), cmdline (2), mods (3), mmap (6), boot_loader_name (9) */
	assert_int_equal(test_get32(info + MI_FLAGS), 0x24d);
	assert_int_equal(test_get32(info + MI_MEM_LOWER), 639);
	assert_int_equal(test_get32(info + MI_MEM_UPPER), (TEST_RAM - 0x100000) / 1024);
	assert_string_equal(string_at(f, test_get32(info + MI_CMDLINE)),
			    KERNEL_NAME " console=ttyS0 x=1");
	assert_int_equal(test_get32(info + MI_CMDLINE), LAYOUT_CMDLINE);
	assert_int_equal(test_get32(info + MI_MODS_COUNT), 0);
	assert_string_equal(string_at(f, test_get32(info + MI_BOOT_LOADER_NAME)), "kvmrun");
	check_mmap(f, info);
	/* Fields we do not provide stay zero: boot_device, syms, drives,
	 * config table, APM, VBE, framebuffer. */
	assert_int_equal(test_get32(info + 12), 0);
	assert_true(ram_is_zero(&f->mem, LAYOUT_MULTIBOOT_INFO + 28, 16));
	assert_true(ram_is_zero(&f->mem, LAYOUT_MULTIBOOT_INFO + 52, 12));
	assert_true(ram_is_zero(&f->mem, LAYOUT_MULTIBOOT_INFO + 68, 116 - 68));

	/* Everything the information points to lies below 1 MiB, clear of
	 * the image, and the structures stay below the zero page slot. */
	assert_true(test_get32(info + MI_MMAP_ADDR) + test_get32(info + MI_MMAP_LENGTH) <=
		    LAYOUT_ZERO_PAGE);
	assert_true(test_get32(info + MI_BOOT_LOADER_NAME) + 7 <= LAYOUT_ZERO_PAGE);

	/* A flat 32-bit GDT; no page tables, zero page or PVH start info. */
	gdt = gpa(&f->mem, LAYOUT_BOOT_GDT, 32);
	assert_int_equal(gdt[2], 0x00cf9b000000ffffULL);
	assert_int_equal(gdt[3], 0x00cf93000000ffffULL);
	assert_true(ram_is_zero(&f->mem, LAYOUT_PAGE_TABLES, 0x6000));
	assert_true(ram_is_zero(&f->mem, LAYOUT_ZERO_PAGE, 0x1000));
	assert_true(ram_is_zero(&f->mem, LAYOUT_PVH_START_INFO, 0x1000));
	free(img);
}

static void test_cmdline_is_kernel_path_alone_when_empty(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(load_elf(f, 0), 0);
	assert_string_equal(string_at(f, test_get32(info_get(f) + MI_CMDLINE)), KERNEL_NAME);
}

static void test_memory_sizes_follow_ram(void **state)
{
	struct fixture *f = *state;
	struct guest_memory big;

	/* 5 GiB: mem_upper stops at the device hole, the map lists RAM above
	 * 4 GiB too. Only the pages touched are allocated. */
	guest_memory_destroy(&f->mem);
	ram_create(&big, 5ULL << 30);
	f->mem = big;
	assert_int_equal(load_elf(f, 0x2), 0);
	assert_int_equal(test_get32(info_get(f) + MI_MEM_UPPER),
			 (LAYOUT_MMIO_HOLE_START - 0x100000) / 1024);
	check_mmap(f, info_get(f));
	assert_int_equal(test_get32(info_get(f) + MI_MMAP_LENGTH), 4 * 24);
}

static void test_virtual_entry_is_translated(void **state)
{
	struct fixture *f = *state;

	/* Linked at 0xc0100000, loaded at 1 MiB. */
	f->spec.segments[0].vaddr = 0xc0100000;
	f->spec.entry = 0xc0100080;
	assert_int_equal(load_elf(f, 0), 0);
	assert_int_equal(f->entry.rip, 0x100080);
}

static void test_initrd_is_module_zero(void **state)
{
	struct fixture *f = *state;
	uint8_t initrd[5000];
	size_t size;
	uint8_t *img = elf_build(f, 0x1, &size, NULL);
	const uint8_t *info, *mod;
	uint32_t start, end;

	for (size_t i = 0; i < sizeof(initrd); i++)
		initrd[i] = (uint8_t)(i * 13 + 5);
	assert_int_equal(mb_load(f, img, size, initrd, sizeof(initrd), "quiet"), 0);
	info = info_get(f);
	assert_int_equal(test_get32(info + MI_FLAGS) & 0x8, 0x8);
	assert_int_equal(test_get32(info + MI_MODS_COUNT), 1);
	mod = gpa(&f->mem, test_get32(info + MI_MODS_ADDR), 16);
	start = test_get32(mod);
	end = test_get32(mod + 4);
	assert_int_equal(end - start, sizeof(initrd));            /* mod_end exclusive */
	assert_int_equal(start % 4096, 0);                         /* flags bit 0 */
	assert_true(start >= 0x104000);                            /* above image + bss */
	assert_true(end <= TEST_RAM);
	assert_memory_equal(gpa(&f->mem, start, sizeof(initrd)), initrd, sizeof(initrd));
	assert_string_equal(string_at(f, test_get32(mod + 8)), "initrd");
	assert_int_equal(test_get32(mod + 12), 0);
	/* The module list lies below 1 MiB, clear of the image and module. */
	assert_true(test_get32(info + MI_MODS_ADDR) + 16 <= LAYOUT_ZERO_PAGE);
	free(img);
}

static void test_initrd_that_does_not_fit_is_refused(void **state)
{
	struct fixture *f = *state;
	size_t size;
	uint8_t *img = elf_build(f, 0, &size, NULL);
	uint8_t *initrd = calloc(1, TEST_RAM);

	assert_non_null(initrd);
	assert_int_equal(mb_load(f, img, size, initrd, TEST_RAM - 0x100000, ""), -ENOMEM);
	assert_non_null(strstr(f->err, "initrd"));
	assert_true(ram_is_zero(&f->mem, 0, 2 << 20));
	free(initrd);
	free(img);
}

static void test_aout_kludge_boot(void **state)
{
	struct fixture *f = *state;
	size_t size;
	uint8_t *img = aout_build(&size);
	uint8_t initrd[100];
	const uint8_t *mod;

	memset(initrd, 0xab, sizeof(initrd));
	assert_int_equal(mb_load(f, img, size, initrd, sizeof(initrd), "a b"), 0);
	assert_int_equal(f->entry.protocol, BOOT_PROTOCOL_MULTIBOOT);
	assert_int_equal(f->entry.rip, AOUT_ENTRY);
	assert_int_equal(f->entry.rax, 0x2BADB002);
	assert_int_equal(f->entry.rbx, LAYOUT_MULTIBOOT_INFO);
	/* The file from offset 0 at load_addr; bss zero up to bss_end_addr. */
	assert_memory_equal(gpa(&f->mem, AOUT_LOAD, AOUT_SIZE), img, AOUT_SIZE);
	assert_true(ram_is_zero(&f->mem, AOUT_LOAD + AOUT_SIZE, AOUT_BSS_END - AOUT_LOAD - AOUT_SIZE));
	assert_true(ram_is_zero(&f->mem, 0x100000, AOUT_LOAD - 0x100000));
	assert_string_equal(string_at(f, test_get32(info_get(f) + MI_CMDLINE)), KERNEL_NAME " a b");
	/* The module stays clear of the bss the header reserves. */
	mod = gpa(&f->mem, test_get32(info_get(f) + MI_MODS_ADDR), 16);
	assert_true(test_get32(mod) >= AOUT_BSS_END);
	free(img);
}

static void test_aout_kludge_load_offset_and_whole_file(void **state)
{
	struct fixture *f = *state;
	size_t size;
	uint8_t *img = aout_build(&size);

	/* Load from file offset 0x20 (header_addr - load_addr = 0x20), to the
	 * end of the file (load_end_addr 0), no bss. */
	kludge_put(img, AOUT_HDR, AOUT_LOAD + 0x20, AOUT_LOAD, 0, 0, AOUT_LOAD + 0x10);
	assert_int_equal(mb_load(f, img, size, NULL, 0, ""), 0);
	assert_memory_equal(gpa(&f->mem, AOUT_LOAD, AOUT_SIZE - 0x20), img + 0x20, AOUT_SIZE - 0x20);
	assert_true(ram_is_zero(&f->mem, AOUT_LOAD + AOUT_SIZE - 0x20, 0x1000));
	assert_int_equal(f->entry.rip, AOUT_LOAD + 0x10);
	free(img);
}

static void test_aout_kludge_in_elf_files(void **state)
{
	struct fixture *f = *state;
	size_t size, off;
	uint8_t *img;
	uint32_t seg_off;

	/* An ELF64 (which multiboot cannot load as ELF) with the kludge: the
	 * header's addresses win, as the spec says. Load the segment's file
	 * bytes at 4 MiB. */
	test_elf_defaults64(&f->spec);
	img = test_elf_build(&f->spec, &size);
	seg_off = (uint32_t)test_elf_segment_data_offset(&f->spec, img, 0);
	off = seg_off + 0x20;
	header_put(img, off, AOUT_KLUDGE);
	kludge_put(img, off, 0x400020, 0x400000, 0x401000, 0x402000, 0x400100);
	assert_int_equal(mb_load(f, img, size, NULL, 0, ""), 0);
	assert_int_equal(f->entry.protocol, BOOT_PROTOCOL_MULTIBOOT);
	assert_int_equal(f->entry.rip, 0x400100);
	assert_memory_equal(gpa(&f->mem, 0x400000, 0x1000), img + seg_off, 0x1000);
	/* The ELF's own segment address (16 MiB) was not used. */
	assert_true(ram_is_zero(&f->mem, 0x1000000, 0x1000));

	/* Not even a valid ELF (e_type ET_DYN): the kludge still loads it. */
	ram_clear(&f->mem);
	test_put16(img + offsetof(Elf64_Ehdr, e_type), ET_DYN);
	assert_int_equal(mb_load(f, img, size, NULL, 0, ""), 0);
	assert_int_equal(f->entry.rip, 0x400100);

	/* Without the kludge the ELF error is the one reported. */
	ram_clear(&f->mem);
	header_put(img, off, 0);
	assert_int_equal(mb_load(f, img, size, NULL, 0, ""), -ENOEXEC);
	assert_non_null(strstr(f->err, "ET_EXEC"));
	free(img);
}

static void test_pvh_note_wins_over_multiboot(void **state)
{
	struct fixture *f = *state;

	f->spec.pvh_note = true;
	f->spec.pvh_entry = 0x100000;
	assert_int_equal(load_elf(f, 0x3), 0);
	assert_int_equal(f->entry.protocol, BOOT_PROTOCOL_PVH);
	assert_int_equal(f->entry.rax, 0);
}

static void test_multiboot_wins_over_bzimage(void **state)
{
	struct fixture *f = *state;
	struct test_bzimage spec;
	size_t size;
	uint8_t *img;

	test_bzimage_defaults(&spec);
	img = test_bzimage_build(&spec, &size);
	header_put(img, 0x1000, AOUT_KLUDGE);
	kludge_put(img, 0x1000, 0x300000, 0x300000, 0x301000, 0, 0x300010);
	assert_int_equal(mb_load(f, img, size, NULL, 0, ""), 0);
	assert_int_equal(f->entry.protocol, BOOT_PROTOCOL_MULTIBOOT);
	assert_int_equal(f->entry.rip, 0x300010);
	free(img);
}

static void test_header_search_window(void **state)
{
	struct fixture *f = *state;
	const size_t size = 0x4000;
	uint8_t *img = calloc(1, size);

	assert_non_null(img);
	/* At the last aligned slot whose 32 bytes fit in 8 KiB: found. */
	header_put(img, 8192 - 32, AOUT_KLUDGE);
	kludge_put(img, 8192 - 32, 0x100000 + 8192 - 32, 0x100000, 0, 0, 0x100000);
	assert_int_equal(mb_load(f, img, size, NULL, 0, ""), 0);
	assert_int_equal(f->entry.protocol, BOOT_PROTOCOL_MULTIBOOT);

	/* 8 KiB and beyond: not a multiboot image at all. */
	ram_clear(&f->mem);
	memset(img, 0, size);
	header_put(img, 8192, 0);
	assert_int_equal(mb_load(f, img, size, NULL, 0, ""), -ENOEXEC);
	assert_non_null(strstr(f->err, "unrecognised"));

	/* Not 4-byte aligned: not a header. */
	memset(img, 0, size);
	header_put(img, 0x102, 0);
	assert_int_equal(mb_load(f, img, size, NULL, 0, ""), -ENOEXEC);
	assert_non_null(strstr(f->err, "unrecognised"));

	/* Straddling the 8 KiB limit: refused. */
	memset(img, 0, size);
	header_put(img, 8192 - 8, 0);
	assert_int_equal(mb_load(f, img, size, NULL, 0, ""), -ENOEXEC);
	assert_non_null(strstr(f->err, "8 KiB"));

	/* Address fields cut off by the 8 KiB limit. */
	memset(img, 0, size);
	header_put(img, 8192 - 16, AOUT_KLUDGE);
	assert_int_equal(mb_load(f, img, size, NULL, 0, ""), -ENOEXEC);
	assert_non_null(strstr(f->err, "address fields"));
	assert_true(ram_is_zero(&f->mem, 0, 2 << 20));
	free(img);
}

static void test_header_beyond_end_of_file(void **state)
{
	struct fixture *f = *state;
	size_t size;
	uint8_t *img = aout_build(&size);

	/* The magic in the last 8 bytes of a short file. */
	header_put(img, 0x800, 0);
	test_put32(img + AOUT_HDR, 0);
	assert_int_equal(mb_load(f, img, 0x808, NULL, 0, ""), -ENOEXEC);
	assert_non_null(strstr(f->err, "end of the file"));

	/* Kludge fields cut off by the end of the file. */
	free(img);
	img = aout_build(&size);
	assert_int_equal(mb_load(f, img, AOUT_HDR + 20, NULL, 0, ""), -ENOEXEC);
	assert_non_null(strstr(f->err, "address fields"));
	assert_true(ram_is_zero(&f->mem, 0, 2 << 20));
	free(img);
}

static void test_bad_checksum(void **state)
{
	struct fixture *f = *state;
	size_t size, off;
	uint8_t *img = elf_build(f, 0x3, &size, &off);

	test_put32(img + off + MH_CHECKSUM, test_get32(img + off + MH_CHECKSUM) + 1);
	assert_int_equal(mb_load(f, img, size, NULL, 0, ""), -ENOEXEC);
	assert_non_null(strstr(f->err, "checksum"));
	assert_true(ram_is_zero(&f->mem, 0, 2 << 20));

	/* A stray magic before a good header does not hide it. */
	header_put(img, off + 0x40, 0x3);
	assert_int_equal(mb_load(f, img, size, NULL, 0, ""), 0);
	assert_int_equal(f->entry.protocol, BOOT_PROTOCOL_MULTIBOOT);
	free(img);
}

static void test_required_flags(void **state)
{
	struct fixture *f = *state;
	const uint32_t unknown[] = { 1u << 3, 1u << 8, 1u << 15, 0x7 | (1u << 4) };
	const uint32_t accepted[] = { 0, 0x1, 0x2, 0x4, 0x7, 1u << 17, 0xfffe0007u };

	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		assert_int_equal(load_elf(f, unknown[i]), -ENOEXEC);
		assert_non_null(strstr(f->err, "flags"));
		assert_true(ram_is_zero(&f->mem, 0, 2 << 20));
	}
	for (size_t i = 0; i < sizeof(accepted) / sizeof(accepted[0]); i++) {
		ram_clear(&f->mem);
		assert_int_equal(load_elf(f, accepted[i]), 0);
		assert_int_equal(f->entry.protocol, BOOT_PROTOCOL_MULTIBOOT);
	}
}

/* One malformed a.out-kludge header and a word its refusal must name. */
struct bad_kludge {
	uint32_t header_addr, load_addr, load_end, bss_end, entry;
	int ret;
	const char *word;
};

static void test_refuses_bad_kludge_addresses(void **state)
{
	struct fixture *f = *state;
	const uint32_t h = AOUT_LOAD + AOUT_HDR, l = AOUT_LOAD, e = AOUT_LOAD + AOUT_SIZE;
	const struct bad_kludge cases[] = {
		/* load_addr above header_addr */
		{ l - 1, l, e, 0, AOUT_ENTRY, -ENOEXEC, "above header_addr" },
		/* loading would start before the file */
		{ h + 0x100, l, e, 0, AOUT_ENTRY, -ENOEXEC, "file offset" },
		/* load_end_addr below load_addr */
		{ h, l, l - 0x1000, 0, AOUT_ENTRY, -ENOEXEC, "load_end_addr" },
		/* more data than the file holds */
		{ h, l, e + 1, 0, AOUT_ENTRY, -ENOEXEC, "beyond" },
		/* bss ending inside the data */
		{ h, l, e, e - 4, AOUT_ENTRY, -ENOEXEC, "bss_end_addr" },
		/* below 1 MiB */
		{ 0x80000 + AOUT_HDR, 0x80000, 0x80000 + AOUT_SIZE, 0, 0x80000, -ENOEXEC, "1 MiB" },
		/* bss beyond the end of RAM, and a wrapped-looking 32-bit range */
		{ h, l, e, (uint32_t)TEST_RAM + 0x1000, AOUT_ENTRY, -ENOMEM, "RAM" },
		{ 0xfffff040, 0xfffff000, 0, 0, 0xfffff000, -ENOMEM, "RAM" },
		/* entry before the image, in the bss, past it */
		{ h, l, e, AOUT_BSS_END, l - 1, -ENOEXEC, "entry_addr" },
		{ h, l, e, AOUT_BSS_END, e + 0x10, -ENOEXEC, "entry_addr" },
		{ h, l, e, AOUT_BSS_END, AOUT_BSS_END, -ENOEXEC, "entry_addr" },
	};
	size_t size;
	uint8_t *img = aout_build(&size);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct bad_kludge *c = &cases[i];

		kludge_put(img, AOUT_HDR, c->header_addr, c->load_addr, c->load_end, c->bss_end,
			   c->entry);
		assert_int_equal(mb_load(f, img, size, NULL, 0, ""), c->ret);
		if (!strstr(f->err, c->word))
			fail_msg("case %zu: \"%s\" does not name \"%s\"", i, f->err, c->word);
		assert_true(ram_is_zero(&f->mem, 0, 4 << 20));
	}
	free(img);
}

static void test_refuses_bad_elf_images(void **state)
{
	struct fixture *f = *state;
	size_t size;
	uint8_t *img;

	/* ELF64 without the kludge */
	test_elf_defaults64(&f->spec);
	assert_int_equal(load_elf(f, 0), -ENOEXEC);
	assert_non_null(strstr(f->err, "ELF32"));

	/* Not ELF and no kludge */
	img = aout_build(&size);
	header_put(img, AOUT_HDR, 0x3);
	assert_int_equal(mb_load(f, img, size, NULL, 0, ""), -ENOEXEC);
	assert_non_null(strstr(f->err, "a.out kludge"));
	free(img);

	/* Entry in no segment */
	test_elf_defaults_pvh32(&f->spec);
	f->spec.pvh_note = false;
	f->spec.entry = 0x300000;
	assert_int_equal(load_elf(f, 0), -ENOEXEC);
	assert_non_null(strstr(f->err, "e_entry"));

	/* Overlapping segments */
	test_elf_defaults_pvh32(&f->spec);
	f->spec.pvh_note = false;
	f->spec.nr_segments = 2;
	f->spec.segments[1] = f->spec.segments[0];
	f->spec.segments[1].paddr += 0x1000;
	assert_int_equal(load_elf(f, 0), -ENOEXEC);
	assert_non_null(strstr(f->err, "overlap"));

	/* A segment below 1 MiB, and one beyond RAM */
	test_elf_defaults_pvh32(&f->spec);
	f->spec.pvh_note = false;
	f->spec.segments[0].paddr = 0x8000;
	assert_int_equal(load_elf(f, 0), -ENOEXEC);
	assert_non_null(strstr(f->err, "1 MiB"));
	f->spec.segments[0].paddr = TEST_RAM - 0x1000;
	assert_int_equal(load_elf(f, 0), -ENOMEM);
	assert_true(ram_is_zero(&f->mem, 0, 2 << 20));
}

static void test_refuses_bad_configuration(void **state)
{
	struct fixture *f = *state;
	const size_t cmd_len = LAYOUT_CMDLINE_MAX - 3;
	char *cmdline = malloc(cmd_len + 1);
	size_t size;
	uint8_t *img = elf_build(f, 0, &size, NULL);

	assert_non_null(cmdline);
	/* Fits alone, not behind "/k ": refused with the length. */
	memset(cmdline, 'c', cmd_len);
	cmdline[cmd_len] = '\0';
	f->kernel_name = "/k";
	assert_int_equal(mb_load(f, img, size, NULL, 0, cmdline), -E2BIG);
	assert_non_null(strstr(f->err, "65535"));
	/* One byte shorter fits exactly. */
	cmdline[cmd_len - 1] = '\0';
	assert_int_equal(mb_load(f, img, size, NULL, 0, cmdline), 0);
	assert_int_equal(strlen(string_at(f, LAYOUT_CMDLINE)), LAYOUT_CMDLINE_MAX - 1);

	/* No kernel name to put first. */
	ram_clear(&f->mem);
	f->kernel_name = NULL;
	assert_int_equal(mb_load(f, img, size, NULL, 0, ""), -EINVAL);
	assert_non_null(strstr(f->err, "kernel name"));
	assert_true(ram_is_zero(&f->mem, 0, 2 << 20));
	free(img);
	free(cmdline);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_elf32_boot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cmdline_is_kernel_path_alone_when_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memory_sizes_follow_ram, setup, teardown),
		cmocka_unit_test_setup_teardown(test_virtual_entry_is_translated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_initrd_is_module_zero, setup, teardown),
		cmocka_unit_test_setup_teardown(test_initrd_that_does_not_fit_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_aout_kludge_boot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_aout_kludge_load_offset_and_whole_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_aout_kludge_in_elf_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pvh_note_wins_over_multiboot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_multiboot_wins_over_bzimage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_header_search_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_header_beyond_end_of_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_checksum, setup, teardown),
		cmocka_unit_test_setup_teardown(test_required_flags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_bad_kludge_addresses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_bad_elf_images, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_bad_configuration, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
