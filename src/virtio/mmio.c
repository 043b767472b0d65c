/* The virtio-mmio transport, version 2 (virtio 1.2 §4.2). See mmio.h. */
#include "virtio/mmio.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "event_loop.h"
#include "log.h"
#include "vm.h"

/* How many times one device logs that it entered NEEDS_RESET: a guest can
 * break and reset a device in a loop, and must not flood stderr. */
#define VIRTIO_MMIO_LOGGED_ERRORS 3

/* Feature bits every device gets from the transport and queue.c. */
#define TRANSPORT_FEATURES ((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_F_EVENT_IDX) | \
			    (1ULL << VIRTIO_F_INDIRECT_DESC))

_Static_assert(VIRTQ_FEATURE_EVENT_IDX == 1ULL << VIRTIO_F_EVENT_IDX, "feature bit 29");
_Static_assert(VIRTQ_FEATURE_INDIRECT_DESC == 1ULL << VIRTIO_F_INDIRECT_DESC, "feature bit 28");

static uint64_t offered_features(const struct virtio_mmio *dev)
{
	return dev->ops->features | TRANSPORT_FEATURES;
}

static void signal_fd(int fd)
{
	uint64_t one = 1;

	/* Fails only if the counter would overflow: it is pending anyway. */
	if (fd >= 0 && write(fd, &one, sizeof(one)) < 0)
		(void)0;
}

/* §4.2.3.4: the status bit is set before the line is raised, so the
 * driver's handler always finds the reason. */
static void raise_interrupt(struct virtio_mmio *dev, uint32_t bits)
{
	atomic_fetch_or(&dev->interrupt_status, bits);
	signal_fd(dev->irq_fd);
}

/* Lock held. §2.1.2: the device could not go on; the driver must reset it.
 * Only this device stops: the VM and the other devices keep running. */
static void enter_needs_reset(struct virtio_mmio *dev, const char *why)
{
	if (dev->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET)
		return;
	dev->status |= VIRTIO_STATUS_DEVICE_NEEDS_RESET;
	dev->errors++;
	snprintf(dev->needs_reset_reason, sizeof(dev->needs_reset_reason), "%s", why);
	if (dev->errors <= VIRTIO_MMIO_LOGGED_ERRORS)
		log_warn("%s at 0x%llx: %s; device needs reset%s", dev->ops->name,
			 (unsigned long long)dev->base, why,
			 dev->errors == VIRTIO_MMIO_LOGGED_ERRORS ? " (further errors not logged)" : "");
	/* §2.1.2: with DRIVER_OK set, tell the driver by a configuration
	 * change notification. */
	if (dev->status & VIRTIO_STATUS_DRIVER_OK)
		raise_interrupt(dev, VIRTIO_MMIO_INT_CONFIG);
}

static void queue_failed(struct virtio_mmio *dev, unsigned index, int err)
{
	char why[VIRTQ_ERROR_MAX + 32];
	const struct virtq *q = &dev->queues[index];

	snprintf(why, sizeof(why), "queue %u: %s", index, q->error[0] ? q->error : strerror(-err));
	enter_needs_reset(dev, why);
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
		enter_needs_reset(dev, why);
		return;
	}
	/* Buffers the driver queued before DRIVER_OK were not looked at
	 * (§3.1.1): look now, on the event loop. */
	for (unsigned i = 0; i < dev->ops->nr_queues; i++)
		if (dev->queues[i].ready)
			signal_fd(dev->notify_fd[i]);
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
		enter_needs_reset(dev, "DRIVER_OK set without FEATURES_OK");
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
		enter_needs_reset(dev, why);
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
			signal_fd(dev->notify_fd[value]);
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

void virtio_mmio_notify(struct virtio_mmio *dev, unsigned index)
{
	virtio_mmio_service(dev, index, NULL, NULL);
}

void virtio_mmio_service(struct virtio_mmio *dev, unsigned index,
			 virtio_mmio_complete_fn *complete, void *opaque)
{
	struct virtq *q;
	int ret;

	if (index >= dev->ops->nr_queues)
		return;
	q = &dev->queues[index];
	pthread_mutex_lock(&dev->lock);
	if (complete) {
		ret = complete(opaque, q);
		if (ret < 0 && ret != -ESTALE)
			queue_failed(dev, index, ret);
	}
	/* §4.2.2.1: no queue access unless ready; §3.1.1: no buffers used
	 * before DRIVER_OK; §2.1.2: nothing more once broken. */
	if ((dev->status & (VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_DEVICE_NEEDS_RESET)) ==
	    VIRTIO_STATUS_DRIVER_OK && q->ready) {
		dev->notifications++;
		q->error[0] = '\0';
		ret = dev->ops->queue_notify(dev->opaque, dev, index);
		if (ret < 0)
			queue_failed(dev, index, ret);
	}
	/* A malformed chain was still returned to the used ring. */
	if (virtq_needs_interrupt(q))
		raise_interrupt(dev, VIRTIO_MMIO_INT_VRING);
	pthread_mutex_unlock(&dev->lock);
}

