/* virtio-vsock: the listening socket <uds_path> and host-initiated
 * connections up to their "CONNECT <port>\n" line, with the timer that
 * bounds how long that line may take and retries a paused listener. See
 * vsock_conn.h and docs/virtio-vsock.md. */
#include "virtio/vsock_conn.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "event_loop.h"
#include "log.h"

_Static_assert(VSOCK_UDS_PATH_MAX + sizeof("_4294967295") <= sizeof(((struct sockaddr_un *)0)->sun_path),
	       "<uds_path>_<port> fits sun_path");

/* Host connections accepted per listener wake-up: a flood of them must
 * not keep the loop from everything else. */
#define ACCEPT_BATCH 16

#define NS_PER_MS 1000000ull
#define NS_PER_S  1000000000ull

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* ---- the deadline timer (lock held) ---- */

/* Arm the timer for the earliest deadline: a CONNECT line still missing,
 * or the paused listener's retry; disarm it when nothing waits. */
static void timer_update(struct vsock_conns *t)
{
	uint64_t at = t->listen_paused ? t->listen_retry_at : 0;
	struct itimerspec when = { 0 };

	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++) {
		const struct vsock_conn *c = &t->conns[i];

		if (c->state == VSOCK_CONN_HOST_CONNECTING && (!at || c->line_deadline < at))
			at = c->line_deadline;
	}
	if (t->timer_fd < 0 || at == t->timer_at)
		return;
	/* Absolute and one-shot: a deadline already past fires at once;
	 * all zero disarms. */
	when.it_value = (struct timespec){ .tv_sec = (time_t)(at / NS_PER_S),
					   .tv_nsec = (long)(at % NS_PER_S) };
	if (timerfd_settime(t->timer_fd, TFD_TIMER_ABSTIME, &when, NULL) < 0) {
		/* Only for invalid arguments: say so rather than let silent
		 * host connections stay unnoticed. */
		log_warn("virtio-vsock: timerfd_settime(%llu ns): %s", (unsigned long long)at,
			 strerror(errno));
		return;
	}
	t->timer_at = at;
}

static void listen_unpause(struct vsock_conns *t)
{
	if (t->listen_paused && event_loop_modify(t->loop, t->listen_fd, EPOLLIN) == 0)
		t->listen_paused = false;
}

/* The timer fired: close host connections whose CONNECT line is overdue
 * (they are not the guest's business: no packet), retry a paused
 * listener, and aim the timer at what is left. */
static void on_timer(void *opaque, int fd, uint32_t events)
{
	struct vsock_conns *t = opaque;
	uint64_t expirations, now;

	(void)events;
	if (read(fd, &expirations, sizeof(expirations)) < 0)
		(void)0;   /* EAGAIN: re-armed since it fired */
	pthread_mutex_lock(t->lock);
	now = now_ns();
	if (t->timer_at && t->timer_at <= now)
		t->timer_at = 0;   /* one-shot: it is disarmed now */
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++) {
		struct vsock_conn *c = &t->conns[i];

		if (c->state == VSOCK_CONN_HOST_CONNECTING && c->line_deadline <= now) {
			t->timed_out_host++;
			vsock_conn_reset(c, false);
		}
	}
	if (t->listen_paused && t->listen_retry_at <= now)
		listen_unpause(t);   /* still out of descriptors: on_listen pauses again */
	timer_update(t);
	pthread_mutex_unlock(t->lock);
}

/* ---- the listening socket ---- */

int vsock_unix_address(struct sockaddr_un *addr, const char *path, const char *suffix)
{
	int n;

	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	n = snprintf(addr->sun_path, sizeof(addr->sun_path), "%s%s", path, suffix);
	return n < 0 || (size_t)n >= sizeof(addr->sun_path) ? -ENAMETOOLONG : 0;
}

/* A host port no live connection uses. At most VSOCK_MAX_CONNS are taken,
 * so the loop ends within VSOCK_MAX_CONNS + 1 tries. */
