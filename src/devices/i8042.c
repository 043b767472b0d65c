#include "devices/i8042.h"

#include <string.h>

/* Controller commands (written to I8042_COMMAND_PORT). */
#define I8042_CMD_READ_RAM      0x20  /* 0x20-0x3f: read RAM byte cmd & 0x1f */
#define I8042_CMD_WRITE_RAM     0x60  /* 0x60-0x7f: write RAM byte cmd & 0x1f */
#define I8042_CMD_AUX_DISABLE   0xa7
#define I8042_CMD_AUX_ENABLE    0xa8
#define I8042_CMD_AUX_TEST      0xa9
#define I8042_CMD_SELF_TEST     0xaa
#define I8042_CMD_KBD_TEST      0xab
#define I8042_CMD_KBD_DISABLE   0xad
#define I8042_CMD_KBD_ENABLE    0xae
#define I8042_CMD_READ_OUTPUT   0xd0
#define I8042_CMD_WRITE_OUTPUT  0xd1
#define I8042_CMD_WRITE_KBD_OBF 0xd2  /* next byte appears as keyboard data */
#define I8042_CMD_WRITE_AUX_OBF 0xd3  /* next byte appears as aux data */
#define I8042_CMD_WRITE_AUX     0xd4  /* next byte goes to the aux device */
#define I8042_CMD_PULSE         0xf0  /* 0xf0-0xff: pulse output port bits 3:0
				       * whose command bit is 0 (0xfe: reset) */

#define I8042_SELF_TEST_OK      0x55
#define I8042_PORT_TEST_OK      0x00

/* What a PC BIOS leaves behind: keyboard interrupt on, system flag set,
 * scancode translation on, both interfaces enabled; reset line inactive
 * (high) and A20 enabled. */
#define I8042_POST_CTR          (I8042_CTR_XLATE | I8042_CTR_SYS | I8042_CTR_KBDINT)
#define I8042_POST_OUTPUT_PORT  (I8042_OUT_A20 | I8042_OUT_RESET)

void i8042_init(struct i8042 *i8042, struct stop_request stop)
{
	/* A default mutex holds no resources: the static initializer cannot
	 * fail and needs no destroy. */
	*i8042 = (struct i8042){
		.lock = PTHREAD_MUTEX_INITIALIZER,
		.stop = stop,
		.output_port = I8042_POST_OUTPUT_PORT,
		.sys_flag = true,
	};
	i8042->ram[0] = I8042_POST_CTR;
}

static void i8042_reply(struct i8042 *i8042, uint8_t byte, bool aux)
{
	i8042->out = byte;
	i8042->out_full = true;
	i8042->out_aux = aux;
}

/* Returns true if the output port's reset line went low. */
static bool i8042_write_output_port(struct i8042 *i8042, uint8_t val)
{
	i8042->output_port = val;
	return !(val & I8042_OUT_RESET);
}

/* Returns true if the command asks for a reset. */
static bool i8042_command(struct i8042 *i8042, uint8_t cmd)
{
	i8042->pending = 0;  /* a new command abandons one awaiting data */
	if (cmd >= I8042_CMD_READ_RAM && cmd < I8042_CMD_READ_RAM + 0x20) {
		i8042_reply(i8042, i8042->ram[cmd & 0x1f], false);
		return false;
	}
	if (cmd >= I8042_CMD_WRITE_RAM && cmd < I8042_CMD_WRITE_RAM + 0x20) {
		i8042->pending = cmd;
		return false;
	}
	if (cmd >= I8042_CMD_PULSE) {
		/* The pulse is ~6 us long: the lines are back high before the
		 * guest can look, so only the reset it causes is visible. */
		return !(cmd & I8042_OUT_RESET);
	}
	switch (cmd) {
	case I8042_CMD_AUX_DISABLE:
		i8042->ram[0] |= I8042_CTR_AUXDIS;
		break;
	case I8042_CMD_AUX_ENABLE:
		i8042->ram[0] &= ~I8042_CTR_AUXDIS;
		break;
	case I8042_CMD_KBD_DISABLE:
		i8042->ram[0] |= I8042_CTR_KBDDIS;
		break;
	case I8042_CMD_KBD_ENABLE:
		i8042->ram[0] &= ~I8042_CTR_KBDDIS;
		break;
	case I8042_CMD_SELF_TEST:
		i8042->sys_flag = true;
		i8042_reply(i8042, I8042_SELF_TEST_OK, false);
		break;
	case I8042_CMD_AUX_TEST:
	case I8042_CMD_KBD_TEST:
		i8042_reply(i8042, I8042_PORT_TEST_OK, false);
		break;
	case I8042_CMD_READ_OUTPUT:
		i8042_reply(i8042, i8042->output_port, false);
		break;
	case I8042_CMD_WRITE_OUTPUT:
	case I8042_CMD_WRITE_KBD_OBF:
	case I8042_CMD_WRITE_AUX_OBF:
	case I8042_CMD_WRITE_AUX:
		i8042->pending = cmd;
		break;
	default:
		i8042->ignored++;
		break;
	}
	return false;
}

