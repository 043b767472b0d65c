/* MC146818 RTC: time registers from a frozen host clock in every format,
 * guest-set time that keeps running, registers A-D and the memory-size
 * bytes, through the index/data port pair. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <setjmp.h>
#include <cmocka.h>

#include "devices/rtc.h"

#define MIB (1ULL << 20)
#define GIB (1ULL << 30)

/* Thursday 2024-02-29 13:45:07 UTC */
#define LEAP_DAY_AFTERNOON 1709214307

/* The test's host clock: the RTC's now() hook takes no context. */
static time_t frozen_now;

static time_t frozen(void)
{
	return frozen_now;
}

static int setup(void **state)
{
	struct rtc *rtc = calloc(1, sizeof(*rtc));

	assert_non_null(rtc);
	rtc_init(rtc, 512 * MIB, 0);
	rtc->now = frozen;
	frozen_now = LEAP_DAY_AFTERNOON;
	*state = rtc;
	return 0;
}

static int teardown(void **state)
{
	free(*state);
	return 0;
}

static uint8_t cmos_read(struct rtc *rtc, uint8_t index)
{
	uint8_t v = 0xa5;

	rtc_ops.write(rtc, 0, &index, 1);
	rtc_ops.read(rtc, 1, &v, 1);
	return v;
}

static void cmos_write(struct rtc *rtc, uint8_t index, uint8_t val)
{
	rtc_ops.write(rtc, 0, &index, 1);
	rtc_ops.write(rtc, 1, &val, 1);
}

static void test_bcd_24h_time(void **state)
{
	struct rtc *rtc = *state;

	assert_int_equal(cmos_read(rtc, RTC_SECONDS), 0x07);
	assert_int_equal(cmos_read(rtc, RTC_MINUTES), 0x45);
	assert_int_equal(cmos_read(rtc, RTC_HOURS), 0x13);
	assert_int_equal(cmos_read(rtc, RTC_DAY_OF_WEEK), 5);  /* Sunday is 1 */
	assert_int_equal(cmos_read(rtc, RTC_DAY_OF_MONTH), 0x29);
	assert_int_equal(cmos_read(rtc, RTC_MONTH), 0x02);
	assert_int_equal(cmos_read(rtc, RTC_YEAR), 0x24);
	assert_int_equal(cmos_read(rtc, RTC_CENTURY), 0x20);
}

static void test_binary_time(void **state)
{
	struct rtc *rtc = *state;

	cmos_write(rtc, RTC_REG_B, RTC_B_24H | RTC_B_DM_BINARY);
	assert_int_equal(cmos_read(rtc, RTC_SECONDS), 7);
	assert_int_equal(cmos_read(rtc, RTC_MINUTES), 45);
	assert_int_equal(cmos_read(rtc, RTC_HOURS), 13);
	assert_int_equal(cmos_read(rtc, RTC_DAY_OF_MONTH), 29);
	assert_int_equal(cmos_read(rtc, RTC_MONTH), 2);
	assert_int_equal(cmos_read(rtc, RTC_YEAR), 24);
	assert_int_equal(cmos_read(rtc, RTC_CENTURY), 20);
}

static void test_12_hour_mode(void **state)
{
	struct rtc *rtc = *state;
	const time_t midnight = LEAP_DAY_AFTERNOON - (13 * 3600 + 45 * 60 + 7);

	cmos_write(rtc, RTC_REG_B, 0);  /* BCD, 12-hour */
	assert_int_equal(cmos_read(rtc, RTC_HOURS), RTC_HOURS_PM | 0x01);
	frozen_now = midnight;
	assert_int_equal(cmos_read(rtc, RTC_HOURS), 0x12);  /* 12 AM */
	frozen_now = midnight + 11 * 3600;
	assert_int_equal(cmos_read(rtc, RTC_HOURS), 0x11);
	frozen_now = midnight + 12 * 3600;
	assert_int_equal(cmos_read(rtc, RTC_HOURS), RTC_HOURS_PM | 0x12);  /* noon */
	frozen_now = midnight + 23 * 3600;
	cmos_write(rtc, RTC_REG_B, RTC_B_DM_BINARY);
	assert_int_equal(cmos_read(rtc, RTC_HOURS), RTC_HOURS_PM | 11);
}

static void test_status_registers(void **state)
{
	struct rtc *rtc = *state;

	assert_int_equal(cmos_read(rtc, RTC_REG_A), RTC_A_DEFAULT);
	cmos_write(rtc, RTC_REG_A, 0xa6);  /* UIP is read-only and reads 0 */
	assert_int_equal(cmos_read(rtc, RTC_REG_A), 0x26);
	assert_int_equal(cmos_read(rtc, RTC_REG_B), RTC_B_DEFAULT);
	assert_int_equal(cmos_read(rtc, RTC_REG_D), RTC_D_VRT);
	cmos_write(rtc, RTC_REG_D, 0);
	assert_int_equal(cmos_read(rtc, RTC_REG_D), RTC_D_VRT);
}

