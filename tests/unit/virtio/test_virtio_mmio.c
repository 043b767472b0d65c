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

#define RAM_SIZE   (16ULL << 20)
#define DESC_GPA   0x10000ULL
#define AVAIL_GPA  0x11000ULL
#define USED_GPA   0x12000ULL
#define BUF_GPA    0x100000ULL
#define QSIZE      8

struct fixture {
	struct guest_memory mem;
	struct virtio_rng rng;
	struct virtio_mmio *dev;
	uint16_t avail_idx;
};

static uint32_t rd(struct fixture *f, uint64_t offset)
{
	uint32_t v;

	virtio_mmio_bus_ops.read(f->dev, offset, &v, 4);
	return v;
}

static void wr(struct fixture *f, uint64_t offset, uint32_t v)
{
	virtio_mmio_bus_ops.write(f->dev, offset, &v, 4);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || guest_memory_create_anonymous(&f->mem, RAM_SIZE) < 0)
		return -1;
	if (virtio_rng_init(&f->rng, &f->mem, LAYOUT_VIRTIO_MMIO_BASE, 16) < 0)
		return -1;
	f->dev = &f->rng.mmio;
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

/* Interrupts signalled since the last call (the irqfd's counter). */
static uint64_t interrupts(struct fixture *f)
{
	uint64_t n = 0;

	if (read(f->dev->irq_fd, &n, sizeof(n)) < 0)
		return 0;
	return n;
}

static void set_features(struct fixture *f, uint64_t features)
{
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)features);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
}

static void setup_queue(struct fixture *f, uint64_t desc, uint64_t avail, uint64_t used)
{
	wr(f, VIRTIO_MMIO_QUEUE_SEL, 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_NUM_MAX), VIRTIO_RNG_QUEUE_SIZE);
	wr(f, VIRTIO_MMIO_QUEUE_NUM, QSIZE);
	wr(f, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
	wr(f, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
	wr(f, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)avail);
	wr(f, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)(avail >> 32));
	wr(f, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)used);
	wr(f, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)(used >> 32));
	wr(f, VIRTIO_MMIO_QUEUE_READY, 1);
}

/* §3.1.1 device initialization, as a driver does it. */
static void driver_init(struct fixture *f, uint64_t features)
{
	memset(f->mem.host + DESC_GPA, 0, 0x3000);
	f->avail_idx = 0;
	wr(f, VIRTIO_MMIO_STATUS, 0);
	wr(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	wr(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	set_features(f, features);
	wr(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				  VIRTIO_STATUS_FEATURES_OK);
	assert_true(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);
	setup_queue(f, DESC_GPA, AVAIL_GPA, USED_GPA);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 1);
	wr(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				  VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0xf);
}

static struct virtq_desc *desc(struct fixture *f, unsigned i)
{
	return guest_memory_ptr(&f->mem, DESC_GPA + 16 * i, 16);
}

static struct virtq_avail *avail(struct fixture *f)
{
	return guest_memory_ptr(&f->mem, AVAIL_GPA, 6 + 2 * QSIZE);
}

static struct virtq_used *used(struct fixture *f)
{
	return guest_memory_ptr(&f->mem, USED_GPA, 6 + 8 * QSIZE);
}

static void offer(struct fixture *f, uint16_t head)
{
	avail(f)->ring[f->avail_idx % QSIZE] = head;
	avail(f)->idx = ++f->avail_idx;
}

/* The driver writes QueueNotify; KVM's ioeventfd (here: the register
 * write) wakes the event loop, which services the queue. */
static void notify(struct fixture *f)
{
	uint64_t n;

	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(read(f->dev->notify_fd[0], &n, sizeof(n)), sizeof(n));
	virtio_mmio_notify(f->dev, 0);
}

static void request_entropy(struct fixture *f, uint16_t head, uint32_t len)
{
	*desc(f, head) = (struct virtq_desc){ .addr = BUF_GPA + head * 0x10000ULL, .len = len,
					      .flags = VIRTQ_DESC_F_WRITE };
	offer(f, head);
	notify(f);
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

	assert_int_equal(rd(f, VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	assert_int_equal(rd(f, VIRTIO_MMIO_VERSION), 2);
	assert_int_equal(rd(f, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_ENTROPY);
	assert_int_equal(rd(f, VIRTIO_MMIO_VENDOR_ID), VIRTIO_MMIO_VENDOR);
	wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_DEVICE_FEATURES),
			 (1u << VIRTIO_F_INDIRECT_DESC) | (1u << VIRTIO_F_EVENT_IDX));
	wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	assert_int_equal(rd(f, VIRTIO_MMIO_DEVICE_FEATURES), 1);  /* VERSION_1 = bit 32 */
	wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 2);
	assert_int_equal(rd(f, VIRTIO_MMIO_DEVICE_FEATURES), 0);
	/* Only queue 0 exists. */
	wr(f, VIRTIO_MMIO_QUEUE_SEL, 1);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_CONFIG_GENERATION), 0);
	/* No shared memory regions: length and base read all-ones. */
	assert_int_equal(rd(f, VIRTIO_MMIO_SHM_LEN_LOW), 0xffffffff);
	assert_int_equal(rd(f, VIRTIO_MMIO_SHM_BASE_HIGH), 0xffffffff);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_DESC_LOW), 0);  /* write-only */
	/* No configuration space: reads are zero. */
	uint8_t b = 0xff;
	virtio_mmio_bus_ops.read(f->dev, VIRTIO_MMIO_CONFIG, &b, 1);
	assert_int_equal(b, 0);
}

