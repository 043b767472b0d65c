/* Start-of-day information: PVH's hvm_start_info (xen/include/public/
 * arch-x86/hvm/start_info.h) or, for images booted through Multiboot, the
 * multiboot_info (multiboot.h). Either way the library copies what it needs
 * at entry, because the memory holding the original (e.g. kvmrun's low
 * pages) may be reused, and offers the command line (libguest.h) and the
 * memory map the same way. */
#ifndef GUEST_STARTINFO_H
#define GUEST_STARTINFO_H

#include <stdint.h>

#define HVM_START_MAGIC_VALUE 0x336ec578

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;         /* 1 adds memmap_paddr / memmap_entries */
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;   /* NUL-terminated, 0 if none */
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;
	uint32_t memmap_entries;
	uint32_t reserved;
} __attribute__((packed));

struct hvm_memmap_table_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;            /* E820 types: 1 RAM, 2 reserved, 3 ACPI, 4 NVS, 5 unusable */
	uint32_t reserved;
} __attribute__((packed));

#define STARTINFO_MEMMAP_MAX 128

/* With the Multiboot boot loader magic in `boot_magic` (EAX at entry),
 * hand `paddr` to multiboot_init(); otherwise check the PVH start info's
 * magic and copy its command line and memory map. Aborts the guest with a
 * message if neither fits. */
void startinfo_init(uint32_t boot_magic, uint32_t paddr);
/* "PVH" or "multiboot". */
const char *startinfo_protocol(void);
/* The address the boot structure was at (hvm_start_info or multiboot_info). */
uint32_t startinfo_paddr(void);
/* PVH only (0 under Multiboot). */
uint32_t startinfo_version(void);
uint64_t startinfo_rsdp(void);
/* The memory map (copied; at most STARTINFO_MEMMAP_MAX entries), from
 * either protocol, in hvm_memmap_table_entry form (E820 types). */
const struct hvm_memmap_table_entry *startinfo_memmap(unsigned *count);
const char *memmap_type_name(uint32_t type);

#endif