static uint32_t alloc_port(struct vsock_conns *t)
{
	for (;;) {
		uint32_t port = t->next_port;
		bool used = false;

		t->next_port = port == UINT32_MAX - 1 ? VSOCK_HOST_PORT_FIRST : port + 1;
		for (unsigned i = 0; i < VSOCK_MAX_CONNS && !used; i++)
			used = t->conns[i].state != VSOCK_CONN_FREE && t->conns[i].local_port == port;
		if (!used)
			return port;
	}
}

/* "CONNECT <port>\n" with a decimal port below 2^32, nothing else. */
static bool parse_connect(const char *line, unsigned len, uint32_t *port)
{
	static const char verb[] = "CONNECT ";
	uint64_t value = 0;
	unsigned i = sizeof(verb) - 1;

	if (len <= i + 1 || memcmp(line, verb, i) || line[len - 1] != '\n' || len - 1 - i > 10)
		return false;
	for (; i < len - 1; i++) {
		if (line[i] < '0' || line[i] > '9')
			return false;
		value = value * 10 + (uint64_t)(line[i] - '0');
	}
	if (value > UINT32_MAX)
		return false;
	*port = (uint32_t)value;
	return true;
}

/* Take the command line, and not a byte more: what follows it is data
 * for the guest once the connection stands. */
void vsock_listen_read_connect(struct vsock_conn *c)
{
	char peek[VSOCK_LINE_MAX];
	size_t room = sizeof(c->line) - c->line_len, take;
	ssize_t n = recv(c->fd, peek, room, MSG_PEEK | MSG_DONTWAIT);
	const char *nl;
	uint32_t port;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		vsock_conn_reset(c, false);   /* gone before saying where to */
		return;
	}
	nl = memchr(peek, '\n', (size_t)n);
	take = nl ? (size_t)(nl - peek) + 1 : (size_t)n;
	if (recv(c->fd, c->line + c->line_len, take, MSG_DONTWAIT) != (ssize_t)take) {
		vsock_conn_reset(c, false);
		return;
	}
	c->line_len += (unsigned)take;
	if (!nl) {
		if (c->line_len == sizeof(c->line)) {
			c->table->refused_host++;
			vsock_conn_reset(c, false);
		}
		return;
	}
	if (!parse_connect(c->line, c->line_len, &port)) {
		c->table->refused_host++;
		vsock_conn_reset(c, false);
		return;
	}
	c->line_len = 0;
	c->peer_port = port;
	c->local_port = alloc_port(c->table);
	c->state = VSOCK_CONN_HOST_REQUESTED;
	c->pending |= VSOCK_PEND_REQUEST;
	timer_update(c->table);   /* its deadline no longer counts */
}

static void on_listen(void *opaque, int fd, uint32_t events)
{
	struct vsock_conns *t = opaque;

	(void)events;
	pthread_mutex_lock(t->lock);
	for (unsigned i = 0; i < ACCEPT_BATCH; i++) {
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct vsock_conn *c;

		if (cfd < 0) {
			/* Out of descriptors (EMFILE, ENFILE, ENOBUFS): the
			 * pending connection keeps the listener readable, and a
			 * level-triggered loop would spin on it. Pause until a
			 * connection closes or the retry (descriptors may come
			 * free elsewhere, with no connection of ours to close). */
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED &&
			    event_loop_modify(t->loop, fd, 0) == 0) {
				t->listen_paused = true;
				t->listen_retry_at = now_ns() + VSOCK_LISTEN_RETRY_MS * NS_PER_MS;
			}
			break;
		}
		c = vsock_conn_alloc(t);
		if (!c) {
			/* Table full: the host process reads end of file. */
			t->refused_host++;
			close(cfd);
			continue;
		}
		c->fd = cfd;
		c->state = VSOCK_CONN_HOST_CONNECTING;
		c->line_deadline = now_ns() + VSOCK_CONNECT_TIMEOUT_MS * NS_PER_MS;
		if (vsock_conn_register(c) < 0)
			vsock_conn_free(c);
	}
	timer_update(t);
	pthread_mutex_unlock(t->lock);
}

void vsock_listen_resume(struct vsock_conns *t)
{
	listen_unpause(t);
	timer_update(t);
}

/* ---- the table's lifetime ---- */

