/* Private to virtio-blk (blk*.c): a request slot, and the parser that
 * turns a descriptor chain into the slot's back-end request.
 *
 *   blk.c        the device: queue notification, completion, used ring,
 *                configuration space, snapshots
 *   blk_parse.c  a chain into a back-end request (virtio 1.2 §5.2.6) */
#ifndef KVMRUN_VIRTIO_BLK_INTERNAL_H
#define KVMRUN_VIRTIO_BLK_INTERNAL_H

#include <sys/uio.h>

#include "virtio/blk.h"

/* One request in flight: the back-end request, where its status byte goes
 * and what to give back to the used ring. */
struct blk_slot {
	struct blk_request req;
	uint8_t *status;              /* host address of the chain's status byte */
	uint16_t head;
	uint32_t epoch;               /* the queue's epoch when popped */
	struct blk_slot *next_free;
	struct blk_range ranges[VIRTIO_BLK_MAX_DWZ_SEG];
	struct iovec iov[VIRTQ_MAX_SIZE];
};

/* What parsing decided for a chain. */
enum blk_parse_result {
	BLK_PARSE_SUBMIT,      /* a back-end request is ready in the slot */
	BLK_PARSE_COMPLETE,    /* refused: status set, nothing to do */
};

/* Turn a chain (with a status byte) into a back-end request in `slot`, or
 * refuse it with a status. The header is copied out of guest memory once
 * and only the copy is looked at. Framing (§2.7.4): no assumption about
 * how the driver split header, data and status into descriptors; the
 * readable bytes are header then data, the writable bytes data then the
 * status byte. */
enum blk_parse_result blk_parse_request(struct virtio_blk *blk, const struct virtq_chain *c,
					struct blk_slot *slot, enum blk_status *refuse);

#endif
