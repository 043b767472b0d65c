/* pc-testdev through real buses: the byte-lane latch, the ISA IRQ ports
 * (through a recording irq_line), the flush-page port on real guest RAM,
 * and the trapping MMIO window. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bus.h"
#include "devices/pc_testdev.h"

#define MAX_EVENTS 64

struct fixture {
	struct pc_testdev dev;
	struct guest_memory mem;
	struct bus pio, mmio;
	struct { unsigned gsi; bool level; } events[MAX_EVENTS];
	unsigned nr_events;
};

static void record_level(void *ctx, unsigned gsi, bool level)
{
	struct fixture *f = ctx;

	assert_true(f->nr_events < MAX_EVENTS);
	f->events[f->nr_events].gsi = gsi;
	f->events[f->nr_events].level = level;
	f->nr_events++;
}

static int setup_with(void **state, bool memfd)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct irq_line irqs[PC_TESTDEV_NR_IRQS];

	assert_non_null(f);
	if (memfd)
		assert_int_equal(guest_memory_create(&f->mem, 16 << 20), 0);
	else
		assert_int_equal(guest_memory_create_anonymous(&f->mem, 16 << 20), 0);
	for (unsigned n = 0; n < PC_TESTDEV_NR_IRQS; n++)
		irqs[n] = (struct irq_line){ .set_level = record_level, .ctx = f, .gsi = n };
	assert_int_equal(pc_testdev_init(&f->dev, irqs, &f->mem), 0);
	bus_init(&f->pio, "pio");
	bus_init(&f->mmio, "mmio");
	assert_int_equal(bus_insert(&f->pio, PC_TESTDEV_LATCH_PORT, PC_TESTDEV_PORTS,
				    &pc_testdev_latch_ops, &f->dev, "latch"), 0);
	assert_int_equal(bus_insert(&f->pio, PC_TESTDEV_FLUSH_PORT, PC_TESTDEV_PORTS,
				    &pc_testdev_flush_ops, &f->dev, "flush"), 0);
	assert_int_equal(bus_insert(&f->pio, PC_TESTDEV_LATCH_BYTE_PORT, PC_TESTDEV_PORTS,
				    &pc_testdev_latch_ops, &f->dev, "latch-byte"), 0);
	assert_int_equal(bus_insert(&f->pio, PC_TESTDEV_IRQ_PORT, PC_TESTDEV_NR_IRQS,
				    &pc_testdev_irq_ops, &f->dev, "irq"), 0);
	assert_int_equal(bus_insert(&f->mmio, PC_TESTDEV_IOMEM_BASE, PC_TESTDEV_IOMEM_SIZE,
				    &pc_testdev_iomem_ops, &f->dev, "iomem"), 0);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, true);
}

static int setup_anonymous(void **state)
{
	return setup_with(state, false);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	bus_destroy(&f->pio);
	bus_destroy(&f->mmio);
	pc_testdev_destroy(&f->dev);
	guest_memory_destroy(&f->mem);
	free(f);
	return 0;
}

static uint32_t pio_read(struct fixture *f, uint16_t port, unsigned size)
{
	uint32_t v = 0;

	assert_true(bus_read(&f->pio, port, &v, size));
	return v;
}

static void pio_write(struct fixture *f, uint16_t port, uint32_t value, unsigned size)
{
	assert_true(bus_write(&f->pio, port, &value, size));
}

static void test_latch_by_byte_lane(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(pio_read(f, 0xe0, 4), 0);
	pio_write(f, 0xe0, 0x11223344, 4);
	assert_int_equal(pio_read(f, 0xe0, 4), 0x11223344);
	assert_int_equal(pio_read(f, 0xe2, 1), 0x22);
	assert_int_equal(pio_read(f, 0xe2, 2), 0x1122);
	assert_int_equal(pio_read(f, 0xe1, 2), 0x2233);
	pio_write(f, 0xe1, 0xaa, 1);
	assert_int_equal(pio_read(f, 0xe0, 4), 0x1122aa44);
	pio_write(f, 0xe2, 0xbbcc, 2);
	assert_int_equal(pio_read(f, 0xe0, 4), 0xbbccaa44);
	pio_write(f, 0xe3, 0xdd, 1);
	assert_int_equal(pio_read(f, 0xe3, 1), 0xdd);
	/* 0xe8-0xeb is a second view of the same latch. */
	assert_int_equal(pio_read(f, 0xe8, 4), 0xddccaa44);
	pio_write(f, 0xe8, 0x01, 1);
	assert_int_equal(pio_read(f, 0xe0, 4), 0xddccaa01);
}

