/* MC146818 CMOS real-time clock and its 128 bytes of CMOS RAM, at ports
 * 0x70 (index) and 0x71 (data).
 *
 * The clock is not a counter that ticks: the time registers (0x00-0x09 and
 * the century byte 0x32, an IBM PC convention also named by the ACPI FADT
 * CENTURY field) are computed from the host's wall clock (UTC) plus an
 * offset whenever the guest reads them, in BCD or binary and in 24- or
 * 12-hour form as register B says. Writing a time register moves the
 * offset, so the guest's clock keeps running from the time it set. While
 * register B's SET bit is 1 the clock is frozen and the guest edits the
 * frozen copy; clearing SET starts it from there (MC146818A, register B
 * bit 7). The day of the week is derived from the date; writes to it are
 * ignored.
 *
 * Register A's UIP bit always reads 0. On the chip it is set for 244 us
 * before each once-a-second update, warning that the time registers are
 * about to change under the reader. Here every read computes a consistent
 * value from the host clock, so no single register is ever caught
 * mid-update; a guest that reads several registers across a second
 * boundary sees the seconds change, which is the case Linux's
 * mc146818_get_time() already re-reads for. Emulating UIP would only make
 * guests poll, and each poll is a VM exit.
 *
 * Register C reports UF (update ended) when the guest-visible second has
 * changed since C was last read, so guests that poll UF see one update per
 * second; reading C clears it. No alarm, periodic or update interrupt
 * (IRQ 8) is raised: AF and PF stay 0. Register D reads 0x80 (VRT: the
 * battery is good).
 *
 * Locking: one mutex per RTC; the now() hook is called with it held. */
#ifndef KVMRUN_DEVICES_RTC_H
#define KVMRUN_DEVICES_RTC_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "bus.h"

#define RTC_BASE   0x70
#define RTC_PORTS  2      /* 0x70 index, 0x71 data */

/* CMOS register indexes */
#define RTC_SECONDS         0x00
#define RTC_SECONDS_ALARM   0x01
#define RTC_MINUTES         0x02
#define RTC_MINUTES_ALARM   0x03
#define RTC_HOURS           0x04
#define RTC_HOURS_ALARM     0x05
#define RTC_DAY_OF_WEEK     0x06
#define RTC_DAY_OF_MONTH    0x07
#define RTC_MONTH           0x08
#define RTC_YEAR            0x09
#define RTC_REG_A           0x0a
#define RTC_REG_B           0x0b
#define RTC_REG_C           0x0c
#define RTC_REG_D           0x0d
#define RTC_CENTURY         0x32

#define RTC_A_UIP           0x80
#define RTC_A_DEFAULT       0x26  /* DV = 010 (32.768 kHz), RS = 0110 (1024 Hz) */
#define RTC_B_SET           0x80
#define RTC_B_UIE           0x10
#define RTC_B_DM_BINARY     0x04
#define RTC_B_24H           0x02
#define RTC_B_DEFAULT       RTC_B_24H  /* BCD, 24-hour */
#define RTC_C_IRQF          0x80
#define RTC_C_UF            0x10
#define RTC_D_VRT           0x80
#define RTC_HOURS_PM        0x80  /* 12-hour mode */

struct rtc {
	pthread_mutex_t lock;
	/* Host wall clock; tests replace it to freeze time. Defaults to a
	 * wrapper around time(NULL). */
	time_t (*now)(void);
	uint8_t index;            /* selected register, bit 7 (NMI mask) dropped */
	/* CMOS RAM. The time registers' bytes hold the last time latched
	 * for a read, and the guest's edits while SET is 1. */
	uint8_t cmos[128];
	int64_t offset;           /* guest time - host time, in seconds */
	int64_t last_c_read;      /* guest second at the last read of register C */
};

/* Power-on state plus the memory-size bytes a PC BIOS would have stored:
 * `low_ram_bytes` is RAM below 4 GiB (from address 0), `high_ram_bytes`
 * RAM from 4 GiB up. Cannot fail. */
void rtc_init(struct rtc *rtc, uint64_t low_ram_bytes, uint64_t high_ram_bytes);

/* Ports for a RTC_PORTS-long range at RTC_BASE; opaque is the struct rtc.
 * Reads of the index port return 0xff: it is write-only. */
extern const struct bus_device_ops rtc_ops;

#endif