int vsock_conns_open(struct vsock_conns *t, const char *uds_path, char *err, size_t err_size)
{
	struct sockaddr_un addr;
	struct stat st;
	int fd, ret;

	memset(t, 0, sizeof(*t));
	t->listen_fd = -1;
	t->timer_fd = -1;
	t->next_port = VSOCK_HOST_PORT_FIRST;
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++)
		t->conns[i] = (struct vsock_conn){ .table = t, .fd = -1 };
	if (strlen(uds_path) > VSOCK_UDS_PATH_MAX || vsock_unix_address(&addr, uds_path, "") < 0) {
		snprintf(err, err_size, "--vsock: uds=%s: longer than %d bytes", uds_path,
			 VSOCK_UDS_PATH_MAX);
		return -ENAMETOOLONG;
	}
	snprintf(t->uds_path, sizeof(t->uds_path), "%s", uds_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, err_size, "--vsock: socket(AF_UNIX): %s", strerror(errno));
		return ret;
	}
	if (lstat(uds_path, &st) == 0) {
		/* Never delete what is not a socket; never steal a socket
		 * someone listens on (another VM's). A socket nobody listens
		 * on is what a VMM that died leaves behind: replace it. */
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, err_size, "--vsock: uds=%s: exists and is not a socket", uds_path);
			ret = -EEXIST;
			goto close_fd;
		}
		if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 || errno == EAGAIN) {
			snprintf(err, err_size, "--vsock: uds=%s: in use (a process listens on it)",
				 uds_path);
			ret = -EADDRINUSE;
			goto close_fd;
		}
		if (errno != ECONNREFUSED || unlink(uds_path) < 0) {
			ret = -errno;
			snprintf(err, err_size, "--vsock: uds=%s: cannot replace the stale socket: %s",
				 uds_path, strerror(errno));
			goto close_fd;
		}
		/* The failed connect leaves fd unusable for bind: start over. */
		close(fd);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			ret = -errno;
			snprintf(err, err_size, "--vsock: socket(AF_UNIX): %s", strerror(errno));
			return ret;
		}
	}
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, VSOCK_MAX_CONNS) < 0 ||
	    stat(uds_path, &st) < 0) {
		ret = -errno;
		snprintf(err, err_size, "--vsock: uds=%s: %s", uds_path, strerror(errno));
		goto close_fd;
	}
	t->listen_dev = st.st_dev;
	t->listen_ino = st.st_ino;
	t->listen_fd = fd;
	return 0;

close_fd:
	close(fd);
	return ret;
}

int vsock_conns_attach(struct vsock_conns *t, struct event_loop *loop, pthread_mutex_t *lock,
		       void (*kick)(void *opaque), void *opaque)
{
	int ret;

	t->lock = lock;
	t->kick = kick;
	t->opaque = opaque;
	t->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (t->timer_fd < 0)
		return log_syscall_error("timerfd_create(virtio-vsock deadlines)", errno);
	ret = event_loop_add(loop, t->listen_fd, on_listen, t);
	if (ret < 0)
		return log_syscall_error("epoll_ctl(virtio-vsock listener)", -ret);
	t->loop = loop;
	ret = event_loop_add(loop, t->timer_fd, on_timer, t);
	if (ret < 0)
		return log_syscall_error("epoll_ctl(virtio-vsock deadline timer)", -ret);
	t->timer_registered = true;
	return 0;
}

void vsock_conns_close(struct vsock_conns *t)
{
	struct stat st;

	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++)
		if (t->conns[i].table)
			vsock_conn_free(&t->conns[i]);
	if (t->timer_registered)
		event_loop_remove(t->loop, t->timer_fd);
	t->timer_registered = false;
	if (t->timer_fd >= 0)
		close(t->timer_fd);
	t->timer_fd = -1;
	if (t->listen_fd < 0)
		return;
	if (t->loop)
		event_loop_remove(t->loop, t->listen_fd);
	close(t->listen_fd);
	t->listen_fd = -1;
	/* Remove the socket file we created, unless someone replaced it. */
	if (stat(t->uds_path, &st) == 0 && st.st_dev == t->listen_dev && st.st_ino == t->listen_ino)
		unlink(t->uds_path);
}
