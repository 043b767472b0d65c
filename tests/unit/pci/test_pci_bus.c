/* PCI configuration space through real buses: mechanism #1 (the 0xcf8
 * latch, QEMU's register-offset quirk, the enable bit, absent functions),
 * ECAM giving the same bytes, BAR assignment and sizing, the command
 * register gating BARs, and the host bridge's identity. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "pci/host_bridge.h"
#include "pci/pci_testdev.h"
#include "pci_test.h"

#define TESTDEV_DEVFN PCI_DEVFN(3, 0)

struct fixture {
	struct bus pio, mmio;
	struct pci_bus pci;
	struct pci_host_bridge bridge;
	struct pci_testdev testdev;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	bus_init(&f->pio, "pio");
	bus_init(&f->mmio, "mmio");
	pci_bus_init(&f->pci);
	pci_host_bridge_init(&f->bridge);
	assert_int_equal(pci_testdev_init(&f->testdev, (struct ioeventfd_binder){ 0 }), 0);
	assert_int_equal(pci_bus_add(&f->pci, &f->bridge.pci, PCI_HOST_BRIDGE_DEVFN), 0);
	assert_int_equal(pci_bus_add(&f->pci, &f->testdev.pci, TESTDEV_DEVFN), 0);
	assert_int_equal(pci_bus_map(&f->pci, &f->pio, &f->mmio), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	pci_testdev_destroy(&f->testdev);
	pci_bus_destroy(&f->pci);
	bus_destroy(&f->pio);
	bus_destroy(&f->mmio);
	free(f);
	return 0;
}

static uint32_t latch(struct fixture *f)
{
	uint32_t v = 0;

	assert_true(bus_read(&f->pio, PCI_CONF1_ADDRESS_PORT, &v, 4));
	return v;
}

static void test_address_latches_only_on_dword_writes(void **state)
{
	struct fixture *f = *state;
	uint32_t address = 0x80001234, v;
	uint8_t byte = 0x01;
	uint16_t word = 0xffff;

	assert_true(bus_write(&f->pio, PCI_CONF1_ADDRESS_PORT, &address, 4));
	assert_int_equal(latch(f), 0x80001234);
	/* Linux's probe writes a byte to 0xcfb first; none of these change it. */
	assert_true(bus_write(&f->pio, PCI_CONF1_ADDRESS_PORT + 3, &byte, 1));
	assert_true(bus_write(&f->pio, PCI_CONF1_ADDRESS_PORT, &byte, 1));
	assert_true(bus_write(&f->pio, PCI_CONF1_ADDRESS_PORT + 2, &word, 2));
	assert_true(bus_write(&f->pio, PCI_CONF1_ADDRESS_PORT, &word, 2));
	assert_int_equal(latch(f), 0x80001234);
	assert_int_equal(atomic_load(&f->pci.conf1_ignored), 4);
	/* Reads return the latch by byte lane. */
	v = 0;
	assert_true(bus_read(&f->pio, PCI_CONF1_ADDRESS_PORT + 1, &v, 1));
	assert_int_equal(v, 0x12);
	assert_true(bus_read(&f->pio, PCI_CONF1_ADDRESS_PORT + 2, &v, 2));
	assert_int_equal(v, 0x8000);
}

