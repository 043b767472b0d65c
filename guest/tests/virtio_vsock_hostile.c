/* A hostile driver against kvmrun's virtio-vsock (virtio 1.2 §5.10), with
 * tests/guest/vsock.py --case hostile on the host side (a sink on
 * <uds>_5002 that must never receive a byte):
 *
 *  - packets that are nobody's (a header shorter than 44 bytes, a wrong
 *    src_cid or dst_cid, an RST for no connection) are dropped: the next
 *    answer the guest gets is the one to a probe sent after them;
 *  - packets that break the rules (unknown op or type, len beyond the
 *    chain, payload on a control packet, RW or RESPONSE for no
 *    connection) are answered with RST to the sender's port;
 *  - on a connection: RW beyond the device's credit, or after our
 *    SHUTDOWN(SEND), resets it (RST, and the host socket closes unread);
 *  - a flood of REQUESTs while rx is not drained: the device stops taking
 *    tx packets once its answers cannot be queued, and resumes, in order,
 *    when rx buffers come back;
 *  - an rx buffer with room for the header only, while the host has data
 *    for an established connection (a talker on <uds>_5003 sends TALK):
 *    it carries a CREDIT_UPDATE, not an RST, and the data comes whole in
 *    the next, larger buffer;
 *  - rx buffers the device cannot write a packet into (too small, device-
 *    readable): DEVICE_NEEDS_RESET, and a reset brings the device back.
 *
 * kvmrun must keep running throughout. Polls at CPL 3. */
#include "libguest.h"
#include "user.h"
#include "virtio.h"
#include "vsock.h"

#define NO_PORT      7u              /* nothing listens on <uds>_7 */
#define SINK_PORT    5002u
#define TALK_PORT    5003u
#define LONG_SPINS   20000000ULL
#define STALL_SPINS  LONG_SPINS     /* a tx packet not taken this long: stalled */
#define STATUS_POLLS 20000
#define FLOOD        100u

static struct vsock_dev vs;
static uint8_t payload[70000];
static uint8_t rx_data[VSOCK_RX_PAYLOAD];
static struct vsock_hdr raw;

/* What the talker on <uds>_5003 sends (tests/guest/vsock.py TALK). */
static const char talk[] = "header-only rx buffer: this waits for the next buffer\n";

static struct vsock_hdr header(uint32_t src_port, uint32_t dst_port, uint16_t op, uint32_t len)
{
	return (struct vsock_hdr){ .src_cid = vs.cid, .dst_cid = VSOCK_CID_HOST,
				   .src_port = src_port, .dst_port = dst_port, .len = len,
				   .type = VSOCK_TYPE_STREAM, .op = op, .buf_alloc = 4096 };
}

/* The next packet from the device, or false. */
static bool next(struct vsock_hdr *h, uint64_t spins)
{
	uint32_t len;

	return vsock_recv(&vs, h, rx_data, sizeof(rx_data), &len, spins);
}

/* The next packet is an RST from host port `from` to guest port `to`. */
static bool expect_rst(uint32_t from, uint32_t to)
{
	struct vsock_hdr h;

	if (!next(&h, LONG_SPINS))
		return false;
	return h.op == VSOCK_OP_RST && h.src_port == from && h.dst_port == to &&
	       h.src_cid == VSOCK_CID_HOST && h.dst_cid == vs.cid && h.type == VSOCK_TYPE_STREAM;
}

/* A REQUEST to a port nobody listens on, from `port`: its RST must be the
 * next packet, so whatever was sent before it got no answer. */
static bool probe(uint32_t port)
{
	struct vsock_hdr h = header(port, NO_PORT, VSOCK_OP_REQUEST, 0);

	return vsock_send(&vs, &h, NULL, 0) && expect_rst(NO_PORT, port);
}

static void dropped(const char *what, struct vsock_hdr h, uint32_t bytes, uint32_t port)
{
	struct vring_buf b = { .addr = (uintptr_t)&raw, .len = bytes };

	raw = h;
	report(vsock_send_chain(&vs, &b, 1) && probe(port) && vsock_status(&vs) == 0xf,
	       "%s: dropped, no answer", what);
}

