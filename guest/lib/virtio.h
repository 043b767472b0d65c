/* A small polling virtio driver for test guests: virtio-mmio version 2
 * devices (virtio 1.2 §4.2) found by probing kvmrun's windows, split
 * virtqueues (§2.7) in memory the test provides.
 *
 * Works at CPL 0 and CPL 3 (the identity map is user-accessible and the
 * device hole uncached), so a test sets a device up and then polls from
 * run_in_user(), where loops run natively. Every register access is one
 * VM exit (~30 us here); a queue notification is an ioeventfd, handled in
 * KVM without reaching kvmrun's vCPU thread.
 *
 * The ring structures are exposed so hostile tests can write what a
 * correct driver never would. */
#ifndef GUEST_VIRTIO_H
#define GUEST_VIRTIO_H

#include <stdbool.h>
#include <stdint.h>

/* kvmrun's virtio-mmio windows (src/layout.h, src/virtio/devices.h). */
#define VIRTIO_MMIO_BASE        0xd0000000UL
#define VIRTIO_MMIO_WINDOW      0x1000UL
#define VIRTIO_MMIO_SLOTS       16

/* Registers (§4.2.2). */
#define VIRTIO_MMIO_MAGIC_VALUE         0x000
#define VIRTIO_MMIO_VERSION             0x004
#define VIRTIO_MMIO_DEVICE_ID           0x008
#define VIRTIO_MMIO_VENDOR_ID           0x00c
#define VIRTIO_MMIO_DEVICE_FEATURES     0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRIVER_FEATURES     0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_QUEUE_SEL           0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX       0x034
#define VIRTIO_MMIO_QUEUE_NUM           0x038
#define VIRTIO_MMIO_QUEUE_READY         0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY        0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS    0x060
#define VIRTIO_MMIO_INTERRUPT_ACK       0x064
#define VIRTIO_MMIO_STATUS              0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW      0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH     0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LOW    0x090
#define VIRTIO_MMIO_QUEUE_DRIVER_HIGH   0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LOW    0x0a0
#define VIRTIO_MMIO_QUEUE_DEVICE_HIGH   0x0a4
#define VIRTIO_MMIO_CONFIG_GENERATION   0x0fc
#define VIRTIO_MMIO_CONFIG              0x100

#define VIRTIO_MMIO_MAGIC       0x74726976u
#define VIRTIO_MMIO_INT_VRING   1u
#define VIRTIO_MMIO_INT_CONFIG  2u

/* Device status (§2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE        1u
#define VIRTIO_STATUS_DRIVER             2u
#define VIRTIO_STATUS_DRIVER_OK          4u
#define VIRTIO_STATUS_FEATURES_OK        8u
#define VIRTIO_STATUS_DEVICE_NEEDS_RESET 64u
#define VIRTIO_STATUS_FAILED             128u

/* Feature bits (§6). */
#define VIRTIO_F_INDIRECT_DESC  28
#define VIRTIO_F_EVENT_IDX      29
#define VIRTIO_F_VERSION_1      32

#define VIRTIO_ID_NET     1
#define VIRTIO_ID_BLOCK   2
#define VIRTIO_ID_ENTROPY 4

/* Split virtqueue layout (§2.7.5 - §2.7.8). */
#define VRING_DESC_F_NEXT     1
#define VRING_DESC_F_WRITE    2
#define VRING_DESC_F_INDIRECT 4
#define VRING_AVAIL_F_NO_INTERRUPT 1
#define VRING_USED_F_NO_NOTIFY     1

struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct vring_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[];      /* [size], then used_event */
};

struct vring_used_elem {
	uint32_t id;
	uint32_t len;
};

struct vring_used {
	uint16_t flags;
	uint16_t idx;
	struct vring_used_elem ring[];  /* [size], then avail_event */
};

/* Bytes of memory a queue of `size` entries needs (vring_init lays out the
 * descriptor table, then the available ring, then the used ring at the
 * next 4 KiB boundary). The memory must be 4 KiB aligned. */
