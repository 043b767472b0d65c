#include "image_builder.h"

#include <elf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

void test_put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
void test_put32(uint8_t *p, uint32_t v) { test_put16(p, (uint16_t)v); test_put16(p + 2, (uint16_t)(v >> 16)); }
void test_put64(uint8_t *p, uint64_t v) { test_put32(p, (uint32_t)v); test_put32(p + 4, (uint32_t)(v >> 32)); }
uint16_t test_get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
uint32_t test_get32(const uint8_t *p) { return test_get16(p) | (uint32_t)test_get16(p + 2) << 16; }
uint64_t test_get64(const uint8_t *p) { return test_get32(p) | (uint64_t)test_get32(p + 4) << 32; }

void test_assert_one_line(const char *err)
{
	assert_non_null(err);
	assert_true(strlen(err) > 0);
	assert_true(strlen(err) < BOOT_ERROR_MAX);
	assert_null(strchr(err, '\n'));
	assert_null(strchr(err, '\r'));
}

/* ---- bzImage ---- */

void test_bzimage_defaults(struct test_bzimage *spec)
{
	*spec = (struct test_bzimage){
		.setup_sects = 27,
		.version = 0x020f,
		.loadflags = 0x01,              /* LOADED_HIGH */
		.xloadflags = 0x03,             /* XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G */
		.relocatable_kernel = 1,
		.kernel_alignment = 0x200000,
		.cmdline_size = 2047,
		.initrd_addr_max = 0x7fffffff,
		.init_size = 0x800000,
		.pref_address = 0x1000000,
		.header_len = 0x6a,             /* header ends at 0x26c (protocol 2.15) */
		.payload_size = 64 * 1024,
	};
}

size_t test_bzimage_setup_size(const struct test_bzimage *spec)
{
	return (size_t)((spec->setup_sects ? spec->setup_sects : 4) + 1) * 512;
}

uint8_t *test_bzimage_build(const struct test_bzimage *spec, size_t *size)
{
	size_t setup = test_bzimage_setup_size(spec);
	size_t total = setup + spec->payload_size;
	uint8_t *img = malloc(total);

	assert_non_null(img);
	for (size_t i = 0; i < total; i++)
		img[i] = test_pattern(i);
	img[0x1f1] = spec->setup_sects;
	test_put32(img + 0x1f4, (uint32_t)(spec->payload_size / 16 + (spec->syssize_too_big ? 1 : 0)));
	test_put16(img + 0x1fe, 0xaa55);
	img[0x200] = 0xeb;
	img[0x201] = spec->header_len;
	memcpy(img + 0x202, "HdrS", 4);
	test_put16(img + 0x206, spec->version);
	img[0x210] = 0;                          /* type_of_loader */
	img[0x211] = spec->loadflags;
	test_put32(img + 0x214, 0x100000);       /* code32_start */
	test_put32(img + 0x218, 0);              /* ramdisk_image */
	test_put32(img + 0x21c, 0);              /* ramdisk_size */
	test_put16(img + 0x224, 0);              /* heap_end_ptr */
	test_put32(img + 0x228, 0);              /* cmd_line_ptr */
	test_put32(img + 0x22c, spec->initrd_addr_max);
	test_put32(img + 0x230, spec->kernel_alignment);
	img[0x234] = spec->relocatable_kernel;
	img[0x235] = 21;                         /* min_alignment */
	test_put16(img + 0x236, spec->xloadflags);
	test_put32(img + 0x238, spec->cmdline_size);
	test_put32(img + 0x23c, 0);              /* hardware_subarch */
	test_put64(img + 0x250, 0);              /* setup_data */
	test_put64(img + 0x258, spec->pref_address);
	test_put32(img + 0x260, spec->init_size);
	*size = total;
	return img;
}

/* ---- ELF ---- */

