/* The disk back-end against real temporary files: every operation, the
 * capacity check of every request type (overflow included), read-only
 * images, the io_uring and synchronous paths side by side, and many
 * requests in flight. Each test runs once per I/O mode (the state). */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "virtio/blk_backend.h"

#define SECTORS 256                /* 128 KiB images */
#define IMAGE_SIZE (SECTORS * 512)

static const enum blk_io_mode mode_sync = BLK_IO_SYNC;
static const enum blk_io_mode mode_uring = BLK_IO_URING;

struct completion_log {
	unsigned count;
};

static void on_complete(void *ctx, struct blk_request *req)
{
	struct completion_log *log = ctx;

	(void)req;
	log->count++;
}

static uint8_t pattern(uint64_t offset)
{
	return (uint8_t)(offset * 7 + (offset >> 9) * 13 + 1);
}

/* A temporary file of `size` bytes filled with pattern(); its path in
 * `path` (PATH_MAX). `dir` NULL means $TMPDIR or /tmp. */
static int make_image_in(char *path, const char *dir, uint64_t size)
{
	const char *tmp = dir ? dir : getenv("TMPDIR");
	uint8_t buf[4096];
	int fd;

	snprintf(path, PATH_MAX, "%s/kvmrun-blk-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	for (uint64_t off = 0; off < size; off += sizeof(buf)) {
		uint64_t n = size - off < sizeof(buf) ? size - off : sizeof(buf);

		for (uint64_t i = 0; i < n; i++)
			buf[i] = pattern(off + i);
		assert_int_equal(pwrite(fd, buf, n, (off_t)off), (ssize_t)n);
	}
	close(fd);
	return 0;
}

static void make_image(char *path, uint64_t size)
{
	make_image_in(path, NULL, size);
}

static struct blk_backend *open_image(const char *path, enum blk_io_mode mode, bool ro,
				      enum blk_cache_mode cache, struct completion_log *log)
{
	struct blk_backend_options opts = { .read_only = ro, .cache = cache, .io = mode };
	struct blk_backend *b;
	char err[256];
	int ret = blk_backend_open(&b, path, &opts, err, sizeof(err));

	if (ret < 0)
		fail_msg("blk_backend_open %s: %s", path, err);
	blk_backend_set_completion(b, on_complete, log);
	assert_int_equal(blk_backend_uses_uring(b), mode == BLK_IO_URING);
	return b;
}

/* Deliver completions until `log` counts `target`. */
static void wait_for(struct blk_backend *b, struct completion_log *log, unsigned target)
{
	int spins = 0;

	blk_backend_unplug(b);
	while (log->count < target) {
		struct pollfd p = { .fd = blk_backend_fd(b), .events = POLLIN };

		assert_true(poll(&p, 1, 5000) == 1);
		blk_backend_process(b);
		assert_true(++spins < 100000);
	}
}

static enum blk_status run(struct blk_backend *b, struct completion_log *log,
			   struct blk_request *req)
{
	unsigned target = log->count + 1;

	blk_backend_submit(b, req);
	wait_for(b, log, target);
	assert_int_equal(blk_backend_in_flight(b), 0);
	return req->status;
}

static enum blk_status rw(struct blk_backend *b, struct completion_log *log, enum blk_op op,
			  uint64_t sector, void *buf, size_t len)
{
	struct iovec iov = { buf, len };
	struct blk_request req = { .op = op, .sector = sector, .iov = &iov, .iov_count = 1 };

	return run(b, log, &req);
}

static enum blk_status ranges(struct blk_backend *b, struct completion_log *log, enum blk_op op,
			      const struct blk_range *r, unsigned n)
{
	struct blk_request req = { .op = op, .ranges = r, .nr_ranges = n };

	return run(b, log, &req);
}