#define VRING_USED_OFFSET(size) (((16UL * (size) + 6 + 2UL * (size)) + 4095) & ~4095UL)
#define VRING_BYTES(size)       (VRING_USED_OFFSET(size) + 6 + 8UL * (size))

struct virtio_dev {
	uintptr_t base;          /* register window */
	unsigned slot;           /* window index: base = VIRTIO_MMIO_BASE + slot * 4 KiB */
	uint32_t device_id;
	uint64_t device_features;
	uint64_t features;       /* negotiated */
};

struct vring {
	struct virtio_dev *dev;
	unsigned index;          /* queue index on the device */
	uint16_t size;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t avail_idx;      /* next available index to publish */
	uint16_t last_used;      /* next used index to consume */
	uint16_t kicked_idx;     /* avail_idx at the last vring_kick */
	uint16_t next_desc;      /* descriptors are handed out round-robin */
	bool event_idx;
	bool no_interrupts;      /* vring_no_interrupts() was called */
};

/* One buffer of a chain. */
struct vring_buf {
	uint64_t addr;
	uint32_t len;
	bool write;              /* device-writable */
};

uint32_t virtio_read(const struct virtio_dev *dev, unsigned reg);
void virtio_write(const struct virtio_dev *dev, unsigned reg, uint32_t value);

/* Find the nth (0-based) device with `device_id` among the windows
 * (MagicValue "virt", Version 2). Returns false if there is none. */
bool virtio_probe(uint32_t device_id, unsigned nth, struct virtio_dev *dev);

/* Reset (Status 0, read back until 0 as §4.2.2.2 asks). */
void virtio_reset(struct virtio_dev *dev);
uint32_t virtio_status(const struct virtio_dev *dev);

/* §3.1.1 steps 1-6: reset, ACKNOWLEDGE, DRIVER, accept VIRTIO_F_VERSION_1
 * plus whatever of `wanted` the device offers, FEATURES_OK, and check it
 * stuck. Returns 0, or -1 if the device refuses (dev->features says what
 * was asked). */
int virtio_negotiate(struct virtio_dev *dev, uint64_t wanted);

/* Lay a queue of `size` (a power of two) out in `mem` (VRING_BYTES(size)
 * zeroed bytes, 4 KiB aligned), hand it to the device as queue `index`
 * and set QueueReady. Returns 0, or -1 if the device has no such queue,
 * the size exceeds QueueNumMax, or QueueReady does not read back 1. */
int virtio_queue_setup(struct virtio_dev *dev, struct vring *vq, unsigned index, uint16_t size,
		       void *mem);

/* Status |= DRIVER_OK (§3.1.1 step 8). */
void virtio_driver_ok(struct virtio_dev *dev);

/* Write the chain `bufs[0..n-1]` into free descriptors (n <= size) and
 * make it available. Returns the head. vring_add_indirect puts the chain
 * in `table` (n entries) behind one INDIRECT descriptor. */
uint16_t vring_add(struct vring *vq, const struct vring_buf *bufs, unsigned n);
uint16_t vring_add_indirect(struct vring *vq, struct vring_desc *table,
			    const struct vring_buf *bufs, unsigned n);

/* Make `head` available without writing descriptors (hostile tests write
 * their own). */
void vring_publish(struct vring *vq, uint16_t head);

/* Notify the device (QueueNotify), unless it asked not to be (§2.7.10
 * avail_event with EVENT_IDX, else used->flags NO_NOTIFY). */
void vring_kick(struct vring *vq);

/* Ask the device for no used-buffer notifications at all (a driver that
 * only polls): avail->flags NO_INTERRUPT, and with EVENT_IDX a used_event
 * that vring_poll() keeps half the index space behind (§2.7.10), where
 * the device's vring_need_event() never finds it. */
void vring_no_interrupts(struct vring *vq);

/* Take the next used element if there is one. */
bool vring_poll(struct vring *vq, uint32_t *id, uint32_t *len);

/* Poll up to about `max_spins` times. Returns false on timeout. Use at
 * CPL 3 (each spin is a few instructions, emulated at CPL 0). */
bool vring_wait(struct vring *vq, uint32_t *id, uint32_t *len, uint64_t max_spins);

#endif
