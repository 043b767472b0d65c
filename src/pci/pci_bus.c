#include "pci/pci_bus.h"

#include <errno.h>
#include <string.h>

#include "layout.h"
#include "log.h"

/* Every memory BAR gets at least a page of its own, so a guest can map
 * one device's registers without exposing another's. */
#define PCI_MMIO_MIN_ALIGN 4096

void pci_bus_init(struct pci_bus *bus)
{
	memset(bus, 0, sizeof(*bus));
	/* A default mutex holds no resources and its initializer cannot fail. */
	bus->lock = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
	bus->io_next = PCI_BUS_IO_BASE;
	bus->mmio_next = LAYOUT_PCI_MMIO_BASE;
	atomic_init(&bus->conf1_ignored, 0);
}

void pci_bus_destroy(struct pci_bus *bus)
{
	pthread_mutex_destroy(&bus->lock);
}

/* Place `size` bytes aligned to `align` at or after *next, below end.
 * Returns the address, or 0 when the window is full (0 is in neither). */
static uint64_t window_take(uint64_t *next, uint64_t end, uint64_t size, uint64_t align)
{
	uint64_t at = (*next + align - 1) & ~(align - 1);

	if (at < *next || at > end || end - at < size)
		return 0;
	*next = at + size;
	return at;
}

int pci_bus_add(struct pci_bus *bus, struct pci_device *dev, unsigned devfn)
{
	uint64_t io_next = bus->io_next, mmio_next = bus->mmio_next;
	uint64_t addrs[PCI_NR_BARS] = { 0 };
	uint16_t command = 0;

	if (devfn >= PCI_NR_DEVFNS || (devfn & 7))
		return -EINVAL;
	if (bus->devices[devfn])
		return -EEXIST;
	/* Assign into locals first, so a full window changes nothing. */
	for (unsigned i = 0; i < PCI_NR_BARS; i++) {
		const struct pci_bar *bar = &dev->bars[i];

		if (bar->space == PCI_BAR_IO) {
			addrs[i] = window_take(&io_next, PCI_BUS_IO_END, bar->size, bar->size);
			command |= PCI_COMMAND_IO;
		} else if (bar->space == PCI_BAR_MEM32) {
			uint64_t align = bar->size > PCI_MMIO_MIN_ALIGN ? bar->size : PCI_MMIO_MIN_ALIGN;

			addrs[i] = window_take(&mmio_next, LAYOUT_PCI_MMIO_END, bar->size, align);
			command |= PCI_COMMAND_MEMORY;
		} else {
			continue;
		}
		if (!addrs[i])
			return -ENOSPC;
	}
	for (unsigned i = 0; i < PCI_NR_BARS; i++)
		dev->bars[i].addr = addrs[i];
	bus->io_next = io_next;
	bus->mmio_next = mmio_next;
	atomic_store(&dev->command, command);
	dev->devfn = devfn;
	bus->devices[devfn] = dev;
	return 0;
}

static int map_range(struct bus *on, uint64_t base, uint64_t len,
		     const struct bus_device_ops *ops, void *opaque, const char *name)
{
	int ret = bus_insert(on, base, len, ops, opaque, name);

	if (ret < 0)
		log_error("cannot map %s at %s 0x%llx (%llu bytes): %s", name, on->name,
			  (unsigned long long)base, (unsigned long long)len, strerror(-ret));
	return ret;
}

int pci_bus_map(struct pci_bus *bus, struct bus *pio, struct bus *mmio)
{
	int ret = map_range(pio, PCI_CONF1_ADDRESS_PORT, PCI_CONF1_PORTS, &pci_conf1_address_ops,
			    bus, "pci-conf1-address");

	if (!ret)
		ret = map_range(pio, PCI_CONF1_DATA_PORT, PCI_CONF1_PORTS, &pci_conf1_data_ops, bus,
				"pci-conf1-data");
	if (!ret)
		ret = map_range(mmio, LAYOUT_PCI_ECAM_BASE, LAYOUT_PCI_ECAM_SIZE, &pci_ecam_ops, bus,
				"pci-ecam");
	for (unsigned devfn = 0; devfn < PCI_NR_DEVFNS && !ret; devfn++) {
		struct pci_device *dev = bus->devices[devfn];

		for (unsigned i = 0; dev && i < PCI_NR_BARS && !ret; i++) {
			struct pci_bar *bar = &dev->bars[i];

			if (bar->space != PCI_BAR_UNUSED)
				ret = map_range(bar->space == PCI_BAR_IO ? pio : mmio, bar->addr,
						bar->size, &pci_bar_ops, bar, bar->name);
		}
	}
	return ret;
}

