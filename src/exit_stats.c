#include "exit_stats.h"

#include <inttypes.h>

void exit_stats_accumulate(struct exit_stats *sum, const struct exit_stats *src)
{
	for (unsigned i = 0; i < EXIT_REASON_KVM_MAX; i++) {
		struct exit_stat *d = &sum->reason[i];
		uint64_t c = atomic_load_explicit(&src->reason[i].count, memory_order_relaxed);
		uint64_t t = atomic_load_explicit(&src->reason[i].handler_ticks, memory_order_relaxed);

		atomic_store_explicit(&d->count, atomic_load_explicit(&d->count, memory_order_relaxed) + c,
				      memory_order_relaxed);
		atomic_store_explicit(&d->handler_ticks,
				      atomic_load_explicit(&d->handler_ticks, memory_order_relaxed) + t,
				      memory_order_relaxed);
	}
}

void exit_stats_print(FILE *out, const struct exit_stats *sum, unsigned nr_vcpus,
		      unsigned long tsc_khz)
{
	uint64_t total = 0;
	char buf[32];
	/* ticks -> ns; without a TSC frequency print raw ticks. */
	double ns_per_tick = tsc_khz ? 1e6 / (double)tsc_khz : 1.0;

	fprintf(out, "exit statistics (%u vCPU%s):\n", nr_vcpus, nr_vcpus == 1 ? "" : "s");
	fprintf(out, "  %-26s %12s %16s %14s\n", "reason", "count",
		tsc_khz ? "handler total us" : "handler ticks", tsc_khz ? "ns per exit" : "ticks per exit");
	for (unsigned i = 0; i < EXIT_REASON_KVM_MAX; i++) {
		uint64_t c = atomic_load_explicit(&sum->reason[i].count, memory_order_relaxed);
		uint64_t t = atomic_load_explicit(&sum->reason[i].handler_ticks, memory_order_relaxed);

		if (!c)
			continue;
		total += c;
		fprintf(out, "  %-26s %12" PRIu64 " %16.1f %14.0f\n",
			exit_reason_kvm_name(i, buf, sizeof(buf)), c,
			(double)t * ns_per_tick / (tsc_khz ? 1000.0 : 1.0),
			(double)t * ns_per_tick / (double)c);
	}
	fprintf(out, "  %-26s %12" PRIu64 "\n", "total", total);
}
