#include "devices/exit_port.h"

#include <string.h>

void exit_port_init(struct exit_port *port, struct stop_request stop)
{
	port->stop = stop;
	atomic_init(&port->ignored, 0);
}

static void exit_port_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	(void)opaque;
	(void)offset;
	memset(data, 0xff, size);
}

static void exit_port_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct exit_port *port = opaque;

	if (offset != 0 || (size != 1 && size != 2 && size != 4)) {
		atomic_fetch_add_explicit(&port->ignored, 1, memory_order_relaxed);
		return;
	}
	/* Little-endian: the first byte is value & 0xff whatever the width. */
	stop_request_send(&port->stop, VM_STOP_GUEST_EXIT, *(const uint8_t *)data);
}

const struct bus_device_ops exit_port_ops = {
	.read = exit_port_read,
	.write = exit_port_write,
};
