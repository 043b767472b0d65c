/* spawn_timed: run one VMM and measure it, for bench/startup.py.
 *
 * Usage: spawn_timed CMD [ARG...]
 *
 * Runs CMD with stdin from /dev/null and stdout into a pipe, copies what
 * it printed to our stdout, then prints one line:
 *
 *   spawn: first_output_ns=N exit_ns=N maxrss_kib=N cpu_us=N csw=N status=N
 *
 * first_output_ns  exec -> the first byte of its stdout reached us (a guest
 *                  that writes COM1 first: exec -> first guest instruction);
 *                  -1 if it printed nothing
 * exit_ns          exec -> wait4() returned (the process is gone)
 * maxrss_kib       the child's peak resident set (getrusage(2) ru_maxrss)
 * cpu_us           its user + system CPU time (guest time counts as user
 *                  time of the vCPU thread)
 * csw              its voluntary + involuntary context switches
 * status           exit status, or 128 + signal number
 *
 * Why a C launcher: ru_maxrss of a child also covers the memory image it
 * had before execve (Linux folds the old mm's peak into it at exec), and a
 * Python child starts as a copy of a ~14 MiB interpreter (or, with vfork,
 * is the interpreter). Forked from this small program, the pre-exec image
 * is a few pages, far below any VMM's peak. The clock starts in the child
 * right before execve, written to a shared page, so fork() is not timed. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static long long timeval_us(struct timeval tv)
{
	return (long long)tv.tv_sec * 1000000 + tv.tv_usec;
}

static int fail(const char *what)
{
	fprintf(stderr, "spawn_timed: %s: %s\n", what, strerror(errno));
	return 1;
}

/* In the child: stdin /dev/null, stdout the pipe, then exec. Only
 * async-signal-safe calls between fork and exec. */
static void child_exec(char **argv, int out_fd, volatile int64_t *exec_ns)
{
	int null_fd = open("/dev/null", O_RDONLY);

	if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0)
		_exit(127);
	*exec_ns = now_ns();
	execvp(argv[0], argv);
	_exit(127);
}

/* Copy the child's output to our stdout until EOF; note when the first
 * byte arrived. */
static int copy_output(int fd, int64_t *first_ns)
{
	char buf[4096];

	*first_ns = -1;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail("read(child stdout)");
		if (n == 0)
			return 0;
		if (*first_ns < 0)
			*first_ns = now_ns();
		if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
			return fail("write(stdout)");
	}
}

int main(int argc, char **argv)
{
	volatile int64_t *exec_ns;
	int64_t first_ns, exit_ns;
	struct rusage ru;
	int pipefd[2], wstatus, ret;
	pid_t pid;

	if (argc < 2) {
		fprintf(stderr, "usage: spawn_timed CMD [ARG...]\n");
		return 2;
	}
	exec_ns = mmap(NULL, sizeof(*exec_ns), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (exec_ns == MAP_FAILED)
		return fail("mmap");
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return fail("pipe2");
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return fail("fork");
	if (pid == 0)
		child_exec(argv + 1, pipefd[1], exec_ns);
	close(pipefd[1]);

	ret = copy_output(pipefd[0], &first_ns);
	while (wait4(pid, &wstatus, 0, &ru) < 0) {
		if (errno != EINTR)
			return fail("wait4");
	}
	exit_ns = now_ns();
	close(pipefd[0]);
	if (ret)
		return ret;

	fflush(stdout);
	printf("\nspawn: first_output_ns=%lld exit_ns=%lld maxrss_kib=%ld cpu_us=%lld csw=%ld status=%d\n",
	       first_ns < 0 ? -1LL : (long long)(first_ns - *exec_ns),
	       (long long)(exit_ns - *exec_ns), ru.ru_maxrss,
	       timeval_us(ru.ru_utime) + timeval_us(ru.ru_stime), ru.ru_nvcsw + ru.ru_nivcsw,
	       WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus));
	return 0;
}
