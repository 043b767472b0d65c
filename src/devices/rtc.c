#include "devices/rtc.h"

/* The guest clock is kept within years 0000-9999 so that every field,
 * the century included, fits two BCD digits. */
#define RTC_TIME_MIN  (-62167219200LL)  /* 0000-01-01 00:00:00 UTC */
#define RTC_TIME_MAX  253402300799LL    /* 9999-12-31 23:59:59 UTC */

/* Memory-size bytes, as a PC BIOS stores them after POST. */
#define CMOS_BASE_MEM_LO    0x15  /* KiB below 1 MiB (640) */
#define CMOS_EXT_MEM_LO     0x17  /* KiB from 1 MiB, capped at 65535 */
#define CMOS_CHECKSUM_HI    0x2e  /* sum of bytes 0x10-0x2d, big-endian */
#define CMOS_EXT_MEM2_LO    0x30  /* copy of 0x17/0x18 found by POST */
#define CMOS_MEM_16M_LO     0x34  /* 64 KiB units from 16 MiB to 4 GiB */
#define CMOS_MEM_4G_LO      0x5b  /* 64 KiB units above 4 GiB, 3 bytes */

#define KIB (1ULL << 10)
#define MIB (1ULL << 20)

static time_t rtc_host_now(void)
{
	return time(NULL);
}

static void cmos_put(struct rtc *rtc, unsigned index, uint64_t val, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++)
		rtc->cmos[index + i] = val >> (8 * i);
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static void rtc_store_memory_size(struct rtc *rtc, uint64_t low, uint64_t high)
{
	uint64_t ext = low > MIB ? min_u64((low - MIB) / KIB, 0xffff) : 0;
	uint64_t above_16m = low > 16 * MIB ? min_u64((low - 16 * MIB) / (64 * KIB), 0xffff) : 0;
	unsigned sum = 0;

	cmos_put(rtc, CMOS_BASE_MEM_LO, min_u64(low / KIB, 640), 2);
	cmos_put(rtc, CMOS_EXT_MEM_LO, ext, 2);
	cmos_put(rtc, CMOS_EXT_MEM2_LO, ext, 2);
	cmos_put(rtc, CMOS_MEM_16M_LO, above_16m, 2);
	cmos_put(rtc, CMOS_MEM_4G_LO, min_u64(high / (64 * KIB), 0xffffff), 3);

	for (unsigned i = 0x10; i < CMOS_CHECKSUM_HI; i++)
		sum += rtc->cmos[i];
	rtc->cmos[CMOS_CHECKSUM_HI] = sum >> 8;
	rtc->cmos[CMOS_CHECKSUM_HI + 1] = sum;
}

void rtc_init(struct rtc *rtc, uint64_t low_ram_bytes, uint64_t high_ram_bytes)
{
	/* A default mutex holds no resources: the static initializer cannot
	 * fail and needs no destroy. */
	*rtc = (struct rtc){
		.lock = PTHREAD_MUTEX_INITIALIZER,
		.now = rtc_host_now,
		.last_c_read = INT64_MIN,  /* first read of C: updates happened */
	};
	rtc->cmos[RTC_REG_A] = RTC_A_DEFAULT;
	rtc->cmos[RTC_REG_B] = RTC_B_DEFAULT;
	rtc_store_memory_size(rtc, low_ram_bytes, high_ram_bytes);
}

static int64_t clamp_time(int64_t t)
{
	return t < RTC_TIME_MIN ? RTC_TIME_MIN : t > RTC_TIME_MAX ? RTC_TIME_MAX : t;
}

/* The guest's current time, in seconds since the epoch. */
static int64_t rtc_guest_seconds(const struct rtc *rtc)
{
	int64_t host = rtc->now(), t;

	if (__builtin_add_overflow(host, rtc->offset, &t))
		t = rtc->offset > 0 ? RTC_TIME_MAX : RTC_TIME_MIN;
	return clamp_time(t);
}

static bool rtc_binary(const struct rtc *rtc)
{
	return rtc->cmos[RTC_REG_B] & RTC_B_DM_BINARY;
}

