/* Page maps of a memory file and of a mapping: see page_map.h. */
#include "snapshot/page_map.h"

#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"

/* Whole words where it can: a restore maps a file of up to millions of
 * data pages, and this runs before the guest does. */
static void set_range(uint64_t *bits, uint64_t first, uint64_t end)
{
	uint64_t p = first;

	for (; p < end && p % 64; p++)
		bits[p / 64] |= 1ULL << (p % 64);
	for (; p + 64 <= end; p += 64)
		bits[p / 64] = ~0ULL;
	for (; p < end; p++)
		bits[p / 64] |= 1ULL << (p % 64);
}

int page_map_file_data(int fd, uint64_t offset, uint64_t len, uint64_t page_size,
		       uint64_t *bits)
{
	uint64_t end = offset + len, pos = offset, pages = len / page_size;

	while (pos < end) {
		off_t data = lseek(fd, (off_t)pos, SEEK_DATA), hole;

		if (data < 0) {
			if (errno == ENXIO)
				break;  /* only a hole up to the end of the file */
			if (errno == EINVAL) {
				set_range(bits, (pos - offset) / page_size, pages);
				break;  /* no hole reporting: all data */
			}
			return log_syscall_error("lseek(memory file, SEEK_DATA)", errno);
		}
		if ((uint64_t)data >= end)
			break;
		hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0)
			return log_syscall_error("lseek(memory file, SEEK_HOLE)", errno);
		/* A page with any data byte is a data page. */
		uint64_t first = ((uint64_t)data - offset) / page_size;
		uint64_t last = (uint64_t)hole >= end ? pages
			: ((uint64_t)hole - offset + page_size - 1) / page_size;
		set_range(bits, first, last);
		pos = (uint64_t)hole;
	}
	return 0;
}

int page_map_resident(const void *host, uint64_t len, uint64_t page_size, uint64_t *bits)
{
	enum { BATCH = 4096 };
	unsigned char vec[BATCH];
	uint64_t pages = len / page_size;

	for (uint64_t p = 0; p < pages; p += BATCH) {
		uint64_t n = pages - p < BATCH ? pages - p : BATCH;

		if (mincore((void *)((uintptr_t)host + p * page_size), n * page_size, vec) < 0)
			return log_syscall_error("mincore(guest memory)", errno);
		for (uint64_t i = 0; i < n; i++) {
			if (vec[i] & 1)
				bits[(p + i) / 64] |= 1ULL << ((p + i) % 64);
		}
	}
	return 0;
}