int virtio_mmio_complete(struct virtio_mmio *dev, unsigned index, uint32_t epoch, uint16_t head,
			 uint32_t len)
{
	struct virtq *q;
	int ret;

	if (index >= dev->ops->nr_queues)
		return -EINVAL;
	q = &dev->queues[index];
	pthread_mutex_lock(&dev->lock);
	ret = virtq_push_epoch(q, epoch, head, len);
	if (ret < 0 && ret != -ESTALE)
		queue_failed(dev, index, ret);
	if (ret == 0 && virtq_needs_interrupt(q))
		raise_interrupt(dev, VIRTIO_MMIO_INT_VRING);
	pthread_mutex_unlock(&dev->lock);
	return ret;
}

void virtio_mmio_fail(struct virtio_mmio *dev, const char *why)
{
	pthread_mutex_lock(&dev->lock);
	enter_needs_reset(dev, why);
	pthread_mutex_unlock(&dev->lock);
}

void virtio_mmio_config_changed(struct virtio_mmio *dev)
{
	dev->config_generation++;
	if (dev->status & VIRTIO_STATUS_DRIVER_OK)
		raise_interrupt(dev, VIRTIO_MMIO_INT_CONFIG);
}

static bool ops_valid(const struct virtio_device_ops *ops)
{
	uint16_t max = ops->queue_size_max;

	return ops->name && ops->queue_notify && ops->nr_queues >= 1 &&
	       ops->nr_queues <= VIRTIO_MMIO_MAX_QUEUES && max && max <= VIRTQ_MAX_SIZE &&
	       !(max & (max - 1)) && ops->config_size <= VIRTIO_MMIO_CONFIG_MAX;
}

static void close_fds(struct virtio_mmio *dev)
{
	for (unsigned i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++) {
		if (dev->notify_fd[i] >= 0)
			close(dev->notify_fd[i]);
		dev->notify_fd[i] = -1;
	}
	if (dev->irq_fd >= 0)
		close(dev->irq_fd);
	if (dev->resample_fd >= 0)
		close(dev->resample_fd);
	dev->irq_fd = dev->resample_fd = -1;
}

int virtio_mmio_init(struct virtio_mmio *dev, const struct virtio_device_ops *ops, void *opaque,
		     const struct guest_memory *mem, uint64_t base, unsigned gsi)
{
	int ret;

	memset(dev, 0, sizeof(*dev));
	for (unsigned i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++)
		dev->notify_fd[i] = -1;
	dev->irq_fd = dev->resample_fd = -1;
	if (!ops_valid(ops))
		return -EINVAL;
	dev->ops = ops;
	dev->opaque = opaque;
	dev->base = base;
	dev->gsi = gsi;
	for (unsigned i = 0; i < ops->nr_queues; i++)
		virtq_init(&dev->queues[i], mem, ops->queue_size_max);
	ret = -pthread_mutex_init(&dev->lock, NULL);
	if (ret < 0)
		return ret;
	for (unsigned i = 0; i < ops->nr_queues; i++) {
		dev->notify_fd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (dev->notify_fd[i] < 0)
			goto close_fds;
	}
	dev->irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	dev->resample_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (dev->irq_fd < 0 || dev->resample_fd < 0)
		goto close_fds;
	return 0;

close_fds:
	ret = -errno;
	close_fds(dev);
	pthread_mutex_destroy(&dev->lock);
	dev->ops = NULL;
	return ret;
}

static void drain(int fd)
{
	uint64_t count;

	if (read(fd, &count, sizeof(count)) < 0)
		(void)0;  /* EAGAIN: someone else drained it */
}

static void on_notify(void *opaque, int fd, uint32_t events)
{
	struct virtio_mmio *dev = opaque;

	(void)events;
	drain(fd);
	for (unsigned i = 0; i < dev->ops->nr_queues; i++)
		if (dev->notify_fd[i] == fd)
			virtio_mmio_notify(dev, i);
}

