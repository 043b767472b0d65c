/* Page bitmaps for diff snapshots: bit i of word i / 64 stands for page i.
 * Pure functions (no KVM, no files), unit-tested in
 * tests/unit/snapshot/test_dirty_bitmap.c.
 *
 * KVM_GET_DIRTY_LOG hands back one bitmap per memory slot, bit 0 being the
 * slot's first page; kvmrun's own writes are one bitmap over all of RAM
 * (guest_memory.vmm_dirty). A diff snapshot needs their union over RAM
 * offsets, and then the runs of set bits: the extents its memory file
 * lists. */
#ifndef KVMRUN_SNAPSHOT_DIRTY_BITMAP_H
#define KVMRUN_SNAPSHOT_DIRTY_BITMAP_H

#include <stddef.h>
#include <stdint.h>

#define DIRTY_BITMAP_WORDS(bits) (((bits) + 63) / 64)

/* A run of dirty pages. */
struct dirty_extent {
	uint64_t first;   /* page index */
	uint64_t pages;   /* >= 1 */
};

/* dst |= src shifted up by `at` bits: bits [0, nbits) of src become bits
 * [at, at + nbits) of dst. Bits of src at or above nbits are ignored (KVM
 * leaves the tail of the last word unspecified). */
void dirty_bitmap_or(uint64_t *dst, uint64_t at, const uint64_t *src, uint64_t nbits);

/* dst |= *src for `words` words, clearing src atomically word by word:
 * a bit another thread sets meanwhile lands in either dst or src, never
 * in neither. */
void dirty_bitmap_take(uint64_t *dst, uint64_t *src, size_t words);

/* Set bits among [0, nbits). */
uint64_t dirty_bitmap_count(const uint64_t *bits, uint64_t nbits);

/* The maximal runs of set bits among [0, nbits), in increasing order.
 * Writes at most `max` of them to out (out may be NULL with max 0) and
 * returns how many there are, so a first call can size the array. */
size_t dirty_bitmap_extents(const uint64_t *bits, uint64_t nbits, struct dirty_extent *out,
			    size_t max);

#endif
