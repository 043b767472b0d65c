/* virtio-balloon (virtio 1.2 §5.5) through kvmrun's virtio-mmio transport,
 * with the guest library's polling driver. Run with
 * --balloon target=32M,stats=1 and target_pages=8192 on the command line.
 *
 * Default run: read the target, fill 32 MiB with a pattern, inflate those
 * pages (32 buffers of 256 PFNs, as Linux sends them), set `actual`,
 * deflate them (one buffer of 8192 PFNs) and read them back: they are all
 * zero, which the guest can only see if the host really dropped the memory
 * (punched out of kvmrun's RAM memfd). Then the statistics: the device
 * holds our stats buffer and gives it back every second; we refill it with
 * known values, which kvmrun prints with --exit-stats.
 *
 * `handshake`: after filling and after inflating, print a line and wait for
 * one on the console, so that tests/guest/balloon_rss.py can measure
 * kvmrun's memory at those points.
 *
 * `hostile`: PFNs outside RAM and in the device hole, an inflate chain
 * with a writable buffer, a buffer of 256K PFNs, a descriptor of
 * 4 GiB - 1 bytes; the device behaves as docs/virtio-balloon.md says.
 *
 * `oom`: DEFLATE_ON_OOM must be offered (--balloon deflate-on-oom).
 *
 * `snapshot` (tests/guest/snapshot_devices.py, --balloon target=32M,stats=1):
 * inflate the first 16 MiB, hand the device a fresh stats buffer, print
 * "balloon: snapshot point" and wait for a console line, during which the
 * host saves the VM and restores it in a new kvmrun. Then the restored
 * device must still say num_pages 8192 and actual 4096; overwrite 4 MiB of
 * the other 16 MiB, inflate that half, deflate 4 MiB from each half and
 * read them: the first half's read zero (released before the snapshot),
 * the second's read what the snapshot holds there, the pattern, not what
 * we wrote since (the host dropped its copy of them: restored RAM is the
 * memory file mapped copy-on-write, docs/virtio-balloon.md). Then ask for
 * statistics, which it can only do if it held the stats buffer across the
 * restore.
 * The host checks --exit-stats: 6144 pages in the balloon by the device's
 * own count, which needs the saved page bitmap. */
#include "libguest.h"
#include "user.h"
#include "serial.h"
#include "virtio.h"

#define VIRTIO_ID_BALLOON        5
#define F_MUST_TELL_HOST         0
#define F_STATS_VQ               1
#define F_DEFLATE_ON_OOM         2
#define CFG_NUM_PAGES            (VIRTIO_MMIO_CONFIG + 0)
#define CFG_ACTUAL               (VIRTIO_MMIO_CONFIG + 4)
#define INFLATEQ                 0
#define DEFLATEQ                 1
#define STATSQ                   2

#define QSIZE        64
#define WAIT_SPINS   400000000ULL      /* seconds of PAUSE at CPL 3 */
#define STATS_SPINS  2000000000ULL     /* the device asks every second */
#define AREA         (32UL << 20)      /* ballooned memory: 32-64 MiB */
#define AREA_PAGES   (8192u)
#define AREA_PFN     ((uint32_t)(AREA >> 12))
#define PER_BUFFER   256u              /* Linux's VIRTIO_BALLOON_ARRAY_PFNS_MAX */
#define HUGE_PFNS    (1u << 18)

/* Each ring 4 KiB aligned (virtio_queue_setup). */
#define RING_STRIDE  ((VRING_BYTES(QSIZE) + 4095) & ~4095UL)
static uint8_t rings[3][RING_STRIDE] __aligned(4096);
static uint32_t pfns[AREA_PAGES];
static uint32_t huge[HUGE_PFNS];
static uint8_t writable[4096] __aligned(4096);
static struct virtio_dev dev;
static struct vring vq[3];

struct __attribute__((packed)) balloon_stat {
	uint16_t tag;
	uint64_t val;
};
static struct balloon_stat stats[6];

/* ---- CPL 3 helpers ---------------------------------------------------- */

static uint64_t pattern(uint64_t addr)
{
	return addr * 0x9e3779b97f4a7c15ULL + 1;
}

struct area {
	uint64_t start, len;
	uint64_t bad;            /* words that differ from what is expected */
	bool zero;               /* expect zeros, else the pattern */
};

static long fill(void *arg)
{
	struct area *a = arg;

	for (uint64_t p = a->start; p < a->start + a->len; p += 8)
		*(volatile uint64_t *)p = pattern(p);
	return 0;
}

