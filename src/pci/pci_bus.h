/* PCI bus 0 behind a host bridge: the devices by devfn, their BARs, and the
 * two ways a guest reaches configuration space.
 *
 * Configuration mechanism #1 (PCI 3.0 §3.2.2.3.2): a 32-bit address
 * register at port 0xcf8 (bit 31 enable, bits 23:16 bus, 15:8 devfn, 7:0
 * register) and a data window at 0xcfc-0xcff. As in QEMU (pci_host.c):
 * - only a 4-byte write to 0xcf8 loads the address; narrower writes to
 *   0xcf8-0xcfb are ignored (on a PC chipset they reach other registers,
 *   e.g. the reset control at 0xcf9, which kvmrun does not have). Reads
 *   return the latched value (by byte lane);
 * - the register offset of a data access is (address & 0xff) | (port & 3):
 *   the low two address bits are not cleared, and bits 30:24 are ignored;
 * - with bit 31 clear, data reads return all-ones and writes are dropped;
 * - a function that does not exist reads all-ones (vendor ID 0xffff is
 *   how guests tell), and writes to it are dropped.
 *
 * ECAM / MMCONFIG (PCI Express Base 3.0 §7.2.2): the same configuration
 * spaces as memory, 4 KiB per function at LAYOUT_PCI_ECAM_BASE + (bus <<
 * 20 | devfn << 12 | register), for buses 0-255. Only bus 0 is populated.
 * An access that crosses a function's 4 KiB reads all-ones.
 *
 * BARs are assigned when a device is added, from fixed windows: I/O from
 * PCI_BUS_IO_BASE, memory from LAYOUT_PCI_MMIO_BASE (each memory BAR on its
 * own 4 KiB page at least), naturally aligned. A device starts with the
 * command register's I/O and memory enables set for the BARs it has, as
 * firmware would leave it, so guests that do not touch the command
 * register (kvm-unit-tests) find working BARs.
 *
 * Locking: one mutex per bus covers the 0xcf8 latch and every
 * configuration access (mechanism #1 and ECAM), so vCPUs never observe a
 * half-written register. BAR accesses do not take it. Devices are added
 * before the bus is mapped, and the set never changes afterwards. */
#ifndef KVMRUN_PCI_PCI_BUS_H
#define KVMRUN_PCI_PCI_BUS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "bus.h"
#include "pci/pci.h"

#define PCI_CONF1_ADDRESS_PORT  0xcf8
#define PCI_CONF1_DATA_PORT     0xcfc
#define PCI_CONF1_PORTS         4
#define PCI_CONF1_ENABLE        0x80000000u

/* The I/O BAR window: above the ISA and legacy PCI ranges, as firmware
 * usually places it (SeaBIOS starts at 0xc000). */
#define PCI_BUS_IO_BASE         0xc000
#define PCI_BUS_IO_END          0x10000

struct pci_bus {
	pthread_mutex_t lock;
	uint32_t conf1_address;                         /* the 0xcf8 latch */
	struct pci_device *devices[PCI_NR_DEVFNS];      /* bus 0 */
	uint64_t io_next, mmio_next;                    /* BAR allocation cursors */
	atomic_uint_fast64_t conf1_ignored;             /* non-dword writes to 0xcf8-0xcfb */
};

void pci_bus_init(struct pci_bus *bus);
void pci_bus_destroy(struct pci_bus *bus);

/* Put `dev` at `devfn` on bus 0 and assign its BARs. Only function 0 of a
 * slot may be used (every device is single-function). Returns 0, -EINVAL
 * (function not 0), -EEXIST (slot taken) or -ENOSPC (a BAR window is
 * full); on failure nothing changes. */
int pci_bus_add(struct pci_bus *bus, struct pci_device *dev, unsigned devfn);

/* Map mechanism #1 on `pio`, the ECAM window and every BAR on `pio` /
 * `mmio`. Call once, after the last pci_bus_add(). Returns 0 or the
 * bus_insert() error; the failing range is logged. */
int pci_bus_map(struct pci_bus *bus, struct bus *pio, struct bus *mmio);

/* Bus ops, opaque = struct pci_bus: the 0xcf8 address register (4 ports),
 * the 0xcfc data window (4 ports), and the ECAM window. */
extern const struct bus_device_ops pci_conf1_address_ops;
extern const struct bus_device_ops pci_conf1_data_ops;
extern const struct bus_device_ops pci_ecam_ops;

#endif
