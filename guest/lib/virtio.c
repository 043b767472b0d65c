/* A small polling virtio-mmio driver (virtio 1.2 §2.7, §3.1, §4.2). */
#include "virtio.h"

#include "io.h"
#include "libguest.h"

/* x86 keeps stores in order and loads in order, so publishing needs only
 * the compiler's cooperation; a store followed by a load of another
 * location (EVENT_IDX checks) needs a full fence (SDM vol. 3 §8.2.2). */
static inline void mb(void)
{
	__asm__ volatile("mfence" : : : "memory");
}

uint32_t virtio_read(const struct virtio_dev *dev, unsigned reg)
{
	return *(volatile uint32_t *)(dev->base + reg);
}

void virtio_write(const struct virtio_dev *dev, unsigned reg, uint32_t value)
{
	*(volatile uint32_t *)(dev->base + reg) = value;
}

bool virtio_probe(uint32_t device_id, unsigned nth, struct virtio_dev *dev)
{
	for (unsigned slot = 0; slot < VIRTIO_MMIO_SLOTS; slot++) {
		struct virtio_dev d = { .base = VIRTIO_MMIO_BASE + slot * VIRTIO_MMIO_WINDOW,
					.slot = slot };

		/* §4.2.3.1: magic and version first; an empty window reads
		 * all-ones. Device ID 0 is a placeholder. */
		if (virtio_read(&d, VIRTIO_MMIO_MAGIC_VALUE) != VIRTIO_MMIO_MAGIC ||
		    virtio_read(&d, VIRTIO_MMIO_VERSION) != 2)
			continue;
		d.device_id = virtio_read(&d, VIRTIO_MMIO_DEVICE_ID);
		if (d.device_id != device_id || nth-- > 0)
			continue;
		*dev = d;
		return true;
	}
	return false;
}

void virtio_reset(struct virtio_dev *dev)
{
	virtio_write(dev, VIRTIO_MMIO_STATUS, 0);
	while (virtio_read(dev, VIRTIO_MMIO_STATUS) != 0)
		cpu_relax();
}

uint32_t virtio_status(const struct virtio_dev *dev)
{
	return virtio_read(dev, VIRTIO_MMIO_STATUS);
}

static void status_set(struct virtio_dev *dev, uint32_t bits)
{
	virtio_write(dev, VIRTIO_MMIO_STATUS, virtio_status(dev) | bits);
}

int virtio_negotiate(struct virtio_dev *dev, uint64_t wanted)
{
	virtio_reset(dev);
	status_set(dev, VIRTIO_STATUS_ACKNOWLEDGE);
	status_set(dev, VIRTIO_STATUS_DRIVER);
	dev->device_features = 0;
	for (unsigned sel = 0; sel < 2; sel++) {
		virtio_write(dev, VIRTIO_MMIO_DEVICE_FEATURES_SEL, sel);
		dev->device_features |= (uint64_t)virtio_read(dev, VIRTIO_MMIO_DEVICE_FEATURES)
					<< (32 * sel);
	}
	dev->features = dev->device_features & (wanted | (1ULL << VIRTIO_F_VERSION_1));
	for (unsigned sel = 0; sel < 2; sel++) {
		virtio_write(dev, VIRTIO_MMIO_DRIVER_FEATURES_SEL, sel);
		virtio_write(dev, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(dev->features >> (32 * sel)));
	}
	status_set(dev, VIRTIO_STATUS_FEATURES_OK);
	return virtio_status(dev) & VIRTIO_STATUS_FEATURES_OK ? 0 : -1;
}

static void write_addr(struct virtio_dev *dev, unsigned low_reg, const void *p)
{
	uint64_t addr = (uintptr_t)p;  /* identity map: virtual = physical */

	virtio_write(dev, low_reg, (uint32_t)addr);
	virtio_write(dev, low_reg + 4, (uint32_t)(addr >> 32));
}

int virtio_queue_setup(struct virtio_dev *dev, struct vring *vq, unsigned index, uint16_t size,
		       void *mem)
{
	uint8_t *base = mem;
	uint32_t max;

	*vq = (struct vring){
		.dev = dev,
		.index = index,
		.size = size,
		.desc = (struct vring_desc *)base,
		.avail = (struct vring_avail *)(base + 16UL * size),
		.used = (struct vring_used *)(base + VRING_USED_OFFSET(size)),
		.event_idx = dev->features & (1ULL << VIRTIO_F_EVENT_IDX),
	};
	/* §4.2.3.2, in order. */
	virtio_write(dev, VIRTIO_MMIO_QUEUE_SEL, index);
	if (virtio_read(dev, VIRTIO_MMIO_QUEUE_READY) != 0)
		return -1;
	max = virtio_read(dev, VIRTIO_MMIO_QUEUE_NUM_MAX);
	if (max == 0 || size > max)
		return -1;
	virtio_write(dev, VIRTIO_MMIO_QUEUE_NUM, size);
	write_addr(dev, VIRTIO_MMIO_QUEUE_DESC_LOW, vq->desc);
	write_addr(dev, VIRTIO_MMIO_QUEUE_DRIVER_LOW, vq->avail);
	write_addr(dev, VIRTIO_MMIO_QUEUE_DEVICE_LOW, vq->used);
	virtio_write(dev, VIRTIO_MMIO_QUEUE_READY, 1);
	return virtio_read(dev, VIRTIO_MMIO_QUEUE_READY) == 1 ? 0 : -1;
}

