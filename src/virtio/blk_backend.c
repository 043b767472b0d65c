/* The block back-end's front: opening the image, handing each request to
 * the engine (blk_backend_uring.c or blk_backend_sync.c) and delivering
 * completions. What a request does is in blk_backend_request.c. */
#include "blk_backend_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static void signal_ready(struct blk_backend *b)
{
	uint64_t one = 1;

	/* Fails only if the counter would overflow: then it is readable. */
	if (write(b->event_fd, &one, sizeof(one)) < 0)
		(void)0;
}

void blk_backend_submit(struct blk_backend *b, struct blk_request *req)
{
	req->status = BLK_STATUS_IOERR;
	req->bytes_written = 0;
	memset(&req->priv, 0, sizeof(req->priv));
	b->stats.requests++;
	b->in_flight++;
	if (!blk_request_validate(b, req)) {
		blk_request_finish(b, req);
		signal_ready(b);
		return;
	}
	req->status = BLK_STATUS_OK;
	if (!b->uring) {
		blk_sync_run(b, req);
		signal_ready(b);
		return;
	}
	/* A request that waits for room in the ring starts in
	 * blk_backend_process(), when completions free some. */
	if (blk_uring_start(b, req) && b->ready.head)
		signal_ready(b);
}

void blk_backend_unplug(struct blk_backend *b)
{
	if (b->uring)
		blk_uring_unplug(b);
}

unsigned blk_backend_process(struct blk_backend *b)
{
	struct blk_request *req;
	unsigned completed = 0;
	uint64_t count;

	/* Reset the counter first: anything that arrives later rings again. */
	if (read(b->event_fd, &count, sizeof(count)) < 0)
		(void)0;  /* EAGAIN: nothing new */
	if (b->uring)
		blk_uring_reap(b);
	while ((req = blk_fifo_pop(&b->ready))) {
		b->in_flight--;
		completed++;
		if (b->complete)
			b->complete(b->ctx, req);
	}
	return completed;
}

int blk_backend_fd(const struct blk_backend *b)
{
	return b->event_fd;
}

bool blk_backend_has_completions(struct blk_backend *b)
{
	return b->ready.head || (b->uring && blk_uring_has_completions(b));
}

unsigned blk_backend_in_flight(const struct blk_backend *b)
{
	return b->in_flight;
}

uint64_t blk_backend_capacity(const struct blk_backend *b)
{
	return b->capacity;
}

bool blk_backend_read_only(const struct blk_backend *b)
{
	return b->read_only;
}

bool blk_backend_uses_uring(const struct blk_backend *b)
{
	return b->uring;
}

uint32_t blk_backend_block_size(const struct blk_backend *b)
{
	return b->block_size;
}

void blk_backend_serial(const struct blk_backend *b, uint8_t out[BLK_ID_BYTES])
{
	memcpy(out, b->serial, BLK_ID_BYTES);
}

const struct blk_backend_stats *blk_backend_stats(const struct blk_backend *b)
{
	return &b->stats;
}

void blk_backend_set_writethrough(struct blk_backend *b, bool on)
{
	atomic_store_explicit(&b->writethrough, on, memory_order_relaxed);
}

void blk_backend_set_completion(struct blk_backend *b, blk_complete_fn *complete, void *ctx)
{
	b->complete = complete;
	b->ctx = ctx;
}

/* 20 hex digits: the device number folded to 20 bits and the inode to 60,
 * stable across renames and unique among the files of one host. */
static void serial_from_file(uint8_t out[BLK_ID_BYTES], const struct stat *st)
{
	uint64_t dev = (uint64_t)st->st_dev, ino = (uint64_t)st->st_ino;
	char text[BLK_ID_BYTES + 1];

	dev = (dev ^ (dev >> 20) ^ (dev >> 40) ^ (dev >> 60)) & 0xfffff;
	ino = (ino ^ (ino >> 60)) & 0xfffffffffffffffULL;
	snprintf(text, sizeof(text), "%05" PRIx64 "%015" PRIx64, dev, ino);
	memcpy(out, text, BLK_ID_BYTES);
}

static uint32_t preferred_block_size(const struct stat *st)
{
	uint32_t size = BLK_SECTOR_SIZE;

	/* st_blksize is a hint; keep it a power of two in [512, 64 KiB]. */
	while (size < 65536 && (blksize_t)(size * 2) <= st->st_blksize)
		size *= 2;
	return size;
}

