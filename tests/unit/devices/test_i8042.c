/* i8042: the controller commands Linux's i8042 probe issues, and the
 * reset paths. Accesses go through a real port-I/O bus at the PC ports. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <setjmp.h>
#include <cmocka.h>

#include "bus.h"
#include "devices/i8042.h"

struct stop_recorder {
	unsigned count;
	enum vm_stop_reason reason;
	int code;
};

struct fixture {
	struct i8042 kbc;
	struct bus pio;
	struct stop_recorder stop;
};

static void record_stop(void *ctx, enum vm_stop_reason reason, int code)
{
	struct stop_recorder *r = ctx;

	r->count++;
	r->reason = reason;
	r->code = code;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	i8042_init(&f->kbc, (struct stop_request){ .request = record_stop, .ctx = &f->stop });
	bus_init(&f->pio, "pio");
	assert_int_equal(bus_insert(&f->pio, I8042_DATA_PORT, 1, &i8042_data_ops,
				    &f->kbc, "i8042-data"), 0);
	assert_int_equal(bus_insert(&f->pio, I8042_COMMAND_PORT, 1, &i8042_command_ops,
				    &f->kbc, "i8042-command"), 0);
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

static uint8_t inb(struct fixture *f, uint16_t port)
{
	uint8_t v = 0xa5;

	assert_true(bus_read(&f->pio, port, &v, 1));
	return v;
}

static void outb(struct fixture *f, uint16_t port, uint8_t val)
{
	assert_true(bus_write(&f->pio, port, &val, 1));
}

static uint8_t status(struct fixture *f)
{
	return inb(f, I8042_COMMAND_PORT);
}

/* Issue a command and collect its one-byte reply the way Linux does:
 * poll the status register for OBF, then read the data port. */
static uint8_t command_reply(struct fixture *f, uint8_t cmd)
{
	outb(f, I8042_COMMAND_PORT, cmd);
	assert_true(status(f) & I8042_STR_OBF);
	return inb(f, I8042_DATA_PORT);
}

static void test_idle_controller_does_not_hang_a_probe(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(status(f), I8042_STR_SYS | I8042_STR_KEYLOCK);
	assert_int_equal(inb(f, I8042_DATA_PORT), 0);  /* empty: 0, OBF stays clear */
	assert_int_equal(status(f) & (I8042_STR_OBF | I8042_STR_IBF), 0);
}

static void test_self_test_and_interface_tests(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(command_reply(f, 0xaa), 0x55);
	assert_int_equal(status(f) & I8042_STR_OBF, 0);  /* reading emptied it */
	assert_true(status(f) & I8042_STR_SYS);
	assert_int_equal(command_reply(f, 0xab), 0x00);
	assert_int_equal(command_reply(f, 0xa9), 0x00);
}

static void test_command_byte_read_write(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(command_reply(f, 0x20), I8042_CTR_XLATE | I8042_CTR_SYS | I8042_CTR_KBDINT);
	outb(f, I8042_COMMAND_PORT, 0x60);
	assert_true(status(f) & I8042_STR_CMDDAT);
	outb(f, I8042_DATA_PORT, I8042_CTR_KBDDIS | I8042_CTR_AUXDIS);
	assert_false(status(f) & I8042_STR_CMDDAT);
	assert_false(status(f) & I8042_STR_SYS);  /* follows the CTR's SYS bit */
	assert_int_equal(command_reply(f, 0x20), I8042_CTR_KBDDIS | I8042_CTR_AUXDIS);

	/* The rest of the controller RAM: 0x61 writes byte 1, 0x21 reads it. */
	outb(f, I8042_COMMAND_PORT, 0x61);
	outb(f, I8042_DATA_PORT, 0x5a);
	assert_int_equal(command_reply(f, 0x21), 0x5a);
}

