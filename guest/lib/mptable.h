/* Intel MultiProcessor Specification 1.4 tables: where the VMM (kvmrun) or
 * BIOS (SeaBIOS) announces the processors. */
#ifndef GUEST_MPTABLE_H
#define GUEST_MPTABLE_H

#include <stdbool.h>
#include <stdint.h>

#include "segments.h"

struct mptable_info {
	uint32_t floating_paddr;    /* "_MP_" floating pointer structure */
	uint32_t config_paddr;      /* "PCMP" configuration table */
	uint32_t lapic_paddr;
	unsigned cpu_count;         /* enabled processor entries */
	unsigned bsp_count;         /* entries with the BP flag */
	unsigned ioapic_count;
	/* APIC IDs of the first GUEST_MAX_CPUS enabled processors */
	uint8_t apic_ids[GUEST_MAX_CPUS];
	bool is_bsp[GUEST_MAX_CPUS];
};

/* Search the MP spec §4 places (first KiB of the EBDA, last KiB of base
 * memory, 0xf0000-0xfffff), check both checksums and parse the base
 * table. Returns false if there is no valid table; `why` (if not NULL)
 * then says what was wrong. */
bool mptable_find(struct mptable_info *info, const char **why);

#endif
