/* Diff snapshots without KVM: page bitmaps (merging KVM's per-slot logs
 * at bit offsets, taking kvmrun's own bits, runs of pages), marking
 * kvmrun's writes, the diff memory file (round trip, and every damage
 * refused) and the MEMORY_BASE payload: src/snapshot/dirty_bitmap.c,
 * memdiff.c, chain.c, src/memory.c. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "memory.h"
#include "snapshot/buf.h"
#include "snapshot/chain.h"
#include "snapshot/dirty_bitmap.h"
#include "snapshot/memdiff.h"
#include "snapshot/memfile.h"

#define PAGE 4096ULL

static bool bit(const uint64_t *b, uint64_t i)
{
	return b[i / 64] >> (i % 64) & 1;
}

static void set_bit(uint64_t *b, uint64_t i)
{
	b[i / 64] |= 1ULL << (i % 64);
}

/* ---- bitmaps ---- */

/* A slot's log lands at the slot's first page, whatever its alignment to
 * 64, and the bits KVM leaves past the slot's end are ignored. */
static void test_or_at_offsets(void **state)
{
	static const uint64_t offsets[] = { 0, 1, 37, 63, 64, 65, 130 };
	static const uint64_t lengths[] = { 1, 5, 63, 64, 65, 129 };

	(void)state;
	for (size_t o = 0; o < sizeof(offsets) / sizeof(offsets[0]); o++) {
		for (size_t l = 0; l < sizeof(lengths) / sizeof(lengths[0]); l++) {
			uint64_t at = offsets[o], n = lengths[l];
			uint64_t src[3], dst[6] = { 0 };

			/* Every other bit, plus junk past n. */
			memset(src, 0, sizeof(src));
			for (uint64_t i = 0; i < 192; i++)
				if (i % 2 == 0 || i >= n)
					set_bit(src, i);
			dirty_bitmap_or(dst, at, src, n);
			for (uint64_t i = 0; i < 6 * 64; i++) {
				bool want = i >= at && i < at + n && (i - at) % 2 == 0;

				assert_int_equal(bit(dst, i), want);
			}
		}
	}
}

static void test_or_keeps_bits(void **state)
{
	uint64_t dst[2] = { 1ULL << 63, 0 }, src[1] = { 0x3 };

	(void)state;
	dirty_bitmap_or(dst, 62, src, 2);
	assert_true(bit(dst, 62) && bit(dst, 63));
	assert_int_equal(dst[1], 0);
}

static void test_take_clears_source(void **state)
{
	uint64_t dst[3] = { 0x1, 0, 0 }, src[3] = { 0x6, 0, 1ULL << 40 };

	(void)state;
	dirty_bitmap_take(dst, src, 3);
	assert_int_equal(dst[0], 0x7);
	assert_int_equal(dst[2], 1ULL << 40);
	assert_int_equal(src[0] | src[1] | src[2], 0);
}

static void test_count(void **state)
{
	uint64_t b[2] = { ~0ULL, ~0ULL };

	(void)state;
	assert_int_equal(dirty_bitmap_count(b, 70), 70);
	assert_int_equal(dirty_bitmap_count(b, 64), 64);
	assert_int_equal(dirty_bitmap_count(b, 0), 0);
}

static void test_extents(void **state)
{
	uint64_t b[4] = { 0 };
	struct dirty_extent e[8];

	(void)state;
	assert_int_equal(dirty_bitmap_extents(b, 256, e, 8), 0);
	/* Runs: 0, 62-66 (across a word), 127, 128-191 (a whole word), 255. */
	set_bit(b, 0);
	for (unsigned i = 62; i <= 66; i++)
		set_bit(b, i);
	set_bit(b, 127);
	b[2] = ~0ULL;
	set_bit(b, 255);
	assert_int_equal(dirty_bitmap_extents(b, 256, NULL, 0), 4);
	assert_int_equal(dirty_bitmap_extents(b, 256, e, 8), 4);
	assert_int_equal(e[0].first, 0);
	assert_int_equal(e[0].pages, 1);
	assert_int_equal(e[1].first, 62);
	assert_int_equal(e[1].pages, 5);
	assert_int_equal(e[2].first, 127);
	assert_int_equal(e[2].pages, 65);
	assert_int_equal(e[3].first, 255);
	assert_int_equal(e[3].pages, 1);
	/* Bits past nbits are not pages. */
	assert_int_equal(dirty_bitmap_extents(b, 200, e, 8), 3);
	assert_int_equal(e[2].pages, 65);
	/* A short array gets the first ones; the count is still whole. */
	assert_int_equal(dirty_bitmap_extents(b, 256, e, 1), 4);
	assert_int_equal(e[0].first, 0);
	memset(b, 0xff, sizeof(b));
	assert_int_equal(dirty_bitmap_extents(b, 256, e, 8), 1);
	assert_int_equal(e[0].pages, 256);
}

/* ---- kvmrun's own writes ---- */

