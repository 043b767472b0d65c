/* The virtio-mmio transport (virtio 1.2 §4.2) driven through its register
 * window the way a guest driver does, with the real virtio-rng device
 * behind it and synthetic guest RAM: no KVM. Notifications are serviced
 * by calling what the event loop calls; interrupts are counted on the
 * device's irq eventfd. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "layout.h"
#include "memory.h"
#include "snapshot/buf.h"
#include "virtio/mmio.h"
#include "virtio/rng.h"
#include "virtio_test.h"

#define RAM_SIZE   (16ULL << 20)
#define DESC_GPA   VDRV_DESC_GPA(0)
#define AVAIL_GPA  VDRV_AVAIL_GPA(0)
#define USED_GPA   VDRV_USED_GPA(0)
#define BUF_GPA    0x100000ULL
#define QSIZE      8

struct fixture {
	struct guest_memory mem;
	struct virtio_rng rng;
	struct vdrv drv;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || guest_memory_create_anonymous(&f->mem, RAM_SIZE) < 0)
		return -1;
	if (virtio_rng_init(&f->rng, &f->mem, LAYOUT_VIRTIO_MMIO_BASE, 16) < 0)
		return -1;
	vdrv_bind(&f->drv, &f->mem, &f->rng.mmio, VIRTIO_RNG_QUEUE_SIZE);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	virtio_rng_destroy(&f->rng);
	guest_memory_destroy(&f->mem);
	free(f);
	return 0;
}

/* §3.1.1 device initialization, as a driver does it: one queue. */
static void driver_init(struct vdrv *d, uint64_t features)
{
	vdrv_init(d, features, 1, QSIZE);
}

static void request_entropy(struct vdrv *d, uint16_t head, uint32_t len)
{
	*vdrv_desc(d, 0, head) = (struct virtq_desc){ .addr = BUF_GPA + head * 0x10000ULL,
						      .len = len, .flags = VIRTQ_DESC_F_WRITE };
	vdrv_offer(d, 0, head);
	vdrv_notify(d, 0);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static const uint64_t version_1 = 1ULL << VIRTIO_F_VERSION_1;

static void test_identity_registers(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->drv;

	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_VERSION), 2);
	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_ENTROPY);
	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_VENDOR_ID), VIRTIO_MMIO_VENDOR);
	vdrv_write(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_DEVICE_FEATURES),
			 (1u << VIRTIO_F_INDIRECT_DESC) | (1u << VIRTIO_F_EVENT_IDX));
	vdrv_write(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_DEVICE_FEATURES), 1);  /* VERSION_1 = bit 32 */
	vdrv_write(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 2);
	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_DEVICE_FEATURES), 0);
	/* Only queue 0 exists. */
	vdrv_write(d, VIRTIO_MMIO_QUEUE_SEL, 1);
	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_CONFIG_GENERATION), 0);
	/* No shared memory regions: length and base read all-ones. */
	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_SHM_LEN_LOW), 0xffffffff);
	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_SHM_BASE_HIGH), 0xffffffff);
	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_QUEUE_DESC_LOW), 0);  /* write-only */
	/* No configuration space: reads are zero. */
	uint8_t b = 0xff;
	virtio_mmio_bus_ops.read(d->dev, VIRTIO_MMIO_CONFIG, &b, 1);
	assert_int_equal(b, 0);
}

static void test_narrow_register_accesses_ignored(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->drv;
	uint16_t half = 0xffff;
	uint8_t byte = 0x0f;

	/* §4.2.2.2: control registers are 32-bit, aligned. */
	virtio_mmio_bus_ops.read(d->dev, VIRTIO_MMIO_MAGIC_VALUE, &half, 2);
	assert_int_equal(half, 0);
	virtio_mmio_bus_ops.write(d->dev, VIRTIO_MMIO_STATUS, &byte, 1);
	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_STATUS), 0);
	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_MAGIC_VALUE + 2), 0);
}

static void test_entropy_round_trip(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->drv;
	const uint8_t *buf = f->mem.host + BUF_GPA;

	driver_init(d, version_1);
	request_entropy(d, 0, 4096);
	assert_int_equal(vdrv_used(d, 0)->idx, 1);
	assert_int_equal(vdrv_used(d, 0)->ring[0].id, 0);
	assert_int_equal(vdrv_used(d, 0)->ring[0].len, 4096);
	assert_false(all_zero(buf, 4096));
	/* §4.2.2.1: the status bit is there before the interrupt. */
	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING);
	assert_int_equal(vdrv_interrupts(d), 1);
	vdrv_write(d, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	assert_int_equal(f->rng.bytes, 4096);
}