static uint8_t rtc_encode(const struct rtc *rtc, unsigned v)
{
	v %= 100;
	return rtc_binary(rtc) ? v : (v / 10) << 4 | v % 10;
}

/* Garbage BCD from the guest (0xff) decodes to a large number; timegm()
 * normalizes whatever comes out, like a chip counting from a bad value. */
static int rtc_decode(const struct rtc *rtc, uint8_t b)
{
	return rtc_binary(rtc) ? b : (b >> 4) * 10 + (b & 0x0f);
}

static bool rtc_24h(const struct rtc *rtc)
{
	return rtc->cmos[RTC_REG_B] & RTC_B_24H;
}

static bool rtc_set_mode(const struct rtc *rtc)
{
	return rtc->cmos[RTC_REG_B] & RTC_B_SET;
}

/* Write the guest's current time into the time-register bytes, in the
 * format register B selects. */
static void rtc_latch(struct rtc *rtc)
{
	time_t t = rtc_guest_seconds(rtc);
	struct tm tm;
	int year;

	gmtime_r(&t, &tm);  /* cannot fail for years 0-9999 */
	year = tm.tm_year + 1900;
	rtc->cmos[RTC_SECONDS] = rtc_encode(rtc, tm.tm_sec);
	rtc->cmos[RTC_MINUTES] = rtc_encode(rtc, tm.tm_min);
	if (rtc_24h(rtc)) {
		rtc->cmos[RTC_HOURS] = rtc_encode(rtc, tm.tm_hour);
	} else {
		/* 12-hour mode: 12, 1..11 AM then 12, 1..11 PM (bit 7). */
		unsigned h = tm.tm_hour % 12 ? tm.tm_hour % 12 : 12;

		rtc->cmos[RTC_HOURS] = rtc_encode(rtc, h) |
				       (tm.tm_hour >= 12 ? RTC_HOURS_PM : 0);
	}
	rtc->cmos[RTC_DAY_OF_WEEK] = rtc_encode(rtc, tm.tm_wday + 1);  /* Sunday = 1 */
	rtc->cmos[RTC_DAY_OF_MONTH] = rtc_encode(rtc, tm.tm_mday);
	rtc->cmos[RTC_MONTH] = rtc_encode(rtc, tm.tm_mon + 1);
	rtc->cmos[RTC_YEAR] = rtc_encode(rtc, year % 100);
	rtc->cmos[RTC_CENTURY] = rtc_encode(rtc, year / 100);
}

/* Make the time in the time-register bytes the guest's current time. */
static void rtc_commit(struct rtc *rtc)
{
	struct tm tm = { .tm_isdst = 0 };
	uint8_t hours = rtc->cmos[RTC_HOURS];
	int64_t t, host = rtc->now();

	tm.tm_sec = rtc_decode(rtc, rtc->cmos[RTC_SECONDS]);
	tm.tm_min = rtc_decode(rtc, rtc->cmos[RTC_MINUTES]);
	if (rtc_24h(rtc))
		tm.tm_hour = rtc_decode(rtc, hours);
	else
		tm.tm_hour = rtc_decode(rtc, hours & ~RTC_HOURS_PM) % 12 +
			     (hours & RTC_HOURS_PM ? 12 : 0);
	tm.tm_mday = rtc_decode(rtc, rtc->cmos[RTC_DAY_OF_MONTH]);
	tm.tm_mon = rtc_decode(rtc, rtc->cmos[RTC_MONTH]) - 1;
	tm.tm_year = rtc_decode(rtc, rtc->cmos[RTC_CENTURY]) * 100 +
		     rtc_decode(rtc, rtc->cmos[RTC_YEAR]) - 1900;
	/* The fields are at most 255 * 100 + 255 years: timegm cannot
	 * overflow. The day of the week is derived, never committed. */
	t = clamp_time(timegm(&tm));
	if (__builtin_sub_overflow(t, host, &rtc->offset))
		rtc->offset = 0;  /* only with a broken now() hook */
}

static bool rtc_is_time_register(unsigned index)
{
	switch (index) {
	case RTC_SECONDS:
	case RTC_MINUTES:
	case RTC_HOURS:
	case RTC_DAY_OF_WEEK:
	case RTC_DAY_OF_MONTH:
	case RTC_MONTH:
	case RTC_YEAR:
	case RTC_CENTURY:
		return true;
	default:
		return false;
	}
}

