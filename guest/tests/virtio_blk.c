/* virtio-blk (virtio 1.2 §5.2) through kvmrun's virtio-mmio transport, with
 * the guest library's polling driver, against an image the test runner
 * made (tests/guest/run_guest_test.py, `disk` key): every byte at offset
 * o holds pattern(o). The runner checks the image file afterwards
 * (`disk_check`), so what this guest writes is verified on the host too.
 *
 * Command line:
 *   sectors=N    the image's capacity in 512-byte sectors (required)
 *   serial=ID    the serial the disk was given (--disk ...,serial=ID)
 *   ro           the disk is read-only: check that writes are refused
 *   flushloop    durability mode: write and flush round after round,
 *                printing "flushed N" after each flush completes, until
 *                the host kills the VM (tests/guest/blk_durability.py)
 *
 * Written sectors hold stamp(s) = (s * 3 + 0x11) & 0xff in every byte.
 * Polling loops run at CPL 3. */
#include "io.h"
#include "libguest.h"
#include "user.h"
#include "virtio.h"

#define QSIZE        128     /* BURST requests of 3 descriptors fit */
#define WAIT_SPINS   400000000ULL
#define SECTOR       512

/* Feature bits and request types (§5.2.3, §5.2.6). */
#define BLK_F_SEG_MAX      2
#define BLK_F_RO           5
#define BLK_F_BLK_SIZE     6
#define BLK_F_FLUSH        9
#define BLK_F_TOPOLOGY     10
#define BLK_F_DISCARD      13
#define BLK_F_WRITE_ZEROES 14
#define T_IN            0
#define T_OUT           1
#define T_FLUSH         4
#define T_GET_ID        8
#define T_DISCARD       11
#define T_WRITE_ZEROES  13
#define S_OK            0
#define S_IOERR         1
#define S_UNSUPP        2

/* Sectors this test writes (the runner's disk_check lists them too). */
#define WRITE_FIRST     16      /* 16..23: written, flushed, read back */
#define DISCARD_FIRST   64      /* 64..71: discarded */
#define WZ_FIRST        100     /* 100..103 write zeroes, 104..111 with unmap */
#define BURST_FIRST     200     /* 200..231: 32 writes in flight at once */
#define BURST           32
#define LOOP_FIRST      256     /* flushloop: round r writes sector 256 + r % 64 */

struct blk_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

struct dwz_seg {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
};

static uint8_t ring_mem[VRING_BYTES(QSIZE)] __aligned(4096);
static uint8_t data[BURST][4096] __aligned(4096);
static struct blk_hdr hdrs[BURST] __aligned(16);
static struct dwz_seg segs[4] __aligned(16);
static volatile uint8_t status[BURST];
static struct virtio_dev dev;
static struct vring vq;
static uint64_t capacity;

static uint8_t pattern(uint64_t offset)
{
	return (uint8_t)(offset * 7 + (offset >> 9) * 13 + 1);
}

static uint8_t stamp(uint64_t sector)
{
	return (uint8_t)(sector * 3 + 0x11);
}

/* A request in slot k: header, optional data, status byte. */
struct request {
	unsigned k;
	uint32_t type;
	uint64_t sector;
	const void *buf;
	uint32_t len;
	bool data_write;
	uint16_t head;
	uint32_t used_len;
	bool done;
};

static void submit(struct request *r)
{
	struct vring_buf b[3];
	unsigned n = 0;

	hdrs[r->k] = (struct blk_hdr){ .type = r->type, .sector = r->sector };
	status[r->k] = 0xee;
	b[n++] = (struct vring_buf){ (uintptr_t)&hdrs[r->k], sizeof(struct blk_hdr), false };
	if (r->len)
		b[n++] = (struct vring_buf){ (uintptr_t)r->buf, r->len, r->data_write };
	b[n++] = (struct vring_buf){ (uintptr_t)&status[r->k], 1, true };
	r->head = vring_add(&vq, b, n);
	r->done = false;
}

