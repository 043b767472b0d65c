/* The e820 memory map every boot protocol hands to the guest. */
#ifndef KVMRUN_E820_H
#define KVMRUN_E820_H

#include <stdint.h>

#include "memory.h"

#define E820_RAM       1
#define E820_RESERVED  2

#define E820_MAX_ENTRIES 8

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
};

/* Fill `out` (room for E820_MAX_ENTRIES) with the map for `mem`:
 * RAM below the EBDA, the EBDA/legacy area reserved, RAM from 1 MiB to the
 * device hole, RAM above 4 GiB. Returns the number of entries. */
unsigned e820_build(const struct guest_memory *mem, struct e820_entry *out);

#endif
