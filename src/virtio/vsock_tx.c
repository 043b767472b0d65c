/* virtio-vsock tx (virtio 1.2 §5.10.6.4): the guest's packets, each
 * header checked before anything acts on it, to their connections; a
 * packet for no connection is answered RST through the rx side. See
 * vsock_internal.h. */
#include "virtio/vsock_internal.h"

#include "log.h"

/* Bad packets logged per device; after that only counted. */
#define LOGGED_BAD_PACKETS 3

static void bad_packet(struct virtio_vsock *v, const struct virtio_vsock_hdr *h, const char *why)
{
	if (++v->bad_packets <= LOGGED_BAD_PACKETS)
		log_warn("virtio-vsock at 0x%llx: packet op %u type %u %llu:%u -> %llu:%u len %u: %s%s",
			 (unsigned long long)v->mmio.base, h ? h->op : 0, h ? h->type : 0,
			 h ? (unsigned long long)h->src_cid : 0ULL, h ? h->src_port : 0,
			 h ? (unsigned long long)h->dst_cid : 0ULL, h ? h->dst_port : 0,
			 h ? h->len : 0, why,
			 v->bad_packets == LOGGED_BAD_PACKETS ? " (further bad packets not logged)" : "");
}

/* Answer a packet that belongs to no connection with RST (§5.10.6.5,
 * §5.10.6.4: an unknown type too). Never an RST to an RST: two devices
 * would answer each other forever. */
static void rst_reply(struct virtio_vsock *v, const struct virtio_vsock_hdr *h)
{
	unsigned tail;

	if (h->op == VIRTIO_VSOCK_OP_RST || v->rst_count == VIRTIO_VSOCK_RST_QUEUE)
		return;
	tail = (v->rst_head + v->rst_count++) % VIRTIO_VSOCK_RST_QUEUE;
	v->rst[tail] = (struct vsock_rst_reply){ .src_port = h->dst_port, .dst_port = h->src_port };
}

/* The guest broke the protocol on a connection: reset it (RST to the
 * guest, the host process sees its socket close). */
static void conn_abort(struct virtio_vsock *v, struct vsock_conn *c)
{
	v->resets++;
	vsock_conn_reset(c, true);
}

static bool op_known(uint16_t op)
{
	return op >= VIRTIO_VSOCK_OP_REQUEST && op <= VIRTIO_VSOCK_OP_CREDIT_REQUEST;
}

/* One packet from the guest. The header is copied out of guest memory
 * once; only the copy is looked at. */
static void tx_packet(struct virtio_vsock *v, const struct virtq_chain *chain)
{
	struct virtio_vsock_hdr h;
	struct vsock_conn *c;
	struct iovec iov[VIRTQ_MAX_SIZE];
	unsigned n;

	v->packets_in++;
	/* Too short to say who sent it: nobody to answer. */
	if (chain->out_len < VSOCK_HDR_SIZE) {
		bad_packet(v, NULL, "shorter than the 44-byte header");
		return;
	}
	virtq_chain_read(chain, 0, &h, sizeof(h));
	/* §5.10.6.4: the driver's source is guest_cid; the only peer here
	 * is the host. Anything else is not ours to answer. */
	if (h.src_cid != v->guest_cid || h.dst_cid != VSOCK_CID_HOST) {
		bad_packet(v, &h, "wrong src_cid or dst_cid: dropped");
		return;
	}
	c = vsock_conn_find(&v->conns, h.dst_port, h.src_port);
	if (h.type != VIRTIO_VSOCK_TYPE_STREAM || !op_known(h.op) ||
	    (h.op == VIRTIO_VSOCK_OP_RW ? h.len > chain->out_len - VSOCK_HDR_SIZE : h.len != 0)) {
		bad_packet(v, &h, "unknown type or op, or len does not match the packet: RST");
		if (h.op == VIRTIO_VSOCK_OP_RST)
			return;
		if (c)
			conn_abort(v, c);
		else
			rst_reply(v, &h);
		return;
	}
	/* §5.10.6.3: every packet of a stream carries the sender's credit. */
	if (c) {
		c->peer_buf_alloc = h.buf_alloc;
		c->peer_fwd_cnt = h.fwd_cnt;
	}
	switch (h.op) {
	case VIRTIO_VSOCK_OP_REQUEST:
		if (c) {
			conn_abort(v, c);   /* a second REQUEST on a live connection */
			return;
		}
		c = vsock_conn_connect(&v->conns, h.dst_port, h.src_port);
		if (!c) {
			rst_reply(v, &h);   /* nothing listens on <uds>_<port>, or the table is full */
			return;
		}
		c->peer_buf_alloc = h.buf_alloc;
		c->peer_fwd_cnt = h.fwd_cnt;
		break;
	case VIRTIO_VSOCK_OP_RST:
		if (c)
			vsock_conn_reset(c, false);   /* the guest closed it: no answer */
		return;
	case VIRTIO_VSOCK_OP_RESPONSE:
		if (c && c->state == VSOCK_CONN_HOST_REQUESTED && !(c->pending & VSOCK_PEND_REQUEST))
			vsock_conn_established(c);
		else if (c)
			conn_abort(v, c);
		break;
	case VIRTIO_VSOCK_OP_SHUTDOWN:
		if (c && c->state == VSOCK_CONN_ESTABLISHED)
			c->peer_shutdown |= h.flags & VSOCK_SHUTDOWN_BOTH;   /* sticky, §5.10.6.6 */
		else if (c && c->state != VSOCK_CONN_RESETTING)
			conn_abort(v, c);
		break;
	case VIRTIO_VSOCK_OP_RW:
		if (!c || c->state == VSOCK_CONN_RESETTING)
			break;
		if (c->state != VSOCK_CONN_ESTABLISHED || (c->peer_shutdown & VSOCK_SHUTDOWN_SEND)) {
			conn_abort(v, c);
			break;
		}
		n = virtq_chain_iov(chain, false, VSOCK_HDR_SIZE, h.len, iov);
		if (vsock_conn_write(c, iov, n, h.len) < 0)
			conn_abort(v, c);   /* beyond its credit, or the host process is gone */
		break;
	case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
		if (c && c->state == VSOCK_CONN_ESTABLISHED)
			c->pending |= VSOCK_PEND_CREDIT;
		break;
	case VIRTIO_VSOCK_OP_CREDIT_UPDATE:
		break;   /* recorded above; the rx side may now send more */
	}
	if (!c)
		rst_reply(v, &h);
	else
		vsock_conn_update(c);
}

int vsock_tx(struct virtio_vsock *v, struct virtq *q)
{
	int ret;

	v->tx_stalled = false;
	for (unsigned n = 0; n < VSOCK_BUDGET; n++) {
		/* Each packet needs room for one RST answer. */
		if (v->rst_count == VIRTIO_VSOCK_RST_QUEUE) {
			v->tx_stalled = true;
			return 0;
		}
		ret = virtq_pop(q, &v->tx_chain);
		if (ret <= 0)
			return ret;
		tx_packet(v, &v->tx_chain);
		/* §5.10.6.4: tx buffers are read-only: nothing written. */
		ret = virtq_push(q, v->tx_chain.head, 0);
		if (ret < 0)
			return ret;
	}
	v->tx_stalled = true;
	vsock_wake(v);
	return 0;
}
