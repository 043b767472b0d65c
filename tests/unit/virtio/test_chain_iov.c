/* virtq_chain_iov(): a popped chain's readable or writable bytes as iovecs
 * into guest RAM. Chains are built in synthetic guest RAM the way a driver
 * (or a hostile one) would write them and go through the real virtq_pop(),
 * whose checks the helper relies on (queue.h); then the iovecs must cover
 * exactly the asked range, never leave a segment, never exceed
 * VIRTQ_MAX_SIZE entries, and a refused chain must give none. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "memory.h"
#include "virtio/queue.h"

#define RAM_SIZE  (16ULL << 20)
#define DESC_GPA  0x10000ULL
#define AVAIL_GPA 0x11000ULL
#define USED_GPA  0x12000ULL
#define BUF_GPA   0x100000ULL  /* data buffers */

struct fixture {
	struct guest_memory mem;
	struct virtq q;
	struct virtq_chain chain;
	uint16_t avail_idx;     /* the "driver's" next available index */
	/* Exactly VIRTQ_MAX_SIZE entries on the heap, so that ASan sees a
	 * single entry too many. */
	struct iovec *iov;
};

static int setup_on(void **state, uint64_t ram_size)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->iov = calloc(VIRTQ_MAX_SIZE, sizeof(*f->iov));
	if (!f->iov || guest_memory_create_anonymous(&f->mem, ram_size) < 0)
		return -1;
	virtq_init(&f->q, &f->mem, VIRTQ_MAX_SIZE);
	f->q.desc_addr = DESC_GPA;
	f->q.avail_addr = AVAIL_GPA;
	f->q.used_addr = USED_GPA;
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_on(state, RAM_SIZE);
}

/* 4 GiB of untouched, lazily backed RAM (3.25 GiB below the device hole):
 * room for a chain whose length needs all 32 bits. */
static int setup_4gib(void **state)
{
	return setup_on(state, 4ULL << 30);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	guest_memory_destroy(&f->mem);
	free(f->iov);
	free(f);
	return 0;
}

static void activate(struct fixture *f, uint16_t size)
{
	f->q.size = size;
	assert_int_equal(virtq_activate(&f->q, 0), 0);
}

static void set_desc(struct fixture *f, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	struct virtq_desc *d = guest_memory_ptr(&f->mem, DESC_GPA + 16ULL * i, 16);

	assert_non_null(d);
	*d = (struct virtq_desc){ .addr = addr, .len = len, .flags = flags, .next = next };
}

/* The driver makes chain `head` available (§2.7.13) and the device pops
 * it. */
static int offer_and_pop(struct fixture *f, uint16_t head)
{
	struct virtq_avail *avail = guest_memory_ptr(&f->mem, AVAIL_GPA, 6 + 2 * VIRTQ_MAX_SIZE);

	avail->ring[f->avail_idx % f->q.size] = head;
	avail->idx = ++f->avail_idx;
	return virtq_pop(&f->q, &f->chain);
}

static uint8_t *host(struct fixture *f, uint64_t gpa)
{
	uint8_t *p = guest_memory_ptr(&f->mem, gpa, 1);

	assert_non_null(p);
	return p;
}

static void assert_iov(const struct iovec *iov, const void *base, size_t len)
{
	assert_ptr_equal(iov->iov_base, base);
	assert_int_equal(iov->iov_len, len);
}

/* A chain of three readable segments (10, 20, 30 bytes at BUF_GPA,
 * +0x100, +0x200) then two writable ones (5 and 7 bytes at +0x300,
 * +0x400). */
static void pop_mixed_chain(struct fixture *f)
{
	activate(f, 8);
	set_desc(f, 0, BUF_GPA, 10, VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, 1, BUF_GPA + 0x100, 20, VIRTQ_DESC_F_NEXT, 2);
	set_desc(f, 2, BUF_GPA + 0x200, 30, VIRTQ_DESC_F_NEXT, 3);
	set_desc(f, 3, BUF_GPA + 0x300, 5, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 4);
	set_desc(f, 4, BUF_GPA + 0x400, 7, VIRTQ_DESC_F_WRITE, 0);
	assert_int_equal(offer_and_pop(f, 0), 1);
	assert_int_equal(f->chain.out_len, 60);
	assert_int_equal(f->chain.in_len, 12);
}

