/* virtio-vsock rx (virtio 1.2 §5.10.6.4): packets to the guest, into the
 * device-writable buffers it posts: queued RST answers, then each
 * connection's control packets and data, within the guest's credit
 * (§5.10.6.3). See vsock_internal.h. */
#include "virtio/vsock_internal.h"

#include <errno.h>
#include <stdio.h>

enum rx_kind { RX_NONE, RX_RST_REPLY, RX_CONTROL, RX_DATA };

/* What connection `c` has to send next: a control op, VIRTIO_VSOCK_OP_RW
 * for data, or 0. Finding data means looking at the socket (it may be
 * at end of file, which turns into a SHUTDOWN). */
static uint16_t conn_next_op(struct vsock_conn *c)
{
	switch (c->state) {
	case VSOCK_CONN_HOST_REQUESTED:
		return c->pending & VSOCK_PEND_REQUEST ? VIRTIO_VSOCK_OP_REQUEST : 0;
	case VSOCK_CONN_ESTABLISHED:
		if (c->pending & VSOCK_PEND_RESPONSE)
			return VIRTIO_VSOCK_OP_RESPONSE;
		/* §5.10.6.3: data only within the guest's credit; none once
		 * it said it receives no more. */
		if (c->readable && !c->host_eof && !(c->peer_shutdown & VSOCK_SHUTDOWN_RECEIVE) &&
		    vsock_conn_peer_credit(c) > 0) {
			int data = vsock_conn_peek(c);

			if (data > 0)
				return VIRTIO_VSOCK_OP_RW;
			if (data < 0) {
				/* End of file: the host sends no more, and if it
				 * closed its socket it receives no more either. */
				c->host_eof = true;
				c->readable = false;
				c->pending |= VSOCK_PEND_SHUTDOWN;
				c->shutdown_flags |= VSOCK_SHUTDOWN_SEND |
						     (c->host_hup ? VSOCK_SHUTDOWN_RECEIVE : 0);
				vsock_conn_update(c);
				return conn_next_op(c);   /* once: host_eof is now set */
			}
		}
		if (c->pending & VSOCK_PEND_SHUTDOWN)
			return VIRTIO_VSOCK_OP_SHUTDOWN;
		return c->pending & VSOCK_PEND_CREDIT ? VIRTIO_VSOCK_OP_CREDIT_UPDATE : 0;
	case VSOCK_CONN_RESETTING:
		if (c->pending & VSOCK_PEND_SHUTDOWN)
			return VIRTIO_VSOCK_OP_SHUTDOWN;
		return c->pending & VSOCK_PEND_RST ? VIRTIO_VSOCK_OP_RST : 0;
	default:
		return 0;
	}
}

/* The next packet to send: queued RST answers first, then the
 * connections round-robin, so one busy connection cannot starve others. */
static enum rx_kind rx_choose(struct virtio_vsock *v, struct vsock_conn **conn, uint16_t *op)
{
	struct vsock_conns *t = &v->conns;

	if (v->rst_count)
		return RX_RST_REPLY;
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++) {
		unsigned index = (t->rr + i) % VSOCK_MAX_CONNS;

		*op = conn_next_op(&t->conns[index]);
		if (*op) {
			t->rr = (index + 1) % VSOCK_MAX_CONNS;
			*conn = &t->conns[index];
			return *op == VIRTIO_VSOCK_OP_RW ? RX_DATA : RX_CONTROL;
		}
	}
	return RX_NONE;
}

static struct virtio_vsock_hdr conn_header(struct virtio_vsock *v, struct vsock_conn *c,
					   uint16_t op, uint32_t len)
{
	/* Every packet tells the guest our credit (§5.10.6.3). */
	c->announced_fwd_cnt = c->fwd_cnt;
	c->pending &= ~VSOCK_PEND_CREDIT;
	return (struct virtio_vsock_hdr){
		.src_cid = VSOCK_CID_HOST,
		.dst_cid = v->guest_cid,
		.src_port = c->local_port,
		.dst_port = c->peer_port,
		.len = len,
		.type = VIRTIO_VSOCK_TYPE_STREAM,
		.op = op,
		.flags = op == VIRTIO_VSOCK_OP_SHUTDOWN ? c->shutdown_flags : 0,
		.buf_alloc = VSOCK_CONN_BUF,
		.fwd_cnt = c->fwd_cnt,
	};
}

