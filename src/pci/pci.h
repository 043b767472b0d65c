/* One PCI function: its configuration space header and its BARs.
 *
 * The configuration space is the type 0 header of the PCI Local Bus
 * Specification 3.0, §6.1 (Figure 6-1): 256 bytes, of which a device
 * describes the read-only identity (IDs, class, header type, interrupt
 * pin) once at init, and `wmask` says which bits the guest may change.
 * Three parts are not plain bytes:
 *
 * - Command (0x04): kept as an atomic because BAR dispatch reads it on
 *   every access without taking the bus lock. Its I/O-space and
 *   memory-space enable bits gate the BARs (§6.2.2): with the bit clear a
 *   BAR decodes nothing, reads return all-ones and writes are dropped.
 * - BARs (0x10-0x24, §6.2.5.1): pre-assigned by pci_bus_add() and fixed
 *   for the life of the VM, because the buses are immutable once vCPUs
 *   run. Writing all-ones to a BAR's address bits selects sizing: the BAR
 *   then reads back its size mask (~(size - 1)) with its type bits, as the
 *   specification's sizing procedure expects. Any other write returns it
 *   to its fixed address; the address written is ignored, so a guest that
 *   tries to move a BAR reads back where it really is.
 * - Expansion ROM BAR (0x30) and capabilities: none; they read 0.
 *
 * Offsets 0x100-0xfff, the PCI Express extended space reachable only
 * through ECAM, do not exist on these conventional functions and read as
 * all-ones, as QEMU does for conventional devices.
 *
 * Locking: config accesses are serialised by the owning pci_bus's lock;
 * BAR dispatch takes none (the command word is atomic, the BAR table is
 * immutable). Each device's own BAR ops lock what they need. */
#ifndef KVMRUN_PCI_PCI_H
#define KVMRUN_PCI_PCI_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus.h"

#define PCI_CONFIG_SIZE          256    /* conventional configuration space */
#define PCI_ECAM_FUNCTION_SIZE   4096   /* per function in ECAM (PCIe extended space) */
#define PCI_NR_BARS              6
#define PCI_NR_DEVFNS            256    /* 32 slots x 8 functions */
#define PCI_DEVFN(slot, fn)      ((((slot) & 0x1f) << 3) | ((fn) & 7))

/* Type 0 header registers (PCI 3.0 §6.1). */
#define PCI_VENDOR_ID            0x00
#define PCI_DEVICE_ID            0x02
#define PCI_COMMAND              0x04
#define PCI_STATUS               0x06
#define PCI_REVISION_ID          0x08
#define PCI_CLASS_PROG           0x09   /* programming interface; 0x0a sub-class, 0x0b base class */
#define PCI_CACHE_LINE_SIZE      0x0c
#define PCI_LATENCY_TIMER        0x0d
#define PCI_HEADER_TYPE          0x0e
#define PCI_BASE_ADDRESS_0       0x10
#define PCI_SUBSYSTEM_VENDOR_ID  0x2c
#define PCI_SUBSYSTEM_ID         0x2e
#define PCI_ROM_ADDRESS          0x30
#define PCI_INTERRUPT_LINE       0x3c
#define PCI_INTERRUPT_PIN        0x3d

/* Command register bits (§6.2.2). */
#define PCI_COMMAND_IO           0x0001
#define PCI_COMMAND_MEMORY       0x0002
#define PCI_COMMAND_MASTER       0x0004
#define PCI_COMMAND_PARITY       0x0040
#define PCI_COMMAND_SERR         0x0100
#define PCI_COMMAND_INTX_DISABLE 0x0400
/* What the guest may change; the rest of the register reads 0. */
#define PCI_COMMAND_WRITABLE     (PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | \
				  PCI_COMMAND_PARITY | PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE)

