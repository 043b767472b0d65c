/* virtio-vsock: the connection table and the connections' Unix sockets
 * (the listening socket is vsock_listen.c's). See vsock_conn.h and
 * docs/virtio-vsock.md. */
#include "virtio/vsock_conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "event_loop.h"
#include "virtio/vsock_proto.h"

/* ---- slots ---- */

struct vsock_conn *vsock_conn_alloc(struct vsock_conns *t)
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

void vsock_conn_free(struct vsock_conn *c)
{
	struct vsock_conns *t = c->table;

	conn_close_fd(c);
	free(c->buf);
	*c = (struct vsock_conn){ .table = t, .fd = -1, .state = VSOCK_CONN_FREE };
	vsock_listen_resume(t);   /* a descriptor came free */
}

static void on_conn(void *opaque, int fd, uint32_t events);

/* Watch the socket (EPOLLIN to start with; vsock_conn_update narrows it).
 * Without an event loop (unit tests drive the table directly) there is
 * nothing to watch. */
int vsock_conn_register(struct vsock_conn *c)
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

void vsock_conn_reset(struct vsock_conn *c, bool rst)
{
	/* A REQUEST the guest never saw, or a host process still typing
	 * its CONNECT line: the guest knows of no connection to reset. */
	if (c->state == VSOCK_CONN_HOST_CONNECTING ||
	    (c->state == VSOCK_CONN_HOST_REQUESTED && (c->pending & VSOCK_PEND_REQUEST)))
		rst = false;
	if (!rst) {
		vsock_conn_free(c);
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
		vsock_listen_read_connect(c);
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
		vsock_conn_free(c);
		break;
	default:
		break;
	}
	vsock_conn_update(c);
	pthread_mutex_unlock(t->lock);
	t->kick(t->opaque);
}

/* ---- guest-initiated connections ---- */

struct vsock_conn *vsock_conn_connect(struct vsock_conns *t, uint32_t local, uint32_t peer)
{
	struct sockaddr_un addr;
	char suffix[16];
	struct vsock_conn *c = vsock_conn_alloc(t);
	int fd;

	if (!c)
		return NULL;
	snprintf(suffix, sizeof(suffix), "_%u", local);
	if (vsock_unix_address(&addr, t->uds_path, suffix) < 0)
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
	if (vsock_conn_register(c) < 0) {
		vsock_conn_free(c);
		return NULL;
	}
	return c;
}

/* ---- the table's lifetime ---- */

void vsock_conns_reset(struct vsock_conns *t)
{
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++) {
		struct vsock_conn *c = &t->conns[i];

		/* A host process still writing its CONNECT line, or whose
		 * REQUEST has not gone out yet, is nothing the guest knows
		 * of: it waits for the next driver. Every driver starts with
		 * a reset (§3.1.1), so this is also how a host process may
		 * connect before the guest's driver is up. */
		if (c->state == VSOCK_CONN_HOST_CONNECTING ||
		    (c->state == VSOCK_CONN_HOST_REQUESTED && (c->pending & VSOCK_PEND_REQUEST)))
			continue;
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
			vsock_conn_free(&t->conns[i]);
}

