/* The CMOS real-time clock agrees with the host's clock.
 *
 * epoch=<unix seconds> on the command line is the host time when the VM
 * was started; the RTC read here, converted to Unix time, must be within
 * tolerance=<seconds> (default 5) of it. Registers per the MC146818A data
 * sheet: 0x00 seconds, 0x02 minutes, 0x04 hours, 0x07 day, 0x08 month,
 * 0x09 year, 0x0a status A (bit 7 UIP), 0x0b status B (bit 2 binary,
 * bit 1 24-hour), 0x32 century (the PC/AT convention). */
#include "io.h"
#include "libguest.h"

#define CMOS_INDEX 0x70
#define CMOS_DATA  0x71
#define CMOS_NMI_DISABLE 0x80

enum { RTC_SEC = 0x00, RTC_MIN = 0x02, RTC_HOUR = 0x04, RTC_DAY = 0x07,
       RTC_MONTH = 0x08, RTC_YEAR = 0x09, RTC_STATUS_A = 0x0a,
       RTC_STATUS_B = 0x0b, RTC_CENTURY = 0x32 };

#define STATUS_A_UIP     0x80
#define STATUS_B_BINARY  0x04
#define STATUS_B_24H     0x02
#define HOUR_PM          0x80

struct rtc_time {
	unsigned sec, min, hour, day, month, year, century;
};

static uint8_t cmos_read(uint8_t reg)
{
	outb(CMOS_INDEX, CMOS_NMI_DISABLE | reg);
	return inb(CMOS_DATA);
}

/* UIP is set for under 2 ms each second; each poll is a VM exit (tens of
 * microseconds), so this bound is seconds, not a tight race. */
#define UIP_MAX_POLLS 100000

static bool rtc_read_raw(struct rtc_time *t)
{
	unsigned polls = 0;

	/* Registers are stable for at least 244 us after UIP reads 0. */
	while (cmos_read(RTC_STATUS_A) & STATUS_A_UIP) {
		if (++polls == UIP_MAX_POLLS)
			return false;
		cpu_relax();
	}
	t->sec = cmos_read(RTC_SEC);
	t->min = cmos_read(RTC_MIN);
	t->hour = cmos_read(RTC_HOUR);
	t->day = cmos_read(RTC_DAY);
	t->month = cmos_read(RTC_MONTH);
	t->year = cmos_read(RTC_YEAR);
	t->century = cmos_read(RTC_CENTURY);
	return true;
}

static unsigned bcd(unsigned v)
{
	return (v >> 4) * 10 + (v & 0xf);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (the usual
 * era-based formula: 400-year eras of 146097 days, March-based years). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int main(int argc __unused, char **argv __unused)
{
	struct rtc_time a, b;
	uint64_t host_epoch, tolerance = 5;
	uint8_t status_b;
	bool pm;
	int64_t epoch, diff;
	unsigned year;

	report_prefix_push("rtc");
	/* Read until two reads agree, so no field rolled over in between. */
	if (!rtc_read_raw(&a)) {
		report(false, "status A UIP never cleared (0x%02x): is there an RTC?",
		       cmos_read(RTC_STATUS_A));
		return report_summary();
	}
	for (int tries = 0; tries < 5; tries++) {
		if (!rtc_read_raw(&b))
			break;
		if (!memcmp(&a, &b, sizeof(a)))
			break;
		a = b;
	}
	status_b = cmos_read(RTC_STATUS_B);
	report_info("raw %02x:%02x:%02x %02x/%02x/%02x century %02x status B 0x%02x",
		    a.hour, a.min, a.sec, a.day, a.month, a.year, a.century, status_b);

	pm = !(status_b & STATUS_B_24H) && (a.hour & HOUR_PM);
	a.hour &= ~HOUR_PM;
	if (!(status_b & STATUS_B_BINARY)) {
		a.sec = bcd(a.sec);
		a.min = bcd(a.min);
		a.hour = bcd(a.hour);
		a.day = bcd(a.day);
		a.month = bcd(a.month);
		a.year = bcd(a.year);
		a.century = bcd(a.century);
	}
	if (!(status_b & STATUS_B_24H))
		a.hour = a.hour % 12 + (pm ? 12 : 0);
	/* A missing century register reads 0 or 0xff: assume the 2000s. */
	year = (a.century >= 19 && a.century <= 21 ? a.century : 20) * 100 + a.year;

	report(a.sec < 60 && a.min < 60 && a.hour < 24 && a.day >= 1 && a.day <= 31 &&
	       a.month >= 1 && a.month <= 12, "fields in range: %04u-%02u-%02u %02u:%02u:%02u",
	       year, a.month, a.day, a.hour, a.min, a.sec);

	epoch = days_from_civil(year, a.month, a.day) * 86400 + a.hour * 3600 + a.min * 60 +
		a.sec;
	if (!cmdline_get_u64("epoch", &host_epoch)) {
		report_skip("no epoch=<unix seconds> on the command line");
		return report_summary();
	}
	cmdline_get_u64("tolerance", &tolerance);
	diff = epoch - (int64_t)host_epoch;
	report(diff >= -(int64_t)tolerance && diff <= (int64_t)tolerance,
	       "RTC %ld vs host %lu: off by %ld s (tolerance %lu s)", epoch, host_epoch, diff,
	       tolerance);
	return report_summary();
}
