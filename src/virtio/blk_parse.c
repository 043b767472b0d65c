/* virtio-blk requests (virtio 1.2 §5.2.6): a descriptor chain, read once
 * out of guest memory, into a back-end request or a refusal. */
#include "virtio/blk_internal.h"

#include <stddef.h>
#include <string.h>

_Static_assert(sizeof(struct virtio_blk_outhdr) == 16, "§5.2.6: the header is 16 bytes");
_Static_assert(sizeof(struct virtio_blk_dwz_seg) == 16, "§5.2.6: a segment is 16 bytes");

/* Copy the discard / write-zeroes segments out of guest memory (once:
 * the guest may rewrite them meanwhile) into slot->ranges. Returns the
 * status to fail with, or BLK_STATUS_OK. */
static enum blk_status parse_dwz(const struct virtq_chain *c, bool discard, struct blk_slot *slot)
{
	uint32_t data = c->out_len - sizeof(struct virtio_blk_outhdr);
	unsigned n = data / sizeof(struct virtio_blk_dwz_seg);
	enum blk_status status = BLK_STATUS_OK;

	/* §5.2.6.1: whole segments, at most max_*_seg of them, and the
	 * status byte the only writable byte. */
	if (c->in_len != 1 || data == 0 || data % sizeof(struct virtio_blk_dwz_seg) ||
	    n > VIRTIO_BLK_MAX_DWZ_SEG)
		return BLK_STATUS_IOERR;
	for (unsigned i = 0; i < n; i++) {
		struct virtio_blk_dwz_seg seg;

		virtq_chain_read(c, sizeof(struct virtio_blk_outhdr) + i * sizeof(seg), &seg,
				 sizeof(seg));
		/* §5.2.6.2: unknown flags, and unmap on a discard, are
		 * UNSUPP; that wins over any other problem. */
		if ((seg.flags & ~VIRTIO_BLK_WZ_FLAG_UNMAP) ||
		    (discard && (seg.flags & VIRTIO_BLK_WZ_FLAG_UNMAP)))
			return BLK_STATUS_UNSUPP;
		if (seg.num_sectors > VIRTIO_BLK_MAX_DWZ_SECTORS)
			status = BLK_STATUS_IOERR;
		slot->ranges[i] = (struct blk_range){ .sector = seg.sector,
						      .nr_sectors = seg.num_sectors,
						      .unmap = seg.flags & VIRTIO_BLK_WZ_FLAG_UNMAP };
	}
	slot->req.ranges = slot->ranges;
	slot->req.nr_ranges = n;
	return status;
}

enum blk_parse_result blk_parse_request(struct virtio_blk *blk, const struct virtq_chain *c,
					struct blk_slot *slot, enum blk_status *refuse)
{
	struct virtio_blk_outhdr hdr;
	struct blk_request *req = &slot->req;
	uint32_t data_in = c->in_len - 1;   /* writable bytes before the status */
	enum blk_status status = BLK_STATUS_IOERR;

	memset(req, 0, sizeof(*req));
	*refuse = BLK_STATUS_IOERR;
	/* A header that is not there (or not device-readable): there is a
	 * status byte to say so, so the device need not stop (docs). */
	if (c->out_len < sizeof(hdr))
		return BLK_PARSE_COMPLETE;
	virtq_chain_read(c, 0, &hdr, sizeof(hdr));

	switch (hdr.type) {
	case VIRTIO_BLK_T_IN:
		/* The data must be device-writable: no readable bytes after
		 * the header. */
		if (c->out_len != sizeof(hdr))
			return BLK_PARSE_COMPLETE;
		req->op = BLK_OP_READ;
		req->sector = hdr.sector;
		req->iov = slot->iov;
		req->iov_count = virtq_chain_iov(c, true, 0, data_in, slot->iov);
		return BLK_PARSE_SUBMIT;
	case VIRTIO_BLK_T_OUT:
		/* The data must be device-readable: only the status byte is
		 * writable. The back-end refuses it on a read-only disk. */
		if (c->in_len != 1)
			return BLK_PARSE_COMPLETE;
		req->op = BLK_OP_WRITE;
		req->sector = hdr.sector;
		req->iov = slot->iov;
		req->iov_count = virtq_chain_iov(c, false, sizeof(hdr), c->out_len - sizeof(hdr),
						 slot->iov);
		return BLK_PARSE_SUBMIT;
	case VIRTIO_BLK_T_FLUSH:
		/* §5.2.6.1: sector 0 and no data, both "SHOULD"-level for the
		 * driver; neither changes what a flush does, so neither is
		 * checked. Flushed even if FLUSH was not negotiated: it is
		 * harmless and what the driver asked for. */
		req->op = BLK_OP_FLUSH;
		return BLK_PARSE_SUBMIT;
	case VIRTIO_BLK_T_GET_ID:
		/* §5.2.6.1: 20 writable bytes; a larger buffer gets 20. */
		if (c->out_len != sizeof(hdr) || data_in < BLK_ID_BYTES)
			return BLK_PARSE_COMPLETE;
		req->op = BLK_OP_GET_ID;
		req->iov = slot->iov;
		req->iov_count = virtq_chain_iov(c, true, 0, BLK_ID_BYTES, slot->iov);
		return BLK_PARSE_SUBMIT;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES: {
		bool discard = hdr.type == VIRTIO_BLK_T_DISCARD;
		unsigned feature = discard ? VIRTIO_BLK_F_DISCARD : VIRTIO_BLK_F_WRITE_ZEROES;

		/* Not offered (read-only disk) or not taken: an unknown
		 * request type as far as this driver is concerned. */
		if (!virtio_mmio_has_feature(&blk->mmio, feature)) {
			*refuse = BLK_STATUS_UNSUPP;
			return BLK_PARSE_COMPLETE;
		}
		status = parse_dwz(c, discard, slot);
		if (status != BLK_STATUS_OK) {
			*refuse = status;
			return BLK_PARSE_COMPLETE;
		}
		req->op = discard ? BLK_OP_DISCARD : BLK_OP_WRITE_ZEROES;
		return BLK_PARSE_SUBMIT;
	}
	default:
		/* GET_LIFETIME, SECURE_ERASE, zoned commands, legacy SCSI and
		 * barrier bits: not offered, so unsupported (§5.2.6.2). */
		*refuse = BLK_STATUS_UNSUPP;
		return BLK_PARSE_COMPLETE;
	}
}
