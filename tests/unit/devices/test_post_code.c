/* The POST-code port: writes are served (never unmapped), latch the low
 * byte and are counted; reads return the last code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "bus.h"
#include "devices/post_code.h"

static void test_writes_latch_and_count(void **state)
{
	struct post_code post;
	struct bus pio;
	uint32_t v = 0x12345678, r = 0;

	(void)state;
	post_code_init(&post);
	bus_init(&pio, "pio");
	assert_int_equal(bus_insert(&pio, POST_CODE_PORT, 1, &post_code_ops, &post, "post-code"), 0);
	assert_true(bus_write(&pio, POST_CODE_PORT, &v, 1));
	assert_int_equal(atomic_load(&post.last), 0x78);
	v = 0xab;
	assert_true(bus_write(&pio, POST_CODE_PORT, &v, 1));
	assert_true(bus_read(&pio, POST_CODE_PORT, &r, 1));
	assert_int_equal(r, 0xab);
	assert_int_equal(atomic_load(&post.writes), 2);
	assert_int_equal(atomic_load(&pio.unmapped_writes), 0);
	/* Its neighbour stays unmapped. */
	assert_false(bus_write(&pio, POST_CODE_PORT + 1, &v, 1));
	bus_destroy(&pio);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writes_latch_and_count),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
