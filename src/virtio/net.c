/* virtio-net on a TAP back-end (virtio 1.2 §5.1). See net.h and
 * docs/virtio-net.md. */
#include "virtio/net.h"

#include <errno.h>
#include <linux/if_tun.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "event_loop.h"
#include "log.h"
#include "snapshot/buf.h"

#define HDR_SIZE sizeof(struct virtio_net_hdr)

_Static_assert(sizeof(struct virtio_net_hdr) == 12, "§5.1.6: virtio_net_hdr with num_buffers");
_Static_assert(sizeof(struct virtio_net_config) == 10, "§5.1.4 layout up to max_virtqueue_pairs");
_Static_assert(offsetof(struct virtio_net_hdr, num_buffers) == 10, "§5.1.6 layout");

#define BIT(n) (1ULL << (n))

/* Offloads the TAP can take from the guest (its frames keep partial
 * checksums and TSO) and give to it; offered only with a real TAP. */
#define NET_OFFLOAD_FEATURES                                                   \
	(BIT(VIRTIO_NET_F_CSUM) | BIT(VIRTIO_NET_F_HOST_TSO4) |                \
	 BIT(VIRTIO_NET_F_HOST_TSO6) | BIT(VIRTIO_NET_F_HOST_ECN) |            \
	 BIT(VIRTIO_NET_F_GUEST_CSUM) | BIT(VIRTIO_NET_F_GUEST_TSO4) |         \
	 BIT(VIRTIO_NET_F_GUEST_TSO6) | BIT(VIRTIO_NET_F_GUEST_ECN))

static bool has(const struct virtio_net *net, unsigned bit)
{
	return virtio_mmio_has_feature(&net->mmio, bit);
}

/* Lock held, event-loop thread. Watch the TAP for what the device can
 * act on now: EPOLLIN while the driver is live and no frame already waits
 * for buffers (level-triggered epoll would otherwise wake the loop again
 * and again for a frame we cannot place); EPOLLOUT only while a transmit
 * waits for the kernel (a TAP is almost always writable). */
static void update_interest(struct virtio_net *net)
{
	const struct virtio_mmio *dev = &net->mmio;
	bool live = (dev->status & (VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_DEVICE_NEEDS_RESET)) ==
		    VIRTIO_STATUS_DRIVER_OK;
	uint32_t want = 0;
	int ret;

	if (live && dev->queues[VIRTIO_NET_RX_QUEUE].ready && !net->rx_blocked)
		want |= EPOLLIN;
	if (live && dev->queues[VIRTIO_NET_TX_QUEUE].ready && net->tx_blocked)
		want |= EPOLLOUT;
	if (want == net->tap_events)
		return;
	net->tap_events = want;
	if (!net->tap_watched)
		return;
	ret = event_loop_modify(net->loop, net->tap.fd, want);
	if (ret < 0)
		log_warn("virtio-net %s: epoll_ctl(MOD, 0x%x): %s", net->tap.name, want, strerror(-ret));
}

/* Host address of byte `offset` of the chain's writable stream (which the
 * caller checked is longer than offset). */
static uint8_t *in_byte(const struct virtq_chain *c, uint32_t offset)
{
	for (unsigned i = c->nr_out; i < c->nr_out + c->nr_in; i++) {
		if (offset < c->seg[i].len)
			return (uint8_t *)c->seg[i].host + offset;
		offset -= c->seg[i].len;
	}
	return NULL;
}

/* §5.1.6.4.1: a frame from the TAP goes to the guest only with the
 * offloads it negotiated (the TAP follows TUNSETOFFLOAD, but frames queued
 * before a reset were made for the previous driver). */
