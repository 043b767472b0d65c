/* QEMU's firmware configuration device (fw_cfg), the x86 port-I/O flavour.
 *
 * Spec: QEMU docs/specs/fw_cfg.rst; key numbers and structures from QEMU's
 * include/standard-headers/linux/qemu_fw_cfg.h. The guest selects an item
 * by writing its 16-bit key to the selector port and reads the item's bytes
 * from the data port, or has the device copy them into guest RAM through
 * the DMA interface. kvmrun offers a read-only subset (docs/devices.md):
 * the items QEMU's PC machines have that describe this VM, and the file
 * directory with "etc/e820".
 *
 * Ports (fw_cfg.rst "Register Locations", x86):
 *   0x510  selector, 16-bit write, little-endian
 *   0x511  data, byte reads; QEMU decodes 0x510-0x511 as one range, so a
 *          byte read at either port is a data read
 *   0x514  DMA address, 64-bit big-endian: a 4-byte write to 0x514 sets the
 *          high half, a 4-byte write to 0x518 the low half and starts the
 *          operation (an 8-byte write to 0x514 sets both and starts it).
 *          Reads return "QEMU CFG", the DMA signature, byte by byte.
 *
 * Every DMA descriptor and target buffer is guest-controlled: the device
 * reaches guest RAM only through guest_memory_ptr(), reads the descriptor
 * once into a local copy, and reports any range outside RAM as the ERROR
 * bit instead of touching memory.
 *
 * Locking: one mutex per device guards the selector, the data offset and
 * the DMA address latch, shared by all vCPUs as on real hardware. Items are
 * added before any vCPU runs and never change afterwards. */
#ifndef KVMRUN_DEVICES_FW_CFG_H
#define KVMRUN_DEVICES_FW_CFG_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus.h"
#include "memory.h"

#define FW_CFG_PORT_SELECTOR  0x510
#define FW_CFG_PORT_DATA      0x511
#define FW_CFG_IO_LEN         2      /* selector + data, one range */
#define FW_CFG_PORT_DMA       0x514
#define FW_CFG_DMA_LEN        8

/* Selector keys (qemu_fw_cfg.h). Integers are little-endian items of the
 * width QEMU uses: NB_CPUS and MAX_CPUS 16-bit, RAM_SIZE 64-bit, the others
 * 32-bit. */
#define FW_CFG_SIGNATURE      0x00
#define FW_CFG_ID             0x01
#define FW_CFG_UUID           0x02
#define FW_CFG_RAM_SIZE       0x03
#define FW_CFG_NOGRAPHIC      0x04
#define FW_CFG_NB_CPUS        0x05
#define FW_CFG_MACHINE_ID     0x06
#define FW_CFG_KERNEL_ADDR    0x07
#define FW_CFG_KERNEL_SIZE    0x08
#define FW_CFG_KERNEL_CMDLINE 0x09
#define FW_CFG_INITRD_ADDR    0x0a
#define FW_CFG_INITRD_SIZE    0x0b
#define FW_CFG_BOOT_DEVICE    0x0c
#define FW_CFG_NUMA           0x0d
#define FW_CFG_BOOT_MENU      0x0e
#define FW_CFG_MAX_CPUS       0x0f
#define FW_CFG_KERNEL_ENTRY   0x10
#define FW_CFG_KERNEL_DATA    0x11
#define FW_CFG_INITRD_DATA    0x12
#define FW_CFG_CMDLINE_ADDR   0x13
#define FW_CFG_CMDLINE_SIZE   0x14
#define FW_CFG_CMDLINE_DATA   0x15
#define FW_CFG_SETUP_ADDR     0x16
#define FW_CFG_SETUP_SIZE     0x17
#define FW_CFG_SETUP_DATA     0x18
#define FW_CFG_FILE_DIR       0x19
#define FW_CFG_FILE_FIRST     0x20

/* Bit 14 of a key asks for write access (ignored since QEMU 2.4); bit 15
 * selects the architecture-specific space, where kvmrun has no items. */
#define FW_CFG_WRITE_CHANNEL  0x4000
#define FW_CFG_ARCH_LOCAL     0x8000

/* FW_CFG_ID bits */
#define FW_CFG_VERSION        0x01   /* traditional interface, always set */
#define FW_CFG_VERSION_DMA    0x02

