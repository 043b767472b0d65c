/* virtio-blk on the virtio-mmio transport (virtio 1.2 §5.2). See blk.h
 * and docs/virtio-blk.md. */
#include "virtio/blk.h"
#include "virtio/blk_internal.h"

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>

#include "event_loop.h"
#include "log.h"
#include "snapshot/buf.h"

_Static_assert(offsetof(struct virtio_blk_config, blk_size) == 20, "§5.2.4 layout");
_Static_assert(offsetof(struct virtio_blk_config, writeback) == VIRTIO_BLK_CONFIG_WRITEBACK,
	       "§5.2.4 layout");
_Static_assert(offsetof(struct virtio_blk_config, max_discard_sectors) == 36, "§5.2.4 layout");
_Static_assert(offsetof(struct virtio_blk_config, write_zeroes_may_unmap) == 56, "§5.2.4 layout");
_Static_assert(sizeof(struct virtio_blk_config) == 60, "§5.2.4 layout");

/* Rounds of completions, new requests and their completions that
 * virtio_blk_process runs before it returns to the event loop. */
#define BLK_PROCESS_ROUNDS 16

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

static uint8_t status_byte(enum blk_status s)
{
	switch (s) {
	case BLK_STATUS_OK:
		return VIRTIO_BLK_S_OK;
	case BLK_STATUS_UNSUPP:
		return VIRTIO_BLK_S_UNSUPP;
	case BLK_STATUS_IOERR:
	default:
		return VIRTIO_BLK_S_IOERR;
	}
}

static struct blk_slot *slot_take(struct virtio_blk *blk)
{
	struct blk_slot *slot = blk->free_slots;

	if (slot) {
		blk->free_slots = slot->next_free;
		blk->nr_free--;
	}
	return slot;
}

static void slot_put(struct virtio_blk *blk, struct blk_slot *slot)
{
	slot->next_free = blk->free_slots;
	blk->free_slots = slot;
	blk->nr_free++;
}

/* Event-loop thread, device lock held (virtio_device_ops.queue_notify). */
static int blk_queue_notify(void *opaque, struct virtio_mmio *dev, unsigned index)
{
	struct virtio_blk *blk = opaque;
	struct virtq *q = virtio_mmio_queue(dev, index);
	struct virtq_chain *c = &blk->chain;
	unsigned chains = 0;
	int ret = 0;

	blk->stalled = false;
	/* Work that came by notification, or right after the idle poll
	 * gave up: tells the poll whether its window was long enough. */
	if (!blk->polling && virtq_has_available(q))
		idle_poll_work_arrived(&blk->poll);
	for (;;) {
		struct blk_slot *slot;
		enum blk_status refuse;
		uint8_t *status;

		/* At most queue-size chains are in flight per queue epoch, but
		 * requests of an earlier epoch (before a reset) may still hold
		 * slots: then wait for a completion to resume. */
		if (blk->nr_free == 0) {
			blk->stalled = true;
			break;
		}
		/* Refused requests take no slot: a driver re-adding them as
		 * fast as they are used would keep this loop (and the event
		 * loop) here for ever. At most queue-size chains a call, then
		 * come back through our own notification eventfd, after the
		 * loop's other fds. */
		if (chains++ == q->size) {
			/* Fails only with the counter saturated: a wake-up is
			 * pending anyway. */
			(void)eventfd_write(dev->notify_fd[index], 1);
			break;
		}
		/* With requests in flight, their completions bring us back
		 * here (virtio_blk_process), so the driver need not notify:
		 * each notification is a VM exit, and a driver keeping the
		 * queue full would otherwise notify for every few requests.
		 * Likewise while virtio_blk_process is about to poll. */
		virtq_set_notify_off(q, blk->polling || blk_backend_in_flight(blk->backend) != 0);
		ret = virtq_pop(q, c);
		if (ret <= 0)
			break;
		blk->requests++;
		/* The status byte is the last writable byte (§5.2.6). A chain
		 * without one cannot be answered at all: give it back empty
		 * and stop the device (DEVICE_NEEDS_RESET, §2.1.2). */
		if (c->in_len == 0) {
			virtq_push(q, c->head, 0);
			snprintf(q->error, sizeof(q->error),
				 "request at head %u has no device-writable status byte", c->head);
			ret = -EINVAL;
			break;
		}
		{
			const struct virtq_segment *last = &c->seg[c->nr_out + c->nr_in - 1];

			status = (uint8_t *)last->host + last->len - 1;
		}
		slot = slot_take(blk);
		if (blk_parse_request(blk, c, slot, &refuse) == BLK_PARSE_COMPLETE) {
			slot_put(blk, slot);
			blk->bad_requests++;
			*status = status_byte(refuse);
			ret = virtq_push(q, c->head, 1);
			if (ret < 0)
				break;
			continue;
		}
		slot->status = status;
		slot->head = c->head;
		slot->epoch = c->epoch;
		blk_backend_submit(blk->backend, &slot->req);
	}
	blk_backend_unplug(blk->backend);
	return ret < 0 ? ret : 0;
}

