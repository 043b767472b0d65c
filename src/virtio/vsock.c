/* virtio-vsock (virtio 1.2 §5.10): the device as the transport sees it:
 * queue notifications handed to the tx and rx paths (vsock_tx.c,
 * vsock_rx.c), the event queue, configuration, reset, snapshots, and the
 * wake-up eventfd. The connections and their sockets are in vsock_conn.c.
 * See vsock.h, vsock_internal.h and docs/virtio-vsock.md. */
#include "virtio/vsock_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "event_loop.h"
#include "log.h"
#include "snapshot/buf.h"

void vsock_wake(struct virtio_vsock *v)
{
	uint64_t one = 1;

	/* Fails only if the counter would overflow: a wake-up is pending. */
	if (write(v->wake_fd, &one, sizeof(one)) < 0)
		(void)0;
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
		ret = vsock_rx(v, q);
		/* Answers went out: stalled tx packets can go on. */
		if (ret == 0 && v->tx_stalled && v->rst_count < VIRTIO_VSOCK_RST_QUEUE)
			vsock_wake(v);
		return ret;
	case VSOCK_QUEUE_TX:
		ret = vsock_tx(v, q);
		/* Answers and data for the guest: the rx side sends them,
		 * with its own interrupt decision. */
		vsock_wake(v);
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
	vsock_wake(v);
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
