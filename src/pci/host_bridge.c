#include "pci/host_bridge.h"

#include "layout.h"

/* PCIEXBAR length field, bits 2:1: 00 = 256 buses (256 MiB). */
#define PCIEXBAR_LENGTH_256_BUSES 0x0
#define PCIEXBAR_ENABLE           0x1

_Static_assert(LAYOUT_PCI_ECAM_SIZE == 256ULL << 20, "PCIEXBAR reports a 256-bus window");

void pci_host_bridge_init(struct pci_host_bridge *bridge)
{
	static const struct pci_device_id id = {
		.vendor = PCI_HOST_BRIDGE_VENDOR,
		.device = PCI_HOST_BRIDGE_DEVICE,
		.revision = 0,
		.class_code = PCI_HOST_BRIDGE_CLASS,
		.subsystem_vendor = PCI_SUBSYSTEM_VENDOR_QEMU,
		.subsystem = PCI_SUBSYSTEM_QEMU,
	};
	uint64_t pciexbar = LAYOUT_PCI_ECAM_BASE | PCIEXBAR_LENGTH_256_BUSES | PCIEXBAR_ENABLE;

	pci_device_init(&bridge->pci, "host-bridge", &id);
	for (unsigned i = 0; i < 8; i++)
		bridge->pci.config[PCI_HOST_BRIDGE_PCIEXBAR + i] = (uint8_t)(pciexbar >> (8 * i));
}
