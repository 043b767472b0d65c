/* DSDT (ACPI 6.4 §5.2.11.1): the devices an OS cannot find by probing,
 * written as AML with acpi/aml.h. What it declares (ASL notation):
 *
 *   Scope (\_SB) {
 *     Device (PCI0)  PNP0A08/PNP0A03 host bridge: bus numbers 0-255,
 *                    ports 0xcf8-0xcff, I/O windows below and above them,
 *                    the BAR memory window LAYOUT_PCI_MMIO_BASE..END
 *     Device (COM1)  PNP0501 at 0x3f8, IRQ 4
 *     Device (RTC)   PNP0B00 at 0x70, IRQ 8
 *     Device (KBD)   PNP0303 at 0x60 and 0x64, IRQ 1
 *     Device (FWCF)  QEMU0002 (fw_cfg) at 0x510-0x51b, hidden from UIs
 *     Device (MBRD)  PNP0C02 motherboard resources: the PCI ECAM window
 *     Device (Cnnn)  ACPI0007, one per processor, _UID = APIC ID
 *     Device (VRnn)  LNRO0005, one per virtio-mmio device
 *   }
 *   Name (\_S5, Package () { 5, 5, 0, 0 })
 *
 * Every resource is a Name (_CRS, ResourceTemplate ()) constant: there
 * are no methods, nothing to execute, and nothing the guest can change. */
#include <errno.h>
#include <stdio.h>

#include "acpi/aml.h"
#include "acpi/build.h"
#include "devices/acpi_pm.h"
#include "devices/fw_cfg.h"
#include "devices/i8042.h"
#include "devices/rtc.h"
#include "devices/uart.h"
#include "layout.h"
#include "pci/pci_bus.h"
#include "platform.h"

/* Revision 2: integers are 64 bits wide (§5.2.11.1). */
#define ACPI_DSDT_REVISION 2

#define DSDT_RTC_IRQ      8
#define DSDT_KBD_IRQ      1
#define DSDT_FW_CFG_LEN   (FW_CFG_PORT_DMA + FW_CFG_DMA_LEN - FW_CFG_PORT_SELECTOR)
/* _STA: present, enabled, functioning, but not shown in a UI (§6.3.7). */
#define DSDT_STA_HIDDEN   0x0b
/* The I/O APIC's pins: the GSIs a virtio-mmio device may use. */
#define DSDT_IOAPIC_PINS  24

static void dsdt_pci_root(struct aml *a)
{
	struct aml_resources r;

	aml_resources_init(&r);
	aml_res_bus_numbers(&r, 0, (LAYOUT_PCI_ECAM_SIZE >> 20) - 1);
	/* The bridge itself decodes the mechanism #1 ports... */
	aml_res_io(&r, PCI_CONF1_ADDRESS_PORT, 8);
	/* ...and forwards every other port and the BAR memory window. */
	aml_res_io_window(&r, 0x0000, PCI_CONF1_ADDRESS_PORT - 1);
	aml_res_io_window(&r, PCI_CONF1_ADDRESS_PORT + 8, 0xffff);
	aml_res_memory_window(&r, (uint32_t)LAYOUT_PCI_MMIO_BASE,
			      (uint32_t)(LAYOUT_PCI_MMIO_END - 1));

	aml_device_begin(a, "PCI0");
	aml_name_eisaid(a, "_HID", "PNP0A08");   /* PCI Express root bridge */
	aml_name_eisaid(a, "_CID", "PNP0A03");   /* compatible: PCI root bridge */
	aml_name_integer(a, "_UID", 0);
	aml_name_integer(a, "_SEG", 0);          /* the MCFG's segment */
	aml_name_integer(a, "_BBN", 0);
	aml_name(a, "_CRS");
	aml_resource_template(a, &r);
	aml_end(a);
}

/* A legacy device at fixed ports with one ISA IRQ. */
static void dsdt_isa_device(struct aml *a, const char *name, const char *hid, unsigned uid,
			    const struct aml_resources *r)
{
	aml_device_begin(a, name);
	aml_name_eisaid(a, "_HID", hid);
	aml_name_integer(a, "_UID", uid);
	aml_name(a, "_CRS");
	aml_resource_template(a, r);
	aml_end(a);
}

