/* Adaptive polling of an idle virtqueue.
 *
 * When a back-end runs out of work it normally asks the driver to notify
 * it of the next request (virtio 1.2 §2.7.10), and the notification is a
 * VM exit plus a wake-up of the event-loop thread: ~2-5 us on bare metal,
 * 30-250 us on a nested host. A driver that submits its next request a
 * few microseconds after it sees a completion (one request at a time, or
 * a queue kept full) pays that on every request. So the back-end first
 * watches the ring for a short window, with notifications still off; if
 * the request comes, there was no exit.
 *
 * The window adapts, as QEMU's iothread polling does (poll-max-ns): a
 * request that arrived by notification soon after a poll gave up (within
 * IDLE_POLL_MAX_NS of giving up) means the window was too short, so it
 * doubles; one that came later means the driver was really idle, so it
 * halves, down to no polling at all. The poller yields its CPU between
 * looks (sched_yield), so a vCPU thread that shares the CPU still runs.
 * Event-loop thread only. */
#ifndef KVMRUN_VIRTIO_IDLE_POLL_H
#define KVMRUN_VIRTIO_IDLE_POLL_H

#include <stdbool.h>
#include <stdint.h>

#define IDLE_POLL_START_NS 16000u
#define IDLE_POLL_MAX_NS   256000u

struct idle_poll {
	uint32_t window_ns;     /* 0: do not poll */
	uint64_t gave_up_ns;    /* CLOCK_MONOTONIC when the last poll gave up, 0 if none since */
	uint64_t found;         /* statistics: polls that found work */
	uint64_t gave_up;       /* polls that timed out */
};

void idle_poll_init(struct idle_poll *p);

/* The back-end went idle: call has_work(arg) until it returns true or the
 * window passes (has_work should be cheap, and return true also when
 * polling makes no sense any more, e.g. the queue was reset). Returns
 * has_work's last answer. */
bool idle_poll_run(struct idle_poll *p, bool (*has_work)(void *arg), void *arg);

/* Work arrived other than through idle_poll_run (a notification, or a
 * look right after the poll gave up): adapt the window. */
void idle_poll_work_arrived(struct idle_poll *p);

/* The rule itself, for a request that came `late_ns` after the poll gave
 * up (idle_poll_work_arrived measures that). */
void idle_poll_adapt(struct idle_poll *p, uint64_t late_ns);

#endif
