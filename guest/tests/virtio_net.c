/* virtio-net (virtio 1.2 §5.1) through kvmrun's virtio-mmio transport and
 * TAP back-end, driven by tests/guest/net_tap.py, which owns the TAP in
 * a network namespace of its own and talks to this guest over the serial
 * console: the guest prints "sync: <what>" and, where it must wait for the
 * host, reads one line back.
 *
 * Host set-up (net_tap.py): the TAP has 10.0.0.1/24 and MAC hostmac=;
 * this guest is 10.0.0.2 with mac=; the host forwards 10.0.1.0/24 back out
 * of the TAP to this guest's MAC, so a frame the guest sends to 10.0.1.2
 * comes back after the host kernel has handled its offloads.
 *
 * Phase 1 (CSUM, HOST_TSO4/6, MRG_RXBUF, no GUEST_* offloads): config
 * space, raw frames both ways, a flood into a full receive queue and a
 * full TAP queue (receive resumes), a UDP frame with NEEDS_CSUM and a
 * GSO_TCPV4 frame that come back checksummed and segmented.
 * Phase 2 (reset; GUEST_CSUM, GUEST_TSO4 too): the host opens a TCP
 * connection to us (we answer the SYN by hand) and its data arrives as
 * TSO frames spread over mergeable buffers.
 *
 * With `snapshot` (net_tap.py --snapshot), after the same configuration
 * checks, with GUEST_CSUM/TSO: a UDP frame with NEEDS_CSUM sent to
 * 10.0.1.2 comes back still NEEDS_CSUM (the TAP's TUNSETOFFLOAD lets the
 * host leave the checksum to us); a host frame arrives while no receive
 * buffer is posted (the device holds it); then "sync: snapshot point", and
 * the host saves the VM and restores it in a new kvmrun. Afterwards the
 * held frame arrives once buffers are posted, the UDP round trip still
 * comes back NEEDS_CSUM (the restore re-applied the offloads) and frames
 * flow both ways.
 *
 * The same device as a hostile driver is virtio_net_hostile.c; the
 * benchmark's guest is net_bench.c.
 *
 * Everything runs at CPL 3. */
#include "libguest.h"
#include "net_test.h"
#include "user.h"
#include "virtio_net.h"

#define BIT(n) (1ULL << (n))
#define TCP_STREAM_MAX (70 * 1024)   /* stream bytes the phase 2 check follows */

static struct vnet_mem mem;
static struct vnet net;
static uint8_t *const frame = mem.frame;   /* the last frame received, header first */
static uint8_t my_mac[6], host_mac[6];
static const uint8_t my_ip[4] = { 10, 0, 0, 2 }, host_ip[4] = { 10, 0, 0, 1 },
		     far_ip[4] = { 10, 0, 1, 2 };

/* ---- phase 1 ---- */

static void test_raw_tx(void)
{
	static const unsigned sizes[3] = { 60, 1000, 1514 };

	for (unsigned s = 0; s < 3; s++)
		vnet_tx_send(&net, net_test_frame(vnet_tx_slot(&net), my_mac, s, sizes[s]), true);
	report(vnet_tx_drain(&net), "raw: 3 frames (60, 1000, 1514 bytes) transmitted");
	net_sync("tx raw done");
}

/* A test frame with sequence number `seq` (payload bytes 0-3), intact? */
static bool is_test_frame(uint32_t len, unsigned *seq)
{
	const uint8_t *e = frame + 12;

	if (len < 12 + 14 + 4 || be16(e + 12) != ETH_TEST)
		return false;
	*seq = be32(e + 14);
	for (unsigned i = 4; i < len - 26; i++)
		if (e[14 + i] != net_pattern(*seq, i))
			return false;
	return true;
}

/* Receive until a test frame arrives; other traffic is skipped. */
static bool rx_test_frame(unsigned *seq, uint32_t *len, uint64_t spins)
{
	for (unsigned tries = 0; tries < 64; tries++) {
		*len = vnet_rx_frame(&net, true, spins);
		if (!*len)
			return false;
		if (is_test_frame(*len, seq))
			return true;
	}
	return false;
}

/* The host sends 40 frames while no receive buffer is posted; its TAP
 * queue holds about 16 (txqueuelen 16) and the device one more, the
 * kernel drops the rest. Posting buffers brings them in, in order, eight at a time
 * (the receive queue full again after each eight); then new frames still
 * arrive. */
