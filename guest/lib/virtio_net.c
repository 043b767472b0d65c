/* A small polling virtio-net driver (virtio 1.2 §5.1). See virtio_net.h. */
#include "virtio_net.h"

_Static_assert(sizeof(struct vnet_hdr) == VNET_HDR_SIZE, "§5.1.6: 12-byte header");

bool vnet_probe(struct vnet *n, struct vnet_mem *mem)
{
	*n = (struct vnet){ .mem = mem };
	return virtio_probe(VIRTIO_ID_NET, 0, &n->dev);
}

bool vnet_setup(struct vnet *n, uint64_t features)
{
	if (virtio_negotiate(&n->dev, features) < 0)
		return false;
	memset(n->mem->rx_ring, 0, sizeof(n->mem->rx_ring));
	memset(n->mem->tx_ring, 0, sizeof(n->mem->tx_ring));
	n->tx_next = n->tx_inflight = 0;
	if (virtio_queue_setup(&n->dev, &n->rxq, VNET_RXQ, VNET_QSIZE, n->mem->rx_ring) < 0 ||
	    virtio_queue_setup(&n->dev, &n->txq, VNET_TXQ, VNET_QSIZE, n->mem->tx_ring) < 0)
		return false;
	virtio_driver_ok(&n->dev);
	return true;
}

void vnet_config_read(struct vnet *n, uint8_t *buf, unsigned len)
{
	for (unsigned i = 0; i < len; i++)
		buf[i] = *(volatile uint8_t *)(n->dev.base + VIRTIO_MMIO_CONFIG + i);
}

bool vnet_needs_reset(struct vnet *n)
{
	return virtio_status(&n->dev) & VIRTIO_STATUS_DEVICE_NEEDS_RESET;
}

void vnet_rx_post(struct vnet *n, unsigned count)
{
	for (unsigned i = 0; i < count; i++) {
		struct vring_buf b = { (uintptr_t)n->mem->rx_bufs[n->rxq.next_desc], VNET_RXBUF,
				       true };

		vring_add(&n->rxq, &b, 1);
	}
	vring_kick(&n->rxq);
}

uint32_t vnet_rx_frame(struct vnet *n, bool repost, uint64_t spins)
{
	uint8_t *frame = n->mem->frame;
	uint32_t id, len, total = 0;
	uint16_t bufs;

	if (!vring_wait(&n->rxq, &id, &len, spins) || id >= VNET_QSIZE ||
	    len > VNET_RXBUF || len < VNET_HDR_SIZE)
		return 0;
	memcpy(frame, n->mem->rx_bufs[id], len);
	total = len;
	/* §5.1.6.4: the first buffer says how many the frame took. */
	bufs = ((struct vnet_hdr *)frame)->num_buffers;
	for (uint16_t k = 1; k < bufs; k++) {
		if (!vring_wait(&n->rxq, &id, &len, spins) || id >= VNET_QSIZE ||
		    len > VNET_RXBUF || total + len > VNET_FRAME_MAX)
			return 0;
		memcpy(frame + total, n->mem->rx_bufs[id], len);
		total += len;
	}
	if (repost)
		vnet_rx_post(n, bufs);
	return total;
}

uint8_t *vnet_tx_slot(struct vnet *n)
{
	return n->mem->tx_slots[n->tx_next % VNET_TXSLOTS];
}

void vnet_tx_send(struct vnet *n, uint32_t len, bool kick)
{
	uint8_t *p = vnet_tx_slot(n);
	struct vring_buf b[3] = { { (uintptr_t)p, VNET_HDR_SIZE, false } };
	unsigned count = 1;
	uint32_t id, ulen;

	/* Free slots: at most VNET_TXSLOTS in flight. */
	while (n->tx_inflight >= VNET_TXSLOTS && vring_wait(&n->txq, &id, &ulen, VNET_WAIT_SPINS))
		n->tx_inflight--;
	if (len > VNET_HDR_SIZE + 100) {
		b[count++] = (struct vring_buf){ (uintptr_t)p + 12, 100, false };
		b[count++] = (struct vring_buf){ (uintptr_t)p + 112, len - 112, false };
	} else if (len > VNET_HDR_SIZE) {
		b[count++] = (struct vring_buf){ (uintptr_t)p + 12, len - 12, false };
	}
	vring_add(&n->txq, b, count);
	n->tx_next++;
	n->tx_inflight++;
	if (kick)
		vring_kick(&n->txq);
}

bool vnet_tx_drain(struct vnet *n)
{
	uint32_t id, len;

	vring_kick(&n->txq);
	while (n->tx_inflight) {
		if (!vring_wait(&n->txq, &id, &len, VNET_WAIT_SPINS))
			return false;
		n->tx_inflight--;
	}
	return true;
}
