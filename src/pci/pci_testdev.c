#include "pci/pci_testdev.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* The two register files (BAR0 memory, BAR1 I/O) and the three tests, in
 * QEMU's order: test index = type * 3 + kind. */
enum { TYPE_MMIO, TYPE_PORTIO, NR_TYPES };
enum { KIND_NO_EVENTFD, KIND_WILDCARD, KIND_DATAMATCH, NR_KINDS };

#define DATA_MATCH     0xfa   /* value the no-eventfd and datamatch tests expect */
#define DATA_WILDCARD  0xce   /* value shown by the wildcard test (any value counts) */
#define MMIO_TEST_BASE (PCI_TESTDEV_MMIO_SIZE / 2)   /* QEMU: 2048 */
#define IO_TEST_BASE   (PCI_TESTDEV_IO_SIZE / 2)     /* QEMU: 128 */

_Static_assert(NR_TYPES * NR_KINDS == PCI_TESTDEV_NR_TESTS, "test table size");

static unsigned test_type(int test)
{
	return (unsigned)test / NR_KINDS;
}

static unsigned test_kind(int test)
{
	return (unsigned)test % NR_KINDS;
}

static uint32_t le32(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (unsigned i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void build_header(struct pci_testdev *dev, int test)
{
	static const char *const types[NR_TYPES] = { "mmio", "portio" };
	static const char *const kinds[NR_KINDS] = {
		"no-eventfd", "wildcard-eventfd", "datamatch-eventfd",
	};
	uint8_t *hdr = dev->hdr[test];
	unsigned type = test_type(test), kind = test_kind(test);
	int len;

	memset(hdr, 0, PCI_TESTDEV_HDR_MAX);
	hdr[PCI_TESTDEV_TEST] = (uint8_t)test;
	hdr[PCI_TESTDEV_WIDTH] = 1;
	put_le32(&hdr[PCI_TESTDEV_OFFSET],
		 (type == TYPE_MMIO ? MMIO_TEST_BASE : IO_TEST_BASE) + (uint32_t)test);
	hdr[PCI_TESTDEV_DATA] = kind == KIND_WILDCARD ? DATA_WILDCARD : DATA_MATCH;
	len = snprintf((char *)&hdr[PCI_TESTDEV_NAME], PCI_TESTDEV_HDR_MAX - PCI_TESTDEV_NAME,
		       "%s-%s", types[type], kinds[kind]);
	dev->hdr_len[test] = PCI_TESTDEV_NAME + (unsigned)len + 1;
}

/* Read what KVM signalled since the last drain; called with the lock held. */
static void drain_eventfd(struct pci_testdev *dev)
{
	uint64_t n;

	if (read(dev->eventfd, &n, sizeof(n)) == (ssize_t)sizeof(n))
		dev->eventfd_signals += n;
}

static uint64_t test_addr(const struct pci_testdev *dev, int test)
{
	unsigned bar = test_type(test) == TYPE_MMIO ? 0 : 1;

	return dev->pci.bars[bar].addr + le32(&dev->hdr[test][PCI_TESTDEV_OFFSET]);
}

static int bind_test(struct pci_testdev *dev, int test, bool assign)
{
	uint64_t data = dev->hdr[test][PCI_TESTDEV_DATA];
	const uint64_t *match = test_kind(test) == KIND_DATAMATCH ? &data : NULL;

	if (!dev->binder.bind)
		return -ENOSYS;
	return dev->binder.bind(dev->binder.ctx, test_type(test) == TYPE_MMIO,
				test_addr(dev, test), 1, match, dev->eventfd, assign);
}

static void disarm(struct pci_testdev *dev)
{
	if (dev->current >= 0 && dev->bound)
		bind_test(dev, dev->current, false);
	dev->bound = false;
	dev->current = -1;
}

static void arm(struct pci_testdev *dev, int test)
{
	put_le32(&dev->hdr[test][PCI_TESTDEV_COUNT], 0);
	dev->current = test;
	if (test_kind(test) == KIND_NO_EVENTFD)
		return;
	drain_eventfd(dev);
	if (bind_test(dev, test, true) == 0)
		dev->bound = true;
	else
		dev->bind_errors++;
}

/* One byte of a guest write, QEMU's pci_testdev_write with a 1-byte
 * access; called with the lock held. */
static void write_byte(struct pci_testdev *dev, unsigned type, uint64_t offset, uint8_t value)
{
	uint8_t *hdr;

	if (offset == PCI_TESTDEV_TEST) {
		disarm(dev);
		if (value < NR_KINDS)
			arm(dev, (int)(type * NR_KINDS + value));
		return;
	}
	if (dev->current < 0)
		return;
	hdr = dev->hdr[dev->current];
	if (offset != le32(&hdr[PCI_TESTDEV_OFFSET]))
		return;
	if (test_kind(dev->current) != KIND_WILDCARD && value != hdr[PCI_TESTDEV_DATA])
		return;
	put_le32(&hdr[PCI_TESTDEV_COUNT], le32(&hdr[PCI_TESTDEV_COUNT]) + 1);
}

static void testdev_write(struct pci_testdev *dev, unsigned type, uint64_t offset,
			  const void *data, unsigned size)
{
	pthread_mutex_lock(&dev->lock);
	for (unsigned i = 0; i < size; i++)
		write_byte(dev, type, offset + i, ((const uint8_t *)data)[i]);
	pthread_mutex_unlock(&dev->lock);
}

static void testdev_read(struct pci_testdev *dev, uint64_t offset, void *data, unsigned size)
{
	uint8_t *out = data;

	pthread_mutex_lock(&dev->lock);
	if (dev->current >= 0 && dev->bound)
		drain_eventfd(dev);
	for (unsigned i = 0; i < size; i++) {
		uint64_t at = offset + i;

		/* QEMU answers 0 from the terminating NUL on, and with no test. */
		out[i] = dev->current >= 0 && at + 1 < dev->hdr_len[dev->current]
				 ? dev->hdr[dev->current][at] : 0;
	}
	pthread_mutex_unlock(&dev->lock);
}

static void mmio_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	testdev_read(opaque, offset, data, size);
}

static void mmio_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	testdev_write(opaque, TYPE_MMIO, offset, data, size);
}

