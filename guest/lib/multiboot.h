/* Multiboot v1 boot information (Multiboot Specification 0.6.96 §3.3), for
 * images built with -DGUEST_MULTIBOOT. startinfo_init() calls
 * multiboot_init() when the boot loader magic was in EAX; the library
 * copies what it needs at entry, as for PVH, because the loader's low
 * pages may be reused. */
#ifndef GUEST_MULTIBOOT_H
#define GUEST_MULTIBOOT_H

#include <stdint.h>

#include "startinfo.h"

#define MULTIBOOT_BOOTLOADER_MAGIC 0x2BADB002

/* multiboot_info.flags: which fields are valid */
#define MULTIBOOT_INFO_MEMORY      (1u << 0)
#define MULTIBOOT_INFO_CMDLINE     (1u << 2)
#define MULTIBOOT_INFO_MODS        (1u << 3)
#define MULTIBOOT_INFO_MEM_MAP     (1u << 6)
#define MULTIBOOT_INFO_LOADER_NAME (1u << 9)

struct multiboot_info {
	uint32_t flags;
	uint32_t mem_lower;          /* KiB from 0 */
	uint32_t mem_upper;          /* KiB from 1 MiB to the first hole */
	uint32_t boot_device;
	uint32_t cmdline;
	uint32_t mods_count;
	uint32_t mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length;
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

/* `size` counts the bytes after itself: the next entry is size + 4 on. */
struct multiboot_mmap_entry {
	uint32_t size;
	uint64_t base_addr;
	uint64_t length;
	uint32_t type;
} __attribute__((packed));

struct multiboot_module {
	uint32_t mod_start;
	uint32_t mod_end;            /* exclusive */
	uint32_t string;
	uint32_t reserved;
};

#define MULTIBOOT_MODULES_MAX 16
#define MULTIBOOT_STRING_MAX  64

/* Copy the information at `paddr`: the structure, the command line, the
 * loader name, the module list and strings, and the memory map into
 * `memmap` (at most `max` entries; returns how many). Aborts the guest if
 * `paddr` is 0. */
unsigned multiboot_init(uint32_t paddr, struct hvm_memmap_table_entry *memmap, unsigned max);

/* The copied structure, or NULL if the guest did not boot through
 * Multiboot. Its pointer fields still hold the loader's addresses. */
const struct multiboot_info *multiboot_info(void);
/* The whole command line, "<kernel path> <arguments>" (cmdline_get()
 * returns the arguments alone); "" without MULTIBOOT_INFO_CMDLINE. */
const char *multiboot_cmdline(void);
/* boot_loader_name, or "" if not given. */
const char *multiboot_loader_name(void);
/* The module list (copied, at most MULTIBOOT_MODULES_MAX); the contents
 * stay where the loader put them. */
const struct multiboot_module *multiboot_modules(unsigned *count);
/* Module `index`'s string, or "" if it has none. */
const char *multiboot_module_string(unsigned index);

#endif
