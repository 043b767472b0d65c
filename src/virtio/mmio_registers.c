/* The virtio-mmio register window (virtio 1.2 §4.2.2): what a vCPU's MMIO
 * access reads or changes — status, feature negotiation, queue set-up,
 * the device's configuration space. See mmio.h. */
#include "virtio/mmio.h"
#include "virtio/mmio_internal.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

/* Feature bits every device gets from the transport and queue.c. */
#define TRANSPORT_FEATURES ((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_F_EVENT_IDX) | \
			    (1ULL << VIRTIO_F_INDIRECT_DESC))

_Static_assert(VIRTQ_FEATURE_EVENT_IDX == 1ULL << VIRTIO_F_EVENT_IDX, "feature bit 29");
_Static_assert(VIRTQ_FEATURE_INDIRECT_DESC == 1ULL << VIRTIO_F_INDIRECT_DESC, "feature bit 28");

static uint64_t offered_features(const struct virtio_mmio *dev)
{
	return dev->ops->features | TRANSPORT_FEATURES;
}

/* A guest writing registers it may no longer change is a driver bug, not
 * an emergency: ignore the write, say so once per device. */
static void frozen_write(struct virtio_mmio *dev, uint64_t offset, uint32_t value, const char *why)
{
	if (dev->frozen_write_logged)
		return;
	dev->frozen_write_logged = true;
	log_warn("%s at 0x%llx: write of 0x%x to register 0x%llx ignored: %s (logged once)",
		 dev->ops->name, (unsigned long long)dev->base, value, (unsigned long long)offset,
		 why);
}

/* Lock held. §2.4 / §4.2.2: Status 0 resets the device. */
static void device_reset(struct virtio_mmio *dev)
{
	if (dev->ops->reset)
		dev->ops->reset(dev->opaque);
	for (unsigned i = 0; i < dev->ops->nr_queues; i++)
		virtq_reset(&dev->queues[i]);
	dev->status = 0;
	dev->device_features_sel = 0;
	dev->driver_features_sel = 0;
	dev->driver_features = 0;
	dev->queue_sel = 0;
	atomic_store(&dev->interrupt_status, 0);
}

/* §3.1.1 step 5: FEATURES_OK sticks only for a subset of what we offer
 * that includes VIRTIO_F_VERSION_1 (we have no legacy interface, §6.1). */
static bool features_acceptable(struct virtio_mmio *dev)
{
	uint64_t extra = dev->driver_features & ~offered_features(dev);

	if (extra) {
		log_warn("%s at 0x%llx: driver features 0x%llx include unoffered bits 0x%llx; FEATURES_OK refused",
			 dev->ops->name, (unsigned long long)dev->base,
			 (unsigned long long)dev->driver_features, (unsigned long long)extra);
		return false;
	}
	if (!(dev->driver_features & (1ULL << VIRTIO_F_VERSION_1))) {
		log_warn("%s at 0x%llx: driver did not accept VIRTIO_F_VERSION_1 (legacy drivers are not supported); FEATURES_OK refused",
			 dev->ops->name, (unsigned long long)dev->base);
		return false;
	}
	return true;
}

static void driver_ok(struct virtio_mmio *dev)
{
	int ret = dev->ops->activate ? dev->ops->activate(dev->opaque, dev) : 0;

	if (ret < 0) {
		char why[96];

		snprintf(why, sizeof(why), "activation failed: %s", strerror(-ret));
		virtio_mmio_enter_needs_reset(dev, why);
		return;
	}
	/* Buffers the driver queued before DRIVER_OK were not looked at
	 * (§3.1.1): look now, on the event loop. */
	for (unsigned i = 0; i < dev->ops->nr_queues; i++)
		if (dev->queues[i].ready)
			virtio_mmio_signal_fd(dev->notify_fd[i]);
}