static void test_entropy_fill_is_bounded(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->drv;

	driver_init(d, version_1);
	/* 1 MiB asked for: the device gives at most VIRTIO_RNG_MAX_FILL. */
	request_entropy(d, 1, 1u << 20);
	assert_int_equal(vdrv_used(d, 0)->ring[0].len, VIRTIO_RNG_MAX_FILL);
}

static void test_notifications_before_driver_ok_ignored(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->drv;

	vdrv_write(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	vdrv_set_features(d, version_1);
	vdrv_write(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
					  VIRTIO_STATUS_FEATURES_OK);
	vdrv_queue_setup_at(d, 0, QSIZE, DESC_GPA, AVAIL_GPA, USED_GPA);
	*vdrv_desc(d, 0, 0) = (struct virtq_desc){ .addr = BUF_GPA, .len = 64,
						   .flags = VIRTQ_DESC_F_WRITE };
	vdrv_offer(d, 0, 0);
	vdrv_notify(d, 0);
	assert_int_equal(vdrv_used(d, 0)->idx, 0);
	/* DRIVER_OK looks at what was queued (on the event loop). */
	vdrv_write(d, VIRTIO_MMIO_STATUS, 0xf);
	uint64_t n;
	assert_int_equal(read(d->dev->notify_fd[0], &n, sizeof(n)), sizeof(n));
	virtio_mmio_notify(d->dev, 0);
	assert_int_equal(vdrv_used(d, 0)->idx, 1);
}

static void test_features_ok_requires_version_1(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->drv;

	vdrv_write(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	vdrv_set_features(d, 1ULL << VIRTIO_F_EVENT_IDX);  /* a legacy driver */
	vdrv_write(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
					  VIRTIO_STATUS_FEATURES_OK);
	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_STATUS),
			 VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	/* Features not offered are refused too. */
	vdrv_set_features(d, version_1 | (1ULL << 5));
	vdrv_write(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
					  VIRTIO_STATUS_FEATURES_OK);
	assert_false(vdrv_read(d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);
	vdrv_set_features(d, version_1 | (1ULL << VIRTIO_F_EVENT_IDX));
	vdrv_write(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
					  VIRTIO_STATUS_FEATURES_OK);
	assert_true(vdrv_read(d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);
	assert_true(virtio_mmio_has_feature(d->dev, VIRTIO_F_EVENT_IDX));
	/* Frozen from here on. */
	vdrv_set_features(d, version_1);
	assert_true(virtio_mmio_has_feature(d->dev, VIRTIO_F_EVENT_IDX));
}

static void test_queue_registers_frozen_after_driver_ok(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->drv;
	const struct virtq *q = &d->dev->queues[0];

	driver_init(d, version_1);
	vdrv_write(d, VIRTIO_MMIO_QUEUE_NUM, 2);
	vdrv_write(d, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x40000);
	vdrv_write(d, VIRTIO_MMIO_QUEUE_DRIVER_LOW, 0x41000);
	vdrv_write(d, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, 1);
	vdrv_write(d, VIRTIO_MMIO_QUEUE_READY, 0);
	assert_int_equal(q->size, QSIZE);
	assert_int_equal(q->desc_addr, DESC_GPA);
	assert_int_equal(q->avail_addr, AVAIL_GPA);
	assert_int_equal(q->used_addr, USED_GPA);
	assert_true(q->ready);
	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_QUEUE_READY), 1);
	assert_true(d->dev->frozen_write_logged);
	/* And the queue still works where it was. */
	request_entropy(d, 0, 32);
	assert_int_equal(vdrv_used(d, 0)->idx, 1);
	/* Clearing status bits without a reset is ignored too. */
	vdrv_write(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_STATUS), 0xf);
}

static void test_queue_registers_frozen_while_ready(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->drv;

	vdrv_write(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	vdrv_queue_setup_at(d, 0, QSIZE, DESC_GPA, AVAIL_GPA, USED_GPA);
	/* §4.2.2.2: not while QueueReady is set... */
	vdrv_write(d, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x40000);
	assert_int_equal(d->dev->queues[0].desc_addr, DESC_GPA);
	/* ...but after QueueReady 0, before DRIVER_OK. */
	vdrv_write(d, VIRTIO_MMIO_QUEUE_READY, 0);
	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_QUEUE_READY), 0);
	vdrv_write(d, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x40000);
	assert_int_equal(d->dev->queues[0].desc_addr, 0x40000);
}

