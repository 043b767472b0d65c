/* The isa-debug-exit compatible port: an OUT of width 1, 2 or 4 to 0xf4
 * stops the VM with status ((value << 1) | 1) & 0xff; nothing else does.
 * Through a real PIO bus. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "bus.h"
#include "devices/debug_exit.h"

struct fixture {
	struct debug_exit dev;
	struct bus pio;
	unsigned stops;
	enum vm_stop_reason reason;
	int code;
};

static void record_stop(void *ctx, enum vm_stop_reason reason, int code)
{
	struct fixture *f = ctx;

	f->stops++;
	f->reason = reason;
	f->code = code;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	debug_exit_init(&f->dev, (struct stop_request){ .request = record_stop, .ctx = f });
	bus_init(&f->pio, "pio");
	assert_int_equal(bus_insert(&f->pio, DEBUG_EXIT_PORT, DEBUG_EXIT_LEN, &debug_exit_ops,
				    &f->dev, "debug-exit"), 0);
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

static void expect_exit(struct fixture *f, uint32_t value, unsigned size, int status)
{
	unsigned before = f->stops;

	assert_true(bus_write(&f->pio, DEBUG_EXIT_PORT, &value, size));
	assert_int_equal(f->stops, before + 1);
	assert_int_equal(f->reason, VM_STOP_GUEST_EXIT);
	assert_int_equal(f->code, status);
}

static void test_status_encoding(void **state)
{
	(void)state;
	assert_int_equal(debug_exit_status(0), 1);
	assert_int_equal(debug_exit_status(1), 3);
	assert_int_equal(debug_exit_status(0x15), 43);
	assert_int_equal(debug_exit_status(0x7f), 255);
	/* Eight bits of exit status: bit 7 of the value and above are lost. */
	assert_int_equal(debug_exit_status(0x80), 1);
	assert_int_equal(debug_exit_status(0xff), 255);
	assert_int_equal(debug_exit_status(0x1234), 0x69);
	assert_int_equal(debug_exit_status(UINT32_MAX), 255);
}

static void test_byte_write_exits(void **state)
{
	struct fixture *f = *state;

	expect_exit(f, 0, 1, 1);
	expect_exit(f, 0x15, 1, 43);
	expect_exit(f, 0xff, 1, 255);
}

static void test_wider_writes_use_the_whole_value(void **state)
{
	struct fixture *f = *state;

	/* Only the low 7 bits survive the encoding, whatever the width. */
	expect_exit(f, 0x0015, 2, 43);
	expect_exit(f, 0x0100, 2, 1);
	expect_exit(f, 0x12345615, 4, 43);
	expect_exit(f, 0xffffffff, 4, 255);
}

static void test_other_writes_are_ignored(void **state)
{
	struct fixture *f = *state;
	uint64_t value = 7;

	assert_true(bus_write(&f->pio, DEBUG_EXIT_PORT + 1, &value, 1));
	assert_true(bus_write(&f->pio, DEBUG_EXIT_PORT + 2, &value, 2));
	assert_true(bus_write(&f->pio, DEBUG_EXIT_PORT + 3, &value, 1));
	debug_exit_ops.write(&f->dev, 0, &value, 8);  /* no 8-byte port I/O */
	assert_int_equal(f->stops, 0);
	assert_int_equal(atomic_load(&f->dev.ignored), 4);
}

static void test_reads_are_all_ones(void **state)
{
	struct fixture *f = *state;
	uint32_t v = 0;

	assert_true(bus_read(&f->pio, DEBUG_EXIT_PORT, &v, 4));
	assert_int_equal(v, 0xffffffff);
	assert_int_equal(f->stops, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_encoding),
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_byte_write_exits),
		T(test_wider_writes_use_the_whole_value),
		T(test_other_writes_are_ignored),
		T(test_reads_are_all_ones),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
