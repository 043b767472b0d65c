/* userfaultfd lazy memory: see uffd_memory.h and docs/snapshots.md ("The
 * userfaultfd back-end").
 * Kernel interface: Documentation/admin-guide/mm/userfaultfd.rst. */
#include "snapshot/uffd_memory.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "snapshot/page_map.h"
#include "snapshot/uffd_memory_internal.h"

/* Fault messages read per read(2); the fault thread serves them in order. */
#define FAULT_BATCH 16

/* Where a fault's page comes from before the data map exists: the file
 * read with pread() into fault_buf, NULL (a zero fill) if that is all
 * zero. pread, not the read-only mapping: on tmpfs a read fault on a hole
 * of the mapping allocates a page in the memory file (shmem_fault), a
 * read(2) of it copies the zero page; and it takes no lock SEEK_DATA does
 * (shmem's llseek holds the inode lock for its whole walk, which the
 * background thread may be doing). A data page that is all zero is
 * zero-filled too: the same contents. If the read fails, the mapping is
 * the source (correct contents either way). */
static const uint8_t *fault_source_before_map(struct uffd_memory *um, uint64_t page)
{
	uint64_t off = page * um->page_size, got = 0;
	const uint64_t *w = (const uint64_t *)um->fault_buf;

	while (got < um->page_size) {
		ssize_t n = pread(um->fd, um->fault_buf + got, um->page_size - got,
				  (off_t)(um->file_offset + off + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return um->src + off;  /* error or truncated file: let the mapping say */
		got += (uint64_t)n;
	}
	for (uint64_t i = 0; i < um->page_size / sizeof(*w); i++) {
		if (w[i])
			return um->fault_buf;
	}
	return NULL;
}

/* One fault: fill its page and wake the waiter. A page we filled before
 * that faults again was dropped since (MADV_DONTNEED, a punched hole), and
 * fresh memory reads as zero; if instead the fault raced with the
 * prefetcher, the fill finds the page present (EEXIST) and we only wake
 * the waiter, in case it went to sleep before the prefetcher's wake-up.
 * Until the background thread has published the data map (map_ready),
 * the page's source is read from the file (fault_source_before_map()). */
static void serve_fault(struct uffd_memory *um, uint64_t addr)
{
	uint64_t page = (addr - (uintptr_t)um->host) / um->page_size, done;
	uint64_t expected = 0;
	const uint8_t *src;
	int ret;

	if (addr < (uintptr_t)um->host || page >= um->npages)
		return;  /* not ours: cannot happen for a registered range */
	if (um->opts.fault_delay_us)
		uffd_sleep_ns((long)um->opts.fault_delay_us * 1000);
	atomic_compare_exchange_strong(&um->first_fault_ns, &expected, uffd_elapsed_ns(um));
	atomic_fetch_add(&um->faults, 1);
	if (uffd_is_present(um, page))
		src = NULL;
	else if (atomic_load(&um->map_ready))
		src = page_map_test(um->data_map, page) ? um->src + page * um->page_size : NULL;
	else
		src = fault_source_before_map(um, page);
	do {
		ret = uffd_fill(um, &um->fault_busy, page, 1, src,
				src ? &um->fault_copied : &um->fault_zeroed, &done);
		if (ret == -EAGAIN && !done)
			uffd_sleep_ns(EAGAIN_SLEEP_NS);
	} while (ret == -EAGAIN && !done && !atomic_load(&um->stopping));
	if (ret == -EEXIST && !done) {
		uffd_found_present(um, &um->prefetch_busy, page);
		uffd_wake_range(um, page, 1);
	} else if (ret < 0 && !atomic_load(&um->stopping)) {
		/* The waiter would sleep forever: wake it so it faults again
		 * and we retry, and say why. */
		log_error("userfaultfd: filling page at offset 0x%llx: %s",
			  (unsigned long long)(page * um->page_size), strerror(-ret));
		uffd_wake_range(um, page, 1);
	}
}

static void *fault_thread_main(void *arg)
{
	struct uffd_memory *um = arg;
	struct uffd_msg msgs[FAULT_BATCH];
	struct pollfd pfd[2] = {
		{ .fd = um->uffd, .events = POLLIN },
		{ .fd = um->stop_fd, .events = POLLIN },
	};

	while (!atomic_load(&um->stopping)) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_syscall_error("poll(userfaultfd)", errno);
			break;
		}
		if (pfd[1].revents)
			break;
		ssize_t n = read(um->uffd, msgs, sizeof(msgs));
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			log_syscall_error("read(userfaultfd)", errno);
			break;
		}
		for (size_t i = 0; i < (size_t)n / sizeof(msgs[0]); i++) {
			if (msgs[i].event == UFFD_EVENT_PAGEFAULT)
				serve_fault(um, msgs[i].arg.pagefault.address);
		}
	}
	return NULL;
}