#define open_fail(ret, ...) do { snprintf(err, errlen, __VA_ARGS__); return (ret); } while (0)

static int open_file(struct blk_backend *b, const char *path, char *err, size_t errlen)
{
	struct stat st;
	uint64_t size;

	b->fd = open(path, (b->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (b->fd < 0) {
		int e = errno;

		if (!b->read_only && (e == EACCES || e == EROFS))
			open_fail(-e, "disk %s: cannot open for writing: %s (add ,ro for a read-only disk)",
				  path, strerror(e));
		open_fail(-e, "disk %s: %s", path, strerror(e));
	}
	if (fstat(b->fd, &st) < 0)
		open_fail(-errno, "disk %s: fstat: %s", path, strerror(errno));
	if (S_ISREG(st.st_mode)) {
		size = (uint64_t)st.st_size;
	} else if (b->regular_only) {
		open_fail(-EINVAL, "disk %s: not a regular file (a restored disk must be one)", path);
	} else if (S_ISBLK(st.st_mode)) {
		if (ioctl(b->fd, BLKGETSIZE64, &size) < 0)
			open_fail(-errno, "disk %s: BLKGETSIZE64: %s", path, strerror(errno));
	} else {
		open_fail(-EINVAL, "disk %s: not a regular file or block device", path);
	}
	/* Two writers on one image corrupt it; readers may share. */
	if (flock(b->fd, (b->read_only ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			open_fail(-EBUSY, "disk %s: in use by another process (file lock held)", path);
		open_fail(-errno, "disk %s: flock: %s", path, strerror(errno));
	}
	/* A trailing partial sector is not part of the disk. */
	b->capacity = size >> BLK_SECTOR_SHIFT;
	if (b->capacity == 0)
		open_fail(-EINVAL, "disk %s: %" PRIu64 " bytes, smaller than one 512-byte sector",
			  path, size);
	b->block_size = preferred_block_size(&st);
	serial_from_file(b->serial, &st);
	return 0;
}

int blk_backend_open(struct blk_backend **out, const char *path,
		     const struct blk_backend_options *opts, char *err, size_t errlen)
{
	struct blk_backend *b = calloc(1, sizeof(*b));
	void *zeroes;
	int ret;

	*out = NULL;
	if (!b)
		open_fail(-ENOMEM, "disk %s: out of memory", path);
	b->read_only = opts->read_only;
	b->regular_only = opts->regular_only;
	b->cache = opts->cache;
	b->event_fd = -1;
	ret = open_file(b, path, err, errlen);
	if (ret < 0)
		goto close_file;
	if (opts->serial) {
		size_t len = strlen(opts->serial);

		memset(b->serial, 0, sizeof(b->serial));
		memcpy(b->serial, opts->serial, len < BLK_ID_BYTES ? len : BLK_ID_BYTES);
	}
	zeroes = mmap(NULL, BLK_ZERO_BUF_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (zeroes == MAP_FAILED) {
		ret = -errno;
		snprintf(err, errlen, "disk %s: mmap zero buffer: %s", path, strerror(errno));
		goto close_file;
	}
	b->zero_buf = zeroes;
	b->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (b->event_fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "disk %s: eventfd: %s", path, strerror(errno));
		goto unmap_zeroes;
	}
	if (opts->io != BLK_IO_SYNC) {
		ret = blk_uring_init(b);
		if (ret < 0 && opts->io == BLK_IO_URING) {
			snprintf(err, errlen, "disk %s: io=uring: io_uring unavailable: %s", path,
				 strerror(-ret));
			goto close_eventfd;
		}
	}
	*out = b;
	return 0;

close_eventfd:
	close(b->event_fd);
unmap_zeroes:
	munmap((void *)b->zero_buf, BLK_ZERO_BUF_SIZE);
close_file:
	if (b->fd >= 0)
		close(b->fd);
	free(b);
	return ret;
}

void blk_backend_close(struct blk_backend *b)
{
	if (!b)
		return;
	if (b->uring)
		blk_uring_close(b);
	close(b->event_fd);
	munmap((void *)b->zero_buf, BLK_ZERO_BUF_SIZE);
	close(b->fd);
	free(b);
}
