/* virtio-balloon (virtio 1.2 §5.5) driven through its virtio-mmio window
 * as a driver would, over real memfd-backed guest RAM (the machine's kind,
 * guest_memory_create): inflated pages must leave the memfd (its block
 * count drops) and read back as zeros; hostile PFN arrays are ignored
 * without harming the device; the stats queue holds one buffer and gives
 * it back on request; a new target raises a configuration interrupt. No
 * KVM: notifications are serviced by calling what the event loop calls. */
#include <errno.h>
#include <stdbool.h>
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

#include "layout.h"
#include "memory.h"
#include "virtio/balloon.h"
#include "virtio_test.h"

#define RAM_SIZE   (16ULL << 20)
#define RAM_PAGES  (RAM_SIZE >> 12)
#define QSIZE      8
#define PFNS_GPA   0x100000ULL                        /* PFN arrays: up to 2 MiB */
#define DATA_GPA   (8ULL << 20)                       /* pages to balloon */
#define DATA_PAGES 1024                               /* 4 MiB */
#define WBUF_GPA   0x400000ULL

struct fixture {
	struct guest_memory mem;
	struct virtio_balloon b;
	struct vdrv drv;
};

static int setup_with(void **state, const struct virtio_balloon_options *opts)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || guest_memory_create(&f->mem, RAM_SIZE) < 0)
		return -1;
	if (virtio_balloon_init(&f->b, &f->mem, LAYOUT_VIRTIO_MMIO_BASE, 16, opts) < 0)
		return -1;
	vdrv_bind(&f->drv, &f->mem, &f->b.mmio, VIRTIO_BALLOON_QUEUE_SIZE);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	const struct virtio_balloon_options opts = { .target_pages = 256 };

	return setup_with(state, &opts);
}

static int setup_oom(void **state)
{
	const struct virtio_balloon_options opts = { .target_pages = 1, .deflate_on_oom = true };

	return setup_with(state, &opts);
}

/* RAM as a restore maps it: a file (the memory file), MAP_PRIVATE, its
 * data pages 0x33 (the snapshot's contents). */
static int setup_restored(void **state)
{
	const struct virtio_balloon_options opts = { .target_pages = 256 };
	struct fixture *f = calloc(1, sizeof(*f));
	char path[] = "/tmp/kvmrun-balloon-XXXXXX";
	static uint8_t page[4096];
	int fd = mkstemp(path);

	if (!f || fd < 0)
		return -1;
	unlink(path);
	if (ftruncate(fd, (off_t)RAM_SIZE) < 0)
		return -1;
	memset(page, 0x33, sizeof(page));
	for (uint64_t off = DATA_GPA; off < DATA_GPA + DATA_PAGES * 4096ULL; off += 4096)
		if (pwrite(fd, page, sizeof(page), (off_t)off) != (ssize_t)sizeof(page))
			return -1;
	if (guest_memory_map_file(&f->mem, fd, 0, RAM_SIZE) < 0)
		return -1;
	if (virtio_balloon_init(&f->b, &f->mem, LAYOUT_VIRTIO_MMIO_BASE, 16, &opts) < 0)
		return -1;
	vdrv_bind(&f->drv, &f->mem, &f->b.mmio, VIRTIO_BALLOON_QUEUE_SIZE);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	virtio_balloon_destroy(&f->b);
	guest_memory_destroy(&f->mem);
	free(f);
	return 0;
}

/* Bytes of the memfd actually allocated. */
static uint64_t ram_allocated(struct fixture *f)
{
	struct stat st;

	assert_int_equal(fstat(f->mem.fd, &st), 0);
	return (uint64_t)st.st_blocks * 512;
}

/* §3.1.1 with queues 0..nr_queues-1 of QSIZE: `features` (the balloon's
 * own, all below bit 32) and VIRTIO_F_VERSION_1. */
static void driver_init(struct vdrv *d, uint64_t features, unsigned nr_queues)
{
	vdrv_init(d, features | 1ULL << VIRTIO_F_VERSION_1, nr_queues, QSIZE);
}

