/* The driver's side of the virtio device unit tests: see virtio_test.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "virtio_test.h"

void vdrv_bind(struct vdrv *d, struct guest_memory *mem, struct virtio_mmio *dev,
	       uint16_t num_max)
{
	*d = (struct vdrv){ .mem = mem, .dev = dev, .num_max = num_max };
}

uint32_t vdrv_read(struct vdrv *d, uint64_t offset)
{
	uint32_t v;

	virtio_mmio_bus_ops.read(d->dev, offset, &v, 4);
	return v;
}

void vdrv_write(struct vdrv *d, uint64_t offset, uint32_t value)
{
	virtio_mmio_bus_ops.write(d->dev, offset, &value, 4);
}

uint64_t vdrv_device_features(struct vdrv *d)
{
	uint64_t lo, hi;

	vdrv_write(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	lo = vdrv_read(d, VIRTIO_MMIO_DEVICE_FEATURES);
	vdrv_write(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	hi = vdrv_read(d, VIRTIO_MMIO_DEVICE_FEATURES);
	return lo | hi << 32;
}

void vdrv_set_features(struct vdrv *d, uint64_t features)
{
	vdrv_write(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	vdrv_write(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)features);
	vdrv_write(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	vdrv_write(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
}

bool vdrv_needs_reset(struct vdrv *d)
{
	return vdrv_read(d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET;
}

void vdrv_queue_setup_at(struct vdrv *d, unsigned q, uint16_t size, uint64_t desc,
			 uint64_t avail, uint64_t used)
{
	assert_true(q < VDRV_MAX_QUEUES);
	d->q[q] = (struct vdrv_queue){ .size = size };
	vdrv_write(d, VIRTIO_MMIO_QUEUE_SEL, q);
	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_QUEUE_READY), 0);
	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_QUEUE_NUM_MAX), d->num_max);
	vdrv_write(d, VIRTIO_MMIO_QUEUE_NUM, size);
	vdrv_write(d, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
	vdrv_write(d, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
	vdrv_write(d, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)avail);
	vdrv_write(d, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)(avail >> 32));
	vdrv_write(d, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)used);
	vdrv_write(d, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)(used >> 32));
	vdrv_write(d, VIRTIO_MMIO_QUEUE_READY, 1);
}

void vdrv_queue_setup(struct vdrv *d, unsigned q, uint16_t size)
{
	/* The three rings and what lies between them: nothing left over
	 * from a test's earlier use of the queue. */
	memset(vdrv_gpa(d, VDRV_RING_GPA(q), 0x3000), 0, 0x3000);
	vdrv_queue_setup_at(d, q, size, VDRV_DESC_GPA(q), VDRV_AVAIL_GPA(q), VDRV_USED_GPA(q));
}

void vdrv_init(struct vdrv *d, uint64_t features, unsigned nr_queues, uint16_t size)
{
	const uint32_t st = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;

	vdrv_write(d, VIRTIO_MMIO_STATUS, 0);
	vdrv_write(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	vdrv_write(d, VIRTIO_MMIO_STATUS, st);
	vdrv_set_features(d, features);
	vdrv_write(d, VIRTIO_MMIO_STATUS, st | VIRTIO_STATUS_FEATURES_OK);
	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_STATUS), st | VIRTIO_STATUS_FEATURES_OK);
	for (unsigned q = 0; q < nr_queues; q++) {
		vdrv_queue_setup(d, q, size);
		assert_int_equal(vdrv_read(d, VIRTIO_MMIO_QUEUE_READY), 1);
	}
	vdrv_write(d, VIRTIO_MMIO_STATUS, st | VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_STATUS), 0xf);
}

void *vdrv_gpa(struct vdrv *d, uint64_t addr, uint64_t len)
{
	void *p = guest_memory_ptr(d->mem, addr, len);

	assert_non_null(p);
	return p;
}

struct virtq_desc *vdrv_desc(struct vdrv *d, unsigned q, uint16_t i)
{
	return vdrv_gpa(d, VDRV_DESC_GPA(q) + 16ULL * i, 16);
}

