/* Split virtqueues, device side (virtio 1.2 §2.7). See queue.h. */
#include "virtio/queue.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Ring sizes in bytes (§2.7, table "Virtqueue Part / Alignment / Size"),
 * event-index fields included whether or not EVENT_IDX is negotiated.
 * size <= 32768, so none of these overflow. */
#define DESC_TABLE_BYTES(size) (16ULL * (size))
#define AVAIL_RING_BYTES(size) (6ULL + 2ULL * (size))
#define USED_RING_BYTES(size)  (6ULL + 8ULL * (size))

#define DESC_ALIGN  16
#define AVAIL_ALIGN 2
#define USED_ALIGN  4

_Static_assert(sizeof(struct virtq_desc) == 16, "§2.7.5: descriptors are 16 bytes");
_Static_assert(sizeof(struct virtq_used_elem) == 8, "§2.7.8: used elements are 8 bytes");
_Static_assert((VIRTQ_MAX_SIZE & (VIRTQ_MAX_SIZE - 1)) == 0, "queue sizes are powers of two");

static int fail(struct virtq *q, int ret, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(struct virtq *q, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(q->error, sizeof(q->error), fmt, ap);
	va_end(ap);
	return ret;
}

/* The rings are shared with a guest that may rewrite them while we look:
 * every field is loaded once, through these, and the local copy is what
 * gets checked and used (no double fetch). */
static inline uint16_t load16(const uint16_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline void store16(uint16_t *p, uint16_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

static inline void store32(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

/* A descriptor may sit at any address (an indirect table has no alignment
 * rule), so it is copied bytewise; the compiler barrier makes the copy the
 * one and only read: afterwards the compiler may not assume guest memory
 * still equals the copy, so it cannot re-read it in place of `d`. */
static inline void load_desc(const void *p, struct virtq_desc *d)
{
	memcpy(d, p, sizeof(*d));
	__asm__ volatile("" : : "r"(d) : "memory");
}

static inline uint16_t *used_event_ptr(const struct virtq *q)
{
	return &q->avail->ring[q->size];
}

static inline uint16_t *avail_event_ptr(const struct virtq *q)
{
	return (uint16_t *)&q->used->ring[q->size];
}

void virtq_init(struct virtq *q, const struct guest_memory *mem, uint16_t size_max)
{
	assert(size_max && size_max <= VIRTQ_MAX_SIZE && !(size_max & (size_max - 1)));
	memset(q, 0, sizeof(*q));
	q->mem = mem;
	q->size_max = size_max;
	q->size = size_max;
}

void virtq_reset(struct virtq *q)
{
	const struct guest_memory *mem = q->mem;
	uint16_t size_max = q->size_max;
	uint32_t epoch = q->epoch + 1;

	virtq_init(q, mem, size_max);
	q->epoch = epoch;
}

void virtq_disable(struct virtq *q)
{
	q->ready = false;
	q->desc = NULL;
	q->avail = NULL;
	q->used = NULL;
	q->in_flight = 0;
	q->epoch++;
}

/* A ring of `bytes` at `gpa`, aligned and inside one RAM region. */
static void *ring_map(struct virtq *q, const char *what, uint64_t gpa, uint64_t bytes,
		      uint64_t align, int *ret)
{
	void *host;

	if (gpa & (align - 1)) {
		*ret = fail(q, -EINVAL, "%s at 0x%llx is not %llu-byte aligned", what,
			    (unsigned long long)gpa, (unsigned long long)align);
		return NULL;
	}
	host = guest_memory_ptr(q->mem, gpa, bytes);
	if (!host)
		*ret = fail(q, -EINVAL, "%s at 0x%llx (%llu bytes for %u entries) is not inside guest RAM",
			    what, (unsigned long long)gpa, (unsigned long long)bytes, q->size);
	return host;
}

int virtq_activate(struct virtq *q, uint64_t features)
{
	int ret = 0;

	q->ready = false;
	q->error[0] = '\0';
	if (q->size == 0 || q->size > q->size_max || (q->size & (q->size - 1)))
		return fail(q, -EINVAL, "queue size %u is not a power of two in 1..%u", q->size,
			    q->size_max);
	q->desc = ring_map(q, "descriptor table", q->desc_addr, DESC_TABLE_BYTES(q->size),
			   DESC_ALIGN, &ret);
	if (ret == 0)
		q->avail = ring_map(q, "available ring", q->avail_addr, AVAIL_RING_BYTES(q->size),
				    AVAIL_ALIGN, &ret);
	if (ret == 0)
		q->used = ring_map(q, "used ring", q->used_addr, USED_RING_BYTES(q->size),
				   USED_ALIGN, &ret);
	if (ret < 0) {
		q->desc = NULL;
		q->avail = NULL;
		q->used = NULL;
		return ret;
	}
	q->event_idx = features & VIRTQ_FEATURE_EVENT_IDX;
	q->indirect = features & VIRTQ_FEATURE_INDIRECT_DESC;
	/* A freshly enabled queue starts at index 0 on both rings: the
	 * driver zeroes the queue memory before enabling it (§4.2.3.2). */
	q->last_avail = 0;
	q->used_idx = 0;
	q->signalled_used = 0;
	q->in_flight = 0;
	q->epoch++;
	q->ready = true;
	return 0;
}

/* Walk state of one chain: where the descriptors come from (the queue's
 * table, or one indirect table) and what has been collected. */
struct chain_walk {
	const uint8_t *table;      /* host address of descriptor 0 */
	uint32_t table_len;        /* entries */
	bool indirect;             /* walking an indirect table */
	unsigned visited;          /* data descriptors seen, the hop budget */
	uint64_t out_len, in_len;
};

static int walk_indirect(struct virtq *q, struct chain_walk *w, const struct virtq_desc *d,
			 unsigned index)
{
	const void *table;

	/* §2.7.5.3.1: negotiated, one level only, never with NEXT, a table
	 * of whole descriptors no longer than the queue. */
	if (!q->indirect)
		return fail(q, -EINVAL, "descriptor %u: INDIRECT without VIRTIO_F_INDIRECT_DESC", index);
	if (w->indirect)
		return fail(q, -EINVAL, "indirect descriptor %u: nested indirect table", index);
	if (d->flags & VIRTQ_DESC_F_NEXT)
		return fail(q, -EINVAL, "descriptor %u: INDIRECT together with NEXT", index);
	if (d->len == 0 || d->len % sizeof(struct virtq_desc))
		return fail(q, -EINVAL, "descriptor %u: indirect table length %u is not a non-zero multiple of 16",
			    index, d->len);
	if (d->len / sizeof(struct virtq_desc) > q->size)
		return fail(q, -EINVAL, "descriptor %u: indirect table of %zu entries, more than the queue size %u",
			    index, d->len / sizeof(struct virtq_desc), q->size);
	table = guest_memory_ptr(q->mem, d->addr, d->len);
	if (!table)
		return fail(q, -EFAULT, "descriptor %u: indirect table 0x%llx+0x%x is not inside guest RAM",
			    index, (unsigned long long)d->addr, d->len);
	w->table = table;
	w->table_len = d->len / sizeof(struct virtq_desc);
	w->indirect = true;
	return 0;
}

static int walk_data(struct virtq *q, struct chain_walk *w, struct virtq_chain *chain,
		     const struct virtq_desc *d, unsigned index)
{
	bool write = d->flags & VIRTQ_DESC_F_WRITE;
	struct virtq_segment *seg;
	void *host;

	/* §2.7.4.1: no chain longer than the queue; also what ends a loop. */
	if (++w->visited > q->size)
		return fail(q, -ELOOP, "chain at head %u is longer than the queue size %u (a loop?)",
			    chain->head, q->size);
	/* §2.7.4.2: device-readable buffers come first. */
	if (!write && chain->nr_in)
		return fail(q, -EINVAL, "descriptor %u: device-readable after device-writable", index);
	if (write)
		w->in_len += d->len;
	else
		w->out_len += d->len;
	/* §2.7.5.2: a chain holds at most 2^32 bytes; we keep 32-bit totals. */
	if (w->in_len > UINT32_MAX || w->out_len > UINT32_MAX)
		return fail(q, -EINVAL, "chain at head %u is longer than 4 GiB", chain->head);
	if (d->len == 0)
		return 0;  /* no data, no address to check */
	host = guest_memory_ptr(q->mem, d->addr, d->len);
	if (!host)
		return fail(q, -EFAULT, "descriptor %u: buffer 0x%llx+0x%x is not inside guest RAM",
			    index, (unsigned long long)d->addr, d->len);
	/* The device may write a writable buffer until it pushes the chain:
	 * marked dirty now, which a snapshot's diff sees because a save
	 * finishes every chain in flight first (mmio_state.c refuses one
	 * that is not). */
	if (write)
		guest_memory_mark_dirty(q->mem, host, d->len);
	/* visited <= size <= VIRTQ_MAX_SIZE bounds the array. */
	seg = &chain->seg[chain->nr_out + chain->nr_in];
	*seg = (struct virtq_segment){ .gpa = d->addr, .host = host, .len = d->len, .write = write };
	if (write)
		chain->nr_in++;
	else
		chain->nr_out++;
	return 0;
}

static int walk_chain(struct virtq *q, struct virtq_chain *chain)
{
	struct chain_walk w = { .table = (const uint8_t *)q->desc, .table_len = q->size };
	unsigned index = chain->head;
	int ret;

	if (chain->head >= q->size)
		return fail(q, -EINVAL, "available ring entry %u: head %u out of range (size %u)",
			    (uint16_t)(q->last_avail - 1), chain->head, q->size);
	for (;;) {
		struct virtq_desc d;

		load_desc(w.table + (size_t)index * sizeof(d), &d);
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			ret = walk_indirect(q, &w, &d, index);
			if (ret < 0)
				return ret;
			index = 0;
			continue;
		}
		ret = walk_data(q, &w, chain, &d, index);
		if (ret < 0)
			return ret;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			break;
		if (d.next >= w.table_len)
			return fail(q, -EINVAL, "descriptor %u: next %u out of range (%u entries)",
				    index, d.next, w.table_len);
		index = d.next;
	}
	chain->out_len = (uint32_t)w.out_len;
	chain->in_len = (uint32_t)w.in_len;
	return 0;
}

/* Entries the driver has made available beyond ours, or -EPROTO. */
static int avail_pending(struct virtq *q, uint16_t *pending)
{
	/* Acquire: the ring entries and descriptors the driver wrote before
	 * bumping idx are visible once we see the new idx (§2.7.13). */
	uint16_t idx = __atomic_load_n(&q->avail->idx, __ATOMIC_ACQUIRE);

	*pending = (uint16_t)(idx - q->last_avail);
	if (*pending > q->size)
		return fail(q, -EPROTO, "available index jumped from %u to %u, more than the queue size %u",
			    q->last_avail, idx, q->size);
	return 0;
}

bool virtq_has_available(const struct virtq *q)
{
	return q->ready && __atomic_load_n(&q->avail->idx, __ATOMIC_ACQUIRE) != q->last_avail;
}

int virtq_pop(struct virtq *q, struct virtq_chain *chain)
{
	uint16_t pending;
	int ret;

	if (!q->ready)
		return 0;
	ret = avail_pending(q, &pending);
	if (ret < 0)
		return ret;
	if (pending == 0 && q->notify_off) {
		/* The back-end pops again on its own (virtq_set_notify_off):
		 * avail_event stays behind the driver, which therefore does
		 * not notify (§2.7.10); without EVENT_IDX, say so in flags
		 * (§2.7.7). */
		if (!q->event_idx) {
			store16(&q->used->flags, VIRTQ_USED_F_NO_NOTIFY);
			guest_memory_mark_dirty(q->mem, &q->used->flags, sizeof(uint16_t));
		}
		return 0;
	}
	if (pending == 0) {
		/* §2.7.10: ask for a notification at the next entry (or
		 * clear NO_NOTIFY), then look again, or an entry added
		 * meanwhile would wait for a notification the driver already
		 * decided not to send. */
		if (q->event_idx) {
			store16(avail_event_ptr(q), q->last_avail);
			guest_memory_mark_dirty(q->mem, avail_event_ptr(q), sizeof(uint16_t));
		} else {
			store16(&q->used->flags, 0);
			guest_memory_mark_dirty(q->mem, &q->used->flags, sizeof(uint16_t));
		}
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		ret = avail_pending(q, &pending);
		if (ret < 0)
			return ret;
		if (pending == 0)
			return 0;
	}
	if (q->in_flight >= q->size)
		return fail(q, -EPROTO, "more than %u chains in flight (available index %u)", q->size,
			    q->last_avail);

	chain->head = load16(&q->avail->ring[q->last_avail & (q->size - 1)]);
	chain->epoch = q->epoch;
	chain->nr_out = chain->nr_in = 0;
	chain->out_len = chain->in_len = 0;
	q->last_avail++;
	q->in_flight++;
	ret = walk_chain(q, chain);
	if (ret < 0) {
		/* Give the buffer back empty so the driver is not left
		 * waiting for it; an out-of-range head names no buffer. */
		if (chain->head < q->size) {
			char why[VIRTQ_ERROR_MAX];

			memcpy(why, q->error, sizeof(why));
			virtq_push(q, chain->head, 0);
			memcpy(q->error, why, sizeof(why));
		} else {
			q->in_flight--;
		}
		chain->nr_out = chain->nr_in = 0;
		chain->out_len = chain->in_len = 0;
		return ret;
	}
	return 1;
}

int virtq_unpop(struct virtq *q, uint16_t n)
{
	if (n > q->in_flight)
		return fail(q, -EINVAL, "unpop of %u chains with %u in flight", n, q->in_flight);
	q->last_avail = (uint16_t)(q->last_avail - n);
	q->in_flight = (uint16_t)(q->in_flight - n);
	return 0;
}

int virtq_push(struct virtq *q, uint16_t head, uint32_t len)
{
	struct virtq_used_elem *elem;

	if (!q->ready)
		return fail(q, -EINVAL, "push of head %u to a queue that is not ready", head);
	if (head >= q->size)
		return fail(q, -EINVAL, "push of head %u: out of range (size %u)", head, q->size);
	if (q->in_flight == 0)
		return fail(q, -EINVAL, "push of head %u with no chain in flight", head);
	elem = &q->used->ring[q->used_idx & (q->size - 1)];
	store32(&elem->id, head);
	store32(&elem->len, len);
	q->used_idx++;
	q->in_flight--;
	/* Release: the element is visible before the index (§2.7.8.2). */
	__atomic_store_n(&q->used->idx, q->used_idx, __ATOMIC_RELEASE);
	guest_memory_mark_dirty(q->mem, elem, sizeof(*elem));
	guest_memory_mark_dirty(q->mem, &q->used->idx, sizeof(q->used->idx));
	return 0;
}

int virtq_push_epoch(struct virtq *q, uint32_t epoch, uint16_t head, uint32_t len)
{
	if (epoch != q->epoch || !q->ready)
		return -ESTALE;
	return virtq_push(q, head, len);
}

bool virtq_needs_interrupt(struct virtq *q)
{
	uint16_t old = q->signalled_used, now = q->used_idx;

	if (!q->ready || old == now)
		return false;
	q->signalled_used = now;
	/* Order our used->idx store before reading the driver's
	 * suppression fields: the driver writes those, then reads idx
	 * (§2.7.7, §2.7.10); without a full fence both sides could miss
	 * each other's update and the interrupt would be lost. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (q->event_idx)
		return virtq_need_event(load16(used_event_ptr(q)), now, old);
	return !(load16(&q->avail->flags) & VIRTQ_AVAIL_F_NO_INTERRUPT);
}

size_t virtq_chain_read(const struct virtq_chain *chain, size_t offset, void *dst, size_t len)
{
	uint8_t *out = dst;
	size_t done = 0;

	for (unsigned i = 0; i < chain->nr_out && done < len; i++) {
		const struct virtq_segment *s = &chain->seg[i];
		size_t n;

		if (offset >= s->len) {
			offset -= s->len;
			continue;
		}
		n = s->len - offset;
		if (n > len - done)
			n = len - done;
		memcpy(out + done, (const uint8_t *)s->host + offset, n);
		done += n;
		offset = 0;
	}
	return done;
}

size_t virtq_chain_write(const struct virtq_chain *chain, size_t offset, const void *src,
			 size_t len)
{
	const uint8_t *in = src;
	size_t done = 0;

	for (unsigned i = chain->nr_out; i < chain->nr_out + chain->nr_in && done < len; i++) {
		const struct virtq_segment *s = &chain->seg[i];
		size_t n;

		if (offset >= s->len) {
			offset -= s->len;
			continue;
		}
		n = s->len - offset;
		if (n > len - done)
			n = len - done;
		memcpy((uint8_t *)s->host + offset, in + done, n);
		done += n;
		offset = 0;
	}
	return done;
}
