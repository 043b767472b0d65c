/* The PVH start-of-day structures (xen/include/public/arch-x86/hvm/
 * start_info.h), which the boot vCPU finds through %ebx. All fields are
 * little-endian; the layouts below have no padding on x86. */
#ifndef KVMRUN_BOOT_PVH_H
#define KVMRUN_BOOT_PVH_H

#include <stdint.h>

#define PVH_START_MAGIC   0x336ec578u  /* XEN_HVM_START_MAGIC_VALUE, "xEn3" with 0x80 in "E" */
#define PVH_START_VERSION 1            /* version 1 adds memmap_paddr/memmap_entries */

struct pvh_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;           /* SIF_xxx; none apply to us */
	uint32_t nr_modules;
	uint64_t modlist_paddr;   /* struct pvh_modlist_entry[nr_modules] */
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;      /* 0: the guest searches for the RSDP itself */
	uint64_t memmap_paddr;    /* struct pvh_memmap_entry[memmap_entries] */
	uint32_t memmap_entries;
	uint32_t reserved;
};

struct pvh_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};

struct pvh_memmap_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;            /* XEN_HVM_MEMMAP_TYPE_*: the e820 type values */
	uint32_t reserved;
};

_Static_assert(sizeof(struct pvh_start_info) == 56, "hvm_start_info is 56 bytes");
_Static_assert(sizeof(struct pvh_modlist_entry) == 32, "hvm_modlist_entry is 32 bytes");
_Static_assert(sizeof(struct pvh_memmap_entry) == 24, "hvm_memmap_table_entry is 24 bytes");

#endif
