/* The synchronous engine: each host operation of a request runs inline,
 * on the event-loop thread, where io_uring is unavailable or io=sync was
 * asked for. */
#include "blk_backend_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

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

void blk_sync_run(struct blk_backend *b, struct blk_request *req)
{
	struct blk_io io;

	while (blk_request_next_io(b, req, &io))
		blk_request_io_done(b, req, &io, io_run_sync(b, &io));
	blk_request_finish(b, req);
}
