/* Private to uffd_memory.c (the service: start, stop, the fault thread)
 * and uffd_fill.c (filling pages, the bookkeeping around it, and the
 * prefetch thread). See uffd_memory.h. */
#ifndef KVMRUN_SNAPSHOT_UFFD_MEMORY_INTERNAL_H
#define KVMRUN_SNAPSHOT_UFFD_MEMORY_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "snapshot/uffd_memory.h"

/* Back-off when a fill reports EAGAIN without progress (the kernel's
 * "mappings are changing"; userfaultfd.rst, UFFDIO_COPY). */
#define EAGAIN_SLEEP_NS 100000

struct uffd_memory {
	uint8_t *host;
	uint64_t len;
	uint64_t page_size;
	uint64_t npages;
	struct uffd_memory_options opts;

	int uffd;
	int stop_fd;                   /* eventfd: wakes the fault thread to stop */
	atomic_bool stopping;
	bool have_zeropage;            /* UFFDIO_ZEROPAGE allowed on the range */

	const uint8_t *src;            /* the file, mapped read-only, page 0 = file_offset */
	uint8_t *zero_src;             /* zero pages to copy when ZEROPAGE is unavailable */
	uint64_t *data_map;            /* bit per page: the file has data there (else a hole) */
	uint64_t *present;             /* bit per page: filled or found present
					* (atomic builtins once the threads run) */

	pthread_t fault_thread;
	pthread_t prefetch_thread;
	bool prefetch_running;

	struct timespec start;
	pthread_mutex_t lock;          /* with resident_cond: wait_resident() */
	pthread_cond_t resident_cond;

	/* What each filler's ioctl is installing right now, (first page <<
	 * 32) | pages, 0 when idle: see found_present(). */
	_Atomic uint64_t fault_busy, prefetch_busy;

	_Atomic uint64_t nr_present;
	_Atomic uint64_t faults, fault_copied, fault_zeroed, prefetched, zeroed;
	_Atomic uint64_t bytes_copied, races;
	uint64_t holes_left;           /* set at start, then read-only */
	_Atomic uint64_t first_fault_ns, resident_ns, prefetch_ns;
	_Atomic int prefetch_error;
};

/* Nanoseconds since the start, at least 1 (0 means "not yet"). */
uint64_t uffd_elapsed_ns(const struct uffd_memory *um);
bool uffd_is_present(struct uffd_memory *um, uint64_t page);
/* Mark pages [first, first + n) present and count the new ones. */
void uffd_mark_present(struct uffd_memory *um, uint64_t first, uint64_t n);
/* Wake the threads waiting on a fault in pages [first, first + n). */
void uffd_wake_range(struct uffd_memory *um, uint64_t first, uint64_t n);
/* Fill pages [first, first + n): see uffd_fill.c. */
int uffd_fill(struct uffd_memory *um, _Atomic uint64_t *busy, uint64_t first, uint64_t n,
	      bool zero, _Atomic uint64_t *counter, uint64_t *done);
/* A fill found `page` present (EEXIST): see uffd_fill.c. */
void uffd_found_present(struct uffd_memory *um, _Atomic uint64_t *other_busy, uint64_t page);
void uffd_sleep_ns(long ns);
/* The prefetch thread's body (arg: the struct uffd_memory). */
void *uffd_prefetch_main(void *arg);

#endif