static void file_read(const char *path, uint64_t off, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static void assert_pattern(const char *path, uint64_t off, size_t len)
{
	uint8_t *buf = malloc(len);

	file_read(path, off, buf, len);
	for (size_t i = 0; i < len; i++)
		if (buf[i] != pattern(off + i))
			fail_msg("byte %llu: 0x%02x, expected the pattern's 0x%02x",
				 (unsigned long long)(off + i), buf[i], pattern(off + i));
	free(buf);
}

static void assert_filled(const char *path, uint64_t off, size_t len, uint8_t value)
{
	uint8_t *buf = malloc(len);

	file_read(path, off, buf, len);
	for (size_t i = 0; i < len; i++)
		if (buf[i] != value)
			fail_msg("byte %llu: 0x%02x, expected 0x%02x", (unsigned long long)(off + i),
				 buf[i], value);
	free(buf);
}

static enum blk_io_mode mode_of(void **state)
{
	return *(const enum blk_io_mode *)*state;
}

static void test_open_geometry(void **state)
{
	struct completion_log log = { 0 };
	char path[PATH_MAX];
	uint8_t serial[BLK_ID_BYTES];
	struct blk_backend *b;
	struct stat st;

	/* A trailing partial sector is not part of the disk. */
	make_image(path, IMAGE_SIZE + 100);
	b = open_image(path, mode_of(state), false, BLK_CACHE_WRITEBACK, &log);
	assert_int_equal(blk_backend_capacity(b), SECTORS);
	assert_false(blk_backend_read_only(b));
	assert_true(blk_backend_block_size(b) >= 512);
	assert_int_equal(blk_backend_block_size(b) & (blk_backend_block_size(b) - 1), 0);
	blk_backend_serial(b, serial);
	for (int i = 0; i < BLK_ID_BYTES; i++)
		assert_non_null(strchr("0123456789abcdef", serial[i]));
	assert_int_equal(stat(path, &st), 0);
	{
		char text[32];

		snprintf(text, sizeof(text), "%015llx",
			 (unsigned long long)(st.st_ino & 0xfffffffffffffffULL));
		assert_memory_equal(serial + 5, text, 15);
	}
	blk_backend_close(b);
	unlink(path);
}

static void test_read_write(void **state)
{
	struct completion_log log = { 0 };
	char path[PATH_MAX];
	uint8_t buf[1024], back[1024];
	struct blk_backend *b;

	make_image(path, IMAGE_SIZE);
	b = open_image(path, mode_of(state), false, BLK_CACHE_WRITEBACK, &log);

	/* A read scattered over three uneven buffers. */
	{
		uint8_t a[100], m[700], z[224];
		struct iovec iov[] = { { a, sizeof(a) }, { m, sizeof(m) }, { z, sizeof(z) } };
		struct blk_request req = { .op = BLK_OP_READ, .sector = 3, .iov = iov, .iov_count = 3 };

		assert_int_equal(run(b, &log, &req), BLK_STATUS_OK);
		assert_int_equal(req.bytes_written, 1024);
		for (int i = 0; i < 100; i++)
			assert_int_equal(a[i], pattern(3 * 512 + i));
		for (int i = 0; i < 700; i++)
			assert_int_equal(m[i], pattern(3 * 512 + 100 + i));
		for (int i = 0; i < 224; i++)
			assert_int_equal(z[i], pattern(3 * 512 + 800 + i));
	}

	/* A write lands exactly where asked; its neighbours are untouched. */
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(0xa0 ^ i);
	assert_int_equal(rw(b, &log, BLK_OP_WRITE, 10, buf, sizeof(buf)), BLK_STATUS_OK);
	assert_int_equal(rw(b, &log, BLK_OP_READ, 10, back, sizeof(back)), BLK_STATUS_OK);
	assert_memory_equal(buf, back, sizeof(buf));
	file_read(path, 10 * 512, back, sizeof(back));
	assert_memory_equal(buf, back, sizeof(buf));
	assert_pattern(path, 0, 10 * 512);
	assert_pattern(path, 12 * 512, IMAGE_SIZE - 12 * 512);

	/* The last sector is reachable. */
	assert_int_equal(rw(b, &log, BLK_OP_READ, SECTORS - 1, back, 512), BLK_STATUS_OK);
	for (int i = 0; i < 512; i++)
		assert_int_equal(back[i], pattern((SECTORS - 1) * 512 + i));
	assert_int_equal(log.count, 4);
	blk_backend_close(b);
	unlink(path);
}

/* More iovec elements than one preadv takes (IOV_MAX): the request
 * continues where the kernel stopped. */
static void test_many_segments(void **state)
{
	enum { N = IOV_MAX + 200, SEG = 64 };
	struct completion_log log = { 0 };
	char path[PATH_MAX];
	struct blk_backend *b;
	struct iovec *iov = calloc(N, sizeof(*iov));
	uint8_t *data = malloc(N * SEG), *back = malloc(N * SEG);
	struct blk_request req = { .op = BLK_OP_WRITE, .sector = 0, .iov = iov, .iov_count = N };

	make_image(path, IMAGE_SIZE);
	b = open_image(path, mode_of(state), false, BLK_CACHE_WRITEBACK, &log);
	for (int i = 0; i < N * SEG; i++)
		data[i] = (uint8_t)(i * 31 + 5);
	for (int i = 0; i < N; i++)
		iov[i] = (struct iovec){ data + i * SEG, SEG };
	assert_int_equal(run(b, &log, &req), BLK_STATUS_OK);
	file_read(path, 0, back, N * SEG);
	assert_memory_equal(data, back, N * SEG);

	memset(back, 0, N * SEG);
	for (int i = 0; i < N; i++)
		iov[i] = (struct iovec){ back + i * SEG, SEG };
	req = (struct blk_request){ .op = BLK_OP_READ, .sector = 0, .iov = iov, .iov_count = N };
	assert_int_equal(run(b, &log, &req), BLK_STATUS_OK);
	assert_int_equal(req.bytes_written, N * SEG);
	assert_memory_equal(data, back, N * SEG);
	blk_backend_close(b);
	unlink(path);
	free(iov);
	free(data);
	free(back);
}

static void test_flush(void **state)
{
	struct completion_log log = { 0 };
	char path[PATH_MAX];
	uint8_t buf[512] = { 1 };
	struct blk_request req = { .op = BLK_OP_FLUSH };
	struct blk_backend *b;

	make_image(path, IMAGE_SIZE);
	b = open_image(path, mode_of(state), false, BLK_CACHE_WRITEBACK, &log);
	assert_int_equal(rw(b, &log, BLK_OP_WRITE, 0, buf, sizeof(buf)), BLK_STATUS_OK);
	assert_int_equal(blk_backend_stats(b)->syncs, 0);
	/* The sector field of a flush is unused (§5.2.6): any value works. */
	req.sector = UINT64_MAX;
	assert_int_equal(run(b, &log, &req), BLK_STATUS_OK);
	assert_int_equal(blk_backend_stats(b)->syncs, 1);

	/* Writethrough: every write is synced before it completes. */
	blk_backend_set_writethrough(b, true);
	assert_int_equal(rw(b, &log, BLK_OP_WRITE, 1, buf, sizeof(buf)), BLK_STATUS_OK);
	assert_int_equal(blk_backend_stats(b)->syncs, 2);
	{
		struct blk_range r = { .sector = 5, .nr_sectors = 1 };

		assert_int_equal(ranges(b, &log, BLK_OP_WRITE_ZEROES, &r, 1), BLK_STATUS_OK);
		assert_int_equal(blk_backend_stats(b)->syncs, 3);
	}
	blk_backend_set_writethrough(b, false);
	assert_int_equal(rw(b, &log, BLK_OP_WRITE, 1, buf, sizeof(buf)), BLK_STATUS_OK);
	assert_int_equal(blk_backend_stats(b)->syncs, 3);
	blk_backend_close(b);

	/* cache=unsafe never syncs, even in writethrough mode. */
	b = open_image(path, mode_of(state), false, BLK_CACHE_UNSAFE, &log);
	blk_backend_set_writethrough(b, true);
	assert_int_equal(rw(b, &log, BLK_OP_WRITE, 1, buf, sizeof(buf)), BLK_STATUS_OK);
	req = (struct blk_request){ .op = BLK_OP_FLUSH };
	assert_int_equal(run(b, &log, &req), BLK_STATUS_OK);
	assert_int_equal(blk_backend_stats(b)->syncs, 0);
	blk_backend_close(b);
	unlink(path);
}

static void test_capacity_checks(void **state)
{
	struct completion_log log = { 0 };
	char path[PATH_MAX];
	uint8_t buf[1024];
	struct blk_backend *b;

	make_image(path, IMAGE_SIZE);
	b = open_image(path, mode_of(state), false, BLK_CACHE_WRITEBACK, &log);
	memset(buf, 0xee, sizeof(buf));

	/* Reads and writes: past the end, straddling it, sector + length
	 * wrapping around 2^64, and partial sectors. */
	for (int op = BLK_OP_READ; op <= BLK_OP_WRITE; op++) {
		assert_int_equal(rw(b, &log, op, SECTORS, buf, 512), BLK_STATUS_IOERR);
		assert_int_equal(rw(b, &log, op, SECTORS - 1, buf, 1024), BLK_STATUS_IOERR);
		assert_int_equal(rw(b, &log, op, UINT64_MAX, buf, 512), BLK_STATUS_IOERR);
		assert_int_equal(rw(b, &log, op, UINT64_MAX - 1, buf, 1024), BLK_STATUS_IOERR);
		assert_int_equal(rw(b, &log, op, (UINT64_MAX >> 9) + 1, buf, 512), BLK_STATUS_IOERR);
		assert_int_equal(rw(b, &log, op, 0, buf, 511), BLK_STATUS_IOERR);
		assert_int_equal(rw(b, &log, op, 0, buf, 513), BLK_STATUS_IOERR);
		/* Buffer lengths whose sum overflows 64 bits (never touched). */
		{
			struct iovec iov[] = { { buf, SIZE_MAX - 511 }, { buf, 1024 } };
			struct blk_request req = { .op = op, .iov = iov, .iov_count = 2 };

			assert_int_equal(run(b, &log, &req), BLK_STATUS_IOERR);
		}
		/* Zero bytes at the end is a valid empty request. */
		assert_int_equal(rw(b, &log, op, SECTORS, buf, 0), BLK_STATUS_OK);
	}

	/* Discard and write zeroes: every range is checked before any is
	 * touched, so a request with one bad range changes nothing. */
	for (int op = BLK_OP_DISCARD; op <= BLK_OP_WRITE_ZEROES; op++) {
		struct blk_range bad[][2] = {
			{ { 0, 1, false }, { SECTORS, 1, false } },
			{ { 0, 1, false }, { SECTORS - 1, 2, false } },
			{ { 0, 1, false }, { UINT64_MAX, 1, false } },
			{ { 0, 1, false }, { UINT64_MAX - 1, UINT32_MAX, true } },
			{ { 0, 1, false }, { 1, UINT32_MAX, false } },
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			assert_int_equal(ranges(b, &log, op, bad[i], 2), BLK_STATUS_IOERR);
		assert_pattern(path, 0, IMAGE_SIZE);
	}
	assert_pattern(path, 0, IMAGE_SIZE);
	assert_int_equal(blk_backend_stats(b)->errors, 2 * 8 + 2 * 5);
	blk_backend_close(b);
	unlink(path);
}

static blkcnt_t allocated_blocks(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_blocks;
}

static void test_discard(void **state)
{
	struct completion_log log = { 0 };
	char path[PATH_MAX];
	struct blk_range r[] = { { 64, 64, false }, { 200, 8, false } };
	struct blk_backend *b;
	blkcnt_t before;

	make_image(path, IMAGE_SIZE);
	b = open_image(path, mode_of(state), false, BLK_CACHE_WRITEBACK, &log);
	before = allocated_blocks(path);
	assert_int_equal(ranges(b, &log, BLK_OP_DISCARD, r, 2), BLK_STATUS_OK);
	/* On a file system with holes the space is given back and the
	 * range reads as zeroes; the rest keeps its data. */
	assert_true(allocated_blocks(path) < before);
	assert_filled(path, 64 * 512, 64 * 512, 0);
	assert_filled(path, 200 * 512, 8 * 512, 0);
	assert_pattern(path, 0, 64 * 512);
	assert_pattern(path, 128 * 512, 72 * 512);
	assert_pattern(path, 208 * 512, IMAGE_SIZE - 208 * 512);
	/* No ranges: nothing to do. */
	assert_int_equal(ranges(b, &log, BLK_OP_DISCARD, r, 0), BLK_STATUS_OK);
	blk_backend_close(b);
	unlink(path);
}

/* Returns the bytes zeroed by writing zeroes (no fallocate mode fit). */
static uint64_t check_write_zeroes(const char *dir, enum blk_io_mode mode, bool unmap)
{
	uint64_t filled;
	struct completion_log log = { 0 };
	char path[PATH_MAX];
	/* Unaligned ranges: partial file-system blocks are zeroed too. */
	struct blk_range r[] = { { 1, 3, unmap }, { 77, 40, unmap }, { SECTORS - 1, 1, unmap } };
	struct blk_backend *b;

	make_image_in(path, dir, IMAGE_SIZE);
	b = open_image(path, mode, false, BLK_CACHE_WRITEBACK, &log);
	assert_int_equal(ranges(b, &log, BLK_OP_WRITE_ZEROES, r, 3), BLK_STATUS_OK);
	assert_pattern(path, 0, 512);
	assert_filled(path, 512, 3 * 512, 0);
	assert_pattern(path, 4 * 512, 73 * 512);
	assert_filled(path, 77 * 512, 40 * 512, 0);
	assert_pattern(path, 117 * 512, (SECTORS - 1 - 117) * 512);
	assert_filled(path, (SECTORS - 1) * 512, 512, 0);
	/* The size does not change (FALLOC_FL_KEEP_SIZE). */
	{
		struct stat st;

		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_size, IMAGE_SIZE);
	}
	filled = blk_backend_stats(b)->zero_fill_bytes;
	blk_backend_close(b);
	unlink(path);
	return filled;
}

/* Whether the file system under `dir` ($TMPDIR or /tmp for NULL) can
 * FALLOC_FL_ZERO_RANGE (ext4, xfs and btrfs can; tmpfs cannot). */
static bool zero_range_supported(const char *dir)
{
	char path[PATH_MAX];
	bool ok;
	int fd;

	make_image_in(path, dir, 8192);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	ok = fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 0, 4096) == 0;
	close(fd);
	unlink(path);
	return ok;
}