struct virtq_avail *vdrv_avail(struct vdrv *d, unsigned q)
{
	return vdrv_gpa(d, VDRV_AVAIL_GPA(q), 6 + 2ULL * d->q[q].size);
}

struct virtq_used *vdrv_used(struct vdrv *d, unsigned q)
{
	return vdrv_gpa(d, VDRV_USED_GPA(q), 6 + 8ULL * d->q[q].size);
}

void vdrv_offer(struct vdrv *d, unsigned q, uint16_t head)
{
	struct vdrv_queue *vq = &d->q[q];
	struct virtq_avail *avail = vdrv_avail(d, q);

	avail->ring[vq->avail_idx % vq->size] = head;
	/* §2.7.13.3: the entry before the index that publishes it. */
	__atomic_store_n(&avail->idx, ++vq->avail_idx, __ATOMIC_RELEASE);
}

uint16_t vdrv_add_chain(struct vdrv *d, unsigned q, const struct vdrv_buf *b, unsigned n)
{
	struct vdrv_queue *vq = &d->q[q];
	uint16_t head = vq->next_desc;

	for (unsigned i = 0; i < n; i++) {
		uint16_t idx = (uint16_t)((head + i) % vq->size);

		*vdrv_desc(d, q, idx) = (struct virtq_desc){
			.addr = b[i].gpa, .len = b[i].len,
			.flags = (uint16_t)((b[i].write ? VIRTQ_DESC_F_WRITE : 0) |
					    (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0)),
			.next = (uint16_t)((idx + 1) % vq->size),
		};
	}
	vq->next_desc = (uint16_t)((head + n) % vq->size);
	vdrv_offer(d, q, head);
	return head;
}

uint16_t vdrv_used_idx(struct vdrv *d, unsigned q)
{
	return __atomic_load_n(&vdrv_used(d, q)->idx, __ATOMIC_ACQUIRE);
}

struct virtq_used_elem vdrv_used_elem(struct vdrv *d, unsigned q, uint16_t i)
{
	return vdrv_used(d, q)->ring[i % d->q[q].size];
}

void vdrv_notify(struct vdrv *d, unsigned q)
{
	uint64_t n;

	vdrv_write(d, VIRTIO_MMIO_QUEUE_NOTIFY, q);
	assert_int_equal(read(d->dev->notify_fd[q], &n, sizeof(n)), sizeof(n));
	virtio_mmio_notify(d->dev, q);
}

uint64_t vdrv_interrupts(struct vdrv *d)
{
	uint64_t n = 0;

	if (read(d->dev->irq_fd, &n, sizeof(n)) < 0)
		return 0;
	return n;
}

static void feed_once(struct vdrv_feeder *fd)
{
	uint16_t u = __atomic_load_n(&fd->used->idx, __ATOMIC_ACQUIRE);

	while ((uint16_t)(fd->avail_idx - u) < fd->qsize && fd->fed < fd->limit) {
		fd->avail->ring[fd->avail_idx % fd->qsize] = (uint16_t)(fd->avail_idx % fd->qsize);
		__atomic_store_n(&fd->avail->idx, ++fd->avail_idx, __ATOMIC_RELEASE);
		fd->fed++;
	}
}

static void *feed(void *arg)
{
	struct vdrv_feeder *fd = arg;

	fd->running = true;
	while (!fd->stop && fd->fed < fd->limit)
		feed_once(fd);
	return NULL;
}

void vdrv_feeder_start(struct vdrv_feeder *fd, struct vdrv *d, unsigned q)
{
	*fd = (struct vdrv_feeder){ .avail = vdrv_avail(d, q), .used = vdrv_used(d, q),
				    .qsize = d->q[q].size, .avail_idx = d->q[q].avail_idx,
				    .limit = 1u << 20 };
	feed_once(fd);
	assert_int_equal(pthread_create(&fd->thread, NULL, feed, fd), 0);
	while (!fd->running)
		;   /* spinning: ready to refill at once */
}

void vdrv_feeder_stop(struct vdrv_feeder *fd)
{
	fd->stop = true;
	assert_int_equal(pthread_join(fd->thread, NULL), 0);
}
