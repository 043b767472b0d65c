/* The POST-code port at 0x80. PC firmware writes progress codes there and
 * Linux writes it as a tiny I/O delay (io_delay=0x80, its default without
 * KVM's NOP_IO_DELAY feature). Real chipsets accept the write and show it
 * on a debug card; we keep the last code and count writes, so the port is
 * served without ever counting as an unmapped access. Reads return the
 * last code, as on chipsets that latch it.
 *
 * Lock-free: the state is two relaxed atomics, so the write path costs a
 * vCPU nothing beyond the exit itself (it is the no-op device of the exit
 * benchmark). */
#ifndef KVMRUN_DEVICES_POST_CODE_H
#define KVMRUN_DEVICES_POST_CODE_H

#include <stdatomic.h>

#include "bus.h"

#define POST_CODE_PORT 0x80

struct post_code {
	atomic_uint_fast8_t last;
	atomic_uint_fast64_t writes;
};

void post_code_init(struct post_code *post);

/* Ops for a one-port range at POST_CODE_PORT; opaque is the struct post_code. */
extern const struct bus_device_ops post_code_ops;

#endif