void test_elf_defaults64(struct test_elf *spec)
{
	*spec = (struct test_elf){
		.bits = 64,
		.entry = 0x1000000,
		.nr_segments = 2,
		.segments = {
			{ .type = PT_LOAD, .paddr = 0x1000000, .vaddr = 0xffffffff81000000ULL,
			  .filesz = 0x3000, .memsz = 0x3000, .align = 0x200000 },
			{ .type = PT_LOAD, .paddr = 0x1200000, .vaddr = 0xffffffff81200000ULL,
			  .filesz = 0x1800, .memsz = 0x5000, .align = 0x200000 },
		},
	};
}

void test_elf_defaults_pvh32(struct test_elf *spec)
{
	*spec = (struct test_elf){
		.bits = 32,
		.entry = 0x100000,
		.nr_segments = 1,
		.segments = {
			{ .type = PT_LOAD, .paddr = 0x100000, .vaddr = 0x100000,
			  .filesz = 0x2000, .memsz = 0x4000, .align = 0x1000 },
		},
		.pvh_note = true,
		.pvh_descsz = 4,
		.pvh_entry = 0x100000,
		.pvh_note_align = 4,
	};
}

static size_t ehdr_size(const struct test_elf *spec)
{
	return spec->bits == 64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
}

static size_t phdr_size(const struct test_elf *spec)
{
	return spec->bits == 64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
}

size_t test_elf_phdr_offset(const struct test_elf *spec, unsigned index)
{
	return ehdr_size(spec) + index * phdr_size(spec);
}

static size_t align_up(size_t v, size_t a)
{
	return (v + a - 1) / a * a;
}

/* Notes: a "GNU" note (type 1, 4-byte desc) then the "Xen" PHYS32_ENTRY
 * note, laid out with the gABI rule (name and desc on align boundaries). */
static size_t notes_write(const struct test_elf *spec, uint8_t *out)
{
	size_t a = spec->pvh_note_align ? spec->pvh_note_align : 4;
	size_t pos = 0;

	if (out) {
		test_put32(out + 0, 4);
		test_put32(out + 4, 4);
		test_put32(out + 8, 1);
		memcpy(out + 12, "GNU", 4);
	}
	pos = align_up(align_up(12 + 4, a) + 4, a);
	if (out) {
		test_put32(out + pos, 4);
		test_put32(out + pos + 4, spec->pvh_descsz);
		test_put32(out + pos + 8, 18);
		memcpy(out + pos + 12, "Xen", 4);
	}
	{
		size_t desc = align_up(pos + 12 + 4, a);

		if (out) {
			uint8_t value[8];

			test_put64(value, spec->pvh_entry);
			memcpy(out + desc, value, spec->pvh_descsz < 8 ? spec->pvh_descsz : 8);
		}
		return align_up(desc + spec->pvh_descsz, a);
	}
}

static void phdr_write(const struct test_elf *spec, uint8_t *p, uint32_t type, uint64_t offset,
		       uint64_t vaddr, uint64_t paddr, uint64_t filesz, uint64_t memsz, uint64_t align)
{
	if (spec->bits == 64) {
		Elf64_Phdr ph = { .p_type = type, .p_flags = PF_R | PF_X, .p_offset = offset,
				  .p_vaddr = vaddr, .p_paddr = paddr, .p_filesz = filesz,
				  .p_memsz = memsz, .p_align = align };
		memcpy(p, &ph, sizeof(ph));
	} else {
		Elf32_Phdr ph = { .p_type = type, .p_flags = PF_R | PF_X, .p_offset = (uint32_t)offset,
				  .p_vaddr = (uint32_t)vaddr, .p_paddr = (uint32_t)paddr,
				  .p_filesz = (uint32_t)filesz, .p_memsz = (uint32_t)memsz,
				  .p_align = (uint32_t)align };
		memcpy(p, &ph, sizeof(ph));
	}
}