static void portio_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	testdev_write(opaque, TYPE_PORTIO, offset, data, size);
}

static const struct bus_device_ops testdev_mmio_ops = { .read = mmio_read, .write = mmio_write };
static const struct bus_device_ops testdev_portio_ops = { .read = mmio_read, .write = portio_write };

int pci_testdev_init(struct pci_testdev *dev, struct ioeventfd_binder binder)
{
	static const struct pci_device_id id = {
		.vendor = PCI_TESTDEV_VENDOR,
		.device = PCI_TESTDEV_DEVICE,
		.revision = 0,
		.class_code = 0x00ff00,  /* see pci_testdev.h */
		.subsystem_vendor = PCI_SUBSYSTEM_VENDOR_QEMU,
		.subsystem = PCI_SUBSYSTEM_QEMU,
		.interrupt_pin = 0,
	};
	int ret;

	memset(dev, 0, sizeof(*dev));
	pci_device_init(&dev->pci, "pci-testdev", &id);
	ret = pci_device_set_bar(&dev->pci, 0, PCI_BAR_MEM32, PCI_TESTDEV_MMIO_SIZE,
				 &testdev_mmio_ops, dev, "pci-testdev-mmio");
	if (!ret)
		ret = pci_device_set_bar(&dev->pci, 1, PCI_BAR_IO, PCI_TESTDEV_IO_SIZE,
					 &testdev_portio_ops, dev, "pci-testdev-portio");
	if (ret < 0)
		return ret;
	for (int test = 0; test < PCI_TESTDEV_NR_TESTS; test++)
		build_header(dev, test);
	dev->eventfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (dev->eventfd < 0)
		return -errno;
	/* A default mutex holds no resources and its initializer cannot fail. */
	dev->lock = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
	dev->binder = binder;
	dev->current = -1;
	return 0;
}

void pci_testdev_destroy(struct pci_testdev *dev)
{
	pthread_mutex_lock(&dev->lock);
	disarm(dev);
	pthread_mutex_unlock(&dev->lock);
	if (dev->eventfd >= 0)
		close(dev->eventfd);
	dev->eventfd = -1;
	pthread_mutex_destroy(&dev->lock);
}

int pci_testdev_current(struct pci_testdev *dev)
{
	int current;

	pthread_mutex_lock(&dev->lock);
	current = dev->current;
	pthread_mutex_unlock(&dev->lock);
	return current;
}