void virtio_driver_ok(struct virtio_dev *dev)
{
	status_set(dev, VIRTIO_STATUS_DRIVER_OK);
}

void vring_publish(struct vring *vq, uint16_t head)
{
	vq->avail->ring[vq->avail_idx & (vq->size - 1)] = head;
	/* §2.7.13.1: the entry before the index. */
	barrier();
	WRITE_ONCE(vq->avail->idx, ++vq->avail_idx);
}

static uint16_t fill_chain(struct vring_desc *table, uint16_t first, uint16_t table_size,
			   const struct vring_buf *bufs, unsigned n)
{
	uint16_t i = first;

	for (unsigned k = 0; k < n; k++) {
		uint16_t next = (uint16_t)((i + 1) & (table_size - 1));

		table[i] = (struct vring_desc){
			.addr = bufs[k].addr,
			.len = bufs[k].len,
			.flags = (uint16_t)((bufs[k].write ? VRING_DESC_F_WRITE : 0) |
					    (k + 1 < n ? VRING_DESC_F_NEXT : 0)),
			.next = k + 1 < n ? next : 0,
		};
		i = next;
	}
	return i;
}

uint16_t vring_add(struct vring *vq, const struct vring_buf *bufs, unsigned n)
{
	uint16_t head = vq->next_desc;

	vq->next_desc = fill_chain(vq->desc, head, vq->size, bufs, n);
	vring_publish(vq, head);
	return head;
}

uint16_t vring_add_indirect(struct vring *vq, struct vring_desc *table,
			    const struct vring_buf *bufs, unsigned n)
{
	uint16_t head = vq->next_desc;

	/* An indirect table is indexed from 0 and needs no power-of-two
	 * size: chain it linearly. */
	for (unsigned k = 0; k < n; k++)
		table[k] = (struct vring_desc){
			.addr = bufs[k].addr,
			.len = bufs[k].len,
			.flags = (uint16_t)((bufs[k].write ? VRING_DESC_F_WRITE : 0) |
					    (k + 1 < n ? VRING_DESC_F_NEXT : 0)),
			.next = (uint16_t)(k + 1 < n ? k + 1 : 0),
		};
	vq->desc[head] = (struct vring_desc){ .addr = (uintptr_t)table,
					      .len = (uint32_t)(n * sizeof(*table)),
					      .flags = VRING_DESC_F_INDIRECT };
	vq->next_desc = (uint16_t)((head + 1) & (vq->size - 1));
	vring_publish(vq, head);
	return head;
}

void vring_kick(struct vring *vq)
{
	mb();
	if (vq->event_idx) {
		/* §2.7.10: notify only if avail_event lies among the entries
		 * published since the last kick. */
		const volatile uint16_t *avail_event =
			(const volatile uint16_t *)((const uint8_t *)vq->used + 4 + 8UL * vq->size);
		uint16_t event = *avail_event;
		uint16_t new_idx = vq->avail_idx, old_idx = vq->kicked_idx;

		vq->kicked_idx = new_idx;
		if ((uint16_t)(new_idx - event - 1) >= (uint16_t)(new_idx - old_idx))
			return;
	} else if (READ_ONCE(vq->used->flags) & VRING_USED_F_NO_NOTIFY) {
		return;
	}
	virtio_write(vq->dev, VIRTIO_MMIO_QUEUE_NOTIFY, vq->index);
}

/* used_event for "interrupt me after the next used entry", or with
 * no_interrupts one that stays out of every window the device checks: the
 * device only looks at the entries it pushed since its last decision,
 * never 0x8000 of them. */
static uint16_t used_event_value(const struct vring *vq)
{
	return vq->no_interrupts ? (uint16_t)(vq->last_used + 0x8000) : vq->last_used;
}

void vring_no_interrupts(struct vring *vq)
{
	vq->no_interrupts = true;
	WRITE_ONCE(vq->avail->flags, VRING_AVAIL_F_NO_INTERRUPT);
	if (vq->event_idx)
		WRITE_ONCE(vq->avail->ring[vq->size], used_event_value(vq));
}

bool vring_poll(struct vring *vq, uint32_t *id, uint32_t *len)
{
	struct vring_used_elem e;

	if (READ_ONCE(vq->used->idx) == vq->last_used)
		return false;
	/* §2.7.8: the element is valid once the index covers it. */
	barrier();
	e = vq->used->ring[vq->last_used & (vq->size - 1)];
	vq->last_used++;
	if (vq->event_idx)
		WRITE_ONCE(vq->avail->ring[vq->size], used_event_value(vq));
	*id = e.id;
	*len = e.len;
	return true;
}

bool vring_wait(struct vring *vq, uint32_t *id, uint32_t *len, uint64_t max_spins)
{
	while (!vring_poll(vq, id, len)) {
		if (max_spins-- == 0)
			return false;
		cpu_relax();
	}
	return true;
}