static void test_flood(void)
{
	unsigned got = 0, seq, after = 0, queued = 0;
	uint32_t len;
	bool in_order = true;

	net_sync("flood ready");
	if (!net_sync_wait("flood sent")) {
		report(false, "flood: host handshake");
		return;
	}
	for (unsigned round = 0; round < 2; round++) {
		vnet_rx_post(&net, 8);
		for (unsigned i = 0; i < 8; i++) {
			len = vnet_rx_frame(&net, false, VNET_WAIT_SPINS);
			if (!len || !is_test_frame(len, &seq) || seq != got)
				in_order = false;
			got++;
		}
	}
	report(in_order, "flood: receive queue full twice, 16 frames in order after posting buffers");
	vnet_rx_post(&net, VNET_QSIZE - 16);
	net_sync("flood need after");
	if (!net_sync_wait("after sent")) {
		report(false, "flood: host handshake 2");
		return;
	}
	/* The first 16 are 0..15 (the TAP queue drops only once full), but
	 * after that a frame the device reads while the host is still
	 * sending makes room for a later one: increasing, not consecutive. */
	while (after < 5 && rx_test_frame(&seq, &len, VNET_WAIT_SPINS)) {
		if (seq >= 1000) {
			in_order &= seq == 1000 + after++;
		} else {
			in_order &= seq >= got && seq < 40;
			got = seq + 1;
			queued++;
		}
	}
	report_info("flood: %u of 40 frames delivered, the rest dropped by the full TAP queue",
		    16 + queued);
	report(in_order && queued <= 2,
	       "flood: TAP queue full: the %u queued frames in order, nothing duplicated",
	       16 + queued);
	report(after == 5, "flood: receive resumes after the TAP and the queue were full: 5 new frames");
}

static void test_raw_rx(void)
{
	static const unsigned sizes[3] = { 60, 1000, 1514 };
	unsigned seq, ok = 0;
	uint32_t len;

	net_sync("rx raw ready");
	for (unsigned s = 0; s < 3; s++)
		if (rx_test_frame(&seq, &len, VNET_WAIT_SPINS) && seq == 2000 + s &&
		    len == 12 + sizes[s])
			ok++;
	report(ok == 3, "raw: 3 host frames (60, 1000, 1514 bytes) received intact");
}

/* UDP with NEEDS_CSUM to 10.0.1.2: the host forwards it back, with the
 * checksum the device asked it to compute. */
static void test_csum(void)
{
	uint8_t *p = vnet_tx_slot(&net), *ip = net_eth(p, host_mac, my_mac, 0x0800), *udp;
	struct vnet_hdr *h = (struct vnet_hdr *)p;
	const unsigned payload = 100;
	uint32_t len;

	udp = net_ipv4(ip, my_ip, far_ip, 17, 8 + payload, 1);
	put16(udp, 4000);
	put16(udp + 2, 5000);
	put16(udp + 4, 8 + payload);
	for (unsigned i = 0; i < payload; i++)
		udp[8 + i] = net_pattern(3000, i);
	/* §5.1.6.2: the field holds the pseudo-header sum; the device sums
	 * from csum_start and stores the result at csum_start + offset. */
	put16(udp + 6, net_fold(net_pseudo(ip, 17, 8 + payload)));
	h->flags = VNET_HDR_F_NEEDS_CSUM;
	h->csum_start = 14 + 20;
	h->csum_offset = 6;
	vnet_tx_send(&net, 12 + 14 + 20 + 8 + payload, true);
	report(vnet_tx_drain(&net), "csum: UDP frame with NEEDS_CSUM transmitted");

	for (unsigned tries = 0; tries < 16; tries++) {
		const uint8_t *rip = frame + 26, *rudp = frame + 46;

		len = vnet_rx_frame(&net, true, VNET_WAIT_SPINS);
		if (!len)
			break;
		if (be16(frame + 24) != 0x0800 || rip[9] != 17 || be16(rudp + 2) != 5000)
			continue;
		report(!(((struct vnet_hdr *)frame)->flags & VNET_HDR_F_NEEDS_CSUM),
		       "csum: forwarded back without NEEDS_CSUM (GUEST_CSUM not negotiated)");
		report(net_ipv4_ok(rip) && rip[8] == 63,
		       "csum: IPv4 header valid, TTL 63 after forwarding");
		report(len == 12 + 14 + 20 + 8 + payload &&
		       net_fold(net_pseudo(rip, 17, 8 + payload) +
				net_sum16(rudp, 8 + payload, 0)) == 0xffff &&
		       be16(rudp + 6) != 0,
		       "csum: UDP checksum computed by the host is correct (0x%04x)", be16(rudp + 6));
		return;
	}
	report(false, "csum: forwarded UDP frame received");
}