/* Linux's i8042_check_aux "bit assignment test". */
static void test_interface_disable_bits(void **state)
{
	struct fixture *f = *state;

	outb(f, I8042_COMMAND_PORT, 0xa7);
	assert_true(command_reply(f, 0x20) & I8042_CTR_AUXDIS);
	outb(f, I8042_COMMAND_PORT, 0xa8);
	assert_false(command_reply(f, 0x20) & I8042_CTR_AUXDIS);
	outb(f, I8042_COMMAND_PORT, 0xad);
	assert_true(command_reply(f, 0x20) & I8042_CTR_KBDDIS);
	outb(f, I8042_COMMAND_PORT, 0xae);
	assert_false(command_reply(f, 0x20) & I8042_CTR_KBDDIS);
	assert_int_equal(f->stop.count, 0);
}

static void test_output_buffer_writes(void **state)
{
	struct fixture *f = *state;

	outb(f, I8042_COMMAND_PORT, 0xd3);  /* aux loopback, Linux's AUX_LOOP */
	outb(f, I8042_DATA_PORT, 0x5a);
	assert_int_equal(status(f) & (I8042_STR_OBF | I8042_STR_AUXDATA),
			 I8042_STR_OBF | I8042_STR_AUXDATA);
	assert_int_equal(inb(f, I8042_DATA_PORT), 0x5a);
	assert_int_equal(status(f) & (I8042_STR_OBF | I8042_STR_AUXDATA), 0);

	outb(f, I8042_COMMAND_PORT, 0xd2);
	outb(f, I8042_DATA_PORT, 0x1c);
	assert_int_equal(status(f) & (I8042_STR_OBF | I8042_STR_AUXDATA), I8042_STR_OBF);
	assert_int_equal(inb(f, I8042_DATA_PORT), 0x1c);
}

static void test_bytes_for_absent_devices_are_dropped(void **state)
{
	struct fixture *f = *state;

	outb(f, I8042_DATA_PORT, 0xf2);     /* keyboard "get ID" */
	outb(f, I8042_COMMAND_PORT, 0xd4);  /* next byte to the mouse */
	outb(f, I8042_DATA_PORT, 0xf4);
	outb(f, I8042_COMMAND_PORT, 0x01);  /* no such command */
	assert_int_equal(status(f) & I8042_STR_OBF, 0);
	assert_int_equal(f->kbc.ignored, 3);
	assert_int_equal(f->stop.count, 0);
}

static void test_pulse_reset_line_resets(void **state)
{
	struct fixture *f = *state;

	outb(f, I8042_COMMAND_PORT, 0xff);  /* pulses nothing */
	assert_int_equal(f->stop.count, 0);
	outb(f, I8042_COMMAND_PORT, 0xfe);  /* pulse bit 0: CPU reset */
	assert_int_equal(f->stop.count, 1);
	assert_int_equal(f->stop.reason, VM_STOP_RESET);
}

static void test_output_port(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(command_reply(f, 0xd0), I8042_OUT_A20 | I8042_OUT_RESET);
	outb(f, I8042_COMMAND_PORT, 0xd1);
	outb(f, I8042_DATA_PORT, I8042_OUT_RESET);  /* A20 off, reset inactive */
	assert_int_equal(f->stop.count, 0);
	assert_int_equal(command_reply(f, 0xd0), I8042_OUT_RESET);

	outb(f, I8042_COMMAND_PORT, 0xd1);
	outb(f, I8042_DATA_PORT, I8042_OUT_A20);    /* reset line driven low */
	assert_int_equal(f->stop.count, 1);
	assert_int_equal(f->stop.reason, VM_STOP_RESET);
}

/* A command written while another waits for its data byte replaces it:
 * the byte then belongs to the new command. */
static void test_new_command_abandons_pending_one(void **state)
{
	struct fixture *f = *state;

	outb(f, I8042_COMMAND_PORT, 0xd1);
	outb(f, I8042_COMMAND_PORT, 0x60);
	outb(f, I8042_DATA_PORT, 0x00);  /* would reset if it went to 0xd1 */
	assert_int_equal(f->stop.count, 0);
	assert_int_equal(command_reply(f, 0x20), 0x00);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_idle_controller_does_not_hang_a_probe),
		T(test_self_test_and_interface_tests),
		T(test_command_byte_read_write),
		T(test_interface_disable_bits),
		T(test_output_buffer_writes),
		T(test_bytes_for_absent_devices_are_dropped),
		T(test_pulse_reset_line_resets),
		T(test_output_port),
		T(test_new_command_abandons_pending_one),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
