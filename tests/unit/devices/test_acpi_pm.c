/* The ACPI PM register block (ACPI 6.4 §4.8) through a real PIO bus: the
 * PM timer's rate and monotonicity, PM1 status/enable/control semantics,
 * S5 poweroff, and byte-wide accesses. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <cmocka.h>

#include "bus.h"
#include "devices/acpi_pm.h"

#define PM1_STS (ACPI_PM_BASE + ACPI_PM1_STS)
#define PM1_EN  (ACPI_PM_BASE + ACPI_PM1_EN)
#define PM1_CNT (ACPI_PM_BASE + ACPI_PM1_CNT)
#define PM_TMR  (ACPI_PM_BASE + ACPI_PM_TMR)

struct fixture {
	struct acpi_pm pm;
	struct bus pio;
	unsigned stops;
	enum vm_stop_reason reason;
};

static void record_stop(void *ctx, enum vm_stop_reason reason, int code)
{
	struct fixture *f = ctx;

	(void)code;
	f->stops++;
	f->reason = reason;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	acpi_pm_init(&f->pm, (struct stop_request){ .request = record_stop, .ctx = f });
	bus_init(&f->pio, "pio");
	assert_int_equal(bus_insert(&f->pio, ACPI_PM_BASE, ACPI_PM_LEN, &acpi_pm_ops, &f->pm,
				    "acpi-pm"), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	bus_destroy(&f->pio);
	free(f);
	return 0;
}

static uint32_t rd(struct fixture *f, uint16_t port, unsigned size)
{
	uint32_t v = 0;

	assert_true(bus_read(&f->pio, port, &v, size));
	return v;
}

static void wr(struct fixture *f, uint16_t port, uint32_t v, unsigned size)
{
	assert_true(bus_write(&f->pio, port, &v, size));
}

static uint64_t ns(const struct timespec *t)
{
	return (uint64_t)t->tv_sec * 1000000000ULL + (uint64_t)t->tv_nsec;
}

static void test_ticks_conversion(void **state)
{
	(void)state;
	assert_int_equal(acpi_pm_ticks(&(struct timespec){ 0, 0 }), 0);
	assert_int_equal(acpi_pm_ticks(&(struct timespec){ 1, 0 }), 3579545);
	assert_int_equal(acpi_pm_ticks(&(struct timespec){ 0, 500000000 }), 1789772);
	assert_int_equal(acpi_pm_ticks(&(struct timespec){ 0, 999999999 }), 3579544);
	assert_int_equal(acpi_pm_ticks(&(struct timespec){ 2, 1000 }), 2 * 3579545 + 3);
	/* Monotonic across a second boundary, and no overflow for a host up
	 * for a long time (10^9 seconds is 31 years). */
	assert_true(acpi_pm_ticks(&(struct timespec){ 0, 999999999 }) <
		    acpi_pm_ticks(&(struct timespec){ 1, 0 }));
	assert_int_equal(acpi_pm_ticks(&(struct timespec){ 1000000000, 0 }),
			 1000000000ULL * 3579545);
}

/* The timer counts at 3.579545 MHz of CLOCK_MONOTONIC: over an interval
 * bracketed by host clock readings, the count is between the inner and
 * the outer interval's worth of ticks. */
static void test_timer_rate(void **state)
{
	struct fixture *f = *state;
	struct timespec a, b, c, d, sleep = { 0, 200 * 1000 * 1000 };
	uint32_t t0, t1;
	uint64_t lo, hi, delta;

	clock_gettime(CLOCK_MONOTONIC, &a);
	t0 = rd(f, PM_TMR, 4);
	clock_gettime(CLOCK_MONOTONIC, &b);
	nanosleep(&sleep, NULL);
	clock_gettime(CLOCK_MONOTONIC, &c);
	t1 = rd(f, PM_TMR, 4);
	clock_gettime(CLOCK_MONOTONIC, &d);
	delta = (uint32_t)(t1 - t0);
	lo = (ns(&c) - ns(&b)) * ACPI_PM_TIMER_HZ / 1000000000ULL;
	hi = (ns(&d) - ns(&a)) * ACPI_PM_TIMER_HZ / 1000000000ULL + 2;
	assert_true(delta + 2 >= lo);
	assert_true(delta <= hi);
	assert_true(delta >= 700000);   /* 200 ms is ~715,909 ticks */
	/* It starts near 0 when the device is created. */
	assert_true(t0 < 3579545);
}