/* Collect used elements until every request in rs[0..n-1] is done. */
static bool collect(struct request *rs, unsigned n)
{
	unsigned left = n;

	while (left) {
		uint32_t id, len;

		if (!vring_wait(&vq, &id, &len, WAIT_SPINS))
			return false;
		for (unsigned i = 0; i < n; i++)
			if (!rs[i].done && rs[i].head == id) {
				rs[i].done = true;
				rs[i].used_len = len;
				left--;
				break;
			}
	}
	return true;
}

struct batch {
	struct request *rs;
	unsigned n;
	bool ok;
};

static long run_batch(void *arg)
{
	struct batch *b = arg;

	for (unsigned i = 0; i < b->n; i++)
		submit(&b->rs[i]);
	vring_kick(&vq);
	b->ok = collect(b->rs, b->n);
	return 0;
}

/* One request, at CPL 3; returns its status byte (0xff on a timeout). */
static uint8_t one(uint32_t type, uint64_t sector, const void *buf, uint32_t len, bool data_write,
		   uint32_t *used_len)
{
	struct request r = { .k = 0, .type = type, .sector = sector, .buf = buf, .len = len,
			     .data_write = data_write };
	struct batch b = { &r, 1, false };

	run_in_user(run_batch, &b);
	if (!b.ok)
		return 0xff;
	if (used_len)
		*used_len = r.used_len;
	return status[0];
}

struct check {
	const uint8_t *p;
	uint64_t offset;     /* image offset of p[0] for the pattern */
	unsigned len;
	int fill;            /* -1: pattern(); else every byte */
	unsigned bad;        /* first mismatching index, or len */
};

static long check_bytes(void *arg)
{
	struct check *c = arg;

	for (c->bad = 0; c->bad < c->len; c->bad++) {
		uint8_t want = c->fill < 0 ? pattern(c->offset + c->bad) : (uint8_t)c->fill;

		if (c->p[c->bad] != want)
			break;
	}
	return 0;
}

static bool is_pattern(const uint8_t *p, uint64_t offset, unsigned len)
{
	struct check c = { p, offset, len, -1, 0 };

	run_in_user(check_bytes, &c);
	return c.bad == len;
}

static bool is_filled(const uint8_t *p, uint8_t value, unsigned len)
{
	struct check c = { p, 0, len, value, 0 };

	run_in_user(check_bytes, &c);
	return c.bad == len;
}

static uint64_t config64(unsigned offset)
{
	uint32_t lo = virtio_read(&dev, VIRTIO_MMIO_CONFIG + offset);
	uint32_t hi = virtio_read(&dev, VIRTIO_MMIO_CONFIG + offset + 4);

	return lo | (uint64_t)hi << 32;
}

