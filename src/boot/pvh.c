/* PVH boot (Xen docs/misc/pvh.pandoc, as implemented by Linux's
 * arch/x86/platform/pvh): the ELF image's PT_LOAD segments load at their
 * p_paddr and the vCPU starts in 32-bit protected mode without paging at
 * the XEN_ELFNOTE_PHYS32_ENTRY address, with %ebx pointing at an
 * hvm_start_info that gives the command line, the initrd (as module 0) and
 * the memory map. */
#include <errno.h>
#include <string.h>

#include "boot/gdt.h"
#include "boot/loader.h"
#include "boot/pvh.h"
#include "e820.h"
#include "layout.h"

/* start_info, then the memory map, then the module list. */
#define PVH_MEMMAP   (LAYOUT_PVH_START_INFO + sizeof(struct pvh_start_info))
#define PVH_MODLIST  (PVH_MEMMAP + E820_MAX_ENTRIES * sizeof(struct pvh_memmap_entry))

_Static_assert(PVH_MODLIST + sizeof(struct pvh_modlist_entry) <= LAYOUT_MULTIBOOT_INFO,
	       "PVH start info, memory map and module list overlap the Multiboot area");

static int start_info_write(struct guest_memory *mem, const struct boot_config *cfg,
			    uint64_t initrd_addr)
{
	struct e820_entry map[E820_MAX_ENTRIES];
	struct pvh_memmap_entry memmap[E820_MAX_ENTRIES];
	unsigned n = e820_build(mem, map);
	struct pvh_start_info info = {
		.magic = PVH_START_MAGIC,
		.version = PVH_START_VERSION,
		.cmdline_paddr = LAYOUT_CMDLINE,
		.rsdp_paddr = cfg->acpi_rsdp,
		.memmap_paddr = PVH_MEMMAP,
		.memmap_entries = n,
	};

	memset(memmap, 0, sizeof(memmap));
	for (unsigned i = 0; i < n; i++)
		memmap[i] = (struct pvh_memmap_entry){ map[i].addr, map[i].size, map[i].type, 0 };
	if (cfg->initrd_size > 0) {
		struct pvh_modlist_entry module = {
			.paddr = initrd_addr,
			.size = cfg->initrd_size,
		};

		info.nr_modules = 1;
		info.modlist_paddr = PVH_MODLIST;
		if (guest_memory_write(mem, PVH_MODLIST, &module, sizeof(module)) < 0)
			return -EFAULT;
	}
	if (guest_memory_write(mem, PVH_MEMMAP, memmap, n * sizeof(memmap[0])) < 0 ||
	    guest_memory_write(mem, LAYOUT_PVH_START_INFO, &info, sizeof(info)) < 0)
		return -EFAULT;
	return 0;
}

int pvh_load(struct guest_memory *mem, const struct boot_config *cfg,
	     const struct elf_image *elf, uint64_t pvh_entry, struct boot_entry *entry,
	     char err[BOOT_ERROR_MAX])
{
	struct elf_extent extent;
	uint64_t initrd_addr = 0;
	int ret;

	ret = elf_check_segments(mem, elf, &extent, err);
	if (ret < 0)
		return ret;
	/* elf_pvh_entry() refused entries at or above 4 GiB; the entry must
	 * also be code we load. */
	if (!elf_paddr_loaded(elf, pvh_entry, 1))
		return boot_fail(err, -ENOEXEC,
				 "PVH entry 0x%llx (XEN_ELFNOTE_PHYS32_ENTRY) lies in no PT_LOAD segment",
				 (unsigned long long)pvh_entry);
	if (cfg->initrd_size > 0 &&
	    initrd_place_around(mem, cfg->initrd_size, &extent, &initrd_addr) < 0)
		return boot_fail(err, -ENOMEM,
				 "initrd of %zu bytes does not fit in guest RAM between 0x%llx and 0x%llx next to the image at [0x%llx, 0x%llx)",
				 cfg->initrd_size, (unsigned long long)LAYOUT_HIGH_MEMORY_START,
				 (unsigned long long)guest_memory_low_end(mem),
				 (unsigned long long)extent.start, (unsigned long long)extent.end);
	ret = cmdline_write(mem, cfg->cmdline, LAYOUT_CMDLINE_MAX - 1,
			    "kvmrun's command line area", err);
	if (ret < 0)
		return ret;

	if ((cfg->initrd_size > 0 &&
	     guest_memory_write(mem, initrd_addr, cfg->initrd, cfg->initrd_size) < 0) ||
	    start_info_write(mem, cfg, initrd_addr) < 0 ||
	    boot_gdt_write(mem, BOOT_CPU_PROTECTED32) < 0 ||
	    elf_copy_segments(mem, elf) < 0)
		return boot_fail(err, -EFAULT, "PVH boot data does not fit in guest RAM");

	entry->protocol = BOOT_PROTOCOL_PVH;
	entry->mode = BOOT_CPU_PROTECTED32;
	entry->rip = pvh_entry;
	entry->rbx = LAYOUT_PVH_START_INFO;
	entry->rsi = 0;
	return 0;
}
