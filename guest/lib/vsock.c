/* A minimal polling virtio-vsock driver (virtio 1.2 §5.10). See vsock.h. */
#include "vsock.h"

#include "libguest.h"

_Static_assert(sizeof(struct vsock_hdr) == VSOCK_HDR_SIZE, "§5.10.6: 44-byte header");

#define WAIT_SPINS 400000000ULL
#define RX_BUF_SIZE (VSOCK_HDR_SIZE + VSOCK_RX_PAYLOAD)

static uint8_t rx_ring[VRING_BYTES(VSOCK_QSIZE)] __aligned(4096);
static uint8_t tx_ring[VRING_BYTES(VSOCK_QSIZE)] __aligned(4096);
static uint8_t event_ring[VRING_BYTES(4)] __aligned(4096);
static uint8_t rx_bufs[VSOCK_RX_BUFS][RX_BUF_SIZE] __aligned(64);
static uint32_t event_bufs[4];
static int8_t event_buf_of_head[4];              /* which event buffer a head carries */
static int16_t rx_buf_of_head[VSOCK_QSIZE];   /* which rx buffer a head carries */
static struct vsock_hdr tx_hdr;

static void rx_give(struct vsock_dev *v, unsigned buf)
{
	struct vring_buf b = { .addr = (uintptr_t)rx_bufs[buf], .len = RX_BUF_SIZE, .write = true };

	rx_buf_of_head[vring_add(&v->rx, &b, 1)] = (int16_t)buf;
}

static void event_give(struct vsock_dev *v, unsigned buf)
{
	struct vring_buf b = { .addr = (uintptr_t)&event_bufs[buf], .len = 4, .write = true };

	event_buf_of_head[vring_add(&v->event, &b, 1)] = (int8_t)buf;
}

uint64_t vsock_read_cid(struct vsock_dev *v)
{
	/* §5.10.4: a 64-bit field; two 32-bit reads (the transport allows
	 * 8-byte configuration accesses too). */
	v->cid = virtio_read(&v->dev, VIRTIO_MMIO_CONFIG) |
		 (uint64_t)virtio_read(&v->dev, VIRTIO_MMIO_CONFIG + 4) << 32;
	return v->cid;
}

bool vsock_event(struct vsock_dev *v, uint32_t *id, uint64_t spins)
{
	uint32_t head, used;
	int8_t buf;

	if (!vring_wait(&v->event, &head, &used, spins))
		return false;
	buf = head < 4 ? event_buf_of_head[head] : -1;
	if (buf < 0)
		return false;
	*id = event_bufs[buf];
	event_bufs[buf] = 0xffffffffu;   /* so that a stale id is never read twice */
	event_give(v, (unsigned)buf);
	vring_kick(&v->event);
	return used == 4;
}

int vsock_setup(struct vsock_dev *v, uint64_t features)
{
	if (!virtio_probe(VIRTIO_ID_VSOCK, 0, &v->dev) || virtio_negotiate(&v->dev, features) < 0)
		return -1;
	vsock_read_cid(v);
	memset(rx_ring, 0, sizeof(rx_ring));
	memset(tx_ring, 0, sizeof(tx_ring));
	memset(event_ring, 0, sizeof(event_ring));
	if (virtio_queue_setup(&v->dev, &v->rx, VSOCK_QUEUE_RX, VSOCK_QSIZE, rx_ring) < 0 ||
	    virtio_queue_setup(&v->dev, &v->tx, VSOCK_QUEUE_TX, VSOCK_QSIZE, tx_ring) < 0 ||
	    virtio_queue_setup(&v->dev, &v->event, VSOCK_QUEUE_EVENT, 4, event_ring) < 0)
		return -1;
	/* §5.10.5: event buffers, then rx buffers. */
	for (unsigned i = 0; i < 4; i++)
		event_give(v, i);
	for (unsigned i = 0; i < VSOCK_RX_BUFS; i++)
		rx_give(v, i);
	virtio_driver_ok(&v->dev);
	vring_kick(&v->rx);
	return virtio_status(&v->dev) == 0xf ? 0 : -1;
}

bool vsock_send_chain(struct vsock_dev *v, const struct vring_buf *bufs, unsigned n)
{
	uint32_t id, len;

	vring_add(&v->tx, bufs, n);
	vring_kick(&v->tx);
	return vring_wait(&v->tx, &id, &len, WAIT_SPINS);
}

bool vsock_send(struct vsock_dev *v, const struct vsock_hdr *h, const void *payload, uint32_t len)
{
	struct vring_buf bufs[2] = {
		{ .addr = (uintptr_t)&tx_hdr, .len = VSOCK_HDR_SIZE },
		{ .addr = (uintptr_t)payload, .len = len },
	};

	tx_hdr = *h;
	return vsock_send_chain(v, bufs, len ? 2 : 1);
}

bool vsock_recv(struct vsock_dev *v, struct vsock_hdr *h, void *data, uint32_t max,
		uint32_t *len, uint64_t spins)
{
	uint32_t id, used;
	const uint8_t *buf;
	int16_t index;
	bool ok;

	if (!vring_wait(&v->rx, &id, &used, spins))
		return false;
	index = id < VSOCK_QSIZE ? rx_buf_of_head[id] : -1;
	if (index < 0)
		return false;
	buf = rx_bufs[index];
	memcpy(h, buf, sizeof(*h));
	ok = used >= VSOCK_HDR_SIZE && h->len == used - VSOCK_HDR_SIZE && h->len <= max;
	*len = ok ? h->len : 0;
	if (ok && h->len)
		memcpy(data, buf + VSOCK_HDR_SIZE, h->len);
	rx_give(v, (unsigned)index);
	vring_kick(&v->rx);
	return ok;
}
