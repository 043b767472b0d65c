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
#define LONG_SPINS   20000000ULL
#define STALL_SPINS  LONG_SPINS     /* a tx packet not taken this long: stalled */
#define STATUS_POLLS 20000
#define FLOOD        100u

static struct vsock_dev vs;
static uint8_t payload[70000];
static uint8_t rx_data[VSOCK_RX_PAYLOAD];
static struct vsock_hdr raw;

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

static uint8_t bad_rx_ring[VRING_BYTES(8)] __aligned(4096);
static uint8_t bad_tx_ring[VRING_BYTES(8)] __aligned(4096);
static uint8_t small_buf[64];

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

	memset(bad_rx_ring, 0, sizeof(bad_rx_ring));
	memset(bad_tx_ring, 0, sizeof(bad_tx_ring));
	if (virtio_negotiate(&vs.dev, 0) < 0 ||
	    virtio_queue_setup(&vs.dev, &rx, VSOCK_QUEUE_RX, 8, bad_rx_ring) < 0 ||
	    virtio_queue_setup(&vs.dev, &tx, VSOCK_QUEUE_TX, 8, bad_tx_ring) < 0) {
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
	run_in_user(test_bad_rx, NULL);
	report(vsock_status(&vs) == 0xf, "still serving at the end (status 0x%x)",
	       vsock_status(&vs));
	return report_summary();
}
