/* The diff memory file. See memdiff.h. */
#include "snapshot/memdiff.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "memory.h"
#include "snapshot/dirty_bitmap.h"
#include "snapshot/memfile.h"
#include "snapshot/file_replace.h"
#include "snapshot/trust.h"

#define PAGE GUEST_MEMORY_DIRTY_PAGE
#define CRC_CHUNK (1u << 30)    /* zlib's crc32 takes a uInt length */
#define READ_CHUNK (8u << 20)   /* bytes per pread: bounded syscalls */

struct memdiff_header {
	char magic[8];
	uint32_t version;
	uint32_t header_size;      /* MEMDIFF_HEADER */
	uint64_t ram_size;
	uint64_t snapshot_id;
	uint64_t base_id;          /* the snapshot this diff applies on */
	uint64_t nr_extents;
	uint64_t data_offset;
	uint64_t data_bytes;
	uint32_t flags;            /* none: 0 */
	uint32_t table_crc;
	uint32_t data_crc;
	uint32_t crc;              /* CRC-32 of the bytes before it */
};

_Static_assert(sizeof(struct memdiff_header) == 80, "docs/snapshots.md: 80-byte header");

static uint32_t crc_more(uint32_t crc, const void *data, uint64_t len)
{
	const uint8_t *p = data;

	while (len) {
		uInt n = len > CRC_CHUNK ? CRC_CHUNK : (uInt)len;

		crc = (uint32_t)crc32(crc, p, n);
		p += n;
		len -= n;
	}
	return crc;
}

static uint64_t data_offset_for(uint64_t nr_extents)
{
	uint64_t table = nr_extents * sizeof(struct memdiff_extent);

	return MEMDIFF_HEADER + (table + PAGE - 1) / PAGE * PAGE;
}

/* The runs of dirty pages as byte extents. Returns the count, or -ENOMEM. */
static int64_t build_extents(const uint64_t *dirty, uint64_t pages, struct memdiff_extent **out)
{
	size_t n = dirty_bitmap_extents(dirty, pages, NULL, 0);
	struct dirty_extent *runs = calloc(n ? n : 1, sizeof(*runs));
	struct memdiff_extent *ext = calloc(n ? n : 1, sizeof(*ext));

	if (!runs || !ext) {
		free(runs);
		free(ext);
		return -ENOMEM;
	}
	dirty_bitmap_extents(dirty, pages, runs, n);
	for (size_t i = 0; i < n; i++)
		ext[i] = (struct memdiff_extent){ .offset = runs[i].first * PAGE,
						  .bytes = runs[i].pages * PAGE };
	free(runs);
	*out = ext;
	return (int64_t)n;
}

static int write_body(int fd, const struct guest_memory *mem, const struct memdiff_extent *ext,
		      uint64_t n, struct memdiff_header *hdr, struct memfile_stats *stats)
{
	uint64_t pos = hdr->data_offset, table = n * sizeof(*ext);
	uint32_t crc = (uint32_t)crc32(0, NULL, 0);
	int ret;

	/* The length first: the gap between table and data is a hole. */
	if (ftruncate(fd, (off_t)(hdr->data_offset + hdr->data_bytes)) < 0)
		return -errno;
	ret = memfile_pwrite_all(fd, ext, table, MEMDIFF_HEADER);
	if (ret < 0)
		return ret;
	hdr->table_crc = crc_more((uint32_t)crc32(0, NULL, 0), ext, table);
	for (uint64_t i = 0; i < n; i++) {
		ret = memfile_pwrite_all(fd, mem->host + ext[i].offset, ext[i].bytes, pos);
		if (ret < 0)
			return ret;
		crc = crc_more(crc, mem->host + ext[i].offset, ext[i].bytes);
		pos += ext[i].bytes;
		stats->data_bytes += ext[i].bytes;
		stats->extents++;
	}
	hdr->data_crc = crc;
	hdr->crc = (uint32_t)crc32(0, (const Bytef *)hdr, offsetof(struct memdiff_header, crc));
	return memfile_pwrite_all(fd, hdr, sizeof(*hdr), 0);
}

struct memdiff_fill {
	const struct guest_memory *mem;
	const struct memdiff_extent *ext;
	struct memdiff_header *hdr;
	struct memfile_stats *stats;
};

static int fill_memdiff(int fd, void *ctx)
{
	struct memdiff_fill *f = ctx;

	return write_body(fd, f->mem, f->ext, f->hdr->nr_extents, f->hdr, f->stats);
}

