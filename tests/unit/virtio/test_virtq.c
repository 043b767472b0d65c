/* Split virtqueues against a hostile driver: synthetic guest RAM, rings and
 * descriptors written the way a driver would (or should not), and what
 * virtq_activate / virtq_pop / virtq_push make of them (virtio 1.2 §2.7). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "layout.h"
#include "memory.h"
#include "virtio/queue.h"

#define RAM_SIZE   (16ULL << 20)
#define DESC_GPA   0x10000ULL
#define AVAIL_GPA  0x11000ULL
#define USED_GPA   0x12000ULL
#define TABLE_GPA  0x20000ULL   /* indirect tables */
#define BUF_GPA    0x100000ULL  /* data buffers */

#define ALL_FEATURES (VIRTQ_FEATURE_EVENT_IDX | VIRTQ_FEATURE_INDIRECT_DESC)

struct fixture {
	struct guest_memory mem;
	struct virtq q;
	struct virtq_chain chain;
	uint16_t avail_idx;     /* the "driver's" next available index */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || guest_memory_create_anonymous(&f->mem, RAM_SIZE) < 0)
		return -1;
	virtq_init(&f->q, &f->mem, 256);
	f->q.desc_addr = DESC_GPA;
	f->q.avail_addr = AVAIL_GPA;
	f->q.used_addr = USED_GPA;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	guest_memory_destroy(&f->mem);
	free(f);
	return 0;
}

static void activate(struct fixture *f, uint16_t size, uint64_t features)
{
	f->q.size = size;
	assert_int_equal(virtq_activate(&f->q, features), 0);
}

static struct virtq_desc *desc_at(struct fixture *f, uint64_t table, unsigned i)
{
	struct virtq_desc *d = guest_memory_ptr(&f->mem, table + 16ULL * i, 16);

	assert_non_null(d);
	return d;
}

static void set_desc(struct fixture *f, uint64_t table, unsigned i, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	*desc_at(f, table, i) = (struct virtq_desc){ .addr = addr, .len = len, .flags = flags,
						      .next = next };
}

static struct virtq_avail *avail(struct fixture *f)
{
	return guest_memory_ptr(&f->mem, AVAIL_GPA, 6 + 2 * 256);
}

static struct virtq_used *used(struct fixture *f)
{
	return guest_memory_ptr(&f->mem, USED_GPA, 6 + 8 * 256);
}

/* The driver makes chain `head` available (§2.7.13). */
static void offer(struct fixture *f, uint16_t head)
{
	avail(f)->ring[f->avail_idx % f->q.size] = head;
	avail(f)->idx = ++f->avail_idx;
}

static void assert_returned_empty(struct fixture *f, uint16_t used_idx, uint16_t head)
{
	assert_int_equal(used(f)->idx, used_idx);
	assert_int_equal(used(f)->ring[(used_idx - 1) % f->q.size].id, head);
	assert_int_equal(used(f)->ring[(used_idx - 1) % f->q.size].len, 0);
}

/* ---- activation ---- */

static void test_activate_valid(void **state)
{
	struct fixture *f = *state;

	activate(f, 256, ALL_FEATURES);
	assert_true(f->q.ready);
	assert_true(f->q.event_idx);
	assert_true(f->q.indirect);
	assert_ptr_equal(f->q.desc, f->mem.host + DESC_GPA);
	assert_ptr_equal(f->q.avail, f->mem.host + AVAIL_GPA);
	assert_ptr_equal(f->q.used, f->mem.host + USED_GPA);
	/* Size 1 is a power of two too. */
	f->q.size = 1;
	assert_int_equal(virtq_activate(&f->q, 0), 0);
}

static void expect_activate_fails(struct fixture *f, const char *needle)
{
	assert_int_equal(virtq_activate(&f->q, ALL_FEATURES), -EINVAL);
	assert_false(f->q.ready);
	assert_null(f->q.desc);
	assert_non_null(strstr(f->q.error, needle));
}

static void test_activate_bad_sizes(void **state)
{
	struct fixture *f = *state;
	static const unsigned sizes[] = { 0, 3, 6, 255, 512, 32768 };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		f->q.size = (uint16_t)sizes[i];
		expect_activate_fails(f, "power of two");
	}
}