static void expect_needs_reset(struct vdrv *d, const char *needle)
{
	assert_true(vdrv_read(d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	assert_non_null(strstr(d->dev->needs_reset_reason, needle));
}

static void test_malformed_chain_needs_reset_then_recovers(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->drv;

	driver_init(d, version_1);
	/* A descriptor loop. */
	*vdrv_desc(d, 0, 0) = (struct virtq_desc){ .addr = BUF_GPA, .len = 8,
						   .flags = VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT,
						   .next = 1 };
	*vdrv_desc(d, 0, 1) = (struct virtq_desc){ .addr = BUF_GPA, .len = 8,
						   .flags = VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT,
						   .next = 0 };
	vdrv_offer(d, 0, 0);
	vdrv_notify(d, 0);
	expect_needs_reset(d, "queue 0: chain at head 0 is longer than the queue size 8");
	/* The chain came back empty; the driver hears of both (§2.1.2). */
	assert_int_equal(vdrv_used(d, 0)->idx, 1);
	assert_int_equal(vdrv_used(d, 0)->ring[0].len, 0);
	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_INTERRUPT_STATUS),
			 VIRTIO_MMIO_INT_VRING | VIRTIO_MMIO_INT_CONFIG);
	assert_true(vdrv_interrupts(d) >= 1);
	assert_int_equal(d->dev->errors, 1);

	/* A broken device uses no more buffers. */
	request_entropy(d, 2, 16);
	assert_int_equal(vdrv_used(d, 0)->idx, 1);
	/* The driver cannot clear NEEDS_RESET except by a reset. */
	vdrv_write(d, VIRTIO_MMIO_STATUS, 0xf);
	expect_needs_reset(d, "longer than the queue size");

	/* §2.4: reset, then initialize again: it works. */
	vdrv_write(d, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_STATUS), 0);
	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_QUEUE_READY), 0);
	driver_init(d, version_1);
	request_entropy(d, 3, 256);
	assert_int_equal(vdrv_used(d, 0)->idx, 1);
	assert_int_equal(vdrv_used(d, 0)->ring[0].id, 3);
	assert_int_equal(vdrv_used(d, 0)->ring[0].len, 256);
	assert_false(vdrv_read(d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
}

static void test_bad_rings_at_activation_need_reset(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->drv;

	vdrv_write(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	vdrv_set_features(d, version_1);
	vdrv_write(d, VIRTIO_MMIO_STATUS, 0xb);
	vdrv_queue_setup_at(d, 0, QSIZE, DESC_GPA + 8, AVAIL_GPA, USED_GPA);  /* misaligned */
	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_QUEUE_READY), 0);
	expect_needs_reset(d, "queue 0: descriptor table at 0x10008 is not 16-byte aligned");
	vdrv_write(d, VIRTIO_MMIO_STATUS, 0);

	vdrv_write(d, VIRTIO_MMIO_STATUS, 0xb & ~VIRTIO_STATUS_FEATURES_OK);
	/* The used ring past the end of RAM. */
	vdrv_queue_setup_at(d, 0, QSIZE, DESC_GPA, AVAIL_GPA, RAM_SIZE - 16);
	expect_needs_reset(d, "used ring");
	vdrv_write(d, VIRTIO_MMIO_STATUS, 0);

	/* Queue size beyond QueueNumMax, or not a power of two. */
	vdrv_write(d, VIRTIO_MMIO_STATUS, 3);
	vdrv_write(d, VIRTIO_MMIO_QUEUE_NUM, 0x10000 + QSIZE);
	vdrv_write(d, VIRTIO_MMIO_QUEUE_READY, 1);
	expect_needs_reset(d, "queue size 0 is not a power of two in 1..256");
	vdrv_write(d, VIRTIO_MMIO_STATUS, 0);
	vdrv_write(d, VIRTIO_MMIO_STATUS, 3);
	vdrv_write(d, VIRTIO_MMIO_QUEUE_NUM, 12);
	vdrv_write(d, VIRTIO_MMIO_QUEUE_READY, 1);
	expect_needs_reset(d, "queue size 12");
	vdrv_write(d, VIRTIO_MMIO_STATUS, 0);
	/* After all that, a good initialization works. */
	driver_init(d, version_1);
	request_entropy(d, 0, 64);
	assert_int_equal(vdrv_used(d, 0)->ring[0].len, 64);
}

static void test_driver_ok_without_features_ok(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->drv;

	vdrv_write(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
					  VIRTIO_STATUS_DRIVER_OK);
	expect_needs_reset(d, "DRIVER_OK set without FEATURES_OK");
}