/* Put `n` PFNs in one readable buffer at PFNS_GPA and send it on queue q. */
static void send_pfns(struct fixture *f, unsigned q, const uint32_t *pfns, uint32_t n)
{
	struct vdrv_buf b = { .gpa = PFNS_GPA, .len = n * 4 };

	memcpy(f->mem.host + PFNS_GPA, pfns, n * 4);
	vdrv_add_chain(&f->drv, q, &b, 1);
	vdrv_notify(&f->drv, q);
}

static uint32_t data_pfns[DATA_PAGES];

static void fill_data(struct fixture *f)
{
	memset(f->mem.host + DATA_GPA - 4096, 0x5a, (DATA_PAGES + 2) * 4096);
	for (uint32_t i = 0; i < DATA_PAGES; i++)
		data_pfns[i] = (uint32_t)(DATA_GPA >> 12) + i;
}

static bool all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

static const uint64_t stats_vq = 1ULL << VIRTIO_BALLOON_F_STATS_VQ;

static void test_identity_and_config(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->drv;
	uint8_t byte = 0xff;
	uint16_t half;

	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_BALLOON);
	vdrv_write(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_DEVICE_FEATURES) & 0xffffff, stats_vq);
	vdrv_write(d, VIRTIO_MMIO_QUEUE_SEL, 3);
	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	/* num_pages is the target and the device's: writes are ignored. */
	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_CONFIG + VIRTIO_BALLOON_CONFIG_NUM_PAGES), 256);
	vdrv_write(d, VIRTIO_MMIO_CONFIG + VIRTIO_BALLOON_CONFIG_NUM_PAGES, 7);
	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_CONFIG + VIRTIO_BALLOON_CONFIG_NUM_PAGES), 256);
	/* actual is the driver's, at any width. */
	vdrv_write(d, VIRTIO_MMIO_CONFIG + VIRTIO_BALLOON_CONFIG_ACTUAL, 0x12345678);
	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_CONFIG + VIRTIO_BALLOON_CONFIG_ACTUAL),
			 0x12345678);
	byte = 0x9a;
	virtio_mmio_bus_ops.write(d->dev, VIRTIO_MMIO_CONFIG + 7, &byte, 1);
	virtio_mmio_bus_ops.read(d->dev, VIRTIO_MMIO_CONFIG + 6, &half, 2);
	assert_int_equal(half, 0x9a34);
	/* Nothing beyond the 8 bytes (no FREE_PAGE_HINT, no PAGE_POISON). */
	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_CONFIG + 8), 0);
	/* A reset forgets the driver's actual, not the host's target. */
	vdrv_write(d, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_CONFIG + VIRTIO_BALLOON_CONFIG_ACTUAL), 0);
	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_CONFIG + VIRTIO_BALLOON_CONFIG_NUM_PAGES), 256);
}

static void test_deflate_on_oom_offered(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->drv;

	vdrv_write(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_DEVICE_FEATURES) & 0xffffff,
			 stats_vq | (1u << VIRTIO_BALLOON_F_DEFLATE_ON_OOM));
	driver_init(d, 1u << VIRTIO_BALLOON_F_DEFLATE_ON_OOM, 2);
	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_CONFIG), 1);
}