static void test_activate_misaligned_rings(void **state)
{
	struct fixture *f = *state;

	f->q.size = 8;
	f->q.desc_addr = DESC_GPA + 8;     /* §2.7: descriptor table 16 */
	expect_activate_fails(f, "descriptor table at 0x10008 is not 16-byte aligned");
	f->q.desc_addr = DESC_GPA;
	f->q.avail_addr = AVAIL_GPA + 1;   /* available ring 2 */
	expect_activate_fails(f, "available ring");
	f->q.avail_addr = AVAIL_GPA;
	f->q.used_addr = USED_GPA + 2;     /* used ring 4 */
	expect_activate_fails(f, "used ring at 0x12002 is not 4-byte aligned");
	f->q.used_addr = USED_GPA;
	assert_int_equal(virtq_activate(&f->q, 0), 0);
}

static void test_activate_rings_outside_ram(void **state)
{
	struct fixture *f = *state;

	f->q.size = 256;
	/* Straddling the end of RAM: the last byte of each ring is past it.
	 * Descriptor table 4096 bytes, available ring 518, used ring 2054. */
	f->q.desc_addr = RAM_SIZE - 4096 + 16;
	expect_activate_fails(f, "descriptor table");
	f->q.desc_addr = RAM_SIZE - 4096;  /* exactly fits */
	f->q.avail_addr = RAM_SIZE - 516;
	expect_activate_fails(f, "available ring");
	f->q.avail_addr = AVAIL_GPA;
	f->q.used_addr = RAM_SIZE - 2052;
	expect_activate_fails(f, "used ring");
	f->q.used_addr = USED_GPA;
	assert_int_equal(virtq_activate(&f->q, 0), 0);
	/* In the device hole, and where address + size wraps 2^64. */
	f->q.used_addr = LAYOUT_VIRTIO_MMIO_BASE;
	expect_activate_fails(f, "used ring");
	f->q.used_addr = UINT64_MAX - 15;
	expect_activate_fails(f, "used ring");
	f->q.desc_addr = UINT64_MAX - 15;
	expect_activate_fails(f, "descriptor table");
}

static void test_reset_and_disable(void **state)
{
	struct fixture *f = *state;
	uint32_t epoch;

	activate(f, 16, 0);
	epoch = f->q.epoch;
	virtq_disable(&f->q);
	assert_false(f->q.ready);
	assert_int_equal(f->q.desc_addr, DESC_GPA);  /* configuration kept */
	assert_int_not_equal(f->q.epoch, epoch);
	virtq_reset(&f->q);
	assert_int_equal(f->q.desc_addr, 0);
	assert_int_equal(f->q.size, 256);
	assert_int_equal(virtq_pop(&f->q, &f->chain), 0);  /* not ready: nothing */
}

/* ---- well-formed chains ---- */

static void test_pop_push_round_trip(void **state)
{
	struct fixture *f = *state;
	uint8_t *buf = f->mem.host + BUF_GPA;

	activate(f, 16, 0);
	assert_int_equal(virtq_pop(&f->q, &f->chain), 0);
	memcpy(buf, "request!", 8);
	set_desc(f, DESC_GPA, 3, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 7);
	set_desc(f, DESC_GPA, 7, BUF_GPA + 0x1000, 100, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, DESC_GPA, 1, BUF_GPA + 0x2000, 28, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 3);

	assert_int_equal(virtq_pop(&f->q, &f->chain), 1);
	assert_int_equal(f->chain.head, 3);
	assert_int_equal(f->chain.nr_out, 1);
	assert_int_equal(f->chain.nr_in, 2);
	assert_int_equal(f->chain.out_len, 8);
	assert_int_equal(f->chain.in_len, 128);
	assert_ptr_equal(f->chain.seg[0].host, buf);
	assert_false(f->chain.seg[0].write);
	assert_ptr_equal(f->chain.seg[2].host, buf + 0x2000);
	assert_true(f->chain.seg[2].write);

	char got[8];
	assert_int_equal(virtq_chain_read(&f->chain, 0, got, sizeof(got)), 8);
	assert_memory_equal(got, "request!", 8);
	/* The writable segments as one stream: 100 + 28 bytes. */
	uint8_t fill[128];
	memset(fill, 0xab, sizeof(fill));
	assert_int_equal(virtq_chain_write(&f->chain, 90, fill, sizeof(fill)), 38);
	assert_int_equal(buf[0x1000 + 89], 0);
	assert_int_equal(buf[0x1000 + 90], 0xab);
	assert_int_equal(buf[0x2000 + 27], 0xab);

	assert_int_equal(virtq_push(&f->q, 3, 38), 0);
	assert_int_equal(used(f)->idx, 1);
	assert_int_equal(used(f)->ring[0].id, 3);
	assert_int_equal(used(f)->ring[0].len, 38);
	assert_int_equal(virtq_pop(&f->q, &f->chain), 0);
}

