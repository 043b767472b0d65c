/* Terminal raw mode on a real pseudo-terminal, and its restoration on each
 * way a process can end: terminal_restore, exit(), and fatal signals. Each
 * raw-mode case runs in a child process, because the module's state is
 * process-wide by design; the parent watches the pty's settings. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include "devices/terminal.h"

struct pty {
	int master, slave;
	struct termios original;
};

static int setup(void **state)
{
	struct pty *p = calloc(1, sizeof(*p));

	assert_non_null(p);
	p->master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	assert_true(p->master >= 0);
	assert_int_equal(grantpt(p->master), 0);
	assert_int_equal(unlockpt(p->master), 0);
	p->slave = open(ptsname(p->master), O_RDWR | O_NOCTTY | O_CLOEXEC);
	assert_true(p->slave >= 0);
	assert_int_equal(tcgetattr(p->slave, &p->original), 0);
	/* A fresh pty is in cooked mode: the tests below rely on it. */
	assert_true(p->original.c_lflag & ICANON);
	assert_true(p->original.c_oflag & OPOST);
	*state = p;
	return 0;
}

static int teardown(void **state)
{
	struct pty *p = *state;

	close(p->slave);
	close(p->master);
	free(p);
	return 0;
}

static void assert_settings_equal(const struct termios *a, const struct termios *b)
{
	assert_int_equal(a->c_iflag, b->c_iflag);
	assert_int_equal(a->c_oflag, b->c_oflag);
	assert_int_equal(a->c_cflag, b->c_cflag);
	assert_int_equal(a->c_lflag, b->c_lflag);
	assert_memory_equal(a->c_cc, b->c_cc, sizeof(a->c_cc));
}

static void assert_raw(const struct termios *t, const struct termios *original)
{
	assert_int_equal(t->c_lflag & (ICANON | ECHO | ECHONL | ISIG | IEXTEN), 0);
	assert_int_equal(t->c_iflag & (ICRNL | INLCR | IGNCR | IXON | ISTRIP | BRKINT), 0);
	assert_int_equal(t->c_cflag & (CSIZE | PARENB), CS8);
	assert_int_equal(t->c_cc[VMIN], 1);
	assert_int_equal(t->c_cc[VTIME], 0);
	assert_int_equal(t->c_oflag, original->c_oflag);  /* output processing kept */
}

static void test_not_a_terminal_is_left_alone(void **state)
{
	int fds[2];

	(void)state;
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(terminal_raw_enter(fds[0]), 0);
	terminal_restore();  /* nothing saved: no-op */
	close(fds[0]);
	close(fds[1]);
}

enum child_end {
	END_RESTORE,   /* terminal_restore(), then hang on until killed */
	END_EXIT,      /* exit(): the atexit hook */
	END_SIGTERM,
	END_SIGHUP,
	END_SIGSEGV,
	END_ABORT,
};

/* Signals a sanitizer or cmocka may have claimed in this process: the
 * child gives them back their default action, as a plain kvmrun has. */
static const int claimed_signals[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGSYS };

static void child(struct pty *p, int ready_wr, int go_rd, enum child_end end)
{
	struct rlimit no_core = { 0, 0 };
	char c = 0;

	setrlimit(RLIMIT_CORE, &no_core);
	for (size_t i = 0; i < sizeof(claimed_signals) / sizeof(claimed_signals[0]); i++)
		signal(claimed_signals[i], SIG_DFL);
	if (terminal_raw_enter(p->slave) != 0)
		_exit(90);
	if (terminal_raw_enter(p->slave) != -EBUSY)
		_exit(91);
	if (write(ready_wr, &c, 1) != 1 || read(go_rd, &c, 1) != 1)
		_exit(92);
	switch (end) {
	case END_RESTORE:
		terminal_restore();
		terminal_restore();
		if (write(ready_wr, &c, 1) != 1)
			_exit(93);
		pause();
		break;
	case END_EXIT:
		exit(7);
	case END_SIGTERM:
		raise(SIGTERM);
		break;
	case END_SIGHUP:
		raise(SIGHUP);
		break;
	case END_SIGSEGV:
		raise(SIGSEGV);
		break;
	case END_ABORT:
		abort();
	}
	_exit(94);  /* the signal should have ended us */
}

/* Run a child that enters raw mode and ends as `end`; check the pty was
 * raw while it ran and is restored after. Returns the wait status. */
static int run_child(struct pty *p, enum child_end end)
{
	int ready[2], go[2], status;
	struct termios now;
	pid_t pid;
	char c = 0;

	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(ready[0]);
		close(go[1]);
		child(p, ready[1], go[0], end);
	}
	close(ready[1]);
	close(go[0]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	assert_int_equal(tcgetattr(p->slave, &now), 0);
	assert_raw(&now, &p->original);
	assert_int_equal(write(go[1], &c, 1), 1);
	if (end == END_RESTORE) {
		assert_int_equal(read(ready[0], &c, 1), 1);
		assert_int_equal(tcgetattr(p->slave, &now), 0);
		assert_settings_equal(&now, &p->original);
		kill(pid, SIGKILL);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	close(ready[0]);
	close(go[1]);
	assert_int_equal(tcgetattr(p->slave, &now), 0);
	assert_settings_equal(&now, &p->original);
	return status;
}

static void test_restore_puts_settings_back(void **state)
{
	int status = run_child(*state, END_RESTORE);

	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

static void test_exit_restores(void **state)
{
	int status = run_child(*state, END_EXIT);

	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 7);
}

static void test_fatal_signals_restore_and_still_kill(void **state)
{
	static const struct { enum child_end end; int sig; } cases[] = {
		{ END_SIGTERM, SIGTERM },
		{ END_SIGHUP, SIGHUP },
		{ END_SIGSEGV, SIGSEGV },
		{ END_ABORT, SIGABRT },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int status = run_child(*state, cases[i].end);

		assert_true(WIFSIGNALED(status));
		assert_int_equal(WTERMSIG(status), cases[i].sig);
	}
}

/* A handler the process already has (a graceful SIGTERM) is kept. */
static void keep_me(int sig)
{
	(void)sig;
}

static void test_existing_handlers_are_kept(void **state)
{
	struct pty *p = *state;
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0) {
		struct sigaction now;

		signal(SIGTERM, keep_me);
		signal(SIGQUIT, SIG_DFL);
		if (terminal_raw_enter(p->slave) != 0)
			_exit(90);
		sigaction(SIGTERM, NULL, &now);
		if (now.sa_handler != keep_me)
			_exit(91);
		sigaction(SIGQUIT, NULL, &now);
		if (now.sa_handler == SIG_DFL)
			_exit(92);  /* ours should be there */
		terminal_restore();
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_not_a_terminal_is_left_alone),
		T(test_restore_puts_settings_back),
		T(test_exit_restores),
		T(test_fatal_signals_restore_and_still_kill),
		T(test_existing_handlers_are_kept),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
