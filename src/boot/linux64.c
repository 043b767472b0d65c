/* The parts of the Linux 64-bit boot protocol (Documentation/arch/x86/
 * boot.rst, "64-bit Boot Protocol") that bzImage and ELF vmlinux share. */
#include <errno.h>
#include <string.h>

#include "boot/gdt.h"
#include "boot/loader.h"
#include "boot/page_tables.h"
#include "boot/zero_page.h"
#include "e820.h"
#include "layout.h"

static void zero_page_set_e820(uint8_t *zp, const struct guest_memory *mem)
{
	struct e820_entry map[E820_MAX_ENTRIES];
	unsigned n = e820_build(mem, map);

	_Static_assert(E820_MAX_ENTRIES <= BP_E820_MAX, "e820 map larger than boot_params.e820_table");
	zp[BP_E820_ENTRIES] = (uint8_t)n;
	for (unsigned i = 0; i < n; i++) {
		uint8_t *e = zp + BP_E820_TABLE + i * BP_E820_ENTRY_SIZE;

		/* struct boot_e820_entry: addr (8), size (8), type (4), packed */
		le64_put(e, map[i].addr);
		le64_put(e + 8, map[i].size);
		le32_put(e + 16, map[i].type);
	}
}

int linux64_boot(struct guest_memory *mem, const struct boot_config *cfg,
		 uint8_t *zp, const struct linux64_kernel *kernel,
		 struct boot_entry *entry, char err[BOOT_ERROR_MAX])
{
	uint64_t low_end = guest_memory_low_end(mem);
	uint64_t ceiling = kernel->initrd_ceiling < low_end ? kernel->initrd_ceiling : low_end;
	uint64_t initrd_addr = 0;
	uint8_t loadflags;
	int ret;

	/* Everything that can refuse the boot comes before the first write. */
	if (cfg->initrd_size > 0 &&
	    initrd_place(cfg->initrd_size, kernel->end, ceiling, &initrd_addr) < 0)
		return boot_fail(err, -ENOMEM,
				 "initrd of %zu bytes does not fit between the kernel end 0x%llx and 0x%llx (RAM below the hole ends at 0x%llx, initrd_addr_max + 1 is 0x%llx)",
				 cfg->initrd_size, (unsigned long long)kernel->end,
				 (unsigned long long)ceiling, (unsigned long long)low_end,
				 (unsigned long long)kernel->initrd_ceiling);
	ret = cmdline_write(mem, cfg->cmdline, kernel->cmdline_size, "cmdline_size", err);
	if (ret < 0)
		return ret;
	if (cfg->initrd_size > 0 &&
	    guest_memory_write(mem, initrd_addr, cfg->initrd, cfg->initrd_size) < 0)
		return boot_fail(err, -EFAULT, "initrd at 0x%llx is outside guest RAM",
				 (unsigned long long)initrd_addr);

	zp[BP_TYPE_OF_LOADER] = BP_TYPE_OF_LOADER_UNDEFINED;
	/* CAN_USE_HEAP and heap_end_ptr describe the real-mode setup heap;
	 * the 64-bit protocol never runs the setup code, so there is none. */
	loadflags = (uint8_t)((zp[BP_LOADFLAGS] | LOADED_HIGH) & ~CAN_USE_HEAP);
	zp[BP_LOADFLAGS] = loadflags;
	le16_put(zp + BP_HEAP_END_PTR, 0);
	/* vid_mode 0xffff = "normal" (boot.rst, "Special Command Line Options") */
	le16_put(zp + BP_VID_MODE, 0xffff);
	le32_put(zp + BP_CMD_LINE_PTR, (uint32_t)LAYOUT_CMDLINE);
	le32_put(zp + BP_EXT_CMD_LINE_PTR, (uint32_t)(LAYOUT_CMDLINE >> 32));
	le32_put(zp + BP_RAMDISK_IMAGE, (uint32_t)initrd_addr);
	le32_put(zp + BP_EXT_RAMDISK_IMAGE, (uint32_t)(initrd_addr >> 32));
	le32_put(zp + BP_RAMDISK_SIZE, (uint32_t)cfg->initrd_size);
	le32_put(zp + BP_EXT_RAMDISK_SIZE, (uint32_t)((uint64_t)cfg->initrd_size >> 32));
	/* Read by kernels that know protocol 2.14; older ones scan for it. */
	le64_put(zp + BP_ACPI_RSDP_ADDR, cfg->acpi_rsdp);
	zp[BP_SENTINEL] = 0;
	zero_page_set_e820(zp, mem);

	if (guest_memory_write(mem, LAYOUT_ZERO_PAGE, zp, BP_SIZE) < 0 ||
	    boot_gdt_write(mem, BOOT_CPU_LONG64) < 0 ||
	    boot_page_tables_write(mem) < 0)
		return boot_fail(err, -EFAULT, "boot structures below 1 MiB do not fit in guest RAM");

	entry->protocol = BOOT_PROTOCOL_LINUX64;
	entry->mode = BOOT_CPU_LONG64;
	entry->rip = kernel->entry;
	entry->rsi = LAYOUT_ZERO_PAGE;
	entry->rbx = 0;
	return 0;
}
