/* A small polling virtio-net driver for the net test guests (virtio 1.2
 * §5.1): the device, its receive and transmit queues, receive buffers
 * posted one descriptor each, frames taken whole (mergeable buffers
 * joined), transmit slots sent in one to three descriptors. What goes in
 * a frame, and what must come back, is the test's (net_test.h helps).
 *
 * Usable at CPL 0 and CPL 3; poll at CPL 3. The memory the driver works
 * in (rings, buffers, the last frame received) is a `struct vnet_mem` the
 * guest defines, so only the net guests carry its megabyte or so: the
 * library is linked into every test image. */
#ifndef GUEST_VIRTIO_NET_H
#define GUEST_VIRTIO_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "libguest.h"
#include "virtio.h"

/* Feature bits (§5.1.3). */
#define VIRTIO_NET_F_CSUM       0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_MAC        5
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_HOST_TSO4  11
#define VIRTIO_NET_F_HOST_TSO6  12
#define VIRTIO_NET_F_MRG_RXBUF  15
#define VIRTIO_NET_F_STATUS     16
#define VIRTIO_NET_F_CTRL_VQ    17

/* What this driver handles: the MAC and status fields, mergeable receive
 * buffers, EVENT_IDX and indirect descriptors. */
#define VNET_FEATURES                                                              \
	(1ULL << VIRTIO_NET_F_MAC | 1ULL << VIRTIO_NET_F_STATUS |                  \
	 1ULL << VIRTIO_NET_F_MRG_RXBUF | 1ULL << VIRTIO_F_EVENT_IDX |             \
	 1ULL << VIRTIO_F_INDIRECT_DESC)
/* ... and every checksum and TSO offload, both ways. */
#define VNET_FEATURES_OFFLOADS                                                     \
	(VNET_FEATURES | 1ULL << VIRTIO_NET_F_CSUM | 1ULL << VIRTIO_NET_F_HOST_TSO4 | \
	 1ULL << VIRTIO_NET_F_HOST_TSO6 | 1ULL << VIRTIO_NET_F_GUEST_CSUM |        \
	 1ULL << VIRTIO_NET_F_GUEST_TSO4 | 1ULL << VIRTIO_NET_F_GUEST_TSO6)

/* The header in front of every frame (§5.1.6; 12 bytes with VERSION_1). */
struct vnet_hdr {
	uint8_t flags, gso_type;
	uint16_t hdr_len, gso_size, csum_start, csum_offset, num_buffers;
} __attribute__((packed));

#define VNET_HDR_SIZE        12
#define VNET_HDR_F_NEEDS_CSUM 1
#define VNET_GSO_TCPV4       1

#define VNET_RXQ          0
#define VNET_TXQ          1
#define VNET_QSIZE        256
#define VNET_RXBUF        2048            /* each >= the header; MRG_RXBUF spreads frames */
#define VNET_TXSLOTS      8               /* transmit frames in flight at most */
#define VNET_TXSLOT_SIZE  (70 * 1024)     /* a 64 KiB TSO frame and its headers */
#define VNET_FRAME_MAX    (70 * 1024)
#define VNET_WAIT_SPINS   400000000ULL    /* vring_wait() budget: seconds at CPL 3 */

struct vnet_mem {
	uint8_t rx_ring[VRING_BYTES(VNET_QSIZE)] __aligned(4096);
	uint8_t tx_ring[VRING_BYTES(VNET_QSIZE)] __aligned(4096);
	uint8_t rx_bufs[VNET_QSIZE][VNET_RXBUF] __aligned(64);
	uint8_t tx_slots[VNET_TXSLOTS][VNET_TXSLOT_SIZE] __aligned(64);
	uint8_t frame[VNET_FRAME_MAX];    /* the last frame received, header first */
};

struct vnet {
	struct virtio_dev dev;
	struct vring rxq, txq;
	struct vnet_mem *mem;
	unsigned tx_next;                 /* transmit slots are used round robin */
	unsigned tx_inflight;             /* sent, not yet used by the device */
};

/* Find the first virtio-net device; the driver will work in `mem`.
 * Returns false if there is none. */
bool vnet_probe(struct vnet *n, struct vnet_mem *mem);

/* (Re)initialize the device (§3.1.1): negotiate `features`, lay both
 * queues out afresh and set DRIVER_OK. Posts no receive buffer. Returns
 * false if the device refuses the features or a queue. */
bool vnet_setup(struct vnet *n, uint64_t features);

/* The first `len` bytes of the configuration space (§5.1.4: mac, then
 * status), read a byte at a time. */
void vnet_config_read(struct vnet *n, uint8_t *buf, unsigned len);

/* Status has DEVICE_NEEDS_RESET (§2.1.2). */
bool vnet_needs_reset(struct vnet *n);

/* Post `count` receive buffers of VNET_RXBUF bytes, one descriptor each,
 * handed out round robin (the descriptor index names the buffer), and
 * kick. */
void vnet_rx_post(struct vnet *n, unsigned count);

/* The next frame, header first, into mem->frame within about `spins`
 * polls; its buffers are posted again if `repost`. Returns its length
 * with the header, or 0 on a timeout or a used entry that makes no sense
 * (an unknown buffer, longer than the buffer or the frame room). */
uint32_t vnet_rx_frame(struct vnet *n, bool repost, uint64_t spins);

/* The transmit slot the next vnet_tx_send() sends. */
uint8_t *vnet_tx_slot(struct vnet *n);

/* Send the current slot's first `len` bytes (header included) as one
 * descriptor for the header, then up to two for the frame, and move to
 * the next slot; with at most VNET_TXSLOTS frames in flight, waits for
 * the device first when that many are. Kicks if `kick`. */
void vnet_tx_send(struct vnet *n, uint32_t len, bool kick);

/* Kick, then wait until the device has used every frame sent. Returns
 * false on a timeout. */
bool vnet_tx_drain(struct vnet *n);

#endif
