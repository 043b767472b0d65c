/* virtio-net transmit (virtio 1.2 §5.1.6.2): the driver's frames, header
 * checked, written to the TAP; a full TAP gives the chain back to the ring
 * until EPOLLOUT. */
#include "virtio/net_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>

#include "log.h"

/* §5.1.6.2: the driver's header, checked against what was negotiated.
 * Returns false for a frame to drop. */
static bool tx_header_acceptable(const struct virtio_net *net, const struct virtio_net_hdr *h,
				 uint32_t frame_len)
{
	uint8_t gso = h->gso_type & ~VIRTIO_NET_HDR_GSO_ECN;

	if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		if (!net_has(net, VIRTIO_NET_F_CSUM))
			return false;
		if ((uint32_t)h->csum_start + h->csum_offset + 2 > frame_len)
			return false;
	}
	if ((h->gso_type & VIRTIO_NET_HDR_GSO_ECN) && !net_has(net, VIRTIO_NET_F_HOST_ECN))
		return false;
	switch (gso) {
	case VIRTIO_NET_HDR_GSO_NONE: return !(h->gso_type & VIRTIO_NET_HDR_GSO_ECN);
	case VIRTIO_NET_HDR_GSO_TCPV4: return net_has(net, VIRTIO_NET_F_HOST_TSO4) && h->gso_size;
	case VIRTIO_NET_HDR_GSO_TCPV6: return net_has(net, VIRTIO_NET_F_HOST_TSO6) && h->gso_size;
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
	uint32_t frame_len;
	unsigned count;
	ssize_t n;

	/* A chain without a whole header is not a frame (§5.1.6.2): a
	 * driver error, NEEDS_RESET. */
	if (c->out_len < NET_HDR_SIZE) {
		virtq_push(q, c->head, 0);
		snprintf(q->error, sizeof(q->error),
			 "transmit chain at head %u: %u readable bytes, less than the %zu-byte header",
			 c->head, c->out_len, NET_HDR_SIZE);
		return -EINVAL;
	}
	/* The header is read once; the kernel gets our checked copy. */
	virtq_chain_read(c, 0, &hdr, NET_HDR_SIZE);
	frame_len = c->out_len - (uint32_t)NET_HDR_SIZE;
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
	/* Our copy of the header, then the frame straight from guest RAM. */
	net->iov[0] = (struct iovec){ &hdr, NET_HDR_SIZE };
	count = 1 + virtq_chain_iov(c, false, NET_HDR_SIZE, frame_len, &net->iov[1]);
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

int net_tx(struct virtio_net *net, struct virtq *q)
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