static void test_mark_dirty(void **state)
{
	struct guest_memory mem;
	uint8_t byte = 7;

	(void)state;
	assert_int_equal(guest_memory_create_anonymous(&mem, 1 << 20), 0);
	guest_memory_mark_dirty(&mem, mem.host, 10);   /* untracked: a no-op */
	assert_int_equal(guest_memory_track_dirty(&mem), 0);
	guest_memory_mark_dirty(&mem, mem.host + PAGE - 1, 2);   /* pages 0 and 1 */
	assert_int_equal(guest_memory_write(&mem, 5 * PAGE, &byte, 1), 0);
	guest_memory_mark_dirty(&mem, mem.host + (1 << 20) - 1, 1);   /* the last page */
	guest_memory_mark_dirty(&mem, mem.host + (1 << 20) - 1, 2);   /* past RAM: ignored */
	guest_memory_mark_dirty(&mem, mem.host - 1, 1);               /* before: ignored */
	for (uint64_t p = 0; p < 256; p++)
		assert_int_equal(bit(mem.vmm_dirty, p), p <= 1 || p == 5 || p == 255);
	guest_memory_destroy(&mem);
}

/* ---- the diff memory file ---- */

struct diff_fixture {
	struct guest_memory src, dst;
	uint64_t dirty[4];     /* 256 pages */
	char path[64];
};

static int diff_setup(void **state)
{
	struct diff_fixture *f = calloc(1, sizeof(*f));

	if (!f || guest_memory_create_anonymous(&f->src, 256 * PAGE) < 0 ||
	    guest_memory_create_anonymous(&f->dst, 256 * PAGE) < 0)
		return -1;
	for (uint64_t i = 0; i < 256 * PAGE; i++) {
		f->src.host[i] = (uint8_t)(i * 7 + i / PAGE);
		f->dst.host[i] = 0xee;   /* the base's contents */
	}
	/* Pages 0, 3-5, 64, 255 changed since the base. */
	for (unsigned p = 3; p <= 5; p++)
		set_bit(f->dirty, p);
	set_bit(f->dirty, 0);
	set_bit(f->dirty, 64);
	set_bit(f->dirty, 255);
	snprintf(f->path, sizeof(f->path), "/tmp/kvmrun-test-diff-%d.mem", (int)getpid());
	*state = f;
	return 0;
}

static int diff_teardown(void **state)
{
	struct diff_fixture *f = *state;

	unlink(f->path);
	guest_memory_destroy(&f->src);
	guest_memory_destroy(&f->dst);
	free(f);
	return 0;
}

static void write_diff(struct diff_fixture *f)
{
	struct memfile_stats stats;
	char err[256];

	assert_int_equal(memdiff_write(f->path, &f->src, f->dirty, 0x1111, 0xba5e, &stats, err,
				       sizeof(err)), 0);
	assert_int_equal(stats.data_bytes, 6 * PAGE);
	assert_int_equal(stats.extents, 4);
}

static void test_diff_round_trip(void **state)
{
	struct diff_fixture *f = *state;
	struct memdiff d;
	char err[256];

	write_diff(f);
	assert_int_equal(memdiff_open(&d, f->path, 256 * PAGE, 0x1111, 0xba5e, err, sizeof(err)), 0);
	assert_int_equal(d.nr_extents, 4);
	assert_int_equal(memdiff_apply(&d, f->dst.host, err, sizeof(err)), 0);
	memdiff_close(&d);
	for (uint64_t p = 0; p < 256; p++) {
		if (bit(f->dirty, p)) {
			assert_memory_equal(f->dst.host + p * PAGE, f->src.host + p * PAGE, PAGE);
		} else {
			assert_int_equal(f->dst.host[p * PAGE], 0xee);
			assert_int_equal(f->dst.host[p * PAGE + PAGE - 1], 0xee);
		}
	}
}

static void test_diff_empty(void **state)
{
	struct diff_fixture *f = *state;
	struct memfile_stats stats;
	struct memdiff d;
	char err[256];

	memset(f->dirty, 0, sizeof(f->dirty));
	assert_int_equal(memdiff_write(f->path, &f->src, f->dirty, 1, 2, &stats, err, sizeof(err)), 0);
	assert_int_equal(memdiff_open(&d, f->path, 256 * PAGE, 1, 2, err, sizeof(err)), 0);
	assert_int_equal(memdiff_apply(&d, f->dst.host, err, sizeof(err)), 0);
	memdiff_close(&d);
	assert_int_equal(f->dst.host[0], 0xee);
}

static void expect_open_refused(struct diff_fixture *f, uint64_t ram, uint64_t id, uint64_t base,
				const char *want)
{
	struct memdiff d;
	char err[512] = "";

	assert_int_equal(memdiff_open(&d, f->path, ram, id, base, err, sizeof(err)), -EINVAL);
	if (!strstr(err, want))
		fail_msg("expected '%s' in: %s", want, err);
}

