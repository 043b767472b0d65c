/* The guest half of the virtio-blk benchmark (bench/blk.py, bench/README.md
 * "Block benchmark"): one I/O job on the first virtio-blk disk, timed by
 * the TSC, with the same job description bench/blk_host.c takes, so the
 * guest and the host process do the same I/O on the same file.
 *
 * Command line (all numbers decimal):
 *   sectors=N   the disk's capacity in 512-byte sectors (checked)
 *   op=read     sequential reads from offset 0, bs bytes each
 *   op=write    sequential writes from offset 0, then one FLUSH; the time
 *               includes the flush (write_us says when the last write
 *               completed)
 *   op=randread reads at bs-aligned offsets drawn from splitmix64(seed)
 *   bs=BYTES    request size, a multiple of 4096
 *   depth=D     requests kept in flight (1..BENCH_MAX_DEPTH)
 *   count=N     requests in total
 *   seed=S      randread's seed (default 1)
 *   verify=0    do not check what reads returned (default 1: check)
 *
 * The image holds stamp(b) in the first 8 bytes of every 4 KiB block b
 * (bench/blk_host.c create); reads check it, writes write it, so the file
 * stays the same and a wrong block shows up as a failure.
 *
 * The queue is driven the way a polling driver with EVENT_IDX should: each
 * slot k owns descriptors 3k..3k+2 (header, data, status) for the whole
 * run, a completion is refilled at once, the device is notified only when
 * its avail_event asks for it (§2.7.10), and used_event is kept where the
 * device never sends an interrupt (vring_no_interrupts). Everything that
 * loops runs at CPL 3 (this host emulates CPL 0). Output: "S" right before
 * the first request and "E" right after the last completion (host-side
 * timestamps of these cross-check the TSC), then one line
 *   blk_bench: op=... bs=... depth=... count=... bytes=... ticks=...
 *              [write_ticks=...] tsc_hz=... source=... us=...
 * and the report summary (exit status 0 when every request succeeded). */
#include "io.h"
#include "libguest.h"
#include "tsc.h"
#include "user.h"
#include "virtio.h"

#define QSIZE            256
#define BENCH_MAX_DEPTH  64          /* 3 descriptors each, plus a flush */
#define BUF_BYTES        (16u << 20) /* depth * bs at most */
#define BLOCK            4096u
#define SECTOR           512u
#define STALL_SPINS      2000000000ULL

#define BLK_F_FLUSH      9
#define T_IN             0
#define T_OUT            1
#define T_FLUSH          4
#define S_OK             0

struct blk_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

enum op { OP_READ, OP_WRITE, OP_RANDREAD };

struct job {
	enum op op;
	uint64_t bs, depth, count, seed, verify;
	uint64_t capacity_bytes;
	/* results */
	uint64_t ticks, write_ticks;
	uint64_t bad_status, bad_data;
	bool stalled;
};

static uint8_t ring_mem[VRING_BYTES(QSIZE)] __aligned(4096);
static uint8_t buf[BUF_BYTES] __aligned(4096);
static struct blk_hdr hdrs[BENCH_MAX_DEPTH + 1] __aligned(64);
static volatile uint8_t status[BENCH_MAX_DEPTH + 1];
static uint64_t slot_offset[BENCH_MAX_DEPTH];
static struct virtio_dev dev;
static struct vring vq;

/* The same functions as bench/blk_host.c: both sides must agree. */
static uint64_t stamp(uint64_t block)
{
	return 0x6b766d72756e0000ULL ^ block;
}

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Byte offset of request i (issued in order): sequential, or random. */
static uint64_t next_offset(struct job *j, uint64_t i, uint64_t *rng)
{
	if (j->op != OP_RANDREAD)
		return i * j->bs;
	return splitmix64(rng) % (j->capacity_bytes / j->bs) * j->bs;
}

/* Slot k's chain, written once: header, data (device-writable for reads),
 * status byte. Only the header's sector changes from request to request. */
