/* Split virtqueues (virtio 1.2 §2.7), device side.
 *
 * The driver gives three guest-physical addresses (descriptor table,
 * driver area = available ring, device area = used ring) and a size; the
 * transport stores them here and calls virtq_activate() when the driver
 * sets the queue ready. Activation validates everything once (size a power
 * of two within the device's maximum, each ring aligned and wholly inside
 * guest RAM) and keeps host pointers to the rings, so the hot path does no
 * address translation for the rings themselves.
 *
 * Everything in the rings is written by a possibly hostile guest, possibly
 * while we read it: each descriptor and index is read exactly once into a
 * local copy, every buffer address goes through guest_memory_ptr(), every
 * chain walk has a hop budget (the queue size), and anything malformed is
 * an error, never a crash or an out-of-bounds access.
 *
 * Threading: a virtq has no lock of its own. The transport (mmio.h)
 * serialises every call on a queue with its device lock.
 *
 * Byte order: virtio 1.x rings are little-endian (§2.4); kvmrun runs on
 * x86-64 only, so fields are used as they are. */
#ifndef KVMRUN_VIRTIO_QUEUE_H
#define KVMRUN_VIRTIO_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "memory.h"

/* The largest queue any kvmrun device offers (QueueNumMax). Bounds the
 * segment array of a chain. Split queues allow 32768 (§2.7). */
#define VIRTQ_MAX_SIZE 256

/* Descriptor flags (§2.7.5). */
#define VIRTQ_DESC_F_NEXT     1
#define VIRTQ_DESC_F_WRITE    2
#define VIRTQ_DESC_F_INDIRECT 4

/* avail->flags and used->flags (§2.7.7, §2.7.10). */
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY     1

/* Ring layouts (§2.7.5, §2.7.6, §2.7.8). */
struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct virtq_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[];   /* [size], then uint16_t used_event (EVENT_IDX) */
};

struct virtq_used_elem {
	uint32_t id;       /* head of the chain */
	uint32_t len;      /* bytes written into the chain's device-writable buffers */
};

struct virtq_used {
	uint16_t flags;
	uint16_t idx;
	struct virtq_used_elem ring[];  /* [size], then uint16_t avail_event (EVENT_IDX) */
};

/* One guest buffer of a chain, already checked and translated: `host`
 * points to `len` bytes of guest RAM at `gpa`. Zero-length descriptors
 * carry no data and yield no segment. */
struct virtq_segment {
	uint64_t gpa;
	void *host;
	uint32_t len;
	bool write;        /* device-writable (VIRTQ_DESC_F_WRITE) */
};

/* A descriptor chain as virtq_pop() returns it: the device-readable
 * segments first (seg[0 .. nr_out-1]), then the device-writable ones
 * (seg[nr_out .. nr_out+nr_in-1]); §2.7.4.2 requires that order and a
 * chain that breaks it is malformed. Total lengths fit in 32 bits
 * (§2.7.5.2: chains of at most 2^32 bytes). */
struct virtq_chain {
	uint16_t head;       /* the id to give back with virtq_push() */
	uint32_t epoch;      /* the queue's epoch when popped (see virtq.epoch) */
	unsigned nr_out;     /* device-readable segments */
	unsigned nr_in;      /* device-writable segments */
	uint32_t out_len;    /* bytes readable in total */
	uint32_t in_len;     /* bytes writable in total */
	struct virtq_segment seg[VIRTQ_MAX_SIZE];
};

#define VIRTQ_ERROR_MAX 160

struct virtq {
	const struct guest_memory *mem;
	uint16_t size_max;         /* the device's QueueNumMax */

	/* Written by the driver through the transport (QueueNum, QueueDesc,
	 * QueueDriver, QueueDevice); only read at activation. */
	uint16_t size;
	uint64_t desc_addr;
	uint64_t avail_addr;       /* "driver area" */
	uint64_t used_addr;        /* "device area" */

