/* What a block request becomes: checked against the image, then a sequence
 * of host operations (read/write, fallocate or zero-fill per range,
 * fdatasync) that either engine runs, one result at a time. */
#include "blk_backend_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>

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

void blk_request_fail(struct blk_request *req)
{
	req->status = BLK_STATUS_IOERR;
	req->priv.phase = PHASE_DONE;
}

static bool needs_sync_after_write(const struct blk_backend *b)
{
	return atomic_load_explicit(&b->writethrough, memory_order_relaxed) &&
	       b->cache != BLK_CACHE_UNSAFE;
}

static enum blk_range_method first_method(const struct blk_backend *b,
					  const struct blk_request *req, const struct blk_range *r)
{
	if (req->op == BLK_OP_DISCARD || (r->unmap && !b->no_punch_hole))
		return METHOD_PUNCH;
	return b->no_zero_range ? METHOD_FILL : METHOD_ZERO_RANGE;
}

bool blk_request_next_io(struct blk_backend *b, struct blk_request *req, struct blk_io *io)
{
	for (;;) {
		switch ((enum blk_phase)req->priv.phase) {
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
			enum blk_range_method method;

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
			method = (enum blk_range_method)req->priv.method;
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
					.len = left < BLK_ZERO_BUF_SIZE ? left : BLK_ZERO_BUF_SIZE,
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

void blk_request_io_done(struct blk_backend *b, struct blk_request *req,
			 const struct blk_io *io, int64_t res)
{
	if (res == -EINTR || res == -EAGAIN)
		return;  /* the same operation again */
	switch (io->kind) {
	case IO_READV:
	case IO_WRITEV:
		/* 0 bytes with data left: the file shrank under us. */
		if (res <= 0 || (uint64_t)res > req->priv.total - req->priv.done) {
			blk_request_fail(req);
			return;
		}
		req->priv.done += (uint64_t)res;
		if (io->kind == IO_READV)
			req->bytes_written += (uint32_t)res;
		iov_advance(req, (uint64_t)res);
		return;
	case IO_WRITE_ZEROES:
		if (res <= 0 || (uint64_t)res > io->len) {
			blk_request_fail(req);
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
			blk_request_fail(req);
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
			blk_request_fail(req);
		else
			req->priv.phase = PHASE_DONE;
		return;
	}
}

void blk_request_finish(struct blk_backend *b, struct blk_request *req)
{
	if (req->status == BLK_STATUS_IOERR)
		b->stats.errors++;
	blk_fifo_push(&b->ready, req);
}

bool blk_request_validate(struct blk_backend *b, struct blk_request *req)
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