static void test_setup(bool ro)
{
	uint64_t wanted = 1ULL << VIRTIO_F_EVENT_IDX | 1ULL << VIRTIO_F_INDIRECT_DESC |
			  1ULL << BLK_F_SEG_MAX | 1ULL << BLK_F_BLK_SIZE | 1ULL << BLK_F_FLUSH |
			  1ULL << BLK_F_TOPOLOGY | 1ULL << BLK_F_RO | 1ULL << BLK_F_DISCARD |
			  1ULL << BLK_F_WRITE_ZEROES;
	uint64_t sectors = 0;
	bool ok;

	report_prefix_push("setup");
	if (!cmdline_get_u64("sectors", &sectors) || !virtio_probe(VIRTIO_ID_BLOCK, 0, &dev)) {
		report(false, "a virtio-blk device and sectors= on the command line");
		exit(report_summary());
	}
	ok = virtio_negotiate(&dev, wanted) == 0;
	report(ok, "FEATURES_OK accepted (device offers 0x%llx)",
	       (unsigned long long)dev.device_features);
	if (ro) {
		report((dev.features & 1ULL << BLK_F_RO) &&
		       !(dev.device_features & (1ULL << BLK_F_DISCARD | 1ULL << BLK_F_WRITE_ZEROES)),
		       "read-only: RO offered, DISCARD and WRITE_ZEROES not");
	} else {
		report(!(dev.device_features & 1ULL << BLK_F_RO) &&
		       (dev.features & 1ULL << BLK_F_DISCARD) &&
		       (dev.features & 1ULL << BLK_F_WRITE_ZEROES) &&
		       (dev.features & 1ULL << BLK_F_FLUSH),
		       "read-write: FLUSH, DISCARD and WRITE_ZEROES negotiated, no RO");
	}
	capacity = config64(0);
	report(capacity == sectors, "capacity %llu sectors", (unsigned long long)capacity);
	report(virtio_read(&dev, VIRTIO_MMIO_CONFIG + 20) == 512, "blk_size 512");
	report(virtio_read(&dev, VIRTIO_MMIO_CONFIG + 12) >= 2, "seg_max %u",
	       virtio_read(&dev, VIRTIO_MMIO_CONFIG + 12));
	report(virtio_queue_setup(&dev, &vq, 0, QSIZE, ring_mem) == 0, "queue 0 of %u ready", QSIZE);
	virtio_driver_ok(&dev);
	report(virtio_status(&dev) == 0xf, "DRIVER_OK");
	report_prefix_pop();
}

static void test_read(void)
{
	uint32_t used = 0;
	bool ok;

	report_prefix_push("read");
	ok = one(T_IN, 0, data[0], 4096, true, &used) == S_OK;
	report(ok && used == 4097, "sectors 0-7 (used len %u)", used);
	report(is_pattern(data[0], 0, 4096), "hold the image's pattern");
	report(one(T_IN, capacity - 2, data[1], 1024, true, NULL) == S_OK &&
	       is_pattern(data[1], (capacity - 2) * SECTOR, 1024), "the last two sectors");
	report_prefix_pop();
}

static void test_write_flush(void)
{
	uint32_t used = 0;

	report_prefix_push("write");
	for (unsigned s = 0; s < 8; s++)
		memset(data[0] + s * SECTOR, stamp(WRITE_FIRST + s), SECTOR);
	report(one(T_OUT, WRITE_FIRST, data[0], 4096, false, &used) == S_OK && used == 1,
	       "sectors %u-%u written", WRITE_FIRST, WRITE_FIRST + 7);
	report(one(T_FLUSH, 0, NULL, 0, false, &used) == S_OK && used == 1, "flushed");
	memset(data[1], 0, 4096);
	report(one(T_IN, WRITE_FIRST, data[1], 4096, true, NULL) == S_OK &&
	       memcmp(data[0], data[1], 4096) == 0, "read back");
	report(one(T_IN, WRITE_FIRST - 1, data[1], 512, true, NULL) == S_OK &&
	       is_pattern(data[1], (WRITE_FIRST - 1) * SECTOR, 512), "the sector before untouched");
	report_prefix_pop();
}

static void test_get_id(void)
{
	char want[21] = { 0 };
	uint32_t used = 0;
	bool ok;

	report_prefix_push("get-id");
	memset(data[0], 0xff, 64);
	ok = one(T_GET_ID, 0, data[0], 20, true, &used) == S_OK;
	report(ok && used == 21, "20 bytes (used len %u)", used);
	if (cmdline_get_str("serial", want, sizeof(want)))
		report(memcmp(data[0], want, strlen(want)) == 0 &&
		       (strlen(want) == 20 || data[0][strlen(want)] == 0),
		       "the serial is \"%s\"", want);
	report_prefix_pop();
}

