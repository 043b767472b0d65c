/* virtio-net on a TAP back-end (virtio 1.2 §5.1). See net.h and
 * docs/virtio-net.md. */
#include "virtio/net.h"
#include "virtio/net_internal.h"

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
	if (net_has(net, VIRTIO_NET_F_GUEST_CSUM)) {
		flags |= TUN_F_CSUM;
		if (net_has(net, VIRTIO_NET_F_GUEST_TSO4))
			flags |= TUN_F_TSO4;
		if (net_has(net, VIRTIO_NET_F_GUEST_TSO6))
			flags |= TUN_F_TSO6;
		if ((flags & (TUN_F_TSO4 | TUN_F_TSO6)) && net_has(net, VIRTIO_NET_F_GUEST_ECN))
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
	if (c.overrun || pending > NET_HDR_SIZE + VIRTIO_NET_MAX_FRAME ||
	    (pending && pending < NET_HDR_SIZE + VIRTIO_NET_MIN_FRAME)) {
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
	if (pending && !net_rx_header_acceptable(net, &hdr)) {
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
	net->rx_frame = malloc(NET_HDR_SIZE + VIRTIO_NET_MAX_FRAME + 1);
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