static bool rx_header_acceptable(const struct virtio_net *net, const struct virtio_net_hdr *h)
{
	uint8_t gso = h->gso_type & ~VIRTIO_NET_HDR_GSO_ECN;

	if ((h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && !has(net, VIRTIO_NET_F_GUEST_CSUM))
		return false;
	if ((h->gso_type & VIRTIO_NET_HDR_GSO_ECN) && !has(net, VIRTIO_NET_F_GUEST_ECN))
		return false;
	switch (gso) {
	case VIRTIO_NET_HDR_GSO_NONE: return !(h->gso_type & VIRTIO_NET_HDR_GSO_ECN);
	case VIRTIO_NET_HDR_GSO_TCPV4: return has(net, VIRTIO_NET_F_GUEST_TSO4);
	case VIRTIO_NET_HDR_GSO_TCPV6: return has(net, VIRTIO_NET_F_GUEST_TSO6);
	default: return false;   /* UFO and USO are not offered */
	}
}

/* Read one frame from the TAP into rx_frame. Returns 1 (rx_pending set),
 * 0 (nothing queued), or -errno (the back-end failed). Frames the guest
 * cannot take are dropped here and the next one is read. */
static int rx_read(struct virtio_net *net, struct virtq *q)
{
	const size_t cap = HDR_SIZE + VIRTIO_NET_MAX_FRAME + 1;
	struct iovec iov = { net->rx_frame, cap };

	for (unsigned tries = 0; tries < q->size; tries++) {
		struct virtio_net_hdr hdr;
		ssize_t n = net_tap_read(&net->tap, &iov, 1);

		if (n == -EAGAIN)
			return 0;
		if (n < 0) {
			snprintf(q->error, sizeof(q->error), "reading TAP %s: %s", net->tap.name,
				 strerror((int)-n));
			return (int)n;
		}
		memcpy(&hdr, net->rx_frame, n < (ssize_t)HDR_SIZE ? (size_t)n : HDR_SIZE);
		if ((size_t)n >= cap || (size_t)n < HDR_SIZE + VIRTIO_NET_MIN_FRAME ||
		    !rx_header_acceptable(net, &hdr)) {
			net->stats.rx_dropped++;
			continue;
		}
		/* DATA_VALID is the device's to set (§5.1.6.4.1); the kernel's
		 * flags pass as they are, num_buffers is ours. */
		net->rx_pending = (uint32_t)n;
		return 1;
	}
	return 0;   /* budget spent on dropped frames: EPOLLIN comes back */
}

/* Put the pending frame into receive buffers: one chain, or with
 * MRG_RXBUF as many as it takes (§5.1.6.4: num_buffers in the first
 * says how many). Returns the chains used (> 0), 0 if the driver has not
 * posted enough buffers yet (nothing consumed; the frame stays pending),
 * or -errno for a malformed chain. A frame that can never fit (larger
 * than a buffer without MRG_RXBUF, or than the whole ring) is dropped and
 * 0 chains are used: returns -EAGAIN then, to read the next frame. */
static int rx_place(struct virtio_net *net, struct virtq *q)
{
	struct virtq_chain *c = &net->chain;
	bool mrg = has(net, VIRTIO_NET_F_MRG_RXBUF);
	uint16_t heads[VIRTQ_MAX_SIZE];
	uint32_t lens[VIRTQ_MAX_SIZE], off = 0;
	uint8_t *num_buffers[2] = { NULL, NULL };
	unsigned used = 0;
	int ret;

	while (off < net->rx_pending) {
		uint32_t take;

		if (used == q->size) {
			/* All the ring holds is not enough: it never will be. */
			virtq_unpop(q, (uint16_t)used);
			net->stats.rx_dropped++;
			net->rx_pending = 0;
			return -EAGAIN;
		}
		ret = virtq_pop(q, c);
		if (ret == 0) {
			virtq_unpop(q, (uint16_t)used);
			return 0;
		}
		if (ret < 0)
			goto give_back;
		heads[used] = c->head;
		lens[used++] = 0;
		/* §5.1.6.3.1 (driver): receive buffers are device-writable and
		 * each holds at least the header. */
		if (c->nr_out || c->in_len < HDR_SIZE) {
			snprintf(q->error, sizeof(q->error),
				 "receive chain at head %u: %u readable and %u writable bytes, needs >= %zu writable only",
				 c->head, c->out_len, c->in_len, HDR_SIZE);
			ret = -EINVAL;
			goto give_back;
		}
		if (!mrg && c->in_len < net->rx_pending) {
			/* §5.1.6.3.1: without MRG_RXBUF one buffer takes the
			 * whole frame; this one cannot. Keep it for the next. */
			virtq_unpop(q, 1);
			net->stats.rx_dropped++;
			net->rx_pending = 0;
			return -EAGAIN;
		}
		if (used == 1) {
			num_buffers[0] = in_byte(c, 10);
			num_buffers[1] = in_byte(c, 11);
		}
		take = net->rx_pending - off < c->in_len ? net->rx_pending - off : c->in_len;
		virtq_chain_write(c, 0, net->rx_frame + off, take);
		lens[used - 1] = take;
		off += take;
	}
	/* §5.1.6.4: num_buffers is 1 without MRG_RXBUF (device MUST). */
	*num_buffers[0] = (uint8_t)used;
	*num_buffers[1] = (uint8_t)(used >> 8);
	for (unsigned i = 0; i < used; i++) {
		ret = virtq_push(q, heads[i], lens[i]);
		if (ret < 0)
			return ret;
	}
	net->stats.rx_packets++;
	net->stats.rx_bytes += net->rx_pending - HDR_SIZE;
	net->rx_pending = 0;
	return (int)used;

give_back:
	/* Chains popped for this frame go back empty; the error puts the
	 * device in NEEDS_RESET. The last one, if malformed, was already
	 * given back by virtq_pop or is pushed here. */
	for (unsigned i = 0; i < used; i++) {
		char why[VIRTQ_ERROR_MAX];

		memcpy(why, q->error, sizeof(why));
		virtq_push(q, heads[i], 0);
		memcpy(q->error, why, sizeof(why));
	}
	return ret;
}

/* Receive: TAP -> receive queue, at most queue-size chains per call. */
static int net_rx(struct virtio_net *net, struct virtq *q)
{
	unsigned budget = q->size;

	while (budget) {
		int ret;

		if (!net->rx_pending) {
			ret = rx_read(net, q);
			if (ret <= 0)
				return ret;
		}
		ret = rx_place(net, q);
		if (ret == -EAGAIN) {
			budget--;   /* dropped: read the next one */
			continue;
		}
		if (ret < 0)
			return ret;
		if (ret == 0) {
			/* No buffers: stop reading the TAP until the driver
			 * posts some (its notification: EVENT_IDX's avail_event
			 * was published by the empty pop). */
			net->rx_blocked = true;
			return 0;
		}
		budget = (unsigned)ret < budget ? budget - (unsigned)ret : 0;
	}
	/* Budget spent: EPOLLIN stays on and brings us back after the other
	 * ready fds had their turn. */
	return 0;
}

/* §5.1.6.2: the driver's header, checked against what was negotiated.
 * Returns false for a frame to drop. */
static bool tx_header_acceptable(const struct virtio_net *net, const struct virtio_net_hdr *h,
				 uint32_t frame_len)
{
	uint8_t gso = h->gso_type & ~VIRTIO_NET_HDR_GSO_ECN;

	if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		if (!has(net, VIRTIO_NET_F_CSUM))
			return false;
		if ((uint32_t)h->csum_start + h->csum_offset + 2 > frame_len)
			return false;
	}
	if ((h->gso_type & VIRTIO_NET_HDR_GSO_ECN) && !has(net, VIRTIO_NET_F_HOST_ECN))
		return false;
	switch (gso) {
	case VIRTIO_NET_HDR_GSO_NONE: return !(h->gso_type & VIRTIO_NET_HDR_GSO_ECN);
	case VIRTIO_NET_HDR_GSO_TCPV4: return has(net, VIRTIO_NET_F_HOST_TSO4) && h->gso_size;
	case VIRTIO_NET_HDR_GSO_TCPV6: return has(net, VIRTIO_NET_F_HOST_TSO6) && h->gso_size;
	default: return false;
	}
}

