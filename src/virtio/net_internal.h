/* Private to virtio-net (net*.c): what the device and its two data paths
 * share.
 *
 *   net.c     the device: notifications, TAP readiness, features,
 *             activation and reset, snapshots
 *   net_rx.c  receive: TAP -> receive queue
 *   net_tx.c  transmit: transmit queue -> TAP */
#ifndef KVMRUN_VIRTIO_NET_INTERNAL_H
#define KVMRUN_VIRTIO_NET_INTERNAL_H

#include "virtio/net.h"

#define NET_HDR_SIZE sizeof(struct virtio_net_hdr)

/* Whether the driver accepted feature `bit`. */
static inline bool net_has(const struct virtio_net *net, unsigned bit)
{
	return virtio_mmio_has_feature(&net->mmio, bit);
}

/* Receive: TAP -> receive queue, at most queue-size chains per call. */
int net_rx(struct virtio_net *net, struct virtq *q);
/* §5.1.6.4.1: a frame from the TAP goes to the guest only with the
 * offloads it negotiated (the TAP follows TUNSETOFFLOAD, but frames queued
 * before a reset were made for the previous driver). */
bool net_rx_header_acceptable(const struct virtio_net *net, const struct virtio_net_hdr *h);

/* Transmit: transmit queue -> TAP, at most queue-size chains per call. */
int net_tx(struct virtio_net *net, struct virtq *q);

#endif
