/* The VMM's event-loop thread (the main thread once the vCPUs run):
 * console input into the UART, operator signals, and the VM's stop
 * notification, all multiplexed with epoll. */
#ifndef KVMRUN_EVENT_LOOP_H
#define KVMRUN_EVENT_LOOP_H

#include <stdbool.h>

struct vm;
struct uart;

struct event_loop_config {
	struct vm *vm;
	struct uart *uart;      /* where console input goes; NULL for none */
	int input_fd;           /* console input, -1 for none */
	bool escape_sequences;  /* Ctrl-A x quits (interactive terminals) */
};

/* Block the signals the loop handles (SIGINT, SIGTERM, SIGHUP) in the
 * calling thread, so threads created later inherit the mask and the
 * signals reach only the loop's signalfd. Call before creating threads. */
int event_loop_block_signals(void);

/* Run until the VM stops. Returns 0 or -errno. */
int event_loop_run(const struct event_loop_config *cfg);

#endif