static void patch(struct diff_fixture *f, uint64_t off, uint8_t xor)
{
	FILE *file = fopen(f->path, "r+b");
	int c;

	assert_non_null(file);
	assert_int_equal(fseek(file, (long)off, SEEK_SET), 0);
	c = fgetc(file);
	assert_int_equal(fseek(file, (long)off, SEEK_SET), 0);
	fputc(c ^ xor, file);
	fclose(file);
}

static void test_diff_refused(void **state)
{
	struct diff_fixture *f = *state;
	struct memdiff d;
	char err[512];

	write_diff(f);
	expect_open_refused(f, 256 * PAGE, 0x2222, 0xba5e, "another snapshot");
	expect_open_refused(f, 256 * PAGE, 0x1111, 0xba5f, "applies on snapshot");
	expect_open_refused(f, 512 * PAGE, 0x1111, 0xba5e, "MiB of RAM");
	/* Header, extent table, then data: each flip is caught. */
	patch(f, 17, 1);
	expect_open_refused(f, 256 * PAGE, 0x1111, 0xba5e, "header checksum");
	patch(f, 17, 1);
	patch(f, MEMDIFF_HEADER + 8, 1);
	expect_open_refused(f, 256 * PAGE, 0x1111, 0xba5e, "extent table checksum");
	patch(f, MEMDIFF_HEADER + 8, 1);
	patch(f, 2 * MEMDIFF_HEADER + 3 * PAGE, 0x80);
	assert_int_equal(memdiff_open(&d, f->path, 256 * PAGE, 0x1111, 0xba5e, err, sizeof(err)), 0);
	assert_int_equal(memdiff_apply(&d, f->dst.host, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "data checksum"));
	memdiff_close(&d);
	/* Truncated, and not a diff at all. */
	assert_int_equal(truncate(f->path, 2 * MEMDIFF_HEADER + 5 * PAGE), 0);
	expect_open_refused(f, 256 * PAGE, 0x1111, 0xba5e, "truncated");
	assert_int_equal(truncate(f->path, 10), 0);
	expect_open_refused(f, 256 * PAGE, 0x1111, 0xba5e, "too short");
	assert_int_equal(truncate(f->path, 0), 0);
	assert_int_equal(truncate(f->path, 8192), 0);
	expect_open_refused(f, 256 * PAGE, 0x1111, 0xba5e, "no KVMRDIF header");
}

/* ---- the chain and its MEMORY_BASE payload ---- */

static void test_chain_payload(void **state)
{
	struct memory_chain a, b;
	struct snap_buf buf;
	char err[256];
	const uint8_t zero[4] = { 0 };

	(void)state;
	assert_int_equal(memory_chain_init(&a), 0);
	assert_int_equal(memory_chain_init(&b), 0);
	assert_int_equal(memory_chain_push(&a, "/snap/full.mem", 1), 0);
	assert_int_equal(memory_chain_push(&a, "rel.mem", 2), 0);
	assert_true(a.layers[1].path[0] == '/');   /* made absolute */
	snap_buf_init(&buf);
	memory_chain_encode_base(&a, &buf);
	assert_int_equal(memory_chain_decode_base(buf.data, buf.len, &b, err, sizeof(err)), 0);
	assert_int_equal(b.nr, 2);
	assert_string_equal(b.layers[0].path, "/snap/full.mem");
	assert_int_equal(b.layers[1].snapshot_id, 2);
	/* Truncated, trailing bytes, no layers: refused. */
	b.nr = 0;
	assert_int_equal(memory_chain_decode_base(buf.data, buf.len - 1, &b, err, sizeof(err)), -EINVAL);
	snap_buf_put_u8(&buf, 0);
	assert_int_equal(memory_chain_decode_base(buf.data, buf.len, &b, err, sizeof(err)), -EINVAL);
	assert_int_equal(memory_chain_decode_base(zero, sizeof(zero), &b, err, sizeof(err)), -EINVAL);
	assert_int_equal(b.nr, 0);
	/* The chain has room for MEMORY_CHAIN_MAX layers, no more. */
	for (unsigned i = a.nr; i < MEMORY_CHAIN_MAX; i++)
		assert_int_equal(memory_chain_push(&a, "/x", i), 0);
	assert_int_equal(memory_chain_push(&a, "/x", 99), -E2BIG);
	assert_int_equal(memory_chain_set_path(&a, 0, "/moved.mem"), 0);
	assert_string_equal(a.layers[0].path, "/moved.mem");
	snap_buf_free(&buf);
	memory_chain_free(&a);
	memory_chain_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_or_at_offsets),
		cmocka_unit_test(test_or_keeps_bits),
		cmocka_unit_test(test_take_clears_source),
		cmocka_unit_test(test_count),
		cmocka_unit_test(test_extents),
		cmocka_unit_test(test_mark_dirty),
		cmocka_unit_test_setup_teardown(test_diff_round_trip, diff_setup, diff_teardown),
		cmocka_unit_test_setup_teardown(test_diff_empty, diff_setup, diff_teardown),
		cmocka_unit_test_setup_teardown(test_diff_refused, diff_setup, diff_teardown),
		cmocka_unit_test(test_chain_payload),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