static void dsdt_legacy_devices(struct aml *a)
{
	struct aml_resources r;

	aml_resources_init(&r);
	aml_res_io(&r, PLATFORM_COM1_PORT, UART_PORTS);
	aml_res_irq(&r, PLATFORM_COM1_IRQ);
	dsdt_isa_device(a, "COM1", "PNP0501", 1, &r);

	aml_resources_init(&r);
	aml_res_io(&r, RTC_BASE, RTC_PORTS);
	aml_res_irq(&r, DSDT_RTC_IRQ);
	dsdt_isa_device(a, "RTC", "PNP0B00", 0, &r);

	aml_resources_init(&r);
	aml_res_io(&r, I8042_DATA_PORT, 1);
	aml_res_io(&r, I8042_COMMAND_PORT, 1);
	aml_res_irq(&r, DSDT_KBD_IRQ);
	dsdt_isa_device(a, "KBD", "PNP0303", 0, &r);

	/* QEMU's ACPI name for fw_cfg, which Linux's qemu_fw_cfg driver binds. */
	aml_resources_init(&r);
	aml_res_io(&r, FW_CFG_PORT_SELECTOR, DSDT_FW_CFG_LEN);
	aml_device_begin(a, "FWCF");
	aml_name_string_value(a, "_HID", "QEMU0002");
	aml_name_integer(a, "_STA", DSDT_STA_HIDDEN);
	aml_name(a, "_CRS");
	aml_resource_template(a, &r);
	aml_end(a);

	/* Linux uses the MCFG's window only if firmware reserved it: an e820
	 * entry or, here, a motherboard resource. */
	aml_resources_init(&r);
	aml_res_memory32_fixed(&r, (uint32_t)LAYOUT_PCI_ECAM_BASE, (uint32_t)LAYOUT_PCI_ECAM_SIZE,
			       true);
	dsdt_isa_device(a, "MBRD", "PNP0C02", 0, &r);
}

static void dsdt_processors(struct aml *a, unsigned nr_cpus)
{
	for (unsigned cpu = 0; cpu < nr_cpus; cpu++) {
		char name[16];   /* "C0FD", "VRFF": the counts are bounded by acpi_write() */

		snprintf(name, sizeof(name), "C%03X", cpu);
		aml_device_begin(a, name);
		aml_name_string_value(a, "_HID", "ACPI0007");
		aml_name_integer(a, "_UID", cpu);  /* the MADT's processor UID */
		aml_end(a);
	}
}

static int dsdt_virtio_mmio(struct aml *a, const struct acpi_config *cfg)
{
	for (unsigned i = 0; i < cfg->nr_virtio_mmio; i++) {
		const struct acpi_mmio_device *d = &cfg->virtio_mmio[i];
		struct aml_resources r;
		char name[16];   /* "C0FD", "VRFF": the counts are bounded by acpi_write() */

		if (d->size == 0 || d->base > UINT32_MAX || d->size > UINT32_MAX - d->base + 1 ||
		    d->gsi >= DSDT_IOAPIC_PINS)
			return -EINVAL;
		aml_resources_init(&r);
		aml_res_memory32_fixed(&r, (uint32_t)d->base, d->size, true);
		aml_res_interrupt(&r, d->gsi, d->level, false);
		snprintf(name, sizeof(name), "VR%02X", i);
		aml_device_begin(a, name);
		aml_name_string_value(a, "_HID", "LNRO0005");
		aml_name_integer(a, "_UID", i);
		aml_name(a, "_CRS");
		aml_resource_template(a, &r);
		aml_end(a);
	}
	return 0;
}

int acpi_dsdt_build(struct acpi_area *a, const struct acpi_config *cfg, uint64_t *gpa)
{
	struct acpi_header *h = acpi_area_alloc(a, sizeof(*h), 16, gpa);
	struct aml aml;
	long len;
	int ret;

	if (!h)
		return -ENOSPC;
	/* The AML goes straight after the header, into the rest of the area;
	 * what it uses is claimed once its length is known. */
	aml_init(&aml, (uint8_t *)(h + 1), a->size - a->used);
	aml_scope_begin(&aml, "\\_SB");
	dsdt_pci_root(&aml);
	dsdt_legacy_devices(&aml);
	dsdt_processors(&aml, cfg->nr_cpus);
	ret = dsdt_virtio_mmio(&aml, cfg);
	if (ret)
		return ret;
	aml_end(&aml);

	/* \_S5: the SLP_TYP values for PM1a_CNT and PM1b_CNT (§7.4.2). */
	aml_name(&aml, "\\_S5");
	aml_package_begin(&aml);
	aml_integer(&aml, ACPI_PM_SLP_TYP_S5);
	aml_integer(&aml, ACPI_PM_SLP_TYP_S5);
	aml_integer(&aml, 0);
	aml_integer(&aml, 0);
	aml_end(&aml);

	len = aml_finish(&aml);
	if (len < 0)
		return (int)len;
	if ((size_t)len > UINT32_MAX - sizeof(*h))
		return -E2BIG;
	a->used += (size_t)len;
	acpi_header_init(h, "DSDT", (uint32_t)(sizeof(*h) + (size_t)len), ACPI_DSDT_REVISION);
	acpi_table_finish(h);
	return 0;
}
