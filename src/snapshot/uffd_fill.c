/* userfaultfd lazy memory: filling pages (UFFDIO_COPY / UFFDIO_ZEROPAGE),
 * the bookkeeping that must come before a waiter is woken, and the
 * prefetch thread. See uffd_memory.h and docs/snapshots.md ("The
 * userfaultfd back-end"). */
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

/* Niceness of the prefetch thread: the fault thread, which has someone
 * waiting on it, wins the CPU whenever both are runnable. */
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

/* Fill pages [first, first + n) with one UFFDIO_COPY (from the file or,
 * for holes without UFFDIO_ZEROPAGE, from zero pages) or UFFDIO_ZEROPAGE.
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
	      bool zero, _Atomic uint64_t *counter, uint64_t *done)
{
	uint64_t off = first * um->page_size, bytes = n * um->page_size;
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
			.src = (uintptr_t)(zero ? um->zero_src : um->src + off),
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
		int ret = uffd_fill(um, &um->prefetch_busy, p, end - p, zero, &um->prefetched, &done);

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

void *uffd_prefetch_main(void *arg)
{
	struct uffd_memory *um = arg;
	uint64_t chunk = um->opts.prefetch_chunk / um->page_size;
	int ret = 0;

	/* Per-thread niceness (setpriority on a thread id is per thread on
	 * Linux, sched(7)). Failing to lower our priority is harmless. */
	setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), PREFETCH_NICE);
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
	if (ret < 0) {
		log_error("userfaultfd prefetch: %s (faults are still served)", strerror(-ret));
		atomic_store(&um->prefetch_error, ret);
		pthread_mutex_lock(&um->lock);
		pthread_cond_broadcast(&um->resident_cond);
		pthread_mutex_unlock(&um->lock);
	} else if (!atomic_load(&um->stopping)) {
		atomic_store(&um->prefetch_ns, uffd_elapsed_ns(um));
	}
	return NULL;
}
