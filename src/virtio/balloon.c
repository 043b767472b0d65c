/* virtio-balloon (virtio 1.2 §5.5). See balloon.h and docs/virtio-balloon.md. */
#include "virtio/balloon.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "event_loop.h"
#include "log.h"
#include "snapshot/buf.h"

/* PFNs are read from the chain in batches of this many. */
#define PFN_BATCH 256

/* A run of inflated pages, contiguous in the memfd, not yet discarded. */
struct pfn_walk {
	struct virtio_balloon *b;
	bool inflate;
	uint64_t off;                /* byte offset into guest RAM (= the memfd) */
	uint64_t len;                /* 0: no run */
};

/* RAM restored from a snapshot is the memory file mapped MAP_PRIVATE
 * (memory.h): punching the file would change the snapshot (it is open
 * read-only anyway). MADV_DONTNEED drops our copy-on-write copies, which
 * frees what the guest wrote since the restore; the pages it never wrote
 * are the file's page cache, shared and reclaimable. The guest then reads
 * the snapshot's contents there again, not zeros: balloon pages have no
 * defined contents once deflated (virtio 1.2 §5.5.6: without
 * VIRTIO_BALLOON_F_PAGE_POISON, which we do not offer, the driver may not
 * expect any). A fresh anonymous mapping over each run would read as
 * zeros, but splits the mapping: a guest inflating every other page
 * would reach vm.max_map_count and every later mmap in the VMM would
 * fail. KVM follows through its MMU notifier either way. */
static int drop_private_copies(uint8_t *host, uint64_t len)
{
	return madvise(host, len, MADV_DONTNEED);
}

/* Give [off, off + len) of guest RAM back to the host. On the memfd a
 * punched hole frees the pages and unmaps them everywhere (our mapping and
 * KVM's, through its MMU notifier); madvise(MADV_DONTNEED) alone would only
 * drop our mapping of shmem pages and free nothing. Anonymous RAM (unit
 * tests) is freed by MADV_DONTNEED. Both read zeros afterwards; restored
 * RAM reads the snapshot's contents (drop_private_copies). */
static void discard(struct virtio_balloon *b, uint64_t off, uint64_t len)
{
	const struct guest_memory *mem = b->mem;
	int ret;

	if (mem->private_file)
		ret = drop_private_copies(mem->host + off, len);
	else if (mem->fd >= 0)
		ret = fallocate(mem->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
				(off_t)len);
	else
		ret = madvise(mem->host + off, len, MADV_DONTNEED);
	if (ret == 0) {
		b->st.released_bytes += len;
		return;
	}
	/* The pages stay allocated; the guest is not at fault. */
	b->st.discard_errors++;
	if (!b->discard_error_logged)
		log_warn("virtio-balloon at 0x%llx: %s(offset 0x%llx, %llu bytes): %s (logged once)",
			 (unsigned long long)b->mmio.base,
			 mem->fd >= 0 && !mem->private_file ? "fallocate" : "madvise",
			 (unsigned long long)off, (unsigned long long)len, strerror(errno));
	b->discard_error_logged = true;
}

static void walk_flush(struct pfn_walk *w)
{
	if (w->len)
		discard(w->b, w->off, w->len);
	w->len = 0;
}

/* One PFN from the driver: any 32-bit value. A PFN that is not a whole
 * page of RAM (beyond the end, in the device hole) is ignored and counted:
 * it is not a virtqueue error (§2.7 has nothing to say about what a
 * buffer holds), the driver gains nothing by it, and QEMU does the same. */
