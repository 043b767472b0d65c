/* Multiboot v1 (Multiboot Specification 0.6.96): the header a kernel carries
 * in its first 8 KiB (§3.1) and the boot information the loader passes in
 * %ebx (§3.3). All fields are little-endian; the layouts below have no
 * padding on x86. */
#ifndef KVMRUN_BOOT_MULTIBOOT_H
#define KVMRUN_BOOT_MULTIBOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boot/boot.h"

/* §3.1.1: the header lies completely inside the first 8192 bytes of the
 * image, 32-bit aligned. */
#define MULTIBOOT_SEARCH        8192
#define MULTIBOOT_HEADER_ALIGN  4
#define MULTIBOOT_HEADER_MAGIC  0x1BADB002u
/* §3.2: what %eax holds at entry. */
#define MULTIBOOT_BOOTLOADER_MAGIC 0x2BADB002u

/* Header flags (§3.1.2). Bits 0-15 are requirements: a loader that does
 * not understand one must refuse the image. Bits 16-31 are optional
 * features. */
#define MULTIBOOT_FLAG_PAGE_ALIGN  (1u << 0)   /* modules on 4 KiB boundaries */
#define MULTIBOOT_FLAG_MEMORY_INFO (1u << 1)   /* mem_* and mmap_* wanted */
#define MULTIBOOT_FLAG_VIDEO_MODE  (1u << 2)   /* video mode table wanted */
#define MULTIBOOT_FLAG_AOUT_KLUDGE (1u << 16)  /* load by the address fields */
/* The requirement bits we know: 0 and 1 we honour, 2 (a video mode) we
 * ignore, which the spec allows since the mode is a preference (§3.1.4). */
#define MULTIBOOT_FLAGS_KNOWN_REQUIRED 0x7u
#define MULTIBOOT_FLAGS_REQUIRED_MASK  0xffffu

/* Header sizes: magic, flags, checksum; then the address fields (§3.1.3). */
#define MULTIBOOT_HEADER_SIZE        12
#define MULTIBOOT_HEADER_SIZE_KLUDGE 32

/* The header as found in an image (the file offset, then the fields). */
struct multiboot_header {
	size_t offset;            /* file offset of the magic */
	uint32_t flags;
	uint32_t header_addr;     /* only with MULTIBOOT_FLAG_AOUT_KLUDGE: */
	uint32_t load_addr;
	uint32_t load_end_addr;   /* 0: load to the end of the file */
	uint32_t bss_end_addr;    /* 0: no bss */
	uint32_t entry_addr;
};

/* Boot information flags (§3.3): which fields of the info are valid. */
#define MULTIBOOT_INFO_MEMORY      (1u << 0)
#define MULTIBOOT_INFO_CMDLINE     (1u << 2)
#define MULTIBOOT_INFO_MODS        (1u << 3)
#define MULTIBOOT_INFO_MEM_MAP     (1u << 6)
#define MULTIBOOT_INFO_LOADER_NAME (1u << 9)

/* The Multiboot information structure, up to the framebuffer fields. */
struct multiboot_info {
	uint32_t flags;
	uint32_t mem_lower;          /* KiB of RAM from 0, at most 640 */
	uint32_t mem_upper;          /* KiB of RAM from 1 MiB to the first hole */
	uint32_t boot_device;
	uint32_t cmdline;
	uint32_t mods_count;
	uint32_t mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length;        /* bytes of mmap entries */
	uint32_t mmap_addr;
	uint32_t drives_length;
	uint32_t drives_addr;
	uint32_t config_table;
	uint32_t boot_loader_name;
	uint32_t apm_table;
	uint32_t vbe_control_info;
	uint32_t vbe_mode_info;
	uint16_t vbe_mode;
	uint16_t vbe_interface_seg;
	uint16_t vbe_interface_off;
	uint16_t vbe_interface_len;
	uint64_t framebuffer_addr;
	uint32_t framebuffer_pitch;
	uint32_t framebuffer_width;
	uint32_t framebuffer_height;
	uint8_t framebuffer_bpp;
	uint8_t framebuffer_type;
	uint8_t color_info[6];
} __attribute__((packed));

/* A memory map entry: `size` counts the bytes after itself (20 here), so a
 * guest steps by size + 4. The type values are the e820 ones. */
struct multiboot_mmap_entry {
	uint32_t size;
	uint64_t base_addr;
	uint64_t length;
	uint32_t type;
} __attribute__((packed));

/* A module: [mod_start, mod_end) and the physical address of its string. */
struct multiboot_module {
	uint32_t mod_start;
	uint32_t mod_end;
	uint32_t string;
	uint32_t reserved;
};

_Static_assert(sizeof(struct multiboot_info) == 116, "multiboot_info is 116 bytes");
_Static_assert(sizeof(struct multiboot_mmap_entry) == 24, "mmap entry is 24 bytes");
_Static_assert(sizeof(struct multiboot_module) == 16, "module entry is 16 bytes");

/* What kvmrun puts in boot_loader_name, and as module 0's string. */
#define MULTIBOOT_LOADER_NAME   "kvmrun"
#define MULTIBOOT_INITRD_STRING "initrd"

/* Look for a Multiboot header: the first 4-byte aligned magic in the first
 * 8 KiB whose checksum holds. Sets *found and fills `hdr`. A header that
 * is cut off by the end of the file or the 8 KiB, asks for a requirement
 * we do not know (flags bits 3-15), or a magic with a bad checksum and no
 * good header after it, is refused with -ENOEXEC. */
int multiboot_probe(const uint8_t *image, size_t size, bool *found,
		    struct multiboot_header *hdr, char err[BOOT_ERROR_MAX]);

#endif
