/* userfaultfd lazy memory: filling pages (UFFDIO_COPY / UFFDIO_ZEROPAGE),
 * the bookkeeping that must come before a waiter is woken, and the
 * background thread (the file's data map, then the prefetch). See
 * uffd_memory.h and docs/snapshots.md ("The userfaultfd back-end"). */
#include <errno.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "snapshot/page_map.h"
#include "snapshot/uffd_memory_internal.h"

/* Niceness of the background thread: the fault thread, which has someone
 * waiting on it, and the rest of the VMM win the CPU whenever both are
 * runnable. */
#define PREFETCH_NICE 10

uint64_t uffd_elapsed_ns(const struct uffd_memory *um)
{
	struct timespec now;
	uint64_t ns;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ns = (uint64_t)(now.tv_sec - um->start.tv_sec) * 1000000000ULL +
	     (uint64_t)(now.tv_nsec - um->start.tv_nsec);
	return ns ? ns : 1;  /* 0 means "not yet" in the stats */
}

bool uffd_is_present(struct uffd_memory *um, uint64_t page)
{
	return __atomic_load_n(&um->present[page / 64], __ATOMIC_RELAXED) >> (page % 64) & 1;
}

/* Mark pages [first, first + n) present and count the new ones. */
void uffd_mark_present(struct uffd_memory *um, uint64_t first, uint64_t n)
{
	uint64_t added = 0;

	for (uint64_t p = first; p < first + n;) {
		unsigned shift = p % 64;
		uint64_t take = n - (p - first) < 64 - shift ? n - (p - first) : 64 - shift;
		uint64_t mask = (take == 64 ? ~0ULL : ((1ULL << take) - 1)) << shift;
		uint64_t old = __atomic_fetch_or(&um->present[p / 64], mask, __ATOMIC_RELAXED);

		added += (uint64_t)__builtin_popcountll(mask & ~old);
		p += take;
	}
	uffd_count_present(um, added);
}

void uffd_count_present(struct uffd_memory *um, uint64_t added)
{
	if (!added)
		return;
	if (atomic_fetch_add(&um->nr_present, added) + added == um->npages) {
		atomic_store(&um->resident_ns, uffd_elapsed_ns(um));
		pthread_mutex_lock(&um->lock);
		pthread_cond_broadcast(&um->resident_cond);
		pthread_mutex_unlock(&um->lock);
	}
}

/* Wake the threads waiting on a fault in pages [first, first + n). */
void uffd_wake_range(struct uffd_memory *um, uint64_t first, uint64_t n)
{
	struct uffdio_range r = {
		.start = (uintptr_t)(um->host + first * um->page_size), .len = n * um->page_size,
	};

	ioctl(um->uffd, UFFDIO_WAKE, &r);
}

/* Fill pages [first, first + n) with one UFFDIO_COPY (from src: the file's
 * mapping or the fault thread's page read from the file; for a zero fill,
 * src NULL, from zero pages without UFFDIO_ZEROPAGE) or UFFDIO_ZEROPAGE.
 * Both stop at the first page already present and then report the bytes
 * done so far with EAGAIN, or EEXIST if that was the first page
 * (userfaultfd.rst; fs/userfaultfd.c). Sets *done to the pages filled,
 * adds them to *counter, and returns 0 when all were, else -errno.
 *
 * The ioctls run with DONTWAKE and the filled pages' waiters are woken
 * (UFFDIO_WAKE) only after the counters and the present map are updated:
 * left to the ioctl, the wake-up comes before this thread's bookkeeping,
 * so a thread whose fault was just served could read the stats without
 * its own page counted (test_dropped_page_reads_zero failed that way
 * under load). The order is: count, mark present, wake; whoever sees the
 * range resident, or sees its own fault return, also sees every page
 * counted. A waiter is never lost: one whose page another filler
 * installed is woken by that filler's UFFDIO_WAKE or, if its message is
 * read later, by serve_fault() (EEXIST, then wake). */