static void tx_drop(struct virtio_net *net, const char *why, uint16_t head)
{
	net->stats.tx_dropped++;
	if (net->tx_error_logged)
		return;
	net->tx_error_logged = true;
	log_warn("virtio-net %s: transmit at head %u dropped: %s (logged once)", net->tap.name, head,
		 why);
}

/* Send one popped chain. Returns 1 (done: pushed), 0 (the TAP is full:
 * chain given back to the ring, wait for EPOLLOUT) or -errno. */
static int tx_one(struct virtio_net *net, struct virtq *q, const struct virtq_chain *c)
{
	struct virtio_net_hdr hdr;
	uint32_t frame_len, from = HDR_SIZE, left;
	unsigned count = 1;
	ssize_t n;

	/* A chain without a whole header is not a frame (§5.1.6.2): a
	 * driver error, NEEDS_RESET. */
	if (c->out_len < HDR_SIZE) {
		virtq_push(q, c->head, 0);
		snprintf(q->error, sizeof(q->error),
			 "transmit chain at head %u: %u readable bytes, less than the %zu-byte header",
			 c->head, c->out_len, HDR_SIZE);
		return -EINVAL;
	}
	/* The header is read once; the kernel gets our checked copy. */
	virtq_chain_read(c, 0, &hdr, HDR_SIZE);
	frame_len = c->out_len - (uint32_t)HDR_SIZE;
	if (frame_len > VIRTIO_NET_MAX_FRAME || frame_len < VIRTIO_NET_MIN_FRAME) {
		tx_drop(net, frame_len > VIRTIO_NET_MAX_FRAME ? "frame over 64 KiB + headers" :
			"frame shorter than an Ethernet header", c->head);
		return virtq_push(q, c->head, 0) < 0 ? -EINVAL : 1;
	}
	if (!tx_header_acceptable(net, &hdr, frame_len)) {
		tx_drop(net, "header asks for an offload that was not negotiated, or is inconsistent",
			c->head);
		return virtq_push(q, c->head, 0) < 0 ? -EINVAL : 1;
	}
	/* §5.1.6.2.2: flag bits the device does not know are ignored. */
	hdr.flags &= VIRTIO_NET_HDR_F_NEEDS_CSUM;
	hdr.num_buffers = 0;
	net->iov[0] = (struct iovec){ &hdr, HDR_SIZE };
	left = frame_len;
	for (unsigned i = 0; i < c->nr_out && left; i++) {
		const struct virtq_segment *s = &c->seg[i];
		uint32_t take;

		if (from >= s->len) {
			from -= s->len;
			continue;
		}
		take = s->len - from < left ? s->len - from : left;
		net->iov[count++] = (struct iovec){ (uint8_t *)s->host + from, take };
		left -= take;
		from = 0;
	}
	n = net_tap_write(&net->tap, net->iov, (int)count);
	if (n == -EAGAIN) {
		/* Never drop: the chain goes back to the ring and is sent
		 * once the kernel can take it. */
		virtq_unpop(q, 1);
		net->tx_blocked = true;
		return 0;
	}
	if (n < 0) {
		/* The kernel refused this frame (EINVAL: a malformed GSO
		 * header; EIO: the interface is down): drop it, go on. */
		char why[96];

		snprintf(why, sizeof(why), "TAP write: %s", strerror((int)-n));
		tx_drop(net, why, c->head);
	} else {
		net->stats.tx_packets++;
		net->stats.tx_bytes += frame_len;
	}
	/* §5.1.6.2: nothing is written into a transmit buffer. */
	return virtq_push(q, c->head, 0) < 0 ? -EINVAL : 1;
}

