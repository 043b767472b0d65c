#include "blk_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdatomic.h>
#include <linux/fs.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

/* Zeroes written where the file system cannot zero a range itself: an
 * anonymous read-only mapping, so it costs no memory (the zero page). */
#define ZERO_BUF_SIZE (1u << 20)

/* Request progress (blk_request.priv.phase). A request is a sequence of
 * host operations computed by request_next_io(); the sync and io_uring
 * paths run exactly the same sequence, so they cannot disagree. */
enum phase {
	PHASE_DATA,     /* READ/WRITE: preadv/pwritev until every byte moved */
	PHASE_RANGES,   /* DISCARD/WRITE_ZEROES: one range after another */
	PHASE_SYNC,     /* fdatasync: FLUSH, or after a writethrough write */
	PHASE_DONE,
};

/* How the current range is being handled (priv.method). */
enum range_method { METHOD_PUNCH, METHOD_ZERO_RANGE, METHOD_FILL };

enum io_kind { IO_READV, IO_WRITEV, IO_WRITE_ZEROES, IO_FALLOCATE, IO_FDATASYNC };

/* One host operation. */
struct blk_io {
	enum io_kind kind;
	off_t offset;
	uint64_t len;           /* IO_WRITE_ZEROES, IO_FALLOCATE */
	int mode;               /* IO_FALLOCATE */
	const struct iovec *iov;
	unsigned iovcnt;
};

struct blk_fifo {
	struct blk_request *head, *tail;
};

struct blk_backend {
	int fd;
	int event_fd;           /* readable when completions are ready */
	uint64_t capacity;      /* sectors */
	uint32_t block_size;
	bool read_only;
	bool regular_only;          /* blk_backend_options.regular_only */
	_Atomic bool writethrough;     /* set from vCPU threads (virtio config) */
	enum blk_cache_mode cache;
	uint8_t serial[BLK_ID_BYTES];
	/* Learnt from EOPNOTSUPP, so later requests skip the attempt. */
	bool no_punch_hole;
	bool no_zero_range;
	const uint8_t *zero_buf;

	bool uring;
	struct io_uring ring;
	unsigned in_kernel;     /* io_uring operations not yet completed */
	bool sqes_queued;       /* prepared SQEs not yet submitted */

	struct blk_fifo ready;  /* completed, callback not yet called */
	struct blk_fifo waiting;/* io_uring full: not yet started */
	unsigned in_flight;     /* submitted, callback not yet called */

	blk_complete_fn *complete;
	void *ctx;
	struct blk_backend_stats stats;
};

static void fifo_push(struct blk_fifo *f, struct blk_request *req)
{
	req->priv.next = NULL;
	if (f->tail)
		f->tail->priv.next = req;
	else
		f->head = req;
	f->tail = req;
}

static struct blk_request *fifo_pop(struct blk_fifo *f)
{
	struct blk_request *req = f->head;

	if (req) {
		f->head = req->priv.next;
		if (!f->head)
			f->tail = NULL;
	}
	return req;
}

static uint64_t range_bytes(const struct blk_range *r)
{
	return (uint64_t)r->nr_sectors << BLK_SECTOR_SHIFT;
}

/* sector + count within capacity, without overflow. */
static bool sectors_in_range(const struct blk_backend *b, uint64_t sector, uint64_t count)
{
	uint64_t end;

	return !__builtin_add_overflow(sector, count, &end) && end <= b->capacity;
}

/* Sum of the buffer lengths, or false on overflow. */
static bool iov_total(const struct iovec *iov, unsigned count, uint64_t *total)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < count; i++)
		if (__builtin_add_overflow(sum, (uint64_t)iov[i].iov_len, &sum))
			return false;
	*total = sum;
	return true;
}

static void request_fail(struct blk_request *req)
{
	req->status = BLK_STATUS_IOERR;
	req->priv.phase = PHASE_DONE;
}

static bool needs_sync_after_write(const struct blk_backend *b)
{
	return atomic_load_explicit(&b->writethrough, memory_order_relaxed) &&
	       b->cache != BLK_CACHE_UNSAFE;
}