/* Back-end completion (event-loop thread, device lock not held): the slot
 * waits on the done list for blk_push_done, which gives the whole batch
 * back under one hold of the device lock. */
static void blk_complete(void *ctx, struct blk_request *req)
{
	struct virtio_blk *blk = ctx;
	struct blk_slot *slot = container_of(req, struct blk_slot, req);

	slot->next_free = NULL;
	*blk->done_tail = slot;
	blk->done_tail = &slot->next_free;
}

/* virtio_mmio_complete_fn, device lock held: status bytes and used
 * elements of the done list, and its slots back to the free list. */
static int blk_push_done(void *opaque, struct virtq *q)
{
	struct virtio_blk *blk = opaque;
	struct blk_slot *slot, *next;
	int ret = 0;

	for (slot = blk->done; slot; slot = next) {
		const struct blk_request *req = &slot->req;
		uint32_t len = 1;
		int r = -ESTALE;

		next = slot->next_free;
		/* used.len counts every byte written into the chain (§2.7.8):
		 * data read or the ID, then the status byte. */
		if (req->op == BLK_OP_READ || req->op == BLK_OP_GET_ID)
			len += req->bytes_written;
		/* Only while the chain still belongs to the queue that popped
		 * it: after a reset the driver may have reused it (-ESTALE,
		 * expected). */
		if (q->ready && q->epoch == slot->epoch) {
			*slot->status = status_byte(req->status);
			r = virtq_push_epoch(q, slot->epoch, slot->head, len);
		}
		if (r < 0 && r != -ESTALE && ret == 0)
			ret = r;
		slot_put(blk, slot);
	}
	blk->done = NULL;
	blk->done_tail = &blk->done;
	return ret;
}

/* idle_poll's has_work: a chain in the ring, or no ring to poll. Under
 * the device lock, taken for each look, so vCPU register accesses never
 * wait longer than one look. */
static bool blk_ring_has_work(void *arg)
{
	struct virtio_blk *blk = arg;
	struct virtq *q = virtio_mmio_queue(&blk->mmio, 0);
	bool work;

	pthread_mutex_lock(&blk->mmio.lock);
	work = !q->ready || virtq_has_available(q);
	pthread_mutex_unlock(&blk->mmio.lock);
	return work;
}

void virtio_blk_process(struct virtio_blk *blk)
{
	for (unsigned round = 1;; round++) {
		blk_backend_process(blk->backend);
		if (!blk->done && !(blk->stalled && blk->nr_free))
			return;
		/* Completions free slots and may end the back-end's busy
		 * period: push them, then look at the ring again, for chains
		 * the driver added without notifying (blk_queue_notify turned
		 * notifications off while requests were in flight) or left
		 * waiting for a slot. */
		blk->polling = true;
		virtio_mmio_service(&blk->mmio, 0, blk_push_done, blk);
		blk->polling = false;
		if (blk_backend_in_flight(blk->backend)) {
			/* Reads the page cache could serve completed during the
			 * submission: go on with them now rather than after a
			 * trip through epoll, a bounded number of times so the
			 * loop's other work is not starved. */
			if (round < BLK_PROCESS_ROUNDS && blk_backend_has_completions(blk->backend))
				continue;
			return;
		}
		break;
	}
	/* Idle, and the driver still told not to notify: poll a while
	 * (idle_poll.h), then pop what came or, with nothing in flight, ask
	 * for notifications again (virtq_pop re-reads the ring after asking:
	 * nothing added meanwhile is missed). */
	idle_poll_run(&blk->poll, blk_ring_has_work, blk);
	virtio_mmio_notify(&blk->mmio, 0);
}

static void blk_backend_ready(void *opaque, int fd, uint32_t events)
{
	(void)fd;
	(void)events;
	virtio_blk_process(opaque);
}

/* `writeback` as the driver sees it: what it wrote, else the default of
 * §5.2.5.2 (writethrough when FLUSH was not negotiated). */
static uint8_t blk_writeback(const struct virtio_blk *blk)
{
	if (blk->writeback_written)
		return blk->writeback;
	return virtio_mmio_has_feature(&blk->mmio, VIRTIO_BLK_F_FLUSH) ? 1 : 0;
}