static void answered_rst(const char *what, struct vsock_hdr h, uint32_t payload_bytes)
{
	report(vsock_send(&vs, &h, payload, payload_bytes) && expect_rst(h.dst_port, h.src_port) &&
	       vsock_status(&vs) == 0xf, "%s: RST", what);
}

static long test_packets(void *arg __unused)
{
	struct vsock_hdr h;

	report_prefix_push("packets");
	h = header(100, NO_PORT, VSOCK_OP_REQUEST, 0);
	dropped("a 20-byte header", h, 20, 101);
	h = header(102, NO_PORT, VSOCK_OP_REQUEST, 0);
	h.src_cid = vs.cid + 1;
	dropped("src_cid not the guest's", h, VSOCK_HDR_SIZE, 103);
	h.src_cid = vs.cid | 1ULL << 32;
	dropped("src_cid with upper bits set", h, VSOCK_HDR_SIZE, 104);
	h = header(105, NO_PORT, VSOCK_OP_REQUEST, 0);
	h.dst_cid = 1;
	dropped("dst_cid 1", h, VSOCK_HDR_SIZE, 106);
	h.dst_cid = vs.cid;
	dropped("dst_cid the guest's own", h, VSOCK_HDR_SIZE, 107);
	dropped("RST for no connection", header(108, NO_PORT, VSOCK_OP_RST, 0), VSOCK_HDR_SIZE, 109);

	answered_rst("op 99", header(110, NO_PORT, 99, 0), 0);
	answered_rst("op 0 (INVALID)", header(111, NO_PORT, 0, 0), 0);
	h = header(112, NO_PORT, VSOCK_OP_REQUEST, 0);
	h.type = 2;   /* SEQPACKET, not offered */
	answered_rst("type SEQPACKET", h, 0);
	answered_rst("RW len 1000 with 10 bytes", header(113, NO_PORT, VSOCK_OP_RW, 1000), 10);
	answered_rst("RW len 0xffffffff", header(114, NO_PORT, VSOCK_OP_RW, 0xffffffffu), 0);
	answered_rst("REQUEST with 8 payload bytes", header(115, NO_PORT, VSOCK_OP_REQUEST, 8), 8);
	answered_rst("RW for no connection", header(116, NO_PORT, VSOCK_OP_RW, 16), 16);
	answered_rst("RESPONSE for no connection", header(117, NO_PORT, VSOCK_OP_RESPONSE, 0), 0);
	answered_rst("SHUTDOWN for no connection", header(118, NO_PORT, VSOCK_OP_SHUTDOWN, 0), 0);

	/* The header split over three descriptors is still a header. */
	{
		struct vring_buf parts[3] = {
			{ .addr = (uintptr_t)&raw, .len = 10 },
			{ .addr = (uintptr_t)&raw + 10, .len = 20 },
			{ .addr = (uintptr_t)&raw + 30, .len = 14 },
		};

		raw = header(119, NO_PORT, VSOCK_OP_REQUEST, 0);
		report(vsock_send_chain(&vs, parts, 3) && expect_rst(NO_PORT, 119),
		       "a header in three descriptors: a REQUEST like any other (RST)");
	}
	report_prefix_pop();
	return 0;
}

/* Connect to the sink; true once the device says RESPONSE. */
static bool connect_sink(uint32_t port)
{
	struct vsock_hdr h = header(port, SINK_PORT, VSOCK_OP_REQUEST, 0);

	if (!vsock_send(&vs, &h, NULL, 0) || !next(&h, LONG_SPINS))
		return false;
	return h.op == VSOCK_OP_RESPONSE && h.dst_port == port && h.buf_alloc == 64 * 1024;
}

/* Skip SHUTDOWNs and CREDIT_UPDATEs on (SINK_PORT, port); true at its RST. */
static bool wait_rst(uint32_t port)
{
	struct vsock_hdr h;

	while (next(&h, LONG_SPINS)) {
		if (h.src_port != SINK_PORT || h.dst_port != port)
			return false;
		if (h.op == VSOCK_OP_RST)
			return true;
		if (h.op != VSOCK_OP_SHUTDOWN && h.op != VSOCK_OP_CREDIT_UPDATE)
			return false;
	}
	return false;
}

