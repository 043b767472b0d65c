/* The bus: overlap rules, lookup, offsets handed to devices, unmapped
 * accesses and straddling accesses. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "bus.h"

struct recorder {
	uint64_t last_offset;
	unsigned last_size;
	uint32_t last_value;
	unsigned reads, writes;
};

static void rec_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct recorder *r = opaque;

	r->reads++;
	r->last_offset = offset;
	r->last_size = size;
	memset(data, 0xab, size);
}

static void rec_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct recorder *r = opaque;

	r->writes++;
	r->last_offset = offset;
	r->last_size = size;
	r->last_value = 0;
	memcpy(&r->last_value, data, size < 4 ? size : 4);
}

static const struct bus_device_ops rec_ops = { .read = rec_read, .write = rec_write };

static void test_insert_rejects_overlaps_and_empty(void **state)
{
	struct bus bus;
	struct recorder a = { 0 };

	(void)state;
	bus_init(&bus, "test");
	assert_int_equal(bus_insert(&bus, 0x100, 0x10, &rec_ops, &a, "a"), 0);
	assert_int_equal(bus_insert(&bus, 0x10f, 1, &rec_ops, &a, "tail"), -EEXIST);
	assert_int_equal(bus_insert(&bus, 0xf0, 0x11, &rec_ops, &a, "head"), -EEXIST);
	assert_int_equal(bus_insert(&bus, 0x0, 0x1000, &rec_ops, &a, "cover"), -EEXIST);
	assert_int_equal(bus_insert(&bus, 0x104, 2, &rec_ops, &a, "inside"), -EEXIST);
	assert_int_equal(bus_insert(&bus, 0x200, 0, &rec_ops, &a, "empty"), -EINVAL);
	assert_int_equal(bus_insert(&bus, UINT64_MAX, 2, &rec_ops, &a, "wraps"), -EINVAL);
	/* Adjacent on both sides is fine. */
	assert_int_equal(bus_insert(&bus, 0xf0, 0x10, &rec_ops, &a, "before"), 0);
	assert_int_equal(bus_insert(&bus, 0x110, 0x10, &rec_ops, &a, "after"), 0);
	assert_int_equal(bus_insert(&bus, UINT64_MAX, 1, &rec_ops, &a, "last byte"), 0);
	assert_int_equal(bus.nr_ranges, 4);
	bus_destroy(&bus);
}

static void test_find_and_offsets(void **state)
{
	struct bus bus;
	struct recorder a = { 0 }, b = { 0 };
	uint32_t v = 0x12345678;
	uint8_t buf[4];

	(void)state;
	bus_init(&bus, "test");
	/* Insert out of order: the bus keeps them sorted. */
	assert_int_equal(bus_insert(&bus, 0x3f8, 8, &rec_ops, &b, "uart"), 0);
	assert_int_equal(bus_insert(&bus, 0x70, 2, &rec_ops, &a, "rtc"), 0);
	assert_null(bus_find(&bus, 0x6f));
	assert_ptr_equal(bus_find(&bus, 0x70)->opaque, &a);
	assert_ptr_equal(bus_find(&bus, 0x71)->opaque, &a);
	assert_null(bus_find(&bus, 0x72));
	assert_ptr_equal(bus_find(&bus, 0x3ff)->opaque, &b);
	assert_null(bus_find(&bus, 0x400));

	assert_true(bus_write(&bus, 0x3fb, &v, 1));
	assert_int_equal(b.last_offset, 3);
	assert_int_equal(b.last_size, 1);
	assert_int_equal(b.last_value, 0x78);
	assert_true(bus_read(&bus, 0x71, buf, 1));
	assert_int_equal(a.last_offset, 1);
	assert_int_equal(buf[0], 0xab);
	bus_destroy(&bus);
}

static void test_unmapped_and_straddling(void **state)
{
	struct bus bus;
	struct recorder a = { 0 };
	uint32_t v = 0;

	(void)state;
	bus_init(&bus, "test");
	assert_int_equal(bus_insert(&bus, 0x70, 2, &rec_ops, &a, "rtc"), 0);
	assert_false(bus_read(&bus, 0x80, &v, 4));
	assert_int_equal(v, 0xffffffff);
	assert_false(bus_write(&bus, 0x80, &v, 1));
	/* A 4-byte access at 0x70 runs past the 2-port range: unmapped. */
	assert_false(bus_read(&bus, 0x70, &v, 4));
	assert_int_equal(a.reads, 0);
	assert_int_equal(atomic_load(&bus.unmapped_reads), 2);
	assert_int_equal(atomic_load(&bus.unmapped_writes), 1);
	bus_destroy(&bus);
}