/* ---- ranges of a well-formed chain ---- */

static void test_range_inside_and_across_segments(void **state)
{
	struct fixture *f = *state;

	pop_mixed_chain(f);
	/* Readable [5, 35): the tail of the first segment, all of the
	 * second, the head of the third. */
	assert_int_equal(virtq_chain_iov(&f->chain, false, 5, 30, f->iov), 3);
	assert_iov(&f->iov[0], host(f, BUF_GPA + 5), 5);
	assert_iov(&f->iov[1], host(f, BUF_GPA + 0x100), 20);
	assert_iov(&f->iov[2], host(f, BUF_GPA + 0x200), 5);
	/* Inside one segment. */
	assert_int_equal(virtq_chain_iov(&f->chain, false, 12, 3, f->iov), 1);
	assert_iov(&f->iov[0], host(f, BUF_GPA + 0x100 + 2), 3);
	/* Starting exactly on a segment boundary skips the whole segment. */
	assert_int_equal(virtq_chain_iov(&f->chain, false, 10, 20, f->iov), 1);
	assert_iov(&f->iov[0], host(f, BUF_GPA + 0x100), 20);
	/* The writable stream starts at its own byte 0, after every
	 * readable segment (§2.7.4.2). */
	assert_int_equal(virtq_chain_iov(&f->chain, true, 0, 12, f->iov), 2);
	assert_iov(&f->iov[0], host(f, BUF_GPA + 0x300), 5);
	assert_iov(&f->iov[1], host(f, BUF_GPA + 0x400), 7);
	assert_int_equal(virtq_chain_iov(&f->chain, true, 6, 1, f->iov), 1);
	assert_iov(&f->iov[0], host(f, BUF_GPA + 0x400 + 1), 1);
}

static void test_exact_fit(void **state)
{
	struct fixture *f = *state;

	pop_mixed_chain(f);
	/* The whole stream: one iovec per segment, nothing more. */
	f->iov[3] = (struct iovec){ (void *)1, 1 };
	assert_int_equal(virtq_chain_iov(&f->chain, false, 0, f->chain.out_len, f->iov), 3);
	assert_iov(&f->iov[2], host(f, BUF_GPA + 0x200), 30);
	assert_iov(&f->iov[3], (void *)1, 1);   /* untouched */
	/* Up to the last byte exactly. */
	assert_int_equal(virtq_chain_iov(&f->chain, false, 59, 1, f->iov), 1);
	assert_iov(&f->iov[0], host(f, BUF_GPA + 0x200 + 29), 1);
	assert_int_equal(virtq_chain_iov(&f->chain, true, 0, f->chain.in_len, f->iov), 2);
	/* Nothing asked, or nothing left: no iovecs. */
	assert_int_equal(virtq_chain_iov(&f->chain, false, 0, 0, f->iov), 0);
	assert_int_equal(virtq_chain_iov(&f->chain, false, 60, 1, f->iov), 0);
	assert_int_equal(virtq_chain_iov(&f->chain, true, 12, 1, f->iov), 0);
}

static void test_range_past_the_end_is_cut(void **state)
{
	struct fixture *f = *state;

	pop_mixed_chain(f);
	/* Runs past the end: cut at the end (the caller checks lengths). */
	assert_int_equal(virtq_chain_iov(&f->chain, false, 50, 100, f->iov), 1);
	assert_iov(&f->iov[0], host(f, BUF_GPA + 0x200 + 20), 10);
	/* Values whose sum wraps: offset + len is never formed. */
	assert_int_equal(virtq_chain_iov(&f->chain, false, 1, SIZE_MAX, f->iov), 3);
	assert_iov(&f->iov[0], host(f, BUF_GPA + 1), 9);
	assert_int_equal(virtq_chain_iov(&f->chain, true, SIZE_MAX, SIZE_MAX, f->iov), 0);
	assert_int_equal(virtq_chain_iov(&f->chain, false, SIZE_MAX - 5, 10, f->iov), 0);
}

