#include "boot/gdt.h"

#include <errno.h>

#include "layout.h"

/* Segment descriptor fields (SDM vol. 3 §3.4.5). The access byte holds
 * P, DPL, S and the type; the flags nibble holds G, D/B, L and AVL. */
#define DESC_ACCESS_CODE  0x9b   /* present, DPL 0, code, execute/read, accessed */
#define DESC_ACCESS_DATA  0x93   /* present, DPL 0, data, read/write, accessed */
#define DESC_FLAGS_CODE64 0xa    /* G=1, L=1, D=0 (SDM §5.2.1: D must be 0 with L) */
#define DESC_FLAGS_FLAT32 0xc    /* G=1, D/B=1 */

static uint64_t descriptor(uint32_t base, uint32_t limit, uint8_t access, uint8_t flags)
{
	return (uint64_t)(limit & 0xffff) |
	       ((uint64_t)(base & 0xffffff) << 16) |
	       ((uint64_t)access << 40) |
	       ((uint64_t)((limit >> 16) & 0xf) << 48) |
	       ((uint64_t)(flags & 0xf) << 52) |
	       ((uint64_t)(base >> 24) << 56);
}

uint64_t boot_gdt_entry(enum boot_cpu_mode mode, unsigned index)
{
	/* The accessed bit is preset so the CPU never has to write the GDT
	 * when a selector is loaded, and the descriptors match the hidden
	 * segment state boot_entry_to_cpu_state() installs. */
	switch (index) {
	case BOOT_GDT_CS / 8:
		return descriptor(0, 0xfffff, DESC_ACCESS_CODE,
				  mode == BOOT_CPU_LONG64 ? DESC_FLAGS_CODE64 : DESC_FLAGS_FLAT32);
	case BOOT_GDT_DS / 8:
		return descriptor(0, 0xfffff, DESC_ACCESS_DATA, DESC_FLAGS_FLAT32);
	default:
		return 0;
	}
}

int boot_gdt_write(struct guest_memory *mem, enum boot_cpu_mode mode)
{
	uint64_t gdt[BOOT_GDT_ENTRIES];

	for (unsigned i = 0; i < BOOT_GDT_ENTRIES; i++)
		gdt[i] = boot_gdt_entry(mode, i);
	return guest_memory_write(mem, LAYOUT_BOOT_GDT, gdt, sizeof(gdt));
}