	/* Set by virtq_activate(), cleared by virtq_reset(). */
	bool ready;
	bool event_idx;            /* VIRTIO_F_EVENT_IDX negotiated */
	bool indirect;             /* VIRTIO_F_INDIRECT_DESC negotiated */
	struct virtq_desc *desc;   /* host views of the validated rings */
	struct virtq_avail *avail;
	struct virtq_used *used;
	uint16_t last_avail;       /* next avail->ring slot to consume */
	uint16_t used_idx;         /* our copy of used->idx */
	uint16_t signalled_used;   /* used_idx at the last interrupt decision */
	uint16_t in_flight;        /* popped, not yet pushed (at most size) */
	/* Set by the back-end (virtq_set_notify_off): it will pop again on
	 * its own, so an empty ring does not ask the driver to notify. */
	bool notify_off;
	/* Incremented by every reset and activation: a completion carrying
	 * an older epoch belongs to a queue the driver has since torn down
	 * and is dropped (virtq_push_epoch). */
	uint32_t epoch;

	/* Why the last virtq_activate()/virtq_pop()/virtq_push() failed,
	 * naming the field and the value; for the transport's log. */
	char error[VIRTQ_ERROR_MAX];
};

/* Feature bits the queue implements (§6), for virtq_activate(). */
#define VIRTQ_FEATURE_INDIRECT_DESC (1ULL << 28)
#define VIRTQ_FEATURE_EVENT_IDX     (1ULL << 29)

/* A queue with no addresses, not ready; `size_max` a power of two at most
 * VIRTQ_MAX_SIZE (a device constant: asserted). */
void virtq_init(struct virtq *q, const struct guest_memory *mem, uint16_t size_max);

/* Back to the state after init (device reset, QueueReady 0): addresses 0,
 * size = size_max, not ready. Bumps the epoch. */
void virtq_reset(struct virtq *q);

/* Stop using the queue (QueueReady written 0) but keep its configuration.
 * Bumps the epoch. */
void virtq_disable(struct virtq *q);

/* Validate the driver's configuration and start using the queue, with the
 * negotiated `features` (VIRTQ_FEATURE_* bits are looked at). Checks:
 * size a power of two in 1..size_max; descriptor table 16-byte aligned,
 * available ring 2-byte aligned, used ring 4-byte aligned (§2.7); each
 * ring's full size, event-index fields included, inside one RAM region
 * (guest_memory_ptr). Returns 0, or -EINVAL with q->error set. */
int virtq_activate(struct virtq *q, uint64_t features);

/* Take the next available chain. Returns 1 with *chain filled, 0 if the
 * ring is empty (or the queue not ready), or a negative errno for a
 * malformed ring or chain, with q->error saying what:
 *   -EPROTO  avail->idx moved more than the queue size past our position,
 *            or more than size chains would be in flight
 *   -EINVAL  head or next index out of range, INDIRECT with NEXT, nested
 *            or un-negotiated INDIRECT, indirect table length not a
 *            multiple of 16 or over size entries, a readable segment after
 *            a writable one, a chain over 2^32 - 1 bytes
 *   -ELOOP   a chain with more data descriptors than the queue size
 *            (a loop), counting those of an indirect table too
 *   -EFAULT  a buffer or indirect table not wholly inside guest RAM
 * A malformed chain is consumed and returned to the used ring with length
 * 0 (when its head index is in range), so the driver is not left waiting;
 * the caller should stop using the queue (the transport sets
 * DEVICE_NEEDS_RESET). With EVENT_IDX, an empty ring publishes avail_event
 * so the driver notifies for the next buffer (§2.7.10; not with
 * virtq_set_notify_off, see there); so a back-end that
 * stops popping before the ring is empty (a cap on work in flight) must
 * pop again later on its own, since no notification may come until it
 * has seen the ring empty. */
int virtq_pop(struct virtq *q, struct virtq_chain *chain);

/* Undo the last `n` virtq_pop() calls whose chains were not pushed: the
 * next pops return the same available entries again (re-reading their
 * descriptors). For a back-end that took buffers it cannot use yet: a
 * network device whose packet needs more receive buffers than the driver
 * has posted so far, or a transmit the host cannot take right now. The
 * driver cannot tell (the used ring is untouched). Returns 0, or -EINVAL
 * if fewer than `n` chains are in flight. */
