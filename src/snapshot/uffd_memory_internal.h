/* Private to uffd_memory.c (the service: start, stop, the fault thread)
 * and uffd_fill.c (filling pages, the bookkeeping around it, and the
 * background thread: the file's data map, then the prefetch). See
 * uffd_memory.h. */
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

/* How long the background thread waits after the start before it maps
 * the file's data and holes and prefetches, unless
 * uffd_memory_make_resident() or the stop wants it sooner: a restore goes
 * on for a few ms after uffd_memory_start() (the KVM VM, its memory slots,
 * vCPUs, their state) and on two CPUs the map (up to ~30 ms of CPU for
 * 4 GiB on tmpfs) and the prefetch's page copies would compete with it,
 * and the prefetch's UFFDIO_COPYs take the mmap lock the restore's
 * mmap()s and memory slots need. Faults are served meanwhile. */
#define UFFD_DEFAULT_BACKGROUND_DELAY_MS 20

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
	int fd;                        /* the caller's file, duplicated: the map (SEEK_DATA)
					* and pread() before it exists */
	uint64_t file_offset;
	uint8_t *zero_src;             /* zero pages to copy when ZEROPAGE is unavailable */
	uint8_t *fault_buf;            /* fault thread only: one page read before the map */
	/* Bit per page: the file has data there (else a hole). Written by
	 * the background thread alone, before it sets map_ready; read by
	 * others only after they have seen map_ready (seq_cst atomics order
	 * the plain stores before). */
	uint64_t *data_map;
	atomic_bool map_ready;
	uint64_t *present;             /* bit per page: filled, found present or (leave_holes)
					* a hole; atomic builtins once the threads run */

	pthread_t fault_thread;
	pthread_t background_thread;
	bool background_started;       /* the thread exists and is to be joined */

	struct timespec start;
	unsigned background_delay_ms;
	pthread_mutex_t lock;          /* with resident_cond: wait_resident(); with
					* background_cond: the fields below */
	pthread_cond_t resident_cond;
	pthread_cond_t background_cond;
	bool background_kicked;        /* make_resident() or stop: start the work now */
	bool want_prefetch;            /* the background thread prefetches after the map */
	bool background_exited;        /* it ended without prefetching (make_resident()
					* starts another) */

	/* What each filler's ioctl is installing right now, (first page <<
	 * 32) | pages, 0 when idle: see found_present(). */
	_Atomic uint64_t fault_busy, prefetch_busy;

	_Atomic uint64_t nr_present;
	_Atomic uint64_t faults, fault_copied, fault_zeroed, prefetched, zeroed;
	_Atomic uint64_t bytes_copied, races;
	_Atomic uint64_t holes_left;   /* set once, by the background thread with the map */
	_Atomic uint64_t first_fault_ns, resident_ns, prefetch_ns, map_ns;
	_Atomic int prefetch_error;
};

/* Nanoseconds since the start, at least 1 (0 means "not yet"). */
uint64_t uffd_elapsed_ns(const struct uffd_memory *um);
bool uffd_is_present(struct uffd_memory *um, uint64_t page);
/* Mark pages [first, first + n) present and count the new ones. */
void uffd_mark_present(struct uffd_memory *um, uint64_t first, uint64_t n);
/* Count `added` pages newly marked present; the last one wakes
 * uffd_memory_wait_resident(). */
void uffd_count_present(struct uffd_memory *um, uint64_t added);
/* Wake the threads waiting on a fault in pages [first, first + n). */
void uffd_wake_range(struct uffd_memory *um, uint64_t first, uint64_t n);
/* Fill pages [first, first + n) from src (NULL: with zeroes): see uffd_fill.c. */
int uffd_fill(struct uffd_memory *um, _Atomic uint64_t *busy, uint64_t first, uint64_t n,
	      const uint8_t *src, _Atomic uint64_t *counter, uint64_t *done);
/* A fill found `page` present (EEXIST): see uffd_fill.c. */
void uffd_found_present(struct uffd_memory *um, _Atomic uint64_t *other_busy, uint64_t page);
void uffd_sleep_ns(long ns);
/* The background thread's body (arg: the struct uffd_memory): after the
 * delay, the file's data map, then (want_prefetch) the prefetch. */
void *uffd_background_main(void *arg);

#endif