static void test_inflate_releases_memory(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->drv;
	struct virtio_balloon_stats st;
	uint64_t before, after;
	/* The array split unevenly over two buffers: a PFN straddles them. */
	struct vdrv_buf two[2] = {
		{ .gpa = PFNS_GPA, .len = 6 },
		{ .gpa = PFNS_GPA + 6, .len = DATA_PAGES * 4 - 6 },
	};

	driver_init(d, 0, 2);
	fill_data(f);
	memcpy(f->mem.host + PFNS_GPA, data_pfns, sizeof(data_pfns));
	before = ram_allocated(f);
	assert_true(before >= DATA_PAGES * 4096);
	vdrv_add_chain(d, VIRTIO_BALLOON_INFLATEQ, two, 2);
	vdrv_notify(d, VIRTIO_BALLOON_INFLATEQ);
	assert_int_equal(vdrv_used(d, 0)->idx, 1);
	assert_int_equal(vdrv_used(d, 0)->ring[0].len, 0);
	assert_int_equal(vdrv_interrupts(d), 1);
	after = ram_allocated(f);
	/* 4 MiB left the memfd; the pages read zero, their neighbours not. */
	assert_true(before - after >= DATA_PAGES * 4096ULL);
	assert_true(all_bytes(f->mem.host + DATA_GPA, DATA_PAGES * 4096, 0));
	assert_true(all_bytes(f->mem.host + DATA_GPA - 4096, 4096, 0x5a));
	assert_true(all_bytes(f->mem.host + DATA_GPA + DATA_PAGES * 4096, 4096, 0x5a));
	virtio_balloon_get_stats(&f->b, &st);
	assert_int_equal(st.inflated_pages, DATA_PAGES);
	assert_int_equal(st.balloon_pages, DATA_PAGES);
	assert_int_equal(st.released_bytes, DATA_PAGES * 4096);
	assert_int_equal(st.invalid_pfns, 0);
	vdrv_write(d, VIRTIO_MMIO_CONFIG + VIRTIO_BALLOON_CONFIG_ACTUAL, DATA_PAGES);

	/* Deflate: accounting only. (Reading the holes above allocated
	 * pages again: shmem has no shared zero page.) */
	after = ram_allocated(f);
	send_pfns(f, VIRTIO_BALLOON_DEFLATEQ, data_pfns, DATA_PAGES);
	assert_int_equal(vdrv_used(d, 1)->idx, 1);
	virtio_balloon_get_stats(&f->b, &st);
	assert_int_equal(st.deflated_pages, DATA_PAGES);
	assert_int_equal(st.balloon_pages, 0);
	assert_int_equal(ram_allocated(f), after);
	assert_int_equal(st.actual, DATA_PAGES);
}

static void test_hostile_pfns(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->drv;
	struct virtio_balloon_stats st;
	const uint32_t one = (uint32_t)(DATA_GPA >> 12);
	const uint32_t bad[] = {
		0xffffffff,                           /* 16 TiB - 4 KiB */
		(uint32_t)(LAYOUT_MMIO_HOLE_START >> 12),   /* the device hole */
		(uint32_t)(LAYOUT_VIRTIO_MMIO_BASE >> 12),
		RAM_PAGES,                            /* just past the end of RAM */
		one, one, one,                        /* the same page thrice: one page */
		0,                                    /* page 0 is RAM */
	};
	struct vdrv_buf with_writable[2] = {
		{ .gpa = PFNS_GPA, .len = 4 },
		{ .gpa = WBUF_GPA, .len = 4096, .write = true },
	};

	driver_init(d, 0, 2);
	fill_data(f);
	memset(f->mem.host, 0x77, 4096);
	send_pfns(f, VIRTIO_BALLOON_INFLATEQ, bad, 8);
	assert_int_equal(vdrv_used(d, 0)->idx, 1);
	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_STATUS), 0xf);   /* no NEEDS_RESET */
	virtio_balloon_get_stats(&f->b, &st);
	assert_int_equal(st.invalid_pfns, 4);
	assert_int_equal(st.inflated_pages, 4);
	assert_int_equal(st.balloon_pages, 2);
	assert_int_equal(st.released_bytes, 2 * 4096);
	assert_true(all_bytes(f->mem.host, 4096, 0));
	assert_true(all_bytes(f->mem.host + DATA_GPA + 4096, 4096, 0x5a));

	/* A writable buffer in an inflate chain is left alone, used len 0;
	 * PFNs in it are not looked at. */
	memset(f->mem.host + WBUF_GPA, 0xaa, 4096);
	memcpy(f->mem.host + WBUF_GPA, &data_pfns[2], 4);
	memcpy(f->mem.host + PFNS_GPA, &data_pfns[3], 4);
	vdrv_add_chain(d, VIRTIO_BALLOON_INFLATEQ, with_writable, 2);
	vdrv_notify(d, VIRTIO_BALLOON_INFLATEQ);
	assert_int_equal(vdrv_used(d, 0)->idx, 2);
	assert_int_equal(vdrv_used(d, 0)->ring[1].len, 0);
	assert_memory_equal(f->mem.host + WBUF_GPA, &data_pfns[2], 4);
	assert_true(all_bytes(f->mem.host + WBUF_GPA + 4, 4092, 0xaa));
	assert_true(all_bytes(f->mem.host + DATA_GPA + 2 * 4096, 4096, 0x5a));
	assert_true(all_bytes(f->mem.host + DATA_GPA + 3 * 4096, 4096, 0));

	/* 7 bytes: one PFN and a partial one, which is ignored. */
	memcpy(f->mem.host + PFNS_GPA, &data_pfns[4], 8);
	vdrv_add_chain(d, VIRTIO_BALLOON_INFLATEQ,
		       &(struct vdrv_buf){ .gpa = PFNS_GPA, .len = 7 }, 1);
	vdrv_notify(d, VIRTIO_BALLOON_INFLATEQ);
	assert_true(all_bytes(f->mem.host + DATA_GPA + 4 * 4096, 4096, 0));
	assert_true(all_bytes(f->mem.host + DATA_GPA + 5 * 4096, 4096, 0x5a));

	/* Deflating pages never inflated, or twice: counted, no underflow. */
	send_pfns(f, VIRTIO_BALLOON_DEFLATEQ, bad, 8);
	send_pfns(f, VIRTIO_BALLOON_DEFLATEQ, bad, 8);
	virtio_balloon_get_stats(&f->b, &st);
	assert_int_equal(st.balloon_pages, 2);   /* data pages 3 and 4 */
	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_STATUS), 0xf);
}