/* Transmit: transmit queue -> TAP, at most queue-size chains per call. */
static int net_tx(struct virtio_net *net, struct virtq *q)
{
	for (unsigned budget = q->size; budget; budget--) {
		int ret = virtq_pop(q, &net->chain);

		if (ret <= 0)
			return ret;
		ret = tx_one(net, q, &net->chain);
		if (ret <= 0)
			return ret;
	}
	/* Budget spent with the ring perhaps not empty: come back through
	 * the loop (our own notification eventfd), after the other fds. */
	if (eventfd_write(net->mmio.notify_fd[VIRTIO_NET_TX_QUEUE], 1) < 0) {
		snprintf(q->error, sizeof(q->error), "cannot reschedule transmit: %s", strerror(errno));
		return -EIO;
	}
	return 0;
}

static int net_queue_notify(void *opaque, struct virtio_mmio *dev, unsigned index)
{
	struct virtio_net *net = opaque;
	struct virtq *q = virtio_mmio_queue(dev, index);
	int ret = 0;

	if (index == VIRTIO_NET_RX_QUEUE) {
		net->rx_blocked = false;
		ret = net_rx(net, q);
	} else if (!net->tx_blocked) {
		/* While blocked, EPOLLOUT (not the driver's kick) resumes. */
		ret = net_tx(net, q);
	}
	update_interest(net);
	return ret;
}

