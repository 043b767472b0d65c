/* virtio-mmio transport state for snapshots. See mmio.h ("Snapshots") and
 * docs/snapshots.md. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "snapshot/buf.h"
#include "virtio/mmio.h"

static void signal_eventfd(int fd)
{
	uint64_t one = 1;

	/* Fails only if the counter would overflow: it is pending anyway. */
	if (fd >= 0 && write(fd, &one, sizeof(one)) < 0)
		(void)0;
}

int virtio_mmio_quiesce(struct virtio_mmio *dev)
{
	/* A notification KVM signalled but the loop has not read yet: take
	 * it now, so what the guest made available is handed to the
	 * back-end before it quiesces. Servicing it twice is harmless. */
	for (unsigned i = 0; i < dev->ops->nr_queues; i++)
		virtio_mmio_notify(dev, i);
	if (!dev->ops->quiesce)
		return 0;
	return dev->ops->quiesce(dev->opaque, dev);
}

int virtio_mmio_state_save(struct virtio_mmio *dev, struct snap_buf *t, struct snap_buf *backend)
{
	int ret = 0;

	pthread_mutex_lock(&dev->lock);
	snap_buf_put_u32(t, dev->ops->device_id);
	snap_buf_put_u32(t, dev->status);
	snap_buf_put_u32(t, dev->device_features_sel);
	snap_buf_put_u32(t, dev->driver_features_sel);
	snap_buf_put_u64(t, dev->driver_features);
	snap_buf_put_u32(t, dev->queue_sel);
	snap_buf_put_u32(t, dev->config_generation);
	snap_buf_put_u32(t, atomic_load(&dev->interrupt_status));
	snap_buf_put_u32(t, dev->ops->nr_queues);
	for (unsigned i = 0; i < dev->ops->nr_queues; i++) {
		const struct virtq *q = &dev->queues[i];

		if (q->ready && q->in_flight) {
			log_error("%s at 0x%llx: queue %u has %u requests in flight after quiescing",
				  dev->ops->name, (unsigned long long)dev->base, i, q->in_flight);
			ret = -EBUSY;
		}
		snap_buf_put_u16(t, q->size);
		snap_buf_put_u64(t, q->desc_addr);
		snap_buf_put_u64(t, q->avail_addr);
		snap_buf_put_u64(t, q->used_addr);
		snap_buf_put_u8(t, q->ready);
		snap_buf_put_u16(t, q->last_avail);
		snap_buf_put_u16(t, q->used_idx);
		snap_buf_put_u16(t, q->signalled_used);
	}
	if (dev->ops->state_save)
		dev->ops->state_save(dev->opaque, backend);
	pthread_mutex_unlock(&dev->lock);
	return ret;
}

/* A running device's ready queue: the saved positions must fit the rings
 * in the restored RAM, as they did when saved (nothing is in flight after
 * quiescing, and the device publishes used->idx with every push). The
 * driver may be at most a queue's worth ahead (§2.7.13: virtq_pop's own
 * rule), and used->idx is the device's, never written by the driver. */
static int check_positions(const struct virtio_mmio *dev, unsigned i, const struct virtq *q,
			   char *err, size_t errlen)
{
	uint16_t avail_idx = __atomic_load_n(&q->avail->idx, __ATOMIC_ACQUIRE);
	uint16_t used_idx = __atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE);

	if ((uint16_t)(avail_idx - q->last_avail) > q->size || used_idx != q->used_idx) {
		snprintf(err, errlen, "%s at 0x%llx: queue %u: saved positions (avail %u, used %u) do not fit its rings in RAM (avail->idx %u, used->idx %u, size %u)",
			 dev->ops->name, (unsigned long long)dev->base, i, q->last_avail, q->used_idx,
			 avail_idx, used_idx, q->size);
		return -EINVAL;
	}
	return 0;
}

/* The states status_write (mmio.c) can reach: FEATURES_OK only with
 * acceptable features (VERSION_1, §6.1; unoffered bits are checked by the
 * caller), DRIVER_OK without FEATURES_OK only with DEVICE_NEEDS_RESET (the
 * transport's answer to it). FAILED (§2.1) a driver may set and the
 * transport keeps, so it is accepted, as are the bits nobody defines. */
static int check_status(const struct virtio_mmio *dev, char *err, size_t errlen)
{
	uint32_t st = dev->status;
	const char *why = NULL;

	if ((st & VIRTIO_STATUS_FEATURES_OK) && !(dev->driver_features & (1ULL << VIRTIO_F_VERSION_1)))
		why = "FEATURES_OK without VIRTIO_F_VERSION_1";
	else if ((st & VIRTIO_STATUS_DRIVER_OK) && !(st & VIRTIO_STATUS_FEATURES_OK) &&
		 !(st & VIRTIO_STATUS_DEVICE_NEEDS_RESET))
		why = "DRIVER_OK without FEATURES_OK";
	if (!why)
		return 0;
	snprintf(err, errlen, "%s at 0x%llx: saved status 0x%x (features 0x%llx): %s, which the transport never allows",
		 dev->ops->name, (unsigned long long)dev->base, st,
		 (unsigned long long)dev->driver_features, why);
	return -EINVAL;
}