static void test_many_ranges(void **state)
{
	struct bus bus;
	struct recorder a = { 0 };

	(void)state;
	bus_init(&bus, "test");
	for (uint64_t i = 0; i < 100; i++)
		assert_int_equal(bus_insert(&bus, (99 - i) * 0x10, 8, &rec_ops, &a, "r"), 0);
	for (uint64_t i = 0; i < 100; i++) {
		assert_non_null(bus_find(&bus, i * 0x10 + 7));
		assert_null(bus_find(&bus, i * 0x10 + 8));
	}
	bus_destroy(&bus);
}

static void test_dense_port_bus(void **state)
{
	struct bus bus;
	struct recorder a = { 0 }, b = { 0 }, c = { 0 };
	uint32_t v = 0x11223344, r = 0;

	(void)state;
	assert_int_equal(bus_init_dense(&bus, "pio", 0x10000), 0);
	/* Inserting in the middle renumbers the ranges after it: the port
	 * index must follow. */
	assert_int_equal(bus_insert(&bus, 0x3f8, 8, &rec_ops, &b, "uart"), 0);
	assert_int_equal(bus_insert(&bus, 0x600, 4, &rec_ops, &c, "exit"), 0);
	assert_int_equal(bus_insert(&bus, 0x70, 2, &rec_ops, &a, "rtc"), 0);
	assert_ptr_equal(bus_find(&bus, 0x71)->opaque, &a);
	assert_ptr_equal(bus_find(&bus, 0x3fa)->opaque, &b);
	assert_ptr_equal(bus_find(&bus, 0x603)->opaque, &c);
	assert_null(bus_find(&bus, 0x72));
	assert_null(bus_find(&bus, 0x10000));  /* beyond the index: unmapped, no overread */

	assert_true(bus_port_write(&bus, 0x3fb, &v, 1));
	assert_int_equal(b.last_offset, 3);
	assert_int_equal(b.last_value, 0x44);
	assert_true(bus_port_read(&bus, 0x602, &r, 2));
	assert_int_equal(c.last_offset, 2);
	assert_int_equal(r & 0xffff, 0xabab);
	/* Straddling the end of a range, or unmapped: not dispatched. */
	assert_false(bus_port_write(&bus, 0x3ff, &v, 2));
	assert_false(bus_port_read(&bus, 0x2f0, &r, 4));
	assert_int_equal(r, 0xffffffff);
	assert_int_equal(atomic_load(&bus.unmapped_writes), 1);
	assert_int_equal(atomic_load(&bus.unmapped_reads), 1);
	/* Ranges must fit the index. */
	assert_int_equal(bus_insert(&bus, 0xfffe, 4, &rec_ops, &a, "too far"), -EINVAL);
	bus_destroy(&bus);
}

static void test_dense_bus_range_limit(void **state)
{
	struct bus bus;
	struct recorder a = { 0 };

	(void)state;
	assert_int_equal(bus_init_dense(&bus, "pio", 0x10000), 0);
	for (unsigned i = 0; i < BUS_DENSE_MAX_RANGES; i++)
		assert_int_equal(bus_insert(&bus, i * 2, 1, &rec_ops, &a, "r"), 0);
	assert_int_equal(bus_insert(&bus, 0x8000, 1, &rec_ops, &a, "one too many"), -ENOSPC);
	assert_ptr_equal(bus_find(&bus, (BUS_DENSE_MAX_RANGES - 1) * 2), &bus.ranges[BUS_DENSE_MAX_RANGES - 1]);
	bus_destroy(&bus);
	assert_int_equal(bus_init_dense(&bus, "huge", 1ULL << 32), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_insert_rejects_overlaps_and_empty),
		cmocka_unit_test(test_find_and_offsets),
		cmocka_unit_test(test_unmapped_and_straddling),
		cmocka_unit_test(test_many_ranges),
		cmocka_unit_test(test_dense_port_bus),
		cmocka_unit_test(test_dense_bus_range_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
