/* virtio-vsock's connection table and its Unix-socket side, Firecracker's
 * hybrid model (docs/virtio-vsock.md); vsock_conn.c has the connections,
 * vsock_listen.c the listening socket:
 *
 *  - guest-initiated: a guest REQUEST to (host CID 2, port P) becomes a
 *    connect() to the Unix socket "<uds_path>_<P>"; nothing listening
 *    there means RST;
 *  - host-initiated: kvmrun listens on "<uds_path>"; a host process
 *    connects and writes "CONNECT <port>\n"; the guest gets a REQUEST to
 *    that port from a host port kvmrun allocates, and once it answers
 *    RESPONSE the host process reads "OK <host port>\n". A guest RST
 *    closes the host connection instead.
 *
 * Then bytes flow both ways as RW packets. Every socket is non-blocking
 * and served on the event-loop thread; a vCPU never waits for one.
 *
 * Locking: the table belongs to the device and lives under its lock
 * (virtio_mmio.lock). Functions here expect it held, except the event
 * handlers, which take it. Sockets are added to and removed from the
 * event loop only on the loop thread: a device reset (a vCPU thread)
 * marks connections dead and the loop reaps them (vsock_conns_reap).
 *
 * Limits (bounded memory whatever the guest or host processes do):
 * VSOCK_MAX_CONNS connections, each with at most VSOCK_CONN_BUF bytes of
 * guest data waiting for the host process to read them. */
#ifndef KVMRUN_VIRTIO_VSOCK_CONN_H
#define KVMRUN_VIRTIO_VSOCK_CONN_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

struct event_loop;

/* Connections at once, both directions together. A host process that
 * connects while the table is full is closed at once; a guest REQUEST
 * gets RST (§5.10.6.5: "insufficient resources"). */
#define VSOCK_MAX_CONNS 64

/* The receive buffer kvmrun advertises per connection (buf_alloc,
 * §5.10.6.3): guest bytes the host process has not read yet are kept
 * here, and a guest that sends beyond it broke the credit rules. */
#define VSOCK_CONN_BUF (64u * 1024)

/* "CONNECT 4294967295\n" is 19 bytes; a longer line is refused. */
#define VSOCK_LINE_MAX 32

/* A host process has this long from its connect to write the whole
 * "CONNECT <port>\n" line; then it is closed, so that clients which say
 * nothing cannot hold the table's slots. */
#define VSOCK_CONNECT_TIMEOUT_MS 5000

/* accept() failed for want of descriptors (EMFILE, ENFILE, ...): the
 * listener pauses, and tries again this much later or as soon as a
 * connection closes, whichever comes first. */
#define VSOCK_LISTEN_RETRY_MS 100

/* Host ports kvmrun allocates for host-initiated connections, as
 * Firecracker does: from 2^30 up, away from well-known service ports. */
#define VSOCK_HOST_PORT_FIRST (1u << 30)

/* sun_path holds 108 bytes with the NUL; "_4294967295" is the longest
 * suffix a guest-initiated connection adds. */
#define VSOCK_UDS_PATH_MAX (108 - 1 - 11)

enum vsock_conn_state {
	VSOCK_CONN_FREE,
	VSOCK_CONN_HOST_CONNECTING,  /* accepted; reading "CONNECT <port>\n" */
	VSOCK_CONN_HOST_REQUESTED,   /* REQUEST sent (or pending); waiting for RESPONSE */
	VSOCK_CONN_ESTABLISHED,
	VSOCK_CONN_RESETTING,        /* socket closed; an RST for the guest is pending */
	VSOCK_CONN_DEAD,             /* device reset: the loop closes it, no packet */
};

/* Control packets a connection owes the guest (vsock_conn.pending). */
#define VSOCK_PEND_REQUEST  1u
#define VSOCK_PEND_RESPONSE 2u
#define VSOCK_PEND_SHUTDOWN 4u
#define VSOCK_PEND_CREDIT   8u
#define VSOCK_PEND_RST      16u

struct vsock_conns;

struct vsock_conn {
	struct vsock_conns *table;
	enum vsock_conn_state state;
	int fd;                      /* the Unix socket, -1 once closed */
	bool registered;             /* fd is in the event loop */
	uint32_t events;             /* its epoll interest */
	uint32_t local_port;         /* the host's end */
	uint32_t peer_port;          /* the guest's end */
	unsigned pending;            /* VSOCK_PEND_* */
	uint32_t shutdown_flags;     /* what the pending SHUTDOWN says */

	/* Host to guest (RW packets on rx), §5.10.6.3. */
	uint32_t tx_cnt;             /* payload bytes sent to the guest */
	uint32_t peer_buf_alloc;     /* the guest's last word on its buffer */
	uint32_t peer_fwd_cnt;
	uint32_t peer_shutdown;      /* VSOCK_SHUTDOWN_* the guest sent, sticky */
	bool readable;               /* the socket may hold data or EOF for the guest */
	bool host_eof;               /* read returned 0: the host sends no more */
	bool host_hup;               /* the host process closed its end */

	/* Guest to host. */
	uint32_t fwd_cnt;            /* guest payload bytes written to the socket */
	uint32_t announced_fwd_cnt;  /* fwd_cnt the guest has last been told */
	uint8_t *buf;                /* VSOCK_CONN_BUF ring, allocated on first use */
	uint32_t buf_head, buf_len;
	bool wr_shut;                /* shutdown(SHUT_WR) done for a guest SHUTDOWN */
	char line[VSOCK_LINE_MAX];   /* "CONNECT <port>\n" in, then "OK <port>\n" out */
	unsigned line_len, line_off;
	uint64_t line_deadline;      /* HOST_CONNECTING: closed at this CLOCK_MONOTONIC ns */
};

