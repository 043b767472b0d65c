/* pci-testdev through real buses: its header, its BARs, the test header it
 * shows through them, test selection and counting, and what it asks of
 * the ioeventfd binder (recorded here; tests/guest runs it on KVM). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "pci/pci_testdev.h"
#include "pci_test.h"

#define DEVFN PCI_DEVFN(1, 0)

struct binding {
	bool mmio;
	uint64_t addr;
	unsigned len;
	bool has_datamatch;
	uint64_t datamatch;
	int fd;
	bool assign;
};

struct fixture {
	struct bus pio, mmio;
	struct pci_bus pci;
	struct pci_testdev dev;
	struct binding calls[16];
	unsigned nr_calls;
	int bind_result;
	uint64_t mmio_base, io_base;
};

static int record_bind(void *ctx, bool mmio, uint64_t addr, unsigned len,
		       const uint64_t *datamatch, int fd, bool assign)
{
	struct fixture *f = ctx;

	assert_true(f->nr_calls < 16);
	f->calls[f->nr_calls++] = (struct binding){
		.mmio = mmio, .addr = addr, .len = len, .has_datamatch = datamatch != NULL,
		.datamatch = datamatch ? *datamatch : 0, .fd = fd, .assign = assign,
	};
	return f->bind_result;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	bus_init(&f->pio, "pio");
	bus_init(&f->mmio, "mmio");
	pci_bus_init(&f->pci);
	assert_int_equal(pci_testdev_init(&f->dev, (struct ioeventfd_binder){ record_bind, f }), 0);
	assert_int_equal(pci_bus_add(&f->pci, &f->dev.pci, DEVFN), 0);
	assert_int_equal(pci_bus_map(&f->pci, &f->pio, &f->mmio), 0);
	f->mmio_base = f->dev.pci.bars[0].addr;
	f->io_base = f->dev.pci.bars[1].addr;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	pci_testdev_destroy(&f->dev);
	pci_bus_destroy(&f->pci);
	bus_destroy(&f->pio);
	bus_destroy(&f->mmio);
	free(f);
	return 0;
}

/* The register file through BAR0 (memory) or BAR1 (I/O). */
static struct bus *bar_bus(struct fixture *f, bool io)
{
	return io ? &f->pio : &f->mmio;
}

static uint64_t bar_base(struct fixture *f, bool io)
{
	return io ? f->io_base : f->mmio_base;
}

static uint32_t reg_read(struct fixture *f, bool io, uint64_t offset, unsigned size)
{
	uint32_t v = 0;

	assert_true(bus_read(bar_bus(f, io), bar_base(f, io) + offset, &v, size));
	return v;
}

static void reg_write(struct fixture *f, bool io, uint64_t offset, uint32_t value, unsigned size)
{
	assert_true(bus_write(bar_bus(f, io), bar_base(f, io) + offset, &value, size));
}

static void read_name(struct fixture *f, bool io, char *buf, size_t size)
{
	size_t i;

	for (i = 0; i + 1 < size; i++) {
		buf[i] = (char)reg_read(f, io, PCI_TESTDEV_NAME + i, 1);
		if (!buf[i])
			break;
	}
	buf[i] = '\0';
}

static void test_config_header(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(cfg_read(&f->pio, DEVFN, PCI_VENDOR_ID, 4), 0x00051b36);
	assert_int_equal(cfg_read(&f->pio, DEVFN, PCI_REVISION_ID, 4), 0x00ff0000);
	assert_int_equal(cfg_read(&f->pio, DEVFN, PCI_HEADER_TYPE, 1), 0);
	assert_int_equal(cfg_read(&f->pio, DEVFN, PCI_SUBSYSTEM_VENDOR_ID, 4), 0x11001af4);
	assert_int_equal(cfg_read(&f->pio, DEVFN, PCI_INTERRUPT_PIN, 1), 0);
	assert_int_equal(bar_sizing_read(&f->pio, DEVFN, 0), 0xfffff000);
	assert_int_equal(bar_sizing_read(&f->pio, DEVFN, 1), 0xffffff01);
	assert_int_equal(bar_sizing_read(&f->pio, DEVFN, 2), 0);
	assert_int_equal(cfg_read(&f->pio, DEVFN, PCI_BASE_ADDRESS_0, 4), (uint32_t)f->mmio_base);
	assert_int_equal(cfg_read(&f->pio, DEVFN, PCI_BASE_ADDRESS_0 + 4, 4), f->io_base | 1);
}

