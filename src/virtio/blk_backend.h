/* A disk image for the block device: a raw file (or a host block device)
 * read and written in 512-byte sectors, asynchronously through io_uring or,
 * where io_uring is unavailable, synchronously on the calling thread.
 *
 * Nothing here knows about virtio: a request is {operation, sector, data
 * buffers or ranges} in and a status out. Every request is checked against
 * the capacity here, with overflow-safe arithmetic, so a caller cannot get
 * an access outside the image past this module (docs/virtio-blk.md).
 *
 * Threading: one thread (the event loop) calls everything. Completions are
 * never delivered from inside blk_backend_submit(): they are delivered by
 * blk_backend_process(), which the owner calls when blk_backend_fd() is
 * readable. Submission never blocks in io_uring mode; in sync mode the I/O
 * runs inside blk_backend_submit() (still on the event-loop thread, never
 * on a vCPU thread). */
#ifndef KVMRUN_VIRTIO_BLK_BACKEND_H
#define KVMRUN_VIRTIO_BLK_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#define BLK_SECTOR_SHIFT 9
#define BLK_SECTOR_SIZE  (1u << BLK_SECTOR_SHIFT)
#define BLK_ID_BYTES     20   /* virtio 1.2 §5.2.6: the device ID string */

/* Requests in flight in the kernel at once; more wait in a FIFO. */
#define BLK_BACKEND_RING_ENTRIES 128

enum blk_op {
	BLK_OP_READ,
	BLK_OP_WRITE,
	BLK_OP_FLUSH,          /* make completed writes durable */
	BLK_OP_GET_ID,         /* the 20-byte serial into iov */
	BLK_OP_DISCARD,        /* ranges: deallocate (advisory) */
	BLK_OP_WRITE_ZEROES,   /* ranges: read back as zeroes afterwards */
};

enum blk_status {
	BLK_STATUS_OK,
	BLK_STATUS_IOERR,      /* out of range, partial sector, read-only, host I/O error */
	BLK_STATUS_UNSUPP,     /* an operation this backend does not know */
};

/* What happens on BLK_OP_FLUSH and, in writethrough mode, after writes. */
enum blk_cache_mode {
	BLK_CACHE_WRITEBACK,   /* host page cache; flush = fdatasync (durable) */
	BLK_CACHE_UNSAFE,      /* flush is a no-op: a host crash loses data */
};

enum blk_io_mode {
	BLK_IO_AUTO,           /* io_uring if it initialises, else sync */
	BLK_IO_URING,          /* io_uring or fail */
	BLK_IO_SYNC,           /* preadv/pwritev/fallocate/fdatasync inline */
};

struct blk_backend_options {
	bool read_only;
	enum blk_cache_mode cache;
	enum blk_io_mode io;
	const char *serial;    /* NULL: derived from the file's device and inode */
	bool regular_only;     /* refuse block devices (a restore: the state file named it) */
};

/* A discard or write-zeroes range, already copied out of guest memory. */
struct blk_range {
	uint64_t sector;
	uint32_t nr_sectors;
	bool unmap;            /* write zeroes: deallocating is allowed */
};

struct blk_request;
typedef void blk_complete_fn(void *ctx, struct blk_request *req);

/* Owned by the caller and untouched by it from submit until the completion
 * callback. The backend advances `iov` in place (base and length, not the
 * data) when the kernel transfers less than asked. */
struct blk_request {
	enum blk_op op;
	uint64_t sector;              /* READ, WRITE */
	struct iovec *iov;            /* READ, WRITE, GET_ID */
	unsigned iov_count;
	const struct blk_range *ranges;  /* DISCARD, WRITE_ZEROES */
	unsigned nr_ranges;

	enum blk_status status;       /* set before the completion callback */
	uint32_t bytes_written;       /* bytes stored into iov (READ, GET_ID) */

	/* Backend-private progress. */
	struct {
		uint64_t total;           /* READ/WRITE: bytes to move */
		uint64_t done;            /* bytes moved (data) or of the current range */
		unsigned range;           /* current range index */
		unsigned iov_first;       /* first iov element not yet finished */
		uint8_t phase;
		uint8_t method;           /* how the current range is handled */
		uint8_t io_kind;          /* the operation the kernel holds (io_uring) */
		int io_mode;
		uint64_t io_len;
		struct blk_request *next; /* ready list / wait list */
	} priv;
};

struct blk_backend_stats {
	uint64_t requests;
	uint64_t syncs;               /* fdatasync calls issued */
	uint64_t errors;              /* requests completed with IOERR */
	uint64_t zero_fill_bytes;     /* zeroes written where fallocate could not */
};

struct blk_backend;

/* Open `path` (O_RDWR, or O_RDONLY for read_only) as a disk: a regular file
 * or a block device whose size is at least one sector. The file is locked
 * (flock: exclusive, shared for read-only) so two VMs cannot write one image.
 * On failure returns -errno with a one-line reason naming the path in err. */
int blk_backend_open(struct blk_backend **out, const char *path,
		     const struct blk_backend_options *opts, char *err, size_t errlen);
/* Waits for the operations the kernel still holds (their buffers must stay
 * valid until then); their completions are not delivered. NULL is a no-op. */
void blk_backend_close(struct blk_backend *b);

/* Who hears about completions: set before the first submit. */
void blk_backend_set_completion(struct blk_backend *b, blk_complete_fn *complete, void *ctx);

uint64_t blk_backend_capacity(const struct blk_backend *b);   /* sectors */
bool blk_backend_read_only(const struct blk_backend *b);
bool blk_backend_uses_uring(const struct blk_backend *b);
/* Preferred I/O size of the file system (st_blksize), a power of two >= 512. */
uint32_t blk_backend_block_size(const struct blk_backend *b);
/* Copy the 20-byte serial (NUL-padded, not NUL-terminated when 20 long). */
void blk_backend_serial(const struct blk_backend *b, uint8_t out[BLK_ID_BYTES]);
const struct blk_backend_stats *blk_backend_stats(const struct blk_backend *b);

/* Writethrough: every write is made durable (fdatasync) before it
 * completes — what virtio asks when the driver did not take the FLUSH
 * feature or turned the write cache off. Ignored with BLK_CACHE_UNSAFE.
 * Safe from any thread (a write in flight may see either setting). */
void blk_backend_set_writethrough(struct blk_backend *b, bool on);

/* Start `req`. Its completion is delivered by a later blk_backend_process().
 * Queued io_uring work reaches the kernel at blk_backend_unplug() (or when
 * the submission queue fills), so callers batch: submit several, unplug. */
void blk_backend_submit(struct blk_backend *b, struct blk_request *req);
void blk_backend_unplug(struct blk_backend *b);

/* Readable (EPOLLIN) when completions are waiting. */
int blk_backend_fd(const struct blk_backend *b);

/* Deliver every completion that is ready, through the callback; continue
 * multi-step requests. Returns the number of requests completed. */
unsigned blk_backend_process(struct blk_backend *b);

/* Whether blk_backend_process() would deliver something now (io_uring
 * completions already posted, e.g. reads the kernel served from the page
 * cache during the submission), without waiting for the fd. */
bool blk_backend_has_completions(struct blk_backend *b);

/* Requests submitted and not yet completed. */
unsigned blk_backend_in_flight(const struct blk_backend *b);

#endif