static void test_direction_without_segments(void **state)
{
	struct fixture *f = *state;

	/* A transmit-style chain (readable only) has no writable stream,
	 * and a receive-style one (writable only) no readable stream. */
	activate(f, 8);
	set_desc(f, 0, BUF_GPA, 64, 0, 0);
	assert_int_equal(offer_and_pop(f, 0), 1);
	assert_int_equal(virtq_chain_iov(&f->chain, true, 0, 64, f->iov), 0);
	assert_int_equal(virtq_chain_iov(&f->chain, false, 0, 64, f->iov), 1);
	set_desc(f, 1, BUF_GPA, 64, VIRTQ_DESC_F_WRITE, 0);
	assert_int_equal(offer_and_pop(f, 1), 1);
	assert_int_equal(virtq_chain_iov(&f->chain, false, 0, 64, f->iov), 0);
	assert_int_equal(virtq_chain_iov(&f->chain, true, 0, 64, f->iov), 1);
}

static void test_zero_length_descriptors_give_no_iovec(void **state)
{
	struct fixture *f = *state;

	activate(f, 8);
	/* Empty descriptors between and around data, one with an address
	 * outside RAM (never used: §2.7.5 length 0 carries nothing). */
	set_desc(f, 0, UINT64_MAX, 0, VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, 1, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 2);
	set_desc(f, 2, BUF_GPA + 0x100, 0, VIRTQ_DESC_F_NEXT, 3);
	set_desc(f, 3, BUF_GPA + 0x200, 8, VIRTQ_DESC_F_NEXT, 4);
	set_desc(f, 4, 0, 0, VIRTQ_DESC_F_WRITE, 0);
	assert_int_equal(offer_and_pop(f, 0), 1);
	assert_int_equal(virtq_chain_iov(&f->chain, false, 0, 16, f->iov), 2);
	assert_iov(&f->iov[0], host(f, BUF_GPA), 8);
	assert_iov(&f->iov[1], host(f, BUF_GPA + 0x200), 8);
	assert_int_equal(virtq_chain_iov(&f->chain, true, 0, 16, f->iov), 0);
}