int virtq_unpop(struct virtq *q, uint16_t n);

/* Whether the driver needs to notify the device of new buffers (§2.7.10
 * with EVENT_IDX, §2.7.7 used->flags NO_NOTIFY without). By default
 * (off = false) virtq_pop() asks for a notification whenever it finds the
 * ring empty, then looks again. A back-end that has work in flight and
 * pops again when that work completes sets off = true before popping:
 * the empty ring then leaves avail_event where it was (behind the
 * driver's position, so the driver does not notify) and sets NO_NOTIFY,
 * and the driver queues new requests without an exit. The back-end must
 * pop again, with off = false once nothing is left in flight, or a
 * request could wait for ever; that last pop asks for a notification and
 * re-reads the ring, so nothing added meanwhile is missed. */
static inline void virtq_set_notify_off(struct virtq *q, bool off)
{
	q->notify_off = off;
}

/* Whether the driver has made a chain available that virtq_pop() has not
 * taken yet (false for a queue that is not ready). Cheap: one load. */
bool virtq_has_available(const struct virtq *q);

/* Give chain `head` back with `len` bytes written: used element, then
 * used->idx with release ordering (§2.7.8: the driver must see the
 * element before the index). Returns 0, or -EINVAL (queue not ready, head
 * out of range, nothing in flight) with q->error set. */
int virtq_push(struct virtq *q, uint16_t head, uint32_t len);

/* virtq_push() for a completion that may outlive a reset: a no-op
 * returning -ESTALE when `epoch` (the chain's) is not the queue's. */
int virtq_push_epoch(struct virtq *q, uint32_t epoch, uint16_t head, uint32_t len);

/* After pushing: whether the driver wants a used-buffer notification now
 * (§2.7.7, §2.7.10): with EVENT_IDX, vring_need_event(used_event, new,
 * old) over the entries pushed since the last call; otherwise unless
 * avail->flags has VIRTQ_AVAIL_F_NO_INTERRUPT. */
bool virtq_needs_interrupt(struct virtq *q);

/* The vring_need_event() formula (§2.7.10): true iff event_idx lies in
 * [old_idx, new_idx) modulo 2^16. */
static inline bool virtq_need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event_idx - 1) < (uint16_t)(new_idx - old_idx);
}

/* Copy between a chain and host memory as if the readable (resp. writable)
 * segments were one byte stream. Return the bytes copied, which is less
 * than `len` when the stream ends first. */
size_t virtq_chain_read(const struct virtq_chain *chain, size_t offset, void *dst, size_t len);
size_t virtq_chain_write(const struct virtq_chain *chain, size_t offset, const void *src,
			 size_t len);

/* The bytes [offset, offset + len) of a chain's device-readable stream
 * (writable false) or device-writable stream (writable true) as iovecs
 * pointing into guest RAM, one per segment the range touches, in chain
 * order; for zero-copy I/O (chain_iov.c). Returns the number of iovecs
 * filled in `iov`, which has room for VIRTQ_MAX_SIZE (a chain never has
 * more segments). A range that runs past the end of the stream is cut
 * there (the iovecs then hold fewer than `len` bytes; an `offset` past
 * the end gives none): callers check `len` against out_len / in_len.
 *
 * It checks nothing the guest wrote, because virtq_pop() already has, for
 * every segment of a chain it returns: each lies wholly inside guest RAM
 * (guest_memory_ptr, -EFAULT otherwise), is not empty (zero-length
 * descriptors yield no segment, §2.7.5), readable segments come before
 * writable ones (§2.7.4.2, -EINVAL otherwise), there are at most queue
 * size of them (§2.7.4.1, -ELOOP otherwise) and each stream totals less
 * than 4 GiB (§2.7.5.2, -EINVAL otherwise). A chain virtq_pop() refused
 * has no segments and gives no iovecs. Overflow-safe for any offset and
 * len: offset + len is never computed. */
unsigned virtq_chain_iov(const struct virtq_chain *chain, bool writable, size_t offset,
			 size_t len, struct iovec iov[static VIRTQ_MAX_SIZE]);

#endif