/* A 3 x 1448-byte GSO_TCPV4 frame: the host segments it (its TAP has no
 * TSO: GUEST_TSO4 not negotiated) and the segments come back. */
static void test_tso(void)
{
	const unsigned mss = 1448, payload = 3 * 1448;
	uint8_t *p = vnet_tx_slot(&net), *ip = net_eth(p, host_mac, my_mac, 0x0800), *tcp;
	struct vnet_hdr *h = (struct vnet_hdr *)p;
	unsigned segs = 0, bytes = 0, bad = 0;
	uint32_t len;

	tcp = net_ipv4(ip, my_ip, far_ip, 6, 20 + payload, 100);
	memset(tcp, 0, 20);
	put16(tcp, 4001);
	put16(tcp + 2, 5001);
	put32(tcp + 4, 1000);
	tcp[12] = 5 << 4;
	tcp[13] = 0x18;   /* PSH ACK */
	put16(tcp + 14, 65535);
	for (unsigned i = 0; i < payload; i++)
		tcp[20 + i] = net_pattern(4000, i);
	put16(tcp + 16, net_fold(net_pseudo(ip, 6, 20 + payload)));
	*h = (struct vnet_hdr){ .flags = VNET_HDR_F_NEEDS_CSUM, .gso_type = VNET_GSO_TCPV4,
				.hdr_len = 14 + 20 + 20, .gso_size = (uint16_t)mss,
				.csum_start = 14 + 20, .csum_offset = 16 };
	vnet_tx_send(&net, 12 + 14 + 20 + 20 + payload, true);
	report(vnet_tx_drain(&net), "tso: %u-byte GSO_TCPV4 frame transmitted", 14 + 40 + payload);

	for (unsigned tries = 0; tries < 16 && bytes < payload; tries++) {
		const uint8_t *rip = frame + 26, *rtcp = frame + 46;
		unsigned l4, data;

		len = vnet_rx_frame(&net, true, VNET_WAIT_SPINS);
		if (!len)
			break;
		if (be16(frame + 24) != 0x0800 || rip[9] != 6 || be16(rtcp + 2) != 5001)
			continue;
		l4 = be16(rip + 2) - 20u;
		data = l4 - 20;
		segs++;
		if (len > 12 + 1514 || !net_ipv4_ok(rip) ||
		    net_fold(net_pseudo(rip, 6, l4) + net_sum16(rtcp, l4, 0)) != 0xffff ||
		    be32(rtcp + 4) != 1000 + bytes)
			bad++;
		for (unsigned i = 0; i < data; i++)
			if (rtcp[20 + i] != net_pattern(4000, bytes + i))
				bad++;
		bytes += data;
	}
	report(segs == 3 && bytes == payload && !bad,
	       "tso: segmented by the host into %u frames of <= 1514 bytes, checksums and payload right",
	       segs);
}

/* ---- phase 2 ---- */

/* Answer the host's SYN to port 7777 with a SYN-ACK (MSS 1460), then take
 * its data, which the host kernel sends as TSO frames now that the TAP
 * has TSO (GUEST_TSO4 negotiated, TUNSETOFFLOAD). */