static int start_background(struct uffd_memory *um)
{
	int ret = pthread_create(&um->background_thread, NULL, uffd_background_main, um);

	if (ret != 0) {
		log_error("uffd memory: starting the background thread: %s", strerror(ret));
		return -ret;
	}
	um->background_started = true;
	return 0;
}

static int open_userfaultfd(struct uffd_memory *um)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)um->host, .len = um->len },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	int ret;

	/* Root may handle faults the kernel raises on behalf of the process
	 * (KVM's get_user_pages); unprivileged users need
	 * vm.unprivileged_userfaultfd=1 for that, or /dev/userfaultfd. */
	um->uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (um->uffd < 0)
		return log_syscall_error("userfaultfd", errno);
	/* No optional features: MISSING faults on anonymous and shmem memory
	 * need none, and without EVENT_FORK/REMAP/REMOVE/UNMAP the fault
	 * thread sees only page faults. */
	if (ioctl(um->uffd, UFFDIO_API, &api) < 0)
		return log_syscall_error("UFFDIO_API", errno);
	if (ioctl(um->uffd, UFFDIO_REGISTER, &reg) < 0) {
		ret = errno;
		log_error("UFFDIO_REGISTER of %llu bytes at %p: %s (the range must be anonymous "
			  "private or shmem memory)", (unsigned long long)um->len, (void *)um->host,
			  strerror(ret));
		return -ret;
	}
	if (!(reg.ioctls & (1ULL << _UFFDIO_COPY))) {
		log_error("UFFDIO_REGISTER: UFFDIO_COPY not available on the range");
		return -EOPNOTSUPP;
	}
	um->have_zeropage = reg.ioctls & (1ULL << _UFFDIO_ZEROPAGE);
	return 0;
}

static int check_args(void *host, uint64_t len, int fd, uint64_t file_offset,
		      const struct uffd_memory_options *opts, uint64_t page_size, uint64_t *chunk)
{
	struct stat st;

	if (!host || (uintptr_t)host % page_size || !len || len % page_size) {
		log_error("uffd memory: range %p + 0x%llx is not page-aligned and non-empty", host,
			  (unsigned long long)len);
		return -EINVAL;
	}
	if (file_offset % page_size) {
		log_error("uffd memory: file offset 0x%llx is not page-aligned",
			  (unsigned long long)file_offset);
		return -EINVAL;
	}
	*chunk = opts->prefetch_chunk ? opts->prefetch_chunk : UFFD_MEMORY_DEFAULT_CHUNK;
	if (*chunk % page_size) {
		log_error("uffd memory: prefetch chunk %llu is not a multiple of the page size %llu",
			  (unsigned long long)*chunk, (unsigned long long)page_size);
		return -EINVAL;
	}
	/* uffd_found_present() packs a page number and a page count in 32 bits
	 * each: 16 TiB of 4 KiB pages. */
	if (len / page_size > UINT32_MAX || *chunk / page_size > UINT32_MAX) {
		log_error("uffd memory: range of %llu bytes or prefetch chunk of %llu bytes is over "
			  "2^32 pages", (unsigned long long)len, (unsigned long long)*chunk);
		return -EINVAL;
	}
	if (fstat(fd, &st) < 0)
		return log_syscall_error("fstat(memory file)", errno);
	if (file_offset + len < len || (uint64_t)st.st_size < file_offset + len) {
		log_error("uffd memory: memory file is %lld bytes, shorter than the %llu bytes "
			  "needed at offset %llu", (long long)st.st_size, (unsigned long long)len,
			  (unsigned long long)file_offset);
		return -EINVAL;
	}
	return 0;
}

