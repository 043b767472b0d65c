#include "startinfo.h"

#include "cmdline.h"
#include "libguest.h"
#include "multiboot.h"

/* Copies of the start info, filled once by startinfo_init() on the BSP
 * before anything else runs. */
static uint32_t info_paddr;
static const char *info_protocol = "PVH";
static uint32_t info_version;
static uint64_t info_rsdp;
static struct hvm_memmap_table_entry memmap[STARTINFO_MEMMAP_MAX];
static unsigned memmap_count;

void startinfo_init(uint32_t boot_magic, uint32_t paddr)
{
	const struct hvm_start_info *si = (const void *)(uintptr_t)paddr;

	/* The start info's own magic decides first: QEMU's microvm firmware
	 * enters PVH kernels with EAX = 0x2BADB002 left over, so EAX alone
	 * would take a PVH boot for Multiboot. A multiboot_info starts with
	 * its flags word, which never equals the PVH magic. */
	if (boot_magic == MULTIBOOT_BOOTLOADER_MAGIC &&
	    (paddr == 0 || si->magic != HVM_START_MAGIC_VALUE)) {
		info_paddr = paddr;
		info_protocol = "multiboot";
		memmap_count = multiboot_init(paddr, memmap, STARTINFO_MEMMAP_MAX);
		return;
	}
	if (paddr == 0 || si->magic != HVM_START_MAGIC_VALUE)
		guest_abort("PVH start info at 0x%x has magic 0x%x, want 0x%x", paddr,
			    paddr ? si->magic : 0, HVM_START_MAGIC_VALUE);
	info_paddr = paddr;
	info_version = si->version;
	info_rsdp = si->rsdp_paddr;
	/* Everything is identity-mapped below 4 GiB; refuse pointers above. */
	if (si->cmdline_paddr && si->cmdline_paddr < (1ULL << 32))
		cmdline_init((const char *)(uintptr_t)si->cmdline_paddr);
	else
		cmdline_init("");
	if (si->version >= 1 && si->memmap_paddr && si->memmap_paddr < (1ULL << 32)) {
		memmap_count = si->memmap_entries;
		if (memmap_count > STARTINFO_MEMMAP_MAX)
			memmap_count = STARTINFO_MEMMAP_MAX;
		memcpy(memmap, (const void *)(uintptr_t)si->memmap_paddr,
		       memmap_count * sizeof(memmap[0]));
	}
}

const char *startinfo_protocol(void)
{
	return info_protocol;
}

uint32_t startinfo_paddr(void)
{
	return info_paddr;
}

uint32_t startinfo_version(void)
{
	return info_version;
}

uint64_t startinfo_rsdp(void)
{
	return info_rsdp;
}

const struct hvm_memmap_table_entry *startinfo_memmap(unsigned *count)
{
	*count = memmap_count;
	return memmap;
}

const char *memmap_type_name(uint32_t type)
{
	switch (type) {
	case 1: return "RAM";
	case 2: return "reserved";
	case 3: return "ACPI";
	case 4: return "ACPI NVS";
	case 5: return "unusable";
	default: return "unknown";
	}
}