static void walk_pfn(struct pfn_walk *w, uint32_t pfn)
{
	struct virtio_balloon *b = w->b;
	uint64_t gpa = (uint64_t)pfn << VIRTIO_BALLOON_PFN_SHIFT, off, page;
	uint8_t *host = guest_memory_ptr(b->mem, gpa, VIRTIO_BALLOON_PAGE_SIZE);
	uint8_t mask;

	if (!host) {
		b->st.invalid_pfns++;
		return;
	}
	off = (uint64_t)(host - b->mem->host);
	page = off >> VIRTIO_BALLOON_PFN_SHIFT;
	mask = (uint8_t)(1u << (page & 7));
	if (!w->inflate) {
		b->st.deflated_pages++;
		if (b->in_balloon[page >> 3] & mask) {
			b->in_balloon[page >> 3] &= (uint8_t)~mask;
			b->st.balloon_pages--;
		}
		return;
	}
	b->st.inflated_pages++;
	if (!(b->in_balloon[page >> 3] & mask)) {
		b->in_balloon[page >> 3] |= mask;
		b->st.balloon_pages++;
	}
	/* Coalesce ascending runs (what drivers send) into one fallocate;
	 * a page the run already covers needs nothing. */
	if (w->len && off >= w->off && off - w->off < w->len)
		return;
	if (w->len && off == w->off + w->len) {
		w->len += VIRTIO_BALLOON_PAGE_SIZE;
		return;
	}
	walk_flush(w);
	w->off = off;
	w->len = VIRTIO_BALLOON_PAGE_SIZE;
}

/* The device-readable part of an inflate or deflate buffer is an array of
 * le32 PFNs (§5.5.6); a trailing partial entry is ignored, and so are
 * device-writable buffers (nothing is written to them, the used length is
 * 0). Returns the PFNs looked at. */
static unsigned process_buffer(struct virtio_balloon *b, const struct virtq_chain *chain,
			       bool inflate)
{
	struct pfn_walk w = { .b = b, .inflate = inflate };
	uint32_t pfns[PFN_BATCH];
	uint32_t total = chain->out_len / 4;
	uint32_t n = total < VIRTIO_BALLOON_MAX_PFNS_PER_BUFFER ? total :
		     VIRTIO_BALLOON_MAX_PFNS_PER_BUFFER;

	b->st.ignored_pfns += total - n;
	for (uint32_t done = 0; done < n;) {
		uint32_t k = n - done < PFN_BATCH ? n - done : PFN_BATCH;

		/* One copy out of guest memory: the driver may be rewriting
		 * the array while we look at it; we use what we read. */
		virtq_chain_read(chain, (size_t)done * 4, pfns, (size_t)k * 4);
		for (uint32_t i = 0; i < k; i++)
			walk_pfn(&w, pfns[i]);
		done += k;
	}
	walk_flush(&w);
	return n;
}

/* The event loop calls back for the rest of the ring (queue.h: with
 * EVENT_IDX no notification may come until we have seen it empty). */
static void resume_later(struct virtio_mmio *dev, unsigned index)
{
	uint64_t one = 1;

	if (write(dev->notify_fd[index], &one, sizeof(one)) < 0)
		(void)0;  /* the counter is saturated: a wake-up is pending anyway */
}

/* Two budgets per call: PFNs (the work a buffer asks for) and chains, for
 * buffers that ask for none (short, device-writable): a driver re-adding
 * each as soon as it is used would otherwise keep this loop, and the
 * event loop with it, going for ever. */
static int pages_notify(struct virtio_balloon *b, struct virtio_mmio *dev, unsigned index)
{
	struct virtq *q = virtio_mmio_queue(dev, index);
	struct virtq_chain chain;
	unsigned done = 0;
	int ret;

	for (unsigned chains = 0;; chains++) {
		if (done >= VIRTIO_BALLOON_PFN_BUDGET || chains >= q->size) {
			resume_later(dev, index);
			return 0;
		}
		ret = virtq_pop(q, &chain);
		if (ret <= 0)
			return ret;
		/* §5.5.6: pages are released before the buffer is used, the
		 * one window in which the device may change their contents
		 * without MUST_TELL_HOST. */
		done += process_buffer(b, &chain, index == VIRTIO_BALLOON_INFLATEQ);
		ret = virtq_push(q, chain.head, 0);
		if (ret < 0)
			return ret;
	}
}