static enum range_method first_method(const struct blk_backend *b, const struct blk_request *req,
				      const struct blk_range *r)
{
	if (req->op == BLK_OP_DISCARD || (r->unmap && !b->no_punch_hole))
		return METHOD_PUNCH;
	return b->no_zero_range ? METHOD_FILL : METHOD_ZERO_RANGE;
}

/* The next host operation of `req`, or false once it is finished. */
static bool request_next_io(struct blk_backend *b, struct blk_request *req, struct blk_io *io)
{
	for (;;) {
		switch ((enum phase)req->priv.phase) {
		case PHASE_DATA: {
			unsigned first = req->priv.iov_first;

			if (req->priv.done == req->priv.total) {
				bool sync = req->op == BLK_OP_WRITE && needs_sync_after_write(b);

				req->priv.phase = sync ? PHASE_SYNC : PHASE_DONE;
				continue;
			}
			while (first < req->iov_count && req->iov[first].iov_len == 0)
				first++;
			req->priv.iov_first = first;
			*io = (struct blk_io){
				.kind = req->op == BLK_OP_READ ? IO_READV : IO_WRITEV,
				.offset = (off_t)((req->sector << BLK_SECTOR_SHIFT) + req->priv.done),
				.iov = req->iov + first,
				.iovcnt = req->iov_count - first > IOV_MAX ? IOV_MAX
									   : req->iov_count - first,
			};
			return true;
		}
		case PHASE_RANGES: {
			const struct blk_range *r;
			enum range_method method;

			if (req->priv.range == req->nr_ranges) {
				bool sync = req->op == BLK_OP_WRITE_ZEROES && needs_sync_after_write(b);

				req->priv.phase = sync ? PHASE_SYNC : PHASE_DONE;
				continue;
			}
			r = &req->ranges[req->priv.range];
			if (req->priv.done == range_bytes(r)) {
				req->priv.range++;
				req->priv.done = 0;
				if (req->priv.range < req->nr_ranges)
					req->priv.method = first_method(b, req, &req->ranges[req->priv.range]);
				continue;
			}
			method = (enum range_method)req->priv.method;
			if (method == METHOD_PUNCH && req->op == BLK_OP_DISCARD && b->no_punch_hole) {
				/* Discard is advisory (virtio 1.2 §5.2.6.2: the
				 * device MAY deallocate): nothing to do here. */
				req->priv.done = range_bytes(r);
				continue;
			}
			if (method == METHOD_FILL) {
				uint64_t left = range_bytes(r) - req->priv.done;

				*io = (struct blk_io){
					.kind = IO_WRITE_ZEROES,
					.offset = (off_t)((r->sector << BLK_SECTOR_SHIFT) + req->priv.done),
					.len = left < ZERO_BUF_SIZE ? left : ZERO_BUF_SIZE,
				};
				return true;
			}
			*io = (struct blk_io){
				.kind = IO_FALLOCATE,
				.offset = (off_t)(r->sector << BLK_SECTOR_SHIFT),
				.len = range_bytes(r),
				.mode = method == METHOD_PUNCH ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
							       : FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
			};
			return true;
		}
		case PHASE_SYNC:
			*io = (struct blk_io){ .kind = IO_FDATASYNC };
			return true;
		case PHASE_DONE:
		default:
			return false;
		}
	}
}

/* Move the iov window past `bytes` transferred bytes. */
static void iov_advance(struct blk_request *req, uint64_t bytes)
{
	unsigned i = req->priv.iov_first;

	while (bytes && i < req->iov_count) {
		struct iovec *v = &req->iov[i];

		if (bytes >= v->iov_len) {
			bytes -= v->iov_len;
			v->iov_base = (uint8_t *)v->iov_base + v->iov_len;
			v->iov_len = 0;
			i++;
		} else {
			v->iov_base = (uint8_t *)v->iov_base + bytes;
			v->iov_len -= bytes;
			bytes = 0;
		}
	}
	req->priv.iov_first = i;
}

static bool is_unsupported(int64_t res)
{
	return res == -EOPNOTSUPP || res == -ENOSYS;
}

