/* What kvmrun's fw_cfg device tells the guest about its machine: the items
 * QEMU's PC machines provide that have a meaning here (docs/devices.md,
 * "fw_cfg"). Kept apart from the device model, which knows nothing about
 * e820 maps, vCPUs or kernel images. */
#ifndef KVMRUN_FW_CFG_MACHINE_H
#define KVMRUN_FW_CFG_MACHINE_H

#include <stddef.h>
#include <stdint.h>

#include "devices/fw_cfg.h"
#include "memory.h"

/* Size of one etc/e820 entry: le64 address, le64 length, le32 type,
 * packed (QEMU hw/i386/e820_memory_layout.h struct e820_entry). */
#define FW_CFG_E820_ENTRY_SIZE 20

struct fw_cfg_machine {
	unsigned nr_cpus;
	const struct guest_memory *mem;
	const uint8_t *kernel;       /* the kernel image file, borrowed */
	size_t kernel_size;
	const uint8_t *initrd;       /* NULL if none; borrowed */
	size_t initrd_size;
	const char *cmdline;
};

/* Add NB_CPUS, MAX_CPUS, RAM_SIZE, the kernel, initrd and command line
 * items and the "etc/e820" file. The kernel and initrd bytes are borrowed
 * (no copy): they must outlive the device. Returns 0 or -errno. */
int fw_cfg_machine_add(struct fw_cfg *fw, const struct fw_cfg_machine *m);

#endif