int uffd_fill(struct uffd_memory *um, _Atomic uint64_t *busy, uint64_t first, uint64_t n,
	      const uint8_t *src, _Atomic uint64_t *counter, uint64_t *done)
{
	uint64_t off = first * um->page_size, bytes = n * um->page_size;
	bool zero = !src;
	__s64 result;
	int ret;

	atomic_store(busy, first << 32 | n);

	if (zero && um->have_zeropage) {
		struct uffdio_zeropage z = {
			.range = { .start = (uintptr_t)(um->host + off), .len = bytes },
			.mode = UFFDIO_ZEROPAGE_MODE_DONTWAKE,
		};
		ret = ioctl(um->uffd, UFFDIO_ZEROPAGE, &z) < 0 ? -errno : 0;
		result = z.zeropage;
	} else {
		struct uffdio_copy c = {
			.dst = (uintptr_t)(um->host + off),
			.src = (uintptr_t)(zero ? um->zero_src : src),
			.len = bytes,
			.mode = UFFDIO_COPY_MODE_DONTWAKE,
		};
		ret = ioctl(um->uffd, UFFDIO_COPY, &c) < 0 ? -errno : 0;
		result = c.copy;
	}
	*done = result > 0 ? (uint64_t)result / um->page_size : 0;
	if (*done) {
		atomic_fetch_add(counter, *done);
		if (zero)
			atomic_fetch_add(&um->zeroed, *done);
		else
			atomic_fetch_add(&um->bytes_copied, *done * um->page_size);
		uffd_mark_present(um, first, *done);
	}
	atomic_store(busy, 0);
	if (*done)
		uffd_wake_range(um, first, *done);
	return ret;
}

/* `page` was found present by a fill (EEXIST) and is not marked yet by
 * us. If the other filler's ioctl in flight covers it, that filler
 * installed it (or will meet it and come here itself) and counts and
 * marks it; marking it here would let the range look resident before that
 * filler's counters are updated (the stats would not add up to the page
 * count; seen under load in test_faults_race_prefetch_shared_memfd).
 * Otherwise the page was installed by the other filler, which has already
 * marked it, or by someone else (shmem: the page cache filled through
 * another mapping of the memfd), and we mark it. The caller's own `busy`
 * is already clear, so of two fillers meeting each other's page at least
 * one sees the other idle (sequentially consistent atomics). */
void uffd_found_present(struct uffd_memory *um, _Atomic uint64_t *other_busy, uint64_t page)
{
	uint64_t busy = atomic_load(other_busy), first = busy >> 32, n = busy & 0xffffffffULL;

	atomic_fetch_add(&um->races, 1);
	if (page >= first && page < first + n)
		return;
	uffd_mark_present(um, page, 1);
}

void uffd_sleep_ns(long ns)
{
	struct timespec t = { .tv_sec = ns / 1000000000L, .tv_nsec = ns % 1000000000L };

	while (nanosleep(&t, &t) < 0 && errno == EINTR)
		;
}

/* Fill the run of missing pages [p, end) of one kind (data or hole),
 * skipping pages a fault filled meanwhile. Returns 0 or -errno. */
static int prefetch_run(struct uffd_memory *um, uint64_t p, uint64_t end, bool zero)
{
	while (p < end && !atomic_load(&um->stopping)) {
		uint64_t done;
		int ret = uffd_fill(um, &um->prefetch_busy, p, end - p,
				    zero ? NULL : um->src + p * um->page_size, &um->prefetched, &done);

		p += done;
		if (ret == 0)
			break;
		if (ret == -EEXIST) {
			/* A fault got there first. */
			uffd_found_present(um, &um->fault_busy, p);
			p++;
		} else if (ret == -EAGAIN) {
			if (!done)
				uffd_sleep_ns(EAGAIN_SLEEP_NS);
		} else {
			return ret;
		}
	}
	return 0;
}

/* Wait until the delay has passed, or make_resident() or the stop wants
 * us sooner. False when stopping. */