static void slot_init(struct job *j, unsigned k)
{
	uint16_t d = (uint16_t)(3 * k);

	hdrs[k] = (struct blk_hdr){ .type = j->op == OP_WRITE ? T_OUT : T_IN };
	vq.desc[d] = (struct vring_desc){ (uintptr_t)&hdrs[k], sizeof(hdrs[k]), VRING_DESC_F_NEXT,
					  (uint16_t)(d + 1) };
	vq.desc[d + 1] = (struct vring_desc){
		(uintptr_t)(buf + k * j->bs), (uint32_t)j->bs,
		(uint16_t)(VRING_DESC_F_NEXT | (j->op == OP_WRITE ? 0 : VRING_DESC_F_WRITE)),
		(uint16_t)(d + 2)
	};
	vq.desc[d + 2] = (struct vring_desc){ (uintptr_t)&status[k], 1, VRING_DESC_F_WRITE, 0 };
}

static void issue(struct job *j, unsigned k, uint64_t offset)
{
	if (j->op == OP_WRITE) {
		uint8_t *p = buf + k * j->bs;

		for (uint64_t b = 0; b < j->bs; b += BLOCK)
			*(uint64_t *)(p + b) = stamp((offset + b) / BLOCK);
	}
	slot_offset[k] = offset;
	hdrs[k].sector = offset / SECTOR;
	status[k] = 0xff;
	vring_publish(&vq, (uint16_t)(3 * k));
}

static void check(struct job *j, unsigned k, uint32_t used_len)
{
	const uint8_t *p = buf + k * j->bs;
	uint32_t want_len = j->op == OP_WRITE ? 1 : (uint32_t)j->bs + 1;

	if (status[k] != S_OK || used_len != want_len) {
		j->bad_status++;
		return;
	}
	if (j->op == OP_WRITE || !j->verify)
		return;
	for (uint64_t b = 0; b < j->bs; b += BLOCK)
		if (*(const uint64_t *)(p + b) != stamp((slot_offset[k] + b) / BLOCK)) {
			j->bad_data++;
			return;
		}
}

/* One FLUSH through the descriptors after the slots' (3 * depth). */
static bool flush(struct job *j)
{
	unsigned k = (unsigned)j->depth;
	uint16_t d = (uint16_t)(3 * k);
	uint32_t id, len;

	hdrs[k] = (struct blk_hdr){ .type = T_FLUSH };
	status[k] = 0xff;
	vq.desc[d] = (struct vring_desc){ (uintptr_t)&hdrs[k], sizeof(hdrs[k]), VRING_DESC_F_NEXT,
					  (uint16_t)(d + 1) };
	vq.desc[d + 1] = (struct vring_desc){ (uintptr_t)&status[k], 1, VRING_DESC_F_WRITE, 0 };
	vring_publish(&vq, d);
	vring_kick(&vq);
	if (!vring_wait(&vq, &id, &len, STALL_SPINS) || id != d)
		return false;
	return status[k] == S_OK;
}

static long run_job(void *arg)
{
	struct job *j = arg;
	uint64_t issued = 0, done = 0, rng = j->seed, spins = 0, t0;
	unsigned slots = (unsigned)(j->depth < j->count ? j->depth : j->count);

	/* Touch the buffers first, so neither side pays for first faults in
	 * the timed part (the host program does the same). */
	memset(buf, 0, j->depth * j->bs);
	for (unsigned k = 0; k < slots; k++)
		slot_init(j, k);
	puts("S");
	t0 = rdtsc();
	for (unsigned k = 0; k < slots; k++)
		issue(j, k, next_offset(j, issued++, &rng));
	vring_kick(&vq);
	while (done < j->count) {
		unsigned refilled = 0;
		uint32_t id, len;

		while (vring_poll(&vq, &id, &len)) {
			unsigned k = id / 3;

			if (id % 3 || k >= slots) {
				j->bad_status++;
				continue;
			}
			check(j, k, len);
			done++;
			if (issued < j->count) {
				issue(j, k, next_offset(j, issued++, &rng));
				refilled++;
			}
		}
		if (refilled) {
			/* Notifies only if the device asked (avail_event). */
			vring_kick(&vq);
			spins = 0;
		} else if (++spins > STALL_SPINS) {
			j->stalled = true;
			return 0;
		} else {
			cpu_relax();
		}
	}
	j->write_ticks = rdtsc() - t0;
	if (j->op == OP_WRITE && !flush(j))
		j->bad_status++;
	j->ticks = rdtsc() - t0;
	puts("E");
	return 0;
}

