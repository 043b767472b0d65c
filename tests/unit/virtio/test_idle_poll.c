/* The idle poller's window (src/virtio/idle_poll.h): found work ends the
 * poll at once; a request that arrives soon after a poll gave up doubles
 * the window, up to the maximum; one that arrives long after halves it,
 * down to no polling. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "virtio/idle_poll.h"

struct work {
	unsigned looks;
	unsigned found_at;   /* has_work is true from this look on; 0: never */
};

static bool has_work(void *arg)
{
	struct work *w = arg;

	return w->found_at && ++w->looks >= w->found_at;
}

static void sleep_ns(long ns)
{
	struct timespec ts = { ns / 1000000000L, ns % 1000000000L };

	while (nanosleep(&ts, &ts) != 0)
		;
}

static void test_found(void **state)
{
	struct idle_poll p;
	struct work w = { .found_at = 3 };

	(void)state;
	idle_poll_init(&p);
	assert_true(idle_poll_run(&p, has_work, &w));
	assert_int_equal(w.looks, 3);
	assert_int_equal(p.found, 1);
	assert_int_equal(p.window_ns, IDLE_POLL_START_NS);
	/* Nothing was given up: work arriving later changes nothing. */
	idle_poll_work_arrived(&p);
	assert_int_equal(p.window_ns, IDLE_POLL_START_NS);
}

static void test_grows_then_shrinks(void **state)
{
	struct idle_poll p;
	struct work none = { 0 };

	(void)state;
	idle_poll_init(&p);
	/* Gave up, and the request came right after the window: too short. */
	assert_false(idle_poll_run(&p, has_work, &none));
	assert_int_equal(p.gave_up, 1);
	sleep_ns(IDLE_POLL_START_NS);
	idle_poll_work_arrived(&p);
	assert_int_equal(p.window_ns, 2 * IDLE_POLL_START_NS);
	/* Grows to the maximum and stays there. */
	for (int i = 0; i < 8; i++) {
		uint32_t before = p.window_ns;

		assert_false(idle_poll_run(&p, has_work, &none));
		idle_poll_work_arrived(&p);
		if (p.window_ns == before)
			assert_int_equal(before, IDLE_POLL_MAX_NS);
	}
	assert_int_equal(p.window_ns, IDLE_POLL_MAX_NS);
	/* Requests long after the poll gave up: halve, down to 0. */
	for (int i = 0; i < 8; i++) {
		assert_false(idle_poll_run(&p, has_work, &none));
		sleep_ns(2 * IDLE_POLL_MAX_NS);
		idle_poll_work_arrived(&p);
	}
	assert_int_equal(p.window_ns, 0);
	/* With no window one look, then a short gap brings polling back. */
	none.looks = 0;
	assert_false(idle_poll_run(&p, has_work, &none));
	idle_poll_work_arrived(&p);
	assert_int_equal(p.window_ns, IDLE_POLL_START_NS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_found),
		cmocka_unit_test(test_grows_then_shrinks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
