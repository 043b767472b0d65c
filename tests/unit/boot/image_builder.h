/* Synthetic kernel images for the boot loader tests: bzImages and ELF32/64
 * executables built in memory from a small description, so every field a
 * loader checks can be set to a good or a hostile value. */
#ifndef KVMRUN_TESTS_BOOT_IMAGE_BUILDER_H
#define KVMRUN_TESTS_BOOT_IMAGE_BUILDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boot/boot.h"

/* ---- bzImage ---- */

struct test_bzimage {
	uint8_t setup_sects;        /* 0 means 4, as in the protocol */
	uint16_t version;
	uint8_t loadflags;
	uint16_t xloadflags;
	uint8_t relocatable_kernel;
	uint32_t kernel_alignment;
	uint32_t cmdline_size;
	uint32_t initrd_addr_max;
	uint32_t init_size;
	uint64_t pref_address;
	uint8_t header_len;         /* byte at 0x201: header ends at 0x202 + this */
	size_t payload_size;        /* protected-mode part */
	bool syssize_too_big;       /* declare one paragraph more than the file has */
};

/* A valid 64-bit relocatable bzImage, protocol 2.15, 64 KiB payload. */
void test_bzimage_defaults(struct test_bzimage *spec);

/* Build the image (free() it). Setup bytes not otherwise defined carry a
 * pattern, so the test can see which ones were copied to the zero page. */
uint8_t *test_bzimage_build(const struct test_bzimage *spec, size_t *size);

/* Setup size in bytes for `spec` ((setup_sects or 4) + 1) * 512. */
size_t test_bzimage_setup_size(const struct test_bzimage *spec);

/* ---- ELF ---- */

#define TEST_ELF_MAX_SEGMENTS 8

struct test_segment {
	uint32_t type;              /* PT_LOAD, PT_NOTE, ... */
	uint64_t paddr;
	uint64_t vaddr;
	uint64_t filesz;            /* bytes of pattern data in the file */
	uint64_t memsz;
	uint64_t offset;            /* 0: placed by the builder */
	uint64_t align;
};

struct test_elf {
	unsigned bits;              /* 32 or 64 */
	uint64_t entry;
	unsigned nr_segments;
	struct test_segment segments[TEST_ELF_MAX_SEGMENTS];
	/* Add a PT_NOTE with a "Xen" XEN_ELFNOTE_PHYS32_ENTRY note (after a
	 * harmless "GNU" note) whose descriptor is pvh_descsz bytes of
	 * pvh_entry, padded to pvh_note_align (4 or 8). */
	bool pvh_note;
	uint32_t pvh_descsz;
	uint64_t pvh_entry;
	unsigned pvh_note_align;
};

/* A kernel-like ELF64: two PT_LOAD segments at 16 MiB (text, and data with
 * bss) with virtual addresses at 0xffffffff81000000, e_entry physical. */
void test_elf_defaults64(struct test_elf *spec);

/* A PVH ELF32: one PT_LOAD at 1 MiB with bss and the note, entry 1 MiB. */
void test_elf_defaults_pvh32(struct test_elf *spec);

uint8_t *test_elf_build(const struct test_elf *spec, size_t *size);

/* File offset of program header `index` and of the ELF header fields the
 * malformed-image tests patch. */
size_t test_elf_phdr_offset(const struct test_elf *spec, unsigned index);
size_t test_elf_segment_data_offset(const struct test_elf *spec, const uint8_t *image,
				    unsigned index);

/* The byte pattern builders put at file offset `offset`. */
static inline uint8_t test_pattern(size_t offset)
{
	return (uint8_t)(offset * 7 + 3);
}

/* Little-endian patching of built images. */
void test_put16(uint8_t *p, uint16_t v);
void test_put32(uint8_t *p, uint32_t v);
void test_put64(uint8_t *p, uint64_t v);
uint16_t test_get16(const uint8_t *p);
uint32_t test_get32(const uint8_t *p);
uint64_t test_get64(const uint8_t *p);

/* cmocka checks that a loader error is a non-empty single line. */
void test_assert_one_line(const char *err);

#endif