static void test_guest_tso(void)
{
	uint32_t len, isn = 0, bytes = 0, biggest = 0, gso_frames = 0, bad = 0;
	uint16_t sport = 0, gso_size = 0;
	bool syn = false;

	net_sync("tcp ready");
	for (unsigned tries = 0; tries < 32 && !syn; tries++) {
		const uint8_t *rip = frame + 26, *rtcp = frame + 46;

		if (!(len = vnet_rx_frame(&net, true, VNET_WAIT_SPINS)))
			break;
		if (be16(frame + 24) == 0x0800 && rip[9] == 6 && be16(rtcp + 2) == 7777 &&
		    (rtcp[13] & 0x12) == 0x02) {
			isn = be32(rtcp + 4);
			sport = be16(rtcp);
			syn = true;
		}
	}
	report(syn, "tcp: the host's SYN arrived");
	if (!syn)
		return;
	{
		uint8_t *p = vnet_tx_slot(&net), *ip = net_eth(p, host_mac, my_mac, 0x0800), *tcp;

		tcp = net_ipv4(ip, my_ip, host_ip, 6, 24, 7);
		memset(tcp, 0, 24);
		put16(tcp, 7777);
		put16(tcp + 2, sport);
		put32(tcp + 4, 5000);
		put32(tcp + 8, isn + 1);
		tcp[12] = 6 << 4;
		tcp[13] = 0x12;   /* SYN ACK */
		put16(tcp + 14, 65535);
		tcp[20] = 2;      /* MSS option */
		tcp[21] = 4;
		put16(tcp + 22, 1460);
		put16(tcp + 16, (uint16_t)~net_fold(net_pseudo(ip, 6, 24) + net_sum16(tcp, 24, 0)));
		vnet_tx_send(&net, 12 + 14 + 20 + 24, true);
		vnet_tx_drain(&net);
	}
	/* The host sends 64 KiB; we never acknowledge, so what it may send
	 * is bounded by its initial window: enough to see TSO. */
	for (unsigned tries = 0; tries < 64 && bytes < 8 * 1460; tries++) {
		const struct vnet_hdr *h = (const struct vnet_hdr *)frame;
		const uint8_t *rip = frame + 26, *rtcp = frame + 46;
		uint32_t data, off;

		if (!(len = vnet_rx_frame(&net, true, VNET_WAIT_SPINS)))
			break;
		if (be16(frame + 24) != 0x0800 || rip[9] != 6 || be16(rtcp + 2) != 7777)
			continue;
		data = len - 12 - 14 - 20 - (uint32_t)(rtcp[12] >> 4) * 4;
		off = be32(rtcp + 4) - (isn + 1);
		if (!data || off + data > TCP_STREAM_MAX)
			continue;
		if (h->gso_type == VNET_GSO_TCPV4) {
			gso_frames++;
			gso_size = h->gso_size;
			if (!(h->flags & VNET_HDR_F_NEEDS_CSUM))
				bad++;
		}
		if (len > biggest)
			biggest = len;
		for (uint32_t i = 0; i < data; i++)
			if (frame[len - data + i] != (uint8_t)((off + i) * 13 + 7))
				bad++;
		if (off == bytes)
			bytes += data;
	}
	report(gso_frames > 0 && biggest > 12 + 1514,
	       "tcp: host data arrives as TSO frames (%u of them, up to %u bytes, gso_size %u)",
	       gso_frames, biggest - 12, gso_size);
	report(!bad && bytes >= 8 * 1460, "tcp: %u bytes of the stream in order and intact", bytes);
	net_sync("tcp done");
}

/* ---- snapshot (net_tap.py --snapshot) ---- */

/* A UDP frame with NEEDS_CSUM to 10.0.1.2, which the host forwards back.
 * Returns whether it came back still asking for its checksum. */
static bool udp_round_trip(const char *when, uint16_t id)
{
	uint8_t *p = vnet_tx_slot(&net), *ip = net_eth(p, host_mac, my_mac, 0x0800), *udp;
	struct vnet_hdr *h = (struct vnet_hdr *)p;
	const unsigned payload = 100;

	udp = net_ipv4(ip, my_ip, far_ip, 17, 8 + payload, id);
	put16(udp, 4000);
	put16(udp + 2, 5000);
	put16(udp + 4, 8 + payload);
	for (unsigned i = 0; i < payload; i++)
		udp[8 + i] = net_pattern(id, i);
	put16(udp + 6, net_fold(net_pseudo(ip, 17, 8 + payload)));
	h->flags = VNET_HDR_F_NEEDS_CSUM;
	h->csum_start = 14 + 20;
	h->csum_offset = 6;
	vnet_tx_send(&net, 12 + 14 + 20 + 8 + payload, true);
	report(vnet_tx_drain(&net), "snapshot: %s: UDP frame with NEEDS_CSUM transmitted", when);
	for (unsigned tries = 0; tries < 16; tries++) {
		uint32_t len = vnet_rx_frame(&net, false, VNET_WAIT_SPINS);

		if (!len)
			return false;
		if (be16(frame + 24) == 0x0800 && frame[26 + 9] == 17 && be16(frame + 46 + 2) == 5000)
			return ((struct vnet_hdr *)frame)->flags & VNET_HDR_F_NEEDS_CSUM;
	}
	return false;
}

static void raw_tx(unsigned seq)
{
	vnet_tx_send(&net, net_test_frame(vnet_tx_slot(&net), my_mac, seq, 60), true);
}

