/* virtio-net driven through its virtio-mmio window the way a guest driver
 * does, against synthetic guest RAM, with a real message-preserving
 * back-end: one end of an AF_UNIX SOCK_SEQPACKET socketpair (net_tap.h's
 * net_tap_from_fd), the test holding the other end as "the host's side of
 * the TAP". No KVM, no privileges. What the event loop would do is called
 * directly: virtio_mmio_notify() for a queue notification,
 * virtio_net_tap_ready() for the back-end's readiness. The TAP itself
 * (offloads, TUNSETOFFLOAD) is tested by tests/guest/net_tap.py. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "layout.h"
#include "memory.h"
#include "virtio/net.h"

#define RAM_SIZE  (32ULL << 20)
#define QSIZE     8
#define RING_GPA(q, part) (0x10000ULL + 0x4000ULL * (q) + 0x1000ULL * (part))
#define TXBUF_GPA 0x100000ULL   /* transmit frames, 128 KiB each */
#define RXBUF_GPA 0x800000ULL   /* receive buffers, 64 KiB each */

static const uint8_t mac[6] = { 0x02, 0x4b, 0x56, 0x4d, 0x00, 0x05 };

struct vq {
	uint16_t avail_idx, next_desc, used_seen;
};

struct fixture {
	struct guest_memory mem;
	struct virtio_net net;
	struct virtio_mmio *dev;
	int host;                 /* the test's end of the socketpair */
	struct vq q[2];
	unsigned tx_slot, rx_slot;
};

struct buf {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

static void *gpa(struct fixture *f, uint64_t addr, uint64_t len)
{
	void *p = guest_memory_ptr(&f->mem, addr, len);

	assert_non_null(p);
	return p;
}

static uint32_t rd(struct fixture *f, uint64_t offset)
{
	uint32_t v;

	virtio_mmio_bus_ops.read(f->dev, offset, &v, 4);
	return v;
}

static void wr(struct fixture *f, uint64_t offset, uint32_t v)
{
	virtio_mmio_bus_ops.write(f->dev, offset, &v, 4);
}

static uint64_t device_features(struct fixture *f)
{
	uint64_t lo, hi;

	wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	lo = rd(f, VIRTIO_MMIO_DEVICE_FEATURES);
	wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	hi = rd(f, VIRTIO_MMIO_DEVICE_FEATURES);
	return lo | hi << 32;
}

static void driver_init(struct fixture *f, uint64_t features)
{
	uint32_t st = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;

	memset(gpa(f, RING_GPA(0, 0), 0x8000), 0, 0x8000);
	memset(f->q, 0, sizeof(f->q));
	wr(f, VIRTIO_MMIO_STATUS, 0);
	wr(f, VIRTIO_MMIO_STATUS, st);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)features);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
	wr(f, VIRTIO_MMIO_STATUS, st |= VIRTIO_STATUS_FEATURES_OK);
	assert_true(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);
	for (unsigned q = 0; q < 2; q++) {
		wr(f, VIRTIO_MMIO_QUEUE_SEL, q);
		assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_NUM_MAX), VIRTIO_NET_QUEUE_SIZE);
		wr(f, VIRTIO_MMIO_QUEUE_NUM, QSIZE);
		wr(f, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)RING_GPA(q, 0));
		wr(f, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)RING_GPA(q, 1));
		wr(f, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)RING_GPA(q, 2));
		wr(f, VIRTIO_MMIO_QUEUE_READY, 1);
	}
	wr(f, VIRTIO_MMIO_STATUS, st | VIRTIO_STATUS_DRIVER_OK);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0xf);
}

static const uint64_t base_features = 1ULL << VIRTIO_F_VERSION_1 | 1ULL << VIRTIO_NET_F_MAC |
				      1ULL << VIRTIO_NET_F_STATUS;

static struct virtq_avail *avail(struct fixture *f, unsigned q)
{
	return gpa(f, RING_GPA(q, 1), 6 + 2 * QSIZE);
}

static struct virtq_used *used(struct fixture *f, unsigned q)
{
	return gpa(f, RING_GPA(q, 2), 6 + 8 * QSIZE);
}

