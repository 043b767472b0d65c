/* Snapshot payload buffers. See buf.h. */
#include "snapshot/buf.h"

#include <stdlib.h>
#include <string.h>

void snap_buf_init(struct snap_buf *b)
{
	*b = (struct snap_buf){ 0 };
}

void snap_buf_free(struct snap_buf *b)
{
	free(b->data);
	*b = (struct snap_buf){ 0 };
}

void *snap_buf_put(struct snap_buf *b, const void *data, size_t len)
{
	void *at;

	if (b->failed)
		return NULL;
	if (len > b->cap - b->len) {
		size_t cap = b->cap ? b->cap : 4096;
		uint8_t *grown;

		while (cap - b->len < len) {
			if (cap > SIZE_MAX / 2) {
				b->failed = true;
				return NULL;
			}
			cap *= 2;
		}
		grown = realloc(b->data, cap);
		if (!grown) {
			b->failed = true;
			return NULL;
		}
		b->data = grown;
		b->cap = cap;
	}
	at = b->data + b->len;
	if (len)
		memcpy(at, data, len);
	b->len += len;
	return at;
}

void snap_buf_put_u8(struct snap_buf *b, uint8_t v)
{
	snap_buf_put(b, &v, 1);
}

void snap_buf_put_u16(struct snap_buf *b, uint16_t v)
{
	snap_buf_put(b, &v, 2);
}

void snap_buf_put_u32(struct snap_buf *b, uint32_t v)
{
	snap_buf_put(b, &v, 4);
}

void snap_buf_put_u64(struct snap_buf *b, uint64_t v)
{
	snap_buf_put(b, &v, 8);
}

void snap_buf_put_str(struct snap_buf *b, const char *s)
{
	size_t len = strlen(s);

	snap_buf_put_u32(b, (uint32_t)len);
	snap_buf_put(b, s, len);
}

void snap_get(struct snap_cursor *c, void *out, size_t len)
{
	if (c->overrun || len > c->len - c->off) {
		c->overrun = true;
		memset(out, 0, len);
		return;
	}
	memcpy(out, c->data + c->off, len);
	c->off += len;
}

uint8_t snap_get_u8(struct snap_cursor *c)
{
	uint8_t v;

	snap_get(c, &v, 1);
	return v;
}

uint16_t snap_get_u16(struct snap_cursor *c)
{
	uint16_t v;

	snap_get(c, &v, 2);
	return v;
}

uint32_t snap_get_u32(struct snap_cursor *c)
{
	uint32_t v;

	snap_get(c, &v, 4);
	return v;
}

uint64_t snap_get_u64(struct snap_cursor *c)
{
	uint64_t v;

	snap_get(c, &v, 8);
	return v;
}

void snap_get_str(struct snap_cursor *c, char *out, size_t size)
{
	uint32_t len = snap_get_u32(c);

	out[0] = '\0';
	if (c->overrun || len >= size || len > c->len - c->off) {
		c->overrun = true;
		return;
	}
	memcpy(out, c->data + c->off, len);
	out[len] = '\0';
	c->off += len;
	if (strlen(out) != len)
		c->overrun = true;  /* a NUL inside: not a string we wrote */
}
