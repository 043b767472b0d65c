/* i8042 PS/2 controller: just enough for a guest to probe it without
 * hanging and to reset the machine through it.
 *
 * Emulated: the status register, the controller's 32 bytes of RAM (byte 0
 * is the command byte, "CTR" in Linux), the self test (0xAA -> 0x55), the
 * interface tests (0xAB, 0xA9 -> 0x00), disabling/enabling the keyboard and
 * aux interfaces (0xAD/0xAE, 0xA7/0xA8: the CTR disable bits), the output
 * port (0xD0/0xD1), writing the keyboard/aux output buffers (0xD2/0xD3) and
 * pulsing output port lines (0xF0-0xFF). Driving the output port's bit 0
 * (the CPU reset line, active low) low, by 0xD1 or by a pulse such as 0xFE,
 * asks the VM to reset.
 *
 * Not emulated: no keyboard or mouse is attached, so bytes for the devices
 * (data-port writes outside a command, 0xD4) are dropped and never answered;
 * no IRQ 1/12 is raised, so a guest finds controller replies by polling the
 * status register, which is what Linux's i8042 probe does. A20 (output port
 * bit 1) is stored but has no effect: the guest always sees all of memory.
 * Reading the data port with the output buffer empty returns 0. */
#ifndef KVMRUN_DEVICES_I8042_H
#define KVMRUN_DEVICES_I8042_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "devices/platform.h"

#define I8042_DATA_PORT     0x60
#define I8042_COMMAND_PORT  0x64   /* write: command; read: status */

/* Status register bits */
#define I8042_STR_OBF       0x01  /* output buffer full */
#define I8042_STR_IBF       0x02  /* input buffer full: never, we are instant */
#define I8042_STR_SYS       0x04  /* system flag: self test passed */
#define I8042_STR_CMDDAT    0x08  /* last write was to the command port */
#define I8042_STR_KEYLOCK   0x10  /* 1 = keyboard not inhibited */
#define I8042_STR_AUXDATA   0x20  /* output buffer holds aux data */

/* Command byte (controller RAM byte 0) bits */
#define I8042_CTR_KBDINT    0x01
#define I8042_CTR_AUXINT    0x02
#define I8042_CTR_SYS       0x04
#define I8042_CTR_KBDDIS    0x10
#define I8042_CTR_AUXDIS    0x20
#define I8042_CTR_XLATE     0x40

/* Output port bits */
#define I8042_OUT_RESET     0x01  /* CPU reset line, active low */
#define I8042_OUT_A20       0x02

struct i8042 {
	pthread_mutex_t lock;
	struct stop_request stop;
	uint8_t ram[32];         /* ram[0] is the command byte */
	uint8_t output_port;
	bool sys_flag;
	bool last_write_command; /* status bit 3 */
	uint8_t pending;         /* command waiting for its data byte, or 0 */
	uint8_t out;             /* output buffer */
	bool out_full;
	bool out_aux;
	uint64_t ignored;        /* unknown commands and bytes for absent devices */
};

/* State after a PC BIOS has run its POST. Cannot fail. */
void i8042_init(struct i8042 *i8042, struct stop_request stop);

/* One-port ranges: I8042_DATA_PORT and I8042_COMMAND_PORT. */
extern const struct bus_device_ops i8042_data_ops;
extern const struct bus_device_ops i8042_command_ops;

#endif