static uint16_t add_chain(struct fixture *f, unsigned q, const struct buf *b, unsigned n)
{
	struct vq *v = &f->q[q];
	uint16_t head = v->next_desc;

	for (unsigned i = 0; i < n; i++) {
		uint16_t idx = (uint16_t)((head + i) % QSIZE);
		struct virtq_desc *d = gpa(f, RING_GPA(q, 0) + 16ULL * idx, 16);

		*d = (struct virtq_desc){
			.addr = b[i].gpa, .len = b[i].len,
			.flags = (uint16_t)((b[i].write ? VIRTQ_DESC_F_WRITE : 0) |
					    (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0)),
			.next = (uint16_t)((idx + 1) % QSIZE),
		};
	}
	v->next_desc = (uint16_t)((head + n) % QSIZE);
	avail(f, q)->ring[v->avail_idx % QSIZE] = head;
	__atomic_store_n(&avail(f, q)->idx, ++v->avail_idx, __ATOMIC_RELEASE);
	return head;
}

static uint16_t used_idx(struct fixture *f, unsigned q)
{
	return __atomic_load_n(&used(f, q)->idx, __ATOMIC_ACQUIRE);
}

static struct virtq_used_elem used_elem(struct fixture *f, unsigned q, uint16_t i)
{
	return used(f, q)->ring[i % QSIZE];
}

static uint8_t frame_byte(unsigned seq, size_t i)
{
	return (uint8_t)(seq * 31 + i * 7 + 3);
}

/* A frame in guest memory: header (flags 0) + `len` bytes, split in
 * `pieces` descriptors; offered on the transmit queue. */
static uint16_t post_tx(struct fixture *f, unsigned seq, uint32_t len, unsigned pieces)
{
	uint64_t at = TXBUF_GPA + (uint64_t)(f->tx_slot++ % 8) * 0x20000;
	uint8_t *p = gpa(f, at, 12 + len);
	uint32_t total = 12 + len, step = total / pieces;
	struct buf b[8];

	memset(p, 0, 12);
	for (uint32_t i = 0; i < len; i++)
		p[12 + i] = frame_byte(seq, i);
	for (unsigned i = 0; i < pieces; i++)
		b[i] = (struct buf){ at + i * step, i + 1 < pieces ? step : total - i * step, false };
	return add_chain(f, VIRTIO_NET_TX_QUEUE, b, pieces);
}

static uint64_t post_rx(struct fixture *f, uint32_t len)
{
	uint64_t at = RXBUF_GPA + (uint64_t)(f->rx_slot++ % 64) * 0x10000;
	struct buf b = { at, len, true };

	memset(gpa(f, at, len), 0xee, len);
	add_chain(f, VIRTIO_NET_RX_QUEUE, &b, 1);
	return at;
}

/* What the host side sends: header (zero) + `len` frame bytes. */
static void host_send(struct fixture *f, unsigned seq, uint32_t len)
{
	uint8_t *m = calloc(1, 12 + len);

	for (uint32_t i = 0; i < len; i++)
		m[12 + i] = frame_byte(seq, i);
	assert_int_equal(send(f->host, m, 12 + len, MSG_DONTWAIT), (ssize_t)(12 + len));
	free(m);
}

/* The next message at the host side: must be `seq`'s frame of `len`. */
static void host_expect(struct fixture *f, unsigned seq, uint32_t len)
{
	static uint8_t m[0x20000];
	ssize_t n = recv(f->host, m, sizeof(m), MSG_DONTWAIT);

	assert_int_equal(n, (ssize_t)(12 + len));
	for (uint32_t i = 0; i < len; i++)
		if (m[12 + i] != frame_byte(seq, i))
			fail_msg("frame %u byte %u differs", seq, i);
}

static bool host_empty(struct fixture *f)
{
	uint8_t m[16];

	return recv(f->host, m, sizeof(m), MSG_DONTWAIT | MSG_PEEK) < 0 && errno == EAGAIN;
}

/* Check the frame `seq` of `len` in the receive buffer at `at`. */
static void assert_rx_frame(struct fixture *f, uint64_t at, unsigned seq, uint32_t len,
			    uint16_t num_buffers)
{
	const uint8_t *p = gpa(f, at, 12 + len);
	struct virtio_net_hdr h;

	memcpy(&h, p, 12);
	assert_int_equal(h.num_buffers, num_buffers);
	for (uint32_t i = 0; i < len; i++)
		if (p[12 + i] != frame_byte(seq, i))
			fail_msg("received frame %u byte %u differs", seq, i);
}