/* Whether writes must be durable before they complete (§5.2.6.2: FLUSH
 * offered but not negotiated, or writethrough chosen through CONFIG_WCE). */
static void blk_update_cache_mode(struct virtio_blk *blk)
{
	bool writethrough = !virtio_mmio_has_feature(&blk->mmio, VIRTIO_BLK_F_FLUSH) ||
			    (virtio_mmio_has_feature(&blk->mmio, VIRTIO_BLK_F_CONFIG_WCE) &&
			     blk_writeback(blk) == 0);

	blk_backend_set_writethrough(blk->backend, writethrough);
}

static void blk_config_read(void *opaque, uint32_t offset, void *data, unsigned size)
{
	struct virtio_blk *blk = opaque;
	struct virtio_blk_config cfg = blk->config;

	cfg.writeback = blk_writeback(blk);
	/* The transport checked offset + size <= config_size. */
	memcpy(data, (const uint8_t *)&cfg + offset, size);
}

static void blk_config_write(void *opaque, uint32_t offset, const void *data, unsigned size)
{
	struct virtio_blk *blk = opaque;

	/* Only `writeback` is writable, and only with CONFIG_WCE (§5.2.5);
	 * anything else is read-only and the write is ignored. */
	if (offset != VIRTIO_BLK_CONFIG_WRITEBACK || size != 1 ||
	    !virtio_mmio_has_feature(&blk->mmio, VIRTIO_BLK_F_CONFIG_WCE))
		return;
	blk->writeback = *(const uint8_t *)data ? 1 : 0;
	blk->writeback_written = true;
	blk_update_cache_mode(blk);
}

static int blk_activate(void *opaque, struct virtio_mmio *dev)
{
	(void)dev;
	blk_update_cache_mode(opaque);
	return 0;
}

static void blk_reset(void *opaque)
{
	struct virtio_blk *blk = opaque;

	/* Requests in the back-end finish on their own; their completions
	 * carry the old epoch and are dropped. */
	blk->writeback_written = false;
	blk->writeback = 0;
}

/* Snapshots: every request the back-end holds is finished and pushed
 * before the state is saved (event-loop thread, VM paused, lock not
 * held), so a restored disk has nothing in flight and the guest sees each
 * request complete exactly once. */
#define BLK_QUIESCE_TIMEOUT_MS 30000

static int blk_quiesce(void *opaque, struct virtio_mmio *dev)
{
	struct virtio_blk *blk = opaque;
	struct pollfd pfd = { .fd = blk_backend_fd(blk->backend), .events = POLLIN };
	int waited = 0;

	(void)dev;
	while (blk_backend_in_flight(blk->backend) || (blk->stalled && blk->nr_free)) {
		if (waited >= BLK_QUIESCE_TIMEOUT_MS) {
			log_error("disk %s: %u requests still in flight after %d s", blk->name,
				  blk_backend_in_flight(blk->backend), BLK_QUIESCE_TIMEOUT_MS / 1000);
			return -ETIMEDOUT;
		}
		if (poll(&pfd, 1, 10) < 0 && errno != EINTR)
			return log_syscall_error("poll(disk completions)", errno);
		waited += 10;
		virtio_blk_process(blk);
	}
	return 0;
}

static void blk_state_save(void *opaque, struct snap_buf *out)
{
	struct virtio_blk *blk = opaque;

	snap_buf_put_u8(out, blk->writeback_written);
	snap_buf_put_u8(out, blk->writeback);
}

static int blk_state_load(void *opaque, const uint8_t *data, size_t len, char *err, size_t errlen)
{
	struct virtio_blk *blk = opaque;
	struct snap_cursor c;

	snap_cursor_init(&c, data, len);
	blk->writeback_written = snap_get_u8(&c) != 0;
	blk->writeback = snap_get_u8(&c) ? 1 : 0;
	if (!snap_cursor_done(&c)) {
		snprintf(err, errlen, "disk %s: device state of %zu bytes does not decode", blk->name,
			 len);
		return -EINVAL;
	}
	return 0;
}

static const struct virtio_device_ops blk_ops_template = {
	.name = "virtio-blk",
	.device_id = VIRTIO_ID_BLOCK,
	.nr_queues = 1,
	.queue_size_max = VIRTIO_BLK_QUEUE_SIZE,
	.config_size = sizeof(struct virtio_blk_config),
	.config_read = blk_config_read,
	.config_write = blk_config_write,
	.activate = blk_activate,
	.queue_notify = blk_queue_notify,
	.reset = blk_reset,
	.quiesce = blk_quiesce,
	.state_save = blk_state_save,
	.state_load = blk_state_load,
};

