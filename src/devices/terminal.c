#include "devices/terminal.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

/* Process-global state, on purpose: terminal settings belong to the
 * process's terminal, not to any object, and two of the places that must
 * put them back, an atexit hook and a signal handler, take no context
 * argument. terminal_raw_enter and terminal_restore run on the main thread
 * (before vCPU threads start, after they stop); the signal handler may run
 * on any thread at any time. saved_fd is published after saved_termios is
 * complete and is taken with an exchange, so exactly one of the handler and
 * terminal_restore restores, using complete settings. atomic_int is
 * lock-free here, which is what makes it usable from a signal handler. */
static struct termios saved_termios;
static atomic_int saved_fd = -1;
static bool atexit_registered;
static bool handlers_installed;

/* Signals whose default action ends the process (with or without a core
 * dump). Stop signals are left alone: raw mode disables the keys that
 * send them, and SIGSTOP cannot be caught. SIGUSR1/2 and the real-time
 * signals are left to whoever uses them (vCPU kicks). */
static const int terminal_fatal_signals[] = {
	SIGHUP, SIGINT, SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE,
	SIGSEGV, SIGPIPE, SIGTERM, SIGXCPU, SIGXFSZ, SIGSYS,
};

/* Async-signal-safe: an atomic exchange and tcsetattr (POSIX.1-2008
 * lists tcsetattr among the async-signal-safe functions). */
static void terminal_restore_saved(void)
{
	int fd = atomic_exchange(&saved_fd, -1);
	int saved_errno = errno;

	if (fd >= 0)
		tcsetattr(fd, TCSANOW, &saved_termios);
	errno = saved_errno;
}

static void terminal_on_fatal_signal(int sig)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	int saved_errno = errno;

	terminal_restore_saved();
	/* Die of the same signal with its default action. The signal is
	 * blocked while its handler runs, so the raised one is delivered
	 * when the handler returns (a faulting instruction would also fault
	 * again). sigaction and raise are async-signal-safe. */
	sigemptyset(&dfl.sa_mask);
	sigaction(sig, &dfl, NULL);
	raise(sig);
	errno = saved_errno;
}

static void terminal_at_exit(void)
{
	terminal_restore_saved();
}

static void terminal_install_handlers(void)
{
	struct sigaction sa = {
		.sa_handler = terminal_on_fatal_signal,
		/* SA_ONSTACK: a SIGSEGV from stack overflow can still be
		 * handled on a thread that has an alternate stack. */
		.sa_flags = SA_ONSTACK,
	};
	size_t i;

	if (handlers_installed)
		return;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(terminal_fatal_signals) / sizeof(terminal_fatal_signals[0]); i++) {
		int sig = terminal_fatal_signals[i];
		struct sigaction old;

		if (sigaction(sig, NULL, &old) == 0 &&
		    !(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_DFL)
			sigaction(sig, &sa, NULL);
	}
	handlers_installed = true;
}

/* cfmakeraw() minus its output changes: see terminal.h for why OPOST
 * stays. */
static void terminal_make_raw(struct termios *t)
{
	t->c_iflag &= ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
	t->c_lflag &= ~(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
	t->c_cflag &= ~(CSIZE | PARENB);
	t->c_cflag |= CS8;
	t->c_cc[VMIN] = 1;   /* read() returns as soon as one byte is there */
	t->c_cc[VTIME] = 0;
}

int terminal_raw_enter(int fd)
{
	struct termios raw;
	int err;

	if (!isatty(fd))
		return 0;
	if (atomic_load(&saved_fd) >= 0)
		return -EBUSY;
	if (!atexit_registered) {
		if (atexit(terminal_at_exit) != 0)
			return -ENOMEM;
		atexit_registered = true;
	}
	if (tcgetattr(fd, &saved_termios) < 0)
		return -errno;
	atomic_store(&saved_fd, fd);  /* publish: handlers may restore now */
	terminal_install_handlers();

	raw = saved_termios;
	terminal_make_raw(&raw);
	if (tcsetattr(fd, TCSANOW, &raw) < 0) {
		err = -errno;
		atomic_store(&saved_fd, -1);
		return err;
	}
	return 0;
}

void terminal_restore(void)
{
	terminal_restore_saved();
}