static void test_write_zeroes(void **state)
{
	uint64_t filled = check_write_zeroes(NULL, mode_of(state), false);

	/* Written as zeroes only where the file system cannot zero a range. */
	if (zero_range_supported(NULL))
		assert_int_equal(filled, 0);
	else
		assert_int_equal(filled, 44 * 512);
	check_write_zeroes(NULL, mode_of(state), true);
}

/* tmpfs punches holes but has no FALLOC_FL_ZERO_RANGE: without unmap,
 * write zeroes falls back to writing zeroes; with unmap it punches. */
static void test_write_zeroes_fallback(void **state)
{
	struct stat st;

	if (stat("/dev/shm", &st) < 0 || !S_ISDIR(st.st_mode) || zero_range_supported("/dev/shm")) {
		skip();
		return;
	}
	assert_int_equal(check_write_zeroes("/dev/shm", mode_of(state), false), 44 * 512);
	assert_int_equal(check_write_zeroes("/dev/shm", mode_of(state), true), 0);
}

static void test_read_only(void **state)
{
	struct completion_log log = { 0 };
	char path[PATH_MAX];
	uint8_t buf[512];
	struct blk_range r = { 0, 8, true };
	struct blk_request flush = { .op = BLK_OP_FLUSH };
	struct blk_backend *b, *reader;
	struct blk_backend_options opts = { .read_only = true, .io = mode_of(state) };
	char err[256];

	make_image(path, IMAGE_SIZE);
	b = open_image(path, mode_of(state), true, BLK_CACHE_WRITEBACK, &log);
	assert_true(blk_backend_read_only(b));
	memset(buf, 0x55, sizeof(buf));
	assert_int_equal(rw(b, &log, BLK_OP_WRITE, 0, buf, sizeof(buf)), BLK_STATUS_IOERR);
	assert_int_equal(ranges(b, &log, BLK_OP_DISCARD, &r, 1), BLK_STATUS_IOERR);
	assert_int_equal(ranges(b, &log, BLK_OP_WRITE_ZEROES, &r, 1), BLK_STATUS_IOERR);
	r.unmap = false;
	assert_int_equal(ranges(b, &log, BLK_OP_WRITE_ZEROES, &r, 1), BLK_STATUS_IOERR);
	assert_int_equal(run(b, &log, &flush), BLK_STATUS_OK);
	assert_int_equal(rw(b, &log, BLK_OP_READ, 0, buf, sizeof(buf)), BLK_STATUS_OK);
	assert_int_equal(buf[5], pattern(5));
	assert_pattern(path, 0, IMAGE_SIZE);

	/* Read-only openers share the image; a writer is refused. */
	assert_int_equal(blk_backend_open(&reader, path, &opts, err, sizeof(err)), 0);
	blk_backend_close(reader);
	opts.read_only = false;
	assert_int_equal(blk_backend_open(&reader, path, &opts, err, sizeof(err)), -EBUSY);
	assert_non_null(strstr(err, "in use by another process"));
	assert_non_null(strstr(err, path));
	blk_backend_close(b);
	unlink(path);
}