/* Apply the result of `io` (bytes, 0, or -errno) to the request. */
static void request_io_done(struct blk_backend *b, struct blk_request *req,
			    const struct blk_io *io, int64_t res)
{
	if (res == -EINTR || res == -EAGAIN)
		return;  /* the same operation again */
	switch (io->kind) {
	case IO_READV:
	case IO_WRITEV:
		/* 0 bytes with data left: the file shrank under us. */
		if (res <= 0 || (uint64_t)res > req->priv.total - req->priv.done) {
			request_fail(req);
			return;
		}
		req->priv.done += (uint64_t)res;
		if (io->kind == IO_READV)
			req->bytes_written += (uint32_t)res;
		iov_advance(req, (uint64_t)res);
		return;
	case IO_WRITE_ZEROES:
		if (res <= 0 || (uint64_t)res > io->len) {
			request_fail(req);
			return;
		}
		req->priv.done += (uint64_t)res;
		b->stats.zero_fill_bytes += (uint64_t)res;
		return;
	case IO_FALLOCATE:
		if (res == 0) {
			req->priv.done = io->len;
			return;
		}
		if (!is_unsupported(res)) {
			request_fail(req);
			return;
		}
		if (io->mode & FALLOC_FL_PUNCH_HOLE) {
			b->no_punch_hole = true;
			/* write zeroes falls back to zeroing; discard to nothing */
			if (req->op == BLK_OP_WRITE_ZEROES)
				req->priv.method = b->no_zero_range ? METHOD_FILL : METHOD_ZERO_RANGE;
		} else {
			b->no_zero_range = true;
			req->priv.method = METHOD_FILL;
		}
		return;
	case IO_FDATASYNC:
		b->stats.syncs++;
		if (res < 0)
			request_fail(req);
		else
			req->priv.phase = PHASE_DONE;
		return;
	}
}

static int64_t io_run_sync(struct blk_backend *b, const struct blk_io *io)
{
	ssize_t n;

	switch (io->kind) {
	case IO_READV:
		n = preadv(b->fd, io->iov, (int)io->iovcnt, io->offset);
		return n < 0 ? -errno : n;
	case IO_WRITEV:
		n = pwritev(b->fd, io->iov, (int)io->iovcnt, io->offset);
		return n < 0 ? -errno : n;
	case IO_WRITE_ZEROES:
		n = pwrite(b->fd, b->zero_buf, io->len, io->offset);
		return n < 0 ? -errno : n;
	case IO_FALLOCATE:
		return fallocate(b->fd, io->mode, io->offset, (off_t)io->len) < 0 ? -errno : 0;
	case IO_FDATASYNC:
		return fdatasync(b->fd) < 0 ? -errno : 0;
	}
	return -EINVAL;
}

static void io_prep_sqe(struct blk_backend *b, struct io_uring_sqe *sqe, const struct blk_io *io)
{
	switch (io->kind) {
	case IO_READV:
		io_uring_prep_readv(sqe, b->fd, io->iov, io->iovcnt, (uint64_t)io->offset);
		break;
	case IO_WRITEV:
		io_uring_prep_writev(sqe, b->fd, io->iov, io->iovcnt, (uint64_t)io->offset);
		break;
	case IO_WRITE_ZEROES:
		io_uring_prep_write(sqe, b->fd, b->zero_buf, (unsigned)io->len, (uint64_t)io->offset);
		break;
	case IO_FALLOCATE:
		io_uring_prep_fallocate(sqe, b->fd, io->mode, (uint64_t)io->offset, io->len);
		break;
	case IO_FDATASYNC:
		io_uring_prep_fsync(sqe, b->fd, IORING_FSYNC_DATASYNC);
		break;
	}
}

static void request_finish(struct blk_backend *b, struct blk_request *req)
{
	if (req->status == BLK_STATUS_IOERR)
		b->stats.errors++;
	fifo_push(&b->ready, req);
}

/* io_uring: queue the request's next operation, or finish it. What the
 * completion needs to know about the operation is kept in priv.io_*. */