static void test_narrow_register_accesses_ignored(void **state)
{
	struct fixture *f = *state;
	uint16_t half = 0xffff;
	uint8_t byte = 0x0f;

	/* §4.2.2.2: control registers are 32-bit, aligned. */
	virtio_mmio_bus_ops.read(f->dev, VIRTIO_MMIO_MAGIC_VALUE, &half, 2);
	assert_int_equal(half, 0);
	virtio_mmio_bus_ops.write(f->dev, VIRTIO_MMIO_STATUS, &byte, 1);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_MAGIC_VALUE + 2), 0);
}

static void test_entropy_round_trip(void **state)
{
	struct fixture *f = *state;
	const uint8_t *buf = f->mem.host + BUF_GPA;

	driver_init(f, version_1);
	request_entropy(f, 0, 4096);
	assert_int_equal(used(f)->idx, 1);
	assert_int_equal(used(f)->ring[0].id, 0);
	assert_int_equal(used(f)->ring[0].len, 4096);
	assert_false(all_zero(buf, 4096));
	/* §4.2.2.1: the status bit is there before the interrupt. */
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING);
	assert_int_equal(interrupts(f), 1);
	wr(f, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	assert_int_equal(f->rng.bytes, 4096);
}

static void test_entropy_fill_is_bounded(void **state)
{
	struct fixture *f = *state;

	driver_init(f, version_1);
	/* 1 MiB asked for: the device gives at most VIRTIO_RNG_MAX_FILL. */
	request_entropy(f, 1, 1u << 20);
	assert_int_equal(used(f)->ring[0].len, VIRTIO_RNG_MAX_FILL);
}

