/* FADT (ACPI 6.4 §5.2.9) and FACS (§5.2.10): the fixed hardware, which is
 * devices/acpi_pm (PM1a event and control blocks, PM timer) plus the
 * i8042 for reset and the CMOS RTC's century byte.
 *
 * Full ACPI, not hardware-reduced: Linux's PM timer clocksource, its
 * poweroff through SLP_TYP/SLP_EN and the legacy PC devices (IAPC_BOOT_ARCH)
 * all live in the fixed hardware model. SMI_CMD is 0: there is no SMM, so
 * the OS finds the platform already in ACPI mode (§4.8.2.5) and does not
 * try to switch. */
#include <errno.h>
#include <string.h>

#include "acpi/build.h"
#include "devices/acpi_pm.h"
#include "devices/i8042.h"
#include "devices/rtc.h"

#define ACPI_FADT_REVISION 6
#define ACPI_FADT_MINOR    0
#define ACPI_FACS_VERSION  2
/* C2/C3 latencies above 100 / 1000 us mean "not supported" (§5.2.9). */
#define ACPI_NO_C2_LATENCY 101
#define ACPI_NO_C3_LATENCY 1001
/* The i8042 "pulse output port bit 0" command resets the machine. */
#define ACPI_RESET_VALUE   0xfe

int acpi_facs_build(struct acpi_area *a, uint64_t *gpa)
{
	/* §5.2.10: 64-byte aligned. No checksum. No waking vector: the only
	 * sleep state offered is S5. */
	struct acpi_facs *facs = acpi_area_alloc(a, sizeof(*facs), 64, gpa);

	if (!facs)
		return -ENOSPC;
	memcpy(facs->signature, "FACS", 4);
	facs->length = sizeof(*facs);
	facs->version = ACPI_FACS_VERSION;
	return 0;
}

static struct acpi_gas acpi_io_register(uint16_t port, uint8_t bytes)
{
	return (struct acpi_gas){
		.space_id = ACPI_GAS_SYSTEM_IO,
		.bit_width = (uint8_t)(bytes * 8),
		.access_size = bytes == 1 ? ACPI_ACCESS_BYTE :
			       bytes == 2 ? ACPI_ACCESS_WORD : ACPI_ACCESS_DWORD,
		.address = port,
	};
}

int acpi_fadt_build(struct acpi_area *a, uint64_t facs, uint64_t dsdt, uint64_t *gpa)
{
	struct acpi_fadt *f = acpi_area_alloc(a, sizeof(*f), 8, gpa);

	if (!f)
		return -ENOSPC;
	if (facs > UINT32_MAX || dsdt > UINT32_MAX)
		return -EINVAL;
	acpi_header_init(&f->header, "FACP", sizeof(*f), ACPI_FADT_REVISION);
	/* The FACS in FIRMWARE_CTRL only: ACPICA installs it once per
	 * non-zero field, so setting X_FIRMWARE_CTRL too would list it twice
	 * (QEMU also sets only the 32-bit field). The DSDT in both fields,
	 * equal: ACPI 1.0 readers take DSDT, ACPICA prefers X_DSDT and warns
	 * only if they differ. */
	f->firmware_ctrl = (uint32_t)facs;
	f->dsdt = (uint32_t)dsdt;
	f->x_dsdt = dsdt;
	f->sci_int = ACPI_PM_SCI_IRQ;
	f->pm1a_evt_blk = ACPI_PM_BASE + ACPI_PM1_STS;
	f->pm1a_cnt_blk = ACPI_PM_BASE + ACPI_PM1_CNT;
	f->pm_tmr_blk = ACPI_PM_BASE + ACPI_PM_TMR;
	f->pm1_evt_len = ACPI_PM1_EVT_LEN;
	f->pm1_cnt_len = ACPI_PM1_CNT_LEN;
	f->pm_tmr_len = ACPI_PM_TMR_LEN;
	f->x_pm1a_evt_blk = acpi_io_register(ACPI_PM_BASE + ACPI_PM1_STS, ACPI_PM1_EVT_LEN);
	/* PM1_EVT is two 16-bit registers: access it a word at a time. */
	f->x_pm1a_evt_blk.access_size = ACPI_ACCESS_WORD;
	f->x_pm1a_cnt_blk = acpi_io_register(ACPI_PM_BASE + ACPI_PM1_CNT, ACPI_PM1_CNT_LEN);
	f->x_pm_tmr_blk = acpi_io_register(ACPI_PM_BASE + ACPI_PM_TMR, ACPI_PM_TMR_LEN);
	f->p_lvl2_lat = ACPI_NO_C2_LATENCY;
	f->p_lvl3_lat = ACPI_NO_C3_LATENCY;
	f->century = RTC_CENTURY;
	f->iapc_boot_arch = ACPI_IAPC_LEGACY_DEVICES | ACPI_IAPC_8042 | ACPI_IAPC_NO_VGA;
	f->flags = ACPI_FADT_WBINVD | ACPI_FADT_PROC_C1 | ACPI_FADT_PWR_BUTTON |
		   ACPI_FADT_SLP_BUTTON | ACPI_FADT_FIX_RTC | ACPI_FADT_TMR_VAL_EXT |
		   ACPI_FADT_RESET_REG_SUP;
	f->reset_reg = acpi_io_register(I8042_COMMAND_PORT, 1);
	f->reset_value = ACPI_RESET_VALUE;
	f->minor_version = ACPI_FADT_MINOR;
	memcpy(f->hypervisor_vendor_id, "KVMRUN  ", sizeof(f->hypervisor_vendor_id));
	acpi_table_finish(&f->header);
	return 0;
}
