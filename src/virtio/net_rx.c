/* virtio-net receive (virtio 1.2 §5.1.6.3, §5.1.6.4): frames read from
 * the TAP into the driver's receive buffers, merged over several when
 * MRG_RXBUF was negotiated. */
#include "virtio/net_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

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

bool net_rx_header_acceptable(const struct virtio_net *net, const struct virtio_net_hdr *h)
{
	uint8_t gso = h->gso_type & ~VIRTIO_NET_HDR_GSO_ECN;

	if ((h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && !net_has(net, VIRTIO_NET_F_GUEST_CSUM))
		return false;
	if ((h->gso_type & VIRTIO_NET_HDR_GSO_ECN) && !net_has(net, VIRTIO_NET_F_GUEST_ECN))
		return false;
	switch (gso) {
	case VIRTIO_NET_HDR_GSO_NONE: return !(h->gso_type & VIRTIO_NET_HDR_GSO_ECN);
	case VIRTIO_NET_HDR_GSO_TCPV4: return net_has(net, VIRTIO_NET_F_GUEST_TSO4);
	case VIRTIO_NET_HDR_GSO_TCPV6: return net_has(net, VIRTIO_NET_F_GUEST_TSO6);
	default: return false;   /* UFO and USO are not offered */
	}
}

/* Read one frame from the TAP into rx_frame. Returns 1 (rx_pending set),
 * 0 (nothing queued), or -errno (the back-end failed). Frames the guest
 * cannot take are dropped here and the next one is read. */
static int rx_read(struct virtio_net *net, struct virtq *q)
{
	const size_t cap = NET_HDR_SIZE + VIRTIO_NET_MAX_FRAME + 1;
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
		memcpy(&hdr, net->rx_frame, n < (ssize_t)NET_HDR_SIZE ? (size_t)n : NET_HDR_SIZE);
		if ((size_t)n >= cap || (size_t)n < NET_HDR_SIZE + VIRTIO_NET_MIN_FRAME ||
		    !net_rx_header_acceptable(net, &hdr)) {
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
	bool mrg = net_has(net, VIRTIO_NET_F_MRG_RXBUF);
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
		if (c->nr_out || c->in_len < NET_HDR_SIZE) {
			snprintf(q->error, sizeof(q->error),
				 "receive chain at head %u: %u readable and %u writable bytes, needs >= %zu writable only",
				 c->head, c->out_len, c->in_len, NET_HDR_SIZE);
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
	net->stats.rx_bytes += net->rx_pending - NET_HDR_SIZE;
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

int net_rx(struct virtio_net *net, struct virtq *q)
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