void virtio_net_tap_ready(struct virtio_net *net, uint32_t events)
{
	if (events & EPOLLOUT) {
		pthread_mutex_lock(&net->mmio.lock);
		net->tx_blocked = false;
		pthread_mutex_unlock(&net->mmio.lock);
		virtio_mmio_notify(&net->mmio, VIRTIO_NET_TX_QUEUE);
	}
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		virtio_mmio_notify(&net->mmio, VIRTIO_NET_RX_QUEUE);
	/* Reported whatever the interest: a back-end that hung up (a TAP
	 * does not; a test's socket may) is dropped from the loop rather
	 * than waking it for ever. */
	if ((events & (EPOLLERR | EPOLLHUP)) && net->tap_watched) {
		log_warn("virtio-net %s: back-end hung up or failed (events 0x%x); no more traffic",
			 net->tap.name, events);
		event_loop_remove(net->loop, net->tap.fd);
		net->tap_watched = false;
	}
	/* virtio_mmio_notify does nothing for a device that is not live
	 * (reset, NEEDS_RESET): stop watching then, or a level-triggered
	 * fd would wake the loop for ever. */
	pthread_mutex_lock(&net->mmio.lock);
	update_interest(net);
	pthread_mutex_unlock(&net->mmio.lock);
}

static void on_tap(void *opaque, int fd, uint32_t events)
{
	(void)fd;
	virtio_net_tap_ready(opaque, events);
}

static void net_config_read(void *opaque, uint32_t offset, void *data, unsigned size)
{
	struct virtio_net *net = opaque;

	/* The transport checked offset + size <= config_size. */
	memcpy(data, (const uint8_t *)&net->config + offset, size);
}

/* DRIVER_OK (vCPU thread, lock held): tell the TAP which offloaded frames
 * the guest can take (TUN_F_* mirror GUEST_*; TSO needs CSUM, as both the
 * spec's feature dependencies and TUNSETOFFLOAD require). The transport
 * then signals every ready queue, and the receive queue's first
 * notification turns EPOLLIN on, on the event-loop thread. */