static unsigned log2_u32(uint32_t v)
{
	unsigned n = 0;

	while (v > 1) {
		v >>= 1;
		n++;
	}
	return n;
}

static void blk_fill_config(struct virtio_blk *blk)
{
	uint32_t per_block = blk_backend_block_size(blk->backend) / BLK_SECTOR_SIZE;

	blk->config = (struct virtio_blk_config){
		.capacity = blk_backend_capacity(blk->backend),
		.seg_max = VIRTIO_BLK_SEG_MAX,
		/* Logical blocks of 512 bytes; the file system's block as the
		 * physical block, so guests align to it. */
		.blk_size = BLK_SECTOR_SIZE,
		.physical_block_exp = (uint8_t)log2_u32(per_block),
		.min_io_size = (uint16_t)per_block,
		.num_queues = 1,
		.max_discard_sectors = VIRTIO_BLK_MAX_DWZ_SECTORS,
		.max_discard_seg = VIRTIO_BLK_MAX_DWZ_SEG,
		.discard_sector_alignment = per_block,
		.max_write_zeroes_sectors = VIRTIO_BLK_MAX_DWZ_SECTORS,
		.max_write_zeroes_seg = VIRTIO_BLK_MAX_DWZ_SEG,
		/* Write zeroes with unmap punches a hole (blk_backend.c). */
		.write_zeroes_may_unmap = 1,
	};
}

int virtio_blk_init(struct virtio_blk *blk, const struct guest_memory *mem, uint64_t base,
		    unsigned gsi, struct blk_backend *backend, const char *name)
{
	int ret;

	memset(blk, 0, sizeof(*blk));
	blk->backend = backend;
	blk->name = name;
	blk->done_tail = &blk->done;
	idle_poll_init(&blk->poll);
	blk_backend_set_completion(backend, blk_complete, blk);
	blk_fill_config(blk);
	blk->ops = blk_ops_template;
	blk->ops.features = 1ULL << VIRTIO_BLK_F_SEG_MAX | 1ULL << VIRTIO_BLK_F_BLK_SIZE |
			    1ULL << VIRTIO_BLK_F_FLUSH | 1ULL << VIRTIO_BLK_F_TOPOLOGY |
			    1ULL << VIRTIO_BLK_F_CONFIG_WCE;
	/* A read-only disk says so and offers nothing that writes. */
	if (blk_backend_read_only(backend))
		blk->ops.features |= 1ULL << VIRTIO_BLK_F_RO;
	else
		blk->ops.features |= 1ULL << VIRTIO_BLK_F_DISCARD |
				     1ULL << VIRTIO_BLK_F_WRITE_ZEROES;

	blk->slots = calloc(VIRTIO_BLK_QUEUE_SIZE, sizeof(*blk->slots));
	if (!blk->slots) {
		ret = -ENOMEM;
		log_error("disk %s: cannot allocate its request slots", name);
		goto close_backend;
	}
	for (unsigned i = 0; i < VIRTIO_BLK_QUEUE_SIZE; i++)
		slot_put(blk, &blk->slots[i]);
	ret = virtio_mmio_init(&blk->mmio, &blk->ops, blk, mem, base, gsi);
	if (ret < 0) {
		log_error("disk %s: virtio_mmio_init: %s", name, strerror(-ret));
		goto free_slots;
	}
	return 0;

free_slots:
	free(blk->slots);
	blk->slots = NULL;
close_backend:
	blk_backend_close(backend);
	blk->backend = NULL;
	return ret;
}

int virtio_blk_attach(struct virtio_blk *blk, struct vm *vm, struct event_loop *loop)
{
	int ret = virtio_mmio_attach(&blk->mmio, vm, loop);

	if (ret < 0)
		return ret;
	ret = event_loop_add(loop, blk_backend_fd(blk->backend), blk_backend_ready, blk);
	if (ret < 0) {
		log_error("disk %s: event_loop_add: %s", blk->name, strerror(-ret));
		return ret;
	}
	blk->loop = loop;
	blk->attached = true;
	return 0;
}

void virtio_blk_destroy(struct virtio_blk *blk)
{
	if (blk->attached)
		event_loop_remove(blk->loop, blk_backend_fd(blk->backend));
	blk->attached = false;
	virtio_mmio_destroy(&blk->mmio);
	/* Waits for I/O still in the kernel: it targets guest RAM. */
	blk_backend_close(blk->backend);
	blk->backend = NULL;
	free(blk->slots);
	blk->slots = NULL;
}
