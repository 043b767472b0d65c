/* ELF64 vmlinux (no PVH note) through the Linux 64-bit boot protocol.
 *
 * A vmlinux carries no setup header, so the zero page is built from scratch
 * with the values an x86-64 bzImage of the same kernel would declare. The
 * segments load at their p_paddr (LOAD_PHYSICAL_ADDR, 16 MiB, for Linux),
 * not relocated. The entry is e_entry as a physical address: Linux links
 * vmlinux with ENTRY(phys_startup_64), which is startup_64, the 64-bit entry
 * of the decompressed kernel; a virtual e_entry is translated through its
 * segment (see elf_entry_paddr()). */
#include <errno.h>
#include <string.h>

#include "boot/loader.h"
#include "boot/zero_page.h"

/* Version of the setup header we synthesise: 2.15, the current protocol. */
#define VMLINUX_PROTOCOL_VERSION 0x020f
/* x86 COMMAND_LINE_SIZE is 2048 including the NUL; every x86-64 bzImage
 * publishes cmdline_size 2047. */
#define VMLINUX_CMDLINE_SIZE     2047
/* x86-64 kernels publish initrd_addr_max 0x7fffffff. */
#define VMLINUX_INITRD_ADDR_MAX  0x7fffffffULL
/* CONFIG_PHYSICAL_ALIGN default: 2 MiB. */
#define VMLINUX_KERNEL_ALIGNMENT 0x200000

int vmlinux_load(struct guest_memory *mem, const struct boot_config *cfg,
		 const struct elf_image *elf, struct boot_entry *entry,
		 char err[BOOT_ERROR_MAX])
{
	struct elf_extent extent;
	struct linux64_kernel kernel;
	uint8_t zp[BP_SIZE];
	uint64_t rip;
	int ret;

	ret = elf_check_segments(mem, elf, &extent, err);
	if (ret < 0)
		return ret;
	/* Inside a checked segment, hence in RAM below the hole (< 4 GiB) and
	 * covered by the identity map. */
	ret = elf_entry_paddr(elf, &rip, err);
	if (ret < 0)
		return ret;

	memset(zp, 0, sizeof(zp));
	le16_put(zp + BP_BOOT_FLAG, BP_BOOT_FLAG_MAGIC);
	le32_put(zp + BP_HEADER, BP_HEADER_MAGIC);
	le16_put(zp + BP_VERSION, VMLINUX_PROTOCOL_VERSION);
	zp[BP_LOADFLAGS] = LOADED_HIGH;
	le32_put(zp + BP_CODE32_START, (uint32_t)extent.start);
	le32_put(zp + BP_INITRD_ADDR_MAX, (uint32_t)VMLINUX_INITRD_ADDR_MAX);
	le32_put(zp + BP_KERNEL_ALIGNMENT, VMLINUX_KERNEL_ALIGNMENT);
	le16_put(zp + BP_XLOADFLAGS, XLF_KERNEL_64);
	le32_put(zp + BP_CMDLINE_SIZE, VMLINUX_CMDLINE_SIZE);
	le32_put(zp + BP_INIT_SIZE, (uint32_t)(extent.end - extent.start));

	kernel = (struct linux64_kernel){
		.entry = rip,
		.end = extent.end,
		.initrd_ceiling = VMLINUX_INITRD_ADDR_MAX + 1,
		.cmdline_size = VMLINUX_CMDLINE_SIZE,
	};
	ret = linux64_boot(mem, cfg, zp, &kernel, entry, err);
	if (ret < 0)
		return ret;
	if (elf_copy_segments(mem, elf) < 0)
		return boot_fail(err, -EFAULT, "vmlinux segments do not fit in guest RAM");
	return 0;
}