static long test_connections(void *arg __unused)
{
	struct vsock_hdr h;

	report_prefix_push("connection");
	report(connect_sink(200), "connected to the sink (host port %u)", SINK_PORT);
	h = header(200, SINK_PORT, VSOCK_OP_RW, sizeof(payload));
	report(vsock_send(&vs, &h, payload, sizeof(payload)) && wait_rst(200),
	       "RW of %u bytes beyond the device's 65536 credit: RST", (unsigned)sizeof(payload));

	report(connect_sink(201), "connected to the sink again");
	h = header(201, SINK_PORT, VSOCK_OP_SHUTDOWN, 0);
	h.flags = VSOCK_SHUTDOWN_SEND;
	vsock_send(&vs, &h, NULL, 0);
	h = header(201, SINK_PORT, VSOCK_OP_RW, 100);
	report(vsock_send(&vs, &h, payload, 100) && wait_rst(201),
	       "RW after our SHUTDOWN(SEND): RST");
	/* If the host closed its end first, the connection may be gone by
	 * the time the RW arrives: it then gets an RST of its own. */
	h = header(202, NO_PORT, VSOCK_OP_REQUEST, 0);
	vsock_send(&vs, &h, NULL, 0);
	while (next(&h, LONG_SPINS) && h.op == VSOCK_OP_RST && h.src_port == SINK_PORT &&
	       h.dst_port == 201)
		;
	report(h.op == VSOCK_OP_RST && h.src_port == NO_PORT && h.dst_port == 202 &&
	       vsock_status(&vs) == 0xf, "the device still answers");
	report_prefix_pop();
	return 0;
}

/* Send a REQUEST without draining rx; false if the device did not take
 * it within `spins` (it stopped processing tx). */
static bool send_request_nowait(uint32_t port, bool *pending)
{
	struct vring_buf b = { .addr = (uintptr_t)&raw, .len = VSOCK_HDR_SIZE };
	uint32_t id, len;

	raw = header(port, NO_PORT, VSOCK_OP_REQUEST, 0);
	vring_add(&vs.tx, &b, 1);
	vring_kick(&vs.tx);
	*pending = !vring_wait(&vs.tx, &id, &len, STALL_SPINS);
	return !*pending;
}

static long test_flood(void *arg __unused)
{
	unsigned taken = 0, answered = 0, in_order = 0;
	bool pending = false;
	struct vsock_hdr h;
	uint32_t id, len;

	report_prefix_push("flood");
	for (unsigned i = 0; i < FLOOD && !pending; i++)
		taken += send_request_nowait(3000 + i, &pending);
	report(pending && taken >= VSOCK_RX_BUFS,
	       "%u REQUESTs taken, then tx stops while rx is full", taken);
	/* Drain: every answer comes, in order, and the stalled one goes on. */
	while (answered < FLOOD && next(&h, LONG_SPINS)) {
		in_order += h.op == VSOCK_OP_RST && h.dst_port == 3000 + answered;
		answered++;
		if (pending && vring_poll(&vs.tx, &id, &len)) {
			pending = false;
			taken++;
			while (taken < FLOOD && send_request_nowait(3000 + taken, &pending))
				taken++;
		}
	}
	report(taken == FLOOD && answered == FLOOD && in_order == FLOOD,
	       "all %u answered in order once rx drained (%u taken, %u in order)", FLOOD, taken,
	       in_order);
	report(vsock_status(&vs) == 0xf, "no DEVICE_NEEDS_RESET");
	report_prefix_pop();
	return 0;
}

/* Rings for a device set up by hand, without the library's rx buffers. */
static uint8_t hand_rx_ring[VRING_BYTES(8)] __aligned(4096);
static uint8_t hand_tx_ring[VRING_BYTES(8)] __aligned(4096);
static uint8_t small_buf[64];
static uint8_t header_only[VSOCK_HDR_SIZE];
static uint8_t full_buf[VSOCK_HDR_SIZE + 256];