static void test_snapshot(uint64_t features)
{
	unsigned seq = 0;
	uint32_t len = 0;
	bool ok;

	if (!vnet_setup(&net, features)) {
		report(false, "snapshot: setup");
		return;
	}
	/* One buffer: the UDP frame takes it, and none is left. */
	vnet_rx_post(&net, 1);
	report(udp_round_trip("before", 1), "snapshot: before: forwarded back still NEEDS_CSUM");
	net_sync("hold ready");
	report(net_sync_wait("hold sent"), "snapshot: before: the host sent a frame, no buffer posted");
	raw_tx(20);
	report(vnet_tx_drain(&net), "snapshot: before: raw frame 20 transmitted");
	net_sync("snapshot point");
	if (!net_sync_wait("go")) {
		report(false, "snapshot: host handshake after the restore");
		return;
	}
	vnet_rx_post(&net, 8);
	/* (The received values are printed after the call: argument
	 * evaluation order is unspecified.) */
	ok = rx_test_frame(&seq, &len, VNET_WAIT_SPINS);
	report(ok && seq == 3001 && len == 12 + 200,
	       "snapshot: after: the frame held when saved arrives (seq %u, %u bytes)", seq, len);
	vnet_rx_post(&net, 1);
	report(udp_round_trip("after", 2),
	       "snapshot: after: forwarded back still NEEDS_CSUM (TUNSETOFFLOAD re-applied)");
	raw_tx(21);
	report(vnet_tx_drain(&net), "snapshot: after: raw frame 21 transmitted");
	vnet_rx_post(&net, 8);
	net_sync("rx after ready");
	ok = rx_test_frame(&seq, &len, VNET_WAIT_SPINS);
	report(ok && seq == 3002 && len == 12 + 1514,
	       "snapshot: after: a new host frame arrives (seq %u, %u bytes)", seq, len);
	report(!vnet_needs_reset(&net), "snapshot: after: no DEVICE_NEEDS_RESET");
}

static long run(void *arg)
{
	char text[32], want[32];
	uint8_t cfg[8];
	uint64_t phase1 = VNET_FEATURES | BIT(VIRTIO_NET_F_CSUM) | BIT(VIRTIO_NET_F_HOST_TSO4) |
			  BIT(VIRTIO_NET_F_HOST_TSO6);
	uint64_t phase2 = VNET_FEATURES_OFFLOADS;

	(void)arg;
	report_prefix_push("virtio-net");
	if (!vnet_probe(&net, &mem)) {
		report(false, "setup: virtio-net found (is --net given?)");
		return 0;
	}
	if (!vnet_setup(&net, phase1)) {
		report(false, "setup: negotiation and queues");
		return 0;
	}
	report((net.dev.device_features & phase2) == phase2 &&
	       !(net.dev.device_features & BIT(VIRTIO_NET_F_CTRL_VQ)),
	       "setup: MAC, STATUS, MRG_RXBUF, CSUM, HOST_TSO4/6, GUEST_CSUM, GUEST_TSO4/6 offered, no CTRL_VQ");
	report(net.dev.features == (phase1 | BIT(VIRTIO_F_VERSION_1)),
	       "setup: phase 1 features accepted");
	vnet_config_read(&net, cfg, sizeof(cfg));
	memcpy(my_mac, cfg, 6);
	snprintf(text, sizeof(text), "%02x:%02x:%02x:%02x:%02x:%02x", cfg[0], cfg[1], cfg[2], cfg[3],
		 cfg[4], cfg[5]);
	report(cmdline_get_str("mac", want, sizeof(want)) && !strcmp(text, want),
	       "config: mac %s as given with --net mac=", text);
	report((cfg[6] | cfg[7] << 8) == 1, "config: status LINK_UP");
	if (!cmdline_get_str("hostmac", want, sizeof(want)) || !net_parse_mac(want, host_mac)) {
		report(false, "setup: hostmac= on the command line");
		return 0;
	}

	if (cmdline_has("snapshot")) {
		test_snapshot(phase2);
		return 0;
	}
	test_raw_tx();
	test_flood();
	test_raw_rx();
	test_csum();
	test_tso();

	if (!vnet_setup(&net, phase2)) {
		report(false, "setup: phase 2 negotiation");
		return 0;
	}
	report(net.dev.features == (phase2 | BIT(VIRTIO_F_VERSION_1)),
	       "setup: phase 2 (after a reset) with GUEST_CSUM and GUEST_TSO4/6");
	vnet_rx_post(&net, VNET_QSIZE);
	test_guest_tso();
	return 0;
}

int main(int argc __unused, char **argv __unused)
{
	run_in_user(run, NULL);
	return report_summary();
}
