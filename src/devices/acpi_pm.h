/* The ACPI fixed-hardware register block (ACPI 6.4 §4.8): PM1a event and
 * control registers and the PM timer, in 12 ports at ACPI_PM_BASE, which
 * the FADT announces (src/acpi/fadt.c).
 *
 *   0xb000  PM1_STS  (2)  status, write 1 to clear (§4.8.4.1.1)
 *   0xb002  PM1_EN   (2)  enables (§4.8.4.1.2)
 *   0xb004  PM1_CNT  (2)  control: SCI_EN, SLP_TYP, SLP_EN (§4.8.4.2.1)
 *   0xb006           (2)  reserved, reads 0
 *   0xb008  PM_TMR   (4)  the power management timer (§4.8.3.3)
 *
 * 0xb000 is where QEMU's PIIX4 PM put the block before QEMU moved it to
 * 0x600, which is kvmrun's exit port; nothing else of kvmrun's decodes
 * 0xb000-0xb00b (PCI I/O BARs start at 0xc000).
 *
 * PM timer: 32 bits (FADT TMR_VAL_EXT) counting at 3.579545 MHz, computed
 * from CLOCK_MONOTONIC on every read since the device was created: no
 * state, no lock, no thread. TMR_STS (bit 31 of the count changed since
 * the guest last cleared it) is computed the same way, on reads of
 * PM1_STS. No event raises the SCI: there is no power or sleep button, no
 * RTC alarm, no GPE block, and the timer overflow (every 20 minutes) is
 * reported in TMR_STS only, not as an interrupt; Linux needs none of them.
 *
 * PM1_CNT: SCI_EN always reads 1, because with SMI_CMD = 0 in the FADT
 * the platform is always in ACPI mode (§4.8.2.5). Writing SLP_EN with
 * SLP_TYP = ACPI_PM_SLP_TYP_S5 (the value of the DSDT's \_S5 package)
 * powers the VM off (VM_STOP_POWEROFF). SLP_EN with any other SLP_TYP is
 * ignored and counted: the DSDT offers no other sleep state.
 *
 * Access widths: any access of 1, 2 or 4 bytes inside the block works on
 * the bytes it covers (ACPICA accesses the registers at their widths,
 * other OSes byte by byte).
 *
 * Locking: PM1_EN, PM1_CNT and the TMR_STS reference are under the
 * device's mutex; a 4-byte read of PM_TMR, the hot path, takes none. */
#ifndef KVMRUN_DEVICES_ACPI_PM_H
#define KVMRUN_DEVICES_ACPI_PM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "bus.h"
#include "devices/platform.h"

#define ACPI_PM_BASE          0xb000
#define ACPI_PM_LEN           12
#define ACPI_PM1_STS          0x0     /* offsets in the block */
#define ACPI_PM1_EN           0x2
#define ACPI_PM1_CNT          0x4
#define ACPI_PM_TMR           0x8
#define ACPI_PM1_EVT_LEN      4       /* PM1_STS + PM1_EN */
#define ACPI_PM1_CNT_LEN      2
#define ACPI_PM_TMR_LEN       4

#define ACPI_PM_TIMER_HZ      3579545ULL
#define ACPI_PM_SCI_IRQ       9       /* as on PIIX4/ICH: ISA IRQ 9, level, active high */
#define ACPI_PM_SLP_TYP_S5    5       /* our \_S5 value (any 3-bit value would do) */

/* PM1_STS / PM1_EN bits (§4.8.4.1). */
#define ACPI_PM1_TMR_STS      (1u << 0)
#define ACPI_PM1_TMR_EN       (1u << 0)
#define ACPI_PM1_GBL_EN       (1u << 5)
#define ACPI_PM1_PWRBTN_EN    (1u << 8)
#define ACPI_PM1_SLPBTN_EN    (1u << 9)
#define ACPI_PM1_RTC_EN       (1u << 10)
/* PM1_CNT bits (§4.8.4.2.1). */
#define ACPI_PM1_SCI_EN       (1u << 0)
#define ACPI_PM1_BM_RLD       (1u << 1)
#define ACPI_PM1_GBL_RLS      (1u << 2)
#define ACPI_PM1_SLP_TYP_SHIFT 10
#define ACPI_PM1_SLP_TYP_MASK (7u << ACPI_PM1_SLP_TYP_SHIFT)
#define ACPI_PM1_SLP_EN       (1u << 13)

struct acpi_pm {
	pthread_mutex_t lock;
	uint64_t start_ticks;        /* timer ticks of CLOCK_MONOTONIC at init; read-only */
	struct stop_request stop;
	uint16_t pm1_en;
	uint16_t pm1_cnt;            /* BM_RLD and SLP_TYP as last written */
	uint64_t tmr_sts_since;      /* the 64-bit count when TMR_STS was last cleared */
	atomic_uint_fast64_t ignored_sleeps;  /* SLP_EN with a SLP_TYP other than S5 */
};

/* Timer ticks (3.579545 MHz) in a CLOCK_MONOTONIC time, without overflow
 * for any time a clock can hold. */
uint64_t acpi_pm_ticks(const struct timespec *t);

void acpi_pm_init(struct acpi_pm *pm, struct stop_request stop);

/* The 32-bit PM_TMR value now. Safe from any thread, lock-free. */
uint32_t acpi_pm_timer_read(struct acpi_pm *pm);

/* Ops for the ACPI_PM_LEN ports at ACPI_PM_BASE; opaque is the struct acpi_pm. */
extern const struct bus_device_ops acpi_pm_ops;

#endif