static void test_indirect_and_event_idx_through_the_transport(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->drv;
	struct virtq_desc *table = guest_memory_ptr(&f->mem, 0x30000, 32);

	driver_init(d, version_1 | (1ULL << VIRTIO_F_INDIRECT_DESC) | (1ULL << VIRTIO_F_EVENT_IDX));
	table[0] = (struct virtq_desc){ .addr = BUF_GPA, .len = 100,
					.flags = VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, .next = 1 };
	table[1] = (struct virtq_desc){ .addr = BUF_GPA + 0x1000, .len = 28,
					.flags = VIRTQ_DESC_F_WRITE };
	*vdrv_desc(d, 0, 5) = (struct virtq_desc){ .addr = 0x30000, .len = 32,
						   .flags = VIRTQ_DESC_F_INDIRECT };
	vdrv_avail(d, 0)->ring[QSIZE] = 0;  /* used_event: interrupt after entry 0 */
	vdrv_offer(d, 0, 5);
	vdrv_notify(d, 0);
	assert_int_equal(vdrv_used(d, 0)->ring[0].len, 128);
	assert_int_equal(vdrv_interrupts(d), 1);
	/* used_event still 0: the next completion needs no interrupt. */
	*vdrv_desc(d, 0, 6) = (struct virtq_desc){ .addr = BUF_GPA, .len = 4,
						   .flags = VIRTQ_DESC_F_WRITE };
	vdrv_offer(d, 0, 6);
	vdrv_notify(d, 0);
	assert_int_equal(vdrv_used(d, 0)->idx, 2);
	assert_int_equal(vdrv_interrupts(d), 0);
	/* The ring is empty again: avail_event asks for a notification at 2. */
	assert_int_equal(*(uint16_t *)&vdrv_used(d, 0)->ring[QSIZE], 2);
}

static void test_async_completion_after_reset_dropped(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->drv;
	struct virtq *q = &d->dev->queues[0];
	struct virtq_chain *chain = malloc(sizeof(*chain));

	assert_non_null(chain);
	driver_init(d, version_1);
	*vdrv_desc(d, 0, 0) = (struct virtq_desc){ .addr = BUF_GPA, .len = 4,
						   .flags = VIRTQ_DESC_F_WRITE };
	vdrv_offer(d, 0, 0);
	/* A back-end pops and completes later (virtio_mmio_complete). */
	assert_int_equal(virtq_pop(q, chain), 1);
	assert_int_equal(virtio_mmio_complete(d->dev, 0, chain->epoch, chain->head, 4), 0);
	assert_int_equal(vdrv_used(d, 0)->idx, 1);
	assert_int_equal(vdrv_interrupts(d), 1);
	vdrv_offer(d, 0, 0);
	assert_int_equal(virtq_pop(q, chain), 1);
	vdrv_write(d, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(virtio_mmio_complete(d->dev, 0, chain->epoch, chain->head, 4), -ESTALE);
	assert_int_equal(vdrv_used(d, 0)->idx, 1);
	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_STATUS), 0);
	free(chain);
}

static void test_fail_and_config_change(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->drv;

	driver_init(d, version_1);
	virtio_mmio_fail(d->dev, "back-end I/O error");
	expect_needs_reset(d, "back-end I/O error");
	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_CONFIG);
	vdrv_write(d, VIRTIO_MMIO_STATUS, 0);
	driver_init(d, version_1);
	pthread_mutex_lock(&d->dev->lock);
	virtio_mmio_config_changed(d->dev);
	pthread_mutex_unlock(&d->dev->lock);
	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_CONFIG_GENERATION), 1);
	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_CONFIG);
}

/* Load `t` (a saved transport state, edited) into a device fresh from
 * init over the same RAM, as a restore does. Returns its result. */
static int load_fresh(struct fixture *f, const struct snap_buf *t, char *err, size_t errlen)
{
	struct virtio_rng fresh;
	int ret;

	assert_int_equal(virtio_rng_init(&fresh, &f->mem, LAYOUT_VIRTIO_MMIO_BASE, 16), 0);
	ret = virtio_mmio_state_load(&fresh.mmio, t->data, t->len, NULL, 0, err, errlen);
	virtio_rng_destroy(&fresh);
	return ret;
}

/* A restore takes the saved transport only if it is a state the transport
 * could have been in, over the rings in the restored RAM: queue positions
 * that fit the rings, and a status status_write could have produced. */
