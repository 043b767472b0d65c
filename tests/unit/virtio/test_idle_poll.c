/* The idle poller's window (src/virtio/idle_poll.h): found work ends the
 * poll at once; a request that arrives soon after a poll gave up doubles
 * the window, up to the maximum; one that arrives long after halves it,
 * down to no polling. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

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

/* A poll that finds nothing gives up after about its window, and work
 * arriving soon after that doubles the window. */
static void test_gives_up(void **state)
{
	struct idle_poll p;
	struct work none = { 0 };

	(void)state;
	idle_poll_init(&p);
	assert_false(idle_poll_run(&p, has_work, &none));
	assert_int_equal(p.gave_up, 1);
	assert_true(none.looks == 0);
	assert_true(p.gave_up_ns != 0);
	idle_poll_work_arrived(&p);
	assert_int_equal(p.gave_up_ns, 0);
	/* Unless this thread was descheduled for longer than the maximum. */
	assert_true(p.window_ns == 2 * IDLE_POLL_START_NS || p.window_ns == 0);
}

static void test_grows_then_shrinks(void **state)
{
	struct idle_poll p;

	(void)state;
	idle_poll_init(&p);
	idle_poll_adapt(&p, 1000);
	assert_int_equal(p.window_ns, 2 * IDLE_POLL_START_NS);
	/* Grows to the maximum and stays there. */
	for (int i = 0; i < 8; i++)
		idle_poll_adapt(&p, IDLE_POLL_MAX_NS);
	assert_int_equal(p.window_ns, IDLE_POLL_MAX_NS);
	/* Requests long after the poll gave up: halve, down to 0. */
	idle_poll_adapt(&p, IDLE_POLL_MAX_NS + 1);
	assert_int_equal(p.window_ns, IDLE_POLL_MAX_NS / 2);
	for (int i = 0; i < 8; i++)
		idle_poll_adapt(&p, 10 * IDLE_POLL_MAX_NS);
	assert_int_equal(p.window_ns, 0);
	/* A short gap brings polling back. */
	idle_poll_adapt(&p, 0);
	assert_int_equal(p.window_ns, IDLE_POLL_START_NS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_found),
		cmocka_unit_test(test_gives_up),
		cmocka_unit_test(test_grows_then_shrinks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
