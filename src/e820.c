#include "e820.h"

#include "layout.h"

unsigned e820_build(const struct guest_memory *mem, struct e820_entry *out)
{
	unsigned n = 0;
	uint64_t low_end = guest_memory_low_end(mem);

	/* Base memory up to the EBDA; the EBDA holds the MP tables and the
	 * 640 KiB - 1 MiB legacy area must never be used as RAM by the guest. */
	out[n++] = (struct e820_entry){ 0, LAYOUT_EBDA_START, E820_RAM };
	out[n++] = (struct e820_entry){ LAYOUT_EBDA_START,
					LAYOUT_HIGH_MEMORY_START - LAYOUT_EBDA_START, E820_RESERVED };
	if (low_end > LAYOUT_HIGH_MEMORY_START)
		out[n++] = (struct e820_entry){ LAYOUT_HIGH_MEMORY_START,
						low_end - LAYOUT_HIGH_MEMORY_START, E820_RAM };
	for (unsigned i = 1; i < mem->nr_regions; i++)
		out[n++] = (struct e820_entry){ mem->regions[i].gpa, mem->regions[i].size, E820_RAM };
	return n;
}
