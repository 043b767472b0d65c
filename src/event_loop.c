#include "event_loop.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "devices/console_escape.h"
#include "devices/uart.h"
#include "log.h"
#include "vm.h"

enum loop_source { SOURCE_STOP, SOURCE_SIGNAL, SOURCE_INPUT, SOURCE_RX_READY, SOURCE_HANDLER };

/* What an epoll event's data.ptr points to: one of the loop's own sources
 * (a static marker below) or a registered handler. */
struct event_loop_handler {
	enum loop_source source;
	event_loop_fn *fn;         /* SOURCE_HANDLER; NULL once removed */
	void *opaque;
	int fd;
	struct event_loop_handler *next;
};

static struct event_loop_handler source_stop = { .source = SOURCE_STOP };
static struct event_loop_handler source_signal = { .source = SOURCE_SIGNAL };
static struct event_loop_handler source_input = { .source = SOURCE_INPUT };
static struct event_loop_handler source_rx_ready = { .source = SOURCE_RX_READY };

/* Console input waiting for room in the UART's receive FIFO. Host input
 * is never dropped: while the FIFO is full we stop reading the input fd
 * and resume when the guest drains it (uart rx_ready notification). */
struct input_state {
	struct uart *uart;
	int fd;
	bool pollable;     /* epoll accepts the fd (a regular file does not) */
	bool polling;      /* fd currently in the epoll set */
	bool eof;
	uint8_t buf[256];
	size_t len, off;
	struct console_escape escape;
	bool escape_sequences;
	int rx_ready_fd;   /* eventfd written by the UART on a vCPU thread */
};

static const int handled_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2 };

int event_loop_block_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(handled_signals) / sizeof(handled_signals[0]); i++)
		sigaddset(&set, handled_signals[i]);
	return -pthread_sigmask(SIG_BLOCK, &set, NULL);
}

static void uart_rx_ready(void *ctx)
{
	struct input_state *in = ctx;
	uint64_t one = 1;

	/* Only fails if the counter would overflow: the loop is awake then. */
	if (write(in->rx_ready_fd, &one, sizeof(one)) < 0)
		(void)0;
}

static int epoll_add(int epfd, int fd, struct event_loop_handler *source)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = source };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int event_loop_init(struct event_loop *loop)
{
	loop->handlers = NULL;
	loop->removed = NULL;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	return loop->epfd < 0 ? -errno : 0;
}

static void free_handlers(struct event_loop_handler *h)
{
	while (h) {
		struct event_loop_handler *next = h->next;

		free(h);
		h = next;
	}
}

void event_loop_destroy(struct event_loop *loop)
{
	free_handlers(loop->handlers);
	free_handlers(loop->removed);
	loop->handlers = loop->removed = NULL;
	if (loop->epfd >= 0)
		close(loop->epfd);
	loop->epfd = -1;
}

int event_loop_add(struct event_loop *loop, int fd, event_loop_fn *fn, void *opaque)
{
	return event_loop_add_events(loop, fd, EPOLLIN, fn, opaque);
}

int event_loop_add_events(struct event_loop *loop, int fd, uint32_t events, event_loop_fn *fn,
			  void *opaque)
{
	struct event_loop_handler *h = calloc(1, sizeof(*h));
	struct epoll_event ev = { .events = events, .data.ptr = h };

	if (!h)
		return -ENOMEM;
	*h = (struct event_loop_handler){ .source = SOURCE_HANDLER, .fn = fn, .opaque = opaque,
					  .fd = fd, .next = loop->handlers };
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int ret = -errno;

		free(h);
		return ret;
	}
	loop->handlers = h;
	return 0;
}

int event_loop_modify(struct event_loop *loop, int fd, uint32_t events)
{
	for (struct event_loop_handler *h = loop->handlers; h; h = h->next) {
		struct epoll_event ev = { .events = events, .data.ptr = h };

		if (h->fd != fd)
			continue;
		return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
	}
	return -ENOENT;
}

int event_loop_remove(struct event_loop *loop, int fd)
{
	for (struct event_loop_handler **p = &loop->handlers; *p; p = &(*p)->next) {
		struct event_loop_handler *h = *p;

		if (h->fd != fd)
			continue;
		epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
		*p = h->next;
		/* An event for it may still sit in the batch being dispatched:
		 * keep the memory until the batch is done. */
		h->fn = NULL;
		h->next = loop->removed;
		loop->removed = h;
		return 0;
	}
	return -ENOENT;
}

static void set_input_polling(struct input_state *in, int epfd, bool on)
{
	if (!in->pollable || in->polling == on || in->eof)
		return;
	if (on)
		in->polling = epoll_add(epfd, in->fd, &source_input) == 0;
	else if (epoll_ctl(epfd, EPOLL_CTL_DEL, in->fd, NULL) == 0)
		in->polling = false;
}

/* Read more input (if the buffer is empty) and push what fits into the
 * UART. Returns true if the operator asked to quit. */
