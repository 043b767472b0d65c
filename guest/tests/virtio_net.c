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
 * With bench=tx or bench=rx on the command line it is the benchmark's
 * guest instead (bench/net.py).
 *
 * With `snapshot` (net_tap.py --snapshot), with GUEST_CSUM/TSO: a UDP
 * frame with NEEDS_CSUM sent to 10.0.1.2 comes back still NEEDS_CSUM (the
 * TAP's TUNSETOFFLOAD lets the host leave the checksum to us); a host
 * frame arrives while no receive buffer is posted (the device holds it);
 * then "sync: snapshot point", and the host saves the VM and restores it
 * in a new kvmrun. Afterwards the held frame arrives once buffers are
 * posted, the UDP round trip still comes back NEEDS_CSUM (the restore
 * re-applied the offloads) and frames flow both ways.
 *
 * Everything runs at CPL 3. */
#include "io.h"
#include "libguest.h"
#include "serial.h"
#include "user.h"
#include "virtio.h"

#define RXQ 0
#define TXQ 1
#define QSIZE       256
#define RXBUF       2048            /* each >= the header, MRG_RXBUF spreads frames */
#define TXSLOTS     8
#define TXSLOT_SIZE (70 * 1024)
#define WAIT_SPINS  400000000ULL
#define ETH_TEST    0x88b5          /* IEEE local experimental EtherType */

/* Feature bits (§5.1.3) and header values (§5.1.6). */
#define F_CSUM 0
#define F_GUEST_CSUM 1
#define F_MAC 5
#define F_GUEST_TSO4 7
#define F_GUEST_TSO6 8
#define F_HOST_TSO4 11
#define F_HOST_TSO6 12
#define F_MRG_RXBUF 15
#define F_STATUS 16
#define F_CTRL_VQ 17
#define HDR_F_NEEDS_CSUM 1
#define GSO_TCPV4 1
#define BIT(n) (1ULL << (n))

struct vnet_hdr {
	uint8_t flags, gso_type;
	uint16_t hdr_len, gso_size, csum_start, csum_offset, num_buffers;
} __attribute__((packed));

static uint8_t rx_ring[VRING_BYTES(QSIZE)] __aligned(4096);
static uint8_t tx_ring[VRING_BYTES(QSIZE)] __aligned(4096);
static uint8_t rx_bufs[QSIZE][RXBUF] __aligned(64);
static uint8_t tx_slots[TXSLOTS][TXSLOT_SIZE] __aligned(64);
static uint8_t frame[70 * 1024];            /* the last frame received, header first */
static uint8_t tcp_data[70 * 1024];
static struct virtio_dev dev;
static struct vring rxq, txq;
static unsigned tx_next, tx_inflight;
static uint8_t my_mac[6], host_mac[6];
static const uint8_t my_ip[4] = { 10, 0, 0, 2 }, host_ip[4] = { 10, 0, 0, 1 },
		     far_ip[4] = { 10, 0, 1, 2 };

static uint8_t pattern(unsigned seq, unsigned i)
{
	return (uint8_t)(seq * 31 + i * 7 + 3);
}

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)); put16(p + 2, (uint16_t)v); }

