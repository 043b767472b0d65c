/* virtio-blk driven through its virtio-mmio window the way a guest driver
 * does: synthetic guest RAM with a real split virtqueue, a real image file
 * behind the device, no KVM. Notifications are serviced by calling what
 * the event loop calls (virtio_mmio_notify, virtio_blk_process). Every
 * test runs with the io_uring and the synchronous back-end (the state). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "layout.h"
#include "memory.h"
#include "virtio/blk.h"
#include "virtio_test.h"

#define RAM_SIZE   (32ULL << 20)
#define HDR_GPA    0x20000ULL    /* request headers, 16 bytes each */
#define STATUS_GPA 0x30000ULL    /* status bytes, one per request */
#define INDIRECT_GPA 0x40000ULL  /* indirect tables, 48 bytes each */
#define BUF_GPA    0x100000ULL   /* data */
#define SECTORS    512           /* 256 KiB images */

static const enum blk_io_mode mode_sync = BLK_IO_SYNC;
static const enum blk_io_mode mode_uring = BLK_IO_URING;

static const uint64_t default_features =
	1ULL << VIRTIO_F_VERSION_1 | 1ULL << VIRTIO_BLK_F_FLUSH | 1ULL << VIRTIO_BLK_F_SEG_MAX |
	1ULL << VIRTIO_BLK_F_BLK_SIZE | 1ULL << VIRTIO_BLK_F_DISCARD |
	1ULL << VIRTIO_BLK_F_WRITE_ZEROES;

struct fixture {
	enum blk_io_mode mode;
	char path[PATH_MAX];
	struct guest_memory mem;
	struct virtio_blk blk;
	struct vdrv drv;
	unsigned nr_requests;      /* header/status slots used */
	bool indirect;             /* requests through indirect tables */
};

static uint8_t pattern(uint64_t offset)
{
	return (uint8_t)(offset * 7 + (offset >> 9) * 13 + 1);
}

static uint64_t config_read(struct vdrv *d, uint32_t offset, unsigned size)
{
	uint64_t v = 0;

	virtio_mmio_bus_ops.read(d->dev, VIRTIO_MMIO_CONFIG + offset, &v, size);
	return v;
}