static void test_reads_zero_with_no_test(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(pci_testdev_current(&f->dev), -1);
	assert_int_equal(reg_read(f, false, 0, 4), 0);
	assert_int_equal(reg_read(f, true, PCI_TESTDEV_COUNT, 4), 0);
	assert_int_equal(reg_read(f, false, PCI_TESTDEV_NAME, 1), 0);
	/* Writes anywhere but offset 0 do nothing without a test. */
	reg_write(f, false, 2048, 0xfa, 1);
	assert_int_equal(pci_testdev_current(&f->dev), -1);
}

/* The six tests: name, offset, data, and whether an eventfd backs them. */
static const struct {
	bool io;
	unsigned n;
	const char *name;
	uint32_t offset;
	uint8_t data;
} tests[] = {
	{ false, 0, "mmio-no-eventfd", 2048, 0xfa },
	{ false, 1, "mmio-wildcard-eventfd", 2049, 0xce },
	{ false, 2, "mmio-datamatch-eventfd", 2050, 0xfa },
	{ true, 0, "portio-no-eventfd", 131, 0xfa },
	{ true, 1, "portio-wildcard-eventfd", 132, 0xce },
	{ true, 2, "portio-datamatch-eventfd", 133, 0xfa },
};

static void test_headers_of_every_test(void **state)
{
	struct fixture *f = *state;
	char name[64];

	for (unsigned i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		reg_write(f, tests[i].io, PCI_TESTDEV_TEST, tests[i].n, 1);
		assert_int_equal(pci_testdev_current(&f->dev), (int)i);
		/* Either BAR shows the armed test's header. */
		for (int io = 0; io < 2; io++) {
			assert_int_equal(reg_read(f, io, PCI_TESTDEV_TEST, 1), i);
			assert_int_equal(reg_read(f, io, PCI_TESTDEV_WIDTH, 1), 1);
			assert_int_equal(reg_read(f, io, PCI_TESTDEV_OFFSET, 4), tests[i].offset);
			assert_int_equal(reg_read(f, io, PCI_TESTDEV_DATA, 4), tests[i].data);
			assert_int_equal(reg_read(f, io, PCI_TESTDEV_COUNT, 4), 0);
			read_name(f, io, name, sizeof(name));
			assert_string_equal(name, tests[i].name);
		}
		/* Past the name: zeros, to the end of the BAR. */
		assert_int_equal(reg_read(f, false, PCI_TESTDEV_NAME + strlen(tests[i].name), 4), 0);
		assert_int_equal(reg_read(f, false, 4092, 4), 0);
	}
}

static void test_selecting_three_or_more_disarms(void **state)
{
	struct fixture *f = *state;

	reg_write(f, false, PCI_TESTDEV_TEST, 0, 1);
	assert_int_equal(pci_testdev_current(&f->dev), 0);
	reg_write(f, false, PCI_TESTDEV_TEST, 3, 1);
	assert_int_equal(pci_testdev_current(&f->dev), -1);
	reg_write(f, true, PCI_TESTDEV_TEST, 0xff, 1);
	assert_int_equal(pci_testdev_current(&f->dev), -1);
	/* A wider write is handled a byte at a time: the low byte selects. */
	reg_write(f, true, PCI_TESTDEV_TEST, 0xffffff02, 4);
	assert_int_equal(pci_testdev_current(&f->dev), 5);
}

static void test_no_eventfd_test_counts_matching_writes(void **state)
{
	struct fixture *f = *state;

	for (int io = 0; io < 2; io++) {
		uint32_t offset = io ? 131 : 2048;

		reg_write(f, io, PCI_TESTDEV_TEST, 0, 1);
		for (int i = 0; i < 16; i++)
			reg_write(f, io, offset, 0xfa, 1);
		reg_write(f, io, offset, 0x12, 1);        /* wrong value */
		reg_write(f, io, offset + 1, 0xfa, 1);    /* wrong offset */
		reg_write(f, io, offset - 1, 0xfa00, 2);  /* its byte at `offset` matches */
		assert_int_equal(reg_read(f, io, PCI_TESTDEV_COUNT, 4), 17);
		/* Re-selecting resets the count. */
		reg_write(f, io, PCI_TESTDEV_TEST, 0, 1);
		assert_int_equal(reg_read(f, io, PCI_TESTDEV_COUNT, 4), 0);
	}
	assert_int_equal(f->nr_calls, 0);  /* no eventfd for these */
}

