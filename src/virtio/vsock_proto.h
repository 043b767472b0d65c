/* virtio-vsock on the wire (virtio 1.2 §5.10): the device ID, feature
 * bits, configuration layout, packet header and its constants. Pure
 * definitions shared by the device (vsock.c, vsock_tx.c, vsock_rx.c) and
 * the connection table (vsock_conn.c). All fields are little-endian
 * (§5.10.6); kvmrun runs on x86-64 only, so they are used as they are. */
#ifndef KVMRUN_VIRTIO_VSOCK_PROTO_H
#define KVMRUN_VIRTIO_VSOCK_PROTO_H

#include <stdint.h>

#define VIRTIO_ID_VSOCK 19                 /* §5.10.1 */

/* §5.10.2: rx carries packets to the driver, tx packets from it, event
 * the device's events (VIRTIO_VSOCK_EVENT_TRANSPORT_RESET). */
#define VSOCK_QUEUE_RX    0
#define VSOCK_QUEUE_TX    1
#define VSOCK_QUEUE_EVENT 2
#define VSOCK_NR_QUEUES   3

/* §5.10.3. A driver that negotiates nothing acts as if STREAM had been
 * negotiated; offering it says so explicitly. SEQPACKET is not offered. */
#define VIRTIO_VSOCK_F_STREAM 0

/* §5.10.4: struct virtio_vsock_config. */
struct virtio_vsock_config {
	uint64_t guest_cid;
};

/* §5.10.4: CIDs that are never a guest's. */
#define VSOCK_CID_HOST 2u                  /* the well-known CID of the host */
#define VSOCK_CID_RESERVED_32 0xffffffffu  /* and 0, 1, 2^64 - 1 */

/* §5.10.6: the header in front of every packet, 44 bytes. */
struct virtio_vsock_hdr {
	uint64_t src_cid;
	uint64_t dst_cid;
	uint32_t src_port;
	uint32_t dst_port;
	uint32_t len;                      /* payload bytes after the header */
	uint16_t type;
	uint16_t op;
	uint32_t flags;
	uint32_t buf_alloc;                /* sender's receive buffer (§5.10.6.3) */
	uint32_t fwd_cnt;                  /* sender's bytes consumed, free-running */
} __attribute__((packed));

_Static_assert(sizeof(struct virtio_vsock_hdr) == 44, "§5.10.6: the header is 44 bytes");

#define VIRTIO_VSOCK_TYPE_STREAM 1         /* §5.10.6.2 */

/* §5.10.6: op. */
#define VIRTIO_VSOCK_OP_INVALID        0
#define VIRTIO_VSOCK_OP_REQUEST        1
#define VIRTIO_VSOCK_OP_RESPONSE       2
#define VIRTIO_VSOCK_OP_RST            3
#define VIRTIO_VSOCK_OP_SHUTDOWN       4
#define VIRTIO_VSOCK_OP_RW             5
#define VIRTIO_VSOCK_OP_CREDIT_UPDATE  6
#define VIRTIO_VSOCK_OP_CREDIT_REQUEST 7

/* §5.10.6.6: SHUTDOWN flags (bit 0: the sender will receive no more,
 * bit 1: it will send no more). */
/* §5.10.6.6 Device Events: struct virtio_vsock_event { le32 id; } in a
 * device-writable buffer of the event queue. TRANSPORT_RESET tells the
 * driver that its connections are gone (after a migration or a restore)
 * and that it must read guest_cid again. */
#define VIRTIO_VSOCK_EVENT_TRANSPORT_RESET 0u
#define VIRTIO_VSOCK_EVENT_SIZE            4u

#define VSOCK_SHUTDOWN_RECEIVE 1u
#define VSOCK_SHUTDOWN_SEND    2u
#define VSOCK_SHUTDOWN_BOTH    (VSOCK_SHUTDOWN_RECEIVE | VSOCK_SHUTDOWN_SEND)

#endif
