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
	/* A dense bus (the 64 Ki ports of PIO) also keeps, per address, the
	 * index + 1 of the range holding it (0: unmapped), so the hot path
	 * finds a port's device with one load instead of a binary search.
	 * Untouched parts of the table stay unbacked zero pages. */
	uint8_t *dense;
	uint64_t dense_size;
	atomic_uint_fast64_t unmapped_reads;
	atomic_uint_fast64_t unmapped_writes;
};

#define BUS_DENSE_MAX_RANGES 254

void bus_init(struct bus *bus, const char *name);
/* A bus of `size` addresses (at most 1 MiB) with the direct index above.
 * Returns 0 or -ENOMEM. */
int bus_init_dense(struct bus *bus, const char *name, uint64_t size);
void bus_destroy(struct bus *bus);

/* Map [base, base + len) to `ops`. Returns -EINVAL for an empty or
 * wrapping range (or one beyond a dense bus), -EEXIST if it overlaps an
 * existing range, -ENOSPC past BUS_DENSE_MAX_RANGES on a dense bus, -ENOMEM. */
int bus_insert(struct bus *bus, uint64_t base, uint64_t len,
	       const struct bus_device_ops *ops, void *opaque, const char *name);

/* The range containing addr, or NULL (binary search: any bus). */
const struct bus_range *bus_find_sorted(const struct bus *bus, uint64_t addr);

/* The range containing addr, or NULL. */
static inline const struct bus_range *bus_find(const struct bus *bus, uint64_t addr)
{
	if (bus->dense) {
		uint8_t index = addr < bus->dense_size ? bus->dense[addr] : 0;

		return index ? &bus->ranges[index - 1] : NULL;
	}
	return bus_find_sorted(bus, addr);
}

/* The unmapped paths, out of line: count, and read all-ones. */
bool bus_read_unmapped(struct bus *bus, void *data, unsigned size);
bool bus_write_unmapped(struct bus *bus);

/* The range holding all of [addr, addr + size), or NULL. */
static inline const struct bus_range *bus_find_whole(const struct bus *bus, uint64_t addr,
						     unsigned size)
{
	const struct bus_range *r = bus_find(bus, addr);

	if (!r || size == 0 || size > r->len - (addr - r->base))
		return NULL;
	return r;
}

/* Port I/O on a dense bus of 64 Ki ports (vm->pio): a 16-bit port needs no
 * bounds check on the index, and the range must hold the whole access. */
static inline const struct bus_range *bus_find_port(const struct bus *bus, uint16_t port,
						    unsigned size)
{
	uint8_t index = bus->dense[port];
	const struct bus_range *r;

	if (!index)
		return NULL;
	r = &bus->ranges[index - 1];
	return size <= r->len - (port - r->base) ? r : NULL;
}

static inline bool bus_port_read(struct bus *bus, uint16_t port, void *data, unsigned size)
{
	const struct bus_range *r = bus_find_port(bus, port, size);

	if (__builtin_expect(!r || !r->ops->read, 0))
		return bus_read_unmapped(bus, data, size);
	r->ops->read(r->opaque, port - r->base, data, size);
	return true;
}

static inline bool bus_port_write(struct bus *bus, uint16_t port, const void *data, unsigned size)
{
	const struct bus_range *r = bus_find_port(bus, port, size);

	if (__builtin_expect(!r || !r->ops->write, 0))
		return bus_write_unmapped(bus);
	r->ops->write(r->opaque, port - r->base, data, size);
	return true;
}

/* Dispatch an access. Returns true if a device handled it, false if the
 * address is unmapped (read data is then all-ones). An access that
 * straddles the end of a range is treated as unmapped. Inline: this is
 * every port and MMIO exit's path. */
static inline bool bus_read(struct bus *bus, uint64_t addr, void *data, unsigned size)
{
	const struct bus_range *r = bus_find_whole(bus, addr, size);

	if (__builtin_expect(!r || !r->ops->read, 0))
		return bus_read_unmapped(bus, data, size);
	r->ops->read(r->opaque, addr - r->base, data, size);
	return true;
}

static inline bool bus_write(struct bus *bus, uint64_t addr, const void *data, unsigned size)
{
	const struct bus_range *r = bus_find_whole(bus, addr, size);

	if (__builtin_expect(!r || !r->ops->write, 0))
		return bus_write_unmapped(bus);
	r->ops->write(r->opaque, addr - r->base, data, size);
	return true;
}

#endif
