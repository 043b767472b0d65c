/* Guest physical address map shared by the loaders, the platform and the VM.
 *
 *   0x00000000  real-mode IVT / BDA (RAM, left zero)
 *   0x00000500  boot GDT (64-bit Linux boot)
 *   0x00005000  PVH hvm_start_info, then its memory map and module list
 *   0x00006000  Multiboot information, memory map, module list, loader name
 *   0x00007000  Linux zero page (struct boot_params)
 *   0x00009000  boot page tables: PML4, PDPT, 4 page directories (4 GiB, 2 MiB pages)
 *   0x00020000  kernel command line (up to LAYOUT_CMDLINE_MAX bytes; for
 *               Multiboot "<kernel path> <command line>")
 *   0x0009fc00  MP floating pointer + MP configuration table (e820 reserved)
 *   0x000a0000  legacy VGA / option ROM / BIOS area (e820 reserved, RAM in the slot)
 *   0x000e0000    ACPI tables: the RSDP first, then the other tables (64 KiB)
 *   0x000f0000    MP configuration table when it does not fit at 0x9fc00
 *   0x00100000  kernel image (bzImage protected-mode part, ELF segments)
 *   ...         RAM up to min(memory, LAYOUT_MMIO_HOLE_START)
 *   0xd0000000  device hole: virtio-mmio windows,
 *   0xe0000000    PCI ECAM (MMCONFIG, 256 MiB: buses 0-255),
 *   0xf0000000    PCI memory BARs (up to 0xfc000000),
 *   0xfec00000    IOAPIC, LAPIC, TSS, identity map,
 *   0xff000000    pc-testdev's 64 KiB MMIO window (with --pc-testdev)
 *   4 GiB       RAM above the hole when memory is larger than the low part
 */
#ifndef KVMRUN_LAYOUT_H
#define KVMRUN_LAYOUT_H

#define LAYOUT_BOOT_GDT            0x00000500ULL
#define LAYOUT_PVH_START_INFO      0x00005000ULL
#define LAYOUT_MULTIBOOT_INFO      0x00006000ULL  /* ends below LAYOUT_ZERO_PAGE */
#define LAYOUT_ZERO_PAGE           0x00007000ULL
#define LAYOUT_PAGE_TABLES         0x00009000ULL  /* 6 pages: PML4, PDPT, 4 x PD */
#define LAYOUT_CMDLINE             0x00020000ULL
#define LAYOUT_CMDLINE_MAX         0x00010000ULL  /* our own cap; the kernel's is cmdline_size */
#define LAYOUT_EBDA_START          0x0009fc00ULL  /* MP tables live here, like a BIOS EBDA */
#define LAYOUT_LEGACY_HOLE_START   0x000a0000ULL
#define LAYOUT_HIGH_MEMORY_START   0x00100000ULL  /* 1 MiB: where kernels are loaded */
/* ACPI tables (src/acpi/): the RSDP must lie in 0xe0000-0xfffff on a
 * 16-byte boundary (ACPI 6.4 §5.2.5.1), where guests scan for it. The
 * area ends where the MP table's high copy may start (boot/mptable.c). */
#define LAYOUT_ACPI_START          0x000e0000ULL
#define LAYOUT_ACPI_END            0x000f0000ULL

/* Device hole below 4 GiB. 768 MiB is plenty for MMIO devices and keeps up
 * to 3.25 GiB of RAM below 4 GiB for 32-bit guests. */
#define LAYOUT_MMIO_HOLE_START     0xd0000000ULL
#define LAYOUT_MMIO_HOLE_END       0x100000000ULL
#define LAYOUT_VIRTIO_MMIO_BASE    0xd0000000ULL  /* virtio-mmio windows, 4 KiB each */
/* PCI configuration space as memory (PCI Express 3.0 §7.2.2): 1 MiB per
 * bus, 4 KiB per function. Only bus 0 is populated; the window covers all
 * 256 buses so that a future ACPI MCFG table can describe it as is. */
#define LAYOUT_PCI_ECAM_BASE       0xe0000000ULL
#define LAYOUT_PCI_ECAM_SIZE       0x10000000ULL
/* Where pci_bus_add() places 32-bit memory BARs. */
#define LAYOUT_PCI_MMIO_BASE       0xf0000000ULL
#define LAYOUT_PCI_MMIO_END        0xfc000000ULL
#define LAYOUT_IOAPIC_BASE         0xfec00000ULL
#define LAYOUT_LAPIC_BASE          0xfee00000ULL
/* KVM_SET_TSS_ADDR needs three pages and KVM_SET_IDENTITY_MAP_ADDR one,
 * inside the hole and away from the APICs (Intel without unrestricted guest). */
#define LAYOUT_IDENTITY_MAP        0xfeffc000ULL
#define LAYOUT_TSS                 0xfeffd000ULL
/* QEMU's pc-testdev puts a 64 KiB trapping MMIO window here; test kernels
 * written for it expect exactly this address. */
#define LAYOUT_PC_TESTDEV_IOMEM    0xff000000ULL

/* Below this much RAM neither a test guest nor a kernel fits. */
#define LAYOUT_MIN_MEMORY          (8ULL << 20)

#endif