/* File directory: be32 count, then per file be32 size, be16 select,
 * be16 reserved, char name[56] (NUL-terminated). */
#define FW_CFG_FILE_NAME_MAX  56
#define FW_CFG_FILE_ENTRY_SIZE 64
#define FW_CFG_MAX_FILES      16
#define FW_CFG_NR_KEYS        (FW_CFG_FILE_FIRST + FW_CFG_MAX_FILES)

/* FWCfgDmaAccess: be32 control, be32 length, be64 address. */
#define FW_CFG_DMA_ACCESS_SIZE 16
#define FW_CFG_DMA_CTL_ERROR  0x01
#define FW_CFG_DMA_CTL_READ   0x02
#define FW_CFG_DMA_CTL_SKIP   0x04
#define FW_CFG_DMA_CTL_SELECT 0x08   /* key in control bits 31:16 */
#define FW_CFG_DMA_CTL_WRITE  0x10
#define FW_CFG_DMA_SIGNATURE  "QEMU CFG"

struct fw_cfg_item {
	const uint8_t *data;   /* NULL for an absent item (reads as zeros) */
	uint32_t size;
	bool owned;            /* data was copied and is freed with the device */
};

struct fw_cfg {
	pthread_mutex_t lock;
	const struct guest_memory *mem;  /* borrowed; target of DMA */
	struct fw_cfg_item items[FW_CFG_NR_KEYS];
	char file_names[FW_CFG_MAX_FILES][FW_CFG_FILE_NAME_MAX];
	unsigned nr_files;

	uint16_t key;          /* selected key, write-channel bit cleared */
	uint32_t offset;       /* into the selected item, at most its size */
	uint64_t dma_address;  /* DMA address latch (high half once written) */

	uint64_t ignored;      /* accesses with no effect: data writes, bad widths */
	uint64_t dma_ops;      /* DMA operations started */
	uint64_t dma_errors;   /* of which ended with the ERROR bit */
};

/* An fw_cfg with the signature ("QEMU") and ID (traditional + DMA) items;
 * DMA goes to `mem`, which must outlive the device. Returns 0 or -ENOMEM. */
int fw_cfg_init(struct fw_cfg *fw, const struct guest_memory *mem);
void fw_cfg_destroy(struct fw_cfg *fw);

/* Set item `key` (below FW_CFG_FILE_FIRST, not FW_CFG_FILE_DIR) to a copy
 * of `size` bytes, replacing any earlier value. Returns 0, -EINVAL for a
 * key the caller may not set, -EFBIG for more than 4 GiB - 1, -ENOMEM. */
int fw_cfg_add_item(struct fw_cfg *fw, uint16_t key, const void *data, size_t size);
/* The same without a copy: `data` is borrowed and must stay valid and
 * unchanged until fw_cfg_destroy (the kernel and initrd mappings). */
int fw_cfg_add_item_borrowed(struct fw_cfg *fw, uint16_t key, const void *data, size_t size);
/* Little-endian integer items of 2, 4 and 8 bytes. */
int fw_cfg_add_u16(struct fw_cfg *fw, uint16_t key, uint16_t value);
int fw_cfg_add_u32(struct fw_cfg *fw, uint16_t key, uint32_t value);
int fw_cfg_add_u64(struct fw_cfg *fw, uint16_t key, uint64_t value);

/* Add a named file (a copy) at the next free key from FW_CFG_FILE_FIRST
 * and list it in the file directory, in the order added. Returns 0,
 * -EINVAL for an empty name or one longer than 55 bytes, -EEXIST for a
 * duplicate name, -ENOSPC beyond FW_CFG_MAX_FILES, -EFBIG, -ENOMEM. */
int fw_cfg_add_file(struct fw_cfg *fw, const char *name, const void *data, size_t size);

/* Ops for the FW_CFG_IO_LEN-long range at FW_CFG_PORT_SELECTOR and the
 * FW_CFG_DMA_LEN-long range at FW_CFG_PORT_DMA; opaque is the fw_cfg. */
extern const struct bus_device_ops fw_cfg_io_ops;
extern const struct bus_device_ops fw_cfg_dma_ops;

#endif