struct vsock_conns {
	char uds_path[VSOCK_UDS_PATH_MAX + 1];
	int listen_fd;
	dev_t listen_dev;            /* the socket file we bound, for the unlink at exit */
	ino_t listen_ino;
	struct event_loop *loop;
	pthread_mutex_t *lock;       /* the device's */
	/* Called after an event handler dropped the lock: the device has
	 * packets to send or chains to resume (vsock.c). */
	void (*kick)(void *opaque);
	void *opaque;
	bool listen_paused;          /* accept failed (EMFILE...): until a slot frees or a retry */
	uint64_t listen_retry_at;    /* CLOCK_MONOTONIC ns of that retry */
	/* One timerfd for every deadline: the CONNECT lines' and the paused
	 * listener's retry. Armed (one-shot, absolute) for the earliest while
	 * something waits, disarmed otherwise: no wake-ups when idle. */
	int timer_fd;
	bool timer_registered;
	uint64_t timer_at;           /* what it is armed for (ns), 0: disarmed */
	uint32_t next_port;
	unsigned rr;                 /* round-robin start for the rx pump */
	struct vsock_conn conns[VSOCK_MAX_CONNS];
	/* Statistics. */
	uint64_t refused_host;       /* host connections closed: table full, bad line */
	uint64_t timed_out_host;     /* host connections closed: no line within the deadline */
};

/* Bind and listen on `uds_path` (which must fit VSOCK_UDS_PATH_MAX). A
 * stale socket file nobody listens on is replaced; a socket in use or a
 * file of another kind is refused (bad input). Returns 0, or -errno with
 * a one-line message in err. Undone by vsock_conns_close. */
int vsock_conns_open(struct vsock_conns *t, const char *uds_path, char *err, size_t err_size);

/* Watch the listening socket and the deadline timer on `loop`. Returns 0
 * or -errno (logged). */
int vsock_conns_attach(struct vsock_conns *t, struct event_loop *loop, pthread_mutex_t *lock,
		       void (*kick)(void *opaque), void *opaque);

/* Close every connection and the listening socket, and remove the socket
 * file if it is still the one we bound. Loop thread or after the loop. */
void vsock_conns_close(struct vsock_conns *t);

/* Device reset (any thread, lock held): every connection the guest knows
 * of is dead, and no packet goes out for any of them; host connections
 * it has not heard of yet (no REQUEST sent) wait for the next driver. */
void vsock_conns_reset(struct vsock_conns *t);

/* Loop thread, lock held: close dead connections' sockets and free them. */
void vsock_conns_reap(struct vsock_conns *t);

/* The connection between host port `local` and guest port `peer`, or NULL. */
struct vsock_conn *vsock_conn_find(struct vsock_conns *t, uint32_t local, uint32_t peer);

/* A guest REQUEST from guest port `peer` to host port `local`: connect to
 * "<uds_path>_<local>". Returns the new connection (ESTABLISHED, with a
 * RESPONSE pending), or NULL if nothing listens there or the table is
 * full: the caller answers RST. */
struct vsock_conn *vsock_conn_connect(struct vsock_conns *t, uint32_t local, uint32_t peer);

/* The guest answered RESPONSE to our REQUEST: tell the host process
 * "OK <local port>\n" and start forwarding. */
void vsock_conn_established(struct vsock_conn *c);

/* Close the socket; with `rst`, keep the slot until an RST has gone to
 * the guest, else free it now. */
void vsock_conn_reset(struct vsock_conn *c, bool rst);

/* Guest payload for the host process: `len` bytes from iov. Writes what
 * the socket takes, buffers the rest. Returns 0, -ENOBUFS if the guest
 * exceeded the credit it was given, or -EPIPE if the host process is
 * gone. */
int vsock_conn_write(struct vsock_conn *c, const struct iovec *iov, unsigned iovcnt, uint32_t len);

/* Whether the socket has data for the guest: 1 yes, 0 not now (the
 * socket goes back to being watched), -1 end of file. */
int vsock_conn_peek(struct vsock_conn *c);

/* Read up to the iovecs' total into guest memory. Returns bytes read (> 0
 * after a positive vsock_conn_peek) or -errno. */
ssize_t vsock_conn_read(struct vsock_conn *c, const struct iovec *iov, unsigned iovcnt);

/* After a state change: apply the guest's SHUTDOWN to the socket, close
 * a connection both sides are done with, announce freed credit, and set
 * the socket's epoll interest. Lock held, loop thread or not (the epoll
 * set may be changed from any thread; only adding and removing handlers
 * is the loop's). */
void vsock_conn_update(struct vsock_conn *c);

/* Between vsock_conn.c and vsock_listen.c (lock held). */
struct sockaddr_un;
int vsock_unix_address(struct sockaddr_un *addr, const char *path, const char *suffix);
struct vsock_conn *vsock_conn_alloc(struct vsock_conns *t);   /* a FREE slot, or NULL */
int vsock_conn_register(struct vsock_conn *c);   /* watch its socket on the loop */
void vsock_conn_free(struct vsock_conn *c);      /* close its socket, free the slot */
void vsock_listen_read_connect(struct vsock_conn *c);   /* HOST_CONNECTING: read the line */
/* A connection closed: accept again after a failure, and aim the timer at
 * what still waits (disarm it if nothing does). */
void vsock_listen_resume(struct vsock_conns *t);

/* Credit the guest has left for host data (§5.10.6.3:
 * peer_buf_alloc - (tx_cnt - peer_fwd_cnt)), never negative. */
static inline uint32_t vsock_conn_peer_credit(const struct vsock_conn *c)
{
	uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;

	return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

#endif