/* Register C: UF when the guest's second has moved on since the last
 * read (updates are inhibited while SET is 1); IRQF when UF is enabled as
 * an interrupt, though IRQ 8 is not wired. Reading clears both. */
static uint8_t rtc_read_c(struct rtc *rtc)
{
	int64_t now = rtc_guest_seconds(rtc);
	uint8_t c = 0;

	if (!rtc_set_mode(rtc) && now != rtc->last_c_read) {
		c = RTC_C_UF;
		if (rtc->cmos[RTC_REG_B] & RTC_B_UIE)
			c |= RTC_C_IRQF;
	}
	rtc->last_c_read = now;
	return c;
}

static uint8_t rtc_read_data(struct rtc *rtc)
{
	unsigned index = rtc->index;

	if (rtc_is_time_register(index)) {
		if (!rtc_set_mode(rtc))
			rtc_latch(rtc);
		return rtc->cmos[index];
	}
	switch (index) {
	case RTC_REG_A:
		return rtc->cmos[RTC_REG_A] & ~RTC_A_UIP;
	case RTC_REG_C:
		return rtc_read_c(rtc);
	case RTC_REG_D:
		return RTC_D_VRT;
	default:
		return rtc->cmos[index];
	}
}

static void rtc_write_b(struct rtc *rtc, uint8_t val)
{
	bool was_set = rtc_set_mode(rtc);

	/* MC146818A register B: setting SET also clears UIE. */
	if (val & RTC_B_SET)
		val &= ~RTC_B_UIE;
	rtc->cmos[RTC_REG_B] = val;
	if (!was_set && (val & RTC_B_SET))
		rtc_latch(rtc);   /* stop the clock where it is */
	else if (was_set && !(val & RTC_B_SET))
		rtc_commit(rtc);  /* and restart it from what the guest wrote */
}

static void rtc_write_data(struct rtc *rtc, uint8_t val)
{
	unsigned index = rtc->index;

	if (rtc_is_time_register(index)) {
		if (rtc_set_mode(rtc)) {
			rtc->cmos[index] = val;
			return;
		}
		rtc_latch(rtc);
		rtc->cmos[index] = val;
		rtc_commit(rtc);
		return;
	}
	switch (index) {
	case RTC_REG_A:
		rtc->cmos[RTC_REG_A] = val & ~RTC_A_UIP;  /* UIP is read-only */
		break;
	case RTC_REG_B:
		rtc_write_b(rtc, val);
		break;
	case RTC_REG_C:
	case RTC_REG_D:
		break;  /* read-only */
	default:
		rtc->cmos[index] = val;
		break;
	}
}

/* Byte `port` of the range: 0 is the index port, 1 the data port. */
static uint8_t rtc_read_port(struct rtc *rtc, uint64_t port)
{
	return port == 1 ? rtc_read_data(rtc) : 0xff;
}

static void rtc_write_port(struct rtc *rtc, uint64_t port, uint8_t val)
{
	if (port == 0)
		rtc->index = val & 0x7f;  /* bit 7 masks NMIs; there are none to mask */
	else if (port == 1)
		rtc_write_data(rtc, val);
}

/* Wider accesses are split into byte accesses to consecutive ports. */
static void rtc_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct rtc *rtc = opaque;
	uint8_t *bytes = data;

	pthread_mutex_lock(&rtc->lock);
	for (unsigned i = 0; i < size; i++)
		bytes[i] = rtc_read_port(rtc, offset + i);
	pthread_mutex_unlock(&rtc->lock);
}

static void rtc_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct rtc *rtc = opaque;
	const uint8_t *bytes = data;

	pthread_mutex_lock(&rtc->lock);
	for (unsigned i = 0; i < size; i++)
		rtc_write_port(rtc, offset + i, bytes[i]);
	pthread_mutex_unlock(&rtc->lock);
}

const struct bus_device_ops rtc_ops = {
	.read = rtc_read,
	.write = rtc_write,
};