/* Something other than the pattern, written. */
static long scribble(void *arg)
{
	struct area *a = arg;

	for (uint64_t p = a->start; p < a->start + a->len; p += 8)
		*(volatile uint64_t *)p = ~pattern(p);
	return 0;
}

static long check(void *arg)
{
	struct area *a = arg;

	a->bad = 0;
	for (uint64_t p = a->start; p < a->start + a->len; p += 8)
		a->bad += *(volatile uint64_t *)p != (a->zero ? 0 : pattern(p));
	return 0;
}

static uint64_t area_bad(uint64_t start, uint64_t len, bool zero)
{
	struct area a = { .start = start, .len = len, .zero = zero };

	run_in_user(check, &a);
	return a.bad;
}

struct batch {
	struct vring *vq;
	const struct vring_buf *bufs;  /* one buffer per chain, or a chain */
	unsigned nr;                   /* chains (or buffers of one chain) */
	bool one_chain;
	unsigned done, bad_len;
	bool timeout;
	uint64_t spins;
};

/* Submit, notify once, wait for every chain to come back. */
static long run_batch(void *arg)
{
	struct batch *b = arg;
	unsigned chains = b->one_chain ? 1 : b->nr;
	uint32_t id, len;

	if (b->one_chain)
		vring_add(b->vq, b->bufs, b->nr);
	else
		for (unsigned i = 0; i < b->nr; i++)
			vring_add(b->vq, &b->bufs[i], 1);
	vring_kick(b->vq);
	b->done = b->bad_len = 0;
	b->timeout = false;
	while (b->done < chains) {
		if (!vring_wait(b->vq, &id, &len, b->spins ? b->spins : WAIT_SPINS)) {
			b->timeout = true;
			break;
		}
		b->done++;
		b->bad_len += len != 0;
	}
	return 0;
}

static bool submit(struct batch *b)
{
	run_in_user(run_batch, b);
	return !b->timeout;
}

static long wait_line(void *arg)
{
	static char line[32];

	(void)arg;
	serial_getline(line, sizeof(line));
	return 0;
}

static void handshake(const char *what)
{
	if (!cmdline_has("handshake"))
		return;
	printf("balloon: %s\n", what);
	run_in_user(wait_line, NULL);
}