/* BAR low bits (§6.2.5.1). */
#define PCI_BAR_IO_SPACE         0x1    /* bit 0: I/O BAR; memory BARs: bits 2:1 type 00 = 32-bit */
#define PCI_BAR_IO_FLAGS_MASK    0x3u
#define PCI_BAR_MEM_FLAGS_MASK   0xfu

#define PCI_HEADER_TYPE_NORMAL   0x00

/* The subsystem IDs QEMU gives every device it emulates (Red Hat /
 * Qumranet, "QEMU"); kvmrun's devices carry them too. */
#define PCI_SUBSYSTEM_VENDOR_QEMU 0x1af4
#define PCI_SUBSYSTEM_QEMU        0x1100

enum pci_bar_space {
	PCI_BAR_UNUSED = 0,
	PCI_BAR_IO,        /* I/O space, at least 4 ports */
	PCI_BAR_MEM32,     /* 32-bit, non-prefetchable memory */
};

struct pci_device;

struct pci_bar {
	enum pci_bar_space space;
	uint32_t size;                     /* power of two */
	uint64_t addr;                     /* assigned by pci_bus_add(), then fixed */
	const struct bus_device_ops *ops;  /* the device's handler; sees offsets into the BAR */
	void *opaque;
	const char *name;
	struct pci_device *dev;            /* whose command register gates this BAR */
	uint32_t written;                  /* last value the guest wrote (under the bus lock) */
};

/* A function's identity (PCI 3.0 §6.2.1). class_code is base class << 16 |
 * sub-class << 8 | programming interface. */
struct pci_device_id {
	uint16_t vendor;
	uint16_t device;
	uint8_t revision;
	uint32_t class_code;
	uint16_t subsystem_vendor;
	uint16_t subsystem;
	uint8_t interrupt_pin;             /* 0: none, 1-4: INTA#-INTD# */
};

struct pci_device {
	const char *name;
	uint8_t config[PCI_CONFIG_SIZE];   /* everything except command and BARs */
	uint8_t wmask[PCI_CONFIG_SIZE];    /* bits the guest may write, per byte */
	_Atomic uint16_t command;
	struct pci_bar bars[PCI_NR_BARS];
	unsigned devfn;                    /* set by pci_bus_add() */
	atomic_uint_fast64_t disabled_accesses;  /* BAR accesses while decoding was off */
};

/* Fill the header from `id`: a single-function type 0 header, status 0,
 * writable cache line size and interrupt line, no BARs yet. */
void pci_device_init(struct pci_device *dev, const char *name, const struct pci_device_id *id);

/* Describe BAR `index` (0-5): `size` bytes of `space`, served by `ops`
 * (opaque for them is `opaque`). Sizes are powers of two, at least 4 for
 * I/O and 16 for memory (§6.2.5.1), at most 256 for I/O (an x86 I/O BAR
 * never needs more) and 256 MiB for memory. Returns 0 or -EINVAL. The
 * address is assigned when the device is added to a bus. */
int pci_device_set_bar(struct pci_device *dev, unsigned index, enum pci_bar_space space,
		       uint32_t size, const struct bus_device_ops *ops, void *opaque,
		       const char *name);

/* Configuration space access, `size` bytes at `offset` within the
 * function's 4 KiB ECAM space, little-endian, any alignment. Bytes at or
 * past PCI_CONFIG_SIZE read 0xff and ignore writes. Callers (the bus)
 * serialise these and keep offset + size <= PCI_ECAM_FUNCTION_SIZE. */
void pci_device_config_read(struct pci_device *dev, unsigned offset, uint8_t *data, unsigned size);
void pci_device_config_write(struct pci_device *dev, unsigned offset, const uint8_t *data,
			     unsigned size);

/* Whether `bar` currently decodes: its space's enable bit in the command
 * register. */
bool pci_bar_enabled(const struct pci_bar *bar);

/* Bus ops for a BAR range; opaque is the struct pci_bar. They check the
 * command register, then call the device's ops with the offset. */
extern const struct bus_device_ops pci_bar_ops;

#endif