static void test_notifications_before_driver_ok_ignored(void **state)
{
	struct fixture *f = *state;

	wr(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	set_features(f, version_1);
	wr(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				  VIRTIO_STATUS_FEATURES_OK);
	setup_queue(f, DESC_GPA, AVAIL_GPA, USED_GPA);
	*desc(f, 0) = (struct virtq_desc){ .addr = BUF_GPA, .len = 64, .flags = VIRTQ_DESC_F_WRITE };
	offer(f, 0);
	notify(f);
	assert_int_equal(used(f)->idx, 0);
	/* DRIVER_OK looks at what was queued (on the event loop). */
	wr(f, VIRTIO_MMIO_STATUS, 0xf);
	uint64_t n;
	assert_int_equal(read(f->dev->notify_fd[0], &n, sizeof(n)), sizeof(n));
	virtio_mmio_notify(f->dev, 0);
	assert_int_equal(used(f)->idx, 1);
}

static void test_features_ok_requires_version_1(void **state)
{
	struct fixture *f = *state;

	wr(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	set_features(f, 1ULL << VIRTIO_F_EVENT_IDX);  /* a legacy driver */
	wr(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				  VIRTIO_STATUS_FEATURES_OK);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	/* Features not offered are refused too. */
	set_features(f, version_1 | (1ULL << 5));
	wr(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				  VIRTIO_STATUS_FEATURES_OK);
	assert_false(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);
	set_features(f, version_1 | (1ULL << VIRTIO_F_EVENT_IDX));
	wr(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				  VIRTIO_STATUS_FEATURES_OK);
	assert_true(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);
	assert_true(virtio_mmio_has_feature(f->dev, VIRTIO_F_EVENT_IDX));
	/* Frozen from here on. */
	set_features(f, version_1);
	assert_true(virtio_mmio_has_feature(f->dev, VIRTIO_F_EVENT_IDX));
}

static void test_queue_registers_frozen_after_driver_ok(void **state)
{
	struct fixture *f = *state;
	const struct virtq *q = &f->dev->queues[0];

	driver_init(f, version_1);
	wr(f, VIRTIO_MMIO_QUEUE_NUM, 2);
	wr(f, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x40000);
	wr(f, VIRTIO_MMIO_QUEUE_DRIVER_LOW, 0x41000);
	wr(f, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, 1);
	wr(f, VIRTIO_MMIO_QUEUE_READY, 0);
	assert_int_equal(q->size, QSIZE);
	assert_int_equal(q->desc_addr, DESC_GPA);
	assert_int_equal(q->avail_addr, AVAIL_GPA);
	assert_int_equal(q->used_addr, USED_GPA);
	assert_true(q->ready);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 1);
	assert_true(f->dev->frozen_write_logged);
	/* And the queue still works where it was. */
	request_entropy(f, 0, 32);
	assert_int_equal(used(f)->idx, 1);
	/* Clearing status bits without a reset is ignored too. */
	wr(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0xf);
}

static void test_queue_registers_frozen_while_ready(void **state)
{
	struct fixture *f = *state;

	wr(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	setup_queue(f, DESC_GPA, AVAIL_GPA, USED_GPA);
	/* §4.2.2.2: not while QueueReady is set... */
	wr(f, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x40000);
	assert_int_equal(f->dev->queues[0].desc_addr, DESC_GPA);
	/* ...but after QueueReady 0, before DRIVER_OK. */
	wr(f, VIRTIO_MMIO_QUEUE_READY, 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 0);
	wr(f, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x40000);
	assert_int_equal(f->dev->queues[0].desc_addr, 0x40000);
}

static void expect_needs_reset(struct fixture *f, const char *needle)
{
	assert_true(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	assert_non_null(strstr(f->dev->needs_reset_reason, needle));
}

static void test_malformed_chain_needs_reset_then_recovers(void **state)
{
	struct fixture *f = *state;

	driver_init(f, version_1);
	/* A descriptor loop. */
	*desc(f, 0) = (struct virtq_desc){ .addr = BUF_GPA, .len = 8,
					   .flags = VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, .next = 1 };
	*desc(f, 1) = (struct virtq_desc){ .addr = BUF_GPA, .len = 8,
					   .flags = VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, .next = 0 };
	offer(f, 0);
	notify(f);
	expect_needs_reset(f, "queue 0: chain at head 0 is longer than the queue size 8");
	/* The chain came back empty; the driver hears of both (§2.1.2). */
	assert_int_equal(used(f)->idx, 1);
	assert_int_equal(used(f)->ring[0].len, 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS),
			 VIRTIO_MMIO_INT_VRING | VIRTIO_MMIO_INT_CONFIG);
	assert_true(interrupts(f) >= 1);
	assert_int_equal(f->dev->errors, 1);

	/* A broken device uses no more buffers. */
	request_entropy(f, 2, 16);
	assert_int_equal(used(f)->idx, 1);
	/* The driver cannot clear NEEDS_RESET except by a reset. */
	wr(f, VIRTIO_MMIO_STATUS, 0xf);
	expect_needs_reset(f, "longer than the queue size");

	/* §2.4: reset, then initialize again: it works. */
	wr(f, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 0);
	driver_init(f, version_1);
	request_entropy(f, 3, 256);
	assert_int_equal(used(f)->idx, 1);
	assert_int_equal(used(f)->ring[0].id, 3);
	assert_int_equal(used(f)->ring[0].len, 256);
	assert_false(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
}

static void test_bad_rings_at_activation_need_reset(void **state)
{
	struct fixture *f = *state;

	wr(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	set_features(f, version_1);
	wr(f, VIRTIO_MMIO_STATUS, 0xb);
	setup_queue(f, DESC_GPA + 8, AVAIL_GPA, USED_GPA);  /* misaligned */
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 0);
	expect_needs_reset(f, "queue 0: descriptor table at 0x10008 is not 16-byte aligned");
	wr(f, VIRTIO_MMIO_STATUS, 0);

	wr(f, VIRTIO_MMIO_STATUS, 0xb & ~VIRTIO_STATUS_FEATURES_OK);
	setup_queue(f, DESC_GPA, AVAIL_GPA, RAM_SIZE - 16);  /* past the end of RAM */
	expect_needs_reset(f, "used ring");
	wr(f, VIRTIO_MMIO_STATUS, 0);

	/* Queue size beyond QueueNumMax, or not a power of two. */
	wr(f, VIRTIO_MMIO_STATUS, 3);
	wr(f, VIRTIO_MMIO_QUEUE_NUM, 0x10000 + QSIZE);
	wr(f, VIRTIO_MMIO_QUEUE_READY, 1);
	expect_needs_reset(f, "queue size 0 is not a power of two in 1..256");
	wr(f, VIRTIO_MMIO_STATUS, 0);
	wr(f, VIRTIO_MMIO_STATUS, 3);
	wr(f, VIRTIO_MMIO_QUEUE_NUM, 12);
	wr(f, VIRTIO_MMIO_QUEUE_READY, 1);
	expect_needs_reset(f, "queue size 12");
	wr(f, VIRTIO_MMIO_STATUS, 0);
	/* After all that, a good initialization works. */
	driver_init(f, version_1);
	request_entropy(f, 0, 64);
	assert_int_equal(used(f)->ring[0].len, 64);
}

static void test_driver_ok_without_features_ok(void **state)
{
	struct fixture *f = *state;

	wr(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				  VIRTIO_STATUS_DRIVER_OK);
	expect_needs_reset(f, "DRIVER_OK set without FEATURES_OK");
}

static void test_indirect_and_event_idx_through_the_transport(void **state)
{
	struct fixture *f = *state;
	struct virtq_desc *table = guest_memory_ptr(&f->mem, 0x30000, 32);

	driver_init(f, version_1 | (1ULL << VIRTIO_F_INDIRECT_DESC) | (1ULL << VIRTIO_F_EVENT_IDX));
	table[0] = (struct virtq_desc){ .addr = BUF_GPA, .len = 100,
					.flags = VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, .next = 1 };
	table[1] = (struct virtq_desc){ .addr = BUF_GPA + 0x1000, .len = 28,
					.flags = VIRTQ_DESC_F_WRITE };
	*desc(f, 5) = (struct virtq_desc){ .addr = 0x30000, .len = 32, .flags = VIRTQ_DESC_F_INDIRECT };
	avail(f)->ring[QSIZE] = 0;  /* used_event: interrupt after entry 0 */
	offer(f, 5);
	notify(f);
	assert_int_equal(used(f)->ring[0].len, 128);
	assert_int_equal(interrupts(f), 1);
	/* used_event still 0: the next completion needs no interrupt. */
	*desc(f, 6) = (struct virtq_desc){ .addr = BUF_GPA, .len = 4, .flags = VIRTQ_DESC_F_WRITE };
	offer(f, 6);
	notify(f);
	assert_int_equal(used(f)->idx, 2);
	assert_int_equal(interrupts(f), 0);
	/* The ring is empty again: avail_event asks for a notification at 2. */
	assert_int_equal(*(uint16_t *)&used(f)->ring[QSIZE], 2);
}

static void test_async_completion_after_reset_dropped(void **state)
{
	struct fixture *f = *state;
	struct virtq *q = &f->dev->queues[0];
	struct virtq_chain *chain = malloc(sizeof(*chain));

	assert_non_null(chain);
	driver_init(f, version_1);
	*desc(f, 0) = (struct virtq_desc){ .addr = BUF_GPA, .len = 4, .flags = VIRTQ_DESC_F_WRITE };
	offer(f, 0);
	/* A back-end pops and completes later (virtio_mmio_complete). */
	assert_int_equal(virtq_pop(q, chain), 1);
	assert_int_equal(virtio_mmio_complete(f->dev, 0, chain->epoch, chain->head, 4), 0);
	assert_int_equal(used(f)->idx, 1);
	assert_int_equal(interrupts(f), 1);
	offer(f, 0);
	assert_int_equal(virtq_pop(q, chain), 1);
	wr(f, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(virtio_mmio_complete(f->dev, 0, chain->epoch, chain->head, 4), -ESTALE);
	assert_int_equal(used(f)->idx, 1);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0);
	free(chain);
}

static void test_fail_and_config_change(void **state)
{
	struct fixture *f = *state;

	driver_init(f, version_1);
	virtio_mmio_fail(f->dev, "back-end I/O error");
	expect_needs_reset(f, "back-end I/O error");
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_CONFIG);
	wr(f, VIRTIO_MMIO_STATUS, 0);
	driver_init(f, version_1);
	pthread_mutex_lock(&f->dev->lock);
	virtio_mmio_config_changed(f->dev);
	pthread_mutex_unlock(&f->dev->lock);
	assert_int_equal(rd(f, VIRTIO_MMIO_CONFIG_GENERATION), 1);
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_CONFIG);
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
	struct snap_buf t, backend;
	char err[512];
	uint32_t st;
	uint64_t features;

	driver_init(f, version_1);
	request_entropy(f, 0, 64);
	request_entropy(f, 1, 64);
	snap_buf_init(&t);
	snap_buf_init(&backend);
	assert_int_equal(virtio_mmio_state_save(f->dev, &t, &backend), 0);
	assert_int_equal(load_fresh(f, &t, err, sizeof(err)), 0);
	/* The driver a queue's worth ahead: fine; one more: not a state. */
	avail(f)->idx = (uint16_t)(f->avail_idx + QSIZE);
	assert_int_equal(load_fresh(f, &t, err, sizeof(err)), 0);
	avail(f)->idx = (uint16_t)(f->avail_idx + QSIZE + 1);
	assert_int_equal(load_fresh(f, &t, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "queue 0: saved positions"));
	assert_null(strchr(err, '\n'));
	avail(f)->idx = f->avail_idx;
	/* used->idx is the device's: it must say what the device pushed. */
	used(f)->idx = 3;
	assert_int_equal(load_fresh(f, &t, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "used->idx 3"));
	used(f)->idx = 2;
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
	used(f)->idx = 7;
	assert_int_equal(load_fresh(f, &t, err, sizeof(err)), 0);
	used(f)->idx = 2;
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

	driver_init(f, version_1);
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 7);
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0xffffffff);
	virtio_mmio_notify(f->dev, 7);
	assert_int_equal(f->dev->notifications, 0);
	assert_false(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
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
