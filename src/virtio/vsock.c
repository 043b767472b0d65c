/* virtio-vsock (virtio 1.2 §5.10): the device side, packets in and out of
 * the queues. The connections and their sockets are in vsock_conn.c. See
 * vsock.h and docs/virtio-vsock.md. */
#include "virtio/vsock.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "event_loop.h"
#include "log.h"
#include "snapshot/buf.h"

/* Chains taken from a queue per notification before the loop serves
 * other sources (the guest can refill forever); the rest follows through
 * the wake-up eventfd. */
#define BUDGET (2 * VIRTIO_VSOCK_QUEUE_SIZE)

/* Bad packets logged per device; after that only counted. */
#define LOGGED_BAD_PACKETS 3

#define HDR_SIZE ((uint32_t)sizeof(struct virtio_vsock_hdr))

static void wake(struct virtio_vsock *v)
{
	uint64_t one = 1;

	/* Fails only if the counter would overflow: a wake-up is pending. */
	if (write(v->wake_fd, &one, sizeof(one)) < 0)
		(void)0;
}

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
	if (chain->out_len < HDR_SIZE) {
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
	    (h.op == VIRTIO_VSOCK_OP_RW ? h.len > chain->out_len - HDR_SIZE : h.len != 0)) {
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
		n = virtq_chain_iov(chain, false, HDR_SIZE, h.len, iov);
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

static int tx_process(struct virtio_vsock *v, struct virtq *q)
{
	int ret;

	v->tx_stalled = false;
	for (unsigned n = 0; n < BUDGET; n++) {
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
	wake(v);
	return 0;
}

/* ---- the rx side: packets to the guest ---- */

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
		uint32_t max = chain->in_len - HDR_SIZE, credit = vsock_conn_peer_credit(c);
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
		} else if ((n = vsock_conn_read(c, iov, virtq_chain_iov(chain, true, HDR_SIZE, max, iov))) > 0) {
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
	return HDR_SIZE + len;
}

static int rx_pump(struct virtio_vsock *v, struct virtq *q)
{
	struct virtq_chain *chain = &v->rx_chain;
	int ret;

	for (unsigned n = 0; n < BUDGET; n++) {
		struct vsock_conn *c = NULL;
		uint16_t op = 0;
		enum rx_kind kind = rx_choose(v, &c, &op);

		if (kind == RX_NONE)
			return 0;
		ret = virtq_pop(q, chain);
		if (ret <= 0)
			return ret;   /* 0: no buffer; the guest's next rx notification resumes */
		/* §5.10.6.4: rx buffers are write-only and must hold a header. */
		if (chain->nr_out || chain->in_len < HDR_SIZE) {
			virtq_push(q, chain->head, 0);
			snprintf(q->error, sizeof(q->error),
				 "rx buffer at head %u: %u device-readable and %u writable bytes (a packet needs %u writable)",
				 chain->head, chain->out_len, chain->in_len, HDR_SIZE);
			return -EINVAL;
		}
		ret = virtq_push(q, chain->head, rx_fill(v, chain, kind, c, op));
		if (ret < 0)
			return ret;
		if (c && c->state != VSOCK_CONN_FREE)
			vsock_conn_update(c);
	}
	wake(v);   /* more to send: after the loop's other sources */
	return 0;
}

/* ---- the event queue (§5.10.6.6) ---- */

/* Send the TRANSPORT_RESET a restore owes the guest, if a buffer is
 * there; otherwise the driver's next event-queue notification brings it.
 * Lock held. */
static int event_send(struct virtio_vsock *v, struct virtq *q)
{
	const uint32_t id = VIRTIO_VSOCK_EVENT_TRANSPORT_RESET;
	struct virtq_chain *chain = &v->rx_chain;   /* scratch, as for rx: lock held */
	int ret;

	if (!v->reset_event_pending)
		return 0;
	ret = virtq_pop(q, chain);
	if (ret <= 0)
		return ret;
	/* The driver fills the event queue with device-writable buffers
	 * of struct virtio_vsock_event (§5.10.6.6). */
	if (chain->nr_out || chain->in_len < VIRTIO_VSOCK_EVENT_SIZE) {
		virtq_push(q, chain->head, 0);
		snprintf(q->error, sizeof(q->error),
			 "event buffer at head %u: %u device-readable and %u writable bytes (an event needs %u writable)",
			 chain->head, chain->out_len, chain->in_len, VIRTIO_VSOCK_EVENT_SIZE);
		return -EINVAL;
	}
	virtq_chain_write(chain, 0, &id, sizeof(id));
	ret = virtq_push(q, chain->head, VIRTIO_VSOCK_EVENT_SIZE);
	if (ret < 0)
		return ret;
	v->reset_event_pending = false;
	v->events++;
	return 0;
}

/* ---- snapshots (docs/snapshots.md) ---- */

/* Connections are not saved (Firecracker does the same): their host ends
 * are sockets of this process, which a restored one cannot have, and
 * in-flight bytes in both directions would have to be replayed against
 * peers that moved on. What is saved is the transport (the queues, with
 * the guest's rx buffers and any tx packets not yet taken) and the CID.
 * Nothing is in flight between callbacks: every chain is pushed before
 * the callback that popped it returns. */
static void vsock_state_save(void *opaque, struct snap_buf *out)
{
	struct virtio_vsock *v = opaque;

	snap_buf_put_u64(out, v->guest_cid);
}

/* A restored device has no connections; the driver believes it has. The
 * TRANSPORT_RESET event (§5.10.6.6) tells it to drop them, as after a
 * migration; until it has, packets for its old connections find none and
 * are answered RST (§5.10.6.5), which drops them too. Sent once the
 * transport looks at the event queue after the restore, or when the
 * driver next gives an event buffer. Lock held. */
static int vsock_state_load(void *opaque, const uint8_t *data, size_t len, char *err,
			    size_t errlen)
{
	struct virtio_vsock *v = opaque;
	struct snap_cursor c;
	uint64_t cid;

	snap_cursor_init(&c, data, len);
	cid = snap_get_u64(&c);
	if (!snap_cursor_done(&c) || cid != v->guest_cid) {
		snprintf(err, errlen, "virtio-vsock: saved with guest CID %llu, configured %llu (%zu bytes of state)",
			 (unsigned long long)cid, (unsigned long long)v->guest_cid, len);
		return -EINVAL;
	}
	v->reset_event_pending = (v->mmio.status & (VIRTIO_STATUS_DRIVER_OK |
						     VIRTIO_STATUS_DEVICE_NEEDS_RESET)) ==
				 VIRTIO_STATUS_DRIVER_OK;
	return 0;
}

/* ---- the transport's callbacks (device lock held) ---- */

static int vsock_queue_notify(void *opaque, struct virtio_mmio *dev, unsigned index)
{
	struct virtio_vsock *v = opaque;
	struct virtq *q = virtio_mmio_queue(dev, index);
	int ret;

	switch (index) {
	case VSOCK_QUEUE_RX:
		ret = rx_pump(v, q);
		/* Answers went out: stalled tx packets can go on. */
		if (ret == 0 && v->tx_stalled && v->rst_count < VIRTIO_VSOCK_RST_QUEUE)
			wake(v);
		return ret;
	case VSOCK_QUEUE_TX:
		ret = tx_process(v, q);
		/* Answers and data for the guest: the rx side sends them,
		 * with its own interrupt decision. */
		wake(v);
		return ret;
	default:
		/* The event queue: buffers stay until an event is due; the
		 * only one kvmrun sends follows a restore. */
		return event_send(v, q);
	}
}

static void vsock_config_read(void *opaque, uint32_t offset, void *data, unsigned size)
{
	struct virtio_vsock *v = opaque;
	struct virtio_vsock_config cfg = { .guest_cid = v->guest_cid };

	/* The transport checked offset + size <= config_size. */
	memcpy(data, (const uint8_t *)&cfg + offset, size);
}

static void vsock_reset(void *opaque)
{
	struct virtio_vsock *v = opaque;

	/* The driver is gone: every connection with it. The guest hears
	 * nothing; the host processes see their sockets close once the loop
	 * thread reaps them. */
	vsock_conns_reset(&v->conns);
	v->rst_count = 0;
	v->tx_stalled = false;
	v->reset_event_pending = false;   /* a new driver has no connections */
	wake(v);
}

static const struct virtio_device_ops vsock_ops = {
	.name = "virtio-vsock",
	.device_id = VIRTIO_ID_VSOCK,
	.features = 1ULL << VIRTIO_VSOCK_F_STREAM,
	.nr_queues = VSOCK_NR_QUEUES,
	.queue_size_max = VIRTIO_VSOCK_QUEUE_SIZE,
	.config_size = sizeof(struct virtio_vsock_config),
	.config_read = vsock_config_read,
	.queue_notify = vsock_queue_notify,
	.reset = vsock_reset,
	.state_save = vsock_state_save,
	.state_load = vsock_state_load,
};

/* Loop thread, device lock not held: reap connections a reset killed,
 * then let the transport service rx (and tx, if it stalled): that checks
 * the device is live, sends what is pending and interrupts as needed. */
static void vsock_service(void *opaque)
{
	struct virtio_vsock *v = opaque;
	bool tx;

	pthread_mutex_lock(&v->mmio.lock);
	vsock_conns_reap(&v->conns);
	pthread_mutex_unlock(&v->mmio.lock);
	virtio_mmio_notify(&v->mmio, VSOCK_QUEUE_RX);
	pthread_mutex_lock(&v->mmio.lock);
	tx = v->tx_stalled;
	pthread_mutex_unlock(&v->mmio.lock);
	if (tx)
		virtio_mmio_notify(&v->mmio, VSOCK_QUEUE_TX);
}

static void on_wake(void *opaque, int fd, uint32_t events)
{
	uint64_t count;

	(void)events;
	if (read(fd, &count, sizeof(count)) < 0)
		(void)0;   /* EAGAIN: drained already */
	vsock_service(opaque);
}

int virtio_vsock_open(struct virtio_vsock *v, const char *uds_path, char *err, size_t err_size)
{
	int ret;

	memset(v, 0, sizeof(*v));
	v->wake_fd = -1;
	ret = vsock_conns_open(&v->conns, uds_path, err, err_size);
	v->conns_open = ret == 0;
	return ret;
}

int virtio_vsock_init(struct virtio_vsock *v, const struct guest_memory *mem, uint64_t base,
		      unsigned gsi, uint32_t guest_cid)
{
	v->guest_cid = guest_cid;
	v->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (v->wake_fd < 0)
		return log_syscall_error("eventfd(virtio-vsock)", errno);
	return virtio_mmio_init(&v->mmio, &vsock_ops, v, mem, base, gsi);
}

int virtio_vsock_attach(struct virtio_vsock *v, struct vm *vm, struct event_loop *loop)
{
	int ret = virtio_mmio_attach(&v->mmio, vm, loop);

	if (ret < 0)
		return ret;
	ret = event_loop_add(loop, v->wake_fd, on_wake, v);
	if (ret < 0)
		return log_syscall_error("epoll_ctl(virtio-vsock)", -ret);
	v->loop = loop;
	v->attached = true;
	/* Logged by vsock_conns_attach, which knows which call failed. */
	return vsock_conns_attach(&v->conns, loop, &v->mmio.lock, vsock_service, v);
}

void virtio_vsock_destroy(struct virtio_vsock *v)
{
	if (v->attached)
		event_loop_remove(v->loop, v->wake_fd);
	v->attached = false;
	if (v->conns_open)
		vsock_conns_close(&v->conns);
	v->conns_open = false;
	virtio_mmio_destroy(&v->mmio);
	if (v->wake_fd >= 0)
		close(v->wake_fd);
	v->wake_fd = -1;
}