static int net_activate(void *opaque, struct virtio_mmio *dev)
{
	struct virtio_net *net = opaque;
	unsigned flags = 0;
	int ret;

	(void)dev;
	if (has(net, VIRTIO_NET_F_GUEST_CSUM)) {
		flags |= TUN_F_CSUM;
		if (has(net, VIRTIO_NET_F_GUEST_TSO4))
			flags |= TUN_F_TSO4;
		if (has(net, VIRTIO_NET_F_GUEST_TSO6))
			flags |= TUN_F_TSO6;
		if ((flags & (TUN_F_TSO4 | TUN_F_TSO6)) && has(net, VIRTIO_NET_F_GUEST_ECN))
			flags |= TUN_F_TSO_ECN;
	}
	ret = net_tap_set_offload(&net->tap, flags);
	if (ret < 0)
		log_warn("virtio-net %s: TUNSETOFFLOAD 0x%x: %s", net->tap.name, flags, strerror(-ret));
	return ret;
}

/* Status 0 (vCPU thread, lock held). The frame waiting for buffers was
 * meant for the previous driver's offloads: dropped. The TAP fd's events
 * are updated by the event loop on its next wake-up. */
static void net_reset(void *opaque)
{
	struct virtio_net *net = opaque;
	int ret;

	if (net->rx_pending)
		net->stats.rx_dropped++;
	net->rx_pending = 0;
	net->rx_blocked = false;
	net->tx_blocked = false;
	ret = net_tap_set_offload(&net->tap, 0);
	if (ret < 0)
		log_warn("virtio-net %s: TUNSETOFFLOAD 0 at reset: %s", net->tap.name, strerror(-ret));
}

/* ---- snapshots (docs/snapshots.md) ---- */

/* Nothing is ever in flight between callbacks: a transmit the TAP cannot
 * take now goes back to the ring (tx_one's unpop), a receive chain is
 * pushed before the callback returns. Transmits waiting for EPOLLOUT get
 * one more try here, so that what the TAP can take now leaves with this
 * process; the rest stays in the ring, part of the saved queue, and the
 * restored device sends it. Event-loop thread, lock not held. */
static int net_quiesce(void *opaque, struct virtio_mmio *dev)
{
	struct virtio_net *net = opaque;

	pthread_mutex_lock(&dev->lock);
	net->tx_blocked = false;
	pthread_mutex_unlock(&dev->lock);
	virtio_mmio_notify(dev, VIRTIO_NET_TX_QUEUE);
	return 0;
}

/* A frame read from the TAP and waiting for receive buffers (rx_pending)
 * is saved with the device, so that it reaches the guest after a restore
 * as it would have: it lives only in rx_frame (the TAP's own queue is
 * not part of a snapshot, and is lost with its fd like frames on a wire).
 * Its header was made for the offloads the saved driver negotiated, which
 * the restore brings back. The statistics are not saved. */
static void net_state_save(void *opaque, struct snap_buf *out)
{
	struct virtio_net *net = opaque;

	snap_buf_put(out, net->config.mac, sizeof(net->config.mac));
	snap_buf_put_u32(out, net->rx_pending);
	snap_buf_put(out, net->rx_frame, net->rx_pending);
}

/* Lock held, after the transport's registers and queues (so the driver's
 * features are known), before net_activate re-applies TUNSETOFFLOAD. */
static int net_state_load(void *opaque, const uint8_t *data, size_t len, char *err, size_t errlen)
{
	struct virtio_net *net = opaque;
	uint8_t mac[6];
	uint32_t pending;
	struct virtio_net_hdr hdr;
	struct snap_cursor c;

	snap_cursor_init(&c, data, len);
	snap_get(&c, mac, sizeof(mac));
	pending = snap_get_u32(&c);
	if (c.overrun || pending > HDR_SIZE + VIRTIO_NET_MAX_FRAME ||
	    (pending && pending < HDR_SIZE + VIRTIO_NET_MIN_FRAME)) {
		snprintf(err, errlen, "virtio-net %s: %zu bytes of state do not decode", net->tap.name,
			 len);
		return -EINVAL;
	}
	snap_get(&c, net->rx_frame, pending);
	if (!snap_cursor_done(&c) || memcmp(mac, net->config.mac, sizeof(mac))) {
		snprintf(err, errlen, "virtio-net %s: saved with another MAC address, or %zu bytes of state that do not decode",
			 net->tap.name, len);
		return -EINVAL;
	}
	memcpy(&hdr, net->rx_frame, sizeof(hdr));
	/* The same check as for a frame from the TAP: never hand the guest
	 * an offload it did not negotiate, whatever the file says. */
	if (pending && !rx_header_acceptable(net, &hdr)) {
		net->stats.rx_dropped++;
		pending = 0;
	}
	net->rx_pending = pending;
	return 0;
}