/* Fill the popped rx chain. Returns the bytes written into it. */
static uint32_t rx_fill(struct virtio_vsock *v, const struct virtq_chain *chain, enum rx_kind kind,
			struct vsock_conn *c, uint16_t op)
{
	struct virtio_vsock_hdr h;
	uint32_t len = 0;

	if (kind == RX_RST_REPLY) {
		struct vsock_rst_reply r = v->rst[v->rst_head];

		v->rst_head = (v->rst_head + 1) % VIRTIO_VSOCK_RST_QUEUE;
		v->rst_count--;
		h = (struct virtio_vsock_hdr){ .src_cid = VSOCK_CID_HOST, .dst_cid = v->guest_cid,
					       .src_port = r.src_port, .dst_port = r.dst_port,
					       .type = VIRTIO_VSOCK_TYPE_STREAM,
					       .op = VIRTIO_VSOCK_OP_RST };
	} else if (kind == RX_DATA) {
		struct iovec iov[VIRTQ_MAX_SIZE];
		uint32_t max = chain->in_len - VSOCK_HDR_SIZE, credit = vsock_conn_peer_credit(c);
		ssize_t n;

		if (max > credit)
			max = credit;
		if (max > VIRTIO_VSOCK_MAX_PAYLOAD)
			max = VIRTIO_VSOCK_MAX_PAYLOAD;
		/* Straight from the socket into the guest's buffer. A buffer
		 * with room for the header only (legal, §5.10.6.4 asks for
		 * no more) cannot carry data: a reading of 0 bytes would look
		 * like the socket's end. It carries a CREDIT_UPDATE instead
		 * (§5.10.6.3, any time), and the data waits in the socket for
		 * the next buffer. */
		if (max == 0) {
			h = conn_header(v, c, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0);
		} else if ((n = vsock_conn_read(c, iov, virtq_chain_iov(chain, true, VSOCK_HDR_SIZE, max, iov))) > 0) {
			len = (uint32_t)n;
			c->tx_cnt += len;
			h = conn_header(v, c, VIRTIO_VSOCK_OP_RW, len);
		} else {
			/* The peek saw data; only a broken socket loses it. */
			h = conn_header(v, c, VIRTIO_VSOCK_OP_RST, 0);
			vsock_conn_reset(c, false);
		}
	} else {
		h = conn_header(v, c, op, 0);
		switch (op) {
		case VIRTIO_VSOCK_OP_REQUEST:
			c->pending &= ~VSOCK_PEND_REQUEST;
			break;
		case VIRTIO_VSOCK_OP_RESPONSE:
			c->pending &= ~VSOCK_PEND_RESPONSE;
			break;
		case VIRTIO_VSOCK_OP_SHUTDOWN:
			c->pending &= ~VSOCK_PEND_SHUTDOWN;
			break;
		case VIRTIO_VSOCK_OP_RST:
			vsock_conn_reset(c, false);   /* sent: the slot is free */
			break;
		}
	}
	virtq_chain_write(chain, 0, &h, sizeof(h));
	v->packets_out++;
	return VSOCK_HDR_SIZE + len;
}

int vsock_rx(struct virtio_vsock *v, struct virtq *q)
{
	struct virtq_chain *chain = &v->rx_chain;
	int ret;

	for (unsigned n = 0; n < VSOCK_BUDGET; n++) {
		struct vsock_conn *c = NULL;
		uint16_t op = 0;
		enum rx_kind kind = rx_choose(v, &c, &op);

		if (kind == RX_NONE)
			return 0;
		ret = virtq_pop(q, chain);
		if (ret <= 0)
			return ret;   /* 0: no buffer; the guest's next rx notification resumes */
		/* §5.10.6.4: rx buffers are write-only and must hold a header. */
		if (chain->nr_out || chain->in_len < VSOCK_HDR_SIZE) {
			virtq_push(q, chain->head, 0);
			snprintf(q->error, sizeof(q->error),
				 "rx buffer at head %u: %u device-readable and %u writable bytes (a packet needs %u writable)",
				 chain->head, chain->out_len, chain->in_len, VSOCK_HDR_SIZE);
			return -EINVAL;
		}
		ret = virtq_push(q, chain->head, rx_fill(v, chain, kind, c, op));
		if (ret < 0)
			return ret;
		if (c && c->state != VSOCK_CONN_FREE)
			vsock_conn_update(c);
	}
	vsock_wake(v);   /* more to send: after the loop's other sources */
	return 0;
}
