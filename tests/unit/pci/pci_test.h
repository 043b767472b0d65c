/* Helpers shared by the PCI unit tests: a machine-like pair of buses with
 * the PCI bus mapped, and configuration accesses the way a guest makes
 * them (port I/O to 0xcf8/0xcfc, or ECAM loads and stores). */
#ifndef KVMRUN_TESTS_UNIT_PCI_TEST_H
#define KVMRUN_TESTS_UNIT_PCI_TEST_H

#include <stdint.h>

#include "bus.h"
#include "layout.h"
#include "pci/pci_bus.h"

static inline uint32_t conf1_address(unsigned busnr, unsigned devfn, unsigned reg)
{
	return PCI_CONF1_ENABLE | busnr << 16 | devfn << 8 | reg;
}

/* outl(address, 0xcf8); then a `size`-byte IN from 0xcfc + port_offset. */
static inline uint32_t conf1_read(struct bus *pio, uint32_t address, unsigned port_offset,
				  unsigned size)
{
	uint32_t value = 0;

	assert_true(bus_write(pio, PCI_CONF1_ADDRESS_PORT, &address, 4));
	assert_true(bus_read(pio, PCI_CONF1_DATA_PORT + port_offset, &value, size));
	return value;
}

static inline void conf1_write(struct bus *pio, uint32_t address, unsigned port_offset,
			       uint32_t value, unsigned size)
{
	assert_true(bus_write(pio, PCI_CONF1_ADDRESS_PORT, &address, 4));
	assert_true(bus_write(pio, PCI_CONF1_DATA_PORT + port_offset, &value, size));
}

/* Dword-aligned mechanism #1 access to a register, as Linux's conf1 does. */
static inline uint32_t cfg_read(struct bus *pio, unsigned devfn, unsigned reg, unsigned size)
{
	return conf1_read(pio, conf1_address(0, devfn, reg & 0xfc), reg & 3, size);
}

static inline void cfg_write(struct bus *pio, unsigned devfn, unsigned reg, uint32_t value,
			     unsigned size)
{
	conf1_write(pio, conf1_address(0, devfn, reg & 0xfc), reg & 3, value, size);
}

static inline uint64_t ecam_addr(unsigned busnr, unsigned devfn, unsigned reg)
{
	return LAYOUT_PCI_ECAM_BASE + ((uint64_t)busnr << 20 | (uint64_t)devfn << 12 | reg);
}

static inline uint32_t ecam_read(struct bus *mmio, unsigned busnr, unsigned devfn, unsigned reg,
				 unsigned size)
{
	uint32_t value = 0;

	assert_true(bus_read(mmio, ecam_addr(busnr, devfn, reg), &value, size));
	return value;
}

/* Size a BAR the way the PCI specification (§6.2.5.1) and kvm-unit-tests'
 * pci_bar_size_helper() do: save, write all-ones, read, restore. Returns
 * the value read while sizing. */
static inline uint32_t bar_sizing_read(struct bus *pio, unsigned devfn, unsigned bar)
{
	unsigned reg = 0x10 + 4 * bar;
	uint32_t saved = cfg_read(pio, devfn, reg, 4), mask;

	cfg_write(pio, devfn, reg, 0xffffffff, 4);
	mask = cfg_read(pio, devfn, reg, 4);
	cfg_write(pio, devfn, reg, saved, 4);
	return mask;
}

#endif