static void test_get_id(void **state)
{
	struct completion_log log = { 0 };
	char path[PATH_MAX];
	uint8_t id[32], serial[BLK_ID_BYTES];
	struct blk_backend *b;
	struct blk_backend_options opts = { .io = mode_of(state), .serial = "disk-0" };
	char err[256];

	make_image(path, IMAGE_SIZE);
	b = open_image(path, mode_of(state), false, BLK_CACHE_WRITEBACK, &log);
	blk_backend_serial(b, serial);
	memset(id, 0xff, sizeof(id));
	assert_int_equal(rw(b, &log, BLK_OP_GET_ID, 0, id, BLK_ID_BYTES), BLK_STATUS_OK);
	assert_memory_equal(id, serial, BLK_ID_BYTES);
	assert_int_equal(id[20], 0xff);

	/* A smaller buffer gets what fits; a larger one 20 bytes. */
	memset(id, 0xff, sizeof(id));
	{
		struct iovec iov = { id, 8 };
		struct blk_request req = { .op = BLK_OP_GET_ID, .iov = &iov, .iov_count = 1 };

		assert_int_equal(run(b, &log, &req), BLK_STATUS_OK);
		assert_int_equal(req.bytes_written, 8);
		assert_memory_equal(id, serial, 8);
		assert_int_equal(id[8], 0xff);
		iov = (struct iovec){ id, sizeof(id) };
		assert_int_equal(run(b, &log, &req), BLK_STATUS_OK);
		assert_int_equal(req.bytes_written, BLK_ID_BYTES);
	}
	blk_backend_close(b);

	/* A serial given by the operator, NUL-padded. */
	assert_int_equal(blk_backend_open(&b, path, &opts, err, sizeof(err)), 0);
	blk_backend_set_completion(b, on_complete, &log);
	memset(id, 0xff, sizeof(id));
	assert_int_equal(rw(b, &log, BLK_OP_GET_ID, 0, id, BLK_ID_BYTES), BLK_STATUS_OK);
	assert_memory_equal(id, "disk-0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", BLK_ID_BYTES);
	blk_backend_close(b);
	unlink(path);
}

