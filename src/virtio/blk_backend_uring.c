/* The io_uring engine: each host operation of a request becomes one SQE;
 * its completion computes the next. At most BLK_BACKEND_RING_ENTRIES
 * operations are in the kernel; further requests wait in a FIFO. The ring
 * signals the back-end's eventfd when completions are posted. */
#include "blk_backend_internal.h"

#include <errno.h>
#include <string.h>

#include "log.h"

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

/* Queue the request's next operation, or finish it. What the
 * completion needs to know about the operation is kept in priv.io_*. */
static void uring_step(struct blk_backend *b, struct blk_request *req)
{
	struct io_uring_sqe *sqe;
	struct blk_io io;

	if (!blk_request_next_io(b, req, &io)) {
		blk_request_finish(b, req);
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
		blk_request_fail(req);
		blk_request_finish(b, req);
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

bool blk_uring_start(struct blk_backend *b, struct blk_request *req)
{
	if (b->in_kernel >= BLK_BACKEND_RING_ENTRIES) {
		blk_fifo_push(&b->waiting, req);
		return false;
	}
	uring_step(b, req);
	return true;
}

void blk_uring_unplug(struct blk_backend *b)
{
	if (b->sqes_queued) {
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

void blk_uring_reap(struct blk_backend *b)
{
	struct io_uring_cqe *cqe;
	struct blk_request *req;

	while (io_uring_peek_cqe(&b->ring, &cqe) == 0) {
		struct blk_io io;
		int res = cqe->res;

		req = io_uring_cqe_get_data(cqe);
		io_uring_cqe_seen(&b->ring, cqe);
		b->in_kernel--;
		io = (struct blk_io){ .kind = (enum blk_io_kind)req->priv.io_kind,
				      .mode = req->priv.io_mode, .len = req->priv.io_len };
		blk_request_io_done(b, req, &io, res);
		uring_step(b, req);
	}
	while (b->in_kernel < BLK_BACKEND_RING_ENTRIES && (req = blk_fifo_pop(&b->waiting)))
		uring_step(b, req);
	blk_uring_unplug(b);
}

bool blk_uring_has_completions(struct blk_backend *b)
{
	return io_uring_cq_ready(&b->ring);
}

/* io_uring with every opcode we use (FALLOCATE and WRITE are 5.6). */
int blk_uring_init(struct blk_backend *b)
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

void blk_uring_close(struct blk_backend *b)
{
	struct io_uring_cqe *cqe;

	/* The kernel may still be reading into or writing from the
	 * requests' buffers: wait for every operation it holds before
	 * the buffers (guest RAM) can go. Their callbacks are not run:
	 * the device is going away. */
	blk_uring_unplug(b);
	while (b->in_kernel && io_uring_wait_cqe(&b->ring, &cqe) == 0) {
		io_uring_cqe_seen(&b->ring, cqe);
		b->in_kernel--;
	}
	io_uring_queue_exit(&b->ring);
}
