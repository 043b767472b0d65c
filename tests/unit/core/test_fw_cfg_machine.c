/* The machine items kvmrun's fw_cfg offers, read through the data port:
 * CPU counts, RAM size, the kernel, initrd and command line, and
 * etc/e820, which must be exactly the map the boot protocols get. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bus.h"
#include "e820.h"
#include "fw_cfg_machine.h"

struct fixture {
	struct guest_memory mem;  /* layout only: these items need no RAM */
	struct fw_cfg fw;
	struct bus pio;
};

static const uint8_t kernel[] = "pretend kernel image";
static const uint8_t initrd[] = { 0x30, 0x37, 0x30, 0x37, 0x30, 0x31 };

static void machine_setup(struct fixture *f, unsigned cpus, uint64_t ram, bool with_initrd,
			  const char *cmdline)
{
	struct fw_cfg_machine m = {
		.nr_cpus = cpus,
		.mem = &f->mem,
		.kernel = kernel,
		.kernel_size = sizeof(kernel),
		.initrd = with_initrd ? initrd : NULL,
		.initrd_size = with_initrd ? sizeof(initrd) : 0,
		.cmdline = cmdline,
	};

	guest_memory_layout(&f->mem, ram);
	assert_int_equal(fw_cfg_init(&f->fw, &f->mem), 0);
	assert_int_equal(fw_cfg_machine_add(&f->fw, &m), 0);
	bus_init(&f->pio, "pio");
	assert_int_equal(bus_insert(&f->pio, FW_CFG_PORT_SELECTOR, FW_CFG_IO_LEN, &fw_cfg_io_ops,
				    &f->fw, "fw-cfg"), 0);
}

static void machine_teardown(struct fixture *f)
{
	bus_destroy(&f->pio);
	fw_cfg_destroy(&f->fw);
}

static void select_key(struct fixture *f, uint16_t key)
{
	assert_true(bus_write(&f->pio, FW_CFG_PORT_SELECTOR, &key, 2));
}

static void read_data(struct fixture *f, void *buf, size_t len)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		assert_true(bus_read(&f->pio, FW_CFG_PORT_DATA, &p[i], 1));
}

static uint64_t read_item_le(struct fixture *f, uint16_t key, unsigned bytes)
{
	uint8_t b[8];
	uint64_t v = 0;

	select_key(f, key);
	read_data(f, b, bytes);
	for (unsigned i = 0; i < bytes; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

static uint64_t le(const uint8_t *p, unsigned bytes)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < bytes; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static uint64_t be(const uint8_t *p, unsigned bytes)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < bytes; i++)
		v = v << 8 | p[i];
	return v;
}

/* Look a file up by name in the directory, as a guest does. */
static uint16_t find_file(struct fixture *f, const char *name, uint32_t *size)
{
	uint8_t count[4], entry[FW_CFG_FILE_ENTRY_SIZE];

	select_key(f, FW_CFG_FILE_DIR);
	read_data(f, count, 4);
	for (uint32_t i = 0; i < be(count, 4); i++) {
		read_data(f, entry, sizeof(entry));
		if (!strcmp((const char *)entry + 8, name)) {
			*size = (uint32_t)be(entry, 4);
			return (uint16_t)be(entry + 4, 2);
		}
	}
	return 0;
}

static void test_cpus_and_ram(void **state)
{
	struct fixture f;

	(void)state;
	machine_setup(&f, 3, 512ULL << 20, false, "");
	assert_int_equal(read_item_le(&f, FW_CFG_NB_CPUS, 2), 3);
	assert_int_equal(read_item_le(&f, FW_CFG_MAX_CPUS, 2), 3);
	assert_int_equal(read_item_le(&f, FW_CFG_RAM_SIZE, 8), 512ULL << 20);
	/* Still the device's own items. */
	assert_int_equal(read_item_le(&f, FW_CFG_SIGNATURE, 4), 0x554d4551);  /* "QEMU" */
	machine_teardown(&f);

	machine_setup(&f, 254, 6ULL << 30, false, "");
	assert_int_equal(read_item_le(&f, FW_CFG_NB_CPUS, 2), 254);
	assert_int_equal(read_item_le(&f, FW_CFG_RAM_SIZE, 8), 6ULL << 30);
	machine_teardown(&f);
}

