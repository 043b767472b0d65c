/* The host bridge at 00:00.0: what a guest scanning bus 0 finds first, and
 * what Linux's mechanism #1 probe (pci_sanity_check) looks for: a function
 * of class "host bridge" (0x0600) or from Intel.
 *
 * It claims QEMU q35's host bridge identity, Intel 82G33/P35 MCH
 * (8086:29c0, revision 0, subsystem 1af4:1100 as QEMU gives every device),
 * because kvmrun, like q35, offers ECAM. Of the MCH's own registers only
 * PCIEXBAR (D0:F0 offset 0x60 in the Intel 3 Series Express chipset
 * datasheet) is modelled, read-only: it reports the fixed ECAM window
 * (base LAYOUT_PCI_ECAM_BASE, length field 00 = 256 buses, enable bit 0
 * set), so firmware-style code that reads it finds the right address.
 * Writes to it, and to every other chipset register (PAM, SMRAM, ...), are
 * ignored; the others read 0. The bridge has no BARs and no interrupt. */
#ifndef KVMRUN_PCI_HOST_BRIDGE_H
#define KVMRUN_PCI_HOST_BRIDGE_H

#include "pci/pci.h"

#define PCI_HOST_BRIDGE_DEVFN       PCI_DEVFN(0, 0)
#define PCI_HOST_BRIDGE_VENDOR      0x8086
#define PCI_HOST_BRIDGE_DEVICE      0x29c0
#define PCI_HOST_BRIDGE_CLASS       0x060000  /* bridge, host bridge */
#define PCI_HOST_BRIDGE_PCIEXBAR    0x60

struct pci_host_bridge {
	struct pci_device pci;
};

void pci_host_bridge_init(struct pci_host_bridge *bridge);

#endif