static void test_chain_of_max_queue_size_fills_the_array_exactly(void **state)
{
	struct fixture *f = *state;

	/* §2.7.4.1: a chain as long as the largest queue: VIRTQ_MAX_SIZE
	 * segments, VIRTQ_MAX_SIZE iovecs in an array of that size (on the
	 * heap, so one more would be an ASan error). */
	activate(f, VIRTQ_MAX_SIZE);
	for (unsigned i = 0; i < VIRTQ_MAX_SIZE; i++)
		set_desc(f, i, BUF_GPA + 0x10ULL * i, 3,
			 i + 1 < VIRTQ_MAX_SIZE ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	assert_int_equal(offer_and_pop(f, 0), 1);
	assert_int_equal(virtq_chain_iov(&f->chain, false, 0, SIZE_MAX, f->iov), VIRTQ_MAX_SIZE);
	assert_iov(&f->iov[VIRTQ_MAX_SIZE - 1], host(f, BUF_GPA + 0x10ULL * (VIRTQ_MAX_SIZE - 1)), 3);
	/* The same with one readable and the rest writable. */
	for (unsigned i = 1; i < VIRTQ_MAX_SIZE; i++)
		set_desc(f, i, BUF_GPA + 0x10ULL * i, 3,
			 VIRTQ_DESC_F_WRITE | (i + 1 < VIRTQ_MAX_SIZE ? VIRTQ_DESC_F_NEXT : 0),
			 (uint16_t)(i + 1));
	assert_int_equal(offer_and_pop(f, 0), 1);
	assert_int_equal(virtq_chain_iov(&f->chain, true, 0, SIZE_MAX, f->iov), VIRTQ_MAX_SIZE - 1);
	assert_iov(&f->iov[0], host(f, BUF_GPA + 0x10), 3);
	assert_int_equal(virtq_chain_iov(&f->chain, false, 0, SIZE_MAX, f->iov), 1);
}

static void test_chain_of_almost_4gib(void **state)
{
	struct fixture *f = *state;

	/* §2.7.5.2: 2^32 - 1 bytes is the longest stream virtq_pop()
	 * accepts; the iovecs cover it whole and split it where asked. */
	activate(f, 8);
	set_desc(f, 0, BUF_GPA, 0x80000000u, VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, 1, BUF_GPA, 0x7fffffffu, 0, 0);
	assert_int_equal(offer_and_pop(f, 0), 1);
	assert_int_equal(f->chain.out_len, UINT32_MAX);
	assert_int_equal(virtq_chain_iov(&f->chain, false, 0, SIZE_MAX, f->iov), 2);
	assert_iov(&f->iov[0], host(f, BUF_GPA), 0x80000000u);
	assert_iov(&f->iov[1], host(f, BUF_GPA), 0x7fffffffu);
	assert_int_equal(virtq_chain_iov(&f->chain, false, 0x80000000u, 0x7fffffffu, f->iov), 1);
	assert_iov(&f->iov[0], host(f, BUF_GPA), 0x7fffffffu);
	assert_int_equal(virtq_chain_iov(&f->chain, false, UINT32_MAX - 1, 2, f->iov), 1);
	assert_iov(&f->iov[0], host(f, BUF_GPA + 0x7ffffffeu), 1);
}

/* ---- hostile chains: refused by virtq_pop(), so no iovecs ---- */

/* Pop a chain the driver made malformed: the pop fails with `err` and the
 * chain maps to nothing in either direction, `iov` untouched. */
static void expect_refused(struct fixture *f, uint16_t head, int err, const char *needle)
{
	f->iov[0] = (struct iovec){ (void *)1, 1 };
	assert_int_equal(offer_and_pop(f, head), err);
	assert_non_null(strstr(f->q.error, needle));
	assert_int_equal(virtq_chain_iov(&f->chain, false, 0, SIZE_MAX, f->iov), 0);
	assert_int_equal(virtq_chain_iov(&f->chain, true, 0, SIZE_MAX, f->iov), 0);
	assert_iov(&f->iov[0], (void *)1, 1);
}

static void test_too_many_descriptors(void **state)
{
	struct fixture *f = *state;

	/* A ring of descriptors that never ends: the hop budget stops it
	 * after the queue size (§2.7.4.1). */
	activate(f, 8);
	for (unsigned i = 0; i < 8; i++)
		set_desc(f, i, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, (uint16_t)((i + 1) % 8));
	expect_refused(f, 0, -ELOOP, "longer than the queue size 8");
}

static void test_writable_before_readable(void **state)
{
	struct fixture *f = *state;

	activate(f, 8);
	set_desc(f, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, 1, BUF_GPA + 8, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
	set_desc(f, 2, BUF_GPA + 16, 8, 0, 0);
	expect_refused(f, 0, -EINVAL, "device-readable after device-writable");
}

static void test_buffer_outside_ram(void **state)
{
	struct fixture *f = *state;

	activate(f, 8);
	set_desc(f, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, 1, RAM_SIZE - 4, 8, VIRTQ_DESC_F_WRITE, 0);   /* straddles the end */
	expect_refused(f, 0, -EFAULT, "not inside guest RAM");
	set_desc(f, 1, UINT64_MAX - 3, 8, VIRTQ_DESC_F_WRITE, 0); /* addr + len wraps */
	expect_refused(f, 0, -EFAULT, "not inside guest RAM");
}

static void test_length_over_4gib(void **state)
{
	struct fixture *f = *state;

	/* Two segments of 2 GiB: 2^32 bytes do not fit the 32-bit totals
	 * (§2.7.5.2). */
	activate(f, 8);
	set_desc(f, 0, BUF_GPA, 0x80000000u, VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, 1, BUF_GPA, 0x80000000u, 0, 0);
	expect_refused(f, 0, -EINVAL, "longer than 4 GiB");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_range_inside_and_across_segments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exact_fit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_range_past_the_end_is_cut, setup, teardown),
		cmocka_unit_test_setup_teardown(test_direction_without_segments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_zero_length_descriptors_give_no_iovec, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chain_of_max_queue_size_fills_the_array_exactly,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_chain_of_almost_4gib, setup_4gib, teardown),
		cmocka_unit_test_setup_teardown(test_too_many_descriptors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writable_before_readable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_buffer_outside_ram, setup, teardown),
		cmocka_unit_test_setup_teardown(test_length_over_4gib, setup_4gib, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
