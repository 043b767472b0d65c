/* The exit port protocol: an OUT of width 1, 2 or 4 to 0x600 stops the VM
 * with status value & 0xff; nothing else does. Through a real PIO bus. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <setjmp.h>
#include <cmocka.h>

#include "bus.h"
#include "devices/exit_port.h"

struct fixture {
	struct exit_port port;
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
	exit_port_init(&f->port, (struct stop_request){ .request = record_stop, .ctx = f });
	bus_init(&f->pio, "pio");
	assert_int_equal(bus_insert(&f->pio, EXIT_PORT_BASE, EXIT_PORT_LEN, &exit_port_ops,
				    &f->port, "exit-port"), 0);
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

static void expect_exit(struct fixture *f, uint64_t value, unsigned size, int code)
{
	unsigned before = f->stops;

	assert_true(bus_write(&f->pio, EXIT_PORT_BASE, &value, size));
	assert_int_equal(f->stops, before + 1);
	assert_int_equal(f->reason, VM_STOP_GUEST_EXIT);
	assert_int_equal(f->code, code);
}

static void test_byte_write_exits_with_value(void **state)
{
	struct fixture *f = *state;

	expect_exit(f, 0, 1, 0);
	expect_exit(f, 1, 1, 1);
	expect_exit(f, 0xff, 1, 255);
}

static void test_wider_writes_keep_low_byte(void **state)
{
	struct fixture *f = *state;

	expect_exit(f, 0x1234, 2, 0x34);
	expect_exit(f, 0x0100, 2, 0);
	expect_exit(f, 0xdeadbeef, 4, 0xef);
}

static void test_other_writes_are_ignored(void **state)
{
	struct fixture *f = *state;
	uint64_t value = 7;

	assert_true(bus_write(&f->pio, EXIT_PORT_BASE + 1, &value, 1));
	assert_true(bus_write(&f->pio, EXIT_PORT_BASE + 2, &value, 2));
	exit_port_ops.write(&f->port, 0, &value, 8);  /* no 8-byte port I/O */
	assert_int_equal(f->stops, 0);
	assert_int_equal(atomic_load(&f->port.ignored), 3);
}

static void test_reads_are_all_ones(void **state)
{
	struct fixture *f = *state;
	uint32_t v = 0;
	uint8_t b = 0;

	assert_true(bus_read(&f->pio, EXIT_PORT_BASE, &v, 4));
	assert_int_equal(v, 0xffffffff);
	assert_true(bus_read(&f->pio, EXIT_PORT_BASE + 3, &b, 1));
	assert_int_equal(b, 0xff);
	assert_int_equal(f->stops, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_byte_write_exits_with_value),
		T(test_wider_writes_keep_low_byte),
		T(test_other_writes_are_ignored),
		T(test_reads_are_all_ones),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
