#include "devices/debug_exit.h"

#include <string.h>

void debug_exit_init(struct debug_exit *dev, struct stop_request stop)
{
	dev->stop = stop;
	atomic_init(&dev->ignored, 0);
}

int debug_exit_status(uint32_t value)
{
	/* Computed in 64 bits so the shift cannot overflow, then cut to
	 * what a process exit status can carry. */
	return (int)((((uint64_t)value << 1) | 1) & 0xff);
}

static void debug_exit_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	(void)opaque;
	(void)offset;
	memset(data, 0xff, size);
}

static void debug_exit_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct debug_exit *dev = opaque;
	const uint8_t *b = data;
	uint32_t value = 0;

	if (offset != 0 || (size != 1 && size != 2 && size != 4)) {
		atomic_fetch_add_explicit(&dev->ignored, 1, memory_order_relaxed);
		return;
	}
	for (unsigned i = 0; i < size; i++)  /* little-endian, as port I/O */
		value |= (uint32_t)b[i] << (8 * i);
	stop_request_send(&dev->stop, VM_STOP_GUEST_EXIT, debug_exit_status(value));
}

const struct bus_device_ops debug_exit_ops = {
	.read = debug_exit_read,
	.write = debug_exit_write,
};