/* A buffer of 256K PFNs is cut at the per-buffer limit; a notification
 * stops after its budget and has the event loop call it back for the
 * rest (the notify eventfd is signalled). */
static void test_huge_buffers_are_bounded(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->drv;
	struct virtio_balloon_stats st;
	const uint32_t n = 1u << 18;
	uint32_t *pfns = (uint32_t *)(f->mem.host + PFNS_GPA);
	struct vdrv_buf big = { .gpa = PFNS_GPA, .len = n * 4 };
	uint64_t count;

	driver_init(d, 0, 2);
	/* Alternating pages, the worst case for coalescing. */
	for (uint32_t i = 0; i < n; i++)
		pfns[i] = (uint32_t)(DATA_GPA >> 12) + (i % 2) * 2;
	vdrv_add_chain(d, VIRTIO_BALLOON_INFLATEQ, &big, 1);
	vdrv_add_chain(d, VIRTIO_BALLOON_INFLATEQ, &big, 1);
	vdrv_notify(d, VIRTIO_BALLOON_INFLATEQ);
	assert_int_equal(vdrv_used(d, 0)->idx, 1);
	virtio_balloon_get_stats(&f->b, &st);
	assert_int_equal(st.inflated_pages, VIRTIO_BALLOON_MAX_PFNS_PER_BUFFER);
	assert_int_equal(st.ignored_pfns, n - VIRTIO_BALLOON_MAX_PFNS_PER_BUFFER);
	assert_int_equal(st.balloon_pages, 2);
	/* Called back by the event loop: the second buffer. */
	assert_int_equal(read(d->dev->notify_fd[0], &count, sizeof(count)), sizeof(count));
	virtio_mmio_notify(d->dev, 0);
	assert_int_equal(vdrv_used(d, 0)->idx, 2);
	assert_int_equal(read(d->dev->notify_fd[0], &count, sizeof(count)), sizeof(count));
	virtio_mmio_notify(d->dev, 0);   /* nothing left: no further call-back */
	assert_int_equal(vdrv_used(d, 0)->idx, 2);
	assert_int_equal(read(d->dev->notify_fd[0], &count, sizeof(count)), -1);
	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_STATUS), 0xf);
}

/* Buffers that hold no PFN (too short, or device-writable) cost no PFN
 * budget, and the stats queue gives the previous buffer back on each pop:
 * a driver re-adding buffers as fast as they are used must not keep one
 * call (the event loop) for ever. One call handles at most queue-size
 * chains and has the event loop call back for the rest. */
static void test_endless_buffers_are_bounded(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->drv;
	struct vdrv_feeder fd;
	uint64_t count;
	unsigned resumed = 0;

	driver_init(d, stats_vq, 3);
	for (unsigned q = 0; q < 3; q++) {
		for (unsigned i = 0; i < QSIZE; i++)
			*vdrv_desc(d, q, i) = (struct virtq_desc){
				.addr = PFNS_GPA + 64 * i, .len = i % 2 ? 3 : 64,
				.flags = i % 2 ? 0 : VIRTQ_DESC_F_WRITE };
		vdrv_feeder_start(&fd, d, q);
		/* At most QSIZE chains a call, and a call back asked for. */
		for (unsigned k = 0; k < 64; k++) {
			uint16_t before = vdrv_used(d, q)->idx;

			virtio_mmio_notify(d->dev, q);
			assert_true((uint16_t)(vdrv_used(d, q)->idx - before) <= QSIZE);
			if (read(d->dev->notify_fd[q], &count, sizeof(count)) == sizeof(count))
				resumed++;
		}
		assert_true(resumed > 0);
		vdrv_feeder_stop(&fd);
		assert_int_equal(vdrv_read(d, VIRTIO_MMIO_STATUS), 0xf);
	}
}