static void test_eventfd_tests_bind_and_unbind(void **state)
{
	struct fixture *f = *state;

	/* mmio-wildcard: any value at BAR0 + 2049. */
	reg_write(f, false, PCI_TESTDEV_TEST, 1, 1);
	assert_int_equal(f->nr_calls, 1);
	assert_true(f->calls[0].assign && f->calls[0].mmio);
	assert_int_equal(f->calls[0].addr, f->mmio_base + 2049);
	assert_int_equal(f->calls[0].len, 1);
	assert_false(f->calls[0].has_datamatch);
	assert_int_equal(f->calls[0].fd, f->dev.eventfd);

	/* portio-datamatch: the old binding goes first, then 0xfa at BAR1 + 133. */
	reg_write(f, true, PCI_TESTDEV_TEST, 2, 1);
	assert_int_equal(f->nr_calls, 3);
	assert_false(f->calls[1].assign);
	assert_int_equal(f->calls[1].addr, f->mmio_base + 2049);
	assert_true(f->calls[2].assign);
	assert_false(f->calls[2].mmio);
	assert_int_equal(f->calls[2].addr, f->io_base + 133);
	assert_true(f->calls[2].has_datamatch);
	assert_int_equal(f->calls[2].datamatch, 0xfa);

	/* Disarming unbinds; so does destroying the device with a test armed. */
	reg_write(f, true, PCI_TESTDEV_TEST, 7, 1);
	assert_int_equal(f->nr_calls, 4);
	assert_false(f->calls[3].assign);
	assert_int_equal(f->calls[3].addr, f->io_base + 133);
	reg_write(f, false, PCI_TESTDEV_TEST, 2, 1);
	pci_testdev_destroy(&f->dev);
	assert_int_equal(f->nr_calls, 6);
	assert_false(f->calls[5].assign);
	assert_int_equal(f->calls[5].addr, f->mmio_base + 2050);
	assert_int_equal(pci_testdev_init(&f->dev, (struct ioeventfd_binder){ record_bind, f }), 0);
}

static void test_reads_drain_the_eventfd(void **state)
{
	struct fixture *f = *state;
	uint64_t three = 3;

	reg_write(f, true, PCI_TESTDEV_TEST, 1, 1);
	/* What KVM does when the guest writes the watched port three times. */
	assert_int_equal(write(f->dev.eventfd, &three, sizeof(three)), sizeof(three));
	assert_int_equal(reg_read(f, true, PCI_TESTDEV_COUNT, 4), 0);
	assert_int_equal(f->dev.eventfd_signals, 3);
	assert_int_equal(reg_read(f, true, PCI_TESTDEV_COUNT, 4), 0);
	assert_int_equal(f->dev.eventfd_signals, 3);
}

static void test_refused_binding_falls_back_to_counting(void **state)
{
	struct fixture *f = *state;

	f->bind_result = -ENOSPC;
	reg_write(f, false, PCI_TESTDEV_TEST, 2, 1);
	assert_int_equal(f->dev.bind_errors, 1);
	reg_write(f, false, 2050, 0xfa, 1);
	assert_int_equal(reg_read(f, false, PCI_TESTDEV_COUNT, 4), 1);
	/* Nothing bound, so nothing to unbind. */
	reg_write(f, false, PCI_TESTDEV_TEST, 0, 1);
	assert_int_equal(f->nr_calls, 1);
}

/* kvm-unit-tests' pci_testdev_one(): select, check count 0 and width,
 * write `data` 16 times at `offset`, and pass when count is 0 (an eventfd
 * took the writes) or 16. Here no eventfd absorbs them, so 16. */
static bool kut_testdev_one(struct fixture *f, bool io, unsigned n)
{
	uint32_t width, sig, off, count;

	reg_write(f, io, PCI_TESTDEV_TEST, n, 1);
	if (reg_read(f, io, PCI_TESTDEV_COUNT, 4) != 0)
		return false;
	width = reg_read(f, io, PCI_TESTDEV_WIDTH, 1);
	if (width != 1 && width != 2 && width != 4)
		return false;
	sig = reg_read(f, io, PCI_TESTDEV_DATA, 4);
	off = reg_read(f, io, PCI_TESTDEV_OFFSET, 4);
	for (int i = 0; i < 16; i++)
		reg_write(f, io, off, sig, width);
	count = reg_read(f, io, PCI_TESTDEV_COUNT, 4);
	return count == 0 || count == 16;
}

static void test_kvm_unit_tests_sequence_finds_six_tests(void **state)
{
	struct fixture *f = *state;
	unsigned passed = 0;

	for (int io = 0; io < 2; io++)
		for (unsigned n = 0; kut_testdev_one(f, io, n); n++)
			passed++;
	assert_int_equal(passed, 6);
}

int main(void)
{
	const struct CMUnitTest all[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_config_header),
		T(test_reads_zero_with_no_test),
		T(test_headers_of_every_test),
		T(test_selecting_three_or_more_disarms),
		T(test_no_eventfd_test_counts_matching_writes),
		T(test_eventfd_tests_bind_and_unbind),
		T(test_reads_drain_the_eventfd),
		T(test_refused_binding_falls_back_to_counting),
		T(test_kvm_unit_tests_sequence_finds_six_tests),
#undef T
	};

	return cmocka_run_group_tests(all, NULL, NULL);
}