/* One configuration access to bus `busnr`, `devfn`, register `reg`; called
 * with the bus lock held. Absent functions read all-ones. */
static void config_read_locked(struct pci_bus *bus, unsigned busnr, unsigned devfn, unsigned reg,
			       uint8_t *data, unsigned size)
{
	struct pci_device *dev = busnr == 0 ? bus->devices[devfn] : NULL;

	if (dev)
		pci_device_config_read(dev, reg, data, size);
	else
		memset(data, 0xff, size);
}

static void config_write_locked(struct pci_bus *bus, unsigned busnr, unsigned devfn, unsigned reg,
				const uint8_t *data, unsigned size)
{
	struct pci_device *dev = busnr == 0 ? bus->devices[devfn] : NULL;

	if (dev)
		pci_device_config_write(dev, reg, data, size);
}

static void conf1_address_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct pci_bus *bus = opaque;
	uint32_t address;

	pthread_mutex_lock(&bus->lock);
	address = bus->conf1_address;
	pthread_mutex_unlock(&bus->lock);
	/* The bus keeps offset + size within the 4 ports. */
	for (unsigned i = 0; i < size; i++)
		((uint8_t *)data)[i] = (uint8_t)(address >> (8 * (offset + i)));
}

static void conf1_address_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct pci_bus *bus = opaque;
	uint32_t address;

	if (offset != 0 || size != 4) {
		atomic_fetch_add_explicit(&bus->conf1_ignored, 1, memory_order_relaxed);
		return;
	}
	memcpy(&address, data, 4);  /* x86 host: little-endian like the guest */
	pthread_mutex_lock(&bus->lock);
	bus->conf1_address = address;
	pthread_mutex_unlock(&bus->lock);
}

/* Mechanism #1 register offset, QEMU's way: (address & 0xff) | (port & 3). */
static unsigned conf1_register(uint32_t address, uint64_t port_offset)
{
	return (address & 0xff) | (unsigned)(port_offset & 3);
}

static void conf1_data_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct pci_bus *bus = opaque;
	uint32_t address;

	pthread_mutex_lock(&bus->lock);
	address = bus->conf1_address;
	if (address & PCI_CONF1_ENABLE)
		config_read_locked(bus, (address >> 16) & 0xff, (address >> 8) & 0xff,
				   conf1_register(address, offset), data, size);
	else
		memset(data, 0xff, size);
	pthread_mutex_unlock(&bus->lock);
}

static void conf1_data_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct pci_bus *bus = opaque;
	uint32_t address;

	pthread_mutex_lock(&bus->lock);
	address = bus->conf1_address;
	if (address & PCI_CONF1_ENABLE)
		config_write_locked(bus, (address >> 16) & 0xff, (address >> 8) & 0xff,
				    conf1_register(address, offset), data, size);
	pthread_mutex_unlock(&bus->lock);
}

const struct bus_device_ops pci_conf1_address_ops = {
	.read = conf1_address_read,
	.write = conf1_address_write,
};

const struct bus_device_ops pci_conf1_data_ops = {
	.read = conf1_data_read,
	.write = conf1_data_write,
};

/* ECAM offset: bus << 20 | devfn << 12 | register (PCIe 3.0 §7.2.2,
 * Table 7-1). */
static bool ecam_decode(uint64_t offset, unsigned size, unsigned *busnr, unsigned *devfn,
			unsigned *reg)
{
	*busnr = (unsigned)(offset >> 20) & 0xff;
	*devfn = (unsigned)(offset >> 12) & 0xff;
	*reg = (unsigned)offset & (PCI_ECAM_FUNCTION_SIZE - 1);
	return size <= PCI_ECAM_FUNCTION_SIZE - *reg;
}

static void ecam_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct pci_bus *bus = opaque;
	unsigned busnr, devfn, reg;

	if (!ecam_decode(offset, size, &busnr, &devfn, &reg)) {
		memset(data, 0xff, size);
		return;
	}
	pthread_mutex_lock(&bus->lock);
	config_read_locked(bus, busnr, devfn, reg, data, size);
	pthread_mutex_unlock(&bus->lock);
}

static void ecam_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct pci_bus *bus = opaque;
	unsigned busnr, devfn, reg;

	if (!ecam_decode(offset, size, &busnr, &devfn, &reg))
		return;
	pthread_mutex_lock(&bus->lock);
	config_write_locked(bus, busnr, devfn, reg, data, size);
	pthread_mutex_unlock(&bus->lock);
}

const struct bus_device_ops pci_ecam_ops = {
	.read = ecam_read,
	.write = ecam_write,
};
