/* The memory files a snapshot's RAM is made of, and how a restore puts
 * them together (docs/snapshots.md, "Diff snapshots").
 *
 * A full snapshot has one layer: its memory file. A diff snapshot has a
 * full memory file at the bottom, then one diff memory file (memdiff.h)
 * per later snapshot, oldest first, the last being its own. Its state
 * file's MEMORY section names that last one; the MEMORY_BASE section
 * lists the ones below, each with the snapshot id its header must carry,
 * and each diff's header names the id of the layer below it, so a chain
 * that was taken apart and put back wrong is refused. */
#ifndef KVMRUN_SNAPSHOT_CHAIN_H
#define KVMRUN_SNAPSHOT_CHAIN_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "snapshot/memdiff.h"

struct guest_memory;
struct snap_buf;

/* A full memory file and at most 63 diffs on it: bounds what a restore
 * opens and copies. Once a chain is this long the next snapshot is
 * full again (series.c). */
#define MEMORY_CHAIN_MAX 64

struct memory_layer {
	char path[PATH_MAX];           /* absolute */
	uint64_t snapshot_id;
};

struct memory_chain {
	unsigned nr;
	struct memory_layer *layers;   /* [MEMORY_CHAIN_MAX]; [0] is the full one */
};

int memory_chain_init(struct memory_chain *c);   /* empty; 0 or -ENOMEM */
void memory_chain_free(struct memory_chain *c);

/* Append a layer; a relative path is made absolute against the current
 * directory. Returns 0, -E2BIG (chain full) or -ENAMETOOLONG. */
int memory_chain_push(struct memory_chain *c, const char *path, uint64_t snapshot_id);

/* Layer `layer` moved to `path` (made absolute). Returns 0, -EINVAL (no
 * such layer) or -ENAMETOOLONG. */
int memory_chain_set_path(struct memory_chain *c, unsigned layer, const char *path);

void memory_chain_copy(struct memory_chain *dst, const struct memory_chain *src);

/* The MEMORY_BASE payload of a diff whose base is `base` (every layer of
 * it): count u32, then per layer path (string) and snapshot id u64. */
void memory_chain_encode_base(const struct memory_chain *base, struct snap_buf *out);

/* The layers a MEMORY_BASE payload lists, into an empty chain. Returns 0
 * or -EINVAL with err set. */
int memory_chain_decode_base(const uint8_t *data, size_t len, struct memory_chain *c, char *err,
			     size_t errlen);

/* A chain's files, opened and checked for a restore. */
struct memory_chain_files {
	int base_fd;                   /* layer 0; -1 once the back-end took it */
	unsigned nr_diffs;
	struct memdiff diffs[MEMORY_CHAIN_MAX - 1];
};

/* Open every layer of `c` for `ram_size` bytes of RAM: the full file at
 * the bottom (memfile_open), each diff on the one below (memdiff_open).
 * Returns 0, or -EINVAL (missing, mismatched, corrupted) / -errno with
 * err set; nothing stays open on failure. `c` must outlive `f`. */
int memory_chain_open(const struct memory_chain *c, uint64_t ram_size,
		      struct memory_chain_files *f, char *err, size_t errlen);

/* Copy every diff, oldest first, over RAM that holds the bottom layer's
 * contents. Adds the bytes copied to *bytes. Returns 0, or -EINVAL /
 * -errno with err set. */
int memory_chain_apply(const struct memory_chain_files *f, struct guest_memory *mem,
		       uint64_t *bytes, char *err, size_t errlen);

void memory_chain_files_close(struct memory_chain_files *f);

#endif
