/* virtio-blk driven through its virtio-mmio window the way a guest driver
 * does: synthetic guest RAM with a real split virtqueue, a real image file
 * behind the device, no KVM. Notifications are serviced by calling what
 * the event loop calls (virtio_mmio_notify, virtio_blk_process). Every
 * test runs with the io_uring and the synchronous back-end (the state). */
#include <errno.h>
#include <pthread.h>
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

#define RAM_SIZE   (32ULL << 20)
#define DESC_GPA   0x10000ULL
#define AVAIL_GPA  0x11000ULL
#define USED_GPA   0x12000ULL
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
	struct virtio_mmio *dev;
	uint16_t qsize;
	uint16_t avail_idx;
	uint16_t next_desc;
	unsigned nr_requests;      /* header/status slots used */
	bool indirect;             /* requests through indirect tables */
};

struct buf {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

static uint8_t pattern(uint64_t offset)
{
	return (uint8_t)(offset * 7 + (offset >> 9) * 13 + 1);
}

static void *gpa(struct fixture *f, uint64_t addr, uint64_t len)
{
	void *p = guest_memory_ptr(&f->mem, addr, len);

	assert_non_null(p);
	return p;
}

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

static uint64_t config_read(struct fixture *f, uint32_t offset, unsigned size)
{
	uint64_t v = 0;

	virtio_mmio_bus_ops.read(f->dev, VIRTIO_MMIO_CONFIG + offset, &v, size);
	return v;
}

static uint64_t device_features(struct fixture *f)
{
	uint64_t lo, hi;

	wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	lo = rd(f, VIRTIO_MMIO_DEVICE_FEATURES);
	wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	hi = rd(f, VIRTIO_MMIO_DEVICE_FEATURES);
	return lo | hi << 32;
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
	f->dev = &f->blk.mmio;
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
	uint32_t st = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;

	memset(gpa(f, DESC_GPA, 0x3000), 0, 0x3000);
	f->avail_idx = f->next_desc = 0;
	f->nr_requests = 0;
	f->indirect = features & 1ULL << VIRTIO_F_INDIRECT_DESC;
	f->qsize = qsize;
	wr(f, VIRTIO_MMIO_STATUS, 0);
	wr(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	wr(f, VIRTIO_MMIO_STATUS, st);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)features);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
	wr(f, VIRTIO_MMIO_STATUS, st |= VIRTIO_STATUS_FEATURES_OK);
	assert_true(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);
	wr(f, VIRTIO_MMIO_QUEUE_SEL, 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_NUM_MAX), VIRTIO_BLK_QUEUE_SIZE);
	wr(f, VIRTIO_MMIO_QUEUE_NUM, qsize);
	wr(f, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)DESC_GPA);
	wr(f, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)AVAIL_GPA);
	wr(f, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)USED_GPA);
	wr(f, VIRTIO_MMIO_QUEUE_READY, 1);
	wr(f, VIRTIO_MMIO_STATUS, st | VIRTIO_STATUS_DRIVER_OK);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0xf);
}

static struct virtq_avail *avail(struct fixture *f)
{
	return gpa(f, AVAIL_GPA, 6 + 2 * f->qsize);
}

static struct virtq_used *used(struct fixture *f)
{
	return gpa(f, USED_GPA, 6 + 8 * f->qsize);
}

/* Put a chain of `n` buffers in the descriptor table and offer it. */
static uint16_t add_chain(struct fixture *f, const struct buf *b, unsigned n)
{
	uint16_t head = f->next_desc;

	for (unsigned i = 0; i < n; i++) {
		uint16_t idx = (uint16_t)((head + i) % f->qsize);
		struct virtq_desc *d = gpa(f, DESC_GPA + 16ULL * idx, 16);

		*d = (struct virtq_desc){
			.addr = b[i].gpa, .len = b[i].len,
			.flags = (uint16_t)((b[i].write ? VIRTQ_DESC_F_WRITE : 0) |
					    (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0)),
			.next = (uint16_t)((idx + 1) % f->qsize),
		};
	}
	f->next_desc = (uint16_t)((head + n) % f->qsize);
	avail(f)->ring[f->avail_idx % f->qsize] = head;
	__atomic_store_n(&avail(f)->idx, ++f->avail_idx, __ATOMIC_RELEASE);
	return head;
}