static void test_enable_bit_gates_the_data_window(void **state)
{
	struct fixture *f = *state;
	uint32_t v = 0;

	/* Bit 31 clear: even the host bridge is invisible. */
	assert_int_equal(conf1_read(&f->pio, 0x00000000, 0, 4), 0xffffffff);
	assert_int_equal(conf1_read(&f->pio, 0x00000000, 2, 2), 0xffff);
	/* ... and writes are dropped (the command register stays as it was). */
	conf1_write(&f->pio, PCI_DEVFN(3, 0) << 8 | PCI_COMMAND, 0, 0, 2);
	assert_int_equal(cfg_read(&f->pio, TESTDEV_DEVFN, PCI_COMMAND, 2),
			 PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
	/* Bit 31 set: the vendor and device IDs. */
	assert_int_equal(conf1_read(&f->pio, conf1_address(0, 0, 0), 0, 4), 0x29c08086);
	assert_true(bus_read(&f->pio, PCI_CONF1_DATA_PORT, &v, 1));
	assert_int_equal(v & 0xff, 0x86);
}

static void test_register_offset_quirk(void **state)
{
	struct fixture *f = *state;

	/* Register = (address & 0xff) | (port & 3): the low address bits are
	 * not cleared, they are OR-ed with the port's. */
	assert_int_equal(conf1_read(&f->pio, conf1_address(0, 0, 2), 0, 2), 0x29c0);
	assert_int_equal(conf1_read(&f->pio, conf1_address(0, 0, 1), 0, 1), 0x80);
	assert_int_equal(conf1_read(&f->pio, conf1_address(0, 0, 1), 2, 1), 0x29);  /* 1 | 2 = 3 */
	assert_int_equal(conf1_read(&f->pio, conf1_address(0, 0, 0), 2, 2), 0x29c0);
	assert_int_equal(conf1_read(&f->pio, conf1_address(0, 0, 0), 3, 1), 0x29);
	/* Bits 30:24 are ignored (Linux puts extended register bits there). */
	assert_int_equal(conf1_read(&f->pio, conf1_address(0, 0, 0) | 0x0f000000, 0, 4),
			 0x29c08086);
}

static void test_absent_functions_read_all_ones(void **state)
{
	struct fixture *f = *state;

	for (unsigned devfn = 0; devfn < PCI_NR_DEVFNS; devfn++) {
		uint32_t id = conf1_read(&f->pio, conf1_address(0, devfn, 0), 0, 4);

		if (devfn == PCI_HOST_BRIDGE_DEVFN)
			assert_int_equal(id, 0x29c08086);
		else if (devfn == TESTDEV_DEVFN)
			assert_int_equal(id, 0x00051b36);
		else
			assert_int_equal(id, 0xffffffff);
	}
	/* Other buses are empty. */
	assert_int_equal(conf1_read(&f->pio, conf1_address(1, 0, 0), 0, 4), 0xffffffff);
	assert_int_equal(conf1_read(&f->pio, conf1_address(255, 0, 0), 0, 2), 0xffff);
	/* A write to an absent function goes nowhere and changes nothing. */
	conf1_write(&f->pio, conf1_address(0, PCI_DEVFN(5, 0), PCI_COMMAND), 0, 0xffff, 2);
	assert_int_equal(conf1_read(&f->pio, conf1_address(0, PCI_DEVFN(5, 0), 0), 0, 4),
			 0xffffffff);
}

static void test_ecam_reads_equal_mechanism_1(void **state)
{
	struct fixture *f = *state;
	static const unsigned devfns[] = { 0, TESTDEV_DEVFN, PCI_DEVFN(1, 0), PCI_DEVFN(31, 7) };

	for (unsigned d = 0; d < sizeof(devfns) / sizeof(devfns[0]); d++) {
		for (unsigned reg = 0; reg < PCI_CONFIG_SIZE; reg += 4) {
			uint32_t conf1 = cfg_read(&f->pio, devfns[d], reg, 4);

			assert_int_equal(ecam_read(&f->mmio, 0, devfns[d], reg, 4), conf1);
			assert_int_equal(ecam_read(&f->mmio, 0, devfns[d], reg + 2, 2), conf1 >> 16);
			assert_int_equal(ecam_read(&f->mmio, 0, devfns[d], reg + 1, 1),
					 (conf1 >> 8) & 0xff);
		}
	}
	/* Past the conventional 256 bytes, and on other buses: all-ones. */
	assert_int_equal(ecam_read(&f->mmio, 0, 0, 0x100, 4), 0xffffffff);
	assert_int_equal(ecam_read(&f->mmio, 0, 0, 0xffc, 4), 0xffffffff);
	assert_int_equal(ecam_read(&f->mmio, 1, 0, 0, 4), 0xffffffff);
	assert_int_equal(ecam_read(&f->mmio, 255, 0, 0, 4), 0xffffffff);
	/* An access crossing into the next function's space is refused. */
	assert_int_equal(ecam_read(&f->mmio, 0, 0, 0xffe, 4), 0xffffffff);
}

static void test_ecam_writes_are_seen_by_mechanism_1(void **state)
{
	struct fixture *f = *state;
	uint8_t line = 0x0b;

	assert_true(bus_write(&f->mmio, ecam_addr(0, TESTDEV_DEVFN, PCI_INTERRUPT_LINE), &line, 1));
	assert_int_equal(cfg_read(&f->pio, TESTDEV_DEVFN, PCI_INTERRUPT_LINE, 1), 0x0b);
	cfg_write(&f->pio, TESTDEV_DEVFN, PCI_INTERRUPT_LINE, 0x0a, 1);
	assert_int_equal(ecam_read(&f->mmio, 0, TESTDEV_DEVFN, PCI_INTERRUPT_LINE, 1), 0x0a);
}

static void test_host_bridge_identity(void **state)
{
	struct fixture *f = *state;
	uint32_t pciexbar_lo = (uint32_t)LAYOUT_PCI_ECAM_BASE | 1;

	assert_int_equal(cfg_read(&f->pio, 0, PCI_VENDOR_ID, 2), PCI_HOST_BRIDGE_VENDOR);
	assert_int_equal(cfg_read(&f->pio, 0, PCI_DEVICE_ID, 2), PCI_HOST_BRIDGE_DEVICE);
	assert_int_equal(cfg_read(&f->pio, 0, PCI_REVISION_ID, 4), 0x06000000);  /* class 0600, rev 0 */
	assert_int_equal(cfg_read(&f->pio, 0, PCI_HEADER_TYPE, 1), 0);
	assert_int_equal(cfg_read(&f->pio, 0, PCI_SUBSYSTEM_VENDOR_ID, 4), 0x11001af4);
	assert_int_equal(cfg_read(&f->pio, 0, PCI_INTERRUPT_PIN, 1), 0);
	assert_int_equal(cfg_read(&f->pio, 0, PCI_STATUS, 2), 0);
	/* No BARs: all six size to 0, and there is no ROM. */
	for (unsigned bar = 0; bar < PCI_NR_BARS; bar++)
		assert_int_equal(bar_sizing_read(&f->pio, 0, bar), 0);
	assert_int_equal(cfg_read(&f->pio, 0, PCI_ROM_ADDRESS, 4), 0);
	/* PCIEXBAR reports the ECAM window and ignores writes. */
	assert_int_equal(cfg_read(&f->pio, 0, PCI_HOST_BRIDGE_PCIEXBAR, 4), pciexbar_lo);
	assert_int_equal(cfg_read(&f->pio, 0, PCI_HOST_BRIDGE_PCIEXBAR + 4, 4), 0);
	cfg_write(&f->pio, 0, PCI_HOST_BRIDGE_PCIEXBAR, 0xb0000001, 4);
	assert_int_equal(cfg_read(&f->pio, 0, PCI_HOST_BRIDGE_PCIEXBAR, 4), pciexbar_lo);
}

static void test_read_only_registers_ignore_writes(void **state)
{
	struct fixture *f = *state;

	cfg_write(&f->pio, 0, PCI_VENDOR_ID, 0x12345678, 4);
	cfg_write(&f->pio, 0, PCI_REVISION_ID, 0xffffffff, 4);
	cfg_write(&f->pio, 0, PCI_STATUS, 0xffff, 2);
	cfg_write(&f->pio, 0, PCI_INTERRUPT_PIN, 4, 1);
	assert_int_equal(cfg_read(&f->pio, 0, PCI_VENDOR_ID, 4), 0x29c08086);
	assert_int_equal(cfg_read(&f->pio, 0, PCI_REVISION_ID, 4), 0x06000000);
	assert_int_equal(cfg_read(&f->pio, 0, PCI_STATUS, 2), 0);
	assert_int_equal(cfg_read(&f->pio, 0, PCI_INTERRUPT_PIN, 1), 0);
	/* The scratch registers are writable. */
	cfg_write(&f->pio, 0, PCI_CACHE_LINE_SIZE, 0x10, 1);
	assert_int_equal(cfg_read(&f->pio, 0, PCI_CACHE_LINE_SIZE, 1), 0x10);
}

static void test_bars_are_preassigned(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(f->testdev.pci.bars[0].addr, LAYOUT_PCI_MMIO_BASE);
	assert_int_equal(f->testdev.pci.bars[1].addr, PCI_BUS_IO_BASE);
	assert_int_equal(cfg_read(&f->pio, TESTDEV_DEVFN, PCI_BASE_ADDRESS_0, 4),
			 (uint32_t)LAYOUT_PCI_MMIO_BASE);
	assert_int_equal(cfg_read(&f->pio, TESTDEV_DEVFN, PCI_BASE_ADDRESS_0 + 4, 4),
			 PCI_BUS_IO_BASE | PCI_BAR_IO_SPACE);
	assert_int_equal(cfg_read(&f->pio, TESTDEV_DEVFN, PCI_BASE_ADDRESS_0 + 8, 4), 0);
	/* The BARs are on the buses. */
	assert_non_null(bus_find(&f->mmio, LAYOUT_PCI_MMIO_BASE + 4095));
	assert_non_null(bus_find(&f->pio, PCI_BUS_IO_BASE + 255));
	assert_null(bus_find(&f->pio, PCI_BUS_IO_BASE + 256));
}

static void test_bar_sizing_reads_the_mask_and_restores(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(bar_sizing_read(&f->pio, TESTDEV_DEVFN, 0), 0xfffff000);  /* 4 KiB memory */
	assert_int_equal(bar_sizing_read(&f->pio, TESTDEV_DEVFN, 1), 0xffffff01);  /* 256 ports */
	for (unsigned bar = 2; bar < PCI_NR_BARS; bar++)
		assert_int_equal(bar_sizing_read(&f->pio, TESTDEV_DEVFN, bar), 0);
	/* Restored: the addresses are back. */
	assert_int_equal(cfg_read(&f->pio, TESTDEV_DEVFN, PCI_BASE_ADDRESS_0, 4),
			 (uint32_t)LAYOUT_PCI_MMIO_BASE);
	assert_int_equal(cfg_read(&f->pio, TESTDEV_DEVFN, PCI_BASE_ADDRESS_0 + 4, 4),
			 PCI_BUS_IO_BASE | PCI_BAR_IO_SPACE);
	/* Sizing with two 16-bit writes works too. */
	cfg_write(&f->pio, TESTDEV_DEVFN, PCI_BASE_ADDRESS_0, 0xffff, 2);
	cfg_write(&f->pio, TESTDEV_DEVFN, PCI_BASE_ADDRESS_0 + 2, 0xffff, 2);
	assert_int_equal(cfg_read(&f->pio, TESTDEV_DEVFN, PCI_BASE_ADDRESS_0, 4), 0xfffff000);
	cfg_write(&f->pio, TESTDEV_DEVFN, PCI_BASE_ADDRESS_0, 0, 4);
	assert_int_equal(cfg_read(&f->pio, TESTDEV_DEVFN, PCI_BASE_ADDRESS_0, 4),
			 (uint32_t)LAYOUT_PCI_MMIO_BASE);
}

static void test_bars_cannot_move(void **state)
{
	struct fixture *f = *state;

	cfg_write(&f->pio, TESTDEV_DEVFN, PCI_BASE_ADDRESS_0, 0xd8000000, 4);
	cfg_write(&f->pio, TESTDEV_DEVFN, PCI_BASE_ADDRESS_0 + 4, 0xd001, 4);
	assert_int_equal(cfg_read(&f->pio, TESTDEV_DEVFN, PCI_BASE_ADDRESS_0, 4),
			 (uint32_t)LAYOUT_PCI_MMIO_BASE);
	assert_int_equal(cfg_read(&f->pio, TESTDEV_DEVFN, PCI_BASE_ADDRESS_0 + 4, 4),
			 PCI_BUS_IO_BASE | PCI_BAR_IO_SPACE);
	assert_null(bus_find(&f->mmio, 0xd8000000));
}

/* Arm pci-testdev's test 0 through its memory BAR and read the test's
 * width byte back: 1 when the BAR decodes, 0xff when it does not. */
static uint8_t testdev_width_via(struct fixture *f, bool io)
{
	uint8_t zero = 0, width = 0;
	struct bus *on = io ? &f->pio : &f->mmio;
	uint64_t base = f->testdev.pci.bars[io ? 1 : 0].addr;

	bus_write(on, base + PCI_TESTDEV_TEST, &zero, 1);
	assert_true(bus_read(on, base + PCI_TESTDEV_WIDTH, &width, 1));
	return width;
}

static void test_command_register_gates_bars(void **state)
{
	struct fixture *f = *state;

	/* Devices start with decoding on for the BARs they have. */
	assert_int_equal(cfg_read(&f->pio, TESTDEV_DEVFN, PCI_COMMAND, 2),
			 PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
	assert_int_equal(cfg_read(&f->pio, 0, PCI_COMMAND, 2), 0);
	assert_int_equal(testdev_width_via(f, false), 1);
	assert_int_equal(testdev_width_via(f, true), 1);

	cfg_write(&f->pio, TESTDEV_DEVFN, PCI_COMMAND, PCI_COMMAND_IO, 2);
	assert_int_equal(testdev_width_via(f, false), 0xff);
	assert_int_equal(testdev_width_via(f, true), 1);
	assert_int_equal(atomic_load(&f->testdev.pci.disabled_accesses), 2);

	cfg_write(&f->pio, TESTDEV_DEVFN, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	assert_int_equal(testdev_width_via(f, true), 0xff);
	assert_int_equal(testdev_width_via(f, false), 1);

	/* Only the defined bits stick. */
	cfg_write(&f->pio, TESTDEV_DEVFN, PCI_COMMAND, 0xffff, 2);
	assert_int_equal(cfg_read(&f->pio, TESTDEV_DEVFN, PCI_COMMAND, 2), PCI_COMMAND_WRITABLE);
	cfg_write(&f->pio, TESTDEV_DEVFN, PCI_COMMAND + 1, 0, 1);
	assert_int_equal(cfg_read(&f->pio, TESTDEV_DEVFN, PCI_COMMAND, 2), PCI_COMMAND_WRITABLE & 0xff);
}

static void noop_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	(void)opaque;
	(void)offset;
	memset(data, 0, size);
}

static const struct bus_device_ops noop_ops = { .read = noop_read };

static void test_add_checks_slots_and_windows(void **state)
{
	struct pci_bus bus;
	struct pci_device a, b, big, huge_io;
	struct pci_device_id id = { .vendor = 0x1234, .device = 1 };

	(void)state;
	pci_bus_init(&bus);
	pci_device_init(&a, "a", &id);
	pci_device_init(&b, "b", &id);
	assert_int_equal(pci_device_set_bar(&a, 0, PCI_BAR_MEM32, 16, &noop_ops, NULL, "a0"), 0);
	assert_int_equal(pci_device_set_bar(&a, 2, PCI_BAR_IO, 4, &noop_ops, NULL, "a2"), 0);
	assert_int_equal(pci_device_set_bar(&b, 0, PCI_BAR_MEM32, 1 << 20, &noop_ops, NULL, "b0"), 0);
	assert_int_equal(pci_device_set_bar(&b, 5, PCI_BAR_IO, 256, &noop_ops, NULL, "b5"), 0);
	assert_int_equal(pci_bus_add(&bus, &a, PCI_DEVFN(1, 0)), 0);
	assert_int_equal(pci_bus_add(&bus, &b, PCI_DEVFN(1, 0)), -EEXIST);
	assert_int_equal(pci_bus_add(&bus, &b, PCI_DEVFN(2, 1)), -EINVAL);
	assert_int_equal(pci_bus_add(&bus, &b, PCI_NR_DEVFNS), -EINVAL);
	assert_int_equal(pci_bus_add(&bus, &b, PCI_DEVFN(2, 0)), 0);
	/* Natural alignment, memory BARs on pages of their own. */
	assert_int_equal(a.bars[0].addr, LAYOUT_PCI_MMIO_BASE);
	assert_int_equal(a.bars[2].addr, PCI_BUS_IO_BASE);
	assert_int_equal(b.bars[0].addr, LAYOUT_PCI_MMIO_BASE + (1 << 20));
	assert_int_equal(b.bars[5].addr, PCI_BUS_IO_BASE + 256);

	/* A BAR that does not fit leaves the bus as it was. */
	pci_device_init(&big, "big", &id);
	assert_int_equal(pci_device_set_bar(&big, 0, PCI_BAR_IO, 4, &noop_ops, NULL, "big0"), 0);
	assert_int_equal(pci_device_set_bar(&big, 1, PCI_BAR_MEM32, 256u << 20, &noop_ops, NULL,
					    "big1"), 0);
	assert_int_equal(pci_bus_add(&bus, &big, PCI_DEVFN(3, 0)), -ENOSPC);
	assert_null(bus.devices[PCI_DEVFN(3, 0)]);
	assert_int_equal(bus.io_next, PCI_BUS_IO_BASE + 512);
	/* The I/O window holds 64 BARs of 256 ports; the 65th does not fit. */
	pci_device_init(&huge_io, "io", &id);
	for (unsigned i = 0; i < PCI_NR_BARS; i++)
		assert_int_equal(pci_device_set_bar(&huge_io, i, PCI_BAR_IO, 256, &noop_ops, NULL,
						    "io"), 0);
	for (unsigned slot = 3; slot < 13; slot++)
		assert_int_equal(pci_bus_add(&bus, &huge_io, PCI_DEVFN(slot, 0)), 0);
	assert_int_equal(pci_bus_add(&bus, &huge_io, PCI_DEVFN(13, 0)), -ENOSPC);
	pci_bus_destroy(&bus);
}

static void test_set_bar_checks_sizes(void **state)
{
	struct pci_device d;
	struct pci_device_id id = { .vendor = 0x1234 };

	(void)state;
	pci_device_init(&d, "d", &id);
	assert_int_equal(pci_device_set_bar(&d, 0, PCI_BAR_IO, 2, &noop_ops, NULL, "x"), -EINVAL);
	assert_int_equal(pci_device_set_bar(&d, 0, PCI_BAR_IO, 512, &noop_ops, NULL, "x"), -EINVAL);
	assert_int_equal(pci_device_set_bar(&d, 0, PCI_BAR_IO, 12, &noop_ops, NULL, "x"), -EINVAL);
	assert_int_equal(pci_device_set_bar(&d, 0, PCI_BAR_MEM32, 8, &noop_ops, NULL, "x"), -EINVAL);
	assert_int_equal(pci_device_set_bar(&d, 0, PCI_BAR_MEM32, 512u << 20, &noop_ops, NULL, "x"),
			 -EINVAL);
	assert_int_equal(pci_device_set_bar(&d, 6, PCI_BAR_MEM32, 4096, &noop_ops, NULL, "x"),
			 -EINVAL);
	assert_int_equal(pci_device_set_bar(&d, 0, PCI_BAR_UNUSED, 4096, &noop_ops, NULL, "x"),
			 -EINVAL);
	assert_int_equal(pci_device_set_bar(&d, 0, PCI_BAR_MEM32, 4096, NULL, NULL, "x"), -EINVAL);
	assert_int_equal(pci_device_set_bar(&d, 0, PCI_BAR_MEM32, 16, &noop_ops, NULL, "x"), 0);
}

static void test_map_refuses_overlaps(void **state)
{
	struct pci_bus bus;
	struct bus pio, mmio;

	(void)state;
	pci_bus_init(&bus);
	bus_init(&pio, "pio");
	bus_init(&mmio, "mmio");
	assert_int_equal(bus_insert(&pio, PCI_CONF1_DATA_PORT + 2, 1, &noop_ops, NULL, "squatter"),
			 0);
	assert_int_equal(pci_bus_map(&bus, &pio, &mmio), -EEXIST);
	bus_destroy(&pio);
	bus_destroy(&mmio);
	pci_bus_destroy(&bus);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_address_latches_only_on_dword_writes),
		T(test_enable_bit_gates_the_data_window),
		T(test_register_offset_quirk),
		T(test_absent_functions_read_all_ones),
		T(test_ecam_reads_equal_mechanism_1),
		T(test_ecam_writes_are_seen_by_mechanism_1),
		T(test_host_bridge_identity),
		T(test_read_only_registers_ignore_writes),
		T(test_bars_are_preassigned),
		T(test_bar_sizing_reads_the_mask_and_restores),
		T(test_bars_cannot_move),
		T(test_command_register_gates_bars),
#undef T
		cmocka_unit_test(test_add_checks_slots_and_windows),
		cmocka_unit_test(test_set_bar_checks_sizes),
		cmocka_unit_test(test_map_refuses_overlaps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