static void test_register_c_reports_updates_and_clears_on_read(void **state)
{
	struct rtc *rtc = *state;

	assert_int_equal(cmos_read(rtc, RTC_REG_C), RTC_C_UF);  /* since power-on */
	assert_int_equal(cmos_read(rtc, RTC_REG_C), 0);
	frozen_now++;
	assert_int_equal(cmos_read(rtc, RTC_REG_C), RTC_C_UF);
	assert_int_equal(cmos_read(rtc, RTC_REG_C), 0);
	cmos_write(rtc, RTC_REG_B, RTC_B_DEFAULT | RTC_B_UIE);
	frozen_now++;
	assert_int_equal(cmos_read(rtc, RTC_REG_C), RTC_C_IRQF | RTC_C_UF);
	cmos_write(rtc, RTC_REG_C, 0xff);  /* read-only */
	assert_int_equal(cmos_read(rtc, RTC_REG_C), 0);
}

static void test_written_time_keeps_running(void **state)
{
	struct rtc *rtc = *state;

	cmos_write(rtc, RTC_SECONDS, 0x30);
	assert_int_equal(cmos_read(rtc, RTC_SECONDS), 0x30);
	assert_int_equal(cmos_read(rtc, RTC_MINUTES), 0x45);  /* others kept */
	frozen_now += 35;
	assert_int_equal(cmos_read(rtc, RTC_SECONDS), 0x05);
	assert_int_equal(cmos_read(rtc, RTC_MINUTES), 0x46);

	cmos_write(rtc, RTC_YEAR, 0x99);
	cmos_write(rtc, RTC_MONTH, 0x12);
	cmos_write(rtc, RTC_DAY_OF_MONTH, 0x31);
	cmos_write(rtc, RTC_HOURS, 0x23);
	cmos_write(rtc, RTC_MINUTES, 0x59);
	cmos_write(rtc, RTC_SECONDS, 0x58);
	assert_int_equal(cmos_read(rtc, RTC_DAY_OF_WEEK), 5);  /* 2099-12-31: Thursday */
	frozen_now += 2;                                       /* into 2100 */
	assert_int_equal(cmos_read(rtc, RTC_SECONDS), 0x00);
	assert_int_equal(cmos_read(rtc, RTC_HOURS), 0x00);
	assert_int_equal(cmos_read(rtc, RTC_DAY_OF_MONTH), 0x01);
	assert_int_equal(cmos_read(rtc, RTC_MONTH), 0x01);
	assert_int_equal(cmos_read(rtc, RTC_YEAR), 0x00);
	assert_int_equal(cmos_read(rtc, RTC_CENTURY), 0x21);
}

static void test_set_bit_freezes_clock_for_editing(void **state)
{
	struct rtc *rtc = *state;

	cmos_write(rtc, RTC_REG_B, RTC_B_DEFAULT | RTC_B_SET | RTC_B_UIE);
	assert_false(cmos_read(rtc, RTC_REG_B) & RTC_B_UIE);  /* SET clears UIE */
	frozen_now += 10;
	assert_int_equal(cmos_read(rtc, RTC_SECONDS), 0x07);  /* not ticking */
	cmos_write(rtc, RTC_HOURS, 0x05);
	cmos_write(rtc, RTC_DAY_OF_WEEK, 0x01);               /* stored while SET */
	assert_int_equal(cmos_read(rtc, RTC_HOURS), 0x05);
	assert_int_equal(cmos_read(rtc, RTC_DAY_OF_WEEK), 0x01);
	assert_int_equal(cmos_read(rtc, RTC_REG_C), 0);       /* no updates */

	cmos_write(rtc, RTC_REG_B, RTC_B_DEFAULT);
	assert_int_equal(cmos_read(rtc, RTC_HOURS), 0x05);
	assert_int_equal(cmos_read(rtc, RTC_SECONDS), 0x07);
	assert_int_equal(cmos_read(rtc, RTC_DAY_OF_WEEK), 5);  /* derived again */
	frozen_now += 3;
	assert_int_equal(cmos_read(rtc, RTC_SECONDS), 0x10);
}

static void test_hostile_values_are_normalized(void **state)
{
	struct rtc *rtc = *state;

	cmos_write(rtc, RTC_MONTH, 0xff);     /* not BCD: month 165 */
	cmos_write(rtc, RTC_CENTURY, 0xff);   /* century 165: beyond 9999 */
	cmos_write(rtc, RTC_REG_B, RTC_B_24H | RTC_B_DM_BINARY);
	assert_int_equal(cmos_read(rtc, RTC_CENTURY), 99);  /* clamped to 9999 */
	assert_int_equal(cmos_read(rtc, RTC_YEAR), 99);
	assert_int_equal(cmos_read(rtc, RTC_MONTH), 12);
	cmos_write(rtc, RTC_CENTURY, 0);
	cmos_write(rtc, RTC_YEAR, 0);
	cmos_write(rtc, RTC_MONTH, 0);        /* month 0: before year 0 */
	assert_int_equal(cmos_read(rtc, RTC_YEAR), 0);
	assert_int_equal(cmos_read(rtc, RTC_MONTH), 1);
}

