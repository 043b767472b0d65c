/* The memory file of a diff snapshot: only the RAM pages that changed
 * since its base snapshot, packed, with the list of where they go
 * (byte layout in docs/snapshots.md, "Diff memory file").
 *
 *   header (4 KiB, 80 bytes used): magic "KVMRDIF", version, RAM size,
 *       this snapshot's id, its base's id, extent count, data offset,
 *       data bytes, flags, CRC-32 of the extent table, CRC-32 of the
 *       data, CRC-32 of the header
 *   extent table at 4096: per run of pages, RAM offset u64 and length u64
 *   data at the next 4 KiB boundary: the runs' bytes, in table order
 *
 * Unlike a full memory file it is never mapped: a restore copies its
 * pages over the base's RAM, so its cost follows the diff's size and the
 * whole file can be checksummed. */
#ifndef KVMRUN_SNAPSHOT_MEMDIFF_H
#define KVMRUN_SNAPSHOT_MEMDIFF_H

#include <stddef.h>
#include <stdint.h>

struct guest_memory;
struct memfile_stats;

#define MEMDIFF_MAGIC   "KVMRDIF"   /* 8 bytes with its NUL */
#define MEMDIFF_VERSION 1
#define MEMDIFF_HEADER  4096        /* the extent table starts here */

struct memdiff_extent {
	uint64_t offset;    /* RAM offset, page aligned */
	uint64_t bytes;     /* whole pages, >= 1 */
};

/* An opened and checked diff file. */
struct memdiff {
	int fd;
	const char *path;           /* borrowed, for messages */
	uint64_t data_offset;
	uint64_t data_bytes;
	uint32_t data_crc;
	uint64_t nr_extents;
	struct memdiff_extent *extents;
};

/* Write the pages of `mem` whose bit is set in `dirty` (one bit per 4 KiB
 * page of RAM offset) to `path` atomically (temporary file, fsync,
 * rename). Returns 0 or -errno with a one-line reason in err. */
int memdiff_write(const char *path, const struct guest_memory *mem, const uint64_t *dirty,
		  uint64_t snapshot_id, uint64_t base_id, struct memfile_stats *stats, char *err,
		  size_t errlen);

/* Open `path` (borrowed until memdiff_close) and check it is the diff `snapshot_id` on `base_id` for
 * `ram_size` bytes of RAM: header, both checksums it can check without
 * the data, every extent inside RAM, in order, not overlapping, and the
 * file's length. Returns 0, or -EINVAL (mismatch, corruption) / -errno
 * (cannot read) with err set. */
int memdiff_open(struct memdiff *d, const char *path, uint64_t ram_size, uint64_t snapshot_id,
		 uint64_t base_id, char *err, size_t errlen);

/* Copy the diff's pages into RAM at `ram` and check the data checksum.
 * Returns 0, or -EINVAL (data corrupted) / -errno (read failed) with err
 * set; on failure RAM holds a partly applied diff. */
int memdiff_apply(const struct memdiff *d, uint8_t *ram, char *err, size_t errlen);

void memdiff_close(struct memdiff *d);

#endif