/* A request: header, one data buffer (none if len 0), status byte, each in
 * its own descriptor (the layout Linux uses). Returns the status byte. */
static uint8_t *add_request(struct fixture *f, uint32_t type, uint64_t sector, uint64_t data,
			    uint32_t len, bool data_write)
{
	unsigned k = f->nr_requests++;
	struct virtio_blk_outhdr *hdr = gpa(f, HDR_GPA + 16ULL * k, 16);
	uint8_t *status = gpa(f, STATUS_GPA + k, 1);
	struct buf b[3];
	unsigned n = 0;

	*hdr = (struct virtio_blk_outhdr){ .type = type, .sector = sector };
	*status = 0xee;
	b[n++] = (struct buf){ HDR_GPA + 16ULL * k, 16, false };
	if (len)
		b[n++] = (struct buf){ data, len, data_write };
	b[n++] = (struct buf){ STATUS_GPA + k, 1, true };
	if (f->indirect) {
		/* One ring descriptor per request (§2.7.5.3). */
		struct virtq_desc *table = gpa(f, INDIRECT_GPA + 48ULL * k, 48);
		struct buf ind = { INDIRECT_GPA + 48ULL * k, (uint32_t)(16 * n), false };
		uint16_t head;

		for (unsigned i = 0; i < n; i++)
			table[i] = (struct virtq_desc){
				.addr = b[i].gpa, .len = b[i].len,
				.flags = (uint16_t)((b[i].write ? VIRTQ_DESC_F_WRITE : 0) |
						    (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0)),
				.next = (uint16_t)(i + 1),
			};
		head = add_chain(f, &ind, 1);
		((struct virtq_desc *)gpa(f, DESC_GPA + 16ULL * head, 16))->flags =
			VIRTQ_DESC_F_INDIRECT;
		return status;
	}
	add_chain(f, b, n);
	return status;
}

/* Notify, then deliver back-end completions until the used ring holds
 * `target` entries in total. */
static void kick_and_wait(struct fixture *f, uint16_t target)
{
	int spins = 0;

	virtio_mmio_notify(f->dev, 0);
	while (__atomic_load_n(&used(f)->idx, __ATOMIC_ACQUIRE) != target) {
		struct pollfd p = { .fd = blk_backend_fd(f->blk.backend), .events = POLLIN };

		assert_true(poll(&p, 1, 5000) == 1);
		virtio_blk_process(&f->blk);
		assert_true(++spins < 100000);
	}
}

static struct virtq_used_elem used_elem(struct fixture *f, uint16_t i)
{
	return used(f)->ring[i % f->qsize];
}