static bool broken(struct fixture *f)
{
	return rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct net_tap tap;
	int sv[2];

	assert_int_equal(guest_memory_create_anonymous(&f->mem, RAM_SIZE), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(net_tap_from_fd(&tap, sv[0], "test0"), 0);
	f->host = sv[1];
	assert_int_equal(virtio_net_init(&f->net, &f->mem, LAYOUT_VIRTIO_MMIO_BASE, 16, &tap, mac), 0);
	f->dev = &f->net.mmio;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	virtio_net_destroy(&f->net);
	close(f->host);
	guest_memory_destroy(&f->mem);
	free(f);
	return 0;
}

static void test_identity_and_config(void **state)
{
	struct fixture *f = *state;
	uint64_t features = device_features(f);
	uint8_t cfg[10];

	assert_int_equal(rd(f, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_NET);
	assert_true(features & 1ULL << VIRTIO_NET_F_MAC);
	assert_true(features & 1ULL << VIRTIO_NET_F_STATUS);
	assert_true(features & 1ULL << VIRTIO_NET_F_MRG_RXBUF);
	assert_false(features & 1ULL << VIRTIO_NET_F_CTRL_VQ);
	/* A back-end without offloads offers none. */
	assert_false(features & 1ULL << VIRTIO_NET_F_CSUM);
	assert_false(features & 1ULL << VIRTIO_NET_F_GUEST_TSO4);
	for (unsigned i = 0; i < sizeof(cfg); i++)
		virtio_mmio_bus_ops.read(f->dev, VIRTIO_MMIO_CONFIG + i, &cfg[i], 1);
	assert_memory_equal(cfg, mac, 6);
	assert_int_equal(cfg[6] | cfg[7] << 8, VIRTIO_NET_S_LINK_UP);
	/* An offload that was not offered is refused at FEATURES_OK. */
	wr(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES, 1u << VIRTIO_NET_F_CSUM);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES, 1);
	wr(f, VIRTIO_MMIO_STATUS, 0xb);
	assert_false(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);
}

/* Frames in 1 and 3 descriptors reach the host intact, used length 0. */
static void test_transmit(void **state)
{
	struct fixture *f = *state;

	driver_init(f, base_features);
	post_tx(f, 1, 60, 1);
	post_tx(f, 2, 1500, 3);
	virtio_mmio_notify(f->dev, VIRTIO_NET_TX_QUEUE);
	assert_int_equal(used_idx(f, VIRTIO_NET_TX_QUEUE), 2);
	assert_int_equal(used_elem(f, VIRTIO_NET_TX_QUEUE, 1).len, 0);
	host_expect(f, 1, 60);
	host_expect(f, 2, 1500);
	assert_true(host_empty(f));
	assert_int_equal(f->net.stats.tx_packets, 2);
	assert_int_equal(f->net.stats.tx_bytes, 1560);
}

/* Host frames land in receive buffers, num_buffers 1; with no buffers the
 * device stops watching the back-end and resumes on the notification. */
static void test_receive_and_resume(void **state)
{
	struct fixture *f = *state;
	uint64_t at[5];

	driver_init(f, base_features);
	/* Live with an empty receive queue: not reading yet. */
	virtio_mmio_notify(f->dev, VIRTIO_NET_RX_QUEUE);
	for (unsigned i = 0; i < 5; i++)
		host_send(f, 10 + i, 100 + i);
	virtio_net_tap_ready(&f->net, EPOLLIN);
	assert_true(f->net.rx_blocked);
	assert_false(f->net.tap_events & EPOLLIN);
	assert_int_equal(used_idx(f, VIRTIO_NET_RX_QUEUE), 0);

	at[0] = post_rx(f, 2048);
	at[1] = post_rx(f, 2048);
	virtio_mmio_notify(f->dev, VIRTIO_NET_RX_QUEUE);
	assert_int_equal(used_idx(f, VIRTIO_NET_RX_QUEUE), 2);
	assert_int_equal(used_elem(f, VIRTIO_NET_RX_QUEUE, 0).len, 12 + 100);
	assert_rx_frame(f, at[0], 10, 100, 1);
	assert_rx_frame(f, at[1], 11, 101, 1);
	/* Full again: blocked, nothing lost. */
	assert_true(f->net.rx_blocked);
	assert_false(f->net.tap_events & EPOLLIN);

	for (unsigned i = 2; i < 5; i++)
		at[i] = post_rx(f, 2048);
	virtio_mmio_notify(f->dev, VIRTIO_NET_RX_QUEUE);
	assert_int_equal(used_idx(f, VIRTIO_NET_RX_QUEUE), 5);
	for (unsigned i = 2; i < 5; i++)
		assert_rx_frame(f, at[i], 10 + i, 100 + i, 1);
	/* Drained the back-end with buffers left: watching it again. */
	post_rx(f, 2048);
	virtio_mmio_notify(f->dev, VIRTIO_NET_RX_QUEUE);
	assert_false(f->net.rx_blocked);
	assert_true(f->net.tap_events & EPOLLIN);
	assert_int_equal(f->net.stats.rx_packets, 5);
	assert_int_equal(f->net.stats.rx_dropped, 0);
}

/* MRG_RXBUF: a 3000-byte frame spreads over three 1 KiB buffers, the
 * first saying so; without enough buffers it waits, whole. */
static void test_mergeable(void **state)
{
	struct fixture *f = *state;
	uint64_t at[3];

	driver_init(f, base_features | 1ULL << VIRTIO_NET_F_MRG_RXBUF);
	at[0] = post_rx(f, 1024);
	at[1] = post_rx(f, 1024);
	host_send(f, 7, 3000);
	virtio_mmio_notify(f->dev, VIRTIO_NET_RX_QUEUE);
	virtio_net_tap_ready(&f->net, EPOLLIN);
	assert_int_equal(used_idx(f, VIRTIO_NET_RX_QUEUE), 0);
	assert_true(f->net.rx_blocked);
	at[2] = post_rx(f, 1024);
	virtio_mmio_notify(f->dev, VIRTIO_NET_RX_QUEUE);
	assert_int_equal(used_idx(f, VIRTIO_NET_RX_QUEUE), 3);
	assert_int_equal(used_elem(f, VIRTIO_NET_RX_QUEUE, 0).len, 1024);
	assert_int_equal(used_elem(f, VIRTIO_NET_RX_QUEUE, 2).len, 3012 - 2048);
	{
		uint8_t *whole = malloc(3012);

		for (unsigned i = 0; i < 3; i++)
			memcpy(whole + 1024 * i, gpa(f, at[i], 1024), i < 2 ? 1024 : 3012 - 2048);
		assert_int_equal(whole[10] | whole[11] << 8, 3);
		for (unsigned i = 0; i < 3000; i++)
			if (whole[12 + i] != frame_byte(7, i))
				fail_msg("merged frame byte %u differs", i);
		free(whole);
	}
}

/* Without MRG_RXBUF a frame larger than the buffer is dropped and the
 * buffer serves the next frame. */
static void test_too_big_for_buffer(void **state)
{
	struct fixture *f = *state;
	uint64_t at;

	driver_init(f, base_features);
	at = post_rx(f, 512);
	host_send(f, 1, 1000);
	host_send(f, 2, 200);
	virtio_mmio_notify(f->dev, VIRTIO_NET_RX_QUEUE);
	assert_int_equal(used_idx(f, VIRTIO_NET_RX_QUEUE), 1);
	assert_int_equal(used_elem(f, VIRTIO_NET_RX_QUEUE, 0).len, 212);
	assert_rx_frame(f, at, 2, 200, 1);
	assert_int_equal(f->net.stats.rx_dropped, 1);
	assert_false(broken(f));
}

/* The back-end full (EAGAIN): the device stops, keeps the frame, waits for
 * EPOLLOUT, and then sends everything in order. */
static void test_transmit_backpressure(void **state)
{
	struct fixture *f = *state;
	int small = 4096;
	uint16_t sent;

	/* AF_UNIX: the sender's buffer bounds what is queued. */
	assert_int_equal(setsockopt(f->net.tap.fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	driver_init(f, base_features);
	for (unsigned i = 0; i < QSIZE; i++)
		post_tx(f, 20 + i, 4000, 1);
	virtio_mmio_notify(f->dev, VIRTIO_NET_TX_QUEUE);
	sent = used_idx(f, VIRTIO_NET_TX_QUEUE);
	assert_true(sent < QSIZE);
	assert_true(f->net.tx_blocked);
	assert_true(f->net.tap_events & EPOLLOUT);
	/* The driver's kick while blocked changes nothing. */
	virtio_mmio_notify(f->dev, VIRTIO_NET_TX_QUEUE);
	assert_int_equal(used_idx(f, VIRTIO_NET_TX_QUEUE), sent);

	for (unsigned done = 0; done < QSIZE;) {
		unsigned now = used_idx(f, VIRTIO_NET_TX_QUEUE);

		for (; done < now; done++)
			host_expect(f, 20 + done, 4000);
		if (done < QSIZE)
			virtio_net_tap_ready(&f->net, EPOLLOUT);
	}
	assert_false(f->net.tx_blocked);
	assert_false(f->net.tap_events & EPOLLOUT);
	assert_int_equal(f->net.stats.tx_dropped, 0);
	assert_true(host_empty(f));
}

/* A transmit header shorter than virtio_net_hdr: NEEDS_RESET, the chain
 * given back; a reset brings the device back. */
static void test_short_header(void **state)
{
	struct fixture *f = *state;
	struct buf b = { TXBUF_GPA, 8, false };

	driver_init(f, base_features);
	add_chain(f, VIRTIO_NET_TX_QUEUE, &b, 1);
	virtio_mmio_notify(f->dev, VIRTIO_NET_TX_QUEUE);
	assert_true(broken(f));
	assert_int_equal(used_idx(f, VIRTIO_NET_TX_QUEUE), 1);
	assert_true(host_empty(f));
	assert_non_null(strstr(f->dev->needs_reset_reason, "less than the 12-byte header"));

	driver_init(f, base_features);
	assert_false(broken(f));
	post_tx(f, 3, 64, 1);
	virtio_mmio_notify(f->dev, VIRTIO_NET_TX_QUEUE);
	host_expect(f, 3, 64);
}

/* A receive chain the device cannot write into: NEEDS_RESET. */
static void test_readable_receive_buffer(void **state)
{
	struct fixture *f = *state;
	struct buf b = { RXBUF_GPA, 2048, false };

	driver_init(f, base_features);
	add_chain(f, VIRTIO_NET_RX_QUEUE, &b, 1);
	host_send(f, 1, 100);
	virtio_mmio_notify(f->dev, VIRTIO_NET_RX_QUEUE);
	assert_true(broken(f));
	assert_int_equal(used_idx(f, VIRTIO_NET_RX_QUEUE), 1);
	assert_int_equal(used_elem(f, VIRTIO_NET_RX_QUEUE, 0).len, 0);
	/* The TAP is no longer watched: no busy loop on a broken device. */
	virtio_net_tap_ready(&f->net, EPOLLIN);
	assert_int_equal(f->net.tap_events, 0);
}

/* Frames over 64 KiB + headers, or shorter than an Ethernet header, and
 * offloads that were not negotiated: dropped; the device goes on. */
static void test_bad_frames_dropped(void **state)
{
	struct fixture *f = *state;
	struct virtio_net_hdr *h;

	driver_init(f, base_features);
	post_tx(f, 1, VIRTIO_NET_MAX_FRAME + 1, 3);
	post_tx(f, 2, 10, 1);
	post_tx(f, 3, 100, 1);
	h = gpa(f, TXBUF_GPA + 2 * 0x20000, 12);
	h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;   /* CSUM not negotiated */
	post_tx(f, 4, 100, 1);
	h = gpa(f, TXBUF_GPA + 3 * 0x20000, 12);
	h->gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	h->gso_size = 1000;
	post_tx(f, 5, 300, 1);   /* 3 + 1 + 1 + 1 + 1 descriptors of 8 */
	virtio_mmio_notify(f->dev, VIRTIO_NET_TX_QUEUE);
	assert_false(broken(f));
	assert_int_equal(used_idx(f, VIRTIO_NET_TX_QUEUE), 5);
	assert_int_equal(f->net.stats.tx_dropped, 4);
	host_expect(f, 5, 300);
	assert_true(host_empty(f));
}

/* At most queue-size chains per wake-up, then the device reschedules
 * itself through its own notification eventfd. */
static void test_budget(void **state)
{
	struct fixture *f = *state;
	uint64_t count = 0;

	driver_init(f, base_features);
	/* Drain the notifications DRIVER_OK signalled. */
	(void)!read(f->dev->notify_fd[VIRTIO_NET_TX_QUEUE], &count, sizeof(count));
	for (unsigned i = 0; i < QSIZE; i++)
		post_tx(f, i, 60, 1);
	virtio_mmio_notify(f->dev, VIRTIO_NET_TX_QUEUE);
	assert_int_equal(used_idx(f, VIRTIO_NET_TX_QUEUE), QSIZE);
	assert_int_equal(read(f->dev->notify_fd[VIRTIO_NET_TX_QUEUE], &count, sizeof(count)), 8);
	assert_true(count >= 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_identity_and_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transmit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_receive_and_resume, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mergeable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_big_for_buffer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transmit_backpressure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_short_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readable_receive_buffer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_frames_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_budget, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