static bool pump_input(struct input_state *in, int epfd)
{
	for (;;) {
		if (in->off == in->len && !in->eof) {
			uint8_t raw[sizeof(in->buf)];
			bool quit = false;
			ssize_t n = read(in->fd, raw, sizeof(raw));

			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				return false;
			if (n <= 0) {
				set_input_polling(in, epfd, false);
				in->eof = true;
				return false;
			}
			if (in->escape_sequences)
				in->len = console_escape_filter(&in->escape, raw, (size_t)n, in->buf, &quit);
			else
				memcpy(in->buf, raw, (in->len = (size_t)n));
			in->off = 0;
			if (quit)
				return true;
		}
		if (in->off == in->len)
			return false;
		in->off += uart_receive(in->uart, in->buf + in->off, in->len - in->off);
		if (in->off < in->len) {
			/* FIFO full: wait for the guest to drain it. */
			set_input_polling(in, epfd, false);
			return false;
		}
		/* Everything fit. A pollable fd waits for epoll; a regular file
		 * is always readable, so keep going until the FIFO fills. */
		if (in->pollable) {
			set_input_polling(in, epfd, true);
			return false;
		}
	}
}

static int handle_signal(int sfd, const struct event_loop_config *cfg)
{
	struct vm *vm = cfg->vm;
	struct signalfd_siginfo si;

	if (read(sfd, &si, sizeof(si)) != sizeof(si))
		return 0;
	if (si.ssi_signo == SIGUSR1 || si.ssi_signo == SIGUSR2) {
		if (cfg->user_signal)
			cfg->user_signal(cfg->user_signal_ctx, (int)si.ssi_signo);
		else
			log_info("%s ignored", strsignal((int)si.ssi_signo));
		return 0;
	}
	log_info("received %s, stopping the VM", strsignal((int)si.ssi_signo));
	vm_request_stop(vm, VM_STOP_SIGNAL, (int)si.ssi_signo);
	return 0;
}

int event_loop_run(struct event_loop *loop, const struct event_loop_config *cfg)
{
	struct input_state in = { .uart = cfg->uart, .fd = cfg->input_fd, .rx_ready_fd = -1,
				  .escape_sequences = cfg->escape_sequences };
	sigset_t set;
	int epfd = loop->epfd, sfd = -1, ret;

	console_escape_init(&in.escape);
	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(handled_signals) / sizeof(handled_signals[0]); i++)
		sigaddset(&set, handled_signals[i]);
	sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		return log_syscall_error("signalfd", errno);
	}
	ret = epoll_add(epfd, sfd, &source_signal);
	if (ret == 0)
		ret = epoll_add(epfd, cfg->vm->stop_eventfd, &source_stop);
	if (ret < 0) {
		log_syscall_error("epoll_ctl", -ret);
		goto close_signalfd;
	}

	if (in.uart && in.fd >= 0) {
		in.rx_ready_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (in.rx_ready_fd < 0 || epoll_add(epfd, in.rx_ready_fd, &source_rx_ready) < 0) {
			ret = log_syscall_error("eventfd(console input)", errno);
			goto close_rx_ready;
		}
		uart_set_rx_ready(in.uart, uart_rx_ready, &in);
		ret = epoll_add(epfd, in.fd, &source_input);
		in.pollable = ret == 0;
		in.polling = in.pollable;
		if (ret < 0 && ret != -EPERM) {
			log_syscall_error("epoll_ctl(console input)", -ret);
			goto detach_uart;
		}
		if (!in.pollable && pump_input(&in, epfd))
			vm_request_stop(cfg->vm, VM_STOP_SIGNAL, 0);
	}

	ret = 0;
	while (!vm_stopping(cfg->vm)) {
		struct epoll_event events[16];
		int n = epoll_wait(epfd, events, 16, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = log_syscall_error("epoll_wait", errno);
			vm_request_stop(cfg->vm, VM_STOP_VMM_ERROR, 0);
			break;
		}
		for (int i = 0; i < n; i++) {
			struct event_loop_handler *h = events[i].data.ptr;
			uint64_t count;

			switch (h->source) {
			case SOURCE_HANDLER:
				if (h->fn)  /* NULL: removed earlier in this batch */
					h->fn(h->opaque, h->fd, events[i].events);
				break;
			case SOURCE_STOP:
				break;  /* the loop condition sees it */
			case SOURCE_SIGNAL:
				handle_signal(sfd, cfg);
				break;
			case SOURCE_RX_READY:
				if (read(in.rx_ready_fd, &count, sizeof(count)) < 0)
					(void)0;  /* EAGAIN: a spurious wake-up */
				/* room in the FIFO: push more input */
				__attribute__((fallthrough));
			case SOURCE_INPUT:
				if (pump_input(&in, epfd)) {
					log_info("console escape: stopping the VM");
					vm_request_stop(cfg->vm, VM_STOP_SIGNAL, 0);
				}
				break;
			}
		}
		free_handlers(loop->removed);
		loop->removed = NULL;
	}

detach_uart:
	if (in.uart && in.rx_ready_fd >= 0)
		uart_set_rx_ready(in.uart, NULL, NULL);
close_rx_ready:
	if (in.rx_ready_fd >= 0)
		close(in.rx_ready_fd);
close_signalfd:
	/* The loop's own sources leave the epoll set, which outlives this
	 * call; the registered handlers stay. */
	epoll_ctl(epfd, EPOLL_CTL_DEL, cfg->vm->stop_eventfd, NULL);
	if (in.pollable && in.polling)
		epoll_ctl(epfd, EPOLL_CTL_DEL, in.fd, NULL);
	close(sfd);
	return ret;
}
