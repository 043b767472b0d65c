/* Per-vCPU exit statistics per basic reason: how many exits, and how long
 * the VMM spent handling them, in TSC ticks (rdtsc is one instruction;
 * clock_gettime would cost more than the exits we handle). Each vCPU writes only its own counters
 * (relaxed atomics: a plain store on x86, so the hot path pays nothing for
 * a reader on another thread); readers sum across vCPUs. */
#ifndef KVMRUN_EXIT_STATS_H
#define KVMRUN_EXIT_STATS_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "exit_reason.h"

struct exit_stat {
	atomic_uint_fast64_t count;
	atomic_uint_fast64_t handler_ticks;
};

struct exit_stats {
	struct exit_stat reason[EXIT_REASON_KVM_MAX];
};

static inline void exit_stats_record(struct exit_stats *s, uint32_t basic, uint64_t ticks)
{
	/* Reasons beyond the table (none exist today) land in KVM_EXIT_UNKNOWN. */
	struct exit_stat *e = &s->reason[basic < EXIT_REASON_KVM_MAX ? basic : KVM_EXIT_UNKNOWN];

	/* Single writer: load + store instead of a locked read-modify-write. */
	atomic_store_explicit(&e->count, atomic_load_explicit(&e->count, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	atomic_store_explicit(&e->handler_ticks,
			      atomic_load_explicit(&e->handler_ticks, memory_order_relaxed) + ticks,
			      memory_order_relaxed);
}

/* Add `src` into `sum` (sum is private to the reader). */
void exit_stats_accumulate(struct exit_stats *sum, const struct exit_stats *src);

/* Print a table: reason, count, total handler time, mean per exit.
 * `tsc_khz` converts ticks to time (0: print ticks). */
void exit_stats_print(FILE *out, const struct exit_stats *sum, unsigned nr_vcpus,
		      unsigned long tsc_khz);

#endif
