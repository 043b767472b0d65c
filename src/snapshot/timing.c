/* Snapshot timings. See timing.h. */
#include "snapshot/timing.h"

#include <stdarg.h>

void snap_timing_add(struct snap_timing *t, uint64_t ns, const char *fmt, ...)
{
	va_list ap;

	if (!t)
		return;
	if (t->nr == SNAP_TIMING_MAX) {
		t->dropped++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(t->entries[t->nr].name, SNAP_TIMING_NAME, fmt, ap);
	va_end(ap);
	t->entries[t->nr++].ns = ns;
}

void snap_timing_print(const struct snap_timing *t, const char *phase, FILE *out)
{
	for (unsigned i = 0; i < t->nr; i++)
		fprintf(out, "kvmrun: snapshot-timing: %s %s %.1f us\n", phase, t->entries[i].name,
			(double)t->entries[i].ns / 1000.0);
	if (t->dropped)
		fprintf(out, "kvmrun: snapshot-timing: %s (%u more entries not recorded)\n", phase,
			t->dropped);
}