static void uring_step(struct blk_backend *b, struct blk_request *req)
{
	struct io_uring_sqe *sqe;
	struct blk_io io;

	if (!request_next_io(b, req, &io)) {
		request_finish(b, req);
		return;
	}
	sqe = io_uring_get_sqe(&b->ring);
	if (!sqe) {
		/* The submission queue is full of prepared entries: hand them
		 * to the kernel to make room (in_kernel bounds the total). */
		io_uring_submit(&b->ring);
		sqe = io_uring_get_sqe(&b->ring);
	}
	if (!sqe) {
		request_fail(req);
		request_finish(b, req);
		return;
	}
	io_prep_sqe(b, sqe, &io);
	io_uring_sqe_set_data(sqe, req);
	req->priv.io_kind = (uint8_t)io.kind;
	req->priv.io_mode = io.mode;
	req->priv.io_len = io.len;
	b->in_kernel++;
	b->sqes_queued = true;
}

static void sync_run(struct blk_backend *b, struct blk_request *req)
{
	struct blk_io io;

	while (request_next_io(b, req, &io))
		request_io_done(b, req, &io, io_run_sync(b, &io));
	request_finish(b, req);
}

static void signal_ready(struct blk_backend *b)
{
	uint64_t one = 1;

	/* Fails only if the counter would overflow: then it is readable. */
	if (write(b->event_fd, &one, sizeof(one)) < 0)
		(void)0;
}

/* Check what can be checked before any I/O; false if `req` is finished. */
static bool request_validate(struct blk_backend *b, struct blk_request *req)
{
	uint64_t total;

	switch (req->op) {
	case BLK_OP_READ:
	case BLK_OP_WRITE:
		if (req->op == BLK_OP_WRITE && b->read_only)
			return false;
		/* Whole sectors only (virtio 1.2 §5.2.6.1), inside the image. */
		if (!iov_total(req->iov, req->iov_count, &total) || total % BLK_SECTOR_SIZE ||
		    !sectors_in_range(b, req->sector, total >> BLK_SECTOR_SHIFT))
			return false;
		req->priv.total = total;
		req->priv.phase = PHASE_DATA;
		return true;
	case BLK_OP_FLUSH:
		/* Nothing to make durable on a read-only image. */
		if (b->cache == BLK_CACHE_UNSAFE || b->read_only) {
			req->status = BLK_STATUS_OK;
			return false;
		}
		req->priv.phase = PHASE_SYNC;
		return true;
	case BLK_OP_GET_ID: {
		uint64_t copied = 0;

		for (unsigned i = 0; i < req->iov_count && copied < BLK_ID_BYTES; i++) {
			uint64_t n = req->iov[i].iov_len;

			if (n > BLK_ID_BYTES - copied)
				n = BLK_ID_BYTES - copied;
			memcpy(req->iov[i].iov_base, b->serial + copied, n);
			copied += n;
		}
		req->bytes_written = (uint32_t)copied;
		req->status = BLK_STATUS_OK;
		return false;
	}
	case BLK_OP_DISCARD:
	case BLK_OP_WRITE_ZEROES:
		if (b->read_only)
			return false;
		/* Every range is checked before any is touched, so a bad
		 * request changes nothing. */
		for (unsigned i = 0; i < req->nr_ranges; i++)
			if (!sectors_in_range(b, req->ranges[i].sector, req->ranges[i].nr_sectors))
				return false;
		req->priv.phase = PHASE_RANGES;
		if (req->nr_ranges)
			req->priv.method = first_method(b, req, &req->ranges[0]);
		return true;
	}
	req->status = BLK_STATUS_UNSUPP;
	return false;
}

void blk_backend_submit(struct blk_backend *b, struct blk_request *req)
{
	req->status = BLK_STATUS_IOERR;
	req->bytes_written = 0;
	memset(&req->priv, 0, sizeof(req->priv));
	b->stats.requests++;
	b->in_flight++;
	if (!request_validate(b, req)) {
		request_finish(b, req);
		signal_ready(b);
		return;
	}
	req->status = BLK_STATUS_OK;
	if (!b->uring) {
		sync_run(b, req);
		signal_ready(b);
		return;
	}
	if (b->in_kernel >= BLK_BACKEND_RING_ENTRIES) {
		fifo_push(&b->waiting, req);
		return;
	}
	uring_step(b, req);
	if (b->ready.head)
		signal_ready(b);
}

