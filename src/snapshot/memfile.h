/* The guest memory file: a 4 KiB header, then guest RAM as one linear
 * image (RAM offset o, which is how struct guest_memory lays RAM out, at
 * file offset 4096 + o). The file is sparse: RAM the guest never touched
 * (or that is all zeroes) is a hole, so it costs neither disk nor write
 * time. A restore maps it from offset 4096 (guest_memory_map_file) or
 * serves it page by page (userfaultfd).
 *
 * The header ties the file to its state file (a random snapshot id both
 * record) and states the RAM size, so a memory file from another snapshot
 * or of another size is refused before anything maps it. */
#ifndef KVMRUN_SNAPSHOT_MEMFILE_H
#define KVMRUN_SNAPSHOT_MEMFILE_H

#include <stddef.h>
#include <stdint.h>

struct guest_memory;
struct snap_timing;

#define MEMFILE_MAGIC       "KVMRMEM"   /* 8 bytes with its NUL */
#define MEMFILE_VERSION     1
#define MEMFILE_DATA_OFFSET 4096        /* RAM starts here: page aligned for mmap */

struct memfile_stats {
	uint64_t data_bytes;     /* RAM bytes written (the rest are holes) */
	uint64_t extents;        /* runs of data written */
};

/* Write all of `mem` to `path` atomically (temporary file, fsync, rename).
 * Returns 0 or -errno with a one-line reason in err. */
int memfile_write(const char *path, const struct guest_memory *mem, uint64_t snapshot_id,
		  struct memfile_stats *stats, char *err, size_t errlen);

/* Open `path` for a restore and check its header against what the state
 * file says (RAM size, snapshot id) and its length. Returns the fd, or
 * -EINVAL (mismatch, corruption) / -errno (cannot open) with err set. */
int memfile_open(const char *path, uint64_t ram_size, uint64_t snapshot_id, char *err,
		 size_t errlen);

/* pwrite(2) all `len` bytes, in bounded chunks, retrying on EINTR and
 * short writes. Returns 0 or -errno. */
int memfile_pwrite_all(int fd, const void *data, uint64_t len, uint64_t off);

#endif