uint8_t *test_elf_build(const struct test_elf *spec, size_t *size)
{
	unsigned nr_phdrs = spec->nr_segments + (spec->pvh_note ? 1 : 0);
	uint64_t offsets[TEST_ELF_MAX_SEGMENTS];
	size_t pos = align_up(test_elf_phdr_offset(spec, nr_phdrs), 0x1000);
	size_t note_offset = 0, note_size = 0, total;
	uint8_t *img;

	for (unsigned i = 0; i < spec->nr_segments; i++) {
		const struct test_segment *s = &spec->segments[i];

		if (s->offset) {
			offsets[i] = s->offset;
			continue;
		}
		offsets[i] = pos;
		pos = align_up(pos + s->filesz, 0x1000);
	}
	if (spec->pvh_note) {
		note_offset = pos;
		note_size = notes_write(spec, NULL);
		pos += note_size;
	}
	total = pos;
	img = calloc(1, total);
	assert_non_null(img);
	for (size_t i = 0; i < total; i++)
		img[i] = test_pattern(i);
	memset(img, 0, test_elf_phdr_offset(spec, nr_phdrs));

	memcpy(img, ELFMAG, SELFMAG);
	img[EI_CLASS] = spec->bits == 64 ? ELFCLASS64 : ELFCLASS32;
	img[EI_DATA] = ELFDATA2LSB;
	img[EI_VERSION] = EV_CURRENT;
	if (spec->bits == 64) {
		Elf64_Ehdr eh;

		memcpy(&eh, img, EI_NIDENT);
		eh.e_type = ET_EXEC;
		eh.e_machine = EM_X86_64;
		eh.e_version = EV_CURRENT;
		eh.e_entry = spec->entry;
		eh.e_phoff = sizeof(Elf64_Ehdr);
		eh.e_shoff = 0;
		eh.e_flags = 0;
		eh.e_ehsize = sizeof(Elf64_Ehdr);
		eh.e_phentsize = sizeof(Elf64_Phdr);
		eh.e_phnum = (uint16_t)nr_phdrs;
		eh.e_shentsize = sizeof(Elf64_Shdr);
		eh.e_shnum = 0;
		eh.e_shstrndx = 0;
		memcpy(img, &eh, sizeof(eh));
	} else {
		Elf32_Ehdr eh;

		memcpy(&eh, img, EI_NIDENT);
		eh.e_type = ET_EXEC;
		eh.e_machine = EM_386;
		eh.e_version = EV_CURRENT;
		eh.e_entry = (uint32_t)spec->entry;
		eh.e_phoff = sizeof(Elf32_Ehdr);
		eh.e_shoff = 0;
		eh.e_flags = 0;
		eh.e_ehsize = sizeof(Elf32_Ehdr);
		eh.e_phentsize = sizeof(Elf32_Phdr);
		eh.e_phnum = (uint16_t)nr_phdrs;
		eh.e_shentsize = sizeof(Elf32_Shdr);
		eh.e_shnum = 0;
		eh.e_shstrndx = 0;
		memcpy(img, &eh, sizeof(eh));
	}
	for (unsigned i = 0; i < spec->nr_segments; i++) {
		const struct test_segment *s = &spec->segments[i];

		phdr_write(spec, img + test_elf_phdr_offset(spec, i), s->type, offsets[i],
			   s->vaddr, s->paddr, s->filesz, s->memsz, s->align);
	}
	if (spec->pvh_note) {
		size_t a = spec->pvh_note_align ? spec->pvh_note_align : 4;

		memset(img + note_offset, 0, note_size);
		notes_write(spec, img + note_offset);
		phdr_write(spec, img + test_elf_phdr_offset(spec, spec->nr_segments), PT_NOTE,
			   note_offset, 0, 0, note_size, 0, a);
	}
	*size = total;
	return img;
}

size_t test_elf_segment_data_offset(const struct test_elf *spec, const uint8_t *image,
				    unsigned index)
{
	const uint8_t *ph = image + test_elf_phdr_offset(spec, index);

	if (spec->bits == 64)
		return (size_t)test_get64(ph + offsetof(Elf64_Phdr, p_offset));
	return test_get32(ph + offsetof(Elf32_Phdr, p_offset));
}
