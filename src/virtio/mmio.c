/* The virtio-mmio transport, version 2 (virtio 1.2 §4.2): set-up and
 * teardown, queue service on the event loop, interrupts and the
 * DEVICE_NEEDS_RESET state. The register window is mmio_registers.c.
 * See mmio.h. */
#include "virtio/mmio.h"
#include "virtio/mmio_internal.h"

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

void virtio_mmio_signal_fd(int fd)
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
	virtio_mmio_signal_fd(dev->irq_fd);
}

/* Lock held. §2.1.2: the device could not go on; the driver must reset it.
 * Only this device stops: the VM and the other devices keep running. */
void virtio_mmio_enter_needs_reset(struct virtio_mmio *dev, const char *why)
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
	virtio_mmio_enter_needs_reset(dev, why);
}

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
	virtio_mmio_enter_needs_reset(dev, why);
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
		virtio_mmio_signal_fd(dev->irq_fd);
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