/* Reset and negotiate the device, and set up 8-entry rx and tx rings with
 * no buffers in them. Not yet DRIVER_OK. */
static bool hand_setup(struct vring *rx, struct vring *tx)
{
	memset(hand_rx_ring, 0, sizeof(hand_rx_ring));
	memset(hand_tx_ring, 0, sizeof(hand_tx_ring));
	return virtio_negotiate(&vs.dev, 0) >= 0 &&
	       virtio_queue_setup(&vs.dev, rx, VSOCK_QUEUE_RX, 8, hand_rx_ring) >= 0 &&
	       virtio_queue_setup(&vs.dev, tx, VSOCK_QUEUE_TX, 8, hand_tx_ring) >= 0;
}

/* Send `h` alone on a hand-made tx ring and wait until it is used. */
static bool hand_send(struct vring *tx, struct vsock_hdr h)
{
	struct vring_buf b = { .addr = (uintptr_t)&raw, .len = VSOCK_HDR_SIZE };
	uint32_t id, len;

	raw = h;
	vring_add(tx, &b, 1);
	vring_kick(tx);
	return vring_wait(tx, &id, &len, LONG_SPINS);
}

/* Give `buf` (`size` bytes) to a hand-made rx ring and wait for it back:
 * its header in *h and its used length in *used. True if it came back
 * and the used length is the header's plus its len. */
static bool hand_recv(struct vring *rx, uint8_t *buf, uint32_t size, struct vsock_hdr *h,
		      uint32_t *used)
{
	struct vring_buf b = { .addr = (uintptr_t)buf, .len = size, .write = true };
	uint16_t head = vring_add(rx, &b, 1);
	uint32_t id;

	*h = (struct vsock_hdr){ 0 };
	*used = 0;
	vring_kick(rx);
	if (!vring_wait(rx, &id, used, LONG_SPINS) || id != head)
		return false;
	memcpy(h, buf, sizeof(*h));
	return *used == VSOCK_HDR_SIZE + h->len;
}

static bool from_talker(const struct vsock_hdr *h, uint32_t port)
{
	return h->src_cid == VSOCK_CID_HOST && h->dst_cid == vs.cid && h->src_port == TALK_PORT &&
	       h->dst_port == port && h->type == VSOCK_TYPE_STREAM;
}

/* §5.10.6.4 asks only that an rx buffer hold a header. One with no room
 * for payload, while the host has data for an established connection,
 * must not lose the connection (reading 0 bytes into it looks like the
 * socket's end): it carries a CREDIT_UPDATE, and the data waits for the
 * next buffer. */
static long test_header_only_rx(void *arg __unused)
{
	const uint32_t port = 400, talk_len = sizeof(talk) - 1;
	struct vring rx, tx;
	struct vsock_hdr h;
	uint32_t used;
	bool ok;

	report_prefix_push("header-only rx buffer");
	if (!hand_setup(&rx, &tx)) {
		report(false, "set-up by hand");
		goto restore;
	}
	virtio_driver_ok(&vs.dev);
	/* The talker sends TALK as soon as it accepts. */
	ok = hand_send(&tx, header(port, TALK_PORT, VSOCK_OP_REQUEST, 0)) &&
	     hand_recv(&rx, full_buf, sizeof(full_buf), &h, &used) &&
	     h.op == VSOCK_OP_RESPONSE && from_talker(&h, port);
	report(ok, "connected to the talker (host port %u): op %u", TALK_PORT, h.op);
	if (!ok)
		goto restore;
	/* Whether TALK is in the socket already or arrives later, this
	 * buffer is used once it is. */
	ok = hand_recv(&rx, header_only, sizeof(header_only), &h, &used);
	report(ok && h.op == VSOCK_OP_CREDIT_UPDATE && h.len == 0 && used == VSOCK_HDR_SIZE &&
	       from_talker(&h, port) && h.buf_alloc == 64 * 1024,
	       "a %u-byte buffer: CREDIT_UPDATE, not RST (op %u, used %u)", VSOCK_HDR_SIZE, h.op,
	       used);
	ok = hand_recv(&rx, full_buf, sizeof(full_buf), &h, &used);
	report(ok && h.op == VSOCK_OP_RW && from_talker(&h, port) && h.len == talk_len &&
	       !memcmp(full_buf + VSOCK_HDR_SIZE, talk, talk_len),
	       "the next buffer: the %u bytes, whole (op %u, len %u)", talk_len, h.op, h.len);
	/* Our RST closes the talker's socket, with nothing sent to it. */
	report(hand_send(&tx, header(port, TALK_PORT, VSOCK_OP_RST, 0)) &&
	       vsock_status(&vs) == 0xf, "RST taken, no DEVICE_NEEDS_RESET");
restore:
	report(vsock_setup(&vs, 1ULL << VIRTIO_F_EVENT_IDX) == 0 && probe(401),
	       "the device set up as usual again");
	report_prefix_pop();
	return 0;
}