static void status_write(struct virtio_mmio *dev, uint32_t value)
{
	uint32_t keep = dev->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET;
	uint32_t next = (value & ~VIRTIO_STATUS_DEVICE_NEEDS_RESET) | keep;
	uint32_t added;

	if (value == 0) {
		device_reset(dev);
		return;
	}
	/* The driver only adds bits (§3.1.1); clearing one takes a reset. */
	if (dev->status & ~next) {
		frozen_write(dev, VIRTIO_MMIO_STATUS, value, "status bits are only cleared by a reset");
		return;
	}
	added = next & ~dev->status;
	if ((added & VIRTIO_STATUS_FEATURES_OK) && !features_acceptable(dev))
		next &= ~VIRTIO_STATUS_FEATURES_OK;
	dev->status = next;
	if (!(added & VIRTIO_STATUS_DRIVER_OK))
		return;
	if (!(next & VIRTIO_STATUS_FEATURES_OK))
		virtio_mmio_enter_needs_reset(dev, "DRIVER_OK set without FEATURES_OK");
	else if (!keep)
		driver_ok(dev);
}

static struct virtq *selected_queue(struct virtio_mmio *dev)
{
	return dev->queue_sel < dev->ops->nr_queues ? &dev->queues[dev->queue_sel] : NULL;
}

/* §4.2.2.2: queue registers are written only while the queue is not
 * ready; and we freeze the whole configuration at DRIVER_OK. */
static struct virtq *writable_queue(struct virtio_mmio *dev, uint64_t offset, uint32_t value)
{
	struct virtq *q = selected_queue(dev);

	if (!q)
		return NULL;
	if (dev->status & VIRTIO_STATUS_DRIVER_OK) {
		frozen_write(dev, offset, value, "queue configuration is frozen after DRIVER_OK");
		return NULL;
	}
	if (q->ready) {
		frozen_write(dev, offset, value, "the queue is ready");
		return NULL;
	}
	return q;
}

static void set_half(uint64_t *field, bool high, uint32_t value)
{
	if (high)
		*field = (*field & 0xffffffffULL) | ((uint64_t)value << 32);
	else
		*field = (*field & ~0xffffffffULL) | value;
}

static void queue_ready_write(struct virtio_mmio *dev, uint32_t value)
{
	struct virtq *q = selected_queue(dev);
	char why[VIRTQ_ERROR_MAX + 32];

	if (!q)
		return;
	if (dev->status & VIRTIO_STATUS_DRIVER_OK) {
		frozen_write(dev, VIRTIO_MMIO_QUEUE_READY, value,
			     "queue configuration is frozen after DRIVER_OK");
		return;
	}
	if (value == 0) {
		virtq_disable(q);
		return;
	}
	if (q->ready)
		return;
	/* Validation at activation: from here on the rings are trusted to
	 * be where they are, and only their contents are checked. */
	if (virtq_activate(q, dev->driver_features) < 0) {
		snprintf(why, sizeof(why), "queue %u: %s", dev->queue_sel, q->error);
		virtio_mmio_enter_needs_reset(dev, why);
	}
}

static void driver_features_write(struct virtio_mmio *dev, uint32_t value)
{
	if (dev->status & (VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK)) {
		frozen_write(dev, VIRTIO_MMIO_DRIVER_FEATURES, value,
			     "features are frozen once FEATURES_OK is set");
		return;
	}
	if (dev->driver_features_sel < 2)
		set_half(&dev->driver_features, dev->driver_features_sel == 1, value);
}

static uint32_t register_read(struct virtio_mmio *dev, uint64_t offset)
{
	const struct virtq *q = selected_queue(dev);
	uint64_t features = offered_features(dev);

	switch (offset) {
	case VIRTIO_MMIO_MAGIC_VALUE: return VIRTIO_MMIO_MAGIC;
	case VIRTIO_MMIO_VERSION: return VIRTIO_MMIO_VERSION_2;
	case VIRTIO_MMIO_DEVICE_ID: return dev->ops->device_id;
	case VIRTIO_MMIO_VENDOR_ID: return VIRTIO_MMIO_VENDOR;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		return dev->device_features_sel < 2 ?
		       (uint32_t)(features >> (32 * dev->device_features_sel)) : 0;
	case VIRTIO_MMIO_QUEUE_NUM_MAX: return q ? q->size_max : 0;
	case VIRTIO_MMIO_QUEUE_READY: return q ? q->ready : 0;
	case VIRTIO_MMIO_INTERRUPT_STATUS: return atomic_load(&dev->interrupt_status);
	case VIRTIO_MMIO_STATUS: return dev->status;
	case VIRTIO_MMIO_CONFIG_GENERATION: return dev->config_generation;
	default:
		/* §4.2.2: a shared memory region that does not exist has
		 * length and base all-ones; we have none. */
		if (offset >= VIRTIO_MMIO_SHM_LEN_LOW && offset <= VIRTIO_MMIO_SHM_BASE_HIGH)
			return UINT32_MAX;
		return 0;  /* write-only and reserved registers */
	}
}