/* §5.5.6.3: entries of le16 tag + le64 value, packed, in any order;
 * unknown tags ignored; a trailing partial entry is ignored. */
static void parse_stats(struct virtio_balloon *b, const struct virtq_chain *chain)
{
	uint8_t buf[VIRTIO_BALLOON_MAX_STAT_ENTRIES * VIRTIO_BALLOON_STAT_ENTRY_SIZE];
	uint32_t n = chain->out_len / VIRTIO_BALLOON_STAT_ENTRY_SIZE;

	if (n > VIRTIO_BALLOON_MAX_STAT_ENTRIES)
		n = VIRTIO_BALLOON_MAX_STAT_ENTRIES;
	virtq_chain_read(chain, 0, buf, (size_t)n * VIRTIO_BALLOON_STAT_ENTRY_SIZE);
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *e = buf + i * VIRTIO_BALLOON_STAT_ENTRY_SIZE;
		uint16_t tag;
		uint64_t val;

		memcpy(&tag, e, sizeof(tag));
		memcpy(&val, e + 2, sizeof(val));
		if (tag >= VIRTIO_BALLOON_S_NR)
			continue;
		b->st.stat[tag] = val;
		b->st.stat_valid[tag] = true;
	}
	b->st.stats_updates++;
}

/* The driver (re)filled its stats buffer: read it and keep it until we
 * want fresh values. A driver keeps one buffer there (§5.5.6.3); should it
 * add another, the older one goes back at once, so at most one is held. */
static int stats_notify(struct virtio_balloon *b, struct virtio_mmio *dev)
{
	struct virtq *q = virtio_mmio_queue(dev, VIRTIO_BALLOON_STATSQ);
	struct virtq_chain chain;
	int ret;

	/* Without STATS_VQ the queue does not exist (§5.5.2). */
	if (!virtio_mmio_has_feature(dev, VIRTIO_BALLOON_F_STATS_VQ))
		return 0;
	/* At most queue-size chains a call: each pop gives the previous one
	 * back, so a driver re-adding it at once could cycle two for ever. */
	for (unsigned chains = 0;; chains++) {
		if (chains >= q->size) {
			resume_later(dev, VIRTIO_BALLOON_STATSQ);
			return 0;
		}
		ret = virtq_pop(q, &chain);
		if (ret <= 0)
			break;
		parse_stats(b, &chain);
		if (b->stats_held) {
			ret = virtq_push_epoch(q, b->stats_epoch, b->stats_head, 0);
			if (ret < 0 && ret != -ESTALE)
				return ret;
		}
		b->stats_held = true;
		b->stats_head = chain.head;
		b->stats_epoch = chain.epoch;
	}
	return ret;
}

static int balloon_queue_notify(void *opaque, struct virtio_mmio *dev, unsigned index)
{
	struct virtio_balloon *b = opaque;

	if (index == VIRTIO_BALLOON_STATSQ)
		return stats_notify(b, dev);
	return pages_notify(b, dev, index);
}

/* §5.5.4: num_pages is the device's (a driver's write is ignored), actual
 * the driver's; any width the transport allows, byte-wise. */
static void balloon_config_read(void *opaque, uint32_t offset, void *data, unsigned size)
{
	struct virtio_balloon *b = opaque;
	uint32_t cfg[2] = { b->st.num_pages, b->st.actual };

	memcpy(data, (const uint8_t *)cfg + offset, size);
}

static void balloon_config_write(void *opaque, uint32_t offset, const void *data, unsigned size)
{
	struct virtio_balloon *b = opaque;
	uint32_t cfg[2] = { b->st.num_pages, b->st.actual };

	memcpy((uint8_t *)cfg + offset, data, size);
	b->st.actual = cfg[1];
}