static void test_unknown_op(void **state)
{
	struct completion_log log = { 0 };
	char path[PATH_MAX];
	struct blk_request req = { .op = (enum blk_op)99 };
	struct blk_backend *b;

	make_image(path, IMAGE_SIZE);
	b = open_image(path, mode_of(state), false, BLK_CACHE_WRITEBACK, &log);
	assert_int_equal(run(b, &log, &req), BLK_STATUS_UNSUPP);
	blk_backend_close(b);
	unlink(path);
}

/* More requests than the ring holds, all submitted before any completes:
 * every one completes once, with the right data. */
static void test_many_in_flight(void **state)
{
	enum { N = 3 * BLK_BACKEND_RING_ENTRIES + 17 };
	struct completion_log log = { 0 };
	char path[PATH_MAX];
	struct blk_backend *b;
	struct blk_request *req = calloc(N, sizeof(*req));
	struct iovec *iov = calloc(N, sizeof(*iov));
	uint8_t (*data)[512] = calloc(N, 512);
	const uint64_t sectors = N + 8;

	make_image(path, sectors * 512);
	b = open_image(path, mode_of(state), false, BLK_CACHE_WRITEBACK, &log);
	for (int i = 0; i < N; i++) {
		memset(data[i], (uint8_t)(i * 3 + 1), 512);
		iov[i] = (struct iovec){ data[i], 512 };
		req[i] = (struct blk_request){ .op = BLK_OP_WRITE, .sector = (uint64_t)i,
					       .iov = &iov[i], .iov_count = 1 };
		blk_backend_submit(b, &req[i]);
	}
	assert_true(blk_backend_in_flight(b) > 0);
	wait_for(b, &log, N);
	assert_int_equal(log.count, N);
	assert_int_equal(blk_backend_in_flight(b), 0);
	for (int i = 0; i < N; i++) {
		assert_int_equal(req[i].status, BLK_STATUS_OK);
		assert_filled(path, (uint64_t)i * 512, 512, (uint8_t)(i * 3 + 1));
	}
	assert_pattern(path, (uint64_t)N * 512, 8 * 512);

	/* And back, mixed with a flush and a bad request. */
	for (int i = 0; i < N; i++) {
		memset(data[i], 0, 512);
		iov[i] = (struct iovec){ data[i], 512 };
		req[i] = (struct blk_request){ .op = BLK_OP_READ, .sector = (uint64_t)i,
					       .iov = &iov[i], .iov_count = 1 };
		if (i == 5)
			req[i].op = BLK_OP_FLUSH;
		if (i == 6)
			req[i].sector = sectors;
		blk_backend_submit(b, &req[i]);
	}
	wait_for(b, &log, 2 * N);
	for (int i = 0; i < N; i++) {
		uint8_t expect[512];

		assert_int_equal(req[i].status, i == 6 ? BLK_STATUS_IOERR : BLK_STATUS_OK);
		if (i == 5 || i == 6)
			continue;
		memset(expect, (uint8_t)(i * 3 + 1), 512);
		assert_memory_equal(data[i], expect, 512);
	}
	blk_backend_close(b);
	unlink(path);
	free(req);
	free(iov);
	free(data);
}

