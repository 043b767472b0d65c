/* The guest memory file. See memfile.h. */
#include "snapshot/memfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "memory.h"
#include "snapshot/file_replace.h"
#include "snapshot/trust.h"

#define PAGE 4096u
#define WRITE_CHUNK (8u << 20)   /* bytes per pwrite: bounded syscalls */

struct memfile_header {
	char magic[8];
	uint32_t version;
	uint32_t header_size;         /* MEMFILE_DATA_OFFSET */
	uint64_t ram_size;
	uint64_t snapshot_id;
	uint64_t data_offset;         /* MEMFILE_DATA_OFFSET */
	uint64_t data_bytes;          /* informational: RAM bytes written */
	uint32_t flags;               /* none: 0 */
	uint32_t crc;                 /* CRC-32 of the bytes before it */
};

int memfile_pwrite_all(int fd, const void *data, uint64_t len, uint64_t off)
{
	const uint8_t *p = data;

	while (len) {
		size_t n = len > WRITE_CHUNK ? WRITE_CHUNK : (size_t)len;
		ssize_t done = pwrite(fd, p, n, (off_t)off);

		if (done < 0 && errno == EINTR)
			continue;
		if (done < 0)
			return -errno;
		p += done;
		off += (uint64_t)done;
		len -= (uint64_t)done;
	}
	return 0;
}

static int write_run(int fd, const struct guest_memory *mem, uint64_t from, uint64_t to,
		     struct memfile_stats *stats)
{
	stats->data_bytes += to - from;
	stats->extents++;
	return memfile_pwrite_all(fd, mem->host + from, to - from, MEMFILE_DATA_OFFSET + from);
}

/* The memfd knows which of its pages were ever written: SEEK_DATA and
 * SEEK_HOLE walk just those, so untouched RAM costs nothing. */
static int write_memfd_extents(int out, const struct guest_memory *mem, struct memfile_stats *stats)
{
	off_t pos = 0, size = (off_t)mem->size;

	while (pos < size) {
		off_t data = lseek(mem->fd, pos, SEEK_DATA), hole;
		int ret;

		if (data < 0 && errno == ENXIO)
			return 0;   /* no data after pos */
		if (data < 0)
			return -errno;
		hole = lseek(mem->fd, data, SEEK_HOLE);
		if (hole < 0)
			return -errno;
		if (hole > size)
			hole = size;
		ret = write_run(out, mem, (uint64_t)data, (uint64_t)hole, stats);
		if (ret < 0)
			return ret;
		pos = hole;
	}
	return 0;
}

static bool page_is_zero(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *)p;
	uint64_t acc = 0;

	for (unsigned i = 0; i < PAGE / 8; i++)
		acc |= w[i];
	return acc == 0;
}

/* Any other RAM (a restored guest's copy-on-write mapping, anonymous
 * memory): read it all, write the pages that are not zero. */
static int write_nonzero_pages(int out, const struct guest_memory *mem, struct memfile_stats *stats)
{
	uint64_t run = UINT64_MAX;

	for (uint64_t off = 0; off < mem->size; off += PAGE) {
		bool zero = page_is_zero(mem->host + off);
		int ret;

		if (!zero && run == UINT64_MAX)
			run = off;
		if (zero && run != UINT64_MAX) {
			ret = write_run(out, mem, run, off, stats);
			if (ret < 0)
				return ret;
			run = UINT64_MAX;
		}
	}
	return run == UINT64_MAX ? 0 : write_run(out, mem, run, mem->size, stats);
}

struct memfile_fill {
	const struct guest_memory *mem;
	struct memfile_header *hdr;
	struct memfile_stats *stats;
};

/* The length first (everything not written is a hole), the data, then
 * the header, whose CRC covers the data byte count. */