/* Status 0: the driver starts over. The stats buffer it gave is gone (its
 * queue epoch too), and so is its balloon: pages it had inflated stay
 * released on the host but are ordinary (zero) guest RAM to a new driver. */
static void balloon_reset(void *opaque)
{
	struct virtio_balloon *b = opaque;

	b->stats_held = false;
	b->st.actual = 0;
	if (b->st.balloon_pages)
		memset(b->in_balloon, 0, (size_t)((b->nr_pages + 7) / 8));
	b->st.balloon_pages = 0;
}

/* ---- snapshots (docs/snapshots.md) ---- */

/* The stats buffer the device holds (§5.5.6.3) is a chain popped and not
 * used: in flight, which a snapshot cannot carry. Using it would be
 * correct too (a stats request), but the guest would see the snapshot.
 * Instead it goes back to the available ring, untouched: the driver still
 * owns nothing new, the saved queue position is just before it, and the
 * next notification pops it again and holds it, as when the driver first
 * gave it -- in this process once the snapshot is written (with
 * then=continue), and in a restored one, whose transport looks at every
 * ready queue once. It is the newest chain popped from that queue
 * (stats_notify gives older ones back at once), so one unpop is it. */
static int balloon_quiesce(void *opaque, struct virtio_mmio *dev)
{
	struct virtio_balloon *b = opaque;
	struct virtq *q = virtio_mmio_queue(dev, VIRTIO_BALLOON_STATSQ);
	bool rehold = false;

	pthread_mutex_lock(&dev->lock);
	if (b->stats_held && q->ready && b->stats_epoch == q->epoch && q->in_flight == 1)
		rehold = virtq_unpop(q, 1) == 0;
	/* A chain of an older epoch is gone with its queue: not ours. */
	b->stats_held = false;
	pthread_mutex_unlock(&dev->lock);
	if (rehold)
		resume_later(dev, VIRTIO_BALLOON_STATSQ);
	return 0;
}

/* num_pages, actual, and which pages are in the balloon: the count and,
 * if any, the bitmap (a bit per 4 KiB of RAM: 32 KiB per GiB). The
 * counters and the latest statistics are host-side figures, not saved;
 * the held stats buffer is re-read when it is held again. */
static void balloon_state_save(void *opaque, struct snap_buf *out)
{
	struct virtio_balloon *b = opaque;

	snap_buf_put_u32(out, b->st.num_pages);
	snap_buf_put_u32(out, b->st.actual);
	snap_buf_put_u64(out, b->nr_pages);
	snap_buf_put_u64(out, b->st.balloon_pages);
	if (b->st.balloon_pages)
		snap_buf_put(out, b->in_balloon, (size_t)((b->nr_pages + 7) / 8));
}

static int balloon_state_load(void *opaque, const uint8_t *data, size_t len, char *err,
			      size_t errlen)
{
	struct virtio_balloon *b = opaque;
	size_t bytes = (size_t)((b->nr_pages + 7) / 8);
	uint64_t nr_pages, count, set = 0;
	struct snap_cursor c;

	snap_cursor_init(&c, data, len);
	b->st.num_pages = snap_get_u32(&c);
	b->st.actual = snap_get_u32(&c);
	nr_pages = snap_get_u64(&c);
	count = snap_get_u64(&c);
	if (count)
		snap_get(&c, b->in_balloon, bytes);
	if (!snap_cursor_done(&c) || nr_pages != b->nr_pages || count > nr_pages) {
		snprintf(err, errlen, "virtio-balloon: %zu bytes of state for %llu pages of RAM do not decode (this RAM has %llu)",
			 len, (unsigned long long)nr_pages, (unsigned long long)b->nr_pages);
		goto clear;
	}
	/* The count is the bitmap's, and no bit lies beyond the RAM. */
	for (size_t i = 0; count && i < bytes; i++)
		set += (uint64_t)__builtin_popcount(b->in_balloon[i]);
	if (set != count || (count && (b->nr_pages & 7) &&
			     (b->in_balloon[bytes - 1] >> (b->nr_pages & 7)))) {
		snprintf(err, errlen, "virtio-balloon: the page bitmap holds %llu pages, the count says %llu",
			 (unsigned long long)set, (unsigned long long)count);
		goto clear;
	}
	b->st.balloon_pages = count;
	return 0;

clear:
	memset(b->in_balloon, 0, bytes);
	return -EINVAL;
}

