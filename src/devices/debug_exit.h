/* An exit port compatible with QEMU's isa-debug-exit, so test kernels
 * written for QEMU (kvm-unit-tests style, `-device isa-debug-exit,
 * iobase=0xf4,iosize=4`) run unmodified.
 *
 * Protocol (QEMU hw/misc/debugexit.c): an OUT of width 1, 2 or 4 to port
 * DEBUG_EXIT_PORT (0xf4) stops the VM and the process exits with status
 * (value << 1) | 1. A process exit status has 8 bits, so kvmrun exits
 * with ((value << 1) | 1) & 0xff, as QEMU's exit() ends up doing: always
 * odd, and values 128 and up wrap (value 0x80 exits 1). Writes to 0xf5-0xf7
 * are ignored (counted); reads return all ones, like kvmrun's exit port.
 *
 * Off unless --debug-exit is given: 0xf0-0xff are the legacy x87 FPU
 * ports, so an unrelated guest might write 0xf4 and must not stop the VM
 * by accident. kvmrun's own exit port (0x600) is unaffected either way.
 *
 * Like exit_port, the only state is a counter, so it takes no lock. */
#ifndef KVMRUN_DEVICES_DEBUG_EXIT_H
#define KVMRUN_DEVICES_DEBUG_EXIT_H

#include <stdatomic.h>
#include <stdint.h>

#include "bus.h"
#include "devices/platform.h"

#define DEBUG_EXIT_PORT  0xf4
#define DEBUG_EXIT_LEN   4

struct debug_exit {
	struct stop_request stop;
	atomic_uint_fast64_t ignored;  /* writes that were not an exit */
};

void debug_exit_init(struct debug_exit *dev, struct stop_request stop);

/* The process exit status for a value written to the port. */
int debug_exit_status(uint32_t value);

/* Ops for a DEBUG_EXIT_LEN-long range at DEBUG_EXIT_PORT; opaque is the
 * struct debug_exit. */
extern const struct bus_device_ops debug_exit_ops;

#endif
