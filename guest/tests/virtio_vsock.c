/* virtio-vsock (virtio 1.2 §5.10) through kvmrun's Unix-socket bridge,
 * with tests/guest/vsock.py on the host side:
 *
 *  - a REQUEST to a host port nobody listens on is answered RST;
 *  - guest-initiated: connect to host port 5000 (the host script's echo
 *    server on <uds>_5000), CREDIT_REQUEST, send 256 KiB and check the
 *    echo byte for byte while advertising only a 16 KiB receive buffer
 *    and announcing credit only when it is full: the device must fill it
 *    exactly and never overrun it; the host's EOF arrives as SHUTDOWN,
 *    then RST;
 *  - a device reset and set-up again, as a driver that reloads does: it
 *    must not drop host connections the guest has not heard of (the
 *    host's clients that never finish their CONNECT line, connected
 *    before the echo above was served, close at their deadline instead);
 *  - host-initiated: "listen" on port 6000, answer RST to a REQUEST for
 *    any other port (the host's CONNECT 6001), RESPONSE to the one for
 *    6000, echo the host's 256 KiB back within the device's credit, and
 *    close cleanly after the host's SHUTDOWN.
 *
 * With `snapshot` on the command line (tests/guest/vsock.py --case
 * snapshot) a connection to host port 5000 is opened and used first, then
 * the guest prints "vsock: snapshot point" and waits on the event queue
 * while the host saves the VM and restores it in a new kvmrun. The
 * restored device must send TRANSPORT_RESET (§5.10.6.6, as Firecracker
 * does); the guest drops its connection, and a packet on it is answered
 * RST (the device has no such connection); then both directions above
 * work again on new connections.
 *
 * Run with --vsock cid=N,uds=PATH and "cid=N" on the command line. All
 * of it polls at CPL 3. */
#include "libguest.h"
#include "user.h"
#include "virtio.h"
#include "vsock.h"

#define TOTAL        (256u * 1024)
#define CHUNK        4096u
#define GUEST_BUF    16384u          /* the buf_alloc the guest advertises */
#define HOST_PORT    5000u
#define NO_PORT      5001u           /* nothing listens on <uds>_5001 */
#define LISTEN_PORT  6000u
#define SHORT_SPINS  2000ULL
#define LONG_SPINS   20000000ULL      /* about a second of PAUSE */
#define MAX_IDLE     20               /* long polls in a row without a packet */

static struct vsock_dev vs;
static uint8_t rx_data[VSOCK_RX_PAYLOAD];
static uint8_t tx_data[CHUNK];

struct conn {
	uint32_t local, peer;            /* guest port, host port */
	uint32_t tx_cnt;                 /* payload bytes sent */
	uint32_t peer_buf_alloc, peer_fwd_cnt;
	uint32_t rx_cnt;                 /* payload bytes received */
	uint32_t fwd_cnt;                /* bytes consumed */
	uint32_t announced;              /* fwd_cnt the device was last told */
	uint32_t peer_shutdown;
	bool responded, rst;
	unsigned credit_updates, credit_violations, windows_filled, mismatches;
	uint8_t seed;                    /* verify mode: the expected pattern */
	/* echo mode: received, not yet sent back */
	uint8_t echo[GUEST_BUF];
	uint32_t echo_head, echo_len;
};

static struct conn conn;

/* The byte at offset i of a stream (tests/guest/vsock.py has the same). */
static uint8_t pattern(uint8_t seed, uint32_t i)
{
	return (uint8_t)(i * 7 + (i >> 8) * 13 + seed);
}

static struct vsock_hdr header(const struct conn *c, uint16_t op, uint32_t len, uint32_t flags)
{
	return (struct vsock_hdr){ .src_cid = vs.cid, .dst_cid = VSOCK_CID_HOST,
				   .src_port = c->local, .dst_port = c->peer, .len = len,
				   .type = VSOCK_TYPE_STREAM, .op = op, .flags = flags,
				   .buf_alloc = GUEST_BUF, .fwd_cnt = c->announced };
}

static bool send_op(struct conn *c, uint16_t op, uint32_t flags)
{
	struct vsock_hdr h = header(c, op, 0, flags);

	return vsock_send(&vs, &h, NULL, 0);
}

static bool send_data(struct conn *c, const void *data, uint32_t len)
{
	struct vsock_hdr h = header(c, VSOCK_OP_RW, len, 0);

	c->tx_cnt += len;
	return vsock_send(&vs, &h, data, len);
}