static void test_timer_monotonic_and_narrow_reads(void **state)
{
	struct fixture *f = *state;
	uint32_t prev = rd(f, PM_TMR, 4);

	for (unsigned i = 0; i < 100000; i++) {
		uint32_t now = rd(f, PM_TMR, 4);

		assert_true(now >= prev);
		prev = now;
	}
	/* 2-byte reads give the low and the high half: the byte-lane path
	 * agrees with the unlocked 4-byte one. */
	for (unsigned i = 0; i < 100; i++) {
		uint32_t before = rd(f, PM_TMR, 4), hi = rd(f, PM_TMR + 2, 2);
		uint32_t mid = rd(f, PM_TMR, 4), lo = rd(f, PM_TMR, 2), after = rd(f, PM_TMR, 4);

		assert_true(before >> 16 <= hi && hi <= mid >> 16);
		if (mid >> 16 == after >> 16)
			assert_true((mid & 0xffff) <= lo && lo <= (after & 0xffff));
	}
	/* Writes are ignored: the timer cannot be set. */
	wr(f, PM_TMR, 0, 4);
	assert_true(rd(f, PM_TMR, 4) >= prev);
	/* The reserved word after PM1_CNT reads 0. */
	assert_int_equal(rd(f, ACPI_PM_BASE + 6, 2), 0);
}

static void test_sci_en_always_set(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(rd(f, PM1_CNT, 2), ACPI_PM1_SCI_EN);
	wr(f, PM1_CNT, 0, 2);
	assert_int_equal(rd(f, PM1_CNT, 2), ACPI_PM1_SCI_EN);
	/* SLP_TYP and BM_RLD are kept; GBL_RLS and SLP_EN read 0. */
	wr(f, PM1_CNT, 3u << 10 | ACPI_PM1_BM_RLD | ACPI_PM1_GBL_RLS, 2);
	assert_int_equal(rd(f, PM1_CNT, 2), 3u << 10 | ACPI_PM1_BM_RLD | ACPI_PM1_SCI_EN);
	assert_int_equal(f->stops, 0);
}

static void test_s5_powers_off(void **state)
{
	struct fixture *f = *state;

	wr(f, PM1_CNT, ACPI_PM_SLP_TYP_S5 << 10 | ACPI_PM1_SLP_EN, 2);
	assert_int_equal(f->stops, 1);
	assert_int_equal(f->reason, VM_STOP_POWEROFF);
}

/* The sequence ACPICA uses: SLP_TYP first, then SLP_EN in a second write;
 * and the high byte alone. */
static void test_s5_in_two_writes_and_by_byte(void **state)
{
	struct fixture *f = *state;

	wr(f, PM1_CNT, ACPI_PM_SLP_TYP_S5 << 10, 2);
	assert_int_equal(f->stops, 0);
	wr(f, PM1_CNT, ACPI_PM_SLP_TYP_S5 << 10 | ACPI_PM1_SLP_EN, 2);
	assert_int_equal(f->stops, 1);

	wr(f, PM1_CNT, 0, 2);
	wr(f, PM1_CNT + 1, (ACPI_PM_SLP_TYP_S5 << 2) | (ACPI_PM1_SLP_EN >> 8), 1);
	assert_int_equal(f->stops, 2);
	assert_int_equal(f->reason, VM_STOP_POWEROFF);
	/* A 4-byte write at PM1_CNT covers it and the reserved word. */
	wr(f, PM1_CNT, ACPI_PM_SLP_TYP_S5 << 10 | ACPI_PM1_SLP_EN, 4);
	assert_int_equal(f->stops, 3);
}

