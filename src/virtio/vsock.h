/* virtio-vsock (virtio 1.2 §5.10) without vhost: the device model runs in
 * kvmrun and bridges guest AF_VSOCK stream connections to host AF_UNIX
 * sockets, Firecracker's hybrid model (vsock_conn.h,
 * docs/virtio-vsock.md).
 *
 * Queues: rx (0) carries packets to the guest, tx (1) packets from it,
 * event (2) carries VIRTIO_VSOCK_EVENT_TRANSPORT_RESET once after a
 * snapshot restore, as Firecracker does: connections are not part of a
 * snapshot, and the event makes the guest driver drop its own (the
 * queues themselves are restored). Configuration: guest_cid.
 *
 * Everything runs on the event-loop thread under the device lock: queue
 * notifications (the transport's), socket events (vsock_conn.c), and a
 * wake-up eventfd through which work that needs the other queue, or the
 * loop thread, is handed over. A vCPU thread only reads the
 * configuration and resets the device. */
#ifndef KVMRUN_VIRTIO_VSOCK_H
#define KVMRUN_VIRTIO_VSOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio/mmio.h"
#include "virtio/vsock_conn.h"
#include "virtio/vsock_proto.h"

struct vm;
struct event_loop;

#define VIRTIO_VSOCK_QUEUE_SIZE 256

/* Payload of one packet to the guest at most (Linux's
 * VIRTIO_VSOCK_MAX_PKT_BUF_SIZE): bounds the work per rx buffer. */
#define VIRTIO_VSOCK_MAX_PAYLOAD (64u * 1024)

/* RST answers to packets that belong to no connection, waiting for rx
 * buffers. When it is full the device stops taking tx packets until the
 * guest gives rx buffers (§5.10.6.1: processing may stop once the
 * additional resources are exhausted). */
#define VIRTIO_VSOCK_RST_QUEUE 64

struct vsock_rst_reply {
	uint32_t src_port;         /* the host port the guest addressed */
	uint32_t dst_port;         /* the guest's port */
};

struct virtio_vsock {
	struct virtio_mmio mmio;
	uint64_t guest_cid;
	struct vsock_conns conns;
	bool conns_open;           /* vsock_conns_open succeeded */
	bool attached;
	int wake_fd;               /* eventfd: work for the loop thread */
	struct event_loop *loop;

	/* Under mmio.lock. */
	bool tx_stalled;           /* tx chains left in the ring, to resume */
	bool reset_event_pending;  /* TRANSPORT_RESET owed (restored), waiting for a buffer */
	struct vsock_rst_reply rst[VIRTIO_VSOCK_RST_QUEUE];
	unsigned rst_head, rst_count;
	struct virtq_chain tx_chain, rx_chain;

	/* Statistics. */
	uint64_t packets_in, packets_out;
	uint64_t bad_packets;      /* dropped or answered with RST */
	uint64_t resets;           /* connections reset for a guest's misbehaviour */
	uint64_t events;           /* TRANSPORT_RESET events sent */
};

/* Listen on `uds_path` (vsock_conns_open: a bad path or a socket in use
 * is bad input, err says why). Before virtio_vsock_init. */
int virtio_vsock_open(struct virtio_vsock *v, const char *uds_path, char *err, size_t err_size);

/* The device with `guest_cid` on the window at `base`, line `gsi`. */
int virtio_vsock_init(struct virtio_vsock *v, const struct guest_memory *mem, uint64_t base,
		      unsigned gsi, uint32_t guest_cid);

/* Map it and watch its queues, its wake-up eventfd and the sockets on
 * `loop`. Returns 0 or -errno (logged). */
int virtio_vsock_attach(struct virtio_vsock *v, struct vm *vm, struct event_loop *loop);

/* Close every connection and the listening socket (removing its file),
 * and the device. Also after a failed init or attach, and after open
 * alone. */
void virtio_vsock_destroy(struct virtio_vsock *v);

#endif
