/* Page bitmaps for diff snapshots. See dirty_bitmap.h. */
#include "snapshot/dirty_bitmap.h"

static inline uint64_t low_bits(uint64_t n)
{
	return n >= 64 ? ~0ULL : (1ULL << n) - 1;
}

void dirty_bitmap_or(uint64_t *dst, uint64_t at, const uint64_t *src, uint64_t nbits)
{
	uint64_t word = at / 64;
	unsigned shift = at % 64;

	for (uint64_t i = 0; i < DIRTY_BITMAP_WORDS(nbits); i++) {
		uint64_t left = nbits - i * 64;
		uint64_t v = src[i] & low_bits(left);

		if (!v)
			continue;
		dst[word + i] |= v << shift;
		/* The high bits spill into the next word, which exists iff
		 * some bit lands there (at + nbits bounds dst). */
		if (shift && (v >> (64 - shift)))
			dst[word + i + 1] |= v >> (64 - shift);
	}
}

void dirty_bitmap_take(uint64_t *dst, uint64_t *src, size_t words)
{
	for (size_t i = 0; i < words; i++) {
		/* A plain load first: most words are clear, and an exchange
		 * would write (and bounce) every cache line. */
		if (__atomic_load_n(&src[i], __ATOMIC_RELAXED))
			dst[i] |= __atomic_exchange_n(&src[i], 0, __ATOMIC_ACQ_REL);
	}
}

uint64_t dirty_bitmap_count(const uint64_t *bits, uint64_t nbits)
{
	uint64_t n = 0;

	for (uint64_t i = 0; i < DIRTY_BITMAP_WORDS(nbits); i++)
		n += (uint64_t)__builtin_popcountll(bits[i] & low_bits(nbits - i * 64));
	return n;
}

/* The first bit at or after `from` whose value is `set`, or nbits. Skips
 * whole words of the other value. */
static uint64_t find_bit(const uint64_t *bits, uint64_t nbits, uint64_t from, int set)
{
	while (from < nbits) {
		uint64_t w = set ? bits[from / 64] : ~bits[from / 64];

		w &= ~0ULL << (from % 64);
		if (w) {
			uint64_t at = (from & ~63ULL) + (uint64_t)__builtin_ctzll(w);

			return at < nbits ? at : nbits;
		}
		from = (from & ~63ULL) + 64;
	}
	return nbits;
}

size_t dirty_bitmap_extents(const uint64_t *bits, uint64_t nbits, struct dirty_extent *out,
			    size_t max)
{
	size_t n = 0;
	uint64_t pos = 0;

	for (;;) {
		uint64_t start = find_bit(bits, nbits, pos, 1), end;

		if (start >= nbits)
			return n;
		end = find_bit(bits, nbits, start, 0);
		if (n < max)
			out[n] = (struct dirty_extent){ .first = start, .pages = end - start };
		n++;
		pos = end;
	}
}
