#include "fw_cfg_machine.h"

#include <errno.h>
#include <string.h>

#include "e820.h"

/* etc/e820 holds the same map the boot protocols hand over (zero page,
 * PVH memory map), in QEMU's packed little-endian layout. */
static int fw_cfg_machine_add_e820(struct fw_cfg *fw, const struct guest_memory *mem)
{
	struct e820_entry map[E820_MAX_ENTRIES];
	uint8_t buf[E820_MAX_ENTRIES * FW_CFG_E820_ENTRY_SIZE];
	unsigned n = e820_build(mem, map);

	for (unsigned i = 0; i < n; i++) {
		uint8_t *e = buf + i * FW_CFG_E820_ENTRY_SIZE;

		for (unsigned b = 0; b < 8; b++) {
			e[b] = map[i].addr >> (8 * b);
			e[8 + b] = map[i].size >> (8 * b);
		}
		for (unsigned b = 0; b < 4; b++)
			e[16 + b] = map[i].type >> (8 * b);
	}
	return fw_cfg_add_file(fw, "etc/e820", buf, (size_t)n * FW_CFG_E820_ENTRY_SIZE);
}

/* A SIZE item (32-bit, as QEMU's) and its DATA item, borrowed. */
static int fw_cfg_machine_add_blob(struct fw_cfg *fw, uint16_t size_key, uint16_t data_key,
				   const uint8_t *data, size_t size)
{
	int ret;

	if (size > UINT32_MAX)
		return -EFBIG;
	ret = fw_cfg_add_u32(fw, size_key, (uint32_t)size);
	if (ret < 0)
		return ret;
	return fw_cfg_add_item_borrowed(fw, data_key, data, size);
}

int fw_cfg_machine_add(struct fw_cfg *fw, const struct fw_cfg_machine *m)
{
	size_t cmdline_size;
	int ret;

	/* No CPU hotplug: the possible CPUs are the present ones. */
	ret = fw_cfg_add_u16(fw, FW_CFG_NB_CPUS, (uint16_t)m->nr_cpus);
	if (ret < 0)
		return ret;
	ret = fw_cfg_add_u16(fw, FW_CFG_MAX_CPUS, (uint16_t)m->nr_cpus);
	if (ret < 0)
		return ret;
	ret = fw_cfg_add_u64(fw, FW_CFG_RAM_SIZE, m->mem->size);
	if (ret < 0)
		return ret;
	/* The raw files as given. kvmrun has already loaded the kernel, so
	 * these are for guests that want to look at them, not a boot path:
	 * KERNEL_ADDR, KERNEL_ENTRY and the SETUP_* items read as zeros. The
	 * images are borrowed (a copy would cost start-up time and memory);
	 * the command line, at most 64 KiB, is copied. */
	ret = fw_cfg_machine_add_blob(fw, FW_CFG_KERNEL_SIZE, FW_CFG_KERNEL_DATA, m->kernel,
				      m->kernel_size);
	if (ret < 0)
		return ret;
	if (m->initrd && m->initrd_size) {
		ret = fw_cfg_machine_add_blob(fw, FW_CFG_INITRD_SIZE, FW_CFG_INITRD_DATA,
					      m->initrd, m->initrd_size);
		if (ret < 0)
			return ret;
	}
	/* The command line's size counts its NUL, as QEMU's does. */
	cmdline_size = strlen(m->cmdline) + 1;
	if (cmdline_size > UINT32_MAX)
		return -EFBIG;
	ret = fw_cfg_add_u32(fw, FW_CFG_CMDLINE_SIZE, (uint32_t)cmdline_size);
	if (ret < 0)
		return ret;
	ret = fw_cfg_add_item(fw, FW_CFG_CMDLINE_DATA, m->cmdline, cmdline_size);
	if (ret < 0)
		return ret;
	return fw_cfg_machine_add_e820(fw, m->mem);
}