#define BALLOON_OPS(feature_bits) {                                  \
	.name = "virtio-balloon",                                    \
	.device_id = VIRTIO_ID_BALLOON,                              \
	.features = (feature_bits),                                  \
	.nr_queues = 3,                                              \
	.queue_size_max = VIRTIO_BALLOON_QUEUE_SIZE,                 \
	.config_size = VIRTIO_BALLOON_CONFIG_SIZE,                   \
	.config_read = balloon_config_read,                          \
	.config_write = balloon_config_write,                        \
	.queue_notify = balloon_queue_notify,                        \
	.reset = balloon_reset,                                      \
	.quiesce = balloon_quiesce,                                  \
	.state_save = balloon_state_save,                            \
	.state_load = balloon_state_load,                            \
}

static const struct virtio_device_ops balloon_ops[2] = {
	BALLOON_OPS(1ULL << VIRTIO_BALLOON_F_STATS_VQ),
	BALLOON_OPS((1ULL << VIRTIO_BALLOON_F_STATS_VQ) |
		    (1ULL << VIRTIO_BALLOON_F_DEFLATE_ON_OOM)),
};

int virtio_balloon_init(struct virtio_balloon *b, const struct guest_memory *mem, uint64_t base,
			unsigned gsi, const struct virtio_balloon_options *opts)
{
	int ret;

	memset(b, 0, sizeof(*b));
	b->timer_fd = -1;
	b->mem = mem;
	b->stats_interval = opts->stats_interval;
	b->st.num_pages = opts->target_pages;
	b->nr_pages = mem->size >> VIRTIO_BALLOON_PFN_SHIFT;
	/* A bit per page: 32 KiB per GiB of RAM, in pages calloc takes
	 * fresh from mmap, so untouched parts cost nothing. */
	b->in_balloon = calloc((size_t)((b->nr_pages + 7) / 8) + 1, 1);
	if (!b->in_balloon)
		return -ENOMEM;
	ret = virtio_mmio_init(&b->mmio, &balloon_ops[opts->deflate_on_oom ? 1 : 0], b, mem, base,
			       gsi);
	if (ret < 0)
		goto free_bitmap;
	return 0;

free_bitmap:
	free(b->in_balloon);
	b->in_balloon = NULL;
	return ret;
}

static void on_stats_timer(void *opaque, int fd, uint32_t events)
{
	uint64_t expirations;

	(void)events;
	if (read(fd, &expirations, sizeof(expirations)) < 0)
		return;
	/* -EAGAIN: the driver has not given its buffer back yet. */
	virtio_balloon_request_stats(opaque);
}

static int start_stats_timer(struct virtio_balloon *b, struct event_loop *loop)
{
	struct itimerspec every = {
		.it_interval = { .tv_sec = b->stats_interval },
		.it_value = { .tv_sec = b->stats_interval },
	};
	int ret;

	b->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (b->timer_fd < 0)
		return log_syscall_error("timerfd_create(virtio-balloon stats)", errno);
	if (timerfd_settime(b->timer_fd, 0, &every, NULL) < 0)
		return log_syscall_error("timerfd_settime(virtio-balloon stats)", errno);
	ret = event_loop_add(loop, b->timer_fd, on_stats_timer, b);
	if (ret < 0)
		return log_syscall_error("epoll_ctl(virtio-balloon stats timer)", -ret);
	b->loop = loop;
	return 0;
}

