#include "devices/post_code.h"

#include <string.h>

void post_code_init(struct post_code *post)
{
	atomic_init(&post->last, 0);
	atomic_init(&post->writes, 0);
}

static void post_code_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct post_code *post = opaque;

	(void)offset;
	memset(data, atomic_load_explicit(&post->last, memory_order_relaxed), size);
}

static void post_code_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct post_code *post = opaque;

	(void)offset;
	(void)size;
	/* The code is the low byte, whatever the access width. */
	atomic_store_explicit(&post->last, *(const uint8_t *)data, memory_order_relaxed);
	atomic_fetch_add_explicit(&post->writes, 1, memory_order_relaxed);
}

const struct bus_device_ops post_code_ops = {
	.read = post_code_read,
	.write = post_code_write,
};
