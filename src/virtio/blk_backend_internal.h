/* Private to the block back-end (blk_backend*.c): its state and the pieces
 * its two engines share.
 *
 *   blk_backend.c          open/close, submit and process, accessors
 *   blk_backend_request.c  what a request becomes: a sequence of host
 *                          operations (validation, next operation, result)
 *   blk_backend_uring.c    the io_uring engine: runs those operations async
 *   blk_backend_sync.c     the synchronous engine: runs them inline */
#ifndef KVMRUN_VIRTIO_BLK_BACKEND_INTERNAL_H
#define KVMRUN_VIRTIO_BLK_BACKEND_INTERNAL_H

#include <liburing.h>
#include <stdatomic.h>

#include "blk_backend.h"

/* Zeroes written where the file system cannot zero a range itself: an
 * anonymous read-only mapping, so it costs no memory (the zero page). */
#define BLK_ZERO_BUF_SIZE (1u << 20)

/* Request progress (blk_request.priv.phase). A request is a sequence of
 * host operations computed by blk_request_next_io(); the sync and io_uring
 * paths run exactly the same sequence, so they cannot disagree. */
enum blk_phase {
	PHASE_DATA,     /* READ/WRITE: preadv/pwritev until every byte moved */
	PHASE_RANGES,   /* DISCARD/WRITE_ZEROES: one range after another */
	PHASE_SYNC,     /* fdatasync: FLUSH, or after a writethrough write */
	PHASE_DONE,
};

/* How the current range is being handled (priv.method). */
enum blk_range_method { METHOD_PUNCH, METHOD_ZERO_RANGE, METHOD_FILL };

enum blk_io_kind { IO_READV, IO_WRITEV, IO_WRITE_ZEROES, IO_FALLOCATE, IO_FDATASYNC };

/* One host operation. */
struct blk_io {
	enum blk_io_kind kind;
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

static inline void blk_fifo_push(struct blk_fifo *f, struct blk_request *req)
{
	req->priv.next = NULL;
	if (f->tail)
		f->tail->priv.next = req;
	else
		f->head = req;
	f->tail = req;
}

static inline struct blk_request *blk_fifo_pop(struct blk_fifo *f)
{
	struct blk_request *req = f->head;

	if (req) {
		f->head = req->priv.next;
		if (!f->head)
			f->tail = NULL;
	}
	return req;
}

/* blk_backend_request.c */

/* Check what can be checked before any I/O; false if `req` is finished
 * (its status says how). */
bool blk_request_validate(struct blk_backend *b, struct blk_request *req);
/* The next host operation of `req`, or false once it is finished. */
bool blk_request_next_io(struct blk_backend *b, struct blk_request *req, struct blk_io *io);
/* Apply the result of `io` (bytes, 0, or -errno) to the request. */
void blk_request_io_done(struct blk_backend *b, struct blk_request *req,
			 const struct blk_io *io, int64_t res);
void blk_request_fail(struct blk_request *req);
/* Count the outcome and put `req` on the ready list for its callback. */
void blk_request_finish(struct blk_backend *b, struct blk_request *req);

/* blk_backend_sync.c */

/* Run every operation of `req` on this thread, then finish it. */
void blk_sync_run(struct blk_backend *b, struct blk_request *req);

/* blk_backend_uring.c */

/* Set up the ring (b->event_fd must be open); b->uring on success. */
int blk_uring_init(struct blk_backend *b);
/* Queue the first operation of `req`; false if the ring is full and `req`
 * waits for room (blk_uring_reap() starts it later). */
bool blk_uring_start(struct blk_backend *b, struct blk_request *req);
/* Hand the queued operations to the kernel. */
void blk_uring_unplug(struct blk_backend *b);
/* Take the kernel's completions, continue the requests and start waiting
 * ones; finished requests go to the ready list. */
void blk_uring_reap(struct blk_backend *b);
bool blk_uring_has_completions(struct blk_backend *b);
/* Wait for every operation the kernel holds, then free the ring. */
void blk_uring_close(struct blk_backend *b);

#endif
