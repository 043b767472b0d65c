/* ACPI tables for the guest, generated when the machine is built (no
 * firmware runs): RSDP, RSDT and XSDT, FADT with its FACS and DSDT, MADT
 * and MCFG, in the BIOS area at LAYOUT_ACPI_START (docs/acpi.md).
 *
 *   RSDP  revision 2, at LAYOUT_ACPI_START (16-byte aligned, inside the
 *         0xe0000-0xfffff range guests scan, ACPI 6.4 §5.2.5.1)
 *   FADT  revision 6, full (not hardware-reduced) ACPI: the PM1a event
 *         and control blocks and the PM timer of devices/acpi_pm.h, SCI
 *         on ISA IRQ 9, the i8042 reset command as the reset register
 *   FACS  64-byte aligned, no waking vector (no sleep states but S5)
 *   DSDT  \_SB with the PCI root bridge, COM1, the RTC, the i8042,
 *         fw_cfg, the motherboard resources (ECAM), the processors and
 *         any virtio-mmio devices; \_S5 for soft-off
 *   MADT  every local APIC, the I/O APIC, IRQ 0 -> GSI 2 and the SCI's
 *         override, LINT1 as NMI
 *   MCFG  the PCI ECAM window (LAYOUT_PCI_ECAM_BASE, buses 0-255)
 *
 * Building is pure: tables are assembled in a host buffer and copied into
 * guest RAM in one write, so every table is unit-tested without KVM. */
#ifndef KVMRUN_ACPI_ACPI_H
#define KVMRUN_ACPI_ACPI_H

#include "layout.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memory.h"

/* An MMIO device with one interrupt that the DSDT announces as a
 * virtio-mmio transport (_HID "LNRO0005", which Linux's virtio_mmio
 * driver matches): the hook virtio devices use to appear under ACPI. */
struct acpi_mmio_device {
	uint64_t base;        /* below 4 GiB (Memory32Fixed) */
	uint32_t size;
	uint32_t gsi;
	bool level;           /* level-triggered, else edge; active high either way */
};

/* The most virtio-mmio devices a DSDT can list (device names VR00-VRFF). */
#define ACPI_MAX_MMIO_DEVICES 256
/* As many processors as the MP table: APIC IDs are 8 bits, 0xff is the
 * broadcast and the I/O APIC takes ID nr_cpus. */
#define ACPI_MAX_CPUS 254

/* Where acpi_write() puts the RSDP: known before the tables are built, so
 * the boot loaders can pass it to the kernel. */
#define ACPI_RSDP_ADDR LAYOUT_ACPI_START

struct acpi_config {
	unsigned nr_cpus;                         /* APIC IDs 0..nr_cpus-1 */
	const struct acpi_mmio_device *virtio_mmio;
	unsigned nr_virtio_mmio;
};

/* Where the tables went (guest physical addresses). */
struct acpi_tables {
	uint64_t rsdp, rsdt, xsdt, fadt, facs, dsdt, madt, mcfg;
	size_t size;                              /* bytes used from LAYOUT_ACPI_START */
};

/* Build every table for `cfg` and write them to guest RAM at
 * LAYOUT_ACPI_START. `out` may be NULL. Returns 0, -EINVAL (no CPUs, a
 * virtio-mmio device above 4 GiB or with a GSI the IOAPIC lacks), -E2BIG
 * (more than ACPI_MAX_CPUS or ACPI_MAX_MMIO_DEVICES), -ENOSPC (the tables
 * outgrow the area), -ENOMEM or -EFAULT (the area is not RAM). Nothing is
 * written to guest RAM on failure. */
int acpi_write(struct guest_memory *mem, const struct acpi_config *cfg, struct acpi_tables *out);

#endif