/* The same script of requests on two copies of one image, one through
 * io_uring and one synchronously: the same statuses and the same bytes. */
static void test_sync_and_uring_agree(void **state)
{
	char paths[2][PATH_MAX];
	enum blk_status statuses[2][16];
	uint8_t image[2][IMAGE_SIZE];

	(void)state;
	for (int m = 0; m < 2; m++) {
		struct completion_log log = { 0 };
		struct blk_backend *b;
		uint8_t buf[2048];
		int n = 0;

		make_image(paths[m], IMAGE_SIZE);
		b = open_image(paths[m], m ? BLK_IO_URING : BLK_IO_SYNC, false,
			       BLK_CACHE_WRITEBACK, &log);
		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = (uint8_t)(i ^ 0x5a);
		statuses[m][n++] = rw(b, &log, BLK_OP_WRITE, 7, buf, 2048);
		statuses[m][n++] = rw(b, &log, BLK_OP_WRITE, SECTORS - 2, buf, 2048);
		statuses[m][n++] = rw(b, &log, BLK_OP_WRITE, 100, buf, 1000);
		{
			struct blk_range r[] = { { 9, 2, false }, { 150, 30, true } };

			statuses[m][n++] = ranges(b, &log, BLK_OP_WRITE_ZEROES, r, 2);
			r[0] = (struct blk_range){ 20, 100, false };
			statuses[m][n++] = ranges(b, &log, BLK_OP_DISCARD, r, 1);
		}
		{
			struct blk_request req = { .op = BLK_OP_FLUSH };

			statuses[m][n++] = run(b, &log, &req);
		}
		statuses[m][n++] = rw(b, &log, BLK_OP_READ, 0, buf, 2048);
		statuses[m][n++] = rw(b, &log, BLK_OP_READ, SECTORS, buf, 512);
		blk_backend_close(b);
		file_read(paths[m], 0, image[m], IMAGE_SIZE);
		unlink(paths[m]);
		assert_int_equal(n, 8);
	}
	assert_memory_equal(statuses[0], statuses[1], sizeof(statuses[0]));
	assert_memory_equal(image[0], image[1], IMAGE_SIZE);
	assert_int_equal(statuses[0][1], BLK_STATUS_IOERR);
	assert_int_equal(statuses[0][2], BLK_STATUS_IOERR);
	assert_int_equal(statuses[0][7], BLK_STATUS_IOERR);
}