static void test_irq_ports_drive_isa_lines(void **state)
{
	struct fixture *f = *state;

	pio_write(f, PC_TESTDEV_IRQ_PORT + 10, 1, 1);
	pio_write(f, PC_TESTDEV_IRQ_PORT + 10, 0, 1);
	pio_write(f, PC_TESTDEV_IRQ_PORT + 0, 0x80, 1);   /* !!value */
	pio_write(f, PC_TESTDEV_IRQ_PORT + 23, 0xff, 1);
	assert_int_equal(f->nr_events, 4);
	assert_int_equal(f->events[0].gsi, 10);
	assert_true(f->events[0].level);
	assert_int_equal(f->events[1].gsi, 10);
	assert_false(f->events[1].level);
	assert_int_equal(f->events[2].gsi, 0);
	assert_true(f->events[2].level);
	assert_int_equal(f->events[3].gsi, 23);
	assert_true(f->events[3].level);
	/* Only byte writes act; reads return 0; port 0x2018 is not ours. */
	pio_write(f, PC_TESTDEV_IRQ_PORT + 4, 0x0101, 2);
	assert_int_equal(f->nr_events, 4);
	assert_int_equal(atomic_load(&f->dev.ignored), 1);
	assert_int_equal(pio_read(f, PC_TESTDEV_IRQ_PORT + 10, 1), 0);
	assert_null(bus_find(&f->pio, PC_TESTDEV_IRQ_PORT + PC_TESTDEV_NR_IRQS));
}

static void flush_keeps_contents(struct fixture *f)
{
	uint64_t gpa = 0x123000;
	uint8_t *page = guest_memory_ptr(&f->mem, gpa, 4096);

	assert_non_null(page);
	memset(page, 0x5a, 4096);
	pio_write(f, PC_TESTDEV_FLUSH_PORT, (uint32_t)gpa + 0x234, 4);  /* any address in the page */
	assert_int_equal(atomic_load(&f->dev.flushes), 1);
	for (unsigned i = 0; i < 4096; i++)
		assert_int_equal(page[i], 0x5a);
	page[7] = 1;  /* and the page is writable afterwards */
	/* Not RAM, or not a 4-byte write: ignored. */
	pio_write(f, PC_TESTDEV_FLUSH_PORT, 0xfec00000, 4);
	pio_write(f, PC_TESTDEV_FLUSH_PORT, (uint32_t)gpa, 2);
	pio_write(f, PC_TESTDEV_FLUSH_PORT + 1, 0, 1);
	assert_int_equal(atomic_load(&f->dev.flushes), 1);
	assert_int_equal(atomic_load(&f->dev.ignored), 3);
	assert_int_equal(pio_read(f, PC_TESTDEV_FLUSH_PORT, 4), 0);
}

static void test_flush_page_memfd(void **state)
{
	flush_keeps_contents(*state);
}

static void test_flush_page_anonymous(void **state)
{
	flush_keeps_contents(*state);
}

static void test_iomem_is_trapping_scratch_memory(void **state)
{
	struct fixture *f = *state;
	uint64_t v = 0x0102030405060708ULL, r = ~0ULL;
	uint32_t r32 = 0;

	assert_true(bus_read(&f->mmio, PC_TESTDEV_IOMEM_BASE + 0x100, &r, 8));
	assert_int_equal(r, 0);
	assert_true(bus_write(&f->mmio, PC_TESTDEV_IOMEM_BASE + 0x100, &v, 8));
	assert_true(bus_read(&f->mmio, PC_TESTDEV_IOMEM_BASE + 0x102, &r32, 4));
	assert_int_equal(r32, 0x03040506);
	r32 = 0xdeadbeef;
	assert_true(bus_write(&f->mmio, PC_TESTDEV_IOMEM_BASE + PC_TESTDEV_IOMEM_SIZE - 4, &r32, 4));
	r32 = 0;
	assert_true(bus_read(&f->mmio, PC_TESTDEV_IOMEM_BASE + PC_TESTDEV_IOMEM_SIZE - 4, &r32, 4));
	assert_int_equal(r32, 0xdeadbeef);
	/* Past the end is not the device's. */
	assert_false(bus_read(&f->mmio, PC_TESTDEV_IOMEM_BASE + PC_TESTDEV_IOMEM_SIZE - 2, &r32, 4));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_latch_by_byte_lane, setup, teardown),
		cmocka_unit_test_setup_teardown(test_irq_ports_drive_isa_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_page_memfd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_page_anonymous, setup_anonymous, teardown),
		cmocka_unit_test_setup_teardown(test_iomem_is_trapping_scratch_memory, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
