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
#include "virtio_test.h"

#define RAM_SIZE  (32ULL << 20)
#define QSIZE     8
#define TXBUF_GPA 0x100000ULL   /* transmit frames, 128 KiB each */
#define RXBUF_GPA 0x800000ULL   /* receive buffers, 64 KiB each */

static const uint8_t mac[6] = { 0x02, 0x4b, 0x56, 0x4d, 0x00, 0x05 };

struct fixture {
	struct guest_memory mem;
	struct virtio_net net;
	struct vdrv drv;
	int host;                 /* the test's end of the socketpair */
	unsigned tx_slot, rx_slot;
};

/* §3.1.1 device initialization with `features`: both queues of QSIZE. */
static void driver_init(struct vdrv *d, uint64_t features)
{
	vdrv_init(d, features, 2, QSIZE);
}

static const uint64_t base_features = 1ULL << VIRTIO_F_VERSION_1 | 1ULL << VIRTIO_NET_F_MAC |
				      1ULL << VIRTIO_NET_F_STATUS;

static uint8_t frame_byte(unsigned seq, size_t i)
{
	return (uint8_t)(seq * 31 + i * 7 + 3);
}

/* A frame in guest memory: header (flags 0) + `len` bytes, split in
 * `pieces` descriptors; offered on the transmit queue. */
static uint16_t post_tx(struct fixture *f, unsigned seq, uint32_t len, unsigned pieces)
{
	struct vdrv *d = &f->drv;
	uint64_t at = TXBUF_GPA + (uint64_t)(f->tx_slot++ % 8) * 0x20000;
	uint8_t *p = vdrv_gpa(d, at, 12 + len);
	uint32_t total = 12 + len, step = total / pieces;
	struct vdrv_buf b[8];

	memset(p, 0, 12);
	for (uint32_t i = 0; i < len; i++)
		p[12 + i] = frame_byte(seq, i);
	for (unsigned i = 0; i < pieces; i++)
		b[i] = (struct vdrv_buf){ at + i * step, i + 1 < pieces ? step : total - i * step,
					  false };
	return vdrv_add_chain(d, VIRTIO_NET_TX_QUEUE, b, pieces);
}