static void make_image(struct fixture *f, uint64_t size)
{
	uint8_t *buf = malloc(size);
	int fd;

	snprintf(f->path, sizeof(f->path), "%s/kvmrun-vblk-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	fd = mkstemp(f->path);
	assert_true(fd >= 0);
	for (uint64_t i = 0; i < size; i++)
		buf[i] = pattern(i);
	assert_int_equal(write(fd, buf, size), (ssize_t)size);
	close(fd);
	free(buf);
}

static void open_device(struct fixture *f, bool ro)
{
	struct blk_backend_options opts = { .read_only = ro, .io = f->mode };
	struct blk_backend *b;
	char err[256];

	if (blk_backend_open(&b, f->path, &opts, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	assert_int_equal(virtio_blk_init(&f->blk, &f->mem, LAYOUT_VIRTIO_MMIO_BASE, 16, b, f->path),
			 0);
	vdrv_bind(&f->drv, &f->mem, &f->blk.mmio, VIRTIO_BLK_QUEUE_SIZE);
}

static int setup_mode(void **state, bool ro)
{
	struct fixture *f = calloc(1, sizeof(*f));

	f->mode = *(const enum blk_io_mode *)*state;
	assert_int_equal(guest_memory_create_anonymous(&f->mem, RAM_SIZE), 0);
	make_image(f, SECTORS * 512);
	open_device(f, ro);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_mode(state, false);
}

static int setup_ro(void **state)
{
	return setup_mode(state, true);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	virtio_blk_destroy(&f->blk);
	guest_memory_destroy(&f->mem);
	unlink(f->path);
	free(f);
	return 0;
}

/* §3.1.1 device initialization with `features`, one queue of `qsize`. */
static void driver_init(struct fixture *f, uint64_t features, uint16_t qsize)
{
	f->nr_requests = 0;
	f->indirect = features & 1ULL << VIRTIO_F_INDIRECT_DESC;
	vdrv_init(&f->drv, features, 1, qsize);
}

/* A request: header, one data buffer (none if len 0), status byte, each in
 * its own descriptor (the layout Linux uses). Returns the status byte. */
static uint8_t *add_request(struct fixture *f, uint32_t type, uint64_t sector, uint64_t data,
			    uint32_t len, bool data_write)
{
	struct vdrv *d = &f->drv;
	unsigned k = f->nr_requests++;
	struct virtio_blk_outhdr *hdr = vdrv_gpa(d, HDR_GPA + 16ULL * k, 16);
	uint8_t *status = vdrv_gpa(d, STATUS_GPA + k, 1);
	struct vdrv_buf b[3];
	unsigned n = 0;

	*hdr = (struct virtio_blk_outhdr){ .type = type, .sector = sector };
	*status = 0xee;
	b[n++] = (struct vdrv_buf){ HDR_GPA + 16ULL * k, 16, false };
	if (len)
		b[n++] = (struct vdrv_buf){ data, len, data_write };
	b[n++] = (struct vdrv_buf){ STATUS_GPA + k, 1, true };
	if (f->indirect) {
		/* One ring descriptor per request (§2.7.5.3). */
		struct virtq_desc *table = vdrv_gpa(d, INDIRECT_GPA + 48ULL * k, 48);
		struct vdrv_buf ind = { INDIRECT_GPA + 48ULL * k, (uint32_t)(16 * n), false };
		uint16_t head;

		for (unsigned i = 0; i < n; i++)
			table[i] = (struct virtq_desc){
				.addr = b[i].gpa, .len = b[i].len,
				.flags = (uint16_t)((b[i].write ? VIRTQ_DESC_F_WRITE : 0) |
						    (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0)),
				.next = (uint16_t)(i + 1),
			};
		head = vdrv_add_chain(d, 0, &ind, 1);
		vdrv_desc(d, 0, head)->flags = VIRTQ_DESC_F_INDIRECT;
		return status;
	}
	vdrv_add_chain(d, 0, b, n);
	return status;
}

/* Deliver back-end completions, without any notification, until the used
 * ring holds `target` entries. */
static void wait_used(struct fixture *f, uint16_t target)
{
	int spins = 0;

	while (vdrv_used_idx(&f->drv, 0) != target) {
		struct pollfd p = { .fd = blk_backend_fd(f->blk.backend), .events = POLLIN };

		assert_true(poll(&p, 1, 5000) == 1);
		virtio_blk_process(&f->blk);
		assert_true(++spins < 100000);
	}
}

/* Notify, then deliver back-end completions until the used ring holds
 * `target` entries in total. */
static void kick_and_wait(struct fixture *f, uint16_t target)
{
	virtio_mmio_notify(f->drv.dev, 0);
	wait_used(f, target);
}

/* One request, waited for; returns its status byte, *used_len its length. */
static uint8_t one(struct fixture *f, uint32_t type, uint64_t sector, uint64_t data, uint32_t len,
		   bool data_write, uint32_t *used_len)
{
	struct vdrv *d = &f->drv;
	uint8_t *status = add_request(f, type, sector, data, len, data_write);
	uint16_t target = (uint16_t)(vdrv_used(d, 0)->idx + 1);

	kick_and_wait(f, target);
	if (used_len)
		*used_len = vdrv_used_elem(d, 0, (uint16_t)(target - 1)).len;
	return *status;
}

static void file_read(struct fixture *f, uint64_t off, void *buf, size_t len)
{
	int fd = open(f->path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static void assert_file_pattern(struct fixture *f, uint64_t off, size_t len)
{
	uint8_t *buf = malloc(len);

	file_read(f, off, buf, len);
	for (size_t i = 0; i < len; i++)
		if (buf[i] != pattern(off + i))
			fail_msg("image byte %llu changed", (unsigned long long)(off + i));
	free(buf);
}

static void test_identity_and_config(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->drv;
	uint64_t features = vdrv_device_features(d);

	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_BLOCK);
	assert_true(features & 1ULL << VIRTIO_F_VERSION_1);
	assert_true(features & 1ULL << VIRTIO_BLK_F_FLUSH);
	assert_true(features & 1ULL << VIRTIO_BLK_F_DISCARD);
	assert_true(features & 1ULL << VIRTIO_BLK_F_WRITE_ZEROES);
	assert_true(features & 1ULL << VIRTIO_BLK_F_CONFIG_WCE);
	assert_false(features & 1ULL << VIRTIO_BLK_F_RO);
	assert_false(features & 1ULL << VIRTIO_BLK_F_SIZE_MAX);
	driver_init(f, default_features | 1ULL << VIRTIO_BLK_F_CONFIG_WCE, 16);
	assert_int_equal(config_read(d, 0, 8), SECTORS);
	assert_int_equal(config_read(d, 0, 4), SECTORS);   /* any width */
	assert_int_equal(config_read(d, 12, 4), VIRTIO_BLK_SEG_MAX);
	assert_int_equal(config_read(d, 20, 4), 512);
	assert_int_equal(config_read(d, VIRTIO_BLK_CONFIG_WRITEBACK, 1), 1);
	assert_int_equal(config_read(d, 36, 4), VIRTIO_BLK_MAX_DWZ_SECTORS);
	assert_int_equal(config_read(d, 40, 4), VIRTIO_BLK_MAX_DWZ_SEG);
	assert_int_equal(config_read(d, 48, 4), VIRTIO_BLK_MAX_DWZ_SECTORS);
	assert_int_equal(config_read(d, 52, 4), VIRTIO_BLK_MAX_DWZ_SEG);
	assert_int_equal(config_read(d, 56, 4), 1);        /* may unmap; padding 0 */
	/* Past the end of the configuration space: zero, not out of bounds. */
	assert_int_equal(config_read(d, 60, 4), 0);
	assert_int_equal(config_read(d, 58, 4), 0);
	/* Only `writeback` is writable. */
	{
		uint64_t v = 12345;

		virtio_mmio_bus_ops.write(d->dev, VIRTIO_MMIO_CONFIG, &v, 8);
		assert_int_equal(config_read(d, 0, 8), SECTORS);
	}
}

static void test_read_scattered(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->drv;
	struct virtio_blk_outhdr *hdr;
	uint8_t *data = vdrv_gpa(d, BUF_GPA, 4096), *status;
	uint16_t head;

	driver_init(f, default_features, 16);
	memset(data, 0, 4096);
	/* Header split over two descriptors, data over three uneven ones,
	 * the status byte sharing the last data descriptor (§2.7.4). */
	hdr = vdrv_gpa(d, HDR_GPA, 16);
	*hdr = (struct virtio_blk_outhdr){ .type = VIRTIO_BLK_T_IN, .sector = 5 };
	status = vdrv_gpa(d, BUF_GPA + 1536, 1);
	*status = 0xee;
	{
		struct vdrv_buf b[] = {
			{ HDR_GPA, 4, false }, { HDR_GPA + 4, 12, false },
			{ BUF_GPA, 100, true }, { BUF_GPA + 100, 900, true },
			{ BUF_GPA + 1000, 537, true },
		};

		head = vdrv_add_chain(d, 0, b, 5);
	}
	kick_and_wait(f, 1);
	assert_int_equal(*status, VIRTIO_BLK_S_OK);
	assert_int_equal(vdrv_used_elem(d, 0, 0).id, head);
	assert_int_equal(vdrv_used_elem(d, 0, 0).len, 1537);
	for (int i = 0; i < 1536; i++)
		assert_int_equal(data[i], pattern(5 * 512 + i));
	assert_false(vdrv_needs_reset(d));
}

static void test_write_flush_read_back(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->drv;
	uint8_t *out = vdrv_gpa(d, BUF_GPA, 2048), *in = vdrv_gpa(d, BUF_GPA + 0x10000, 2048);
	uint8_t file[2048];
	uint32_t len;

	driver_init(f, default_features, 16);
	for (int i = 0; i < 2048; i++)
		out[i] = (uint8_t)(i * 5 + 3);
	assert_int_equal(one(f, VIRTIO_BLK_T_OUT, 100, BUF_GPA, 2048, false, &len), VIRTIO_BLK_S_OK);
	assert_int_equal(len, 1);
	assert_int_equal(blk_backend_stats(f->blk.backend)->syncs, 0);
	assert_int_equal(one(f, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, &len), VIRTIO_BLK_S_OK);
	assert_int_equal(len, 1);
	assert_int_equal(blk_backend_stats(f->blk.backend)->syncs, 1);
	file_read(f, 100 * 512, file, sizeof(file));
	assert_memory_equal(file, out, 2048);
	assert_file_pattern(f, 99 * 512, 512);
	assert_file_pattern(f, 104 * 512, 512);
	memset(in, 0, 2048);
	assert_int_equal(one(f, VIRTIO_BLK_T_IN, 100, BUF_GPA + 0x10000, 2048, true, &len),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(len, 2049);
	assert_memory_equal(in, out, 2048);
}

static void test_out_of_range(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->drv;
	static const uint64_t sectors[] = { SECTORS, SECTORS - 1, UINT64_MAX, UINT64_MAX - 1,
					    (UINT64_MAX >> 9) + 1 };

	driver_init(f, default_features, 16);
	memset(vdrv_gpa(d, BUF_GPA, 1024), 0x99, 1024);
	for (size_t i = 0; i < sizeof(sectors) / sizeof(sectors[0]); i++) {
		assert_int_equal(one(f, VIRTIO_BLK_T_IN, sectors[i], BUF_GPA, 1024, true, NULL),
				 VIRTIO_BLK_S_IOERR);
		assert_int_equal(one(f, VIRTIO_BLK_T_OUT, sectors[i], BUF_GPA, 1024, false, NULL),
				 VIRTIO_BLK_S_IOERR);
	}
	/* Partial sectors. */
	assert_int_equal(one(f, VIRTIO_BLK_T_IN, 0, BUF_GPA, 700, true, NULL), VIRTIO_BLK_S_IOERR);
	assert_int_equal(one(f, VIRTIO_BLK_T_OUT, 0, BUF_GPA, 511, false, NULL),
			 VIRTIO_BLK_S_IOERR);
	/* The last sector itself is fine. */
	assert_int_equal(one(f, VIRTIO_BLK_T_IN, SECTORS - 1, BUF_GPA, 512, true, NULL),
			 VIRTIO_BLK_S_OK);
	assert_file_pattern(f, 0, SECTORS * 512);
	assert_false(vdrv_needs_reset(d));
}

/* Bad requests that still have a status byte are answered through it and
 * the device keeps working (docs/virtio-blk.md). */
static void test_malformed_requests_get_a_status(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->drv;
	uint8_t *status;
	uint32_t len;

	driver_init(f, default_features, 64);
	memset(vdrv_gpa(d, BUF_GPA, 4096), 0, 4096);

	/* A header of 8 bytes. */
	status = vdrv_gpa(d, STATUS_GPA + 1000, 1);
	{
		struct vdrv_buf b[] = { { HDR_GPA, 8, false }, { STATUS_GPA + 1000, 1, true } };

		*(struct virtio_blk_outhdr *)vdrv_gpa(d, HDR_GPA, 16) =
			(struct virtio_blk_outhdr){ .type = VIRTIO_BLK_T_IN };
		vdrv_add_chain(d, 0, b, 2);
		kick_and_wait(f, 1);
		assert_int_equal(*status, VIRTIO_BLK_S_IOERR);
		assert_int_equal(vdrv_used_elem(d, 0, 0).len, 1);
	}
	/* A header in device-writable memory: no readable header at all. */
	{
		struct vdrv_buf b[] = { { HDR_GPA, 16, true }, { STATUS_GPA + 1000, 1, true } };

		vdrv_add_chain(d, 0, b, 2);
		kick_and_wait(f, 2);
		assert_int_equal(*status, VIRTIO_BLK_S_IOERR);
	}
	/* IN with readable data after the header; OUT with writable data. */
	assert_int_equal(one(f, VIRTIO_BLK_T_IN, 0, BUF_GPA, 512, false, NULL), VIRTIO_BLK_S_IOERR);
	assert_int_equal(one(f, VIRTIO_BLK_T_OUT, 0, BUF_GPA, 512, true, NULL), VIRTIO_BLK_S_IOERR);
	assert_file_pattern(f, 0, 512);
	/* Unknown and unoffered types. */
	assert_int_equal(one(f, 2, 0, 0, 0, false, &len), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(len, 1);
	assert_int_equal(one(f, 10, 0, BUF_GPA, 8, true, NULL), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(one(f, 14, 0, BUF_GPA, 16, false, NULL), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(one(f, 0x80000001u, 0, BUF_GPA, 512, false, NULL), VIRTIO_BLK_S_UNSUPP);
	/* GET_ID with too small a buffer, or readable. */
	assert_int_equal(one(f, VIRTIO_BLK_T_GET_ID, 0, BUF_GPA, 19, true, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(one(f, VIRTIO_BLK_T_GET_ID, 0, BUF_GPA, 20, false, NULL),
			 VIRTIO_BLK_S_IOERR);

	/* Discard / write zeroes segment lists. */
	{
		struct virtio_blk_dwz_seg *seg = vdrv_gpa(d, BUF_GPA, 33 * 16);

		for (int i = 0; i < 33; i++)
			seg[i] = (struct virtio_blk_dwz_seg){ .sector = (uint64_t)i, .num_sectors = 1 };
		/* Not whole segments, none, too many. */
		assert_int_equal(one(f, VIRTIO_BLK_T_DISCARD, 0, BUF_GPA, 17, false, NULL),
				 VIRTIO_BLK_S_IOERR);
		assert_int_equal(one(f, VIRTIO_BLK_T_DISCARD, 0, 0, 0, false, NULL),
				 VIRTIO_BLK_S_IOERR);
		assert_int_equal(one(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, BUF_GPA, 33 * 16, false, NULL),
				 VIRTIO_BLK_S_IOERR);
		/* Writable segments. */
		assert_int_equal(one(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, BUF_GPA, 16, true, NULL),
				 VIRTIO_BLK_S_IOERR);
		/* A segment beyond the capacity, after a good one: nothing done. */
		seg[1].sector = SECTORS;
		assert_int_equal(one(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, BUF_GPA, 32, false, NULL),
				 VIRTIO_BLK_S_IOERR);
		seg[1] = (struct virtio_blk_dwz_seg){ .sector = UINT64_MAX, .num_sectors = 2 };
		assert_int_equal(one(f, VIRTIO_BLK_T_DISCARD, 0, BUF_GPA, 32, false, NULL),
				 VIRTIO_BLK_S_IOERR);
		/* Too many sectors in one segment. */
		seg[1] = (struct virtio_blk_dwz_seg){ .sector = 0,
						      .num_sectors = VIRTIO_BLK_MAX_DWZ_SECTORS + 1 };
		assert_int_equal(one(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, BUF_GPA, 32, false, NULL),
				 VIRTIO_BLK_S_IOERR);
		/* §5.2.6.2: unmap on a discard and unknown flags are UNSUPP,
		 * even together with another problem. */
		seg[1] = (struct virtio_blk_dwz_seg){ .sector = SECTORS, .num_sectors = 1,
						      .flags = VIRTIO_BLK_WZ_FLAG_UNMAP };
		assert_int_equal(one(f, VIRTIO_BLK_T_DISCARD, 0, BUF_GPA, 32, false, NULL),
				 VIRTIO_BLK_S_UNSUPP);
		seg[1].flags = 2;
		assert_int_equal(one(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, BUF_GPA, 32, false, NULL),
				 VIRTIO_BLK_S_UNSUPP);
		assert_file_pattern(f, 0, SECTORS * 512);
	}
	assert_false(vdrv_needs_reset(d));
	/* And a good request still works. */
	assert_int_equal(one(f, VIRTIO_BLK_T_IN, 1, BUF_GPA, 512, true, NULL), VIRTIO_BLK_S_OK);
	assert_int_equal(*(uint8_t *)vdrv_gpa(d, BUF_GPA, 1), pattern(512));
}

/* Refused requests take no request slot: a driver re-adding them as fast
 * as they are used must not keep one call (the event loop) for ever. One
 * call handles at most queue-size chains and has the event loop call back
 * for the rest; each refused request still gets its status. */
static void test_endless_refused_requests_are_bounded(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->drv;
	struct vdrv_feeder fd;
	uint64_t count;
	unsigned resumed = 0;

	driver_init(f, default_features, 8);
	/* One device-writable descriptor each: no readable header, IOERR. */
	for (unsigned i = 0; i < 8; i++)
		*vdrv_desc(d, 0, i) = (struct virtq_desc){
			.addr = STATUS_GPA + 16 * i, .len = 16, .flags = VIRTQ_DESC_F_WRITE };
	vdrv_feeder_start(&fd, d, 0);
	/* At most 8 chains a call, and a call back asked for. */
	for (unsigned k = 0; k < 64; k++) {
		uint16_t before = vdrv_used(d, 0)->idx;

		virtio_mmio_notify(d->dev, 0);
		assert_true((uint16_t)(vdrv_used(d, 0)->idx - before) <= 8);
		if (read(d->dev->notify_fd[0], &count, sizeof(count)) == sizeof(count))
			resumed++;
	}
	assert_true(resumed > 0);
	assert_int_equal(*(uint8_t *)vdrv_gpa(d, STATUS_GPA + 15, 1), VIRTIO_BLK_S_IOERR);
	vdrv_feeder_stop(&fd);
	assert_false(vdrv_needs_reset(d));
}

/* Without any device-writable byte there is nowhere to put a status: the
 * chain goes back with length 0 and the device needs a reset. */
static void test_no_status_byte_needs_reset(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->drv;
	struct vdrv_buf b[] = { { HDR_GPA, 16, false }, { BUF_GPA, 512, false } };

	driver_init(f, default_features, 16);
	*(struct virtio_blk_outhdr *)vdrv_gpa(d, HDR_GPA, 16) =
		(struct virtio_blk_outhdr){ .type = VIRTIO_BLK_T_OUT, .sector = 0 };
	memset(vdrv_gpa(d, BUF_GPA, 512), 0x42, 512);
	vdrv_add_chain(d, 0, b, 2);
	virtio_mmio_notify(d->dev, 0);
	assert_int_equal(vdrv_used(d, 0)->idx, 1);
	assert_int_equal(vdrv_used_elem(d, 0, 0).len, 0);
	assert_true(vdrv_needs_reset(d));
	assert_true(vdrv_read(d, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
	assert_non_null(strstr(d->dev->needs_reset_reason, "no device-writable status byte"));
	assert_file_pattern(f, 0, 512);
	/* A reset brings it back. */
	driver_init(f, default_features, 16);
	assert_false(vdrv_needs_reset(d));
	assert_int_equal(one(f, VIRTIO_BLK_T_OUT, 0, BUF_GPA, 512, false, NULL), VIRTIO_BLK_S_OK);
}

static void test_get_id(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->drv;
	uint8_t serial[BLK_ID_BYTES], *id = vdrv_gpa(d, BUF_GPA, 64);
	uint32_t len;

	driver_init(f, default_features, 16);
	blk_backend_serial(f->blk.backend, serial);
	memset(id, 0xff, 64);
	assert_int_equal(one(f, VIRTIO_BLK_T_GET_ID, 0, BUF_GPA, 20, true, &len), VIRTIO_BLK_S_OK);
	assert_int_equal(len, 21);
	assert_memory_equal(id, serial, BLK_ID_BYTES);
	/* A larger buffer: still 20 bytes. */
	memset(id, 0xff, 64);
	assert_int_equal(one(f, VIRTIO_BLK_T_GET_ID, 0, BUF_GPA, 64, true, &len), VIRTIO_BLK_S_OK);
	assert_int_equal(len, 21);
	assert_int_equal(id[20], 0xff);
}

static void test_discard_and_write_zeroes(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->drv;
	struct virtio_blk_dwz_seg *seg = vdrv_gpa(d, BUF_GPA, 64);
	uint8_t zero[4096] = { 0 }, file[4096];

	driver_init(f, default_features, 16);
	seg[0] = (struct virtio_blk_dwz_seg){ .sector = 16, .num_sectors = 8 };
	seg[1] = (struct virtio_blk_dwz_seg){ .sector = 40, .num_sectors = 3 };
	assert_int_equal(one(f, VIRTIO_BLK_T_DISCARD, 0, BUF_GPA, 32, false, NULL), VIRTIO_BLK_S_OK);
	file_read(f, 16 * 512, file, 4096);
	assert_memory_equal(file, zero, 4096);
	seg[0] = (struct virtio_blk_dwz_seg){ .sector = 101, .num_sectors = 2 };
	seg[1] = (struct virtio_blk_dwz_seg){ .sector = 200, .num_sectors = 5,
					      .flags = VIRTIO_BLK_WZ_FLAG_UNMAP };
	assert_int_equal(one(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, BUF_GPA, 32, false, NULL),
			 VIRTIO_BLK_S_OK);
	file_read(f, 101 * 512, file, 1024);
	assert_memory_equal(file, zero, 1024);
	file_read(f, 200 * 512, file, 2560);
	assert_memory_equal(file, zero, 2560);
	assert_file_pattern(f, 100 * 512, 512);
	assert_file_pattern(f, 103 * 512, 97 * 512);
	assert_file_pattern(f, 205 * 512, (SECTORS - 205) * 512);
	/* Without the feature negotiated the types are unknown. */
	driver_init(f, 1ULL << VIRTIO_F_VERSION_1 | 1ULL << VIRTIO_BLK_F_FLUSH, 16);
	assert_int_equal(one(f, VIRTIO_BLK_T_DISCARD, 0, BUF_GPA, 16, false, NULL),
			 VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(one(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, BUF_GPA, 16, false, NULL),
			 VIRTIO_BLK_S_UNSUPP);
}

static void test_read_only(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->drv;
	uint64_t features = vdrv_device_features(d);
	struct virtio_blk_dwz_seg *seg = vdrv_gpa(d, BUF_GPA + 0x10000, 16);

	assert_true(features & 1ULL << VIRTIO_BLK_F_RO);
	assert_false(features & 1ULL << VIRTIO_BLK_F_DISCARD);
	assert_false(features & 1ULL << VIRTIO_BLK_F_WRITE_ZEROES);
	/* Offering DISCARD anyway is refused at FEATURES_OK. */
	driver_init(f, 1ULL << VIRTIO_F_VERSION_1 | 1ULL << VIRTIO_BLK_F_RO |
		       1ULL << VIRTIO_BLK_F_FLUSH, 16);
	memset(vdrv_gpa(d, BUF_GPA, 512), 0x42, 512);
	assert_int_equal(one(f, VIRTIO_BLK_T_OUT, 0, BUF_GPA, 512, false, NULL), VIRTIO_BLK_S_IOERR);
	*seg = (struct virtio_blk_dwz_seg){ .sector = 0, .num_sectors = 8 };
	assert_int_equal(one(f, VIRTIO_BLK_T_DISCARD, 0, BUF_GPA + 0x10000, 16, false, NULL),
			 VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(one(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, BUF_GPA + 0x10000, 16, false, NULL),
			 VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(one(f, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL), VIRTIO_BLK_S_OK);
	assert_int_equal(one(f, VIRTIO_BLK_T_IN, 0, BUF_GPA, 512, true, NULL), VIRTIO_BLK_S_OK);
	assert_int_equal(*(uint8_t *)vdrv_gpa(d, BUF_GPA, 1), pattern(0));
	assert_file_pattern(f, 0, SECTORS * 512);
	assert_false(vdrv_needs_reset(d));
}

/* §5.2.6.2: FLUSH offered but not negotiated, or writeback 0 through
 * CONFIG_WCE, makes every write durable before it completes. */
static void test_writethrough(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->drv;
	const struct blk_backend_stats *st = blk_backend_stats(f->blk.backend);
	uint8_t wb;

	memset(vdrv_gpa(d, BUF_GPA, 512), 0x42, 512);
	driver_init(f, 1ULL << VIRTIO_F_VERSION_1, 16);
	assert_int_equal(config_read(d, VIRTIO_BLK_CONFIG_WRITEBACK, 1), 0);
	assert_int_equal(one(f, VIRTIO_BLK_T_OUT, 0, BUF_GPA, 512, false, NULL), VIRTIO_BLK_S_OK);
	assert_int_equal(st->syncs, 1);

	driver_init(f, default_features, 16);
	assert_int_equal(one(f, VIRTIO_BLK_T_OUT, 0, BUF_GPA, 512, false, NULL), VIRTIO_BLK_S_OK);
	assert_int_equal(st->syncs, 1);
	/* writeback is read-only without CONFIG_WCE. */
	wb = 0;
	virtio_mmio_bus_ops.write(d->dev, VIRTIO_MMIO_CONFIG + VIRTIO_BLK_CONFIG_WRITEBACK, &wb, 1);
	assert_int_equal(config_read(d, VIRTIO_BLK_CONFIG_WRITEBACK, 1), 1);

	driver_init(f, default_features | 1ULL << VIRTIO_BLK_F_CONFIG_WCE, 16);
	virtio_mmio_bus_ops.write(d->dev, VIRTIO_MMIO_CONFIG + VIRTIO_BLK_CONFIG_WRITEBACK, &wb, 1);
	assert_int_equal(config_read(d, VIRTIO_BLK_CONFIG_WRITEBACK, 1), 0);
	assert_int_equal(one(f, VIRTIO_BLK_T_OUT, 0, BUF_GPA, 512, false, NULL), VIRTIO_BLK_S_OK);
	assert_int_equal(st->syncs, 2);
	wb = 1;
	virtio_mmio_bus_ops.write(d->dev, VIRTIO_MMIO_CONFIG + VIRTIO_BLK_CONFIG_WRITEBACK, &wb, 1);
	assert_int_equal(one(f, VIRTIO_BLK_T_OUT, 0, BUF_GPA, 512, false, NULL), VIRTIO_BLK_S_OK);
	assert_int_equal(st->syncs, 2);
	/* A reset forgets the driver's choice. */
	driver_init(f, default_features | 1ULL << VIRTIO_BLK_F_CONFIG_WCE, 16);
	assert_int_equal(config_read(d, VIRTIO_BLK_CONFIG_WRITEBACK, 1), 1);
}

/* A full queue of requests in flight at once, completed in any order. */
static void test_many_in_flight(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->drv;
	const uint16_t n = VIRTIO_BLK_QUEUE_SIZE;
	uint8_t *status[VIRTIO_BLK_QUEUE_SIZE];

	driver_init(f, default_features | 1ULL << VIRTIO_F_INDIRECT_DESC, VIRTIO_BLK_QUEUE_SIZE);
	for (uint16_t i = 0; i < n; i++) {
		uint8_t *buf = vdrv_gpa(d, BUF_GPA + 512ULL * i, 512);

		memset(buf, (uint8_t)(i + 1), 512);
		status[i] = add_request(f, VIRTIO_BLK_T_OUT, i, BUF_GPA + 512ULL * i, 512, false);
	}
	kick_and_wait(f, n);
	for (uint16_t i = 0; i < n; i++)
		assert_int_equal(*status[i], VIRTIO_BLK_S_OK);
	/* Read them back into other buffers, all in flight together. */
	for (uint16_t i = 0; i < n; i++) {
		memset(vdrv_gpa(d, BUF_GPA + 0x100000 + 512ULL * i, 512), 0, 512);
		status[i] = add_request(f, VIRTIO_BLK_T_IN, i, BUF_GPA + 0x100000 + 512ULL * i, 512,
					true);
	}
	kick_and_wait(f, (uint16_t)(2 * n));
	for (uint16_t i = 0; i < n; i++) {
		uint8_t *buf = vdrv_gpa(d, BUF_GPA + 0x100000 + 512ULL * i, 512);

		assert_int_equal(*status[i], VIRTIO_BLK_S_OK);
		for (int j = 0; j < 512; j++)
			assert_int_equal(buf[j], (uint8_t)(i + 1));
	}
	assert_int_equal(f->blk.nr_free, VIRTIO_BLK_QUEUE_SIZE);
}

/* Completions of requests popped before a reset are dropped: the used ring
 * and status bytes of the new queue are not touched by them. When they
 * still hold every slot, the new queue waits and then goes on. */
static void test_reset_with_requests_in_flight(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->drv;
	uint8_t *status[VIRTIO_BLK_QUEUE_SIZE], *fresh;

	driver_init(f, default_features | 1ULL << VIRTIO_F_INDIRECT_DESC, VIRTIO_BLK_QUEUE_SIZE);
	for (unsigned i = 0; i < VIRTIO_BLK_QUEUE_SIZE; i++)
		status[i] = add_request(f, VIRTIO_BLK_T_IN, i % SECTORS, BUF_GPA + 512ULL * i, 512,
					true);
	virtio_mmio_notify(d->dev, 0);
	assert_int_equal(f->blk.nr_free, 0);
	assert_int_equal(vdrv_used(d, 0)->idx, 0);

	/* Reset and start again: the old requests still hold all slots. */
	driver_init(f, default_features, 16);
	fresh = add_request(f, VIRTIO_BLK_T_IN, 7, BUF_GPA + 0x200000, 512, true);
	virtio_mmio_notify(d->dev, 0);
	assert_true(f->blk.stalled);
	assert_int_equal(vdrv_used(d, 0)->idx, 0);
	assert_int_equal(*fresh, 0xee);

	/* The old completions free the slots and the new request runs. */
	kick_and_wait(f, 1);
	assert_int_equal(*fresh, VIRTIO_BLK_S_OK);
	assert_int_equal(vdrv_used_elem(d, 0, 0).len, 513);
	assert_int_equal(*(uint8_t *)vdrv_gpa(d, BUF_GPA + 0x200000, 1), pattern(7 * 512));
	for (unsigned i = 1; i < VIRTIO_BLK_QUEUE_SIZE; i++)
		assert_int_equal(*status[i], 0xee);
	while (f->blk.nr_free != VIRTIO_BLK_QUEUE_SIZE) {
		struct pollfd p = { .fd = blk_backend_fd(f->blk.backend), .events = POLLIN };

		assert_true(poll(&p, 1, 5000) == 1);
		virtio_blk_process(&f->blk);
	}
	assert_int_equal(vdrv_used(d, 0)->idx, 1);
	assert_false(vdrv_needs_reset(d));
}

/* While requests are in flight the driver is told not to notify (avail_event
 * stays behind with EVENT_IDX, used->flags NO_NOTIFY without), and what it
 * adds meanwhile is served when completions come in; once idle, the device
 * asks for notifications again. */
static void test_no_notifications_while_busy(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->drv;

	for (int event_idx = 1; event_idx >= 0; event_idx--) {
		uint64_t features = default_features & ~(1ULL << VIRTIO_F_EVENT_IDX);
		uint16_t *avail_event;
		uint8_t *st[3];

		driver_init(f, features | (uint64_t)event_idx << VIRTIO_F_EVENT_IDX, 16);
		avail_event = (uint16_t *)&vdrv_used(d, 0)->ring[d->q[0].size];
		st[0] = add_request(f, VIRTIO_BLK_T_IN, 1, BUF_GPA, 512, true);
		virtio_mmio_notify(d->dev, 0);
		/* In flight: do not notify. */
		if (event_idx)
			assert_int_equal(*avail_event, 0);
		else
			assert_int_equal(vdrv_used(d, 0)->flags, VIRTQ_USED_F_NO_NOTIFY);
		st[1] = add_request(f, VIRTIO_BLK_T_IN, 2, BUF_GPA + 512, 512, true);
		st[2] = add_request(f, VIRTIO_BLK_T_IN, 3, BUF_GPA + 1024, 512, true);
		wait_used(f, 3);
		for (int i = 0; i < 3; i++)
			assert_int_equal(*st[i], VIRTIO_BLK_S_OK);
		assert_int_equal(*(uint8_t *)vdrv_gpa(d, BUF_GPA + 1024, 1), pattern(3 * 512));
		/* Idle: notify for the next one. */
		assert_int_equal(blk_backend_in_flight(f->blk.backend), 0);
		if (event_idx)
			assert_int_equal(*avail_event, 3);
		else
			assert_int_equal(vdrv_used(d, 0)->flags, 0);
		assert_false(vdrv_needs_reset(d));
	}
}

#define BOTH(f, s) \
	cmocka_unit_test_prestate_setup_teardown(f, s, teardown, (void *)&mode_sync), \
	cmocka_unit_test_prestate_setup_teardown(f, s, teardown, (void *)&mode_uring)

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_identity_and_config, setup),
		BOTH(test_read_scattered, setup),
		BOTH(test_write_flush_read_back, setup),
		BOTH(test_out_of_range, setup),
		BOTH(test_malformed_requests_get_a_status, setup),
		BOTH(test_endless_refused_requests_are_bounded, setup),
		BOTH(test_no_status_byte_needs_reset, setup),
		BOTH(test_get_id, setup),
		BOTH(test_discard_and_write_zeroes, setup),
		BOTH(test_read_only, setup_ro),
		BOTH(test_writethrough, setup),
		BOTH(test_many_in_flight, setup),
		BOTH(test_reset_with_requests_in_flight, setup),
		BOTH(test_no_notifications_while_busy, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
