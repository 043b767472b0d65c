/* virtio-net, the network device (virtio 1.2 §5.1), on a TAP back-end
 * (net_tap.h). Two queues: receiveq1 (0) and transmitq1 (1); no control
 * queue, no multiqueue. See docs/virtio-net.md.
 *
 * Offered: MAC, STATUS (link always up), MRG_RXBUF, and the checksum and
 * TCP segmentation offloads in both directions (CSUM, HOST_TSO4/6,
 * HOST_ECN; GUEST_CSUM, GUEST_TSO4/6, GUEST_ECN), plus the transport's
 * VERSION_1, EVENT_IDX and INDIRECT_DESC. The virtio_net_hdr passes between
 * guest and TAP as it is (IFF_VNET_HDR); TUNSETOFFLOAD follows what the
 * driver accepted, so the kernel never hands the guest a frame it did not
 * ask for.
 *
 * All work runs on the event-loop thread, with the device lock held:
 * queue notifications (virtio_device_ops.queue_notify) and the TAP's
 * readiness (which goes through virtio_mmio_notify() too, so the
 * transport's error and interrupt logic apply). Nothing blocks: the TAP
 * fd is non-blocking and watched for EPOLLIN only while the guest has
 * receive buffers (or a frame could use them), for EPOLLOUT only while a
 * transmit waits for the kernel. Each wake-up handles at most queue-size
 * chains per queue, then yields to the loop. */
#ifndef KVMRUN_VIRTIO_NET_H
#define KVMRUN_VIRTIO_NET_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "virtio/mmio.h"
#include "virtio/net_tap.h"

#define VIRTIO_ID_NET 1

/* Feature bits (§5.1.3). */
#define VIRTIO_NET_F_CSUM       0    /* device takes frames with partial checksums */
#define VIRTIO_NET_F_GUEST_CSUM 1    /* driver takes frames with partial checksums */
#define VIRTIO_NET_F_MAC        5
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_GUEST_ECN  9
#define VIRTIO_NET_F_GUEST_UFO  10
#define VIRTIO_NET_F_HOST_TSO4  11
#define VIRTIO_NET_F_HOST_TSO6  12
#define VIRTIO_NET_F_HOST_ECN   13
#define VIRTIO_NET_F_HOST_UFO   14
#define VIRTIO_NET_F_MRG_RXBUF  15
#define VIRTIO_NET_F_STATUS     16
#define VIRTIO_NET_F_CTRL_VQ    17

#define VIRTIO_NET_S_LINK_UP    1

/* virtio_net_hdr flags and gso_type (§5.1.6). */
#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1
#define VIRTIO_NET_HDR_F_DATA_VALID 2
#define VIRTIO_NET_HDR_GSO_NONE     0
#define VIRTIO_NET_HDR_GSO_TCPV4    1
#define VIRTIO_NET_HDR_GSO_UDP      3
#define VIRTIO_NET_HDR_GSO_TCPV6    4
#define VIRTIO_NET_HDR_GSO_ECN      0x80

#define VIRTIO_NET_RX_QUEUE     0
#define VIRTIO_NET_TX_QUEUE     1
#define VIRTIO_NET_QUEUE_SIZE   256

/* The largest frame either way, after the header: a 64 KiB TSO packet
 * (the IP length field's limit) plus its Ethernet and VLAN headers. A
 * transmitted frame beyond this, or shorter than an Ethernet header, is
 * dropped. */
#define VIRTIO_NET_MAX_FRAME    (65535u + 14 + 4)
#define VIRTIO_NET_MIN_FRAME    14

/* §5.1.6: the header of every frame, both ways. VERSION_1 makes it 12
 * bytes whether or not MRG_RXBUF is negotiated. Little-endian. */
struct virtio_net_hdr {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;
} __attribute__((packed));

/* §5.1.4: mac (with F_MAC), status (with F_STATUS), max_virtqueue_pairs
 * (meaningful only with F_MQ; reads 1). */
struct virtio_net_config {
	uint8_t mac[6];
	uint16_t status;
	uint16_t max_virtqueue_pairs;
} __attribute__((packed));

struct virtio_net_stats {
	uint64_t rx_packets, rx_bytes, rx_dropped;
	uint64_t tx_packets, tx_bytes, tx_dropped;
};

struct event_loop;
struct vm;

struct virtio_net {
	struct virtio_mmio mmio;
	struct virtio_device_ops ops;      /* features depend on the back-end */
	struct net_tap tap;
	struct virtio_net_config config;

	/* Event-loop state, under mmio.lock. */
	struct event_loop *loop;           /* NULL until attached (unit tests) */
	bool tap_watched;                  /* the TAP fd is on the loop */
	uint32_t tap_events;               /* what the TAP fd is watched for */
	bool tx_blocked;                   /* the TAP said EAGAIN: wait for EPOLLOUT */
	bool rx_blocked;                   /* a frame waits for receive buffers */
	uint32_t rx_pending;               /* bytes of that frame in rx_frame, 0: none */
	uint8_t *rx_frame;                 /* header + VIRTIO_NET_MAX_FRAME (+1 to see truncation) */
	struct virtq_chain chain;          /* scratch for the chain being handled */
	struct iovec iov[VIRTQ_MAX_SIZE + 1];
	bool tx_error_logged;
	struct virtio_net_stats stats;
};

/* A virtio-net on the window at `base`, line `gsi`, with the back-end
 * `tap` (taken over, closed by destroy even on failure) and the MAC
 * address `mac`. Returns 0 or -errno (logged). */
int virtio_net_init(struct virtio_net *net, const struct guest_memory *mem, uint64_t base,
		    unsigned gsi, const struct net_tap *tap, const uint8_t mac[6]);

/* virtio_mmio_attach() and the TAP fd on `loop`. Returns 0 or -errno. */
int virtio_net_attach(struct virtio_net *net, struct vm *vm, struct event_loop *loop);

void virtio_net_destroy(struct virtio_net *net);

/* What the event loop does when the TAP fd reports `events` (tests call
 * it directly). Takes the lock. */
void virtio_net_tap_ready(struct virtio_net *net, uint32_t events);

#endif