static bool parse_job(struct job *j)
{
	char op[16];
	uint64_t sectors;

	if (!cmdline_get_u64("sectors", &sectors) || !cmdline_get_str("op", op, sizeof(op)) ||
	    !cmdline_get_u64("bs", &j->bs) || !cmdline_get_u64("depth", &j->depth) ||
	    !cmdline_get_u64("count", &j->count))
		return false;
	if (!cmdline_get_u64("seed", &j->seed))
		j->seed = 1;
	if (!cmdline_get_u64("verify", &j->verify))
		j->verify = 1;
	if (!strcmp(op, "read"))
		j->op = OP_READ;
	else if (!strcmp(op, "write"))
		j->op = OP_WRITE;
	else if (!strcmp(op, "randread"))
		j->op = OP_RANDREAD;
	else
		return false;
	j->capacity_bytes = sectors * SECTOR;
	if (j->bs == 0 || j->bs % BLOCK || j->bs > BUF_BYTES || j->depth == 0 ||
	    j->depth > BENCH_MAX_DEPTH || j->depth * j->bs > BUF_BYTES || j->count == 0 ||
	    j->capacity_bytes < j->bs)
		return false;
	/* Sequential jobs stay inside the disk. */
	return j->op == OP_RANDREAD || j->count <= j->capacity_bytes / j->bs;
}

static const char *op_name(enum op op)
{
	return op == OP_READ ? "read" : op == OP_WRITE ? "write" : "randread";
}

int main(int argc __unused, char **argv __unused)
{
	struct job j = { 0 };
	const char *source;
	uint64_t hz;

	report_prefix_push("blk_bench");
	if (!parse_job(&j)) {
		report(false, "command line: sectors= op=read|write|randread bs=4K*n depth=1..%u "
		       "count= [seed=], depth * bs <= %u", BENCH_MAX_DEPTH, BUF_BYTES);
		return report_summary();
	}
	if (!virtio_probe(VIRTIO_ID_BLOCK, 0, &dev)) {
		report(false, "a virtio-blk device");
		return report_summary();
	}
	/* FLUSH so writes are write-back and FLUSH means fdatasync
	 * (§5.2.6.2), as the host program's write + fdatasync. */
	report(virtio_negotiate(&dev, 1ULL << VIRTIO_F_EVENT_IDX | 1ULL << BLK_F_FLUSH) == 0 &&
	       (dev.features & 1ULL << VIRTIO_F_EVENT_IDX) && (dev.features & 1ULL << BLK_F_FLUSH),
	       "EVENT_IDX and FLUSH negotiated");
	report(virtio_read(&dev, VIRTIO_MMIO_CONFIG) == (uint32_t)(j.capacity_bytes / SECTOR) &&
	       virtio_read(&dev, VIRTIO_MMIO_CONFIG + 4) == (uint32_t)(j.capacity_bytes >> 41),
	       "capacity %lu sectors", j.capacity_bytes / SECTOR);
	report(virtio_queue_setup(&dev, &vq, 0, QSIZE, ring_mem) == 0, "queue of %u", QSIZE);
	vring_no_interrupts(&vq);
	virtio_driver_ok(&dev);
	/* kvmclock needs CPL 0 (WRMSR): before run_in_user. */
	hz = tsc_hz(&source);

	run_in_user(run_job, &j);
	report(!j.stalled, "no request stalled");
	report(j.bad_status == 0, "%lu requests, %lu with a bad status or length", j.count,
	       j.bad_status);
	report(j.bad_data == 0, "%lu reads returned the wrong blocks", j.bad_data);
	report(hz != 0, "TSC frequency %lu Hz from %s", hz, source);
	if (hz && !j.stalled)
		printf("blk_bench: op=%s bs=%lu depth=%lu count=%lu bytes=%lu ticks=%lu "
		       "write_ticks=%lu tsc_hz=%lu us=%lu\n",
		       op_name(j.op), j.bs, j.depth, j.count, j.count * j.bs, j.ticks,
		       j.write_ticks, hz, j.ticks * 1000000 / hz);
	report(!(virtio_status(&dev) & VIRTIO_STATUS_DEVICE_NEEDS_RESET), "device healthy");
	return report_summary();
}
