/* Shared fixtures of the boot loader tests: guest RAM and a load call that
 * checks the error contract (empty on success, one line on failure). */
#ifndef KVMRUN_TESTS_BOOT_TEST_H
#define KVMRUN_TESTS_BOOT_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "boot/boot.h"
#include "image_builder.h"
#include "memory.h"

#define TEST_RAM (64ULL << 20)

static inline void ram_create(struct guest_memory *mem, uint64_t size)
{
	assert_int_equal(guest_memory_create_anonymous(mem, size), 0);
}

static inline void *gpa(const struct guest_memory *mem, uint64_t addr, uint64_t len)
{
	void *p = guest_memory_ptr(mem, addr, len);

	assert_non_null(p);
	return p;
}

/* boot_load() on an image; asserts the err contract for either outcome. */
static inline int load(struct guest_memory *mem, const uint8_t *kernel, size_t kernel_size,
		       const uint8_t *initrd, size_t initrd_size, const char *cmdline,
		       struct boot_entry *entry, char err[BOOT_ERROR_MAX])
{
	struct boot_config cfg = {
		.kernel = kernel, .kernel_size = kernel_size,
		.initrd = initrd, .initrd_size = initrd_size, .cmdline = cmdline,
		.kernel_name = "test-kernel",
	};
	int ret;

	memset(err, 'x', BOOT_ERROR_MAX);
	ret = boot_load(mem, &cfg, entry, err);
	if (ret == 0)
		assert_string_equal(err, "");
	else
		test_assert_one_line(err);
	return ret;
}

/* True if `len` bytes of guest memory at `addr` are all zero. */
static inline int ram_is_zero(const struct guest_memory *mem, uint64_t addr, uint64_t len)
{
	const uint8_t *p = gpa(mem, addr, len);

	for (uint64_t i = 0; i < len; i++)
		if (p[i])
			return 0;
	return 1;
}

/* Zero the first 2 MiB again (boot data and a small kernel), so a test can
 * load twice into "zeroed RAM" as boot_load() requires. */
static inline void ram_clear(const struct guest_memory *mem)
{
	memset(gpa(mem, 0, 2 << 20), 0, 2 << 20);
}

#endif