static uint64_t post_rx(struct fixture *f, uint32_t len)
{
	struct vdrv *d = &f->drv;
	uint64_t at = RXBUF_GPA + (uint64_t)(f->rx_slot++ % 64) * 0x10000;
	struct vdrv_buf b = { at, len, true };

	memset(vdrv_gpa(d, at, len), 0xee, len);
	vdrv_add_chain(d, VIRTIO_NET_RX_QUEUE, &b, 1);
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
	struct vdrv *d = &f->drv;
	const uint8_t *p = vdrv_gpa(d, at, 12 + len);
	struct virtio_net_hdr h;

	memcpy(&h, p, 12);
	assert_int_equal(h.num_buffers, num_buffers);
	for (uint32_t i = 0; i < len; i++)
		if (p[12 + i] != frame_byte(seq, i))
			fail_msg("received frame %u byte %u differs", seq, i);
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
	vdrv_bind(&f->drv, &f->mem, &f->net.mmio, VIRTIO_NET_QUEUE_SIZE);
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
	struct vdrv *d = &f->drv;
	uint64_t features = vdrv_device_features(d);
	uint8_t cfg[10];

	assert_int_equal(vdrv_read(d, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_NET);
	assert_true(features & 1ULL << VIRTIO_NET_F_MAC);
	assert_true(features & 1ULL << VIRTIO_NET_F_STATUS);
	assert_true(features & 1ULL << VIRTIO_NET_F_MRG_RXBUF);
	assert_false(features & 1ULL << VIRTIO_NET_F_CTRL_VQ);
	/* A back-end without offloads offers none. */
	assert_false(features & 1ULL << VIRTIO_NET_F_CSUM);
	assert_false(features & 1ULL << VIRTIO_NET_F_GUEST_TSO4);
	for (unsigned i = 0; i < sizeof(cfg); i++)
		virtio_mmio_bus_ops.read(d->dev, VIRTIO_MMIO_CONFIG + i, &cfg[i], 1);
	assert_memory_equal(cfg, mac, 6);
	assert_int_equal(cfg[6] | cfg[7] << 8, VIRTIO_NET_S_LINK_UP);
	/* An offload that was not offered is refused at FEATURES_OK. */
	vdrv_write(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	vdrv_set_features(d, 1ULL << VIRTIO_F_VERSION_1 | 1ULL << VIRTIO_NET_F_CSUM);
	vdrv_write(d, VIRTIO_MMIO_STATUS, 0xb);
	assert_false(vdrv_read(d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);
}

/* Frames in 1 and 3 descriptors reach the host intact, used length 0. */
static void test_transmit(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->drv;

	driver_init(d, base_features);
	post_tx(f, 1, 60, 1);
	post_tx(f, 2, 1500, 3);
	virtio_mmio_notify(d->dev, VIRTIO_NET_TX_QUEUE);
	assert_int_equal(vdrv_used_idx(d, VIRTIO_NET_TX_QUEUE), 2);
	assert_int_equal(vdrv_used_elem(d, VIRTIO_NET_TX_QUEUE, 1).len, 0);
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
	struct vdrv *d = &f->drv;
	uint64_t at[5];

	driver_init(d, base_features);
	/* Live with an empty receive queue: not reading yet. */
	virtio_mmio_notify(d->dev, VIRTIO_NET_RX_QUEUE);
	for (unsigned i = 0; i < 5; i++)
		host_send(f, 10 + i, 100 + i);
	virtio_net_tap_ready(&f->net, EPOLLIN);
	assert_true(f->net.rx_blocked);
	assert_false(f->net.tap_events & EPOLLIN);
	assert_int_equal(vdrv_used_idx(d, VIRTIO_NET_RX_QUEUE), 0);

	at[0] = post_rx(f, 2048);
	at[1] = post_rx(f, 2048);
	virtio_mmio_notify(d->dev, VIRTIO_NET_RX_QUEUE);
	assert_int_equal(vdrv_used_idx(d, VIRTIO_NET_RX_QUEUE), 2);
	assert_int_equal(vdrv_used_elem(d, VIRTIO_NET_RX_QUEUE, 0).len, 12 + 100);
	assert_rx_frame(f, at[0], 10, 100, 1);
	assert_rx_frame(f, at[1], 11, 101, 1);
	/* Full again: blocked, nothing lost. */
	assert_true(f->net.rx_blocked);
	assert_false(f->net.tap_events & EPOLLIN);

	for (unsigned i = 2; i < 5; i++)
		at[i] = post_rx(f, 2048);
	virtio_mmio_notify(d->dev, VIRTIO_NET_RX_QUEUE);
	assert_int_equal(vdrv_used_idx(d, VIRTIO_NET_RX_QUEUE), 5);
	for (unsigned i = 2; i < 5; i++)
		assert_rx_frame(f, at[i], 10 + i, 100 + i, 1);
	/* Drained the back-end with buffers left: watching it again. */
	post_rx(f, 2048);
	virtio_mmio_notify(d->dev, VIRTIO_NET_RX_QUEUE);
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
	struct vdrv *d = &f->drv;
	uint64_t at[3];

	driver_init(d, base_features | 1ULL << VIRTIO_NET_F_MRG_RXBUF);
	at[0] = post_rx(f, 1024);
	at[1] = post_rx(f, 1024);
	host_send(f, 7, 3000);
	virtio_mmio_notify(d->dev, VIRTIO_NET_RX_QUEUE);
	virtio_net_tap_ready(&f->net, EPOLLIN);
	assert_int_equal(vdrv_used_idx(d, VIRTIO_NET_RX_QUEUE), 0);
	assert_true(f->net.rx_blocked);
	at[2] = post_rx(f, 1024);
	virtio_mmio_notify(d->dev, VIRTIO_NET_RX_QUEUE);
	assert_int_equal(vdrv_used_idx(d, VIRTIO_NET_RX_QUEUE), 3);
	assert_int_equal(vdrv_used_elem(d, VIRTIO_NET_RX_QUEUE, 0).len, 1024);
	assert_int_equal(vdrv_used_elem(d, VIRTIO_NET_RX_QUEUE, 2).len, 3012 - 2048);
	{
		uint8_t *whole = malloc(3012);

		for (unsigned i = 0; i < 3; i++)
			memcpy(whole + 1024 * i, vdrv_gpa(d, at[i], 1024), i < 2 ? 1024 : 3012 - 2048);
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
	struct vdrv *d = &f->drv;
	uint64_t at;

	driver_init(d, base_features);
	at = post_rx(f, 512);
	host_send(f, 1, 1000);
	host_send(f, 2, 200);
	virtio_mmio_notify(d->dev, VIRTIO_NET_RX_QUEUE);
	assert_int_equal(vdrv_used_idx(d, VIRTIO_NET_RX_QUEUE), 1);
	assert_int_equal(vdrv_used_elem(d, VIRTIO_NET_RX_QUEUE, 0).len, 212);
	assert_rx_frame(f, at, 2, 200, 1);
	assert_int_equal(f->net.stats.rx_dropped, 1);
	assert_false(vdrv_needs_reset(d));
}

/* The back-end full (EAGAIN): the device stops, keeps the frame, waits for
 * EPOLLOUT, and then sends everything in order. */
static void test_transmit_backpressure(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->drv;
	int small = 4096;
	uint16_t sent;

	/* AF_UNIX: the sender's buffer bounds what is queued. */
	assert_int_equal(setsockopt(f->net.tap.fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	driver_init(d, base_features);
	for (unsigned i = 0; i < QSIZE; i++)
		post_tx(f, 20 + i, 4000, 1);
	virtio_mmio_notify(d->dev, VIRTIO_NET_TX_QUEUE);
	sent = vdrv_used_idx(d, VIRTIO_NET_TX_QUEUE);
	assert_true(sent < QSIZE);
	assert_true(f->net.tx_blocked);
	assert_true(f->net.tap_events & EPOLLOUT);
	/* The driver's kick while blocked changes nothing. */
	virtio_mmio_notify(d->dev, VIRTIO_NET_TX_QUEUE);
	assert_int_equal(vdrv_used_idx(d, VIRTIO_NET_TX_QUEUE), sent);

	for (unsigned done = 0; done < QSIZE;) {
		unsigned now = vdrv_used_idx(d, VIRTIO_NET_TX_QUEUE);

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
	struct vdrv *d = &f->drv;
	struct vdrv_buf b = { TXBUF_GPA, 8, false };

	driver_init(d, base_features);
	vdrv_add_chain(d, VIRTIO_NET_TX_QUEUE, &b, 1);
	virtio_mmio_notify(d->dev, VIRTIO_NET_TX_QUEUE);
	assert_true(vdrv_needs_reset(d));
	assert_int_equal(vdrv_used_idx(d, VIRTIO_NET_TX_QUEUE), 1);
	assert_true(host_empty(f));
	assert_non_null(strstr(d->dev->needs_reset_reason, "less than the 12-byte header"));

	driver_init(d, base_features);
	assert_false(vdrv_needs_reset(d));
	post_tx(f, 3, 64, 1);
	virtio_mmio_notify(d->dev, VIRTIO_NET_TX_QUEUE);
	host_expect(f, 3, 64);
}

/* A receive chain the device cannot write into: NEEDS_RESET. */
static void test_readable_receive_buffer(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->drv;
	struct vdrv_buf b = { RXBUF_GPA, 2048, false };

	driver_init(d, base_features);
	vdrv_add_chain(d, VIRTIO_NET_RX_QUEUE, &b, 1);
	host_send(f, 1, 100);
	virtio_mmio_notify(d->dev, VIRTIO_NET_RX_QUEUE);
	assert_true(vdrv_needs_reset(d));
	assert_int_equal(vdrv_used_idx(d, VIRTIO_NET_RX_QUEUE), 1);
	assert_int_equal(vdrv_used_elem(d, VIRTIO_NET_RX_QUEUE, 0).len, 0);
	/* The TAP is no longer watched: no busy loop on a broken device. */
	virtio_net_tap_ready(&f->net, EPOLLIN);
	assert_int_equal(f->net.tap_events, 0);
}

/* Frames over 64 KiB + headers, or shorter than an Ethernet header, and
 * offloads that were not negotiated: dropped; the device goes on. */
static void test_bad_frames_dropped(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->drv;
	struct virtio_net_hdr *h;

	driver_init(d, base_features);
	post_tx(f, 1, VIRTIO_NET_MAX_FRAME + 1, 3);
	post_tx(f, 2, 10, 1);
	post_tx(f, 3, 100, 1);
	h = vdrv_gpa(d, TXBUF_GPA + 2 * 0x20000, 12);
	h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;   /* CSUM not negotiated */
	post_tx(f, 4, 100, 1);
	h = vdrv_gpa(d, TXBUF_GPA + 3 * 0x20000, 12);
	h->gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	h->gso_size = 1000;
	post_tx(f, 5, 300, 1);   /* 3 + 1 + 1 + 1 + 1 descriptors of 8 */
	virtio_mmio_notify(d->dev, VIRTIO_NET_TX_QUEUE);
	assert_false(vdrv_needs_reset(d));
	assert_int_equal(vdrv_used_idx(d, VIRTIO_NET_TX_QUEUE), 5);
	assert_int_equal(f->net.stats.tx_dropped, 4);
	host_expect(f, 5, 300);
	assert_true(host_empty(f));
}

/* At most queue-size chains per wake-up, then the device reschedules
 * itself through its own notification eventfd. */
static void test_budget(void **state)
{
	struct fixture *f = *state;
	struct vdrv *d = &f->drv;
	uint64_t count = 0;

	driver_init(d, base_features);
	/* Drain the notifications DRIVER_OK signalled. */
	(void)!read(d->dev->notify_fd[VIRTIO_NET_TX_QUEUE], &count, sizeof(count));
	for (unsigned i = 0; i < QSIZE; i++)
		post_tx(f, i, 60, 1);
	virtio_mmio_notify(d->dev, VIRTIO_NET_TX_QUEUE);
	assert_int_equal(vdrv_used_idx(d, VIRTIO_NET_TX_QUEUE), QSIZE);
	assert_int_equal(read(d->dev->notify_fd[VIRTIO_NET_TX_QUEUE], &count, sizeof(count)), 8);
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