static void test_discard_write_zeroes(void)
{
	report_prefix_push("discard");
	segs[0] = (struct dwz_seg){ .sector = DISCARD_FIRST, .num_sectors = 8 };
	report(one(T_DISCARD, 0, segs, sizeof(segs[0]), false, NULL) == S_OK,
	       "sectors %u-%u discarded", DISCARD_FIRST, DISCARD_FIRST + 7);
	segs[0].flags = 1;
	report(one(T_DISCARD, 0, segs, sizeof(segs[0]), false, NULL) == S_UNSUPP,
	       "unmap flag on a discard: UNSUPP");
	report_prefix_pop();

	report_prefix_push("write-zeroes");
	segs[0] = (struct dwz_seg){ .sector = WZ_FIRST, .num_sectors = 4 };
	segs[1] = (struct dwz_seg){ .sector = WZ_FIRST + 4, .num_sectors = 8, .flags = 1 };
	report(one(T_WRITE_ZEROES, 0, segs, 2 * sizeof(segs[0]), false, NULL) == S_OK,
	       "sectors %u-%u zeroed (the last 8 with unmap)", WZ_FIRST, WZ_FIRST + 11);
	memset(data[0], 0xff, 4096);
	report(one(T_IN, WZ_FIRST, data[0], 4096, true, NULL) == S_OK &&
	       is_filled(data[0], 0, 4096) &&
	       one(T_IN, WZ_FIRST + 8, data[1], 2048, true, NULL) == S_OK &&
	       is_filled(data[1], 0, 2048), "read back as zeroes");
	segs[0].flags = 4;
	report(one(T_WRITE_ZEROES, 0, segs, sizeof(segs[0]), false, NULL) == S_UNSUPP,
	       "an unknown flag: UNSUPP");
	report_prefix_pop();
}

static void test_out_of_range(bool ro)
{
	report_prefix_push("range");
	report(one(T_IN, capacity, data[0], 512, true, NULL) == S_IOERR,
	       "read at the capacity: IOERR");
	report(one(T_IN, capacity - 1, data[0], 1024, true, NULL) == S_IOERR,
	       "read across the end: IOERR");
	report(one(T_IN, ~0ULL, data[0], 1024, true, NULL) == S_IOERR,
	       "read at sector 2^64 - 1 (wraps): IOERR");
	report(one(T_IN, 0, data[0], 100, true, NULL) == S_IOERR, "a partial sector: IOERR");
	memset(data[0], 0x77, 1024);
	report(one(T_OUT, capacity - 1, data[0], 1024, false, NULL) == S_IOERR,
	       "write across the end: IOERR");
	report(one(T_OUT, (~0ULL >> 9) + 1, data[0], 512, false, NULL) == S_IOERR,
	       "write whose byte offset overflows: IOERR");
	if (!ro) {
		segs[0] = (struct dwz_seg){ .sector = capacity - 4, .num_sectors = 8 };
		report(one(T_WRITE_ZEROES, 0, segs, sizeof(segs[0]), false, NULL) == S_IOERR,
		       "write zeroes across the end: IOERR");
		segs[0] = (struct dwz_seg){ .sector = ~0ULL - 1, .num_sectors = 4 };
		report(one(T_DISCARD, 0, segs, sizeof(segs[0]), false, NULL) == S_IOERR,
		       "discard wrapping around 2^64: IOERR");
	}
	report(one(T_IN, capacity - 1, data[0], 512, true, NULL) == S_OK &&
	       is_pattern(data[0], (capacity - 1) * SECTOR, 512), "the last sector is intact");
	report(one(99, 0, NULL, 0, false, NULL) == S_UNSUPP, "an unknown type: UNSUPP");
	report_prefix_pop();
}

