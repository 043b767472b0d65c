/* kvmrun's exit port: how a test guest ends the run with a status.
 *
 * Protocol: an OUT of width 1, 2 or 4 to port EXIT_PORT_BASE (0x600) stops
 * the VM; kvmrun exits with status (value & 0xff), so `outb` of the code is
 * all a guest needs, and a wider write carries the same low byte. Unlike
 * QEMU's isa-debug-exit there is no (value << 1) | 1 encoding: 0 means 0.
 * Writes to the other three ports of the range, and 8-byte writes, are
 * ignored (counted). Reads return all ones, like an unmapped port, so the
 * port cannot be mistaken for a device that answers.
 *
 * The device has no mutable state except a counter, so it takes no lock;
 * the stop_request it forwards to is safe from any thread. */
#ifndef KVMRUN_DEVICES_EXIT_PORT_H
#define KVMRUN_DEVICES_EXIT_PORT_H

#include <stdatomic.h>

#include "bus.h"
#include "devices/platform.h"

#define EXIT_PORT_BASE  0x600
#define EXIT_PORT_LEN   4

struct exit_port {
	struct stop_request stop;
	atomic_uint_fast64_t ignored;  /* writes that were not an exit */
};

void exit_port_init(struct exit_port *port, struct stop_request stop);

/* Ops for an EXIT_PORT_LEN-long range at EXIT_PORT_BASE; opaque is the
 * struct exit_port. */
extern const struct bus_device_ops exit_port_ops;

#endif
