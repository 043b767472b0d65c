/* Pieces shared by the boot loaders (internal to src/boot/).
 *
 * Every loader validates the whole image before it writes guest memory it
 * cannot take back, and reports a refusal as one line in `err`. */
#ifndef KVMRUN_BOOT_LOADER_H
#define KVMRUN_BOOT_LOADER_H

#include <stdbool.h>
#include <stdint.h>

#include "boot/boot.h"
#include "boot/elf.h"
#include "boot/multiboot.h"
#include "memory.h"

#define BOOT_PAGE_SIZE 4096ULL

/* Format a one-line reason into `err` and return `ret` (a negative errno),
 * so call sites read `return boot_fail(err, -ENOEXEC, "...", ...);`. */
int boot_fail(char err[BOOT_ERROR_MAX], int ret, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Copy the NUL-terminated command line to LAYOUT_CMDLINE. `max_len` is the
 * longest string (without NUL) the kernel accepts; longer is refused with
 * both lengths named. */
int cmdline_write(struct guest_memory *mem, const char *cmdline, uint64_t max_len,
		  const char *limit_name, char err[BOOT_ERROR_MAX]);

/* Place `size` bytes at the highest page-aligned address `addr` with
 * floor <= addr and addr + size <= ceiling. Returns 0, or -ENOMEM if the
 * window is too small (no message: the caller knows what the window was). */
int initrd_place(uint64_t size, uint64_t floor, uint64_t ceiling, uint64_t *addr);

/* For the protocols that pass the initrd by address (PVH, Multiboot): the
 * highest page-aligned spot in RAM below the hole above the image
 * [image->start, image->end) if it fits there, else between 1 MiB and the
 * image. Returns 0 or -ENOMEM. */
int initrd_place_around(const struct guest_memory *mem, uint64_t size,
			const struct elf_extent *image, uint64_t *addr);

/* What the Linux 64-bit boot needs to know about a kernel image. */
struct linux64_kernel {
	uint64_t entry;           /* physical address of the 64-bit entry point */
	uint64_t end;             /* end of the memory the kernel claims before it reads e820 */
	uint64_t initrd_ceiling;  /* initrd_addr_max + 1: the initrd must end at or below */
	uint64_t cmdline_size;    /* longest command line the kernel takes (without NUL) */
};

/* Finish a Linux 64-bit boot around a kernel whose placement is known:
 * place the initrd, write the command line, complete the zero page whose
 * setup header the caller filled (type_of_loader, loadflags, cmd_line_ptr,
 * ramdisk_*, e820 table) and write it at LAYOUT_ZERO_PAGE, write the boot
 * GDT and the identity page tables, and fill `entry`. Refuses (before any
 * write) a command line or initrd that does not fit. Does not copy the
 * kernel itself. */
int linux64_boot(struct guest_memory *mem, const struct boot_config *cfg,
		 uint8_t *zero_page, const struct linux64_kernel *kernel,
		 struct boot_entry *entry, char err[BOOT_ERROR_MAX]);

/* The loaders proper, called by boot_load() once the image type is known. */
bool bzimage_probe(const uint8_t *image, size_t size);
int bzimage_load(struct guest_memory *mem, const struct boot_config *cfg,
		 struct boot_entry *entry, char err[BOOT_ERROR_MAX]);
int vmlinux_load(struct guest_memory *mem, const struct boot_config *cfg,
		 const struct elf_image *elf, struct boot_entry *entry,
		 char err[BOOT_ERROR_MAX]);
int pvh_load(struct guest_memory *mem, const struct boot_config *cfg,
	     const struct elf_image *elf, uint64_t pvh_entry, struct boot_entry *entry,
	     char err[BOOT_ERROR_MAX]);
/* `elf` is the parsed image, or NULL if it is not a valid ELF (enough for
 * the a.out kludge, which loads by the header's addresses). */
int multiboot_load(struct guest_memory *mem, const struct boot_config *cfg,
		   const struct multiboot_header *hdr, const struct elf_image *elf,
		   struct boot_entry *entry, char err[BOOT_ERROR_MAX]);

#endif