static bool running(const struct virtio_mmio *dev)
{
	return (dev->status & (VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_DEVICE_NEEDS_RESET)) ==
	       VIRTIO_STATUS_DRIVER_OK;
}

/* Lock held. One queue's configuration; a ready queue goes through the
 * same validation as when the driver enabled it. */
static int load_queue(struct virtio_mmio *dev, unsigned i, struct snap_cursor *c, char *err,
		      size_t errlen)
{
	struct virtq *q = &dev->queues[i];
	bool ready;
	uint16_t last_avail, used_idx, signalled;

	q->size = snap_get_u16(c);
	q->desc_addr = snap_get_u64(c);
	q->avail_addr = snap_get_u64(c);
	q->used_addr = snap_get_u64(c);
	ready = snap_get_u8(c) != 0;
	last_avail = snap_get_u16(c);
	used_idx = snap_get_u16(c);
	signalled = snap_get_u16(c);
	if (c->overrun || !ready)
		return 0;
	if (virtq_activate(q, dev->driver_features) < 0) {
		snprintf(err, errlen, "%s at 0x%llx: queue %u: %s", dev->ops->name,
			 (unsigned long long)dev->base, i, q->error);
		return -EINVAL;
	}
	/* Where the device was in both rings (§2.7.13: the driver's avail
	 * index and the used index live in guest memory, restored with it). */
	q->last_avail = last_avail;
	q->used_idx = used_idx;
	q->signalled_used = signalled;
	/* A device that needs a reset does nothing with its queues. */
	return running(dev) ? check_positions(dev, i, q, err, errlen) : 0;
}

int virtio_mmio_state_load(struct virtio_mmio *dev, const uint8_t *transport, size_t transport_len,
			   const uint8_t *backend, size_t backend_len, char *err, size_t errlen)
{
	struct snap_cursor c;
	uint32_t device_id, nr_queues, interrupt_status;
	uint64_t offered = dev->ops->features | (1ULL << VIRTIO_F_VERSION_1) |
			   (1ULL << VIRTIO_F_EVENT_IDX) | (1ULL << VIRTIO_F_INDIRECT_DESC);
	int ret = 0;

	snap_cursor_init(&c, transport, transport_len);
	pthread_mutex_lock(&dev->lock);
	device_id = snap_get_u32(&c);
	dev->status = snap_get_u32(&c);
	dev->device_features_sel = snap_get_u32(&c);
	dev->driver_features_sel = snap_get_u32(&c);
	dev->driver_features = snap_get_u64(&c);
	dev->queue_sel = snap_get_u32(&c);
	dev->config_generation = snap_get_u32(&c);
	interrupt_status = snap_get_u32(&c);
	nr_queues = snap_get_u32(&c);
	if (c.overrun || device_id != dev->ops->device_id || nr_queues != dev->ops->nr_queues) {
		snprintf(err, errlen, "%s at 0x%llx: saved as device %u with %u queues, not this device",
			 dev->ops->name, (unsigned long long)dev->base, device_id, nr_queues);
		ret = -EINVAL;
		goto unlock;
	}
	if (dev->driver_features & ~offered) {
		snprintf(err, errlen, "%s at 0x%llx: saved features 0x%llx include bits this device does not offer",
			 dev->ops->name, (unsigned long long)dev->base,
			 (unsigned long long)dev->driver_features);
		ret = -EINVAL;
		goto unlock;
	}
	ret = check_status(dev, err, errlen);
	if (ret < 0)
		goto unlock;
	atomic_store(&dev->interrupt_status, interrupt_status);
	for (unsigned i = 0; i < nr_queues && ret == 0; i++)
		ret = load_queue(dev, i, &c, err, errlen);
	if (ret == 0 && !snap_cursor_done(&c)) {
		snprintf(err, errlen, "%s at 0x%llx: transport state of %zu bytes does not decode",
			 dev->ops->name, (unsigned long long)dev->base, transport_len);
		ret = -EINVAL;
	}
	if (ret == 0 && dev->ops->state_load)
		ret = dev->ops->state_load(dev->opaque, backend, backend_len, err, errlen);
	/* A running device: the back-end takes its settings from the
	 * negotiated features, as at DRIVER_OK. */
	if (ret == 0 && (dev->status & (VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_DEVICE_NEEDS_RESET)) ==
			VIRTIO_STATUS_DRIVER_OK && dev->ops->activate) {
		ret = dev->ops->activate(dev->opaque, dev);
		if (ret < 0)
			snprintf(err, errlen, "%s at 0x%llx: re-activation: %s", dev->ops->name,
				 (unsigned long long)dev->base, strerror(-ret));
	}
unlock:
	pthread_mutex_unlock(&dev->lock);
	if (ret < 0)
		return ret;
	/* The line is level-triggered: high while InterruptStatus is not
	 * zero (§4.2.3.4). KVM's restored IOAPIC knows what was delivered;
	 * the new irqfd must hold the level again. */
	if (interrupt_status)
		signal_eventfd(dev->irq_fd);
	if ((dev->status & (VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_DEVICE_NEEDS_RESET)) ==
	    VIRTIO_STATUS_DRIVER_OK)
		for (unsigned i = 0; i < nr_queues; i++)
			if (dev->queues[i].ready)
				signal_eventfd(dev->notify_fd[i]);
	return 0;
}