static void release(struct uffd_memory *um)
{
	if (um->uffd >= 0)
		close(um->uffd);  /* also unregisters; waiters retry without us */
	if (um->stop_fd >= 0)
		close(um->stop_fd);
	if (um->src)
		munmap((void *)um->src, um->len);
	if (um->zero_src)
		munmap(um->zero_src, um->opts.prefetch_chunk);
	if (um->fd >= 0)
		close(um->fd);
	free(um->fault_buf);
	free(um->data_map);
	free(um->present);
	pthread_cond_destroy(&um->background_cond);
	pthread_cond_destroy(&um->resident_cond);
	pthread_mutex_destroy(&um->lock);
	free(um);
}

int uffd_memory_start(struct uffd_memory **out, void *host, uint64_t len, int fd,
		      uint64_t file_offset, const struct uffd_memory_options *opts)
{
	static const struct uffd_memory_options defaults;
	uint64_t page_size = (uint64_t)sysconf(_SC_PAGESIZE), chunk, words;
	struct uffd_memory *um;
	pthread_condattr_t attr;
	void *src;
	int ret;

	*out = NULL;
	if (!opts)
		opts = &defaults;
	ret = check_args(host, len, fd, file_offset, opts, page_size, &chunk);
	if (ret < 0)
		return ret;
	um = calloc(1, sizeof(*um));
	if (!um)
		return -ENOMEM;
	um->host = host;
	um->len = len;
	um->page_size = page_size;
	um->npages = len / page_size;
	um->opts = *opts;
	um->opts.prefetch_chunk = chunk;
	um->uffd = um->stop_fd = um->fd = -1;
	um->file_offset = file_offset;
	um->want_prefetch = !opts->disable_prefetch;
	um->background_delay_ms = opts->background_delay_ms ? opts->background_delay_ms
		: UFFD_DEFAULT_BACKGROUND_DELAY_MS;
	clock_gettime(CLOCK_MONOTONIC, &um->start);
	pthread_mutex_init(&um->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&um->resident_cond, &attr);
	pthread_cond_init(&um->background_cond, &attr);
	pthread_condattr_destroy(&attr);

	/* Large callocs are fresh anonymous mappings: their zero pages cost
	 * nothing until the background thread or a fill writes them. */
	words = (um->npages + 63) / 64;
	um->data_map = calloc(words, sizeof(uint64_t));
	um->present = calloc(words, sizeof(uint64_t));
	um->fault_buf = malloc(page_size);
	if (!um->data_map || !um->present || !um->fault_buf) {
		ret = -ENOMEM;
		goto release_um;
	}
	um->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (um->fd < 0) {
		ret = log_syscall_error("fcntl(memory file, F_DUPFD_CLOEXEC)", errno);
		goto release_um;
	}
	/* UFFDIO_COPY reads the source with copy_from_user, so a read-only
	 * mapping of the file is the cheapest source: no bounce buffer. */
	src = mmap(NULL, len, PROT_READ, MAP_SHARED | MAP_NORESERVE, fd, (off_t)file_offset);
	if (src == MAP_FAILED) {
		ret = log_syscall_error("mmap(memory file)", errno);
		goto release_um;
	}
	um->src = src;
	um->zero_src = mmap(NULL, chunk, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
			    -1, 0);
	if (um->zero_src == MAP_FAILED) {
		um->zero_src = NULL;
		ret = log_syscall_error("mmap(zero source)", errno);
		goto release_um;
	}
	/* Pages already present (the restore wrote them, or they were
	 * touched) are not ours to fill: no MISSING fault will come for them.
	 * The file's data map is the background thread's (uffd_fill.c), and
	 * with it, for leave_holes, the holes counted present. */
	if (!opts->fresh) {
		ret = page_map_resident(host, len, page_size, um->present);
		if (ret < 0)
			goto release_um;
		for (uint64_t w = 0; w < words; w++)
			um->nr_present += (uint64_t)__builtin_popcountll(um->present[w]);
		if (um->nr_present == um->npages)
			um->resident_ns = uffd_elapsed_ns(um);
	}
	um->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (um->stop_fd < 0) {
		ret = log_syscall_error("eventfd", errno);
		goto release_um;
	}
	ret = open_userfaultfd(um);
	if (ret < 0)
		goto release_um;
	ret = -pthread_create(&um->fault_thread, NULL, fault_thread_main, um);
	if (ret < 0) {
		log_error("uffd memory: starting the fault thread: %s", strerror(-ret));
		goto release_um;
	}
	/* Always: the data map is also what counts leave_holes' holes present
	 * and lets faults skip the pread. */
	ret = start_background(um);
	if (ret < 0)
		goto stop_fault_thread;
	*out = um;
	return 0;

stop_fault_thread:
	atomic_store(&um->stopping, true);
	eventfd_write(um->stop_fd, 1);
	pthread_join(um->fault_thread, NULL);
release_um:
	release(um);
	return ret;
}