static void register_write(struct virtio_mmio *dev, uint64_t offset, uint32_t value)
{
	struct virtq *q;

	switch (offset) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL: dev->device_features_sel = value; break;
	case VIRTIO_MMIO_DRIVER_FEATURES: driver_features_write(dev, value); break;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL: dev->driver_features_sel = value; break;
	case VIRTIO_MMIO_QUEUE_SEL: dev->queue_sel = value; break;
	case VIRTIO_MMIO_QUEUE_NUM:
		q = writable_queue(dev, offset, value);
		/* Too large for 16 bits: keep an invalid size, refused at
		 * activation. */
		if (q)
			q->size = value > UINT16_MAX ? 0 : (uint16_t)value;
		break;
	case VIRTIO_MMIO_QUEUE_READY: queue_ready_write(dev, value); break;
	case VIRTIO_MMIO_QUEUE_NOTIFY:
		/* Only notifications KVM's ioeventfd did not match get here
		 * (another width, or tests without KVM): hand them to the
		 * event loop all the same. Unknown queues are ignored. */
		if (value < dev->ops->nr_queues)
			virtio_mmio_signal_fd(dev->notify_fd[value]);
		break;
	case VIRTIO_MMIO_INTERRUPT_ACK: atomic_fetch_and(&dev->interrupt_status, ~value); break;
	case VIRTIO_MMIO_STATUS: status_write(dev, value); break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		if ((q = writable_queue(dev, offset, value)))
			set_half(&q->desc_addr, offset == VIRTIO_MMIO_QUEUE_DESC_HIGH, value);
		break;
	case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
	case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
		if ((q = writable_queue(dev, offset, value)))
			set_half(&q->avail_addr, offset == VIRTIO_MMIO_QUEUE_DRIVER_HIGH, value);
		break;
	case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
	case VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
		if ((q = writable_queue(dev, offset, value)))
			set_half(&q->used_addr, offset == VIRTIO_MMIO_QUEUE_DEVICE_HIGH, value);
		break;
	default:
		break;  /* read-only and reserved registers */
	}
}

static bool config_access_ok(const struct virtio_mmio *dev, uint64_t offset, unsigned size)
{
	uint64_t at = offset - VIRTIO_MMIO_CONFIG;

	return at < dev->ops->config_size && size <= dev->ops->config_size - at;
}

/* Control registers are 32 bits wide and aligned (§4.2.2.2); other
 * accesses read as zero and are dropped. The configuration space takes
 * any width. */
static void mmio_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct virtio_mmio *dev = opaque;
	uint32_t value;

	memset(data, 0, size);
	pthread_mutex_lock(&dev->lock);
	if (offset >= VIRTIO_MMIO_CONFIG) {
		if (dev->ops->config_read && config_access_ok(dev, offset, size))
			dev->ops->config_read(dev->opaque, (uint32_t)(offset - VIRTIO_MMIO_CONFIG), data,
					      size);
	} else if (size == 4 && !(offset & 3)) {
		value = register_read(dev, offset);
		memcpy(data, &value, 4);
	}
	pthread_mutex_unlock(&dev->lock);
}

static void mmio_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct virtio_mmio *dev = opaque;
	uint32_t value;

	pthread_mutex_lock(&dev->lock);
	if (offset >= VIRTIO_MMIO_CONFIG) {
		if (dev->ops->config_write && config_access_ok(dev, offset, size))
			dev->ops->config_write(dev->opaque, (uint32_t)(offset - VIRTIO_MMIO_CONFIG),
					       data, size);
	} else if (size == 4 && !(offset & 3)) {
		memcpy(&value, data, 4);
		register_write(dev, offset, value);
	}
	pthread_mutex_unlock(&dev->lock);
}

const struct bus_device_ops virtio_mmio_bus_ops = {
	.read = mmio_read,
	.write = mmio_write,
};