static bool healthy(void)
{
	return !(virtio_status(&dev) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
}

/* ---- setup ------------------------------------------------------------ */

static void set_stats(uint64_t swap_in, uint64_t memfree, uint64_t avail)
{
	stats[0] = (struct balloon_stat){ 0, swap_in };            /* SWAP_IN */
	stats[1] = (struct balloon_stat){ 4, memfree };            /* MEMFREE */
	stats[2] = (struct balloon_stat){ 5, 96ULL << 20 };        /* MEMTOT */
	stats[3] = (struct balloon_stat){ 0x4242, 77 };            /* unknown: ignored */
	stats[4] = (struct balloon_stat){ 6, avail };              /* AVAIL */
	stats[5] = (struct balloon_stat){ 8, 3 };                  /* HTLB_PGALLOC */
}

static void add_stats_buffer(void)
{
	struct vring_buf b = { .addr = (uintptr_t)stats, .len = sizeof(stats) };

	vring_add(&vq[STATSQ], &b, 1);
}

static void setup_device(void)
{
	uint64_t wanted = (1ULL << F_STATS_VQ) | (1ULL << VIRTIO_F_EVENT_IDX);

	report(virtio_negotiate(&dev, wanted) == 0, "FEATURES_OK accepted");
	for (unsigned q = 0; q < 3; q++) {
		memset(rings[q], 0, sizeof(rings[q]));
		report(virtio_queue_setup(&dev, &vq[q], q, QSIZE, rings[q]) == 0, "queue %u ready", q);
	}
	/* §5.5.5: the stats buffer before DRIVER_OK, the notification after. */
	add_stats_buffer();
	virtio_driver_ok(&dev);
	vring_kick(&vq[STATSQ]);
}

static void test_setup(void)
{
	uint64_t target = 0;
	uint64_t offered;

	report_prefix_push("setup");
	if (!virtio_probe(VIRTIO_ID_BALLOON, 0, &dev)) {
		report(false, "virtio-balloon found (is --balloon given?)");
		exit(report_summary());
	}
	report(true, "virtio-balloon in slot %u at 0x%lx", dev.slot, (unsigned long)dev.base);
	set_stats(11, 0x1111, 0x2222);
	setup_device();
	offered = dev.device_features;
	report(offered & (1ULL << F_STATS_VQ), "STATS_VQ offered");
	report(!(offered & (1ULL << F_MUST_TELL_HOST)), "MUST_TELL_HOST not offered");
	report(!!(offered & (1ULL << F_DEFLATE_ON_OOM)) == cmdline_has("oom"),
	       "DEFLATE_ON_OOM %soffered", offered & (1ULL << F_DEFLATE_ON_OOM) ? "" : "not ");
	report(virtio_status(&dev) == 0xf, "status ACKNOWLEDGE|DRIVER|FEATURES_OK|DRIVER_OK");
	cmdline_get_u64("target_pages", &target);
	report(virtio_read(&dev, CFG_NUM_PAGES) == target, "num_pages %u (target_pages=%llu)",
	       virtio_read(&dev, CFG_NUM_PAGES), (unsigned long long)target);
	virtio_write(&dev, CFG_NUM_PAGES, 1);
	report(virtio_read(&dev, CFG_NUM_PAGES) == target, "num_pages is read-only");
	report(virtio_read(&dev, CFG_ACTUAL) == 0, "actual starts at 0");
	report_prefix_pop();
}

/* ---- inflate, deflate, zeros ------------------------------------------ */

static void test_balloon(void)
{
	struct vring_buf bufs[AREA_PAGES / PER_BUFFER];
	struct area a = { .start = AREA - 4096, .len = AREA + 2 * 4096 };
	uint32_t pages = virtio_read(&dev, CFG_NUM_PAGES);
	struct batch b;

	report_prefix_push("balloon");
	if (pages != AREA_PAGES) {
		report(false, "num_pages is %u, this test needs %u (target=32M)", pages, AREA_PAGES);
		report_prefix_pop();
		return;
	}
	/* The area and a page on either side, which must survive. */
	run_in_user(fill, &a);
	report(area_bad(a.start, a.len, false) == 0, "32 MiB filled with a pattern");
	handshake("touched");

	for (uint32_t i = 0; i < AREA_PAGES; i++)
		pfns[i] = AREA_PFN + i;
	for (unsigned i = 0; i < AREA_PAGES / PER_BUFFER; i++)
		bufs[i] = (struct vring_buf){ .addr = (uintptr_t)&pfns[i * PER_BUFFER],
					      .len = PER_BUFFER * 4 };
	b = (struct batch){ .vq = &vq[INFLATEQ], .bufs = bufs, .nr = AREA_PAGES / PER_BUFFER };
	submit(&b);
	report(b.done == 32 && b.bad_len == 0,
	       "inflate: 32 buffers of 256 PFNs used, used length 0 (%u used)", b.done);
	virtio_write(&dev, CFG_ACTUAL, pages);
	report(virtio_read(&dev, CFG_ACTUAL) == pages, "actual = %u", pages);
	report(healthy(), "no DEVICE_NEEDS_RESET");
	handshake("inflated");

	bufs[0] = (struct vring_buf){ .addr = (uintptr_t)pfns, .len = sizeof(pfns) };
	b = (struct batch){ .vq = &vq[DEFLATEQ], .bufs = bufs, .nr = 1 };
	report(submit(&b) && b.done == 1 && b.bad_len == 0, "deflate: one buffer of 8192 PFNs used");
	virtio_write(&dev, CFG_ACTUAL, 0);
	report(virtio_read(&dev, CFG_ACTUAL) == 0, "actual = 0");
	/* Released memory reads as zeros: guest-visible proof the host dropped
	 * it (without MUST_TELL_HOST the device may change pages in the
	 * balloon only before it acknowledges the inflate, §5.5.6.1). */
	uint64_t nonzero = area_bad(AREA, AREA, true);
	report(nonzero == 0, "all of the 32 MiB reads back zero after deflate (%llu words not)",
	       (unsigned long long)nonzero);
	report(area_bad(AREA - 4096, 4096, false) == 0 &&
	       area_bad(AREA + AREA, 4096, false) == 0,
	       "the pages on either side keep their pattern");
	report(healthy(), "no DEVICE_NEEDS_RESET");
	handshake("deflated");
	report_prefix_pop();
}

/* ---- statistics -------------------------------------------------------- */

static long wait_used(void *arg)
{
	struct vring *q = arg;
	uint32_t id, len;

	return vring_wait(q, &id, &len, STATS_SPINS) ? 1 : 0;
}

static void test_stats(void)
{
	report_prefix_push("stats");
	/* The device asks for fresh values (stats=1: within a second or two)
	 * by giving the buffer back; refill and re-add it (§5.5.6.3). */
	report(run_in_user(wait_used, &vq[STATSQ]) == 1, "the device asks for statistics");
	set_stats(22, 123456789, 987654321);
	add_stats_buffer();
	vring_kick(&vq[STATSQ]);
	/* The device only gives back a buffer it has read, so a second
	 * request proves it has the new values. */
	report(run_in_user(wait_used, &vq[STATSQ]) == 1, "and again after the refill");
	add_stats_buffer();
	vring_kick(&vq[STATSQ]);
	report(healthy(), "no DEVICE_NEEDS_RESET");
	report_prefix_pop();
}

/* ---- hostile ------------------------------------------------------------ */

#define PAGE_A (AREA)
#define PAGE_B (AREA + 4096)
#define PAGE_C (AREA + 2 * 4096)

static bool send_one(unsigned q, const struct vring_buf *bufs, unsigned n)
{
	struct batch b = { .vq = &vq[q], .bufs = bufs, .nr = n, .one_chain = true };

	return submit(&b) && b.done == 1 && b.bad_len == 0;
}

static void test_hostile(void)
{
	static uint32_t bad[] = {
		0xffffffff,            /* 16 TiB - 4 KiB */
		96u << 8,              /* the first page past 96 MiB of RAM */
		0xd0000,               /* the device hole: virtio-mmio slot 0 */
		0xfee00,               /* the local APIC */
		0x100000,              /* 4 GiB: no RAM there with 96 MiB */
		PAGE_A >> 12,          /* and one real page */
	};
	struct vring_buf one = { .addr = (uintptr_t)bad, .len = sizeof(bad) };
	struct vring_buf with_writable[2] = {
		{ .addr = (uintptr_t)&pfns[0], .len = 4 },
		{ .addr = (uintptr_t)writable, .len = 4096, .write = true },
	};
	struct vring_buf big = { .addr = (uintptr_t)huge, .len = sizeof(huge) };
	struct area a = { .start = AREA, .len = 3 * 4096 };

	report_prefix_push("hostile");
	run_in_user(fill, &a);

	report(send_one(INFLATEQ, &one, 1) && healthy(),
	       "PFNs beyond RAM, in the device hole, on the LAPIC: used, device healthy");
	report(send_one(DEFLATEQ, &one, 1), "deflated again");
	report(area_bad(PAGE_A, 4096, true) == 0, "the one valid PFN among them was released");

	/* The readable PFN (page B) counts; the writable buffer, though full
	 * of PFNs (page C), is neither read nor written. */
	pfns[0] = PAGE_B >> 12;
	for (unsigned i = 0; i < 1024; i++)
		((uint32_t *)writable)[i] = PAGE_C >> 12;
	report(send_one(INFLATEQ, with_writable, 2) && healthy(),
	       "an inflate chain with a writable buffer: used with length 0, device healthy");
	report(((uint32_t *)writable)[0] == PAGE_C >> 12 && ((uint32_t *)writable)[1023] == PAGE_C >> 12,
	       "the writable buffer is untouched");
	report(send_one(DEFLATEQ, &with_writable[0], 1), "deflated again");
	report(area_bad(PAGE_B, 4096, true) == 0 && area_bad(PAGE_C, 4096, false) == 0,
	       "page B released, page C (named only in the writable buffer) kept");

	/* 256K PFNs in one 1 MiB buffer: the device looks at 64K of them. */
	for (uint32_t i = 0; i < HUGE_PFNS; i++)
		huge[i] = (PAGE_C >> 12) + (i & 1) * 0x10;
	report(send_one(INFLATEQ, &big, 1) && healthy(), "a buffer of 256K PFNs: used, device healthy");
	report(send_one(DEFLATEQ, &big, 1), "deflated again");

	/* A descriptor longer than RAM breaks the queue rules (§2.7): the
	 * transport's NEEDS_RESET, and a reset brings the device back. */
	struct vring_buf too_long = { .addr = 0, .len = 0xffffffff };
	struct batch b = { .vq = &vq[INFLATEQ], .bufs = &too_long, .nr = 1, .one_chain = true };

	submit(&b);
	report(!healthy(), "a 4 GiB - 1 descriptor: DEVICE_NEEDS_RESET");
	set_stats(33, 44, 55);
	setup_device();
	a = (struct area){ .start = PAGE_A, .len = 4096 };
	run_in_user(fill, &a);
	pfns[0] = PAGE_A >> 12;
	report(send_one(INFLATEQ, &with_writable[0], 1) && healthy(), "after a reset: inflate works");
	report(send_one(DEFLATEQ, &with_writable[0], 1), "and deflate");
	report(area_bad(PAGE_A, 4096, true) == 0, "the page was released");
	report_prefix_pop();
}

/* ---- snapshot ----------------------------------------------------------- */

#define HALF_PAGES (AREA_PAGES / 2)
#define CHUNK_PAGES 1024u

/* Inflate (or deflate) `n` pages from PFN `first`, in buffers of 256. */
static bool pages_op(unsigned q, uint32_t first, uint32_t n)
{
	static struct vring_buf bufs[AREA_PAGES / PER_BUFFER];
	unsigned nr = (n + PER_BUFFER - 1) / PER_BUFFER;
	struct batch b = { .vq = &vq[q], .bufs = bufs, .nr = nr };

	for (uint32_t i = 0; i < n; i++)
		pfns[i] = first + i;
	for (unsigned i = 0; i < nr; i++)
		bufs[i] = (struct vring_buf){ .addr = (uintptr_t)&pfns[i * PER_BUFFER],
					      .len = (n - i * PER_BUFFER < PER_BUFFER ?
						      n - i * PER_BUFFER : PER_BUFFER) * 4 };
	return submit(&b) && b.done == nr && b.bad_len == 0;
}

static void test_snapshot(void)
{
	struct area a = { .start = AREA - 4096, .len = AREA + 2 * 4096 };
	uint64_t half = (uint64_t)HALF_PAGES << 12, chunk = (uint64_t)CHUNK_PAGES << 12;

	report_prefix_push("snapshot");
	run_in_user(fill, &a);
	report(pages_op(INFLATEQ, AREA_PFN, HALF_PAGES), "before: inflate 16 MiB");
	virtio_write(&dev, CFG_ACTUAL, HALF_PAGES);
	/* The device asks every second: answer, so that it holds a fresh
	 * buffer when the snapshot is taken. */
	report(run_in_user(wait_used, &vq[STATSQ]) == 1, "before: the device asks for statistics");
	set_stats(44, 4444, 44444);
	add_stats_buffer();
	vring_kick(&vq[STATSQ]);
	printf("balloon: snapshot point\n");
	run_in_user(wait_line, NULL);

	report(virtio_read(&dev, CFG_NUM_PAGES) == AREA_PAGES && virtio_read(&dev, CFG_ACTUAL) == HALF_PAGES,
	       "after: num_pages %u and actual %u as before", virtio_read(&dev, CFG_NUM_PAGES),
	       virtio_read(&dev, CFG_ACTUAL));
	report(area_bad(AREA + half, half, false) == 0 && area_bad(AREA - 4096, 4096, false) == 0,
	       "after: the memory outside the balloon kept its pattern");
	{
		struct area w = { .start = AREA + half, .len = chunk };

		run_in_user(scribble, &w);
	}
	report(pages_op(INFLATEQ, AREA_PFN + HALF_PAGES, HALF_PAGES), "after: inflate the other 16 MiB");
	virtio_write(&dev, CFG_ACTUAL, AREA_PAGES);
	report(pages_op(DEFLATEQ, AREA_PFN, CHUNK_PAGES) &&
	       pages_op(DEFLATEQ, AREA_PFN + HALF_PAGES, CHUNK_PAGES),
	       "after: deflate 4 MiB of each half");
	virtio_write(&dev, CFG_ACTUAL, AREA_PAGES - 2 * CHUNK_PAGES);
	report(area_bad(AREA, chunk, true) == 0, "after: pages inflated before the snapshot read zero");
	report(area_bad(AREA + half, chunk, false) == 0,
	       "after: pages inflated after the restore read the snapshot's contents (our copy released)");
	report(area_bad(AREA + AREA, 4096, false) == 0, "after: the page after the area kept its pattern");
	report(run_in_user(wait_used, &vq[STATSQ]) == 1,
	       "after: the device asks for statistics (it held the buffer across the restore)");
	set_stats(55, 5555, 55555);
	add_stats_buffer();
	vring_kick(&vq[STATSQ]);
	report(run_in_user(wait_used, &vq[STATSQ]) == 1, "after: and again after the refill");
	add_stats_buffer();
	vring_kick(&vq[STATSQ]);
	report(healthy(), "after: no DEVICE_NEEDS_RESET");
	report_prefix_pop();
}

int main(int argc __unused, char **argv __unused)
{
	report_prefix_push("virtio-balloon");
	test_setup();
	if (cmdline_has("hostile")) {
		test_hostile();
	} else if (cmdline_has("snapshot")) {
		test_snapshot();
	} else {
		test_balloon();
		test_stats();
	}
	return report_summary();
}