void uffd_memory_stats(struct uffd_memory *um, struct uffd_memory_stats *s)
{
	s->pages = um->npages;
	s->present = atomic_load(&um->nr_present);
	s->faults = atomic_load(&um->faults);
	s->fault_pages_copied = atomic_load(&um->fault_copied);
	s->fault_pages_zeroed = atomic_load(&um->fault_zeroed);
	s->prefetch_pages = atomic_load(&um->prefetched);
	s->zero_pages = atomic_load(&um->zeroed);
	s->holes_left = atomic_load(&um->holes_left);
	s->map_ns = atomic_load(&um->map_ns);
	s->bytes_copied = atomic_load(&um->bytes_copied);
	s->races = atomic_load(&um->races);
	s->first_fault_ns = atomic_load(&um->first_fault_ns);
	s->resident_ns = atomic_load(&um->resident_ns);
	s->prefetch_ns = atomic_load(&um->prefetch_ns);
	s->prefetch_error = atomic_load(&um->prefetch_error);
	s->resident = s->present == s->pages;
}

int uffd_memory_wait_resident(struct uffd_memory *um, int timeout_ms)
{
	struct timespec deadline;
	int ret = 0;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	if (timeout_ms >= 0) {
		deadline.tv_sec += timeout_ms / 1000;
		deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
	}
	pthread_mutex_lock(&um->lock);
	while (atomic_load(&um->nr_present) < um->npages) {
		int err = atomic_load(&um->prefetch_error);

		if (err) {
			ret = err;
			break;
		}
		if (timeout_ms < 0) {
			pthread_cond_wait(&um->resident_cond, &um->lock);
		} else if (pthread_cond_timedwait(&um->resident_cond, &um->lock, &deadline) ==
			   ETIMEDOUT) {
			ret = atomic_load(&um->nr_present) < um->npages ? -ETIMEDOUT : 0;
			break;
		}
	}
	pthread_mutex_unlock(&um->lock);
	return ret;
}

/* The background thread prefetches, from now on: a running one is woken
 * from its delay and prefetches after the map; one that ended after the
 * map (prefetch disabled) is replaced by one that finds the map and goes
 * straight to the prefetch. */
int uffd_memory_make_resident(struct uffd_memory *um, int timeout_ms)
{
	bool exited;

	pthread_mutex_lock(&um->lock);
	um->want_prefetch = true;
	um->background_kicked = true;
	exited = um->background_exited;
	um->background_exited = false;
	pthread_cond_broadcast(&um->background_cond);
	pthread_mutex_unlock(&um->lock);
	if (exited && atomic_load(&um->nr_present) < um->npages) {
		int ret;

		pthread_join(um->background_thread, NULL);
		um->background_started = false;
		ret = start_background(um);
		if (ret < 0)
			return ret;
	}
	return uffd_memory_wait_resident(um, timeout_ms);
}

void uffd_memory_stop(struct uffd_memory *um)
{
	struct uffdio_range range;

	if (!um)
		return;
	pthread_mutex_lock(&um->lock);
	atomic_store(&um->stopping, true);
	pthread_cond_broadcast(&um->background_cond);
	pthread_mutex_unlock(&um->lock);
	eventfd_write(um->stop_fd, 1);
	pthread_join(um->fault_thread, NULL);
	if (um->background_started)
		pthread_join(um->background_thread, NULL);
	range = (struct uffdio_range){ .start = (uintptr_t)um->host, .len = um->len };
	/* ENOMEM: the range was unmapped already (a failed start-up); the
	 * close in release() drops the registration anyway. */
	if (ioctl(um->uffd, UFFDIO_UNREGISTER, &range) < 0 && errno != ENOMEM)
		log_syscall_error("UFFDIO_UNREGISTER", errno);
	release(um);
}