static int fill_memfile(int fd, void *ctx)
{
	struct memfile_fill *f = ctx;
	const struct guest_memory *mem = f->mem;
	int ret;

	if (ftruncate(fd, (off_t)(MEMFILE_DATA_OFFSET + mem->size)) < 0)
		return -errno;
	ret = mem->fd >= 0 && !mem->private_file ? write_memfd_extents(fd, mem, f->stats)
						 : write_nonzero_pages(fd, mem, f->stats);
	if (ret < 0)
		return ret;
	f->hdr->data_bytes = f->stats->data_bytes;
	f->hdr->crc = (uint32_t)crc32(0, (const Bytef *)f->hdr,
				      offsetof(struct memfile_header, crc));
	return memfile_pwrite_all(fd, f->hdr, sizeof(*f->hdr), 0);
}

int memfile_write(const char *path, const struct guest_memory *mem, uint64_t snapshot_id,
		  struct memfile_stats *stats, char *err, size_t errlen)
{
	struct memfile_header hdr = {
		.magic = MEMFILE_MAGIC,
		.version = MEMFILE_VERSION,
		.header_size = MEMFILE_DATA_OFFSET,
		.ram_size = mem->size,
		.snapshot_id = snapshot_id,
		.data_offset = MEMFILE_DATA_OFFSET,
	};
	struct memfile_fill f = { mem, &hdr, stats };

	memset(stats, 0, sizeof(*stats));
	return snap_file_replace(path, "the memory file", fill_memfile, &f, err, errlen);
}

int memfile_open(const char *path, uint64_t ram_size, uint64_t snapshot_id, char *err,
		 size_t errlen)
{
	struct memfile_header hdr;
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret = -EINVAL;

	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "memory file %s: %s", path, strerror(errno));
		return ret;
	}
	n = pread(fd, &hdr, sizeof(hdr), 0);
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		snprintf(err, errlen, "memory file %s: fstat: %s", path, strerror(errno));
	} else if (snap_file_check_trust(&st, "memory file", path, err, errlen) < 0) {
		/* Its pages become the guest's RAM (trust.h). */
		ret = -EPERM;
	} else if (n != (ssize_t)sizeof(hdr) || memcmp(hdr.magic, MEMFILE_MAGIC, sizeof(hdr.magic))) {
		snprintf(err, errlen, "memory file %s: not a kvmrun memory file (no KVMRMEM header)", path);
	} else if (hdr.version != MEMFILE_VERSION) {
		snprintf(err, errlen, "memory file %s: version %u, this kvmrun reads only version %d", path,
			 hdr.version, MEMFILE_VERSION);
	} else if ((uint32_t)crc32(0, (const Bytef *)&hdr, offsetof(struct memfile_header, crc)) != hdr.crc) {
		snprintf(err, errlen, "memory file %s: header checksum mismatch (corrupted file)", path);
	} else if (hdr.data_offset != MEMFILE_DATA_OFFSET || hdr.header_size != MEMFILE_DATA_OFFSET) {
		snprintf(err, errlen, "memory file %s: data at offset %llu, expected %d", path,
			 (unsigned long long)hdr.data_offset, MEMFILE_DATA_OFFSET);
	} else if (hdr.snapshot_id != snapshot_id) {
		snprintf(err, errlen, "memory file %s belongs to another snapshot (id %016llx, the state file's is %016llx)",
			 path, (unsigned long long)hdr.snapshot_id, (unsigned long long)snapshot_id);
	} else if (hdr.ram_size != ram_size) {
		snprintf(err, errlen, "memory file %s holds %llu MiB of RAM, the state file says %llu MiB",
			 path, (unsigned long long)(hdr.ram_size >> 20), (unsigned long long)(ram_size >> 20));
	} else if ((uint64_t)st.st_size != MEMFILE_DATA_OFFSET + ram_size) {
		snprintf(err, errlen, "memory file %s is %lld bytes, expected %llu (truncated or extended)",
			 path, (long long)st.st_size, (unsigned long long)(MEMFILE_DATA_OFFSET + ram_size));
	} else {
		return fd;
	}
	close(fd);
	return ret;
}