/* A device set up by hand with one rx buffer it cannot use. */
static long bad_rx_buffer(void *arg)
{
	bool readable = arg != NULL;
	struct vring rx, tx;
	struct vring_buf b = { .addr = (uintptr_t)small_buf, .len = readable ? 64 : 20,
			       .write = !readable };
	struct vring_buf req = { .addr = (uintptr_t)&raw, .len = VSOCK_HDR_SIZE };
	uint32_t id, len = 1, status = 0;
	bool used;

	if (!hand_setup(&rx, &tx)) {
		report(false, "set-up by hand");
		return 0;
	}
	vring_add(&rx, &b, 1);
	virtio_driver_ok(&vs.dev);
	raw = header(300, NO_PORT, VSOCK_OP_REQUEST, 0);
	vring_add(&tx, &req, 1);
	vring_kick(&tx);
	for (unsigned i = 0; i < STATUS_POLLS; i++) {
		status = vsock_status(&vs);
		if (status & VIRTIO_STATUS_DEVICE_NEEDS_RESET)
			break;
	}
	used = vring_wait(&rx, &id, &len, LONG_SPINS);
	report((status & VIRTIO_STATUS_DEVICE_NEEDS_RESET) && used && len == 0,
	       "%s: DEVICE_NEEDS_RESET (status 0x%x), the buffer given back empty",
	       readable ? "a device-readable rx buffer" : "a 20-byte rx buffer", status);
	return 0;
}

static long test_bad_rx(void *arg __unused)
{
	report_prefix_push("rx buffers");
	bad_rx_buffer(NULL);
	report(vsock_setup(&vs, 1ULL << VIRTIO_F_EVENT_IDX) == 0 && probe(301),
	       "after a reset the device works again");
	bad_rx_buffer(&vs);
	report(vsock_setup(&vs, 0) == 0 && probe(302), "after a reset the device works again");
	report_prefix_pop();
	return 0;
}

static long test_setup(void *arg)
{
	uint64_t cid = *(uint64_t *)arg;
	int ret = vsock_setup(&vs, 1ULL << VIRTIO_F_EVENT_IDX);

	report(ret == 0 && vs.cid == cid, "set up, guest_cid %llu", (unsigned long long)vs.cid);
	return 0;
}

int main(int argc __unused, char **argv __unused)
{
	uint64_t cid = 0;

	report_prefix_push("virtio-vsock-hostile");
	if (!cmdline_get_u64("cid", &cid)) {
		report(false, "cid=N on the command line");
		return report_summary();
	}
	run_in_user(test_setup, &cid);
	if (vsock_status(&vs) != 0xf)
		return report_summary();
	run_in_user(test_packets, NULL);
	run_in_user(test_connections, NULL);
	run_in_user(test_flood, NULL);
	run_in_user(test_header_only_rx, NULL);
	run_in_user(test_bad_rx, NULL);
	report(vsock_status(&vs) == 0xf, "still serving at the end (status 0x%x)",
	       vsock_status(&vs));
	return report_summary();
}
