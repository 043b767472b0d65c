/* Lazy guest memory from a file through userfaultfd (DESIGN.md principle 5).
 *
 * A restore maps fresh, unpopulated guest RAM (a memfd mapped MAP_SHARED,
 * or MAP_PRIVATE | MAP_ANONYMOUS) and hands it here with the memory
 * snapshot file. Every page of the range is then filled exactly once, from
 * the file (UFFDIO_COPY) or, where the file has a hole, with zeroes
 * (UFFDIO_ZEROPAGE), by one of two threads:
 *
 *  - the fault thread serves missing-page faults: a vCPU (or KVM working
 *    for it through get_user_pages, or any VMM thread) that touches a page
 *    not yet filled sleeps in the kernel until that one page is copied;
 *  - the background thread, at a lower scheduling priority and only after
 *    a short delay (the rest of a restore runs meanwhile), maps which
 *    pages of the file hold data and which are holes (SEEK_DATA), then
 *    copies all pages not yet present, front to back, in chunks (2 MiB by
 *    default), so the memory becomes fully resident without anyone asking.
 *
 * The start does no work that grows with the range (the bitmaps are
 * calloc'ed: zero pages until written). A fault served before the data
 * map exists reads its page with pread(), where a hole reads as zeroes
 * without allocating anything in the file, and zero-fills it if it is
 * all zero.
 *
 * Both use UFFDIO_COPY/ZEROPAGE, which install a page atomically and fail
 * with EEXIST on a page that is already there, so neither ever waits for
 * the other: a fault that lands inside the chunk being prefetched is served
 * by the fault thread on its own, and the prefetch skips that page.
 * docs/snapshots.md ("The userfaultfd back-end") describes the design, the
 * guarantees and limits.
 *
 * Limits: base pages only (huge pages and hugetlbfs are not handled); the
 * range must not be remapped or unmapped while registered; fork() children
 * do not inherit the registration (no UFFD_FEATURE_EVENT_FORK). */
#ifndef KVMRUN_SNAPSHOT_UFFD_MEMORY_H
#define KVMRUN_SNAPSHOT_UFFD_MEMORY_H

#include <stdbool.h>
#include <stdint.h>

struct uffd_memory;

#define UFFD_MEMORY_DEFAULT_CHUNK (2ULL << 20)

/* Zero-initialised options are the defaults. */
struct uffd_memory_options {
	bool disable_prefetch;     /* serve faults only; no background copy */
	uint64_t prefetch_chunk;   /* bytes per prefetch UFFDIO_COPY; 0 = 2 MiB;
				    * a multiple of the page size */
	/* Sleep this long before serving each fault: simulates a slow store
	 * (remote memory, a cold disk) for tests and benchmarks of what
	 * waits on a fault. 0 in production. */
	unsigned fault_delay_us;
	/* The file's holes are left alone: counted present from the start
	 * (fresh memory reads as zero anyway) and filled only if touched
	 * (a fault on one is served with a zero page). For shmem (memfd) RAM,
	 * where a zero page costs a real page: prefetching holes would
	 * allocate all of RAM, and holes left as holes keep a later
	 * SEEK_DATA-based save of the memfd sparse. */
	bool leave_holes;
	/* The range was just mapped and nothing wrote it: skip the mincore
	 * scan for pages already present, whose cost grows with the range
	 * (without `fresh` it runs in uffd_memory_start()). */
	bool fresh;
	/* Milliseconds between the start and the background work (the data
	 * map, then the prefetch), which uffd_memory_make_resident() and the
	 * stop cut short. 0: 20 ms, longer than a restore here takes to its
	 * first KVM_RUN. Tests set a long one to fault before the map. */
	unsigned background_delay_ms;
};

struct uffd_memory_stats {
	uint64_t pages;              /* pages in the range */
	uint64_t present;            /* pages filled (or found present) so far */
	uint64_t faults;             /* fault events served */
	uint64_t fault_pages_copied; /* pages copied from the file on a fault */
	uint64_t fault_pages_zeroed; /* hole pages zero-filled on a fault (before
				      * the data map: pages that read as zero) */
	uint64_t prefetch_pages;     /* pages filled by the prefetcher */
	uint64_t zero_pages;         /* all zero-filled pages (file holes) */
	uint64_t holes_left;         /* leave_holes: hole pages counted present
				      * when the data map was built (a hole
				      * touched before is in fault_pages_zeroed
				      * instead; one touched after is in both) */
	uint64_t bytes_copied;       /* bytes copied from the file */
	uint64_t races;              /* fills that found the page present (EEXIST) */
	uint64_t first_fault_ns;     /* from start to the first fault; 0: none yet */
	uint64_t resident_ns;        /* from start to fully resident; 0: not yet */
	uint64_t map_ns;             /* from start to the data map's end; 0: not yet */
	uint64_t prefetch_ns;        /* from start to the prefetcher's end; 0: not
				      * yet (may lag resident_ns a little) */
	int prefetch_error;          /* -errno that stopped the background thread
				      * (the map or the prefetch), or 0 */
	bool resident;               /* every page of the range is present */
};

/* Register [host, host + len) for missing-page faults and start the fault
 * thread and the background thread (data map, then, unless disabled, the
 * prefetch). `host` and `len` must be page-aligned and len > 0; the range
 * must be an anonymous private mapping or a shared memfd/shmem mapping
 * whose pages should come from `fd` bytes [file_offset, file_offset +
 * len). file_offset must be page-aligned and the file at least
 * file_offset + len bytes long. The service keeps a duplicate of `fd` (the
 * caller may close its own); the duplicate shares the file offset, which
 * is therefore unspecified afterwards. Pages of the range that are already
 * present (mincore, unless opts->fresh) are left alone. opts may be NULL
 * for the defaults. With `fresh`, nothing here grows with len.
 * Returns 0 with *out set, or -errno after logging the reason (-EINVAL for
 * a bad range, option or a file too short; -ENOSYS/-EPERM when
 * userfaultfd is unavailable). */
int uffd_memory_start(struct uffd_memory **out, void *host, uint64_t len, int fd,
		      uint64_t file_offset, const struct uffd_memory_options *opts);

/* A consistent-enough snapshot of the counters (each read atomically). */
void uffd_memory_stats(struct uffd_memory *um, struct uffd_memory_stats *stats);

/* Wait until every page is present: 0, -ETIMEDOUT after timeout_ms
 * (< 0: no limit), or the background thread's error if it failed and
 * faults alone have not filled the range. */
int uffd_memory_wait_resident(struct uffd_memory *um, int timeout_ms);

/* Make the range resident: start the background work now (without its
 * delay) and the prefetch even if it was disabled, then
 * uffd_memory_wait_resident(). For a caller about to read all of the
 * memory (a save), which would otherwise fault it in page by page. Not
 * concurrently with itself or uffd_memory_stop(). */
int uffd_memory_make_resident(struct uffd_memory *um, int timeout_ms);

/* Stop both threads, unregister the range and free everything. Pages not
 * yet filled then behave like fresh memory of the mapping's kind (they
 * read as zero), so stop only once the range is resident or no longer
 * used (the VM has stopped). NULL is a no-op. */
void uffd_memory_stop(struct uffd_memory *um);

#endif
