#include "pci/pci.h"

#include <errno.h>
#include <string.h>

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

void pci_device_init(struct pci_device *dev, const char *name, const struct pci_device_id *id)
{
	memset(dev, 0, sizeof(*dev));
	dev->name = name;
	put16(&dev->config[PCI_VENDOR_ID], id->vendor);
	put16(&dev->config[PCI_DEVICE_ID], id->device);
	dev->config[PCI_REVISION_ID] = id->revision;
	dev->config[PCI_CLASS_PROG] = (uint8_t)id->class_code;
	dev->config[PCI_CLASS_PROG + 1] = (uint8_t)(id->class_code >> 8);
	dev->config[PCI_CLASS_PROG + 2] = (uint8_t)(id->class_code >> 16);
	dev->config[PCI_HEADER_TYPE] = PCI_HEADER_TYPE_NORMAL;
	put16(&dev->config[PCI_SUBSYSTEM_VENDOR_ID], id->subsystem_vendor);
	put16(&dev->config[PCI_SUBSYSTEM_ID], id->subsystem);
	dev->config[PCI_INTERRUPT_PIN] = id->interrupt_pin;
	/* Software scratch registers (§6.2.4): the cache line size and the
	 * interrupt line, which firmware or the OS fills in for itself. */
	dev->wmask[PCI_CACHE_LINE_SIZE] = 0xff;
	dev->wmask[PCI_INTERRUPT_LINE] = 0xff;
	atomic_init(&dev->command, 0);
	atomic_init(&dev->disabled_accesses, 0);
}

static bool power_of_two(uint32_t v)
{
	return v && !(v & (v - 1));
}

int pci_device_set_bar(struct pci_device *dev, unsigned index, enum pci_bar_space space,
		       uint32_t size, const struct bus_device_ops *ops, void *opaque,
		       const char *name)
{
	uint32_t min = space == PCI_BAR_IO ? 4 : 16;
	uint32_t max = space == PCI_BAR_IO ? 256 : (256u << 20);

	if (index >= PCI_NR_BARS || !ops || (space != PCI_BAR_IO && space != PCI_BAR_MEM32) ||
	    !power_of_two(size) || size < min || size > max)
		return -EINVAL;
	dev->bars[index] = (struct pci_bar){
		.space = space, .size = size, .ops = ops, .opaque = opaque, .name = name, .dev = dev,
	};
	return 0;
}

/* The BAR register's value: its address, or its size mask while the
 * guest is sizing it, with the read-only type bits below. */
static uint32_t bar_register(const struct pci_bar *bar)
{
	uint32_t addr_mask = ~(bar->size - 1);
	uint32_t flags = bar->space == PCI_BAR_IO ? PCI_BAR_IO_SPACE : 0;

	if (bar->space == PCI_BAR_UNUSED)
		return 0;  /* unimplemented BARs are hardwired to 0 (§6.2.5.1) */
	if ((bar->written & addr_mask) == addr_mask)
		return addr_mask | flags;
	return ((uint32_t)bar->addr & addr_mask) | flags;
}

static uint8_t config_byte(const struct pci_device *dev, unsigned offset)
{
	if (offset >= PCI_CONFIG_SIZE)
		return 0xff;
	if (offset == PCI_COMMAND || offset == PCI_COMMAND + 1)
		return (uint8_t)(atomic_load(&dev->command) >> (8 * (offset - PCI_COMMAND)));
	if (offset >= PCI_BASE_ADDRESS_0 && offset < PCI_BASE_ADDRESS_0 + 4 * PCI_NR_BARS) {
		unsigned rel = offset - PCI_BASE_ADDRESS_0;

		return (uint8_t)(bar_register(&dev->bars[rel / 4]) >> (8 * (rel % 4)));
	}
	return dev->config[offset];
}

static void config_write_byte(struct pci_device *dev, unsigned offset, uint8_t value)
{
	if (offset >= PCI_CONFIG_SIZE)
		return;
	if (offset == PCI_COMMAND || offset == PCI_COMMAND + 1) {
		unsigned shift = 8 * (offset - PCI_COMMAND);
		uint16_t old = atomic_load(&dev->command);
		uint16_t lane = (uint16_t)(0xff << shift);
		uint16_t now = (uint16_t)((old & ~lane) | (((uint16_t)value << shift) &
							   lane & PCI_COMMAND_WRITABLE));

		/* Writers are serialised by the bus lock; readers are BAR dispatch. */
		atomic_store(&dev->command, now);
		return;
	}
	if (offset >= PCI_BASE_ADDRESS_0 && offset < PCI_BASE_ADDRESS_0 + 4 * PCI_NR_BARS) {
		unsigned rel = offset - PCI_BASE_ADDRESS_0, shift = 8 * (rel % 4);
		struct pci_bar *bar = &dev->bars[rel / 4];

		bar->written = (bar->written & ~(0xffu << shift)) | ((uint32_t)value << shift);
		return;
	}
	dev->config[offset] = (uint8_t)((dev->config[offset] & ~dev->wmask[offset]) |
					(value & dev->wmask[offset]));
}

void pci_device_config_read(struct pci_device *dev, unsigned offset, uint8_t *data, unsigned size)
{
	for (unsigned i = 0; i < size; i++)
		data[i] = config_byte(dev, offset + i);
}

void pci_device_config_write(struct pci_device *dev, unsigned offset, const uint8_t *data,
			     unsigned size)
{
	for (unsigned i = 0; i < size; i++)
		config_write_byte(dev, offset + i, data[i]);
}

bool pci_bar_enabled(const struct pci_bar *bar)
{
	uint16_t bit = bar->space == PCI_BAR_IO ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY;

	return atomic_load_explicit(&bar->dev->command, memory_order_relaxed) & bit;
}

static void pci_bar_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct pci_bar *bar = opaque;

	if (!pci_bar_enabled(bar)) {
		atomic_fetch_add_explicit(&bar->dev->disabled_accesses, 1, memory_order_relaxed);
		memset(data, 0xff, size);
		return;
	}
	if (bar->ops->read)
		bar->ops->read(bar->opaque, offset, data, size);
	else
		memset(data, 0xff, size);
}

static void pci_bar_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct pci_bar *bar = opaque;

	if (!pci_bar_enabled(bar)) {
		atomic_fetch_add_explicit(&bar->dev->disabled_accesses, 1, memory_order_relaxed);
		return;
	}
	if (bar->ops->write)
		bar->ops->write(bar->opaque, offset, data, size);
}

const struct bus_device_ops pci_bar_ops = {
	.read = pci_bar_read,
	.write = pci_bar_write,
};
