/* Page maps of a memory file (data vs holes) and of a mapping (resident
 * pages): src/snapshot/page_map.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "snapshot/page_map.h"

#define PAGE 4096ULL

static void test_file_data_and_holes(void **state)
{
	int fd = memfd_create("page-map", MFD_CLOEXEC);
	uint64_t bits[2] = { 0 };
	char byte = 1;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 100 * PAGE), 0);
	/* Data in file pages 3, 10-12 (10 via its last byte) and 99. */
	assert_int_equal(pwrite(fd, &byte, 1, 3 * PAGE + 5), 1);
	assert_int_equal(pwrite(fd, &byte, 1, 11 * PAGE - 1), 1);
	assert_int_equal(pwrite(fd, &byte, 1, 11 * PAGE), 1);
	assert_int_equal(pwrite(fd, &byte, 1, 12 * PAGE), 1);
	assert_int_equal(pwrite(fd, &byte, 1, 99 * PAGE), 1);
	/* The window starts at file page 2: window page p is file page p + 2. */
	assert_int_equal(page_map_file_data(fd, 2 * PAGE, 98 * PAGE, PAGE, bits), 0);
	for (uint64_t p = 0; p < 98; p++) {
		bool data = p == 1 || (p >= 8 && p <= 10) || p == 97;

		assert_int_equal(page_map_test(bits, p), data);
	}
	close(fd);
}

static void test_resident_pages(void **state)
{
	uint8_t *m = mmap(NULL, 70 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			  -1, 0);
	uint64_t bits[2] = { 0 };

	(void)state;
	assert_true(m != MAP_FAILED);
	m[0] = 1;
	m[65 * PAGE] = 1;
	assert_int_equal(page_map_resident(m, 70 * PAGE, PAGE, bits), 0);
	for (uint64_t p = 0; p < 70; p++)
		assert_int_equal(page_map_test(bits, p), p == 0 || p == 65);
	munmap(m, 70 * PAGE);
}

/* Long data runs across 64-page words (set whole words at a time): file
 * pages 5-199 and 230, a window from file page 1, 300 pages. */
static void test_file_long_runs(void **state)
{
	int fd = memfd_create("page-map-runs", MFD_CLOEXEC);
	uint64_t bits[6] = { 0 };
	static char buf[195 * 4096];

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 301 * PAGE), 0);
	memset(buf, 0x5a, sizeof(buf));
	assert_int_equal(pwrite(fd, buf, sizeof(buf), 5 * PAGE), (ssize_t)sizeof(buf));
	assert_int_equal(pwrite(fd, buf, 1, 230 * PAGE), 1);
	assert_int_equal(page_map_file_data(fd, PAGE, 300 * PAGE, PAGE, bits), 0);
	for (uint64_t p = 0; p < 6 * 64; p++) {
		bool data = (p >= 4 && p < 199) || p == 229;

		assert_int_equal(page_map_test(bits, p), data);
	}
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_file_data_and_holes),
		cmocka_unit_test(test_resident_pages),
		cmocka_unit_test(test_file_long_runs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