static void test_index_port(void **state)
{
	struct rtc *rtc = *state;
	uint8_t v = 0;
	uint16_t pair;

	/* Bit 7 of the index masks NMIs: ignored, the register is still A. */
	assert_int_equal(cmos_read(rtc, 0x80 | RTC_REG_A), RTC_A_DEFAULT);
	rtc_ops.read(rtc, 0, &v, 1);
	assert_int_equal(v, 0xff);  /* the index port is write-only */

	/* A 16-bit OUT to 0x70 writes the index, then the data byte. */
	pair = 0x40 | (0x77 << 8);
	rtc_ops.write(rtc, 0, &pair, 2);
	assert_int_equal(cmos_read(rtc, 0x40), 0x77);
}

static void test_memory_size_bytes(void **state)
{
	struct rtc *rtc = *state;
	unsigned sum = 0;

	/* 512 MiB: 640 KiB base; extended capped at 65535 KiB; 7936 x 64 KiB
	 * above 16 MiB; nothing above 4 GiB. */
	assert_int_equal(cmos_read(rtc, 0x15), 0x80);
	assert_int_equal(cmos_read(rtc, 0x16), 0x02);
	assert_int_equal(cmos_read(rtc, 0x17), 0xff);
	assert_int_equal(cmos_read(rtc, 0x18), 0xff);
	assert_int_equal(cmos_read(rtc, 0x30), 0xff);
	assert_int_equal(cmos_read(rtc, 0x31), 0xff);
	assert_int_equal(cmos_read(rtc, 0x34), 0x00);
	assert_int_equal(cmos_read(rtc, 0x35), 0x1f);
	assert_int_equal(cmos_read(rtc, 0x5b), 0);
	for (unsigned i = 0x10; i < 0x2e; i++)
		sum += cmos_read(rtc, i);
	assert_int_equal(cmos_read(rtc, 0x2e), sum >> 8);
	assert_int_equal(cmos_read(rtc, 0x2f), sum & 0xff);

	/* 8 MiB below 4 GiB, 5 GiB above it. */
	rtc_init(rtc, 8 * MIB, 5 * GIB);
	assert_int_equal(cmos_read(rtc, 0x17), 0x00);  /* 7168 KiB = 0x1c00 */
	assert_int_equal(cmos_read(rtc, 0x18), 0x1c);
	assert_int_equal(cmos_read(rtc, 0x34), 0);
	assert_int_equal(cmos_read(rtc, 0x35), 0);
	assert_int_equal(cmos_read(rtc, 0x5b), 0x00);  /* 81920 x 64 KiB = 0x014000 */
	assert_int_equal(cmos_read(rtc, 0x5c), 0x40);
	assert_int_equal(cmos_read(rtc, 0x5d), 0x01);

	/* The 16 MiB count tops out at 0xff00 with 4 GiB below 4 GiB; the
	 * 4 GiB count saturates at 0xffffff. */
	rtc_init(rtc, 4 * GIB, 1ULL << 50);
	assert_int_equal(cmos_read(rtc, 0x34), 0x00);
	assert_int_equal(cmos_read(rtc, 0x35), 0xff);
	assert_int_equal(cmos_read(rtc, 0x5b), 0xff);
	assert_int_equal(cmos_read(rtc, 0x5c), 0xff);
	assert_int_equal(cmos_read(rtc, 0x5d), 0xff);
}

static void test_default_clock_is_host_time(void **state)
{
	struct rtc rtc;
	time_t before = time(NULL), after;
	uint8_t year;

	(void)state;
	rtc_init(&rtc, 64 * MIB, 0);
	cmos_write(&rtc, RTC_REG_B, RTC_B_24H | RTC_B_DM_BINARY);
	year = cmos_read(&rtc, RTC_YEAR);
	after = time(NULL);
	{
		struct tm a, b;

		gmtime_r(&before, &a);
		gmtime_r(&after, &b);
		assert_true(year == a.tm_year % 100 || year == b.tm_year % 100);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_bcd_24h_time),
		T(test_binary_time),
		T(test_12_hour_mode),
		T(test_status_registers),
		T(test_register_c_reports_updates_and_clears_on_read),
		T(test_written_time_keeps_running),
		T(test_set_bit_freezes_clock_for_editing),
		T(test_hostile_values_are_normalized),
		T(test_index_port),
		T(test_memory_size_bytes),
		T(test_default_clock_is_host_time),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