/* RFC 1071 sum, not folded. */
static uint32_t sum16(const uint8_t *p, unsigned len, uint32_t sum)
{
	for (unsigned i = 0; i + 1 < len; i += 2)
		sum += be16(p + i);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* The IPv4 pseudo-header of §RFC 793/768 for the L4 part of `ip`. */
static uint32_t pseudo(const uint8_t *ip, uint8_t proto, unsigned l4_len)
{
	return sum16(ip + 12, 8, 0) + proto + l4_len;
}

static bool parse_mac(const char *s, uint8_t mac[6])
{
	for (unsigned i = 0; i < 6; i++) {
		uint8_t v = 0;

		for (unsigned k = 0; k < 2; k++) {
			char c = s[3 * i + k];

			v = (uint8_t)(v << 4 | (c >= '0' && c <= '9' ? c - '0' :
						c >= 'a' && c <= 'f' ? c - 'a' + 10 :
						c >= 'A' && c <= 'F' ? c - 'A' + 10 : 0));
			if (!c)
				return false;
		}
		mac[i] = v;
	}
	return true;
}

static void sync_point(const char *what)
{
	printf("sync: %s\n", what);
}

static bool sync_wait(const char *want)
{
	char line[64];

	serial_getline(line, sizeof(line));
	return strcmp(line, want) == 0;
}

/* ---- receive ---- */

static void rx_post(unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		/* One descriptor per chain, handed out round-robin: the
		 * descriptor index names the buffer. */
		struct vring_buf b = { (uintptr_t)rx_bufs[rxq.next_desc], RXBUF, true };

		vring_add(&rxq, &b, 1);
	}
	vring_kick(&rxq);
}

/* The next frame, header first, into frame[]; its buffers are posted
 * again if `repost`. Returns the length with the header, 0 on timeout. */
static uint32_t rx_frame(bool repost, uint64_t spins)
{
	uint32_t id, len, total = 0;
	uint16_t bufs;

	if (!vring_wait(&rxq, &id, &len, spins) || id >= QSIZE || len > RXBUF || len < 12)
		return 0;
	memcpy(frame, rx_bufs[id], len);
	total = len;
	bufs = ((struct vnet_hdr *)frame)->num_buffers;
	for (uint16_t k = 1; k < bufs; k++) {
		if (!vring_wait(&rxq, &id, &len, spins) || id >= QSIZE || len > RXBUF ||
		    total + len > sizeof(frame))
			return 0;
		memcpy(frame + total, rx_bufs[id], len);
		total += len;
	}
	if (repost)
		rx_post(bufs);
	return total;
}

/* ---- transmit ---- */

static uint8_t *tx_slot(void)
{
	return tx_slots[tx_next % TXSLOTS];
}

/* Send tx_slot()'s `len` bytes (header included) as 1-3 descriptors. */
static void tx_send(uint32_t len, bool kick)
{
	uint8_t *p = tx_slot();
	struct vring_buf b[3] = { { (uintptr_t)p, 12, false } };
	unsigned n = 1;
	uint32_t id, ulen;

	/* Free slots: at most TXSLOTS in flight. */
	while (tx_inflight >= TXSLOTS && vring_wait(&txq, &id, &ulen, WAIT_SPINS))
		tx_inflight--;
	if (len > 12 + 100) {
		b[n++] = (struct vring_buf){ (uintptr_t)p + 12, 100, false };
		b[n++] = (struct vring_buf){ (uintptr_t)p + 112, len - 112, false };
	} else if (len > 12) {
		b[n++] = (struct vring_buf){ (uintptr_t)p + 12, len - 12, false };
	}
	vring_add(&txq, b, n);
	tx_next++;
	tx_inflight++;
	if (kick)
		vring_kick(&txq);
}

static bool tx_drain(void)
{
	uint32_t id, len;

	vring_kick(&txq);
	while (tx_inflight) {
		if (!vring_wait(&txq, &id, &len, WAIT_SPINS))
			return false;
		tx_inflight--;
	}
	return true;
}

static uint8_t *eth(uint8_t *p, const uint8_t *dst, uint16_t type)
{
	memset(p, 0, 12);   /* virtio_net_hdr */
	memcpy(p + 12, dst, 6);
	memcpy(p + 18, my_mac, 6);
	put16(p + 24, type);
	return p + 26;
}

/* Build an IPv4 header for `l4_len` bytes of `proto` to `dst`. */
static uint8_t *ipv4(uint8_t *ip, const uint8_t *dst, uint8_t proto, unsigned l4_len, uint16_t id)
{
	memset(ip, 0, 20);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(20 + l4_len));
	put16(ip + 4, id);
	put16(ip + 6, 0x4000);   /* DF */
	ip[8] = 64;
	ip[9] = proto;
	memcpy(ip + 12, my_ip, 4);
	memcpy(ip + 16, dst, 4);
	put16(ip + 10, (uint16_t)~fold(sum16(ip, 20, 0)));
	return ip + 20;
}