static unsigned mappings(void)
{
	FILE *maps = fopen("/proc/self/maps", "r");
	unsigned n = 0;
	int c;

	assert_non_null(maps);
	while ((c = fgetc(maps)) != EOF)
		n += c == '\n';
	fclose(maps);
	return n;
}

/* Restored RAM (a private file mapping): inflating drops the private
 * copies the guest made, so the pages read the snapshot's contents again,
 * and it does not split the mapping: every other page of 4 MiB inflated
 * (512 runs) adds no mappings, where one mmap per run would add two each
 * and a guest could exhaust vm.max_map_count. */
static void test_restored_ram_inflate(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->drv;
	struct virtio_balloon_stats st;
	static uint32_t pfns[DATA_PAGES / 2];
	unsigned before;

	driver_init(d, 0, 2);
	/* The guest wrote since the restore: private copies. */
	memset(f->mem.host + DATA_GPA, 0x77, DATA_PAGES * 4096);
	for (uint32_t i = 0; i < DATA_PAGES / 2; i++)
		pfns[i] = (uint32_t)(DATA_GPA >> 12) + 2 * i;
	before = mappings();
	send_pfns(f, VIRTIO_BALLOON_INFLATEQ, pfns, DATA_PAGES / 2);
	assert_int_equal(vdrv_used(d, 0)->idx, 1);
	assert_true(mappings() <= before + 2);
	virtio_balloon_get_stats(&f->b, &st);
	assert_int_equal(st.balloon_pages, DATA_PAGES / 2);
	assert_int_equal(st.released_bytes, DATA_PAGES / 2 * 4096);
	assert_int_equal(st.discard_errors, 0);
	/* Inflated pages: the snapshot's contents; the others: the guest's. */
	for (uint32_t i = 0; i < DATA_PAGES; i++)
		assert_true(all_bytes(f->mem.host + DATA_GPA + i * 4096ULL, 4096,
				      i % 2 ? 0x77 : 0x33));
}

static void put_stat(uint8_t *p, uint16_t tag, uint64_t val)
{
	memcpy(p, &tag, 2);
	memcpy(p + 2, &val, 8);
}

/* One stats buffer at gpa with MEMFREE = free, MEMTOT, an unknown tag and
 * a partial trailing entry. */
static void add_stats(struct fixture *f, uint64_t gpa, uint64_t free)
{
	uint8_t *p = f->mem.host + gpa;
	struct vdrv_buf b = { .gpa = gpa, .len = 4 * 10 + 3 };

	put_stat(p, VIRTIO_BALLOON_S_MEMFREE, free);
	put_stat(p + 10, 0x7777, 5);
	put_stat(p + 20, VIRTIO_BALLOON_S_MEMTOT, RAM_SIZE);
	put_stat(p + 30, VIRTIO_BALLOON_S_HTLB_PGFAIL, 9);
	memset(p + 40, 0xee, 3);
	vdrv_add_chain(&f->drv, VIRTIO_BALLOON_STATSQ, &b, 1);
}