int memdiff_write(const char *path, const struct guest_memory *mem, const uint64_t *dirty,
		  uint64_t snapshot_id, uint64_t base_id, struct memfile_stats *stats, char *err,
		  size_t errlen)
{
	struct memdiff_header hdr = {
		.magic = MEMDIFF_MAGIC,
		.version = MEMDIFF_VERSION,
		.header_size = MEMDIFF_HEADER,
		.ram_size = mem->size,
		.snapshot_id = snapshot_id,
		.base_id = base_id,
	};
	struct memdiff_extent *ext = NULL;
	struct memdiff_fill f = { mem, NULL, &hdr, stats };
	int64_t n;
	int ret;

	memset(stats, 0, sizeof(*stats));
	n = build_extents(dirty, mem->size / PAGE, &ext);
	if (n < 0) {
		snprintf(err, errlen, "%s: out of memory for the extent table", path);
		return (int)n;
	}
	hdr.nr_extents = (uint64_t)n;
	hdr.data_offset = data_offset_for(hdr.nr_extents);
	for (int64_t i = 0; i < n; i++)
		hdr.data_bytes += ext[i].bytes;
	f.ext = ext;
	ret = snap_file_replace(path, "the diff memory file", fill_memdiff, &f, err, errlen);
	free(ext);
	return ret;
}

static int pread_all(int fd, void *data, uint64_t len, uint64_t off)
{
	uint8_t *p = data;

	while (len) {
		size_t n = len > READ_CHUNK ? READ_CHUNK : (size_t)len;
		ssize_t done = pread(fd, p, n, (off_t)off);

		if (done < 0 && errno == EINTR)
			continue;
		if (done < 0)
			return -errno;
		if (done == 0)
			return -ENODATA;   /* shorter than its header says */
		p += done;
		off += (uint64_t)done;
		len -= (uint64_t)done;
	}
	return 0;
}

static int bad(char *err, size_t errlen, const char *path, const char *what)
{
	snprintf(err, errlen, "diff memory file %s: %s", path, what);
	return -EINVAL;
}

/* Everything the header says about itself, and that it is the diff asked for. */
static int check_header(const struct memdiff_header *h, const char *path, uint64_t ram_size,
			uint64_t snapshot_id, uint64_t base_id, uint64_t file_size, char *err,
			size_t errlen)
{
	char what[256];

	if (memcmp(h->magic, MEMDIFF_MAGIC, sizeof(h->magic)))
		return bad(err, errlen, path, "not a kvmrun diff memory file (no KVMRDIF header)");
	if (h->version != MEMDIFF_VERSION) {
		snprintf(what, sizeof(what), "version %u, this kvmrun reads only version %d", h->version,
			 MEMDIFF_VERSION);
		return bad(err, errlen, path, what);
	}
	if ((uint32_t)crc32(0, (const Bytef *)h, offsetof(struct memdiff_header, crc)) != h->crc)
		return bad(err, errlen, path, "header checksum mismatch (corrupted file)");
	if (h->snapshot_id != snapshot_id) {
		snprintf(what, sizeof(what), "belongs to another snapshot (id %016llx, the state file's is %016llx)",
			 (unsigned long long)h->snapshot_id, (unsigned long long)snapshot_id);
		return bad(err, errlen, path, what);
	}
	if (h->base_id != base_id) {
		snprintf(what, sizeof(what), "applies on snapshot %016llx, but its base is %016llx",
			 (unsigned long long)h->base_id, (unsigned long long)base_id);
		return bad(err, errlen, path, what);
	}
	if (h->ram_size != ram_size) {
		snprintf(what, sizeof(what), "is for %llu MiB of RAM, the state file says %llu MiB",
			 (unsigned long long)(h->ram_size >> 20), (unsigned long long)(ram_size >> 20));
		return bad(err, errlen, path, what);
	}
	/* Each extent is at least a page, and two never touch: the count is
	 * bounded by half the pages, which also bounds the table's size. */
	if (h->header_size != MEMDIFF_HEADER || h->flags || h->nr_extents > (ram_size / PAGE + 1) / 2 ||
	    h->data_offset != data_offset_for(h->nr_extents) || h->data_bytes > ram_size)
		return bad(err, errlen, path, "inconsistent header fields");
	if (file_size != h->data_offset + h->data_bytes) {
		snprintf(what, sizeof(what), "is %llu bytes, expected %llu (truncated or extended)",
			 (unsigned long long)file_size,
			 (unsigned long long)(h->data_offset + h->data_bytes));
		return bad(err, errlen, path, what);
	}
	return 0;
}