/* The guest EOI'd our level-triggered line and KVM lowered it: raise it
 * again while any InterruptStatus bit is still unacknowledged (§4.2.3.4,
 * "asserted when at least one of the bits is set"). */
static void on_resample(void *opaque, int fd, uint32_t events)
{
	struct virtio_mmio *dev = opaque;

	(void)events;
	drain(fd);
	if (atomic_load(&dev->interrupt_status))
		signal_fd(dev->irq_fd);
}

/* The line is level-triggered (IOAPIC pins 16-23, MP table): a plain
 * irqfd pulses it, and a pulse that arrives while the guest still has the
 * previous interrupt in service (remote IRR set) is lost. A resampling
 * irqfd keeps the line high until the EOI and lets on_resample() decide
 * whether to raise it again. Without KVM_CAP_IRQFD_RESAMPLE, pulses. */
static int bind_irqfd(struct virtio_mmio *dev, struct vm *vm)
{
	struct kvm_irqfd irqfd = {
		.fd = (uint32_t)dev->irq_fd,
		.gsi = dev->gsi,
		.flags = KVM_IRQFD_FLAG_RESAMPLE,
		.resamplefd = (uint32_t)dev->resample_fd,
	};

	if (kvm_check_extension(vm->fd, KVM_CAP_IRQFD_RESAMPLE) <= 0) {
		close(dev->resample_fd);
		dev->resample_fd = -1;
		return vm_add_irqfd(vm, dev->gsi, dev->irq_fd);
	}
	if (ioctl(vm->fd, KVM_IRQFD, &irqfd) < 0)
		return log_syscall_error("KVM_IRQFD (resample)", errno);
	return 0;
}

int virtio_mmio_attach(struct virtio_mmio *dev, struct vm *vm, struct event_loop *loop)
{
	uint64_t notify = dev->base + VIRTIO_MMIO_QUEUE_NOTIFY;
	int ret;

	ret = bus_insert(&vm->mmio, dev->base, VIRTIO_MMIO_WINDOW, &virtio_mmio_bus_ops, dev,
			 dev->ops->name);
	if (ret < 0) {
		log_error("cannot map %s at 0x%llx: %s", dev->ops->name,
			  (unsigned long long)dev->base, strerror(-ret));
		return ret;
	}
	dev->mapped = true;
	dev->vm = vm;
	for (unsigned i = 0; i < dev->ops->nr_queues; i++) {
		uint64_t index = i;

		/* §4.2.3.3: the driver writes the queue index to QueueNotify. */
		ret = vm_add_ioeventfd(vm, VM_IO_MMIO, notify, 4, &index, dev->notify_fd[i]);
		if (ret < 0)
			return ret;
		dev->nr_ioeventfds = i + 1;
	}
	ret = bind_irqfd(dev, vm);
	if (ret < 0)
		return ret;
	dev->irqfd_bound = true;
	dev->loop = loop;
	for (unsigned i = 0; i < dev->ops->nr_queues && ret == 0; i++)
		ret = event_loop_add(loop, dev->notify_fd[i], on_notify, dev);
	if (ret == 0 && dev->resample_fd >= 0)
		ret = event_loop_add(loop, dev->resample_fd, on_resample, dev);
	if (ret < 0)
		return log_syscall_error("epoll_ctl(virtio notification)", -ret);
	return 0;
}

void virtio_mmio_destroy(struct virtio_mmio *dev)
{
	if (!dev->ops)
		return;
	if (dev->loop) {
		for (unsigned i = 0; i < dev->ops->nr_queues; i++)
			event_loop_remove(dev->loop, dev->notify_fd[i]);
		if (dev->resample_fd >= 0)
			event_loop_remove(dev->loop, dev->resample_fd);
	}
	for (unsigned i = 0; i < dev->nr_ioeventfds; i++) {
		uint64_t index = i;

		vm_remove_ioeventfd(dev->vm, VM_IO_MMIO, dev->base + VIRTIO_MMIO_QUEUE_NOTIFY, 4,
				    &index, dev->notify_fd[i]);
	}
	if (dev->irqfd_bound) {
		struct kvm_irqfd irqfd = { .fd = (uint32_t)dev->irq_fd, .gsi = dev->gsi,
					   .flags = KVM_IRQFD_FLAG_DEASSIGN };

		if (ioctl(dev->vm->fd, KVM_IRQFD, &irqfd) < 0)
			log_syscall_error("KVM_IRQFD (remove)", errno);
	}
	close_fds(dev);
	pthread_mutex_destroy(&dev->lock);
	dev->ops = NULL;
}