static bool wait_background_start(struct uffd_memory *um)
{
	struct timespec at = um->start;

	at.tv_sec += um->background_delay_ms / 1000;
	at.tv_nsec += (long)(um->background_delay_ms % 1000) * 1000000L;
	if (at.tv_nsec >= 1000000000L) {
		at.tv_sec++;
		at.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&um->lock);
	while (!um->background_kicked && !atomic_load(&um->stopping)) {
		if (pthread_cond_timedwait(&um->background_cond, &um->lock, &at) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&um->lock);
	return !atomic_load(&um->stopping);
}

/* Build the file's data map and publish it (map_ready); with leave_holes,
 * count every hole that is not present yet as present (holes_left).
 *
 * Once map_ready is set, a fault takes its source from the map; before,
 * from the file (serve_fault()). A hole marked here can meanwhile be
 * zero-filled by a fault (a guest that touched it): that filler's mark
 * finds the bit set and adds nothing, so each page is counted in
 * nr_present once, and the page is in both holes_left and
 * fault_pages_zeroed, as a hole touched after the start always was. A
 * hole a fault filled before this finds its bit set and is not a hole
 * left. holes_left is stored before nr_present can reach npages, so
 * whoever sees the range resident sees it. */
static int build_map(struct uffd_memory *um)
{
	uint64_t words = (um->npages + 63) / 64, added = 0;
	int ret = page_map_file_data(um->fd, um->file_offset, um->len, um->page_size,
				     um->data_map);

	if (ret < 0)
		return ret;
	atomic_store(&um->map_ready, true);
	atomic_store(&um->map_ns, uffd_elapsed_ns(um));
	if (!um->opts.leave_holes)
		return 0;
	for (uint64_t w = 0; w < words; w++) {
		uint64_t valid = w + 1 < words || um->npages % 64 == 0
			? ~0ULL : (1ULL << (um->npages % 64)) - 1;
		uint64_t holes = ~um->data_map[w] & valid, old;

		if (!holes)
			continue;
		old = __atomic_fetch_or(&um->present[w], holes, __ATOMIC_RELAXED);
		added += (uint64_t)__builtin_popcountll(holes & ~old);
	}
	atomic_store(&um->holes_left, added);
	uffd_count_present(um, added);
	return 0;
}

/* The background thread's error: wake wait_resident(), which returns it. */
static void background_failed(struct uffd_memory *um, const char *what, int err)
{
	log_error("userfaultfd %s: %s (faults are still served)", what, strerror(-err));
	atomic_store(&um->prefetch_error, err);
	pthread_mutex_lock(&um->lock);
	pthread_cond_broadcast(&um->resident_cond);
	pthread_mutex_unlock(&um->lock);
}

static int prefetch_all(struct uffd_memory *um)
{
	uint64_t chunk = um->opts.prefetch_chunk / um->page_size;
	int ret = 0;

	for (uint64_t base = 0; base < um->npages && !atomic_load(&um->stopping) && !ret;
	     base += chunk) {
		uint64_t end = base + chunk < um->npages ? base + chunk : um->npages;

		for (uint64_t p = base; p < end && !ret;) {
			if (uffd_is_present(um, p)) {
				p++;
				continue;
			}
			bool zero = !page_map_test(um->data_map, p);
			uint64_t q = p + 1;
			while (q < end && !uffd_is_present(um, q) && !page_map_test(um->data_map, q) == zero)
				q++;
			ret = prefetch_run(um, p, q, zero);
			p = q;
		}
	}
	return ret;
}

void *uffd_background_main(void *arg)
{
	struct uffd_memory *um = arg;
	bool prefetch;
	int ret;

	/* Per-thread niceness (setpriority on a thread id is per thread on
	 * Linux, sched(7)). Failing to lower our priority is harmless. */
	setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), PREFETCH_NICE);
	if (!wait_background_start(um))
		return NULL;
	if (!atomic_load(&um->map_ready)) {
		ret = build_map(um);
		if (ret < 0) {
			background_failed(um, "memory file map", ret);
			return NULL;
		}
	}
	pthread_mutex_lock(&um->lock);
	prefetch = um->want_prefetch;
	if (!prefetch)
		um->background_exited = true;  /* make_resident() starts another */
	pthread_mutex_unlock(&um->lock);
	if (!prefetch)
		return NULL;
	ret = prefetch_all(um);
	if (ret < 0)
		background_failed(um, "prefetch", ret);
	else if (!atomic_load(&um->stopping))
		atomic_store(&um->prefetch_ns, uffd_elapsed_ns(um));
	return NULL;
}