static void test_full_ring_and_index_wrap(void **state)
{
	struct fixture *f = *state;

	activate(f, 4, 0);
	/* 70000 chains through a 4-entry queue: both 16-bit indexes wrap. */
	for (unsigned round = 0; round < 17500; round++) {
		for (uint16_t i = 0; i < 4; i++) {
			set_desc(f, DESC_GPA, i, BUF_GPA + i * 64, 64, VIRTQ_DESC_F_WRITE, 0);
			offer(f, i);
		}
		for (uint16_t i = 0; i < 4; i++) {
			assert_int_equal(virtq_pop(&f->q, &f->chain), 1);
			assert_int_equal(f->chain.head, i);
			assert_int_equal(virtq_push(&f->q, i, 64), 0);
		}
		assert_int_equal(virtq_pop(&f->q, &f->chain), 0);
	}
	assert_int_equal(used(f)->idx, (uint16_t)70000);
}

static void test_chain_of_queue_size_is_fine(void **state)
{
	struct fixture *f = *state;

	activate(f, 8, 0);
	for (uint16_t i = 0; i < 8; i++)
		set_desc(f, DESC_GPA, i, BUF_GPA + i, 1, i == 7 ? 0 : VIRTQ_DESC_F_NEXT, i + 1);
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->q, &f->chain), 1);
	assert_int_equal(f->chain.nr_out, 8);
}

static void test_zero_length_descriptors_carry_nothing(void **state)
{
	struct fixture *f = *state;

	activate(f, 8, 0);
	/* A zero-length descriptor's address is never used: even one
	 * outside RAM is harmless. */
	set_desc(f, DESC_GPA, 0, UINT64_MAX, 0, VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, DESC_GPA, 1, BUF_GPA, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
	set_desc(f, DESC_GPA, 2, 0, 0, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->q, &f->chain), 1);
	assert_int_equal(f->chain.nr_out, 0);
	assert_int_equal(f->chain.nr_in, 1);
	assert_int_equal(f->chain.in_len, 16);
}

static void test_indirect_table(void **state)
{
	struct fixture *f = *state;

	activate(f, 8, VIRTQ_FEATURE_INDIRECT_DESC);
	/* §2.7.5.3: a direct descriptor, then one pointing to a table; the
	 * WRITE flag on the table's descriptor is ignored. */
	set_desc(f, DESC_GPA, 5, BUF_GPA, 12, VIRTQ_DESC_F_NEXT, 6);
	set_desc(f, DESC_GPA, 6, TABLE_GPA, 3 * 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_WRITE, 0);
	set_desc(f, TABLE_GPA, 0, BUF_GPA + 0x100, 20, VIRTQ_DESC_F_NEXT, 2);
	set_desc(f, TABLE_GPA, 2, BUF_GPA + 0x200, 512, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, TABLE_GPA, 1, BUF_GPA + 0x400, 1, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 5);
	assert_int_equal(virtq_pop(&f->q, &f->chain), 1);
	assert_int_equal(f->chain.nr_out, 2);
	assert_int_equal(f->chain.nr_in, 2);
	assert_int_equal(f->chain.out_len, 32);
	assert_int_equal(f->chain.in_len, 513);
	assert_int_equal(f->chain.seg[1].gpa, BUF_GPA + 0x100);
	assert_int_equal(f->chain.seg[3].gpa, BUF_GPA + 0x400);
}

static void test_indirect_table_of_queue_size(void **state)
{
	struct fixture *f = *state;

	activate(f, 8, VIRTQ_FEATURE_INDIRECT_DESC);
	for (uint16_t i = 0; i < 8; i++)
		set_desc(f, TABLE_GPA, i, BUF_GPA, 4, VIRTQ_DESC_F_WRITE | (i < 7 ? VIRTQ_DESC_F_NEXT : 0),
			 i + 1);
	/* An unaligned table is allowed (no alignment rule for it). */
	memmove(f->mem.host + TABLE_GPA + 4, f->mem.host + TABLE_GPA, 8 * 16);
	set_desc(f, DESC_GPA, 0, TABLE_GPA + 4, 8 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->q, &f->chain), 1);
	assert_int_equal(f->chain.nr_in, 8);
}