/* Extents page aligned, inside RAM, increasing, not touching, adding up
 * to the data size. */
static int check_extents(const struct memdiff *d, uint64_t ram_size, const char *path, char *err,
			 size_t errlen)
{
	uint64_t end = 0, sum = 0;

	for (uint64_t i = 0; i < d->nr_extents; i++) {
		const struct memdiff_extent *e = &d->extents[i];

		if (e->offset % PAGE || e->bytes % PAGE || e->bytes == 0 || e->offset > ram_size ||
		    e->bytes > ram_size - e->offset || (i && e->offset <= end)) {
			char what[160];

			snprintf(what, sizeof(what), "extent %llu (0x%llx+0x%llx) is not a new run of whole pages inside RAM",
				 (unsigned long long)i, (unsigned long long)e->offset,
				 (unsigned long long)e->bytes);
			return bad(err, errlen, path, what);
		}
		end = e->offset + e->bytes;
		sum += e->bytes;
	}
	if (sum != d->data_bytes)
		return bad(err, errlen, path, "the extents do not add up to the data size");
	return 0;
}

int memdiff_open(struct memdiff *d, const char *path, uint64_t ram_size, uint64_t snapshot_id,
		 uint64_t base_id, char *err, size_t errlen)
{
	struct memdiff_header h;
	struct stat st;
	uint64_t table;
	int ret;

	memset(d, 0, sizeof(*d));
	d->path = path;
	d->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (d->fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "diff memory file %s: %s", path, strerror(errno));
		return ret;
	}
	if (fstat(d->fd, &st) < 0) {
		ret = -errno;
		snprintf(err, errlen, "diff memory file %s: fstat: %s", path, strerror(errno));
		goto close_file;
	}
	ret = snap_file_check_trust(&st, "diff memory file", path, err, errlen);
	if (ret < 0)
		goto close_file;
	ret = pread_all(d->fd, &h, sizeof(h), 0);
	if (ret < 0) {
		ret = bad(err, errlen, path, "not a kvmrun diff memory file (too short)");
		goto close_file;
	}
	ret = check_header(&h, path, ram_size, snapshot_id, base_id, (uint64_t)st.st_size, err, errlen);
	if (ret < 0)
		goto close_file;
	d->nr_extents = h.nr_extents;
	d->data_offset = h.data_offset;
	d->data_bytes = h.data_bytes;
	d->data_crc = h.data_crc;
	table = h.nr_extents * sizeof(struct memdiff_extent);
	d->extents = malloc(table ? table : 1);
	if (!d->extents) {
		ret = -ENOMEM;
		snprintf(err, errlen, "diff memory file %s: out of memory", path);
		goto close_file;
	}
	ret = pread_all(d->fd, d->extents, table, MEMDIFF_HEADER);
	if (ret < 0) {
		snprintf(err, errlen, "diff memory file %s: reading the extent table: %s", path,
			 strerror(-ret));
		goto close_file;
	}
	if (crc_more((uint32_t)crc32(0, NULL, 0), d->extents, table) != h.table_crc) {
		ret = bad(err, errlen, path, "extent table checksum mismatch (corrupted file)");
		goto close_file;
	}
	ret = check_extents(d, ram_size, path, err, errlen);
	if (ret < 0)
		goto close_file;
	return 0;

close_file:
	memdiff_close(d);
	return ret;
}

int memdiff_apply(const struct memdiff *d, uint8_t *ram, char *err, size_t errlen)
{
	uint64_t pos = d->data_offset;
	uint32_t crc = (uint32_t)crc32(0, NULL, 0);

	for (uint64_t i = 0; i < d->nr_extents; i++) {
		const struct memdiff_extent *e = &d->extents[i];
		int ret = pread_all(d->fd, ram + e->offset, e->bytes, pos);

		if (ret < 0) {
			snprintf(err, errlen, "diff memory file %s: reading extent %llu: %s", d->path,
				 (unsigned long long)i, strerror(-ret));
			return ret;
		}
		crc = crc_more(crc, ram + e->offset, e->bytes);
		pos += e->bytes;
	}
	if (crc != d->data_crc) {
		snprintf(err, errlen, "diff memory file %s: data checksum mismatch (corrupted file)",
			 d->path);
		return -EINVAL;
	}
	return 0;
}

void memdiff_close(struct memdiff *d)
{
	if (d->fd >= 0)
		close(d->fd);
	free(d->extents);
	memset(d, 0, sizeof(*d));
	d->fd = -1;
}
