/* Port-I/O and MMIO buses: address ranges mapped to device callbacks.
 *
 * Ranges are inserted while the machine is being built, before any vCPU
 * runs, and never change afterwards: lookups on the vCPU hot path therefore
 * take no lock (a sorted array and a binary search). Devices see offsets
 * into their range, never absolute addresses. Accesses to unmapped
 * addresses are counted; reads return all-ones, writes are dropped. */
#ifndef KVMRUN_BUS_H
#define KVMRUN_BUS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bus_device_ops {
	/* `data` holds `size` bytes (1, 2, 4 or 8), little-endian. read must
	 * fill all of them. Called on vCPU threads, possibly concurrently:
	 * a device with mutable state locks it itself. */
	void (*read)(void *opaque, uint64_t offset, void *data, unsigned size);
	void (*write)(void *opaque, uint64_t offset, const void *data, unsigned size);
};

struct bus_range {
	uint64_t base;
	uint64_t len;
	const struct bus_device_ops *ops;
	void *opaque;
	const char *name;
};

struct bus {
	const char *name;          /* "pio" or "mmio", for messages */
	struct bus_range *ranges;  /* sorted by base, non-overlapping */
	size_t nr_ranges;
	size_t capacity;
	atomic_uint_fast64_t unmapped_reads;
	atomic_uint_fast64_t unmapped_writes;
};

void bus_init(struct bus *bus, const char *name);
void bus_destroy(struct bus *bus);

/* Map [base, base + len) to `ops`. Returns -EINVAL for an empty or
 * wrapping range, -EEXIST if it overlaps an existing range, -ENOMEM. */
int bus_insert(struct bus *bus, uint64_t base, uint64_t len,
	       const struct bus_device_ops *ops, void *opaque, const char *name);

/* The range containing addr, or NULL. */
const struct bus_range *bus_find(const struct bus *bus, uint64_t addr);

/* Dispatch an access. Returns true if a device handled it, false if the
 * address is unmapped (read data is then all-ones). An access that
 * straddles the end of a range is treated as unmapped. */
bool bus_read(struct bus *bus, uint64_t addr, void *data, unsigned size);
bool bus_write(struct bus *bus, uint64_t addr, const void *data, unsigned size);

#endif
