/* Page-granular maps for lazy memory restore: which pages of a memory
 * file hold data (the rest are holes, which read as zero), and which pages
 * of a mapping are already resident. One bit per page, bit i of word
 * i / 64; the caller provides (len / page_size + 63) / 64 zeroed words. */
#ifndef KVMRUN_SNAPSHOT_PAGE_MAP_H
#define KVMRUN_SNAPSHOT_PAGE_MAP_H

#include <stdbool.h>
#include <stdint.h>

/* Set the bit of every page of the file window [offset, offset + len)
 * that holds at least one data byte, by SEEK_DATA/SEEK_HOLE (lseek(2)).
 * On a filesystem without hole reporting every page counts as data.
 * offset and len are multiples of page_size. Returns 0 or -errno (logged). */
int page_map_file_data(int fd, uint64_t offset, uint64_t len, uint64_t page_size,
		       uint64_t *bits);

/* Set the bit of every page of [host, host + len) that is resident
 * (mincore(2): in the page cache for shmem, mapped for anonymous memory).
 * Returns 0 or -errno (logged). */
int page_map_resident(const void *host, uint64_t len, uint64_t page_size, uint64_t *bits);

static inline bool page_map_test(const uint64_t *bits, uint64_t page)
{
	return bits[page / 64] >> (page % 64) & 1;
}

#endif