static void test_other_sleep_states_are_ignored(void **state)
{
	struct fixture *f = *state;

	for (unsigned typ = 0; typ < 8; typ++) {
		if (typ == ACPI_PM_SLP_TYP_S5)
			continue;
		wr(f, PM1_CNT, typ << 10 | ACPI_PM1_SLP_EN, 2);
	}
	assert_int_equal(f->stops, 0);
	assert_int_equal(atomic_load(&f->pm.ignored_sleeps), 7);
	/* A byte write to the low half cannot set SLP_EN. */
	wr(f, PM1_CNT, ACPI_PM_SLP_TYP_S5 << 10, 2);
	wr(f, PM1_CNT, 0xff, 1);
	assert_int_equal(f->stops, 0);
}

static void test_pm1_enable(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(rd(f, PM1_EN, 2), 0);
	wr(f, PM1_EN, 0xffff, 2);
	/* TMR_EN, GBL_EN, PWRBTN_EN, SLPBTN_EN, RTC_EN */
	assert_int_equal(rd(f, PM1_EN, 2), 0x0721);
	wr(f, PM1_EN + 1, 0, 1);
	assert_int_equal(rd(f, PM1_EN, 2), 0x0021);
	/* PM1_STS and PM1_EN as one 4-byte access: writing 0 to STS clears
	 * nothing, EN gets the high half. */
	wr(f, PM1_STS, 0x01000000, 4);
	assert_int_equal(rd(f, PM1_EN, 2), 0x0100);
	assert_int_equal(rd(f, PM1_STS, 4) >> 16, 0x0100);
}

/* TMR_STS: set when bit 31 of the count changes (TMR_VAL_EXT), cleared by
 * writing 1. The device's origin is moved back 2^31 ticks (10 minutes)
 * instead of waiting. */
static void test_timer_status(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(rd(f, PM1_STS, 2) & ACPI_PM1_TMR_STS, 0);
	f->pm.start_ticks -= 1ULL << 31;
	assert_int_equal(rd(f, PM1_STS, 2) & ACPI_PM1_TMR_STS, ACPI_PM1_TMR_STS);
	assert_true(rd(f, PM_TMR, 4) >= 1u << 31);
	wr(f, PM1_STS, 0, 2);                            /* 0 does not clear */
	assert_int_equal(rd(f, PM1_STS, 2) & ACPI_PM1_TMR_STS, ACPI_PM1_TMR_STS);
	wr(f, PM1_STS, ACPI_PM1_TMR_STS, 2);
	assert_int_equal(rd(f, PM1_STS, 2) & ACPI_PM1_TMR_STS, 0);
	assert_int_equal(rd(f, PM1_STS, 1), 0);
	f->pm.start_ticks -= 1ULL << 31;                 /* bit 31 flips back */
	assert_int_equal(rd(f, PM1_STS, 1) & ACPI_PM1_TMR_STS, ACPI_PM1_TMR_STS);
	assert_int_equal(f->stops, 0);
}

static void *read_timer(void *arg)
{
	struct fixture *f = arg;
	uint32_t prev = rd(f, PM_TMR, 4);

	for (unsigned i = 0; i < 50000; i++) {
		uint32_t now = rd(f, PM_TMR, 4);

		if (now < prev)
			return (void *)1;
		prev = now;
	}
	return NULL;
}

/* Several vCPUs reading the timer while another writes PM1 registers. */
static void test_concurrent_access(void **state)
{
	struct fixture *f = *state;
	pthread_t threads[3];

	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&threads[i], NULL, read_timer, f), 0);
	for (unsigned i = 0; i < 20000; i++) {
		wr(f, PM1_EN, i & 0x21, 2);
		wr(f, PM1_CNT, (i & 3) << 10, 2);
		(void)rd(f, PM1_STS, 4);
	}
	for (unsigned i = 0; i < 3; i++) {
		void *ret;

		assert_int_equal(pthread_join(threads[i], &ret), 0);
		assert_null(ret);
	}
	assert_int_equal(f->stops, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ticks_conversion),
		cmocka_unit_test_setup_teardown(test_timer_rate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer_monotonic_and_narrow_reads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sci_en_always_set, setup, teardown),
		cmocka_unit_test_setup_teardown(test_s5_powers_off, setup, teardown),
		cmocka_unit_test_setup_teardown(test_s5_in_two_writes_and_by_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_sleep_states_are_ignored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pm1_enable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_access, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