static bool ipv4_ok(const uint8_t *ip)
{
	return ip[0] == 0x45 && fold(sum16(ip, 20, 0)) == 0xffff;
}

/* ---- phase 1 ---- */

static void test_raw_tx(void)
{
	static const unsigned sizes[3] = { 60, 1000, 1514 };
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

	for (unsigned s = 0; s < 3; s++) {
		uint8_t *d = eth(tx_slot(), bcast, ETH_TEST);

		/* Sequence number, then the pattern (is_test_frame()). */
		put32(d, s);
		for (unsigned i = 4; i < sizes[s] - 14; i++)
			d[i] = pattern(s, i);
		tx_send(12 + sizes[s], true);
	}
	report(tx_drain(), "raw: 3 frames (60, 1000, 1514 bytes) transmitted");
	sync_point("tx raw done");
}

/* A test frame with sequence number `seq` (payload bytes 0-3), intact? */
static bool is_test_frame(uint32_t len, unsigned *seq)
{
	const uint8_t *e = frame + 12;

	if (len < 12 + 14 + 4 || be16(e + 12) != ETH_TEST)
		return false;
	*seq = be32(e + 14);
	for (unsigned i = 4; i < len - 26; i++)
		if (e[14 + i] != pattern(*seq, i))
			return false;
	return true;
}