static void test_bad_files(void **state)
{
	struct blk_backend_options opts = { .io = mode_of(state) };
	struct blk_backend *b;
	char path[PATH_MAX], err[512];

	assert_int_equal(blk_backend_open(&b, "/nonexistent/disk.img", &opts, err, sizeof(err)),
			 -ENOENT);
	assert_string_equal(err, "disk /nonexistent/disk.img: No such file or directory");
	assert_null(b);

	assert_true(blk_backend_open(&b, "/tmp", &opts, err, sizeof(err)) < 0);
	assert_null(b);

	assert_int_equal(blk_backend_open(&b, "/dev/null", &opts, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a regular file or block device"));

	make_image(path, 511);
	assert_int_equal(blk_backend_open(&b, path, &opts, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "smaller than one 512-byte sector"));
	assert_null(strchr(err, '\n'));
	unlink(path);

	/* A restore's disks (regular_only): a block device is refused
	 * before anything is done with it. Needs one we may open. */
	opts.regular_only = true;
	opts.read_only = true;
	if (access("/dev/loop0", R_OK) == 0) {
		assert_int_equal(blk_backend_open(&b, "/dev/loop0", &opts, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "disk /dev/loop0: not a regular file"));
		assert_null(b);
	}
	make_image(path, 4096);
	assert_int_equal(blk_backend_open(&b, path, &opts, err, sizeof(err)), 0);
	blk_backend_close(b);
	unlink(path);
}

/* Closing with requests still in the kernel waits for them. */
static void test_close_in_flight(void **state)
{
	enum { N = 64 };
	struct completion_log log = { 0 };
	char path[PATH_MAX];
	struct blk_backend *b;
	struct blk_request req[N];
	struct iovec iov[N];
	static uint8_t data[N][512];

	make_image(path, IMAGE_SIZE);
	b = open_image(path, mode_of(state), false, BLK_CACHE_WRITEBACK, &log);
	for (int i = 0; i < N; i++) {
		memset(data[i], 0x77, 512);
		iov[i] = (struct iovec){ data[i], 512 };
		req[i] = (struct blk_request){ .op = BLK_OP_WRITE, .sector = (uint64_t)i,
					       .iov = &iov[i], .iov_count = 1 };
		blk_backend_submit(b, &req[i]);
	}
	blk_backend_unplug(b);
	blk_backend_close(b);
	assert_int_equal(log.count, 0);
	assert_filled(path, 0, N * 512, 0x77);
	unlink(path);
}

#define BOTH(f) \
	cmocka_unit_test_prestate(f, (void *)&mode_sync), \
	cmocka_unit_test_prestate(f, (void *)&mode_uring)

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_open_geometry),
		BOTH(test_read_write),
		BOTH(test_many_segments),
		BOTH(test_flush),
		BOTH(test_capacity_checks),
		BOTH(test_discard),
		BOTH(test_write_zeroes),
		BOTH(test_write_zeroes_fallback),
		BOTH(test_read_only),
		BOTH(test_get_id),
		BOTH(test_unknown_op),
		BOTH(test_many_in_flight),
		BOTH(test_bad_files),
		BOTH(test_close_in_flight),
		cmocka_unit_test(test_sync_and_uring_agree),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