/* ---- malformed chains: error, and the chain given back empty ---- */

static void expect_malformed(struct fixture *f, uint16_t head, int err, const char *needle)
{
	uint16_t before = used(f)->idx;

	offer(f, head);
	assert_int_equal(virtq_pop(&f->q, &f->chain), err);
	assert_non_null(strstr(f->q.error, needle));
	assert_int_equal(f->chain.nr_out + f->chain.nr_in, 0);
	assert_returned_empty(f, (uint16_t)(before + 1), head);
	assert_int_equal(f->q.in_flight, 0);
}

static void test_descriptor_loop(void **state)
{
	struct fixture *f = *state;

	activate(f, 8, 0);
	set_desc(f, DESC_GPA, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, DESC_GPA, 1, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 0);
	expect_malformed(f, 0, -ELOOP, "longer than the queue size 8");
	/* A descriptor that points at itself, zero-length so no address
	 * check stops it: only the hop budget does. */
	set_desc(f, DESC_GPA, 4, 0, 0, VIRTQ_DESC_F_NEXT, 4);
	expect_malformed(f, 4, -ELOOP, "(a loop?)");
}

static void test_indirect_loop_and_chain_longer_than_queue(void **state)
{
	struct fixture *f = *state;

	activate(f, 4, VIRTQ_FEATURE_INDIRECT_DESC);
	set_desc(f, TABLE_GPA, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, TABLE_GPA, 1, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 0);
	set_desc(f, DESC_GPA, 0, TABLE_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
	expect_malformed(f, 0, -ELOOP, "longer than the queue size 4");
	/* Two direct descriptors plus a 3-entry table: 5 > 4. */
	for (uint16_t i = 0; i < 3; i++)
		set_desc(f, TABLE_GPA, i, BUF_GPA, 8, i < 2 ? VIRTQ_DESC_F_NEXT : 0, i + 1);
	set_desc(f, DESC_GPA, 1, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 2);
	set_desc(f, DESC_GPA, 2, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 3);
	set_desc(f, DESC_GPA, 3, TABLE_GPA, 48, VIRTQ_DESC_F_INDIRECT, 0);
	expect_malformed(f, 1, -ELOOP, "longer than the queue size");
}

static void test_buffers_outside_ram(void **state)
{
	struct fixture *f = *state;

	activate(f, 8, 0);
	set_desc(f, DESC_GPA, 0, RAM_SIZE, 1, 0, 0);
	expect_malformed(f, 0, -EFAULT, "not inside guest RAM");
	set_desc(f, DESC_GPA, 0, RAM_SIZE - 8, 9, 0, 0);   /* straddles the end */
	expect_malformed(f, 0, -EFAULT, "0xfffff8+0x9");
	set_desc(f, DESC_GPA, 0, UINT64_MAX - 7, 16, 0, 0); /* addr + len wraps */
	expect_malformed(f, 0, -EFAULT, "not inside guest RAM");
	set_desc(f, DESC_GPA, 0, LAYOUT_IOAPIC_BASE, 16, VIRTQ_DESC_F_WRITE, 0);
	expect_malformed(f, 0, -EFAULT, "not inside guest RAM");
	/* The second descriptor of an otherwise good chain. */
	set_desc(f, DESC_GPA, 0, BUF_GPA, 16, VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, DESC_GPA, 1, 0, UINT32_MAX, VIRTQ_DESC_F_WRITE, 0);  /* huge */
	expect_malformed(f, 0, -EFAULT, "descriptor 1");
}

static void test_chain_over_4gib(void **state)
{
	struct fixture *f = *state;
	struct guest_memory big;

	/* 4 GiB of (untouched, lazily backed) RAM: 3.25 GiB below the hole. */
	assert_int_equal(guest_memory_create_anonymous(&big, 4ULL << 30), 0);
	virtq_init(&f->q, &big, 256);
	f->q.desc_addr = DESC_GPA;
	f->q.avail_addr = AVAIL_GPA;
	f->q.used_addr = USED_GPA;
	f->q.size = 8;
	assert_int_equal(virtq_activate(&f->q, 0), 0);
	for (uint16_t i = 0; i < 3; i++) {
		struct virtq_desc *d = guest_memory_ptr(&big, DESC_GPA + 16 * i, 16);

		*d = (struct virtq_desc){ .addr = 0, .len = 0x60000000, .flags = VIRTQ_DESC_F_NEXT,
					  .next = i + 1 };
	}
	((struct virtq_desc *)guest_memory_ptr(&big, DESC_GPA + 48, 16))->flags = 0;
	struct virtq_avail *a = guest_memory_ptr(&big, AVAIL_GPA, 8);
	a->ring[0] = 0;
	a->idx = 1;
	/* 3 x 1.5 GiB = 4.5 GiB in one chain (§2.7.5.2: at most 2^32). */
	assert_int_equal(virtq_pop(&f->q, &f->chain), -EINVAL);
	assert_non_null(strstr(f->q.error, "longer than 4 GiB"));
	/* 2 x 1.5 GiB is fine. */
	((struct virtq_desc *)guest_memory_ptr(&big, DESC_GPA + 16, 16))->flags = 0;
	a->ring[1] = 0;
	a->idx = 2;
	assert_int_equal(virtq_pop(&f->q, &f->chain), 1);
	assert_int_equal(f->chain.out_len, 0xc0000000u);
	guest_memory_destroy(&big);
}

static void test_indirect_rules(void **state)
{
	struct fixture *f = *state;

	activate(f, 8, VIRTQ_FEATURE_INDIRECT_DESC);
	set_desc(f, TABLE_GPA, 0, BUF_GPA, 8, 0, 0);
	/* §2.7.5.3.1: never together with NEXT. */
	set_desc(f, DESC_GPA, 0, TABLE_GPA, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, DESC_GPA, 1, BUF_GPA, 8, 0, 0);
	expect_malformed(f, 0, -EINVAL, "INDIRECT together with NEXT");
	/* Whole descriptors only, and at least one. */
	set_desc(f, DESC_GPA, 0, TABLE_GPA, 24, VIRTQ_DESC_F_INDIRECT, 0);
	expect_malformed(f, 0, -EINVAL, "length 24 is not a non-zero multiple of 16");
	set_desc(f, DESC_GPA, 0, TABLE_GPA, 0, VIRTQ_DESC_F_INDIRECT, 0);
	expect_malformed(f, 0, -EINVAL, "length 0");
	/* No longer than the queue. */
	set_desc(f, DESC_GPA, 0, TABLE_GPA, 9 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	expect_malformed(f, 0, -EINVAL, "9 entries, more than the queue size 8");
	/* One level only. */
	set_desc(f, TABLE_GPA, 0, TABLE_GPA + 0x100, 16, VIRTQ_DESC_F_INDIRECT, 0);
	set_desc(f, DESC_GPA, 0, TABLE_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
	expect_malformed(f, 0, -EINVAL, "nested indirect table");
	/* The table itself must be in RAM, wrap included. */
	set_desc(f, DESC_GPA, 0, RAM_SIZE - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
	expect_malformed(f, 0, -EFAULT, "indirect table");
	set_desc(f, DESC_GPA, 0, UINT64_MAX - 15, 32, VIRTQ_DESC_F_INDIRECT, 0);
	expect_malformed(f, 0, -EFAULT, "indirect table");
	/* next beyond the table. */
	set_desc(f, TABLE_GPA, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 2);
	set_desc(f, DESC_GPA, 0, TABLE_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
	expect_malformed(f, 0, -EINVAL, "next 2 out of range (2 entries)");
}

static void test_indirect_not_negotiated(void **state)
{
	struct fixture *f = *state;

	activate(f, 8, 0);
	set_desc(f, TABLE_GPA, 0, BUF_GPA, 8, 0, 0);
	set_desc(f, DESC_GPA, 0, TABLE_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
	expect_malformed(f, 0, -EINVAL, "without VIRTIO_F_INDIRECT_DESC");
}

static void test_readable_after_writable(void **state)
{
	struct fixture *f = *state;

	activate(f, 8, 0);
	set_desc(f, DESC_GPA, 0, BUF_GPA, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, DESC_GPA, 1, BUF_GPA, 8, 0, 0);
	expect_malformed(f, 0, -EINVAL, "device-readable after device-writable");
}

static void test_next_out_of_range(void **state)
{
	struct fixture *f = *state;

	activate(f, 8, 0);
	set_desc(f, DESC_GPA, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 8);
	expect_malformed(f, 0, -EINVAL, "next 8 out of range");
}

static void test_head_out_of_range(void **state)
{
	struct fixture *f = *state;

	activate(f, 8, 0);
	offer(f, 8);
	assert_int_equal(virtq_pop(&f->q, &f->chain), -EINVAL);
	assert_non_null(strstr(f->q.error, "head 8 out of range"));
	/* It names no buffer: nothing goes to the used ring. */
	assert_int_equal(used(f)->idx, 0);
	assert_int_equal(f->q.in_flight, 0);
}

static void test_avail_index_jump(void **state)
{
	struct fixture *f = *state;

	activate(f, 8, 0);
	for (uint16_t i = 0; i < 8; i++)
		set_desc(f, DESC_GPA, i, BUF_GPA, 8, 0, 0);
	/* Exactly a full ring is fine... */
	avail(f)->idx = 8;
	for (int i = 0; i < 8; i++)
		assert_int_equal(virtq_pop(&f->q, &f->chain), 1);
	for (uint16_t i = 0; i < 8; i++)
		assert_int_equal(virtq_push(&f->q, 0, 0), 0);
	/* ...more than that is not, in either direction of the wrap. */
	avail(f)->idx = 8 + 9;
	assert_int_equal(virtq_pop(&f->q, &f->chain), -EPROTO);
	assert_non_null(strstr(f->q.error, "jumped from 8 to 17"));
	avail(f)->idx = 7;  /* "decremented" = 65535 ahead */
	assert_int_equal(virtq_pop(&f->q, &f->chain), -EPROTO);
	assert_int_equal(used(f)->idx, 8);
}

static void test_in_flight_bounded_by_queue_size(void **state)
{
	struct fixture *f = *state;

	activate(f, 4, 0);
	for (uint16_t i = 0; i < 4; i++)
		set_desc(f, DESC_GPA, i, BUF_GPA, 8, 0, 0);
	avail(f)->idx = 4;
	for (int i = 0; i < 4; i++)
		assert_int_equal(virtq_pop(&f->q, &f->chain), 1);
	/* A driver that reuses heads still in flight offers a fifth. */
	avail(f)->idx = 5;
	assert_int_equal(virtq_pop(&f->q, &f->chain), -EPROTO);
	assert_non_null(strstr(f->q.error, "in flight"));
}

static void test_push_errors(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(virtq_push(&f->q, 0, 0), -EINVAL);  /* not ready */
	activate(f, 8, 0);
	assert_int_equal(virtq_push(&f->q, 0, 0), -EINVAL);  /* nothing in flight */
	assert_non_null(strstr(f->q.error, "no chain in flight"));
	set_desc(f, DESC_GPA, 0, BUF_GPA, 8, 0, 0);
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->q, &f->chain), 1);
	assert_int_equal(virtq_push(&f->q, 8, 0), -EINVAL);  /* head out of range */
	assert_int_equal(used(f)->idx, 0);
	/* A completion from before a reset is dropped. */
	uint32_t epoch = f->chain.epoch;
	virtq_reset(&f->q);
	activate(f, 8, 0);
	assert_int_equal(virtq_push_epoch(&f->q, epoch, 0, 8), -ESTALE);
	assert_int_equal(used(f)->idx, 0);
}

/* ---- notification suppression ---- */

static void test_need_event_formula(void **state)
{
	(void)state;
	/* §2.7.10: interrupt iff used_event lies in [old, new). */
	assert_true(virtq_need_event(0, 1, 0));
	assert_false(virtq_need_event(1, 1, 0));
	assert_true(virtq_need_event(4, 10, 2));
	assert_false(virtq_need_event(10, 10, 2));
	assert_false(virtq_need_event(1, 10, 2));
	assert_true(virtq_need_event(65535, 2, 65534));   /* across the wrap */
	assert_false(virtq_need_event(2, 2, 65534));
}

static void push_one(struct fixture *f, uint16_t head)
{
	set_desc(f, DESC_GPA, head, BUF_GPA, 8, VIRTQ_DESC_F_WRITE, 0);
	offer(f, head);
	assert_int_equal(virtq_pop(&f->q, &f->chain), 1);
	assert_int_equal(virtq_push(&f->q, head, 8), 0);
}

static void test_interrupt_without_event_idx(void **state)
{
	struct fixture *f = *state;

	activate(f, 8, 0);
	assert_false(virtq_needs_interrupt(&f->q));  /* nothing used yet */
	push_one(f, 0);
	assert_true(virtq_needs_interrupt(&f->q));
	assert_false(virtq_needs_interrupt(&f->q));  /* nothing new */
	avail(f)->flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
	push_one(f, 1);
	assert_false(virtq_needs_interrupt(&f->q));
}

static void test_interrupt_with_event_idx(void **state)
{
	struct fixture *f = *state;
	uint16_t *used_event;

	activate(f, 8, VIRTQ_FEATURE_EVENT_IDX);
	used_event = &avail(f)->ring[8];
	*used_event = 0;
	push_one(f, 0);                               /* used idx 0 -> 1 */
	assert_true(virtq_needs_interrupt(&f->q));
	*used_event = 3;                              /* "after entry 3" */
	push_one(f, 1);
	assert_false(virtq_needs_interrupt(&f->q));   /* idx 2 */
	push_one(f, 2);
	push_one(f, 3);
	assert_true(virtq_needs_interrupt(&f->q));    /* 2 -> 4 passed 3 */
	/* NO_INTERRUPT means nothing with EVENT_IDX (§2.7.10). */
	avail(f)->flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
	*used_event = 4;
	push_one(f, 4);
	assert_true(virtq_needs_interrupt(&f->q));
}

static void test_avail_event_published_when_empty(void **state)
{
	struct fixture *f = *state;
	uint16_t *avail_event;

	activate(f, 8, VIRTQ_FEATURE_EVENT_IDX);
	avail_event = (uint16_t *)&used(f)->ring[8];
	*avail_event = 0xffff;
	push_one(f, 0);
	push_one(f, 1);
	assert_int_equal(virtq_pop(&f->q, &f->chain), 0);
	/* §2.7.10: "notify me when you make entry 2 available". */
	assert_int_equal(*avail_event, 2);
}

/* A back-end that will pop again on its own leaves avail_event behind
 * (the driver does not notify) and, without EVENT_IDX, sets NO_NOTIFY;
 * once it asks again, both say "notify me" and a chain added meanwhile is
 * still found. */
static void test_notify_off_while_busy(void **state)
{
	struct fixture *f = *state;
	uint16_t *avail_event;

	activate(f, 8, VIRTQ_FEATURE_EVENT_IDX);
	avail_event = (uint16_t *)&used(f)->ring[8];
	*avail_event = 0;
	virtq_set_notify_off(&f->q, true);
	push_one(f, 0);
	push_one(f, 1);
	assert_int_equal(virtq_pop(&f->q, &f->chain), 0);
	assert_int_equal(*avail_event, 0);
	virtq_set_notify_off(&f->q, false);
	assert_int_equal(virtq_pop(&f->q, &f->chain), 0);
	assert_int_equal(*avail_event, 2);
	set_desc(f, DESC_GPA, 2, BUF_GPA, 8, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 2);
	assert_true(virtq_has_available(&f->q));
	assert_int_equal(virtq_pop(&f->q, &f->chain), 1);
	assert_false(virtq_has_available(&f->q));

	/* Without EVENT_IDX: the flag. */
	virtq_disable(&f->q);
	avail(f)->idx = f->avail_idx = 0;
	activate(f, 8, 0);
	virtq_set_notify_off(&f->q, true);
	assert_int_equal(virtq_pop(&f->q, &f->chain), 0);
	assert_int_equal(used(f)->flags, VIRTQ_USED_F_NO_NOTIFY);
	virtq_set_notify_off(&f->q, false);
	assert_int_equal(virtq_pop(&f->q, &f->chain), 0);
	assert_int_equal(used(f)->flags, 0);
}

/* ---- random hostile rings ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t next_random(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Addresses near the interesting edges: RAM start/end, 2^32, 2^64. */
static uint64_t random_addr(void)
{
	static const uint64_t edges[] = { 0, BUF_GPA, TABLE_GPA, RAM_SIZE, 1ULL << 32, 0 };
	uint64_t r = next_random();

	switch (r % 4) {
	case 0: return edges[(r >> 8) % 6] + ((r >> 16) % 64) - 32;
	case 1: return UINT64_MAX - (r >> 8) % 4096;
	case 2: return TABLE_GPA + (r >> 8) % 256;
	default: return (r >> 8) % (RAM_SIZE + 4096);
	}
}

static void test_random_rings_never_escape_ram(void **state)
{
	struct fixture *f = *state;
	const uint8_t *lo = f->mem.host, *hi = f->mem.host + RAM_SIZE;

	activate(f, 16, ALL_FEATURES);
	for (int iter = 0; iter < 20000; iter++) {
		for (unsigned i = 0; i < 16; i++) {
			uint64_t r = next_random();

			set_desc(f, DESC_GPA, i, random_addr(), (uint32_t)(r % 3 ? r % 300 : r >> 32),
				 (uint16_t)(r >> 16) & 7, (uint16_t)((r >> 24) % 20));
			set_desc(f, TABLE_GPA, i, random_addr(), (uint32_t)(r % 5 ? r % 64 : r >> 40),
				 (uint16_t)(r >> 20) & 7, (uint16_t)((r >> 28) % 20));
		}
		offer(f, (uint16_t)(next_random() % 18));
		int ret = virtq_pop(&f->q, &f->chain);

		assert_true(ret == 1 || ret == -EINVAL || ret == -EFAULT || ret == -ELOOP);
		if (ret == 1) {
			for (unsigned s = 0; s < f->chain.nr_out + f->chain.nr_in; s++) {
				const uint8_t *p = f->chain.seg[s].host;

				assert_true(p >= lo && p + f->chain.seg[s].len <= hi);
			}
			assert_int_equal(virtq_push(&f->q, f->chain.head, 0), 0);
		}
		assert_int_equal(f->q.in_flight, 0);
	}
}

/* ---- diff snapshots: what the device writes is marked dirty ---- */

static bool page_dirty(const struct fixture *f, uint64_t gpa)
{
	uint64_t page = gpa / GUEST_MEMORY_DIRTY_PAGE;

	return f->mem.vmm_dirty[page / 64] >> (page % 64) & 1;
}

/* KVM's dirty log does not see kvmrun's writes: the device-writable
 * buffers (marked when popped), the used ring and avail_event (when
 * written) must land in guest_memory.vmm_dirty; readable buffers must not. */
static void test_device_writes_marked_dirty(void **state)
{
	struct fixture *f = *state;
	struct virtq_chain *c = &f->chain;

	assert_int_equal(guest_memory_track_dirty(&f->mem), 0);
	activate(f, 16, ALL_FEATURES);
	/* Out: one page; in: 0x1800 bytes across two pages from mid-page. */
	set_desc(f, DESC_GPA, 0, BUF_GPA, 4096, VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, DESC_GPA, 1, BUF_GPA + 0x10800, 0x1800, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->q, c), 1);
	assert_false(page_dirty(f, BUF_GPA));
	assert_true(page_dirty(f, BUF_GPA + 0x10000));
	assert_true(page_dirty(f, BUF_GPA + 0x11000));
	assert_false(page_dirty(f, BUF_GPA + 0x12000));
	assert_false(page_dirty(f, USED_GPA));
	assert_int_equal(virtq_push(&f->q, c->head, 0x1800), 0);
	assert_true(page_dirty(f, USED_GPA));
	/* The driver's rings are the guest's writes, not ours. */
	assert_false(page_dirty(f, DESC_GPA));
	assert_false(page_dirty(f, AVAIL_GPA));
	/* An empty ring with EVENT_IDX publishes avail_event in the used ring. */
	memset(f->mem.vmm_dirty, 0, 64);
	assert_int_equal(virtq_pop(&f->q, c), 0);
	assert_true(page_dirty(f, USED_GPA));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_activate_valid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_activate_bad_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_activate_misaligned_rings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_activate_rings_outside_ram, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_and_disable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pop_push_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_ring_and_index_wrap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chain_of_queue_size_is_fine, setup, teardown),
		cmocka_unit_test_setup_teardown(test_zero_length_descriptors_carry_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_indirect_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_indirect_table_of_queue_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_descriptor_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_indirect_loop_and_chain_longer_than_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_buffers_outside_ram, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chain_over_4gib, setup, teardown),
		cmocka_unit_test_setup_teardown(test_indirect_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_indirect_not_negotiated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readable_after_writable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_next_out_of_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_head_out_of_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_avail_index_jump, setup, teardown),
		cmocka_unit_test_setup_teardown(test_in_flight_bounded_by_queue_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_push_errors, setup, teardown),
		cmocka_unit_test(test_need_event_formula),
		cmocka_unit_test_setup_teardown(test_interrupt_without_event_idx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interrupt_with_event_idx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_avail_event_published_when_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notify_off_while_busy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_rings_never_escape_ram, setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_writes_marked_dirty, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
