/* Adaptive polling of an idle virtqueue. See idle_poll.h. */
#include "virtio/idle_poll.h"

#include <sched.h>
#include <time.h>

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void idle_poll_init(struct idle_poll *p)
{
	*p = (struct idle_poll){ .window_ns = IDLE_POLL_START_NS };
}

bool idle_poll_run(struct idle_poll *p, bool (*has_work)(void *arg), void *arg)
{
	uint64_t start = monotonic_ns(), now = start;

	for (unsigned i = 1; !has_work(arg); i++) {
		/* The clock every 16 looks: a look is a few loads. */
		if (i % 16 == 0 || p->window_ns == 0) {
			now = monotonic_ns();
			if (now - start >= p->window_ns) {
				p->gave_up++;
				p->gave_up_ns = now;
				return false;
			}
		}
		/* Give the CPU away between looks: if the vCPU that is to
		 * add the request shares this CPU, spinning would only keep
		 * it from running. With nothing else to run this returns at
		 * once. */
		sched_yield();
	}
	p->found++;
	p->gave_up_ns = 0;
	return true;
}

void idle_poll_adapt(struct idle_poll *p, uint64_t late_ns)
{
	if (late_ns <= IDLE_POLL_MAX_NS) {
		/* Too short: the request came soon after the poll stopped. */
		p->window_ns = p->window_ns ? p->window_ns * 2 : IDLE_POLL_START_NS;
		if (p->window_ns > IDLE_POLL_MAX_NS)
			p->window_ns = IDLE_POLL_MAX_NS;
	} else {
		/* Really idle (or no CPU for the driver): poll less. */
		p->window_ns /= 2;
		if (p->window_ns < IDLE_POLL_START_NS)
			p->window_ns = 0;
	}
}

void idle_poll_work_arrived(struct idle_poll *p)
{
	uint64_t late;

	if (!p->gave_up_ns)
		return;
	late = monotonic_ns() - p->gave_up_ns;
	p->gave_up_ns = 0;
	idle_poll_adapt(p, late);
}
