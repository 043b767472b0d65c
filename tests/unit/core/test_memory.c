/* Guest memory layout, the checked gpa -> host translation, and e820. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "e820.h"
#include "layout.h"
#include "memory.h"

static void test_layout_small_is_one_region(void **state)
{
	struct guest_memory mem;

	(void)state;
	guest_memory_layout(&mem, 128 << 20);
	assert_int_equal(mem.nr_regions, 1);
	assert_int_equal(mem.regions[0].gpa, 0);
	assert_int_equal(mem.regions[0].size, 128 << 20);
	assert_int_equal(guest_memory_low_end(&mem), 128 << 20);
}

static void test_layout_large_splits_around_hole(void **state)
{
	struct guest_memory mem;
	uint64_t size = 6ULL << 30;

	(void)state;
	guest_memory_layout(&mem, size);
	assert_int_equal(mem.nr_regions, 2);
	assert_int_equal(mem.regions[0].size, LAYOUT_MMIO_HOLE_START);
	assert_int_equal(mem.regions[1].gpa, 4ULL << 30);
	assert_int_equal(mem.regions[1].size, size - LAYOUT_MMIO_HOLE_START);
	assert_int_equal(mem.regions[1].host_offset, LAYOUT_MMIO_HOLE_START);
}

static void test_ptr_bounds(void **state)
{
	struct guest_memory mem;
	uint64_t size = 16 << 20;

	(void)state;
	assert_int_equal(guest_memory_create_anonymous(&mem, size), 0);
	assert_ptr_equal(guest_memory_ptr(&mem, 0, 1), mem.host);
	assert_ptr_equal(guest_memory_ptr(&mem, size - 4, 4), mem.host + size - 4);
	assert_null(guest_memory_ptr(&mem, size - 4, 5));
	assert_null(guest_memory_ptr(&mem, size, 1));
	assert_null(guest_memory_ptr(&mem, 0, size + 1));
	/* Lengths and addresses that would wrap must not pass. */
	assert_null(guest_memory_ptr(&mem, 8, UINT64_MAX));
	assert_null(guest_memory_ptr(&mem, UINT64_MAX, 2));
	assert_null(guest_memory_ptr(&mem, UINT64_MAX - 3, 8));
	assert_int_equal(guest_memory_write(&mem, size - 2, "abcd", 4), -EFAULT);
	assert_int_equal(guest_memory_write(&mem, 0x1000, "abcd", 4), 0);
	char out[4];
	assert_int_equal(guest_memory_read(&mem, 0x1000, out, 4), 0);
	assert_memory_equal(out, "abcd", 4);
	guest_memory_destroy(&mem);
}

static void test_ptr_never_spans_the_hole(void **state)
{
	struct guest_memory mem;

	(void)state;
	guest_memory_layout(&mem, 5ULL << 30);
	mem.host = (uint8_t *)0x10000;  /* layout only: pointers are not dereferenced */
	assert_non_null(guest_memory_ptr(&mem, LAYOUT_MMIO_HOLE_START - 1, 1));
	assert_null(guest_memory_ptr(&mem, LAYOUT_MMIO_HOLE_START - 1, 2));
	assert_null(guest_memory_ptr(&mem, LAYOUT_IOAPIC_BASE, 1));
	assert_non_null(guest_memory_ptr(&mem, 4ULL << 30, 4096));
	assert_ptr_equal(guest_memory_ptr(&mem, 4ULL << 30, 1), mem.host + LAYOUT_MMIO_HOLE_START);
}

static void test_e820_small(void **state)
{
	struct guest_memory mem;
	struct e820_entry e[E820_MAX_ENTRIES];
	unsigned n;

	(void)state;
	guest_memory_layout(&mem, 64 << 20);
	n = e820_build(&mem, e);
	assert_int_equal(n, 3);
	assert_int_equal(e[0].addr, 0);
	assert_int_equal(e[0].size, LAYOUT_EBDA_START);
	assert_int_equal(e[0].type, E820_RAM);
	assert_int_equal(e[1].addr, LAYOUT_EBDA_START);
	assert_int_equal(e[1].addr + e[1].size, LAYOUT_HIGH_MEMORY_START);
	assert_int_equal(e[1].type, E820_RESERVED);
	assert_int_equal(e[2].addr, LAYOUT_HIGH_MEMORY_START);
	assert_int_equal(e[2].addr + e[2].size, 64 << 20);
	assert_int_equal(e[2].type, E820_RAM);
}

static void test_e820_large_has_ram_above_4g_and_no_ram_in_hole(void **state)
{
	struct guest_memory mem;
	struct e820_entry e[E820_MAX_ENTRIES];
	uint64_t ram = 0;
	unsigned n;

	(void)state;
	guest_memory_layout(&mem, 8ULL << 30);
	n = e820_build(&mem, e);
	assert_int_equal(n, 4);
	for (unsigned i = 0; i < n; i++) {
		if (e[i].type != E820_RAM)
			continue;
		ram += e[i].size;
		/* No RAM entry touches the device hole. */
		assert_true(e[i].addr + e[i].size <= LAYOUT_MMIO_HOLE_START ||
			    e[i].addr >= LAYOUT_MMIO_HOLE_END);
		if (i > 0)
			assert_true(e[i].addr >= e[i - 1].addr + e[i - 1].size);
	}
	assert_int_equal(e[3].addr, 4ULL << 30);
	/* All RAM but the legacy area below 1 MiB is described. */
	assert_int_equal(ram, (8ULL << 30) - (LAYOUT_HIGH_MEMORY_START - LAYOUT_EBDA_START));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout_small_is_one_region),
		cmocka_unit_test(test_layout_large_splits_around_hole),
		cmocka_unit_test(test_ptr_bounds),
		cmocka_unit_test(test_ptr_never_spans_the_hole),
		cmocka_unit_test(test_e820_small),
		cmocka_unit_test(test_e820_large_has_ram_above_4g_and_no_ram_in_hole),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
