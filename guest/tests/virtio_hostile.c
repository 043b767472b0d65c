/* A hostile driver against kvmrun's virtio-rng (virtio 1.2 §2.7, §4.2):
 * descriptor loops, buffers outside RAM or wrapping 2^64, indirect tables
 * that break the rules, available-index jumps, rings misaligned or past
 * the end of RAM, queue registers rewritten after DRIVER_OK. Each time the
 * device must set DEVICE_NEEDS_RESET (and give a consumed chain back
 * empty) or ignore the write, kvmrun must keep running, and a reset must
 * bring the device back. Run with --rng. */
#include "io.h"
#include "libguest.h"
#include "startinfo.h"
#include "user.h"
#include "virtio.h"

#define QSIZE       16
#define WAIT_SPINS  400000000ULL
#define STATUS_POLLS 20000          /* register reads: ~30 us each */
#define OUTSIDE_RAM 0xc0000000ULL   /* below the device hole, above a test's RAM */

static uint8_t ring_mem[VRING_BYTES(QSIZE)] __aligned(4096);
static uint8_t other_ring[VRING_BYTES(QSIZE)] __aligned(4096);
static struct vring_desc tables[2][QSIZE * 2] __aligned(16);
static uint8_t buf[256] __aligned(64);
static struct virtio_dev dev;
static struct vring vq;
static uint64_t ram_top;

static const uint64_t wanted = (1ULL << VIRTIO_F_INDIRECT_DESC) | (1ULL << VIRTIO_F_EVENT_IDX);

static bool bring_up(void)
{
	memset(ring_mem, 0, sizeof(ring_mem));
	if (virtio_negotiate(&dev, wanted) < 0 || virtio_queue_setup(&dev, &vq, 0, QSIZE, ring_mem) < 0)
		return false;
	virtio_driver_ok(&dev);
	return virtio_status(&dev) == 0xf;
}

struct wait {
	uint32_t bit;
	bool set;
	bool used;
	uint32_t id, len;
};

/* CPL 3: notify (unconditionally: a hostile driver ignores avail_event),
 * then poll Status for `bit` and the used ring for an entry. */
static long kick_and_watch(void *arg)
{
	struct wait *w = arg;

	virtio_write(&dev, VIRTIO_MMIO_QUEUE_NOTIFY, vq.index);
	for (unsigned i = 0; i < STATUS_POLLS && !w->set; i++)
		w->set = virtio_status(&dev) & w->bit;
	w->used = vring_poll(&vq, &w->id, &w->len);
	return 0;
}

/* Kick and expect NEEDS_RESET; `returned` says whether a chain (head
 * `head`) must come back empty. */
