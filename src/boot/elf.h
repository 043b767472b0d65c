/* ELF images as the loaders see them: the header and program headers of an
 * ELF32 or ELF64 x86 executable, validated against the file and normalised
 * to one 64-bit form. The file is hostile: nothing here reads a byte that
 * was not bounds-checked first. */
#ifndef KVMRUN_BOOT_ELF_H
#define KVMRUN_BOOT_ELF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boot/boot.h"
#include "memory.h"

/* Linux's vmlinux has about five program headers; a few hundred is already
 * absurd and keeps the pairwise overlap check cheap. */
#define ELF_MAX_PHDRS 256

/* XEN_ELFNOTE_PHYS32_ENTRY (xen/include/public/elfnote.h): the 32-bit
 * physical address of the PVH entry point, in a note named "Xen". */
#define ELF_NOTE_XEN_PHYS32_ENTRY 18

struct elf_segment {
	uint32_t type;      /* p_type */
	uint32_t flags;     /* p_flags */
	uint64_t offset;    /* p_offset */
	uint64_t vaddr;     /* p_vaddr */
	uint64_t paddr;     /* p_paddr */
	uint64_t filesz;    /* p_filesz */
	uint64_t memsz;     /* p_memsz */
	uint64_t align;     /* p_align */
};

struct elf_image {
	const uint8_t *data;
	size_t size;
	unsigned bits;          /* 32 (ELFCLASS32) or 64 (ELFCLASS64) */
	uint16_t machine;       /* e_machine: EM_386 or EM_X86_64 */
	uint64_t entry;         /* e_entry */
	unsigned nr_segments;   /* e_phnum */
	struct elf_segment segments[ELF_MAX_PHDRS];
};

/* The physical range the PT_LOAD segments occupy, [start, end). */
struct elf_extent {
	uint64_t start;
	uint64_t end;
};

/* True if the image starts with the ELF magic (nothing else checked). */
bool elf_is_elf(const uint8_t *image, size_t size);

/* Validate the ELF header and program header table and fill `elf`.
 * Accepts little-endian ET_EXEC images: ELFCLASS64 with EM_X86_64 or
 * ELFCLASS32 with EM_386. Returns 0 or -ENOEXEC with a reason in `err`. */
int elf_parse(const uint8_t *image, size_t size, struct elf_image *elf,
	      char err[BOOT_ERROR_MAX]);

/* Look through the PT_NOTE segments for XEN_ELFNOTE_PHYS32_ENTRY. Sets
 * *found and *entry. A malformed note, a descriptor that is not 4 or 8
 * bytes, or an entry at or above 4 GiB is refused (-ENOEXEC). */
int elf_pvh_entry(const struct elf_image *elf, bool *found, uint64_t *entry,
		  char err[BOOT_ERROR_MAX]);

/* Validate every PT_LOAD segment: inside the file, p_filesz <= p_memsz, no
 * address overflow, inside RAM between 1 MiB and the device hole, no two
 * overlapping. Fills `extent`. Returns 0 or -ENOEXEC / -ENOMEM. Writes
 * nothing, so a loader can refuse the boot later without having touched
 * guest memory. */
int elf_check_segments(const struct guest_memory *mem, const struct elf_image *elf,
		       struct elf_extent *extent, char err[BOOT_ERROR_MAX]);

/* Copy the PT_LOAD segments checked by elf_check_segments() to guest memory
 * by p_paddr, zeroing p_memsz - p_filesz. Returns 0 or -EFAULT. */
int elf_copy_segments(struct guest_memory *mem, const struct elf_image *elf);

/* True if [addr, addr + len) lies inside one loaded PT_LOAD segment's
 * physical range. */
bool elf_paddr_loaded(const struct elf_image *elf, uint64_t addr, uint64_t len);

/* Translate e_entry to the physical address it is loaded at: taken as is if
 * it falls inside a PT_LOAD segment's physical range (Linux links vmlinux
 * with ENTRY(phys_startup_64)), else translated through the segment whose
 * virtual range contains it. Returns 0 or -ENOEXEC if no segment holds it. */
int elf_entry_paddr(const struct elf_image *elf, uint64_t *paddr,
		    char err[BOOT_ERROR_MAX]);

#endif
