#include "bus.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "zeroed_pages.h"

void bus_init(struct bus *bus, const char *name)
{
	memset(bus, 0, sizeof(*bus));
	bus->name = name;
}

int bus_init_dense(struct bus *bus, const char *name, uint64_t size)
{
	bus_init(bus, name);
	if (size == 0 || size > (1u << 20))
		return -EINVAL;
	/* Only the pages holding mapped ports ever get memory. */
	bus->dense = zeroed_pages_alloc(size);
	if (!bus->dense)
		return -ENOMEM;
	bus->dense_size = size;
	return 0;
}

void bus_destroy(struct bus *bus)
{
	free(bus->ranges);
	zeroed_pages_free(bus->dense, bus->dense_size);
	bus->ranges = NULL;
	bus->dense = NULL;
	bus->nr_ranges = bus->capacity = 0;
	bus->dense_size = 0;
}

/* Point every address of ranges[from..] at its (new) index. */
static void reindex_dense(struct bus *bus, size_t from)
{
	for (size_t i = from; i < bus->nr_ranges; i++)
		memset(bus->dense + bus->ranges[i].base, (int)(i + 1), bus->ranges[i].len);
}

/* Index of the first range whose base is > addr. */
static size_t upper_bound(const struct bus *bus, uint64_t addr)
{
	size_t lo = 0, hi = bus->nr_ranges;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (bus->ranges[mid].base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int bus_insert(struct bus *bus, uint64_t base, uint64_t len,
	       const struct bus_device_ops *ops, void *opaque, const char *name)
{
	uint64_t last;
	size_t at;

	if (len == 0 || __builtin_add_overflow(base, len - 1, &last) || !ops)
		return -EINVAL;
	if (bus->dense && (last >= bus->dense_size))
		return -EINVAL;
	if (bus->dense && bus->nr_ranges >= BUS_DENSE_MAX_RANGES)
		return -ENOSPC;
	at = upper_bound(bus, base);
	/* The range before must end before base; the one at `at` must start after last. */
	if (at > 0) {
		const struct bus_range *prev = &bus->ranges[at - 1];
		if (base - prev->base < prev->len)
			return -EEXIST;
	}
	if (at < bus->nr_ranges && bus->ranges[at].base <= last)
		return -EEXIST;

	if (bus->nr_ranges == bus->capacity) {
		size_t cap = bus->capacity ? bus->capacity * 2 : 8;
		struct bus_range *grown = realloc(bus->ranges, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		bus->ranges = grown;
		bus->capacity = cap;
	}
	memmove(&bus->ranges[at + 1], &bus->ranges[at],
		(bus->nr_ranges - at) * sizeof(bus->ranges[0]));
	bus->ranges[at] = (struct bus_range){ base, len, ops, opaque, name };
	bus->nr_ranges++;
	if (bus->dense)
		reindex_dense(bus, at);
	return 0;
}

const struct bus_range *bus_find_sorted(const struct bus *bus, uint64_t addr)
{
	size_t at = upper_bound(bus, addr);
	const struct bus_range *r;

	if (at == 0)
		return NULL;
	r = &bus->ranges[at - 1];
	return addr - r->base < r->len ? r : NULL;
}

bool bus_read_unmapped(struct bus *bus, void *data, unsigned size)
{
	memset(data, 0xff, size);
	atomic_fetch_add_explicit(&bus->unmapped_reads, 1, memory_order_relaxed);
	return false;
}

bool bus_write_unmapped(struct bus *bus)
{
	atomic_fetch_add_explicit(&bus->unmapped_writes, 1, memory_order_relaxed);
	return false;
}
