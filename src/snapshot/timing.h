/* Where the time of a save or a restore goes, component by component
 * (DESIGN.md principle 4: measure each piece). Entries are named
 * "vcpu0 regs", "vm irqchip", "memory file"...; printed one per line with
 * --snapshot-timing for the benchmark to parse:
 *     kvmrun: snapshot-timing: save vcpu0 regs 3.1 us */
#ifndef KVMRUN_SNAPSHOT_TIMING_H
#define KVMRUN_SNAPSHOT_TIMING_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>

#define SNAP_TIMING_MAX  512
/* Room for the longest name with its detail, "memory file (4092 MiB in
 * 123456 runs)": a cut name loses what the benchmark parses. */
#define SNAP_TIMING_NAME 48

struct snap_timing {
	unsigned nr;
	unsigned dropped;            /* entries beyond SNAP_TIMING_MAX */
	struct {
		char name[SNAP_TIMING_NAME];
		uint64_t ns;
	} entries[SNAP_TIMING_MAX];
};

static inline uint64_t snap_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Record `ns` under a printf-style name. NULL timing: nothing. */
void snap_timing_add(struct snap_timing *t, uint64_t ns, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Record the time since *start under a name, and move *start to now. */
#define snap_timing_lap(t, start, ...) do {                      \
		uint64_t now_ = snap_now_ns();                   \
		snap_timing_add((t), now_ - *(start), __VA_ARGS__); \
		*(start) = now_;                                 \
	} while (0)

/* One line per entry: "kvmrun: snapshot-timing: PHASE NAME X.Y us". */
void snap_timing_print(const struct snap_timing *t, const char *phase, FILE *out);

#endif