/* One request, waited for; returns its status byte, *used_len its length. */
static uint8_t one(struct fixture *f, uint32_t type, uint64_t sector, uint64_t data, uint32_t len,
		   bool data_write, uint32_t *used_len)
{
	uint8_t *status = add_request(f, type, sector, data, len, data_write);
	uint16_t target = (uint16_t)(used(f)->idx + 1);

	kick_and_wait(f, target);
	if (used_len)
		*used_len = used_elem(f, (uint16_t)(target - 1)).len;
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

static bool device_broken(struct fixture *f)
{
	return rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET;
}

/* A hostile driver on another vCPU: keeps `qsize` one-descriptor chains
 * (descriptor = ring position mod qsize, set up by the test) available,
 * re-adding each the moment the device uses it, `limit` in all. */
struct feeder {
	struct virtq_avail *avail;
	struct virtq_used *used;
	uint16_t qsize;
	uint16_t avail_idx;
	unsigned fed, limit;
	_Atomic bool stop, running;
	pthread_t thread;
};

static void feed_once(struct feeder *fd)
{
	uint16_t u = __atomic_load_n(&fd->used->idx, __ATOMIC_ACQUIRE);

	while ((uint16_t)(fd->avail_idx - u) < fd->qsize && fd->fed < fd->limit) {
		fd->avail->ring[fd->avail_idx % fd->qsize] = (uint16_t)(fd->avail_idx % fd->qsize);
		__atomic_store_n(&fd->avail->idx, ++fd->avail_idx, __ATOMIC_RELEASE);
		fd->fed++;
	}
}

static void *feed(void *arg)
{
	struct feeder *fd = arg;

	fd->running = true;
	while (!fd->stop && fd->fed < fd->limit)
		feed_once(fd);
	return NULL;
}

/* The ring filled once, then the thread keeps it full. */
static void feeder_start(struct feeder *fd, struct virtq_avail *avail, struct virtq_used *used,
			 uint16_t qsize, uint16_t avail_idx)
{
	*fd = (struct feeder){ .avail = avail, .used = used, .qsize = qsize,
			       .avail_idx = avail_idx, .limit = 1u << 20 };
	feed_once(fd);
	assert_int_equal(pthread_create(&fd->thread, NULL, feed, fd), 0);
	while (!fd->running)
		;   /* spinning: ready to refill at once */
}

static void feeder_stop(struct feeder *fd)
{
	fd->stop = true;
	assert_int_equal(pthread_join(fd->thread, NULL), 0);
}

static void test_identity_and_config(void **state)
{
	struct fixture *f = *state;
	uint64_t features = device_features(f);

	assert_int_equal(rd(f, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_BLOCK);
	assert_true(features & 1ULL << VIRTIO_F_VERSION_1);
	assert_true(features & 1ULL << VIRTIO_BLK_F_FLUSH);
	assert_true(features & 1ULL << VIRTIO_BLK_F_DISCARD);
	assert_true(features & 1ULL << VIRTIO_BLK_F_WRITE_ZEROES);
	assert_true(features & 1ULL << VIRTIO_BLK_F_CONFIG_WCE);
	assert_false(features & 1ULL << VIRTIO_BLK_F_RO);
	assert_false(features & 1ULL << VIRTIO_BLK_F_SIZE_MAX);
	driver_init(f, default_features | 1ULL << VIRTIO_BLK_F_CONFIG_WCE, 16);
	assert_int_equal(config_read(f, 0, 8), SECTORS);
	assert_int_equal(config_read(f, 0, 4), SECTORS);   /* any width */
	assert_int_equal(config_read(f, 12, 4), VIRTIO_BLK_SEG_MAX);
	assert_int_equal(config_read(f, 20, 4), 512);
	assert_int_equal(config_read(f, VIRTIO_BLK_CONFIG_WRITEBACK, 1), 1);
	assert_int_equal(config_read(f, 36, 4), VIRTIO_BLK_MAX_DWZ_SECTORS);
	assert_int_equal(config_read(f, 40, 4), VIRTIO_BLK_MAX_DWZ_SEG);
	assert_int_equal(config_read(f, 48, 4), VIRTIO_BLK_MAX_DWZ_SECTORS);
	assert_int_equal(config_read(f, 52, 4), VIRTIO_BLK_MAX_DWZ_SEG);
	assert_int_equal(config_read(f, 56, 4), 1);        /* may unmap; padding 0 */
	/* Past the end of the configuration space: zero, not out of bounds. */
	assert_int_equal(config_read(f, 60, 4), 0);
	assert_int_equal(config_read(f, 58, 4), 0);
	/* Only `writeback` is writable. */
	{
		uint64_t v = 12345;

		virtio_mmio_bus_ops.write(f->dev, VIRTIO_MMIO_CONFIG, &v, 8);
		assert_int_equal(config_read(f, 0, 8), SECTORS);
	}
}

static void test_read_scattered(void **state)
{
	struct fixture *f = *state;
	struct virtio_blk_outhdr *hdr;
	uint8_t *data = gpa(f, BUF_GPA, 4096), *status;
	uint16_t head;

	driver_init(f, default_features, 16);
	memset(data, 0, 4096);
	/* Header split over two descriptors, data over three uneven ones,
	 * the status byte sharing the last data descriptor (§2.7.4). */
	hdr = gpa(f, HDR_GPA, 16);
	*hdr = (struct virtio_blk_outhdr){ .type = VIRTIO_BLK_T_IN, .sector = 5 };
	status = gpa(f, BUF_GPA + 1536, 1);
	*status = 0xee;
	{
		struct buf b[] = {
			{ HDR_GPA, 4, false }, { HDR_GPA + 4, 12, false },
			{ BUF_GPA, 100, true }, { BUF_GPA + 100, 900, true },
			{ BUF_GPA + 1000, 537, true },
		};

		head = add_chain(f, b, 5);
	}
	kick_and_wait(f, 1);
	assert_int_equal(*status, VIRTIO_BLK_S_OK);
	assert_int_equal(used_elem(f, 0).id, head);
	assert_int_equal(used_elem(f, 0).len, 1537);
	for (int i = 0; i < 1536; i++)
		assert_int_equal(data[i], pattern(5 * 512 + i));
	assert_false(device_broken(f));
}

static void test_write_flush_read_back(void **state)
{
	struct fixture *f = *state;
	uint8_t *out = gpa(f, BUF_GPA, 2048), *in = gpa(f, BUF_GPA + 0x10000, 2048);
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
	static const uint64_t sectors[] = { SECTORS, SECTORS - 1, UINT64_MAX, UINT64_MAX - 1,
					    (UINT64_MAX >> 9) + 1 };

	driver_init(f, default_features, 16);
	memset(gpa(f, BUF_GPA, 1024), 0x99, 1024);
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
	assert_false(device_broken(f));
}

/* Bad requests that still have a status byte are answered through it and
 * the device keeps working (docs/virtio-blk.md). */
static void test_malformed_requests_get_a_status(void **state)
{
	struct fixture *f = *state;
	uint8_t *status;
	uint32_t len;

	driver_init(f, default_features, 64);
	memset(gpa(f, BUF_GPA, 4096), 0, 4096);

	/* A header of 8 bytes. */
	status = gpa(f, STATUS_GPA + 1000, 1);
	{
		struct buf b[] = { { HDR_GPA, 8, false }, { STATUS_GPA + 1000, 1, true } };

		*(struct virtio_blk_outhdr *)gpa(f, HDR_GPA, 16) =
			(struct virtio_blk_outhdr){ .type = VIRTIO_BLK_T_IN };
		add_chain(f, b, 2);
		kick_and_wait(f, 1);
		assert_int_equal(*status, VIRTIO_BLK_S_IOERR);
		assert_int_equal(used_elem(f, 0).len, 1);
	}
	/* A header in device-writable memory: no readable header at all. */
	{
		struct buf b[] = { { HDR_GPA, 16, true }, { STATUS_GPA + 1000, 1, true } };

		add_chain(f, b, 2);
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
		struct virtio_blk_dwz_seg *seg = gpa(f, BUF_GPA, 33 * 16);

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
	assert_false(device_broken(f));
	/* And a good request still works. */
	assert_int_equal(one(f, VIRTIO_BLK_T_IN, 1, BUF_GPA, 512, true, NULL), VIRTIO_BLK_S_OK);
	assert_int_equal(*(uint8_t *)gpa(f, BUF_GPA, 1), pattern(512));
}

/* Refused requests take no request slot: a driver re-adding them as fast
 * as they are used must not keep one call (the event loop) for ever. One
 * call handles at most queue-size chains and has the event loop call back
 * for the rest; each refused request still gets its status. */
static void test_endless_refused_requests_are_bounded(void **state)
{
	struct fixture *f = *state;
	struct feeder fd;
	uint64_t count;
	unsigned resumed = 0;

	driver_init(f, default_features, 8);
	/* One device-writable descriptor each: no readable header, IOERR. */
	for (unsigned i = 0; i < 8; i++)
		*(struct virtq_desc *)gpa(f, DESC_GPA + 16ULL * i, 16) = (struct virtq_desc){
			.addr = STATUS_GPA + 16 * i, .len = 16, .flags = VIRTQ_DESC_F_WRITE };
	feeder_start(&fd, avail(f), used(f), 8, 0);
	/* At most 8 chains a call, and a call back asked for. */
	for (unsigned k = 0; k < 64; k++) {
		uint16_t before = used(f)->idx;

		virtio_mmio_notify(f->dev, 0);
		assert_true((uint16_t)(used(f)->idx - before) <= 8);
		if (read(f->dev->notify_fd[0], &count, sizeof(count)) == sizeof(count))
			resumed++;
	}
	assert_true(resumed > 0);
	assert_int_equal(*(uint8_t *)gpa(f, STATUS_GPA + 15, 1), VIRTIO_BLK_S_IOERR);
	feeder_stop(&fd);
	assert_false(device_broken(f));
}

/* Without any device-writable byte there is nowhere to put a status: the
 * chain goes back with length 0 and the device needs a reset. */
static void test_no_status_byte_needs_reset(void **state)
{
	struct fixture *f = *state;
	struct buf b[] = { { HDR_GPA, 16, false }, { BUF_GPA, 512, false } };

	driver_init(f, default_features, 16);
	*(struct virtio_blk_outhdr *)gpa(f, HDR_GPA, 16) =
		(struct virtio_blk_outhdr){ .type = VIRTIO_BLK_T_OUT, .sector = 0 };
	memset(gpa(f, BUF_GPA, 512), 0x42, 512);
	add_chain(f, b, 2);
	virtio_mmio_notify(f->dev, 0);
	assert_int_equal(used(f)->idx, 1);
	assert_int_equal(used_elem(f, 0).len, 0);
	assert_true(device_broken(f));
	assert_true(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
	assert_non_null(strstr(f->dev->needs_reset_reason, "no device-writable status byte"));
	assert_file_pattern(f, 0, 512);
	/* A reset brings it back. */
	driver_init(f, default_features, 16);
	assert_false(device_broken(f));
	assert_int_equal(one(f, VIRTIO_BLK_T_OUT, 0, BUF_GPA, 512, false, NULL), VIRTIO_BLK_S_OK);
}

static void test_get_id(void **state)
{
	struct fixture *f = *state;
	uint8_t serial[BLK_ID_BYTES], *id = gpa(f, BUF_GPA, 64);
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
	struct virtio_blk_dwz_seg *seg = gpa(f, BUF_GPA, 64);
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
	uint64_t features = device_features(f);
	struct virtio_blk_dwz_seg *seg = gpa(f, BUF_GPA + 0x10000, 16);

	assert_true(features & 1ULL << VIRTIO_BLK_F_RO);
	assert_false(features & 1ULL << VIRTIO_BLK_F_DISCARD);
	assert_false(features & 1ULL << VIRTIO_BLK_F_WRITE_ZEROES);
	/* Offering DISCARD anyway is refused at FEATURES_OK. */
	driver_init(f, 1ULL << VIRTIO_F_VERSION_1 | 1ULL << VIRTIO_BLK_F_RO |
		       1ULL << VIRTIO_BLK_F_FLUSH, 16);
	memset(gpa(f, BUF_GPA, 512), 0x42, 512);
	assert_int_equal(one(f, VIRTIO_BLK_T_OUT, 0, BUF_GPA, 512, false, NULL), VIRTIO_BLK_S_IOERR);
	*seg = (struct virtio_blk_dwz_seg){ .sector = 0, .num_sectors = 8 };
	assert_int_equal(one(f, VIRTIO_BLK_T_DISCARD, 0, BUF_GPA + 0x10000, 16, false, NULL),
			 VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(one(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, BUF_GPA + 0x10000, 16, false, NULL),
			 VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(one(f, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL), VIRTIO_BLK_S_OK);
	assert_int_equal(one(f, VIRTIO_BLK_T_IN, 0, BUF_GPA, 512, true, NULL), VIRTIO_BLK_S_OK);
	assert_int_equal(*(uint8_t *)gpa(f, BUF_GPA, 1), pattern(0));
	assert_file_pattern(f, 0, SECTORS * 512);
	assert_false(device_broken(f));
}

/* §5.2.6.2: FLUSH offered but not negotiated, or writeback 0 through
 * CONFIG_WCE, makes every write durable before it completes. */
static void test_writethrough(void **state)
{
	struct fixture *f = *state;
	const struct blk_backend_stats *st = blk_backend_stats(f->blk.backend);
	uint8_t wb;

	memset(gpa(f, BUF_GPA, 512), 0x42, 512);
	driver_init(f, 1ULL << VIRTIO_F_VERSION_1, 16);
	assert_int_equal(config_read(f, VIRTIO_BLK_CONFIG_WRITEBACK, 1), 0);
	assert_int_equal(one(f, VIRTIO_BLK_T_OUT, 0, BUF_GPA, 512, false, NULL), VIRTIO_BLK_S_OK);
	assert_int_equal(st->syncs, 1);

	driver_init(f, default_features, 16);
	assert_int_equal(one(f, VIRTIO_BLK_T_OUT, 0, BUF_GPA, 512, false, NULL), VIRTIO_BLK_S_OK);
	assert_int_equal(st->syncs, 1);
	/* writeback is read-only without CONFIG_WCE. */
	wb = 0;
	virtio_mmio_bus_ops.write(f->dev, VIRTIO_MMIO_CONFIG + VIRTIO_BLK_CONFIG_WRITEBACK, &wb, 1);
	assert_int_equal(config_read(f, VIRTIO_BLK_CONFIG_WRITEBACK, 1), 1);

	driver_init(f, default_features | 1ULL << VIRTIO_BLK_F_CONFIG_WCE, 16);
	virtio_mmio_bus_ops.write(f->dev, VIRTIO_MMIO_CONFIG + VIRTIO_BLK_CONFIG_WRITEBACK, &wb, 1);
	assert_int_equal(config_read(f, VIRTIO_BLK_CONFIG_WRITEBACK, 1), 0);
	assert_int_equal(one(f, VIRTIO_BLK_T_OUT, 0, BUF_GPA, 512, false, NULL), VIRTIO_BLK_S_OK);
	assert_int_equal(st->syncs, 2);
	wb = 1;
	virtio_mmio_bus_ops.write(f->dev, VIRTIO_MMIO_CONFIG + VIRTIO_BLK_CONFIG_WRITEBACK, &wb, 1);
	assert_int_equal(one(f, VIRTIO_BLK_T_OUT, 0, BUF_GPA, 512, false, NULL), VIRTIO_BLK_S_OK);
	assert_int_equal(st->syncs, 2);
	/* A reset forgets the driver's choice. */
	driver_init(f, default_features | 1ULL << VIRTIO_BLK_F_CONFIG_WCE, 16);
	assert_int_equal(config_read(f, VIRTIO_BLK_CONFIG_WRITEBACK, 1), 1);
}

/* A full queue of requests in flight at once, completed in any order. */
static void test_many_in_flight(void **state)
{
	struct fixture *f = *state;
	const uint16_t n = VIRTIO_BLK_QUEUE_SIZE;
	uint8_t *status[VIRTIO_BLK_QUEUE_SIZE];

	driver_init(f, default_features | 1ULL << VIRTIO_F_INDIRECT_DESC, VIRTIO_BLK_QUEUE_SIZE);
	for (uint16_t i = 0; i < n; i++) {
		uint8_t *buf = gpa(f, BUF_GPA + 512ULL * i, 512);

		memset(buf, (uint8_t)(i + 1), 512);
		status[i] = add_request(f, VIRTIO_BLK_T_OUT, i, BUF_GPA + 512ULL * i, 512, false);
	}
	kick_and_wait(f, n);
	for (uint16_t i = 0; i < n; i++)
		assert_int_equal(*status[i], VIRTIO_BLK_S_OK);
	/* Read them back into other buffers, all in flight together. */
	for (uint16_t i = 0; i < n; i++) {
		memset(gpa(f, BUF_GPA + 0x100000 + 512ULL * i, 512), 0, 512);
		status[i] = add_request(f, VIRTIO_BLK_T_IN, i, BUF_GPA + 0x100000 + 512ULL * i, 512,
					true);
	}
	kick_and_wait(f, (uint16_t)(2 * n));
	for (uint16_t i = 0; i < n; i++) {
		uint8_t *buf = gpa(f, BUF_GPA + 0x100000 + 512ULL * i, 512);

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
	uint8_t *status[VIRTIO_BLK_QUEUE_SIZE], *fresh;

	driver_init(f, default_features | 1ULL << VIRTIO_F_INDIRECT_DESC, VIRTIO_BLK_QUEUE_SIZE);
	for (unsigned i = 0; i < VIRTIO_BLK_QUEUE_SIZE; i++)
		status[i] = add_request(f, VIRTIO_BLK_T_IN, i % SECTORS, BUF_GPA + 512ULL * i, 512,
					true);
	virtio_mmio_notify(f->dev, 0);
	assert_int_equal(f->blk.nr_free, 0);
	assert_int_equal(used(f)->idx, 0);

	/* Reset and start again: the old requests still hold all slots. */
	driver_init(f, default_features, 16);
	fresh = add_request(f, VIRTIO_BLK_T_IN, 7, BUF_GPA + 0x200000, 512, true);
	virtio_mmio_notify(f->dev, 0);
	assert_true(f->blk.stalled);
	assert_int_equal(used(f)->idx, 0);
	assert_int_equal(*fresh, 0xee);

	/* The old completions free the slots and the new request runs. */
	kick_and_wait(f, 1);
	assert_int_equal(*fresh, VIRTIO_BLK_S_OK);
	assert_int_equal(used_elem(f, 0).len, 513);
	assert_int_equal(*(uint8_t *)gpa(f, BUF_GPA + 0x200000, 1), pattern(7 * 512));
	for (unsigned i = 1; i < VIRTIO_BLK_QUEUE_SIZE; i++)
		assert_int_equal(*status[i], 0xee);
	while (f->blk.nr_free != VIRTIO_BLK_QUEUE_SIZE) {
		struct pollfd p = { .fd = blk_backend_fd(f->blk.backend), .events = POLLIN };

		assert_true(poll(&p, 1, 5000) == 1);
		virtio_blk_process(&f->blk);
	}
	assert_int_equal(used(f)->idx, 1);
	assert_false(device_broken(f));
}

/* Deliver back-end completions, without any notification, until the used
 * ring holds `target` entries. */
static void wait_used(struct fixture *f, uint16_t target)
{
	int spins = 0;

	while (__atomic_load_n(&used(f)->idx, __ATOMIC_ACQUIRE) != target) {
		struct pollfd p = { .fd = blk_backend_fd(f->blk.backend), .events = POLLIN };

		assert_true(poll(&p, 1, 5000) == 1);
		virtio_blk_process(&f->blk);
		assert_true(++spins < 100000);
	}
}

/* While requests are in flight the driver is told not to notify (avail_event
 * stays behind with EVENT_IDX, used->flags NO_NOTIFY without), and what it
 * adds meanwhile is served when completions come in; once idle, the device
 * asks for notifications again. */
static void test_no_notifications_while_busy(void **state)
{
	struct fixture *f = *state;

	for (int event_idx = 1; event_idx >= 0; event_idx--) {
		uint64_t features = default_features & ~(1ULL << VIRTIO_F_EVENT_IDX);
		uint16_t *avail_event;
		uint8_t *st[3];

		driver_init(f, features | (uint64_t)event_idx << VIRTIO_F_EVENT_IDX, 16);
		avail_event = (uint16_t *)&used(f)->ring[f->qsize];
		st[0] = add_request(f, VIRTIO_BLK_T_IN, 1, BUF_GPA, 512, true);
		virtio_mmio_notify(f->dev, 0);
		/* In flight: do not notify. */
		if (event_idx)
			assert_int_equal(*avail_event, 0);
		else
			assert_int_equal(used(f)->flags, VIRTQ_USED_F_NO_NOTIFY);
		st[1] = add_request(f, VIRTIO_BLK_T_IN, 2, BUF_GPA + 512, 512, true);
		st[2] = add_request(f, VIRTIO_BLK_T_IN, 3, BUF_GPA + 1024, 512, true);
		wait_used(f, 3);
		for (int i = 0; i < 3; i++)
			assert_int_equal(*st[i], VIRTIO_BLK_S_OK);
		assert_int_equal(*(uint8_t *)gpa(f, BUF_GPA + 1024, 1), pattern(3 * 512));
		/* Idle: notify for the next one. */
		assert_int_equal(blk_backend_in_flight(f->blk.backend), 0);
		if (event_idx)
			assert_int_equal(*avail_event, 3);
		else
			assert_int_equal(used(f)->flags, 0);
		assert_false(device_broken(f));
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
