/* virtio-vsock: the connection table and the Unix-socket side. See
 * vsock_conn.h and docs/virtio-vsock.md. */
#include "virtio/vsock_conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "event_loop.h"
#include "virtio/vsock_proto.h"

_Static_assert(VSOCK_UDS_PATH_MAX + sizeof("_4294967295") <= sizeof(((struct sockaddr_un *)0)->sun_path),
	       "<uds_path>_<port> fits sun_path");

/* Host connections accepted per listener wake-up: a flood of them must
 * not keep the loop from everything else. */
#define ACCEPT_BATCH 16

static int unix_address(struct sockaddr_un *addr, const char *path, const char *suffix)
{
	int n;

	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	n = snprintf(addr->sun_path, sizeof(addr->sun_path), "%s%s", path, suffix);
	return n < 0 || (size_t)n >= sizeof(addr->sun_path) ? -ENAMETOOLONG : 0;
}

/* ---- slots ---- */

static struct vsock_conn *conn_alloc(struct vsock_conns *t)
{
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++) {
		struct vsock_conn *c = &t->conns[i];

		if (c->state == VSOCK_CONN_FREE) {
			*c = (struct vsock_conn){ .table = t, .fd = -1 };
			return c;
		}
	}
	return NULL;
}

static void conn_close_fd(struct vsock_conn *c)
{
	if (c->fd < 0)
		return;
	if (c->registered)
		event_loop_remove(c->table->loop, c->fd);
	c->registered = false;
	close(c->fd);
	c->fd = -1;
}

static void conn_free(struct vsock_conn *c)
{
	struct vsock_conns *t = c->table;

	conn_close_fd(c);
	free(c->buf);
	*c = (struct vsock_conn){ .table = t, .fd = -1, .state = VSOCK_CONN_FREE };
}

static void on_conn(void *opaque, int fd, uint32_t events);

/* Watch the socket (EPOLLIN to start with; vsock_conn_update narrows it).
 * Without an event loop (unit tests drive the table directly) there is
 * nothing to watch. */
static int conn_register(struct vsock_conn *c)
{
	int ret;

	if (!c->table->loop)
		return 0;
	ret = event_loop_add(c->table->loop, c->fd, on_conn, c);
	if (ret < 0)
		return ret;
	c->registered = true;
	c->events = EPOLLIN;
	return 0;
}

static void set_interest(struct vsock_conn *c, uint32_t events)
{
	if (!c->registered || c->events == events)
		return;
	if (event_loop_modify(c->table->loop, c->fd, events) == 0)
		c->events = events;
}

struct vsock_conn *vsock_conn_find(struct vsock_conns *t, uint32_t local, uint32_t peer)
{
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++) {
		struct vsock_conn *c = &t->conns[i];

		if (c->state != VSOCK_CONN_FREE && c->state != VSOCK_CONN_DEAD &&
		    c->state != VSOCK_CONN_HOST_CONNECTING && c->local_port == local &&
		    c->peer_port == peer)
			return c;
	}
	return NULL;
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

void vsock_conn_reset(struct vsock_conn *c, bool rst)
{
	/* A REQUEST the guest never saw, or a host process still typing
	 * its CONNECT line: the guest knows of no connection to reset. */
	if (c->state == VSOCK_CONN_HOST_CONNECTING ||
	    (c->state == VSOCK_CONN_HOST_REQUESTED && (c->pending & VSOCK_PEND_REQUEST)))
		rst = false;
	if (!rst) {
		conn_free(c);
		return;
	}
	conn_close_fd(c);
	free(c->buf);
	c->buf = NULL;
	c->buf_len = 0;
	c->state = VSOCK_CONN_RESETTING;
	c->pending = VSOCK_PEND_RST;
}

/* ---- guest to host ---- */

/* Send what is queued for the host process: the "OK <port>\n" line, then
 * buffered guest bytes. Returns 0 (all or part sent) or -EPIPE. */
