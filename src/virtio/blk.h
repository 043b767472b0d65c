/* virtio-blk (virtio 1.2 §5.2): a disk image behind a virtio-mmio window.
 *
 * One request queue. The transport calls blk_queue_notify() on the event-
 * loop thread; each chain becomes a blk_backend request (blk_backend.h),
 * many in flight at once, completed asynchronously on the same thread when
 * the back-end's fd is readable. What is refused how (status byte vs.
 * DEVICE_NEEDS_RESET) is in docs/virtio-blk.md. */
#ifndef KVMRUN_VIRTIO_BLK_H
#define KVMRUN_VIRTIO_BLK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtio/blk_backend.h"
#include "virtio/idle_poll.h"
#include "virtio/mmio.h"
#include "virtio/queue.h"

/* Feature bits (§5.2.3). */
#define VIRTIO_BLK_F_SIZE_MAX     1
#define VIRTIO_BLK_F_SEG_MAX      2
#define VIRTIO_BLK_F_RO           5
#define VIRTIO_BLK_F_BLK_SIZE     6
#define VIRTIO_BLK_F_FLUSH        9
#define VIRTIO_BLK_F_TOPOLOGY     10
#define VIRTIO_BLK_F_CONFIG_WCE   11
#define VIRTIO_BLK_F_DISCARD      13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

/* Request types (§5.2.6). */
#define VIRTIO_BLK_T_IN           0
#define VIRTIO_BLK_T_OUT          1
#define VIRTIO_BLK_T_FLUSH        4
#define VIRTIO_BLK_T_GET_ID       8
#define VIRTIO_BLK_T_DISCARD      11
#define VIRTIO_BLK_T_WRITE_ZEROES 13

/* Status byte values (§5.2.6). */
#define VIRTIO_BLK_S_OK     0
#define VIRTIO_BLK_S_IOERR  1
#define VIRTIO_BLK_S_UNSUPP 2

/* discard / write-zeroes segment flags (§5.2.6). */
#define VIRTIO_BLK_WZ_FLAG_UNMAP 1u

#define VIRTIO_BLK_QUEUE_SIZE   VIRTQ_MAX_SIZE
/* Data segments per request: the queue size less header and status. */
#define VIRTIO_BLK_SEG_MAX      (VIRTQ_MAX_SIZE - 2)
/* Ranges per discard / write-zeroes request, and sectors per range. */
#define VIRTIO_BLK_MAX_DWZ_SEG  32
#define VIRTIO_BLK_MAX_DWZ_SECTORS (1u << 22)   /* 2 GiB */

/* The request header (§5.2.6), as read from the chain. */
struct virtio_blk_outhdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

/* One discard / write-zeroes segment (§5.2.6). */
struct virtio_blk_dwz_seg {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
};

/* Device configuration space (§5.2.4), up to write_zeroes_may_unmap and
 * its padding: the secure-erase and zoned fields belong to features we do
 * not offer. Little-endian, as x86 is. */
struct virtio_blk_config {
	uint64_t capacity;
	uint32_t size_max;
	uint32_t seg_max;
	uint16_t cylinders;
	uint8_t heads;
	uint8_t sectors;
	uint32_t blk_size;
	uint8_t physical_block_exp;
	uint8_t alignment_offset;
	uint16_t min_io_size;
	uint32_t opt_io_size;
	uint8_t writeback;
	uint8_t unused0;
	uint16_t num_queues;
	uint32_t max_discard_sectors;
	uint32_t max_discard_seg;
	uint32_t discard_sector_alignment;
	uint32_t max_write_zeroes_sectors;
	uint32_t max_write_zeroes_seg;
	uint8_t write_zeroes_may_unmap;
	uint8_t unused1[3];
} __attribute__((packed));

#define VIRTIO_BLK_CONFIG_WRITEBACK 32   /* offset of `writeback` */

struct blk_slot;

struct virtio_blk {
	struct virtio_mmio mmio;
	/* virtio_blk_ops with this disk's feature bits (RO, DISCARD...). */
	struct virtio_device_ops ops;
	struct blk_backend *backend;
	const char *name;                /* for messages: the image path */
	struct virtio_blk_config config;

	/* Under the device lock (vCPU threads: config space, activate). */
	bool writeback_written;          /* the driver wrote `writeback` */
	uint8_t writeback;

	/* Event-loop thread only (queue_notify, completions). */
	struct blk_slot *slots;          /* VIRTIO_BLK_QUEUE_SIZE of them */
	struct blk_slot *free_slots;
	unsigned nr_free;
	struct blk_slot *done;           /* completed, not yet pushed */
	struct blk_slot **done_tail;
	bool stalled;                    /* chains left in the ring: no free slot */
	bool polling;                    /* virtio_blk_process will poll the ring */
	struct idle_poll poll;
	struct virtq_chain chain;        /* scratch for virtq_pop */

	bool attached;
	struct event_loop *loop;
	uint64_t requests;               /* statistics */
	uint64_t bad_requests;           /* completed IOERR/UNSUPP without I/O */
};

/* Set up the device around an open image (window `base`, interrupt `gsi`,
 * queues over `mem`), not yet visible to the guest. The device owns
 * `backend` from here on, also when this fails. `name` (the image path)
 * names the disk in messages and must outlive the device. Returns 0 or
 * -errno (logged). */
int virtio_blk_init(struct virtio_blk *blk, const struct guest_memory *mem, uint64_t base,
		    unsigned gsi, struct blk_backend *backend, const char *name);

/* Map the window, bind ioeventfd/irqfd, watch the queue and the back-end's
 * completions on `loop`. Before the vCPUs start. Returns 0 or -errno. */
int virtio_blk_attach(struct virtio_blk *blk, struct vm *vm, struct event_loop *loop);

/* Service back-end completions (what the loop does when its fd is
 * readable; tests call it directly). */
void virtio_blk_process(struct virtio_blk *blk);

void virtio_blk_destroy(struct virtio_blk *blk);

#endif