static void test_stats(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->drv;
	struct virtio_balloon_stats st;

	driver_init(d, stats_vq, 3);
	assert_int_equal(virtio_balloon_request_stats(&f->b), -EAGAIN);
	add_stats(f, 0x200000, 111);
	vdrv_notify(d, VIRTIO_BALLOON_STATSQ);
	/* Held, not used: the device gives it back when it wants more. */
	assert_int_equal(vdrv_used(d, 2)->idx, 0);
	virtio_balloon_get_stats(&f->b, &st);
	assert_int_equal(st.stats_updates, 1);
	assert_true(st.stat_valid[VIRTIO_BALLOON_S_MEMFREE]);
	assert_int_equal(st.stat[VIRTIO_BALLOON_S_MEMFREE], 111);
	assert_int_equal(st.stat[VIRTIO_BALLOON_S_MEMTOT], RAM_SIZE);
	assert_int_equal(st.stat[VIRTIO_BALLOON_S_HTLB_PGFAIL], 9);
	assert_false(st.stat_valid[VIRTIO_BALLOON_S_SWAP_IN]);
	vdrv_interrupts(d);
	assert_int_equal(virtio_balloon_request_stats(&f->b), 0);
	assert_int_equal(vdrv_used(d, 2)->idx, 1);
	assert_int_equal(vdrv_used(d, 2)->ring[0].len, 0);
	assert_int_equal(vdrv_interrupts(d), 1);
	assert_int_equal(virtio_balloon_request_stats(&f->b), -EAGAIN);
	/* The driver refills: new values. */
	add_stats(f, 0x200000, 222);
	vdrv_notify(d, VIRTIO_BALLOON_STATSQ);
	virtio_balloon_get_stats(&f->b, &st);
	assert_int_equal(st.stat[VIRTIO_BALLOON_S_MEMFREE], 222);
	assert_int_equal(st.stats_requests, 1);
	/* A second buffer while one is held: the older one goes back. */
	add_stats(f, 0x201000, 333);
	vdrv_notify(d, VIRTIO_BALLOON_STATSQ);
	assert_int_equal(vdrv_used(d, 2)->idx, 2);
	virtio_balloon_get_stats(&f->b, &st);
	assert_int_equal(st.stat[VIRTIO_BALLOON_S_MEMFREE], 333);
	/* After a reset the held buffer is gone. */
	vdrv_write(d, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(virtio_balloon_request_stats(&f->b), -EAGAIN);
}

static void test_stats_queue_needs_the_feature(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->drv;
	struct virtio_balloon_stats st;

	driver_init(d, 0, 3);
	add_stats(f, 0x200000, 111);
	vdrv_notify(d, VIRTIO_BALLOON_STATSQ);
	virtio_balloon_get_stats(&f->b, &st);
	assert_int_equal(st.stats_updates, 0);
	assert_int_equal(virtio_balloon_request_stats(&f->b), -EAGAIN);
	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_STATUS), 0xf);
}

static void test_set_target(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->drv;
	uint32_t gen;

	/* Before DRIVER_OK: a new value, no interrupt. */
	virtio_balloon_set_target(&f->b, 10);
	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_CONFIG), 10);
	assert_int_equal(vdrv_interrupts(d), 0);
	driver_init(d, 0, 2);
	gen = vdrv_read(d, VIRTIO_MMIO_CONFIG_GENERATION);
	virtio_balloon_set_target(&f->b, 2048);
	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_CONFIG_GENERATION), gen + 1);
	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_CONFIG);
	assert_int_equal(vdrv_interrupts(d), 1);
	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_CONFIG), 2048);
}

/* A malformed ring is the transport's business: NEEDS_RESET, and a reset
 * brings the balloon back. */
static void test_bad_chain_needs_reset(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->drv;
	struct vdrv_buf huge = { .gpa = 0, .len = 0xffffffff };

	driver_init(d, 0, 2);
	vdrv_add_chain(d, VIRTIO_BALLOON_INFLATEQ, &huge, 1);
	vdrv_notify(d, VIRTIO_BALLOON_INFLATEQ);
	assert_true(vdrv_read(d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	driver_init(d, 0, 2);
	fill_data(f);
	send_pfns(f, VIRTIO_BALLOON_INFLATEQ, data_pfns, 1);
	assert_int_equal(vdrv_used(d, 0)->idx, 1);
	assert_true(all_bytes(f->mem.host + DATA_GPA, 4096, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_identity_and_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deflate_on_oom_offered, setup_oom, teardown),
		cmocka_unit_test_setup_teardown(test_inflate_releases_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_pfns, setup, teardown),
		cmocka_unit_test_setup_teardown(test_huge_buffers_are_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_endless_buffers_are_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restored_ram_inflate, setup_restored, teardown),
		cmocka_unit_test_setup_teardown(test_stats, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stats_queue_needs_the_feature, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_target, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_chain_needs_reset, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