/* A data-port write: the data byte of a pending command, or a byte for the
 * keyboard, which is absent. Returns true if it asks for a reset. */
static bool i8042_data(struct i8042 *i8042, uint8_t val)
{
	uint8_t cmd = i8042->pending;

	i8042->pending = 0;
	if (cmd >= I8042_CMD_WRITE_RAM && cmd < I8042_CMD_WRITE_RAM + 0x20) {
		i8042->ram[cmd & 0x1f] = val;
		if ((cmd & 0x1f) == 0)
			i8042->sys_flag = val & I8042_CTR_SYS;
		return false;
	}
	switch (cmd) {
	case I8042_CMD_WRITE_OUTPUT:
		return i8042_write_output_port(i8042, val);
	case I8042_CMD_WRITE_KBD_OBF:
		i8042_reply(i8042, val, false);
		break;
	case I8042_CMD_WRITE_AUX_OBF:
		i8042_reply(i8042, val, true);
		break;
	default:  /* I8042_CMD_WRITE_AUX or no command: no device to take it */
		i8042->ignored++;
		break;
	}
	return false;
}

static uint8_t i8042_status(const struct i8042 *i8042)
{
	uint8_t status = I8042_STR_KEYLOCK;

	if (i8042->out_full)
		status |= I8042_STR_OBF;
	if (i8042->out_full && i8042->out_aux)
		status |= I8042_STR_AUXDATA;
	if (i8042->sys_flag)
		status |= I8042_STR_SYS;
	if (i8042->last_write_command)
		status |= I8042_STR_CMDDAT;
	return status;
}

static void i8042_data_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct i8042 *i8042 = opaque;
	uint8_t val = 0;

	(void)offset;
	pthread_mutex_lock(&i8042->lock);
	if (i8042->out_full) {
		val = i8042->out;
		i8042->out_full = false;
	}
	pthread_mutex_unlock(&i8042->lock);
	memset(data, 0, size);
	*(uint8_t *)data = val;
}

/* The reset is requested after the lock is dropped: the stop callback
 * belongs to the VM and must not be able to wait on this device. */
static void i8042_finish(struct i8042 *i8042, bool reset)
{
	pthread_mutex_unlock(&i8042->lock);
	if (reset)
		stop_request_send(&i8042->stop, VM_STOP_RESET, 0);
}

static void i8042_data_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct i8042 *i8042 = opaque;
	bool reset;

	(void)offset;
	(void)size;
	pthread_mutex_lock(&i8042->lock);
	i8042->last_write_command = false;
	reset = i8042_data(i8042, *(const uint8_t *)data);
	i8042_finish(i8042, reset);
}

static void i8042_status_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct i8042 *i8042 = opaque;
	uint8_t val;

	(void)offset;
	pthread_mutex_lock(&i8042->lock);
	val = i8042_status(i8042);
	pthread_mutex_unlock(&i8042->lock);
	memset(data, 0, size);
	*(uint8_t *)data = val;
}

static void i8042_command_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct i8042 *i8042 = opaque;
	bool reset;

	(void)offset;
	(void)size;
	pthread_mutex_lock(&i8042->lock);
	i8042->last_write_command = true;
	reset = i8042_command(i8042, *(const uint8_t *)data);
	i8042_finish(i8042, reset);
}

const struct bus_device_ops i8042_data_ops = {
	.read = i8042_data_read,
	.write = i8042_data_write,
};

const struct bus_device_ops i8042_command_ops = {
	.read = i8042_status_read,
	.write = i8042_command_write,
};
