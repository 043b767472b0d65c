/* The driver's side of the virtio device unit tests (test_virtio_*.c):
 * what a guest driver does through a device's virtio-mmio window (virtio
 * 1.2 §4.2) against synthetic guest RAM, without KVM. Register accesses,
 * the device initialization of §3.1.1, split virtqueues laid out in guest
 * RAM (§2.7) with chains made available and the used ring read back, and
 * a notification serviced by calling what the event loop calls.
 *
 * The helpers check, with cmocka assertions, what a careful driver would
 * check on the way (a register that must read back, a guest address that
 * must be RAM); what a test is about stays in the test. Compiled into
 * each test program that uses it (meson.build). */
#ifndef KVMRUN_TESTS_VIRTIO_TEST_H
#define KVMRUN_TESTS_VIRTIO_TEST_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "memory.h"
#include "virtio/mmio.h"

/* Queue q's rings in guest RAM: the descriptor table, the available ring
 * 4 KiB above it and the used ring 8 KiB above it (page-aligned: more than
 * the 16/2/4 bytes of §2.7). Each fits a queue of 256 with its event
 * field. VDRV_MAX_QUEUES queues end at 0x20000, where the tests' own
 * buffers may start. */
#define VDRV_RING_GPA(q)  (0x10000ULL + 0x4000ULL * (q))
#define VDRV_DESC_GPA(q)  VDRV_RING_GPA(q)
#define VDRV_AVAIL_GPA(q) (VDRV_RING_GPA(q) + 0x1000)
#define VDRV_USED_GPA(q)  (VDRV_RING_GPA(q) + 0x2000)
#define VDRV_MAX_QUEUES   4

/* One buffer of a chain the driver makes available (§2.7.5). */
struct vdrv_buf {
	uint64_t gpa;
	uint32_t len;
	bool write;          /* device-writable */
};

/* The driver's own state of one split virtqueue. */
struct vdrv_queue {
	uint16_t size;
	uint16_t avail_idx;  /* the next avail->idx it publishes */
	uint16_t next_desc;  /* descriptors are handed out round robin from here */
};

/* A test's driver of one device. */
struct vdrv {
	struct guest_memory *mem;
	struct virtio_mmio *dev;
	uint16_t num_max;    /* the QueueNumMax each queue must report */
	struct vdrv_queue q[VDRV_MAX_QUEUES];
};

/* Drive `dev`, a device over `mem` whose queues report QueueNumMax
 * `num_max`. Touches neither. */
void vdrv_bind(struct vdrv *d, struct guest_memory *mem, struct virtio_mmio *dev,
	       uint16_t num_max);

/* ---- registers (§4.2.2): 32-bit accesses through the bus callbacks ---- */

uint32_t vdrv_read(struct vdrv *d, uint64_t offset);
void vdrv_write(struct vdrv *d, uint64_t offset, uint32_t value);
/* All 64 DeviceFeatures bits (two DeviceFeaturesSel pages). */
uint64_t vdrv_device_features(struct vdrv *d);
/* DriverFeatures, both pages; FEATURES_OK is the caller's. */
void vdrv_set_features(struct vdrv *d, uint64_t features);
/* Status has DEVICE_NEEDS_RESET (§2.1.2). */
bool vdrv_needs_reset(struct vdrv *d);

/* ---- initialization (§3.1.1, §4.2.3.2) ---- */

/* Select queue q (QueueReady must read 0, QueueNumMax num_max), program
 * its size and ring addresses, set QueueReady. Addresses other than the
 * layout's are for tests of bad rings; the ring accessors below always
 * use the layout's. The driver's state of the queue starts over. */
void vdrv_queue_setup_at(struct vdrv *d, unsigned q, uint16_t size, uint64_t desc,
			 uint64_t avail, uint64_t used);
/* The same at the layout's addresses, over rings zeroed first. */
void vdrv_queue_setup(struct vdrv *d, unsigned q, uint16_t size);
/* Reset, ACKNOWLEDGE, DRIVER, `features` (FEATURES_OK must stick),
 * queues 0..nr_queues-1 of `size` (each QueueReady reads back 1),
 * DRIVER_OK; Status must read 0xf at the end. */
void vdrv_init(struct vdrv *d, uint64_t features, unsigned nr_queues, uint16_t size);

/* ---- the rings in guest RAM (§2.7) ---- */

/* The host address of guest [addr, addr + len), which must be RAM. */
void *vdrv_gpa(struct vdrv *d, uint64_t addr, uint64_t len);
struct virtq_desc *vdrv_desc(struct vdrv *d, unsigned q, uint16_t i);
struct virtq_avail *vdrv_avail(struct vdrv *d, unsigned q);   /* with used_event */
struct virtq_used *vdrv_used(struct vdrv *d, unsigned q);     /* with avail_event */
/* Make the chain at `head` available (§2.7.13). */
void vdrv_offer(struct vdrv *d, unsigned q, uint16_t head);
/* Write `n` buffers as one chain into the next free descriptors and offer
 * it. Returns its head. */
uint16_t vdrv_add_chain(struct vdrv *d, unsigned q, const struct vdrv_buf *b, unsigned n);
/* used->idx, read as a driver must (acquire). */
uint16_t vdrv_used_idx(struct vdrv *d, unsigned q);
/* The used ring entry of position i (taken mod the queue size). */
struct virtq_used_elem vdrv_used_elem(struct vdrv *d, unsigned q, uint16_t i);

/* ---- notifications and interrupts ---- */

/* The driver writes QueueNotify; KVM's ioeventfd (here: the register
 * write) wakes the event loop, which services queue q. */
void vdrv_notify(struct vdrv *d, unsigned q);
/* Interrupts signalled since the last call (the irqfd's counter). */
uint64_t vdrv_interrupts(struct vdrv *d);

/* ---- a hostile driver on another vCPU ---- */

/* Keeps a queue's `qsize` one-descriptor chains (descriptor = ring
 * position mod qsize, set up by the test) available, re-adding each the
 * moment the device uses it, `limit` in all. */
struct vdrv_feeder {
	struct virtq_avail *avail;
	struct virtq_used *used;
	uint16_t qsize;
	uint16_t avail_idx;
	unsigned fed, limit;
	_Atomic bool stop, running;
	pthread_t thread;
};

/* Queue q's ring filled from where the driver is, then a thread keeps it
 * full until vdrv_feeder_stop(). The feeder keeps its own avail index:
 * the queue is the feeder's for good (vdrv_add_chain on it afterwards
 * would publish a stale index). */
void vdrv_feeder_start(struct vdrv_feeder *fd, struct vdrv *d, unsigned q);
void vdrv_feeder_stop(struct vdrv_feeder *fd);

#endif