static int conn_flush(struct vsock_conn *c)
{
	while (c->line_off < c->line_len) {
		ssize_t n = send(c->fd, c->line + c->line_off, c->line_len - c->line_off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -EPIPE;
		c->line_off += (unsigned)n;
	}
	while (c->buf_len) {
		uint32_t first = VSOCK_CONN_BUF - c->buf_head;
		struct iovec iov[2] = {
			{ c->buf + c->buf_head, c->buf_len < first ? c->buf_len : first },
			{ c->buf, c->buf_len > first ? c->buf_len - first : 0 },
		};
		struct msghdr msg = { .msg_iov = iov, .msg_iovlen = iov[1].iov_len ? 2 : 1 };
		ssize_t n = sendmsg(c->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -EPIPE;
		c->buf_head = (c->buf_head + (uint32_t)n) % VSOCK_CONN_BUF;
		c->buf_len -= (uint32_t)n;
		c->fwd_cnt += (uint32_t)n;
	}
	return 0;
}

static bool out_empty(const struct vsock_conn *c)
{
	return c->buf_len == 0 && c->line_off == c->line_len;
}

int vsock_conn_write(struct vsock_conn *c, const struct iovec *iov, unsigned iovcnt, uint32_t len)
{
	size_t done = 0, skip;
	uint32_t tail;

	/* §5.10.6.3: the guest may have at most buf_alloc bytes unconsumed. */
	if (len > VSOCK_CONN_BUF - c->buf_len)
		return -ENOBUFS;
	if (c->fd < 0 || c->wr_shut)
		return -EPIPE;
	if (len == 0)
		return 0;
	if (out_empty(c)) {
		/* Nothing queued ahead: straight from guest memory. */
		struct msghdr msg = { .msg_iov = (struct iovec *)iov, .msg_iovlen = iovcnt };
		ssize_t n = sendmsg(c->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -EPIPE;
		if (n > 0) {
			done = (size_t)n;
			c->fwd_cnt += (uint32_t)n;
		}
	}
	if (done == len)
		return 0;
	if (!c->buf) {
		c->buf = malloc(VSOCK_CONN_BUF);
		if (!c->buf)
			return -ENOMEM;
		c->buf_head = 0;
	}
	/* The rest into the ring, after the bytes already there. */
	skip = done;
	tail = (c->buf_head + c->buf_len) % VSOCK_CONN_BUF;
	for (unsigned i = 0; i < iovcnt; i++) {
		const uint8_t *p = iov[i].iov_base;
		size_t n = iov[i].iov_len;

		if (skip >= n) {
			skip -= n;
			continue;
		}
		p += skip;
		n -= skip;
		skip = 0;
		while (n) {
			size_t chunk = VSOCK_CONN_BUF - tail < n ? VSOCK_CONN_BUF - tail : n;

			memcpy(c->buf + tail, p, chunk);
			tail = (uint32_t)((tail + chunk) % VSOCK_CONN_BUF);
			c->buf_len += (uint32_t)chunk;
			p += chunk;
			n -= chunk;
		}
	}
	return 0;
}

void vsock_conn_established(struct vsock_conn *c)
{
	c->state = VSOCK_CONN_ESTABLISHED;
	c->line_len = (unsigned)snprintf(c->line, sizeof(c->line), "OK %u\n", c->local_port);
	c->line_off = 0;
	if (conn_flush(c) < 0)
		vsock_conn_reset(c, true);
}

/* ---- host to guest ---- */

int vsock_conn_peek(struct vsock_conn *c)
{
	char byte;
	ssize_t n = recv(c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);

	if (n > 0)
		return 1;
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		c->readable = false;
		vsock_conn_update(c);
		return 0;
	}
	return -1;   /* end of file, or an error (ECONNRESET): no more data either way */
}

ssize_t vsock_conn_read(struct vsock_conn *c, const struct iovec *iov, unsigned iovcnt)
{
	ssize_t n = readv(c->fd, iov, (int)iovcnt);

	return n < 0 ? -errno : n;
}

void vsock_conn_update(struct vsock_conn *c)
{
	uint32_t events = 0;

	switch (c->state) {
	case VSOCK_CONN_HOST_CONNECTING:
		set_interest(c, EPOLLIN);
		return;
	case VSOCK_CONN_HOST_REQUESTED:
		set_interest(c, 0);   /* nothing is read until the guest answers */
		return;
	case VSOCK_CONN_ESTABLISHED:
		break;
	default:
		return;
	}
	/* The guest sends no more: once its last bytes are out, the host
	 * process reads end of file. */
	if ((c->peer_shutdown & VSOCK_SHUTDOWN_SEND) && out_empty(c) && !c->wr_shut) {
		shutdown(c->fd, SHUT_WR);
		c->wr_shut = true;
	}
	/* Both directions done (§5.10.6.6: a clean disconnect ends with an
	 * RST from the peer): the guest gets any pending SHUTDOWN, then RST. */
	if (out_empty(c) && (c->peer_shutdown == VSOCK_SHUTDOWN_BOTH ||
			     (c->host_eof && (c->peer_shutdown & VSOCK_SHUTDOWN_SEND)))) {
		unsigned shutdown_pending = c->pending & VSOCK_PEND_SHUTDOWN;

		vsock_conn_reset(c, true);
		c->pending |= shutdown_pending;
		return;
	}
	/* Freed space the guest does not know about: tell it before it runs
	 * short (it sends as long as it believes it has credit). */
	if (c->fwd_cnt != c->announced_fwd_cnt && !(c->peer_shutdown & VSOCK_SHUTDOWN_SEND) &&
	    c->fwd_cnt + c->buf_len - c->announced_fwd_cnt > VSOCK_CONN_BUF / 2)
		c->pending |= VSOCK_PEND_CREDIT;
	if (!c->readable && !c->host_eof && !(c->peer_shutdown & VSOCK_SHUTDOWN_RECEIVE))
		events |= EPOLLIN;
	if (!out_empty(c))
		events |= EPOLLOUT;
	set_interest(c, events);
}

/* ---- host-initiated connections ---- */

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
static void read_connect_line(struct vsock_conn *c)
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
}

static void on_conn(void *opaque, int fd, uint32_t events)
{
	struct vsock_conn *c = opaque;
	struct vsock_conns *t = c->table;

	pthread_mutex_lock(t->lock);
	if (c->fd != fd || !c->registered) {
		pthread_mutex_unlock(t->lock);
		return;
	}
	switch (c->state) {
	case VSOCK_CONN_HOST_CONNECTING:
		read_connect_line(c);
		break;
	case VSOCK_CONN_HOST_REQUESTED:
		/* The host process gave up before the guest answered. */
		if (events & (EPOLLHUP | EPOLLERR))
			vsock_conn_reset(c, true);
		break;
	case VSOCK_CONN_ESTABLISHED:
		if ((events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) && conn_flush(c) < 0) {
			vsock_conn_reset(c, true);   /* guest bytes can no longer be delivered */
			break;
		}
		if (events & EPOLLIN)
			c->readable = true;
		if (events & (EPOLLHUP | EPOLLERR)) {
			/* Reported whatever the interest: stop watching, or the
			 * loop spins while the guest has no credit. What is
			 * left to read, and the end of file, the rx side still
			 * finds (readable). */
			c->host_hup = true;
			c->readable = true;
			event_loop_remove(t->loop, c->fd);
			c->registered = false;
		}
		break;
	case VSOCK_CONN_DEAD:
		conn_free(c);
		break;
	default:
		break;
	}
	vsock_conn_update(c);
	pthread_mutex_unlock(t->lock);
	t->kick(t->opaque);
}

static void on_listen(void *opaque, int fd, uint32_t events)
{
	struct vsock_conns *t = opaque;

	(void)events;
	pthread_mutex_lock(t->lock);
	for (unsigned i = 0; i < ACCEPT_BATCH; i++) {
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct vsock_conn *c;

		if (cfd < 0)
			break;
		c = conn_alloc(t);
		if (!c) {
			/* Table full: the host process reads end of file. */
			t->refused_host++;
			close(cfd);
			continue;
		}
		c->fd = cfd;
		c->state = VSOCK_CONN_HOST_CONNECTING;
		if (conn_register(c) < 0)
			conn_free(c);
	}
	pthread_mutex_unlock(t->lock);
}

/* ---- guest-initiated connections ---- */

struct vsock_conn *vsock_conn_connect(struct vsock_conns *t, uint32_t local, uint32_t peer)
{
	struct sockaddr_un addr;
	char suffix[16];
	struct vsock_conn *c = conn_alloc(t);
	int fd;

	if (!c)
		return NULL;
	snprintf(suffix, sizeof(suffix), "_%u", local);
	if (unix_address(&addr, t->uds_path, suffix) < 0)
		return NULL;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	/* A Unix stream connect completes or fails at once; EAGAIN (the
	 * listener's backlog is full) is a refusal like ECONNREFUSED. */
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		close(fd);
		return NULL;
	}
	c->fd = fd;
	c->state = VSOCK_CONN_ESTABLISHED;
	c->local_port = local;
	c->peer_port = peer;
	c->pending = VSOCK_PEND_RESPONSE;
	if (conn_register(c) < 0) {
		conn_free(c);
		return NULL;
	}
	return c;
}

