/* The VMM's event-loop thread (the main thread once the vCPUs run):
 * console input into the UART, operator signals, the VM's stop
 * notification and device back-ends' file descriptors (virtio queue
 * notifications), all multiplexed with epoll. */
#ifndef KVMRUN_EVENT_LOOP_H
#define KVMRUN_EVENT_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct vm;
struct uart;
struct event_loop_handler;

/* Called on the event-loop thread when `fd` is ready for what it is watched
 * for (readable unless event_loop_add_events said otherwise), or has hung up
 * or failed (`events` holds the epoll bits). */
typedef void event_loop_fn(void *opaque, int fd, uint32_t events);

/* The loop's epoll set and the handlers registered on it. Handlers are
 * added and removed before event_loop_run(), after it returns, or from
 * a handler on the loop thread; never from other threads. */
struct event_loop {
	int epfd;
	struct event_loop_handler *handlers;  /* live, a list */
	struct event_loop_handler *removed;   /* freed after the current batch */
};

struct event_loop_config {
	struct vm *vm;
	struct uart *uart;      /* where console input goes; NULL for none */
	int input_fd;           /* console input, -1 for none */
	bool escape_sequences;  /* Ctrl-A x quits (interactive terminals) */
	/* SIGUSR1 and SIGUSR2 go here (snapshot triggers); NULL: logged and
	 * ignored. Called on the loop thread. */
	void (*user_signal)(void *ctx, int signo);
	void *user_signal_ctx;
};

/* Block the signals the loop handles (SIGINT, SIGTERM, SIGHUP, SIGUSR1,
 * SIGUSR2) in the
 * calling thread, so threads created later inherit the mask and the
 * signals reach only the loop's signalfd. Call before creating threads. */
int event_loop_block_signals(void);

int event_loop_init(struct event_loop *loop);
void event_loop_destroy(struct event_loop *loop);

/* Call fn(opaque, fd, events) whenever `fd` is readable, until removed.
 * Returns 0 or -errno (-EEXIST if fd is already registered). */
int event_loop_add(struct event_loop *loop, int fd, event_loop_fn *fn, void *opaque);
/* Like event_loop_add, for `events` (EPOLLIN, EPOLLOUT, or 0 for nothing
 * yet): for a back-end that must stop reading while it has nowhere to put
 * the data, or wait until it may write (a TAP device). Level-triggered. */
int event_loop_add_events(struct event_loop *loop, int fd, uint32_t events, event_loop_fn *fn,
			  void *opaque);
/* Returns 0 or -ENOENT. Safe inside a handler, even for its own fd. */
int event_loop_remove(struct event_loop *loop, int fd);
/* Which events of a registered fd call its handler: EPOLLIN, EPOLLOUT,
 * or 0 to pause it (EPOLLHUP and EPOLLERR are reported whatever the
 * mask: a handler that pauses must cope with them). Same threads as
 * event_loop_add. Returns 0, -ENOENT or -errno. */
int event_loop_modify(struct event_loop *loop, int fd, uint32_t events);

/* Run until the VM stops: the configured console and signals plus every
 * registered handler. Returns 0 or -errno. */
int event_loop_run(struct event_loop *loop, const struct event_loop_config *cfg);

#endif
