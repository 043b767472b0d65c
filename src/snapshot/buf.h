/* Byte buffers for snapshot payloads: a growable buffer to append to and a
 * bounded cursor to read from. Every payload is little-endian (kvmrun is
 * x86-64 only, so integers are copied as they are).
 *
 * The cursor never reads past its end: a read that does not fit returns
 * zeroes and latches `overrun`, so a decoder reads every field and checks
 * once at the end (snap_cursor_done) instead of after each field. */
#ifndef KVMRUN_SNAPSHOT_BUF_H
#define KVMRUN_SNAPSHOT_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct snap_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	bool failed;           /* an allocation failed: everything after is lost */
};

void snap_buf_init(struct snap_buf *b);
void snap_buf_free(struct snap_buf *b);
/* Append `len` bytes; on allocation failure sets `failed` (checked once
 * by whoever consumes the buffer). Returns where they went, or NULL. */
void *snap_buf_put(struct snap_buf *b, const void *data, size_t len);
void snap_buf_put_u8(struct snap_buf *b, uint8_t v);
void snap_buf_put_u16(struct snap_buf *b, uint16_t v);
void snap_buf_put_u32(struct snap_buf *b, uint32_t v);
void snap_buf_put_u64(struct snap_buf *b, uint64_t v);
/* A length-prefixed string (u32 length, bytes, no NUL). */
void snap_buf_put_str(struct snap_buf *b, const char *s);

struct snap_cursor {
	const uint8_t *data;
	size_t len;
	size_t off;
	bool overrun;
};

static inline void snap_cursor_init(struct snap_cursor *c, const void *data, size_t len)
{
	*c = (struct snap_cursor){ .data = data, .len = len };
}

/* Copy `len` bytes out (zeroes and `overrun` if they are not there). */
void snap_get(struct snap_cursor *c, void *out, size_t len);
uint8_t snap_get_u8(struct snap_cursor *c);
uint16_t snap_get_u16(struct snap_cursor *c);
uint32_t snap_get_u32(struct snap_cursor *c);
uint64_t snap_get_u64(struct snap_cursor *c);
/* A string written by snap_buf_put_str into out[size] (NUL-terminated);
 * one longer than size - 1 bytes, or with a NUL inside, is an overrun. */
void snap_get_str(struct snap_cursor *c, char *out, size_t size);

/* Whether the payload was exactly consumed: no overrun, nothing left. */
static inline bool snap_cursor_done(const struct snap_cursor *c)
{
	return !c->overrun && c->off == c->len;
}

#endif