void blk_backend_unplug(struct blk_backend *b)
{
	if (b->uring && b->sqes_queued) {
		int ret = io_uring_submit(&b->ring);

		/* The kernel takes SQEs it could not start later (-EAGAIN,
		 * -EBUSY with a full CQ); they stay queued and the next
		 * unplug retries. Other errors cannot be recovered. */
		if (ret >= 0 || ret == -EAGAIN || ret == -EBUSY || ret == -EINTR)
			b->sqes_queued = ret < 0 || io_uring_sq_ready(&b->ring) > 0;
		else
			log_error("io_uring_submit: %s", strerror(-ret));
	}
}

unsigned blk_backend_process(struct blk_backend *b)
{
	struct io_uring_cqe *cqe;
	struct blk_request *req;
	unsigned completed = 0;
	uint64_t count;

	/* Reset the counter first: anything that arrives later rings again. */
	if (read(b->event_fd, &count, sizeof(count)) < 0)
		(void)0;  /* EAGAIN: nothing new */
	if (b->uring) {
		while (io_uring_peek_cqe(&b->ring, &cqe) == 0) {
			struct blk_io io;
			int res = cqe->res;

			req = io_uring_cqe_get_data(cqe);
			io_uring_cqe_seen(&b->ring, cqe);
			b->in_kernel--;
			io = (struct blk_io){ .kind = (enum io_kind)req->priv.io_kind,
					      .mode = req->priv.io_mode, .len = req->priv.io_len };
			request_io_done(b, req, &io, res);
			uring_step(b, req);
		}
		while (b->in_kernel < BLK_BACKEND_RING_ENTRIES && (req = fifo_pop(&b->waiting)))
			uring_step(b, req);
		blk_backend_unplug(b);
	}
	while ((req = fifo_pop(&b->ready))) {
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
	return b->ready.head || (b->uring && io_uring_cq_ready(&b->ring));
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

/* io_uring with every opcode we use (FALLOCATE and WRITE are 5.6). */
static int uring_init(struct blk_backend *b)
{
	static const int needed[] = { IORING_OP_READV, IORING_OP_WRITEV, IORING_OP_WRITE,
				      IORING_OP_FALLOCATE, IORING_OP_FSYNC };
	struct io_uring_probe *probe;
	int ret = io_uring_queue_init(BLK_BACKEND_RING_ENTRIES, &b->ring, 0);

	if (ret < 0)
		return ret;
	probe = io_uring_get_probe_ring(&b->ring);
	ret = probe ? 0 : -EOPNOTSUPP;
	for (size_t i = 0; probe && i < sizeof(needed) / sizeof(needed[0]); i++)
		if (!io_uring_opcode_supported(probe, needed[i]))
			ret = -EOPNOTSUPP;
	if (probe)
		io_uring_free_probe(probe);
	if (ret == 0)
		ret = io_uring_register_eventfd(&b->ring, b->event_fd);
	if (ret < 0) {
		io_uring_queue_exit(&b->ring);
		return ret;
	}
	b->uring = true;
	return 0;
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
	zeroes = mmap(NULL, ZERO_BUF_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
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
		ret = uring_init(b);
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
	munmap((void *)b->zero_buf, ZERO_BUF_SIZE);
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
	if (b->uring) {
		struct io_uring_cqe *cqe;

		/* The kernel may still be reading into or writing from the
		 * requests' buffers: wait for every operation it holds before
		 * the buffers (guest RAM) can go. Their callbacks are not run:
		 * the device is going away. */
		blk_backend_unplug(b);
		while (b->in_kernel && io_uring_wait_cqe(&b->ring, &cqe) == 0) {
			io_uring_cqe_seen(&b->ring, cqe);
			b->in_kernel--;
		}
		io_uring_queue_exit(&b->ring);
	}
	close(b->event_fd);
	munmap((void *)b->zero_buf, ZERO_BUF_SIZE);
	close(b->fd);
	free(b);
}