static const struct virtio_device_ops net_ops_template = {
	.name = "virtio-net",
	.device_id = VIRTIO_ID_NET,
	.nr_queues = 2,
	.queue_size_max = VIRTIO_NET_QUEUE_SIZE,
	.config_size = sizeof(struct virtio_net_config),
	.config_read = net_config_read,
	.activate = net_activate,
	.queue_notify = net_queue_notify,
	.reset = net_reset,
	.quiesce = net_quiesce,
	.state_save = net_state_save,
	.state_load = net_state_load,
};

int virtio_net_init(struct virtio_net *net, const struct guest_memory *mem, uint64_t base,
		    unsigned gsi, const struct net_tap *tap, const uint8_t mac[6])
{
	int ret;

	memset(net, 0, sizeof(*net));
	net->tap = *tap;
	memcpy(net->config.mac, mac, 6);
	net->config.status = VIRTIO_NET_S_LINK_UP;
	net->config.max_virtqueue_pairs = 1;
	net->ops = net_ops_template;
	/* MRG_RXBUF: drivers may post page-sized receive buffers even with
	 * GUEST_TSO (otherwise each must hold 64 KiB); we copy each frame
	 * from rx_frame anyway, so spreading it costs nothing more. */
	net->ops.features = BIT(VIRTIO_NET_F_MAC) | BIT(VIRTIO_NET_F_STATUS) |
			    BIT(VIRTIO_NET_F_MRG_RXBUF);
	if (tap->offloads)
		net->ops.features |= NET_OFFLOAD_FEATURES;
	net->rx_frame = malloc(HDR_SIZE + VIRTIO_NET_MAX_FRAME + 1);
	if (!net->rx_frame) {
		ret = -ENOMEM;
		log_error("virtio-net %s: cannot allocate the receive buffer", tap->name);
		goto close_tap;
	}
	ret = virtio_mmio_init(&net->mmio, &net->ops, net, mem, base, gsi);
	if (ret < 0) {
		log_error("virtio-net %s: virtio_mmio_init: %s", tap->name, strerror(-ret));
		goto free_frame;
	}
	return 0;

free_frame:
	free(net->rx_frame);
	net->rx_frame = NULL;
close_tap:
	net_tap_close(&net->tap);
	return ret;
}

int virtio_net_attach(struct virtio_net *net, struct vm *vm, struct event_loop *loop)
{
	int ret = virtio_mmio_attach(&net->mmio, vm, loop);

	if (ret < 0)
		return ret;
	/* Nothing watched until the driver is live (update_interest). */
	ret = event_loop_add_events(loop, net->tap.fd, 0, on_tap, net);
	if (ret < 0) {
		log_error("virtio-net %s: event_loop_add: %s", net->tap.name, strerror(-ret));
		return ret;
	}
	net->loop = loop;
	net->tap_watched = true;
	return 0;
}

void virtio_net_destroy(struct virtio_net *net)
{
	if (net->tap_watched)
		event_loop_remove(net->loop, net->tap.fd);
	net->tap_watched = false;
	virtio_mmio_destroy(&net->mmio);
	net_tap_close(&net->tap);
	free(net->rx_frame);
	net->rx_frame = NULL;
}
