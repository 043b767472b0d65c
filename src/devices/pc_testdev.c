#include "devices/pc_testdev.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define PAGE_SIZE 4096ULL

int pc_testdev_init(struct pc_testdev *dev, const struct irq_line irqs[PC_TESTDEV_NR_IRQS],
		    const struct guest_memory *mem)
{
	memset(dev, 0, sizeof(*dev));
	dev->iomem = calloc(1, PC_TESTDEV_IOMEM_SIZE);
	if (!dev->iomem)
		return -ENOMEM;
	/* A default mutex holds no resources and its initializer cannot fail. */
	dev->lock = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
	memcpy(dev->irqs, irqs, sizeof(dev->irqs));
	dev->mem = mem;
	atomic_init(&dev->flushes, 0);
	atomic_init(&dev->ignored, 0);
	return 0;
}

void pc_testdev_destroy(struct pc_testdev *dev)
{
	free(dev->iomem);
	dev->iomem = NULL;
	pthread_mutex_destroy(&dev->lock);
}

static void ignore(struct pc_testdev *dev)
{
	atomic_fetch_add_explicit(&dev->ignored, 1, memory_order_relaxed);
}

/* The bus keeps offset + size within the 4 ports, so byte lanes are
 * offset..offset + size - 1 of the latch. */
static void latch_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct pc_testdev *dev = opaque;
	uint8_t *out = data;

	pthread_mutex_lock(&dev->lock);
	for (unsigned i = 0; i < size; i++)
		out[i] = offset + i < 4 ? (uint8_t)(dev->latch >> (8 * (offset + i))) : 0xff;
	pthread_mutex_unlock(&dev->lock);
}

static void latch_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct pc_testdev *dev = opaque;
	const uint8_t *in = data;

	pthread_mutex_lock(&dev->lock);
	for (unsigned i = 0; i < size && offset + i < 4; i++) {
		unsigned shift = 8 * (unsigned)(offset + i);

		dev->latch = (dev->latch & ~(0xffu << shift)) | ((uint32_t)in[i] << shift);
	}
	pthread_mutex_unlock(&dev->lock);
}

const struct bus_device_ops pc_testdev_latch_ops = {
	.read = latch_read,
	.write = latch_write,
};

static void read_zero(void *opaque, uint64_t offset, void *data, unsigned size)
{
	(void)opaque;
	(void)offset;
	memset(data, 0, size);
}

/* Make KVM forget its mapping of the page; see pc_testdev.h. */
static int flush_page(const struct guest_memory *mem, uint64_t gpa)
{
	void *page = guest_memory_ptr(mem, gpa & ~(PAGE_SIZE - 1), PAGE_SIZE);

	if (!page)
		return -EFAULT;
	if (mem->fd >= 0)
		return madvise(page, PAGE_SIZE, MADV_DONTNEED) < 0 ? -errno : 0;
	if (mprotect(page, PAGE_SIZE, PROT_READ) < 0 ||
	    mprotect(page, PAGE_SIZE, PROT_READ | PROT_WRITE) < 0)
		return -errno;
	return 0;
}

static void flush_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct pc_testdev *dev = opaque;
	uint32_t gpa;

	if (offset != 0 || size != 4) {
		ignore(dev);
		return;
	}
	memcpy(&gpa, data, 4);
	if (flush_page(dev->mem, gpa) < 0)
		ignore(dev);
	else
		atomic_fetch_add_explicit(&dev->flushes, 1, memory_order_relaxed);
}

const struct bus_device_ops pc_testdev_flush_ops = {
	.read = read_zero,
	.write = flush_write,
};

static void irq_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct pc_testdev *dev = opaque;

	if (size != 1 || offset >= PC_TESTDEV_NR_IRQS) {
		ignore(dev);
		return;
	}
	irq_line_set(&dev->irqs[offset], *(const uint8_t *)data != 0);
}

const struct bus_device_ops pc_testdev_irq_ops = {
	.read = read_zero,
	.write = irq_write,
};

static void iomem_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct pc_testdev *dev = opaque;

	if (offset >= PC_TESTDEV_IOMEM_SIZE || size > PC_TESTDEV_IOMEM_SIZE - offset) {
		memset(data, 0xff, size);
		return;
	}
	pthread_mutex_lock(&dev->lock);
	memcpy(data, dev->iomem + offset, size);
	pthread_mutex_unlock(&dev->lock);
}

static void iomem_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct pc_testdev *dev = opaque;

	if (offset >= PC_TESTDEV_IOMEM_SIZE || size > PC_TESTDEV_IOMEM_SIZE - offset)
		return;
	pthread_mutex_lock(&dev->lock);
	memcpy(dev->iomem + offset, data, size);
	pthread_mutex_unlock(&dev->lock);
}

const struct bus_device_ops pc_testdev_iomem_ops = {
	.read = iomem_read,
	.write = iomem_write,
};