static void test_restore_checks_positions_and_status(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->drv;
	struct snap_buf t, backend;
	char err[512];
	uint32_t st;
	uint64_t features;

	driver_init(d, version_1);
	request_entropy(d, 0, 64);
	request_entropy(d, 1, 64);
	snap_buf_init(&t);
	snap_buf_init(&backend);
	assert_int_equal(virtio_mmio_state_save(d->dev, &t, &backend), 0);
	assert_int_equal(load_fresh(f, &t, err, sizeof(err)), 0);
	/* The driver a queue's worth ahead: fine; one more: not a state. */
	vdrv_avail(d, 0)->idx = (uint16_t)(d->q[0].avail_idx + QSIZE);
	assert_int_equal(load_fresh(f, &t, err, sizeof(err)), 0);
	vdrv_avail(d, 0)->idx = (uint16_t)(d->q[0].avail_idx + QSIZE + 1);
	assert_int_equal(load_fresh(f, &t, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "queue 0: saved positions"));
	assert_null(strchr(err, '\n'));
	vdrv_avail(d, 0)->idx = d->q[0].avail_idx;
	/* used->idx is the device's: it must say what the device pushed. */
	vdrv_used(d, 0)->idx = 3;
	assert_int_equal(load_fresh(f, &t, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "used->idx 3"));
	vdrv_used(d, 0)->idx = 2;
	assert_int_equal(load_fresh(f, &t, err, sizeof(err)), 0);
	/* Status: DRIVER_OK without FEATURES_OK. */
	memcpy(&st, t.data + 4, 4);
	st &= ~VIRTIO_STATUS_FEATURES_OK;
	memcpy(t.data + 4, &st, 4);
	assert_int_equal(load_fresh(f, &t, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "DRIVER_OK without FEATURES_OK"));
	/* ... which the transport allows only with NEEDS_RESET (its answer),
	 * and then the queues are not looked at. */
	st |= VIRTIO_STATUS_DEVICE_NEEDS_RESET;
	memcpy(t.data + 4, &st, 4);
	vdrv_used(d, 0)->idx = 7;
	assert_int_equal(load_fresh(f, &t, err, sizeof(err)), 0);
	vdrv_used(d, 0)->idx = 2;
	/* FEATURES_OK without VERSION_1. */
	st = 0xf;
	memcpy(t.data + 4, &st, 4);
	features = 0;
	memcpy(t.data + 16, &features, 8);
	assert_int_equal(load_fresh(f, &t, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "without VIRTIO_F_VERSION_1"));
	/* FAILED, which a driver may set: taken as saved. */
	features = version_1;
	memcpy(t.data + 16, &features, 8);
	st = 0xf | VIRTIO_STATUS_FAILED;
	memcpy(t.data + 4, &st, 4);
	assert_int_equal(load_fresh(f, &t, err, sizeof(err)), 0);
	snap_buf_free(&t);
	snap_buf_free(&backend);
}

static void test_notify_unknown_queue_ignored(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->drv;

	driver_init(d, version_1);
	vdrv_write(d, VIRTIO_MMIO_QUEUE_NOTIFY, 7);
	vdrv_write(d, VIRTIO_MMIO_QUEUE_NOTIFY, 0xffffffff);
	virtio_mmio_notify(d->dev, 7);
	assert_int_equal(d->dev->notifications, 0);
	assert_false(vdrv_read(d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
}

static const struct virtio_device_ops bad_ops = {
	.name = "bad", .device_id = 1, .nr_queues = 1, .queue_size_max = 100,
};

static void test_init_refuses_bad_ops(void **state)
{
	struct fixture *f = *state;
	struct virtio_mmio dev;

	assert_int_equal(virtio_mmio_init(&dev, &bad_ops, NULL, &f->mem, 0, 16), -EINVAL);
	virtio_mmio_destroy(&dev);  /* harmless after a failed init */
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_identity_registers),
		T(test_narrow_register_accesses_ignored),
		T(test_entropy_round_trip),
		T(test_entropy_fill_is_bounded),
		T(test_notifications_before_driver_ok_ignored),
		T(test_features_ok_requires_version_1),
		T(test_queue_registers_frozen_after_driver_ok),
		T(test_queue_registers_frozen_while_ready),
		T(test_malformed_chain_needs_reset_then_recovers),
		T(test_bad_rings_at_activation_need_reset),
		T(test_driver_ok_without_features_ok),
		T(test_indirect_and_event_idx_through_the_transport),
		T(test_async_completion_after_reset_dropped),
		T(test_fail_and_config_change),
		T(test_restore_checks_positions_and_status),
		T(test_notify_unknown_queue_ignored),
		T(test_init_refuses_bad_ops),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
