/* Private to virtio-vsock (vsock*.c): what the device and its two packet
 * paths share.
 *
 *   vsock.c     the device: transport callbacks, the event queue,
 *               snapshots, the wake-up eventfd, open/init/attach/destroy
 *   vsock_tx.c  tx: packets from the guest, each header checked, to the
 *               connections (or an RST answer)
 *   vsock_rx.c  rx: RST answers and the connections' packets to the guest
 *
 * The connections themselves are vsock_conn.c and vsock_listen.c. Every
 * function here runs with the device lock held. */
#ifndef KVMRUN_VIRTIO_VSOCK_INTERNAL_H
#define KVMRUN_VIRTIO_VSOCK_INTERNAL_H

#include "virtio/vsock.h"

/* Chains taken from a queue per notification before the loop serves
 * other sources (the guest can refill forever); the rest follows through
 * the wake-up eventfd. */
#define VSOCK_BUDGET (2 * VIRTIO_VSOCK_QUEUE_SIZE)

#define VSOCK_HDR_SIZE ((uint32_t)sizeof(struct virtio_vsock_hdr))

/* Have the loop thread call the device again (vsock_service in vsock.c):
 * for work that needs the other queue, or that the budget left over. */
void vsock_wake(struct virtio_vsock *v);

/* tx: take the guest's packets, at most VSOCK_BUDGET per call. Sets
 * v->tx_stalled when it stops with packets perhaps left in the ring (the
 * RST answer queue full, or the budget spent), for vsock_service to
 * resume. Returns 0 or a negative errno for a malformed ring (q->error
 * says why). */
int vsock_tx(struct virtio_vsock *v, struct virtq *q);

/* rx: send what is pending (RST answers first, then the connections
 * round-robin) into the guest's buffers, at most VSOCK_BUDGET per call.
 * Returns 0 (done, or no buffer left) or a negative errno for a malformed
 * ring or an rx buffer that cannot hold a packet (q->error says why). */
int vsock_rx(struct virtio_vsock *v, struct virtq *q);

#endif