/* ---- the table's lifetime ---- */

int vsock_conns_open(struct vsock_conns *t, const char *uds_path, char *err, size_t err_size)
{
	struct sockaddr_un addr;
	struct stat st;
	int fd, ret;

	memset(t, 0, sizeof(*t));
	t->listen_fd = -1;
	t->next_port = VSOCK_HOST_PORT_FIRST;
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++)
		t->conns[i] = (struct vsock_conn){ .table = t, .fd = -1 };
	if (strlen(uds_path) > VSOCK_UDS_PATH_MAX || unix_address(&addr, uds_path, "") < 0) {
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
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 16) < 0 ||
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
	ret = event_loop_add(loop, t->listen_fd, on_listen, t);
	if (ret == 0)
		t->loop = loop;
	return ret;
}

void vsock_conns_reset(struct vsock_conns *t)
{
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++) {
		struct vsock_conn *c = &t->conns[i];

		if (c->state != VSOCK_CONN_FREE) {
			c->state = VSOCK_CONN_DEAD;
			c->pending = 0;
		}
	}
}

void vsock_conns_reap(struct vsock_conns *t)
{
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++)
		if (t->conns[i].state == VSOCK_CONN_DEAD)
			conn_free(&t->conns[i]);
}

void vsock_conns_close(struct vsock_conns *t)
{
	struct stat st;

	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++)
		if (t->conns[i].table)
			conn_free(&t->conns[i]);
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