/* BURST writes in flight together, then BURST reads. */
static void test_burst(void)
{
	struct request rs[BURST];
	struct batch b = { rs, BURST, false };
	unsigned good = 0;

	report_prefix_push("burst");
	for (unsigned i = 0; i < BURST; i++) {
		memset(data[i], stamp(BURST_FIRST + i), SECTOR);
		rs[i] = (struct request){ .k = i, .type = T_OUT, .sector = BURST_FIRST + i,
					  .buf = data[i], .len = SECTOR };
	}
	run_in_user(run_batch, &b);
	for (unsigned i = 0; i < BURST; i++)
		good += rs[i].done && status[i] == S_OK;
	report(b.ok && good == BURST, "%u writes in flight: %u OK", BURST, good);
	for (unsigned i = 0; i < BURST; i++) {
		memset(data[i], 0, SECTOR);
		rs[i] = (struct request){ .k = i, .type = T_IN, .sector = BURST_FIRST + i,
					  .buf = data[i], .len = SECTOR, .data_write = true };
	}
	run_in_user(run_batch, &b);
	good = 0;
	for (unsigned i = 0; i < BURST; i++)
		good += rs[i].done && status[i] == S_OK && rs[i].used_len == SECTOR + 1 &&
			is_filled(data[i], stamp(BURST_FIRST + i), SECTOR);
	report(b.ok && good == BURST, "%u reads in flight: %u right", BURST, good);
	report(one(T_FLUSH, 0, NULL, 0, false, NULL) == S_OK, "flushed");
	report_prefix_pop();
}

static void test_read_only(void)
{
	report_prefix_push("read-only");
	memset(data[0], 0x77, 4096);
	report(one(T_OUT, 0, data[0], 4096, false, NULL) == S_IOERR, "a write: IOERR");
	segs[0] = (struct dwz_seg){ .sector = 0, .num_sectors = 8 };
	report(one(T_DISCARD, 0, segs, sizeof(segs[0]), false, NULL) == S_UNSUPP,
	       "a discard: UNSUPP (not offered)");
	report(one(T_WRITE_ZEROES, 0, segs, sizeof(segs[0]), false, NULL) == S_UNSUPP,
	       "write zeroes: UNSUPP (not offered)");
	report(one(T_FLUSH, 0, NULL, 0, false, NULL) == S_OK, "a flush: OK");
	report(one(T_IN, 0, data[0], 4096, true, NULL) == S_OK && is_pattern(data[0], 0, 4096),
	       "the image is unchanged");
	report_prefix_pop();
}

/* Durability mode: round r stamps sector LOOP_FIRST + r % 64 with the
 * round number in every byte (r & 0xff), flushes, and only then says so.
 * The host kills the VM at a random "flushed" line and checks that every
 * round it saw announced is in the image. */
struct loop_state {
	uint64_t rounds;
	bool failed;
};

static long flush_loop(void *arg)
{
	struct loop_state *st = arg;

	for (uint64_t r = 1; st->rounds == 0 || r <= st->rounds; r++) {
		struct request w = { .k = 0, .type = T_OUT, .sector = LOOP_FIRST + r % 64,
				     .buf = data[0], .len = SECTOR };
		struct request f = { .k = 1, .type = T_FLUSH };
		struct batch b = { &w, 1, false };

		memset(data[0], (int)(r & 0xff), SECTOR);
		run_batch(&b);
		if (!b.ok || status[0] != S_OK) {
			st->failed = true;
			return 0;
		}
		b = (struct batch){ &f, 1, false };
		run_batch(&b);
		if (!b.ok || status[1] != S_OK) {
			st->failed = true;
			return 0;
		}
		printf("flushed %llu\n", (unsigned long long)r);
	}
	return 0;
}

int main(int argc __unused, char **argv __unused)
{
	bool ro = cmdline_has("ro");

	report_prefix_push("virtio-blk");
	test_setup(ro);
	if (cmdline_has("flushloop")) {
		struct loop_state st = { 0 };

		cmdline_get_u64("rounds", &st.rounds);
		run_in_user(flush_loop, &st);
		report(!st.failed, "flush loop of %llu rounds", (unsigned long long)st.rounds);
		return report_summary();
	}
	test_read();
	test_get_id();
	if (ro) {
		test_read_only();
	} else {
		test_write_flush();
		test_discard_write_zeroes();
		test_burst();
	}
	test_out_of_range(ro);
	report(!(virtio_status(&dev) & VIRTIO_STATUS_DEVICE_NEEDS_RESET), "device healthy at the end");
	return report_summary();
}
