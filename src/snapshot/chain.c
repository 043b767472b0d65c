/* Memory chains. See chain.h. */
#include "snapshot/chain.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "memory.h"
#include "snapshot/buf.h"
#include "snapshot/memfile.h"

int memory_chain_init(struct memory_chain *c)
{
	c->nr = 0;
	c->layers = calloc(MEMORY_CHAIN_MAX, sizeof(*c->layers));
	return c->layers ? 0 : -ENOMEM;
}

void memory_chain_free(struct memory_chain *c)
{
	free(c->layers);
	c->layers = NULL;
	c->nr = 0;
}

/* `path` made absolute against the current directory, so that a
 * restore from another directory finds the file. */
static int absolute(const char *path, char *out, size_t size)
{
	char cwd[PATH_MAX];
	int n;

	if (path[0] == '/') {
		n = snprintf(out, size, "%s", path);
	} else {
		if (!getcwd(cwd, sizeof(cwd)))
			return -errno;
		n = snprintf(out, size, "%s/%s", cwd, path);
	}
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int memory_chain_push(struct memory_chain *c, const char *path, uint64_t snapshot_id)
{
	int ret;

	if (c->nr >= MEMORY_CHAIN_MAX)
		return -E2BIG;
	ret = absolute(path, c->layers[c->nr].path, sizeof(c->layers[c->nr].path));
	if (ret < 0)
		return ret;
	c->layers[c->nr].snapshot_id = snapshot_id;
	c->nr++;
	return 0;
}

int memory_chain_set_path(struct memory_chain *c, unsigned layer, const char *path)
{
	if (layer >= c->nr)
		return -EINVAL;
	return absolute(path, c->layers[layer].path, sizeof(c->layers[layer].path));
}

void memory_chain_copy(struct memory_chain *dst, const struct memory_chain *src)
{
	dst->nr = src->nr;
	memcpy(dst->layers, src->layers, src->nr * sizeof(*src->layers));
}

void memory_chain_encode_base(const struct memory_chain *base, struct snap_buf *out)
{
	snap_buf_put_u32(out, base->nr);
	for (unsigned i = 0; i < base->nr; i++) {
		snap_buf_put_str(out, base->layers[i].path);
		snap_buf_put_u64(out, base->layers[i].snapshot_id);
	}
}

int memory_chain_decode_base(const uint8_t *data, size_t len, struct memory_chain *c, char *err,
			     size_t errlen)
{
	struct snap_cursor cur;
	uint32_t nr;

	snap_cursor_init(&cur, data, len);
	nr = snap_get_u32(&cur);
	/* The base leaves room for the diff itself on top. */
	if (nr == 0 || nr >= MEMORY_CHAIN_MAX) {
		snprintf(err, errlen, "section memory-base[0]: %u layers, expected 1..%d", nr,
			 MEMORY_CHAIN_MAX - 1);
		return -EINVAL;
	}
	for (uint32_t i = 0; i < nr && !cur.overrun; i++) {
		snap_get_str(&cur, c->layers[i].path, sizeof(c->layers[i].path));
		c->layers[i].snapshot_id = snap_get_u64(&cur);
		if (c->layers[i].path[0] != '/')
			cur.overrun = true;   /* written absolute */
	}
	if (!snap_cursor_done(&cur)) {
		snprintf(err, errlen, "section memory-base[0]: %zu bytes that do not decode", len);
		return -EINVAL;
	}
	c->nr = nr;
	return 0;
}

int memory_chain_open(const struct memory_chain *c, uint64_t ram_size,
		      struct memory_chain_files *f, char *err, size_t errlen)
{
	char inner[PATH_MAX + 256];
	int ret;

	f->base_fd = -1;
	f->nr_diffs = 0;
	if (c->nr == 0 || c->nr > MEMORY_CHAIN_MAX) {
		snprintf(err, errlen, "a chain of %u memory files", c->nr);
		return -EINVAL;
	}
	ret = memfile_open(c->layers[0].path, ram_size, c->layers[0].snapshot_id, inner,
			   sizeof(inner));
	if (ret < 0) {
		if (c->nr > 1)
			snprintf(err, errlen, "%s (the full snapshot this diff builds on; --base-memory-file names it if it moved)",
				 inner);
		else
			snprintf(err, errlen, "%s", inner);
		return ret;
	}
	f->base_fd = ret;
	for (unsigned i = 1; i < c->nr; i++) {
		ret = memdiff_open(&f->diffs[i - 1], c->layers[i].path, ram_size,
				   c->layers[i].snapshot_id, c->layers[i - 1].snapshot_id, err, errlen);
		if (ret < 0) {
			memory_chain_files_close(f);
			return ret;
		}
		f->nr_diffs = i;
	}
	return 0;
}

int memory_chain_apply(const struct memory_chain_files *f, struct guest_memory *mem,
		       uint64_t *bytes, char *err, size_t errlen)
{
	for (unsigned i = 0; i < f->nr_diffs; i++) {
		int ret = memdiff_apply(&f->diffs[i], mem->host, err, errlen);

		if (ret < 0)
			return ret;
		*bytes += f->diffs[i].data_bytes;
	}
	return 0;
}

void memory_chain_files_close(struct memory_chain_files *f)
{
	if (f->base_fd >= 0)
		close(f->base_fd);
	f->base_fd = -1;
	for (unsigned i = 0; i < f->nr_diffs; i++)
		memdiff_close(&f->diffs[i]);
	f->nr_diffs = 0;
}