static void test_kernel_initrd_cmdline(void **state)
{
	struct fixture f;
	uint8_t buf[64];

	(void)state;
	machine_setup(&f, 1, 64ULL << 20, true, "console=ttyS0 x=1");
	assert_int_equal(read_item_le(&f, FW_CFG_KERNEL_SIZE, 4), sizeof(kernel));
	select_key(&f, FW_CFG_KERNEL_DATA);
	read_data(&f, buf, sizeof(kernel));
	assert_memory_equal(buf, kernel, sizeof(kernel));
	assert_int_equal(read_item_le(&f, FW_CFG_INITRD_SIZE, 4), sizeof(initrd));
	select_key(&f, FW_CFG_INITRD_DATA);
	read_data(&f, buf, sizeof(initrd) + 1);
	assert_memory_equal(buf, initrd, sizeof(initrd));
	assert_int_equal(buf[sizeof(initrd)], 0);
	/* The size counts the terminating NUL, which the data includes. */
	assert_int_equal(read_item_le(&f, FW_CFG_CMDLINE_SIZE, 4), strlen("console=ttyS0 x=1") + 1);
	select_key(&f, FW_CFG_CMDLINE_DATA);
	memset(buf, 0xaa, sizeof(buf));
	read_data(&f, buf, 18);
	assert_string_equal((char *)buf, "console=ttyS0 x=1");
	/* kvmrun loads the kernel itself: no load addresses, no entry. */
	assert_int_equal(read_item_le(&f, FW_CFG_KERNEL_ADDR, 4), 0);
	assert_int_equal(read_item_le(&f, FW_CFG_KERNEL_ENTRY, 4), 0);
	assert_int_equal(read_item_le(&f, FW_CFG_SETUP_SIZE, 4), 0);
	machine_teardown(&f);

	/* Without an initrd its items are absent, and an empty command line
	 * is one NUL. */
	machine_setup(&f, 1, 64ULL << 20, false, "");
	assert_int_equal(read_item_le(&f, FW_CFG_INITRD_SIZE, 4), 0);
	assert_int_equal(read_item_le(&f, FW_CFG_INITRD_DATA, 4), 0);
	assert_int_equal(read_item_le(&f, FW_CFG_CMDLINE_SIZE, 4), 1);
	machine_teardown(&f);
}

/* etc/e820 is e820_build()'s map, entry for entry, in QEMU's packed
 * le64 address, le64 length, le32 type layout. */
static void check_e820(uint64_t ram)
{
	struct fixture f;
	struct e820_entry map[E820_MAX_ENTRIES];
	uint8_t buf[E820_MAX_ENTRIES * FW_CFG_E820_ENTRY_SIZE + 1];
	uint32_t size = 0;
	uint16_t key;
	unsigned n;

	machine_setup(&f, 1, ram, false, "");
	n = e820_build(&f.mem, map);
	key = find_file(&f, "etc/e820", &size);
	assert_int_equal(key, FW_CFG_FILE_FIRST);
	assert_int_equal(size, n * FW_CFG_E820_ENTRY_SIZE);
	select_key(&f, key);
	read_data(&f, buf, size + 1);
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *e = buf + i * FW_CFG_E820_ENTRY_SIZE;

		assert_int_equal(le(e, 8), map[i].addr);
		assert_int_equal(le(e + 8, 8), map[i].size);
		assert_int_equal(le(e + 16, 4), map[i].type);
	}
	assert_int_equal(buf[size], 0);
	machine_teardown(&f);
}

static void test_e820_matches_boot_map(void **state)
{
	(void)state;
	check_e820(8ULL << 20);      /* the smallest guest */
	check_e820(128ULL << 20);
	check_e820(6ULL << 30);      /* RAM above 4 GiB: a fourth entry */
}

static void test_oversized_image_is_refused(void **state)
{
	struct fixture f;
	struct fw_cfg_machine m = {
		.nr_cpus = 1, .mem = &f.mem, .kernel = kernel,
		.kernel_size = (size_t)UINT32_MAX + 1, .cmdline = "",
	};

	(void)state;
	guest_memory_layout(&f.mem, 64ULL << 20);
	assert_int_equal(fw_cfg_init(&f.fw, &f.mem), 0);
	assert_int_equal(fw_cfg_machine_add(&f.fw, &m), -EFBIG);
	fw_cfg_destroy(&f.fw);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cpus_and_ram),
		cmocka_unit_test(test_kernel_initrd_cmdline),
		cmocka_unit_test(test_e820_matches_boot_map),
		cmocka_unit_test(test_oversized_image_is_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