static void expect_needs_reset(const char *what, bool returned, uint16_t head)
{
	struct wait w = { .bit = VIRTIO_STATUS_DEVICE_NEEDS_RESET };

	run_in_user(kick_and_watch, &w);
	report(w.set, "%s: DEVICE_NEEDS_RESET", what);
	if (returned)
		report(w.used && w.id == head && w.len == 0, "%s: chain %u given back empty", what, head);
	else
		report(!w.used, "%s: nothing in the used ring", what);
	report(virtio_read(&dev, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG,
	       "%s: configuration-change interrupt pending", what);
}

static long one_request(void *arg)
{
	struct wait *w = arg;
	struct vring_buf b = { .addr = (uintptr_t)buf, .len = sizeof(buf), .write = true };
	uint16_t head = vring_add(&vq, &b, 1);

	vring_kick(&vq);
	w->used = vring_wait(&vq, &w->id, &w->len, WAIT_SPINS) && w->id == head;
	return 0;
}

static bool request_works(void)
{
	struct wait w = { 0 };

	run_in_user(one_request, &w);
	return w.used && w.len == sizeof(buf);
}

static void recover(const char *what)
{
	virtio_reset(&dev);
	report(virtio_read(&dev, VIRTIO_MMIO_INTERRUPT_STATUS) == 0 &&
	       !(virtio_status(&dev) & VIRTIO_STATUS_DEVICE_NEEDS_RESET),
	       "%s: reset clears status and interrupts", what);
	report(bring_up() && request_works(), "%s: device works again after the reset", what);
}

static void set_desc(struct vring_desc *d, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	*d = (struct vring_desc){ .addr = addr, .len = len, .flags = flags, .next = next };
}

/* One malformed chain at head 0, published and kicked. */
static void bad_chain(const char *what)
{
	vring_publish(&vq, 0);
	expect_needs_reset(what, true, 0);
	recover(what);
}

static void test_descriptor_loop(void)
{
	set_desc(&vq.desc[0], (uintptr_t)buf, 16, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	set_desc(&vq.desc[1], (uintptr_t)buf, 16, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 0);
	bad_chain("descriptor loop");
}

static void test_buffers_outside_ram(void)
{
	set_desc(&vq.desc[0], OUTSIDE_RAM, 64, VRING_DESC_F_WRITE, 0);
	bad_chain("buffer beyond RAM");
	set_desc(&vq.desc[0], 0xfec00000ULL, 64, VRING_DESC_F_WRITE, 0);
	bad_chain("buffer on the IOAPIC");
	set_desc(&vq.desc[0], ram_top - 32, 64, VRING_DESC_F_WRITE, 0);
	bad_chain("buffer across the end of RAM");
	set_desc(&vq.desc[0], 0xfffffffffffff000ULL, 0x2000, VRING_DESC_F_WRITE, 0);
	bad_chain("address + length wraps 2^64");
	set_desc(&vq.desc[0], 0, 0xffffffffu, VRING_DESC_F_WRITE, 0);
	bad_chain("4 GiB - 1 byte buffer");
}

static void test_indirect_rules(void)
{
	struct vring_desc *t = tables[0];

	set_desc(&t[0], (uintptr_t)&tables[1], 16, VRING_DESC_F_INDIRECT, 0);
	set_desc(&tables[1][0], (uintptr_t)buf, 16, VRING_DESC_F_WRITE, 0);
	set_desc(&vq.desc[0], (uintptr_t)t, 16, VRING_DESC_F_INDIRECT, 0);
	bad_chain("nested indirect table");

	set_desc(&t[0], (uintptr_t)buf, 16, VRING_DESC_F_WRITE, 0);
	set_desc(&vq.desc[0], (uintptr_t)t, 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
	set_desc(&vq.desc[1], (uintptr_t)buf, 16, VRING_DESC_F_WRITE, 0);
	bad_chain("INDIRECT with NEXT");

	set_desc(&vq.desc[0], (uintptr_t)t, 24, VRING_DESC_F_INDIRECT, 0);
	bad_chain("indirect table of 24 bytes");

	for (unsigned i = 0; i < QSIZE + 1; i++)
		set_desc(&t[i], (uintptr_t)buf, 1, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, i + 1);
	t[QSIZE].flags = VRING_DESC_F_WRITE;
	set_desc(&vq.desc[0], (uintptr_t)t, (QSIZE + 1) * 16, VRING_DESC_F_INDIRECT, 0);
	bad_chain("indirect table longer than the queue");

	set_desc(&vq.desc[0], OUTSIDE_RAM, 64, VRING_DESC_F_INDIRECT, 0);
	bad_chain("indirect table beyond RAM");
}

static void test_avail_index_jump(void)
{
	vq.avail->idx = (uint16_t)(vq.avail_idx + QSIZE + 1);
	expect_needs_reset("available index jump", false, 0);
	recover("available index jump");
}

/* Set a queue up by hand with rings the device must refuse at QueueReady. */
static void bad_rings(const char *what, uint64_t desc, uint64_t avail, uint64_t used)
{
	virtio_reset(&dev);
	report(virtio_negotiate(&dev, wanted) == 0, "%s: features", what);
	virtio_write(&dev, VIRTIO_MMIO_QUEUE_SEL, 0);
	virtio_write(&dev, VIRTIO_MMIO_QUEUE_NUM, QSIZE);
	virtio_write(&dev, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
	virtio_write(&dev, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
	virtio_write(&dev, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)avail);
	virtio_write(&dev, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)(avail >> 32));
	virtio_write(&dev, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)used);
	virtio_write(&dev, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)(used >> 32));
	virtio_write(&dev, VIRTIO_MMIO_QUEUE_READY, 1);
	report(virtio_read(&dev, VIRTIO_MMIO_QUEUE_READY) == 0 &&
	       (virtio_status(&dev) & VIRTIO_STATUS_DEVICE_NEEDS_RESET),
	       "%s: queue refused, DEVICE_NEEDS_RESET", what);
	recover(what);
}

static void test_bad_rings(void)
{
	uintptr_t r = (uintptr_t)ring_mem;

	bad_rings("misaligned descriptor table", r + 8, r + 16 * QSIZE,
		  r + VRING_USED_OFFSET(QSIZE));
	bad_rings("misaligned used ring", r, r + 16 * QSIZE, r + VRING_USED_OFFSET(QSIZE) + 2);
	bad_rings("used ring across the end of RAM", r, r + 16 * QSIZE, ram_top - 64);
	bad_rings("descriptor table in the device hole", 0xd0000000ULL, r + 16 * QSIZE,
		  r + VRING_USED_OFFSET(QSIZE));
}

static void test_rewrite_after_driver_ok(void)
{
	uintptr_t o = (uintptr_t)other_ring;

	virtio_write(&dev, VIRTIO_MMIO_QUEUE_SEL, 0);
	virtio_write(&dev, VIRTIO_MMIO_QUEUE_NUM, 2);
	virtio_write(&dev, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)o);
	virtio_write(&dev, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)(o + 16 * QSIZE));
	virtio_write(&dev, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)(o + VRING_USED_OFFSET(QSIZE)));
	virtio_write(&dev, VIRTIO_MMIO_QUEUE_READY, 0);
	virtio_write(&dev, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	virtio_write(&dev, VIRTIO_MMIO_DRIVER_FEATURES, 0);
	report(virtio_read(&dev, VIRTIO_MMIO_QUEUE_READY) == 1, "rewrite after DRIVER_OK: queue still ready");
	report(request_works(), "rewrite after DRIVER_OK: the original ring still serves");
	report(!(virtio_status(&dev) & VIRTIO_STATUS_DEVICE_NEEDS_RESET),
	       "rewrite after DRIVER_OK: ignored, no reset needed");
	/* Clearing status bits takes a reset too. */
	virtio_write(&dev, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	report(virtio_status(&dev) == 0xf, "status bits cannot be cleared without a reset");
}

static uint64_t find_ram_top(void)
{
	const struct hvm_memmap_table_entry *map;
	unsigned n;
	uint64_t top = 0;

	map = startinfo_memmap(&n);
	for (unsigned i = 0; i < n; i++) {
		uint64_t end = map[i].addr + map[i].size;

		if (map[i].type == 1 && end <= 0xd0000000ULL && end > top)
			top = end;
	}
	return top;
}

int main(int argc __unused, char **argv __unused)
{
	report_prefix_push("virtio-hostile");
	ram_top = find_ram_top();
	if (!virtio_probe(VIRTIO_ID_ENTROPY, 0, &dev) || !ram_top) {
		report(false, "virtio-rng found (is --rng given?) and RAM size known");
		return report_summary();
	}
	report(bring_up() && request_works(), "a well-behaved request works");
	test_descriptor_loop();
	test_buffers_outside_ram();
	test_indirect_rules();
	test_avail_index_jump();
	test_bad_rings();
	test_rewrite_after_driver_ok();
	report(request_works(), "still serving at the end");
	return report_summary();
}