/* Receive until a test frame arrives; other traffic is skipped. */
static bool rx_test_frame(unsigned *seq, uint32_t *len, uint64_t spins)
{
	for (unsigned tries = 0; tries < 64; tries++) {
		*len = rx_frame(true, spins);
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

	sync_point("flood ready");
	if (!sync_wait("flood sent")) {
		report(false, "flood: host handshake");
		return;
	}
	for (unsigned round = 0; round < 2; round++) {
		rx_post(8);
		for (unsigned i = 0; i < 8; i++) {
			len = rx_frame(false, WAIT_SPINS);
			if (!len || !is_test_frame(len, &seq) || seq != got)
				in_order = false;
			got++;
		}
	}
	report(in_order, "flood: receive queue full twice, 16 frames in order after posting buffers");
	rx_post(QSIZE - 16);
	sync_point("flood need after");
	if (!sync_wait("after sent")) {
		report(false, "flood: host handshake 2");
		return;
	}
	/* The first 16 are 0..15 (the TAP queue drops only once full), but
	 * after that a frame the device reads while the host is still
	 * sending makes room for a later one: increasing, not consecutive. */
	while (after < 5 && rx_test_frame(&seq, &len, WAIT_SPINS)) {
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

	sync_point("rx raw ready");
	for (unsigned s = 0; s < 3; s++)
		if (rx_test_frame(&seq, &len, WAIT_SPINS) && seq == 2000 + s && len == 12 + sizes[s])
			ok++;
	report(ok == 3, "raw: 3 host frames (60, 1000, 1514 bytes) received intact");
}

/* UDP with NEEDS_CSUM to 10.0.1.2: the host forwards it back, with the
 * checksum the device asked it to compute. */
static void test_csum(void)
{
	uint8_t *p = tx_slot(), *ip = eth(p, host_mac, 0x0800), *udp;
	struct vnet_hdr *h = (struct vnet_hdr *)p;
	const unsigned payload = 100;
	uint32_t len;

	udp = ipv4(ip, far_ip, 17, 8 + payload, 1);
	put16(udp, 4000);
	put16(udp + 2, 5000);
	put16(udp + 4, 8 + payload);
	for (unsigned i = 0; i < payload; i++)
		udp[8 + i] = pattern(3000, i);
	/* §5.1.6.2: the field holds the pseudo-header sum; the device sums
	 * from csum_start and stores the result at csum_start + offset. */
	put16(udp + 6, fold(pseudo(ip, 17, 8 + payload)));
	h->flags = HDR_F_NEEDS_CSUM;
	h->csum_start = 14 + 20;
	h->csum_offset = 6;
	tx_send(12 + 14 + 20 + 8 + payload, true);
	report(tx_drain(), "csum: UDP frame with NEEDS_CSUM transmitted");

	for (unsigned tries = 0; tries < 16; tries++) {
		const uint8_t *rip = frame + 26, *rudp = frame + 46;

		len = rx_frame(true, WAIT_SPINS);
		if (!len)
			break;
		if (be16(frame + 24) != 0x0800 || rip[9] != 17 || be16(rudp + 2) != 5000)
			continue;
		report(!(((struct vnet_hdr *)frame)->flags & HDR_F_NEEDS_CSUM),
		       "csum: forwarded back without NEEDS_CSUM (GUEST_CSUM not negotiated)");
		report(ipv4_ok(rip) && rip[8] == 63, "csum: IPv4 header valid, TTL 63 after forwarding");
		report(len == 12 + 14 + 20 + 8 + payload &&
		       fold(pseudo(rip, 17, 8 + payload) + sum16(rudp, 8 + payload, 0)) == 0xffff &&
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
	uint8_t *p = tx_slot(), *ip = eth(p, host_mac, 0x0800), *tcp;
	struct vnet_hdr *h = (struct vnet_hdr *)p;
	unsigned segs = 0, bytes = 0, bad = 0;
	uint32_t len;

	tcp = ipv4(ip, far_ip, 6, 20 + payload, 100);
	memset(tcp, 0, 20);
	put16(tcp, 4001);
	put16(tcp + 2, 5001);
	put32(tcp + 4, 1000);
	tcp[12] = 5 << 4;
	tcp[13] = 0x18;   /* PSH ACK */
	put16(tcp + 14, 65535);
	for (unsigned i = 0; i < payload; i++)
		tcp[20 + i] = pattern(4000, i);
	put16(tcp + 16, fold(pseudo(ip, 6, 20 + payload)));
	*h = (struct vnet_hdr){ .flags = HDR_F_NEEDS_CSUM, .gso_type = GSO_TCPV4,
				.hdr_len = 14 + 20 + 20, .gso_size = (uint16_t)mss,
				.csum_start = 14 + 20, .csum_offset = 16 };
	tx_send(12 + 14 + 20 + 20 + payload, true);
	report(tx_drain(), "tso: %u-byte GSO_TCPV4 frame transmitted", 14 + 40 + payload);

	for (unsigned tries = 0; tries < 16 && bytes < payload; tries++) {
		const uint8_t *rip = frame + 26, *rtcp = frame + 46;
		unsigned l4, data;

		len = rx_frame(true, WAIT_SPINS);
		if (!len)
			break;
		if (be16(frame + 24) != 0x0800 || rip[9] != 6 || be16(rtcp + 2) != 5001)
			continue;
		l4 = be16(rip + 2) - 20u;
		data = l4 - 20;
		segs++;
		if (len > 12 + 1514 || !ipv4_ok(rip) ||
		    fold(pseudo(rip, 6, l4) + sum16(rtcp, l4, 0)) != 0xffff ||
		    be32(rtcp + 4) != 1000 + bytes)
			bad++;
		for (unsigned i = 0; i < data; i++)
			if (rtcp[20 + i] != pattern(4000, bytes + i))
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

	sync_point("tcp ready");
	for (unsigned tries = 0; tries < 32 && !syn; tries++) {
		const uint8_t *rip = frame + 26, *rtcp = frame + 46;

		if (!(len = rx_frame(true, WAIT_SPINS)))
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
		uint8_t *p = tx_slot(), *ip = eth(p, host_mac, 0x0800), *tcp;

		tcp = ipv4(ip, host_ip, 6, 24, 7);
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
		put16(tcp + 16, (uint16_t)~fold(pseudo(ip, 6, 24) + sum16(tcp, 24, 0)));
		tx_send(12 + 14 + 20 + 24, true);
		tx_drain();
	}
	/* The host sends 64 KiB; we never acknowledge, so what it may send
	 * is bounded by its initial window: enough to see TSO. */
	for (unsigned tries = 0; tries < 64 && bytes < 8 * 1460; tries++) {
		const struct vnet_hdr *h = (const struct vnet_hdr *)frame;
		const uint8_t *rip = frame + 26, *rtcp = frame + 46;
		uint32_t data, off;

		if (!(len = rx_frame(true, WAIT_SPINS)))
			break;
		if (be16(frame + 24) != 0x0800 || rip[9] != 6 || be16(rtcp + 2) != 7777)
			continue;
		data = len - 12 - 14 - 20 - (uint32_t)(rtcp[12] >> 4) * 4;
		off = be32(rtcp + 4) - (isn + 1);
		if (!data || off + data > sizeof(tcp_data))
			continue;
		if (h->gso_type == GSO_TCPV4) {
			gso_frames++;
			gso_size = h->gso_size;
			if (!(h->flags & HDR_F_NEEDS_CSUM))
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
	sync_point("tcp done");
}

static bool setup(uint64_t features)
{
	if (virtio_negotiate(&dev, features) < 0)
		return false;
	memset(rx_ring, 0, sizeof(rx_ring));
	memset(tx_ring, 0, sizeof(tx_ring));
	tx_next = tx_inflight = 0;
	if (virtio_queue_setup(&dev, &rxq, RXQ, QSIZE, rx_ring) < 0 ||
	    virtio_queue_setup(&dev, &txq, TXQ, QSIZE, tx_ring) < 0)
		return false;
	virtio_driver_ok(&dev);
	return true;
}

/* ---- benchmark guest (bench/net.py) ---- */

/* bench=tx count=N size=S: N frames of S bytes (1514: plain frames; more:
 * GSO_TCPV4 frames of S bytes) to a MAC nobody has, so the host kernel
 * drops them right after the TAP. The ring is kept full; every frame
 * points at the same buffer (the device only reads it). */
static void bench_tx(uint64_t count, uint64_t size)
{
	static const uint8_t nobody[6] = { 0x02, 0, 0, 0, 0, 0x99 };
	uint8_t *p = tx_slots[0], *ip = eth(p, nobody, size > 1514 ? 0x0800 : ETH_TEST), *tcp;
	uint64_t sent = 0, done = 0;
	uint32_t id, len;

	if (size > 1514) {
		size = size > 65549 ? 65549 : size;
		tcp = ipv4(ip, far_ip, 6, (unsigned)size - 34, 1);
		memset(tcp, 0, 20);
		tcp[12] = 5 << 4;
		put16(tcp + 16, fold(pseudo(ip, 6, (unsigned)size - 34)));
		*(struct vnet_hdr *)p = (struct vnet_hdr){ .flags = HDR_F_NEEDS_CSUM,
			.gso_type = GSO_TCPV4, .hdr_len = 54, .gso_size = 1448,
			.csum_start = 34, .csum_offset = 16 };
	} else if (size < 60) {
		size = 60;
	}
	sync_point("bench tx start");
	while (done < count) {
		while (sent < count && sent - done < QSIZE) {
			struct vring_buf b = { (uintptr_t)p, (uint32_t)(12 + size), false };

			vring_add(&txq, &b, 1);
			sent++;
		}
		vring_kick(&txq);
		if (!vring_wait(&txq, &id, &len, WAIT_SPINS))
			break;
		done++;
		while (vring_poll(&txq, &id, &len))
			done++;
	}
	printf("sync: bench tx done frames=%llu bytes=%llu\n", (unsigned long long)done,
	       (unsigned long long)(done * size));
}

/* bench=rx: count test frames until an end frame (EtherType 0x88b6). */
static void bench_rx(void)
{
	uint64_t frames = 0, bytes = 0;
	uint32_t len;

	unsigned freed = 0;

	rx_post(QSIZE);
	sync_point("bench rx ready");
	/* Buffers go back in batches of half the ring, as Linux refills in
	 * its NAPI poll: a driver that gives buffers back one at a time to a
	 * device that has run out of them gets one frame per notification,
	 * i.e. per VM exit. */
	while ((len = rx_frame(false, WAIT_SPINS))) {
		uint16_t type = be16(frame + 24);

		freed += ((struct vnet_hdr *)frame)->num_buffers;
		if (freed >= QSIZE / 2) {
			rx_post(freed);
			freed = 0;
		}

		if (type == ETH_TEST + 1)
			break;
		if (type == ETH_TEST) {
			frames++;
			bytes += len - 12;
		}
	}
	printf("sync: bench rx done frames=%llu bytes=%llu\n", (unsigned long long)frames,
	       (unsigned long long)bytes);
}

static void bench(uint64_t features)
{
	uint64_t count = 1000, size = 1514;
	char mac[32];

	if (!setup(features) || !cmdline_get_str("mac", mac, sizeof(mac)) || !parse_mac(mac, my_mac)) {
		report(false, "bench: setup");
		return;
	}
	cmdline_get_u64("count", &count);
	cmdline_get_u64("size", &size);
	if (cmdline_has("bench=tx"))
		bench_tx(count, size);
	else
		bench_rx();
}

/* ---- hostile driver (net_tap.py --hostile) ---- */

static bool needs_reset(void)
{
	return virtio_status(&dev) & VIRTIO_STATUS_DEVICE_NEEDS_RESET;
}

/* A test frame `seq` of 100 bytes, broadcast: the host looks for it. */
static bool send_probe(unsigned seq)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	uint8_t *d = eth(tx_slot(), bcast, ETH_TEST);

	put32(d, seq);
	for (unsigned i = 4; i < 100 - 14; i++)
		d[i] = pattern(seq, i);
	tx_send(12 + 100, true);
	return tx_drain() && !needs_reset();
}

/* Offer one chain of `n` raw buffers on `vq`, wait for it to come back. */
static bool offer(struct vring *vq, const struct vring_buf *b, unsigned n, uint32_t *used_len)
{
	uint32_t id;
	uint16_t head = vring_add(vq, b, n);

	vring_kick(vq);
	return vring_wait(vq, &id, used_len, WAIT_SPINS) && id == head;
}

static void hostile(uint64_t features)
{
	uint32_t len;
	bool back;

	report_prefix_push("hostile");
	for (unsigned i = 0; i < 6; i++)
		my_mac[i] = *(volatile uint8_t *)(dev.base + VIRTIO_MMIO_CONFIG + i);
	/* A transmit header of 8 bytes: not a frame (§5.1.6.2). */
	setup(features);
	{
		struct vring_buf b = { (uintptr_t)tx_slot(), 8, false };

		back = offer(&txq, &b, 1, &len);
		report(back && len == 0 && needs_reset(),
		       "tx header shorter than virtio_net_hdr: chain back empty, DEVICE_NEEDS_RESET");
	}
	setup(features);
	report(send_probe(100), "after a reset the device sends again");

	/* A transmit frame claiming 80 KiB: dropped, the device goes on. */
	memset(tx_slots[0], 0, 12);
	{
		struct vring_buf b[2] = { { (uintptr_t)tx_slots[0], 12, false },
					  { (uintptr_t)tx_slots[1], 80 * 1024, false } };

		back = offer(&txq, b, 2, &len);
		report(back && len == 0 && !needs_reset(),
		       "tx frame of 80 KiB (over 64 KiB + headers): dropped, device still running");
	}
	report(send_probe(101), "a frame after the oversized one is sent");

	/* Receive buffers the device cannot write a frame into. */
	{
		struct vring_buf b = { (uintptr_t)rx_bufs[0], RXBUF, false };

		vring_add(&rxq, &b, 1);
		vring_kick(&rxq);
		sync_point("hostile rx ready");
		back = vring_wait(&rxq, &len, &len, WAIT_SPINS);
		report(back && len == 0 && needs_reset(),
		       "rx chain with only device-readable buffers: DEVICE_NEEDS_RESET");
	}
	setup(features);
	{
		struct vring_buf b = { (uintptr_t)rx_bufs[0], 8, true };

		vring_add(&rxq, &b, 1);
		vring_kick(&rxq);
		sync_point("hostile rx2 ready");
		back = vring_wait(&rxq, &len, &len, WAIT_SPINS);
		report(back && len == 0 && needs_reset(),
		       "rx buffer of 8 bytes, shorter than the header: DEVICE_NEEDS_RESET");
	}
	setup(features);
	report(send_probe(102), "still serving at the end");
	report_prefix_pop();
}

/* ---- snapshot (net_tap.py --snapshot) ---- */

/* A UDP frame with NEEDS_CSUM to 10.0.1.2, which the host forwards back.
 * Returns whether it came back still asking for its checksum. */
static bool udp_round_trip(const char *when, uint16_t id)
{
	uint8_t *p = tx_slot(), *ip = eth(p, host_mac, 0x0800), *udp;
	struct vnet_hdr *h = (struct vnet_hdr *)p;
	const unsigned payload = 100;

	udp = ipv4(ip, far_ip, 17, 8 + payload, id);
	put16(udp, 4000);
	put16(udp + 2, 5000);
	put16(udp + 4, 8 + payload);
	for (unsigned i = 0; i < payload; i++)
		udp[8 + i] = pattern(id, i);
	put16(udp + 6, fold(pseudo(ip, 17, 8 + payload)));
	h->flags = HDR_F_NEEDS_CSUM;
	h->csum_start = 14 + 20;
	h->csum_offset = 6;
	tx_send(12 + 14 + 20 + 8 + payload, true);
	report(tx_drain(), "snapshot: %s: UDP frame with NEEDS_CSUM transmitted", when);
	for (unsigned tries = 0; tries < 16; tries++) {
		uint32_t len = rx_frame(false, WAIT_SPINS);

		if (!len)
			return false;
		if (be16(frame + 24) == 0x0800 && frame[26 + 9] == 17 && be16(frame + 46 + 2) == 5000)
			return ((struct vnet_hdr *)frame)->flags & HDR_F_NEEDS_CSUM;
	}
	return false;
}

static void raw_tx(unsigned seq)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	uint8_t *d = eth(tx_slot(), bcast, ETH_TEST);

	put32(d, seq);
	for (unsigned i = 4; i < 60 - 14; i++)
		d[i] = pattern(seq, i);
	tx_send(12 + 60, true);
}

static void test_snapshot(uint64_t features)
{
	unsigned seq = 0;
	uint32_t len = 0;
	bool ok;

	if (!setup(features)) {
		report(false, "snapshot: setup");
		return;
	}
	/* One buffer: the UDP frame takes it, and none is left. */
	rx_post(1);
	report(udp_round_trip("before", 1), "snapshot: before: forwarded back still NEEDS_CSUM");
	sync_point("hold ready");
	report(sync_wait("hold sent"), "snapshot: before: the host sent a frame, no buffer posted");
	raw_tx(20);
	report(tx_drain(), "snapshot: before: raw frame 20 transmitted");
	sync_point("snapshot point");
	if (!sync_wait("go")) {
		report(false, "snapshot: host handshake after the restore");
		return;
	}
	rx_post(8);
	/* (The received values are printed after the call: argument
	 * evaluation order is unspecified.) */
	ok = rx_test_frame(&seq, &len, WAIT_SPINS);
	report(ok && seq == 3001 && len == 12 + 200,
	       "snapshot: after: the frame held when saved arrives (seq %u, %u bytes)", seq, len);
	rx_post(1);
	report(udp_round_trip("after", 2),
	       "snapshot: after: forwarded back still NEEDS_CSUM (TUNSETOFFLOAD re-applied)");
	raw_tx(21);
	report(tx_drain(), "snapshot: after: raw frame 21 transmitted");
	rx_post(8);
	sync_point("rx after ready");
	ok = rx_test_frame(&seq, &len, WAIT_SPINS);
	report(ok && seq == 3002 && len == 12 + 1514,
	       "snapshot: after: a new host frame arrives (seq %u, %u bytes)", seq, len);
	report(!(virtio_status(&dev) & VIRTIO_STATUS_DEVICE_NEEDS_RESET),
	       "snapshot: after: no DEVICE_NEEDS_RESET");
}

static long run(void *arg)
{
	char text[32], want[32];
	uint8_t cfg[8];
	uint64_t base = BIT(F_MAC) | BIT(F_STATUS) | BIT(F_MRG_RXBUF) | BIT(VIRTIO_F_EVENT_IDX) |
			BIT(VIRTIO_F_INDIRECT_DESC);
	uint64_t phase1 = base | BIT(F_CSUM) | BIT(F_HOST_TSO4) | BIT(F_HOST_TSO6);
	uint64_t phase2 = phase1 | BIT(F_GUEST_CSUM) | BIT(F_GUEST_TSO4) | BIT(F_GUEST_TSO6);

	(void)arg;
	report_prefix_push("virtio-net");
	if (!virtio_probe(VIRTIO_ID_NET, 0, &dev)) {
		report(false, "setup: virtio-net found (is --net given?)");
		return 0;
	}
	if (cmdline_has("bench=tx") || cmdline_has("bench=rx")) {
		bench(phase2);
		return 0;
	}
	if (cmdline_has("hostile")) {
		hostile(base);
		return 0;
	}
	if (!setup(phase1)) {
		report(false, "setup: negotiation and queues");
		return 0;
	}
	report((dev.device_features & phase2) == phase2 && !(dev.device_features & BIT(F_CTRL_VQ)),
	       "setup: MAC, STATUS, MRG_RXBUF, CSUM, HOST_TSO4/6, GUEST_CSUM, GUEST_TSO4/6 offered, no CTRL_VQ");
	report(dev.features == (phase1 | BIT(VIRTIO_F_VERSION_1)), "setup: phase 1 features accepted");
	for (unsigned i = 0; i < 8; i++)
		cfg[i] = *(volatile uint8_t *)(dev.base + VIRTIO_MMIO_CONFIG + i);
	memcpy(my_mac, cfg, 6);
	snprintf(text, sizeof(text), "%02x:%02x:%02x:%02x:%02x:%02x", cfg[0], cfg[1], cfg[2], cfg[3],
		 cfg[4], cfg[5]);
	report(cmdline_get_str("mac", want, sizeof(want)) && !strcmp(text, want),
	       "config: mac %s as given with --net mac=", text);
	report((cfg[6] | cfg[7] << 8) == 1, "config: status LINK_UP");
	if (!cmdline_get_str("hostmac", want, sizeof(want)) || !parse_mac(want, host_mac)) {
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

	if (!setup(phase2)) {
		report(false, "setup: phase 2 negotiation");
		return 0;
	}
	report(dev.features == (phase2 | BIT(VIRTIO_F_VERSION_1)),
	       "setup: phase 2 (after a reset) with GUEST_CSUM and GUEST_TSO4/6");
	rx_post(QSIZE);
	test_guest_tso();
	return 0;
}

int main(int argc __unused, char **argv __unused)
{
	run_in_user(run, NULL);
	return report_summary();
}