int virtio_balloon_attach(struct virtio_balloon *b, struct vm *vm, struct event_loop *loop)
{
	int ret = virtio_mmio_attach(&b->mmio, vm, loop);

	if (ret < 0 || b->stats_interval == 0)
		return ret;
	return start_stats_timer(b, loop);
}

void virtio_balloon_destroy(struct virtio_balloon *b)
{
	if (b->loop)
		event_loop_remove(b->loop, b->timer_fd);
	b->loop = NULL;
	if (b->timer_fd >= 0)
		close(b->timer_fd);
	b->timer_fd = -1;
	virtio_mmio_destroy(&b->mmio);
	free(b->in_balloon);
	b->in_balloon = NULL;
}

void virtio_balloon_set_target(struct virtio_balloon *b, uint32_t pages)
{
	pthread_mutex_lock(&b->mmio.lock);
	b->st.num_pages = pages;
	virtio_mmio_config_changed(&b->mmio);
	pthread_mutex_unlock(&b->mmio.lock);
}

int virtio_balloon_request_stats(struct virtio_balloon *b)
{
	uint32_t running = VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_DEVICE_NEEDS_RESET;
	bool held;
	uint16_t head = 0;
	uint32_t epoch = 0;
	int ret;

	pthread_mutex_lock(&b->mmio.lock);
	held = b->stats_held && (b->mmio.status & running) == VIRTIO_STATUS_DRIVER_OK;
	if (held) {
		b->stats_held = false;
		head = b->stats_head;
		epoch = b->stats_epoch;
		b->st.stats_requests++;
	}
	pthread_mutex_unlock(&b->mmio.lock);
	if (!held)
		return -EAGAIN;
	/* Pushes and interrupts under the lock; -ESTALE if the driver reset
	 * the queue in between. */
	ret = virtio_mmio_complete(&b->mmio, VIRTIO_BALLOON_STATSQ, epoch, head, 0);
	return ret == -ESTALE ? -EAGAIN : ret;
}

void virtio_balloon_get_stats(struct virtio_balloon *b, struct virtio_balloon_stats *out)
{
	pthread_mutex_lock(&b->mmio.lock);
	*out = b->st;
	pthread_mutex_unlock(&b->mmio.lock);
}

static const char *const stat_names[VIRTIO_BALLOON_S_NR] = {
	"swap_in", "swap_out", "major_faults", "minor_faults", "free_memory", "total_memory",
	"available_memory", "disk_caches", "hugetlb_allocations", "hugetlb_failures",
	/* Linux's additions. */
	"oom_kills", "alloc_stalls", "async_scans", "direct_scans", "async_reclaims",
	"direct_reclaims",
};

void virtio_balloon_print_stats(struct virtio_balloon *b, FILE *out)
{
	struct virtio_balloon_stats s;

	virtio_balloon_get_stats(b, &s);
	fprintf(out, "virtio-balloon: target %u pages, actual %u, in balloon %llu; inflated %llu pages, deflated %llu, released %llu bytes\n",
		s.num_pages, s.actual, (unsigned long long)s.balloon_pages,
		(unsigned long long)s.inflated_pages, (unsigned long long)s.deflated_pages,
		(unsigned long long)s.released_bytes);
	fprintf(out, "virtio-balloon: ignored PFNs: %llu outside RAM, %llu over the per-buffer limit; %llu discard errors\n",
		(unsigned long long)s.invalid_pfns, (unsigned long long)s.ignored_pfns,
		(unsigned long long)s.discard_errors);
	fprintf(out, "virtio-balloon: stats: %llu updates, %llu requests",
		(unsigned long long)s.stats_updates, (unsigned long long)s.stats_requests);
	for (unsigned i = 0; i < VIRTIO_BALLOON_S_NR; i++)
		if (s.stat_valid[i])
			fprintf(out, ", %s %llu", stat_names[i], (unsigned long long)s.stat[i]);
	fputc('\n', out);
}