static uint32_t peer_credit(const struct conn *c)
{
	uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;

	return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

/* Account one packet from the device for `c`; RW payload is in rx_data. */
static void conn_take(struct conn *c, const struct vsock_hdr *h, uint32_t len, bool echo)
{
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	switch (h->op) {
	case VSOCK_OP_RESPONSE:
		c->responded = true;
		break;
	case VSOCK_OP_RST:
		c->rst = true;
		break;
	case VSOCK_OP_SHUTDOWN:
		c->peer_shutdown |= h->flags;
		break;
	case VSOCK_OP_CREDIT_UPDATE:
		c->credit_updates++;
		break;
	case VSOCK_OP_CREDIT_REQUEST:
		send_op(c, VSOCK_OP_CREDIT_UPDATE, 0);
		break;
	case VSOCK_OP_RW:
		/* §5.10.6.3: never more than the credit we announced. */
		if (len > GUEST_BUF - (c->rx_cnt - c->announced)) {
			c->credit_violations++;
			len = GUEST_BUF - (c->rx_cnt - c->announced);
		}
		for (uint32_t i = 0; i < len; i++) {
			if (echo)
				c->echo[(c->echo_head + c->echo_len++) % GUEST_BUF] = rx_data[i];
			else if (rx_data[i] != pattern(c->seed, c->rx_cnt + i))
				c->mismatches++;
		}
		c->rx_cnt += len;
		if (!echo)
			c->fwd_cnt += len;   /* verified: consumed */
		if (c->rx_cnt - c->announced == GUEST_BUF)
			c->windows_filled++;
		break;
	}
}

/* Take the next packet, expected to belong to `c`. Returns its op, 0 if
 * none came, 0xffff if it was for somebody else. */
static unsigned poll_conn(struct conn *c, uint64_t spins, bool echo)
{
	struct vsock_hdr h;
	uint32_t len;

	if (!vsock_recv(&vs, &h, rx_data, sizeof(rx_data), &len, spins))
		return 0;
	if (h.src_cid != VSOCK_CID_HOST || h.dst_cid != vs.cid || h.src_port != c->peer ||
	    h.dst_port != c->local || h.type != VSOCK_TYPE_STREAM) {
		report_info("unexpected packet op %u %u:%u -> %u:%u", h.op, (unsigned)h.src_cid,
			    h.src_port, (unsigned)h.dst_cid, h.dst_port);
		return 0xffff;
	}
	conn_take(c, &h, len, echo);
	return h.op;
}

/* Wait (long) for a packet with op `op` on `c`, taking the others. */
static bool wait_op(struct conn *c, uint16_t op, bool echo)
{
	for (unsigned idle = 0; idle < MAX_IDLE;) {
		unsigned got = poll_conn(c, LONG_SPINS, echo);

		if (got == op)
			return true;
		if (got == 0)
			idle++;
		if (c->rst && op != VSOCK_OP_RST)
			return false;
	}
	return false;
}

static long test_setup(void *arg)
{
	uint64_t cid = *(uint64_t *)arg;

	int ret;

	report_prefix_push("setup");
	ret = vsock_setup(&vs, 1ULL << VIRTIO_F_EVENT_IDX);
	report(ret == 0, "virtio-vsock found, 3 queues, DRIVER_OK (features 0x%llx)",
	       (unsigned long long)vs.dev.features);
	report(vs.dev.device_features & 1, "VIRTIO_VSOCK_F_STREAM offered");
	report(vs.cid == cid, "guest_cid %llu (expected %llu)", (unsigned long long)vs.cid,
	       (unsigned long long)cid);
	report_prefix_pop();
	return 0;
}

static long test_no_listener(void *arg __unused)
{
	struct conn *c = &conn;

	report_prefix_push("no listener");
	*c = (struct conn){ .local = 1023, .peer = NO_PORT, .peer_buf_alloc = 0 };
	send_op(c, VSOCK_OP_REQUEST, 0);
	report(wait_op(c, VSOCK_OP_RST, false) && !c->responded,
	       "REQUEST to host port %u (nothing on <uds>_%u): RST", NO_PORT, NO_PORT);
	report_prefix_pop();
	return 0;
}

static long test_reset(void *arg __unused)
{
	report(vsock_setup(&vs, 1ULL << VIRTIO_F_EVENT_IDX) == 0,
	       "device reset and set up again: DRIVER_OK");
	return 0;
}

static long test_guest_initiated(void *arg __unused)
{
	struct conn *c = &conn;
	uint32_t sent = 0;
	unsigned idle = 0;
	bool ok;

	report_prefix_push("guest-initiated");
	*c = (struct conn){ .local = 1024, .peer = HOST_PORT, .seed = 0x5a };
	send_op(c, VSOCK_OP_REQUEST, 0);
	report(wait_op(c, VSOCK_OP_RESPONSE, false), "REQUEST to host port %u: RESPONSE", HOST_PORT);
	report(c->peer_buf_alloc == 64 * 1024 && c->peer_fwd_cnt == 0,
	       "the device advertises buf_alloc %u, fwd_cnt %u", c->peer_buf_alloc, c->peer_fwd_cnt);
	send_op(c, VSOCK_OP_CREDIT_REQUEST, 0);
	report(wait_op(c, VSOCK_OP_CREDIT_UPDATE, false), "CREDIT_REQUEST: CREDIT_UPDATE");

	/* Send the pattern within the device's credit while taking the echo;
	 * credit for the echo only once our whole buffer is full. */
	while ((sent < TOTAL || c->rx_cnt < TOTAL) && !c->rst && idle < MAX_IDLE) {
		uint32_t credit = peer_credit(c);
		bool can_send = sent < TOTAL && credit > 0;
		unsigned got;

		if (can_send) {
			uint32_t n = credit < CHUNK ? credit : CHUNK;

			if (n > TOTAL - sent)
				n = TOTAL - sent;
			for (uint32_t i = 0; i < n; i++)
				tx_data[i] = pattern(c->seed, sent + i);
			send_data(c, tx_data, n);
			sent += n;
			if (sent == TOTAL)
				send_op(c, VSOCK_OP_SHUTDOWN, VSOCK_SHUTDOWN_SEND);
		}
		got = poll_conn(c, can_send ? SHORT_SPINS : LONG_SPINS, false);
		if (c->rx_cnt - c->announced == GUEST_BUF ||
		    (got == 0 && !can_send && c->fwd_cnt != c->announced)) {
			c->announced = c->fwd_cnt;
			send_op(c, VSOCK_OP_CREDIT_UPDATE, 0);
		}
		idle = got == 0 && !can_send ? idle + 1 : 0;
	}
	report(sent == TOTAL, "sent %u bytes within the device's credit", sent);
	report(c->rx_cnt == TOTAL && c->mismatches == 0, "echo: %u bytes back, %u wrong", c->rx_cnt,
	       c->mismatches);
	report(c->credit_violations == 0 && c->windows_filled >= TOTAL / GUEST_BUF - 1,
	       "the device filled our %u-byte buffer %u times and never overran it (%u violations)",
	       GUEST_BUF, c->windows_filled, c->credit_violations);
	ok = wait_op(c, VSOCK_OP_RST, false);
	report(ok && (c->peer_shutdown & VSOCK_SHUTDOWN_SEND),
	       "the host's end of file: SHUTDOWN (flags %u), then RST", c->peer_shutdown);
	report_prefix_pop();
	return 0;
}

/* Send back what was received, within the device's credit; the bytes
 * sent are consumed, and every packet tells the device so. */
static void echo_some(struct conn *c)
{
	while (c->echo_len && peer_credit(c)) {
		uint32_t n = c->echo_len, first = GUEST_BUF - c->echo_head, credit = peer_credit(c);

		if (n > first)
			n = first;
		if (n > credit)
			n = credit;
		if (n > CHUNK)
			n = CHUNK;
		c->echo_head = (c->echo_head + n) % GUEST_BUF;
		c->echo_len -= n;
		c->fwd_cnt += n;
		c->announced = c->fwd_cnt;
		send_data(c, c->echo + (c->echo_head + GUEST_BUF - n) % GUEST_BUF, n);
	}
}

static long test_host_initiated(void *arg __unused)
{
	struct conn *c = &conn;
	unsigned refused = 0, idle = 0;
	bool accepted = false, closing = false;

	report_prefix_push("host-initiated");
	*c = (struct conn){ .local = LISTEN_PORT };
	printf("vsock: listening on port %u\n", LISTEN_PORT);
	while (idle < MAX_IDLE * 3 && !c->rst) {
		struct vsock_hdr h;
		uint32_t len;

		if (!vsock_recv(&vs, &h, rx_data, sizeof(rx_data), &len, LONG_SPINS)) {
			idle++;
			continue;
		}
		idle = 0;
		if (h.op == VSOCK_OP_REQUEST && h.dst_port == LISTEN_PORT && !accepted) {
			accepted = true;
			c->peer = h.src_port;
			conn_take(c, &h, 0, true);
			send_op(c, VSOCK_OP_RESPONSE, 0);
			printf("vsock: host-initiated: REQUEST from host port %u\n", h.src_port);
			continue;
		}
		if (h.op == VSOCK_OP_REQUEST) {
			/* Nobody listens on that port: §5.10.6.5, RST. */
			struct conn other = { .local = h.dst_port, .peer = h.src_port };

			send_op(&other, VSOCK_OP_RST, 0);
			printf("vsock: refused REQUEST for port %u\n", h.dst_port);
			refused++;
			continue;
		}
		if (!accepted || h.src_port != c->peer || h.dst_port != c->local) {
			report_info("unexpected packet op %u %u -> %u", h.op, h.src_port, h.dst_port);
			continue;
		}
		conn_take(c, &h, len, true);
		echo_some(c);
		/* The host sends no more and everything went back: done. */
		if ((c->peer_shutdown & VSOCK_SHUTDOWN_SEND) && !c->echo_len && !closing) {
			closing = true;
			send_op(c, VSOCK_OP_SHUTDOWN, VSOCK_SHUTDOWN_RECEIVE | VSOCK_SHUTDOWN_SEND);
		}
	}
	report(refused == 1, "REQUEST for a port nobody listens on: answered RST (%u)", refused);
	report(accepted, "REQUEST for port %u: RESPONSE", LISTEN_PORT);
	report(c->rx_cnt == TOTAL && c->tx_cnt == TOTAL && c->credit_violations == 0,
	       "echoed %u of %u bytes received (%u credit violations)", c->tx_cnt, c->rx_cnt,
	       c->credit_violations);
	report(closing && c->rst, "SHUTDOWN from the host, our SHUTDOWN, then RST");
	report_prefix_pop();
	return 0;
}

#define SNAP_PORT  1030u
#define SNAP_BYTES 1000u
#define SNAP_WAIT  60                 /* long polls for the event: about a minute */

static long test_snapshot(void *arg)
{
	uint64_t cid = *(uint64_t *)arg;
	struct conn *c = &conn;
	uint32_t id = 0xffffffffu;
	bool got = false;

	report_prefix_push("snapshot");
	*c = (struct conn){ .local = SNAP_PORT, .peer = HOST_PORT, .seed = 0x33 };
	send_op(c, VSOCK_OP_REQUEST, 0);
	report(wait_op(c, VSOCK_OP_RESPONSE, false), "before: connected to host port %u", HOST_PORT);
	for (uint32_t i = 0; i < SNAP_BYTES; i++)
		tx_data[i] = pattern(c->seed, i);
	send_data(c, tx_data, SNAP_BYTES);
	for (unsigned idle = 0; c->rx_cnt < SNAP_BYTES && !c->rst && idle < MAX_IDLE;)
		idle = poll_conn(c, LONG_SPINS, false) ? 0 : idle + 1;
	report(c->rx_cnt == SNAP_BYTES && c->mismatches == 0, "before: %u bytes echoed", c->rx_cnt);
	report(!vsock_event(&vs, &id, SHORT_SPINS), "before: no event");

	printf("vsock: snapshot point\n");
	for (unsigned i = 0; i < SNAP_WAIT && !got; i++)
		got = vsock_event(&vs, &id, LONG_SPINS);
	report(got && id == 0, "after: TRANSPORT_RESET on the event queue (id %u)", id);
	/* §5.10.6.6: the driver reads guest_cid again after the event. */
	report(vsock_read_cid(&vs) == cid, "after: guest_cid still %llu", (unsigned long long)vs.cid);
	/* The connection is gone from the device: a packet on it gets RST. */
	send_data(c, tx_data, 16);
	report(wait_op(c, VSOCK_OP_RST, false), "after: data on the old connection is answered RST");
	report(vsock_status(&vs) == 0xf, "after: device status 0x%x", vsock_status(&vs));
	report_prefix_pop();
	return 0;
}

int main(int argc __unused, char **argv __unused)
{
	uint64_t cid = 0;

	report_prefix_push("virtio-vsock");
	if (!cmdline_get_u64("cid", &cid)) {
		report(false, "cid=N on the command line");
		return report_summary();
	}
	run_in_user(test_setup, &cid);
	if (vsock_status(&vs) != 0xf)
		return report_summary();
	if (cmdline_has("snapshot"))
		run_in_user(test_snapshot, &cid);
	run_in_user(test_no_listener, NULL);
	run_in_user(test_guest_initiated, NULL);
	run_in_user(test_reset, NULL);
	run_in_user(test_host_initiated, NULL);
	report(vsock_status(&vs) == 0xf, "device status still 0x%x", vsock_status(&vs));
	return report_summary();
}
