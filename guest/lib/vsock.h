/* A minimal virtio-vsock driver for test guests (virtio 1.2 §5.10): the
 * packet header, device set-up, and sending and receiving single packets
 * by polling. Connection logic (ports, credit, shutdown) is the test's:
 * it is what the tests check. Usable at CPL 0 and CPL 3 (poll at CPL 3).
 * One device per guest: the rx buffers are the library's. */
#ifndef GUEST_VSOCK_H
#define GUEST_VSOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio.h"

#define VIRTIO_ID_VSOCK 19

#define VSOCK_QUEUE_RX    0
#define VSOCK_QUEUE_TX    1
#define VSOCK_QUEUE_EVENT 2

#define VSOCK_CID_HOST 2

#define VSOCK_TYPE_STREAM 1

#define VSOCK_OP_REQUEST        1
#define VSOCK_OP_RESPONSE       2
#define VSOCK_OP_RST            3
#define VSOCK_OP_SHUTDOWN       4
#define VSOCK_OP_RW             5
#define VSOCK_OP_CREDIT_UPDATE  6
#define VSOCK_OP_CREDIT_REQUEST 7

#define VSOCK_SHUTDOWN_RECEIVE 1u
#define VSOCK_SHUTDOWN_SEND    2u

struct vsock_hdr {
	uint64_t src_cid;
	uint64_t dst_cid;
	uint32_t src_port;
	uint32_t dst_port;
	uint32_t len;
	uint16_t type;
	uint16_t op;
	uint32_t flags;
	uint32_t buf_alloc;
	uint32_t fwd_cnt;
} __attribute__((packed));

#define VSOCK_HDR_SIZE    44
#define VSOCK_QSIZE       64
#define VSOCK_RX_BUFS     32
#define VSOCK_RX_PAYLOAD  4096   /* payload room in each rx buffer */

struct vsock_dev {
	struct virtio_dev dev;
	struct vring rx, tx, event;
	uint64_t cid;            /* guest_cid from the configuration */
};

/* Probe, negotiate `features` (plus VERSION_1), read guest_cid, set up
 * the three queues, give the device VSOCK_RX_BUFS receive buffers and set
 * DRIVER_OK. Returns 0, or -1 naming nothing (the test reports). */
int vsock_setup(struct vsock_dev *v, uint64_t features);

/* Send a header and `len` payload bytes as one tx chain and wait until
 * the device has used it. Returns false on timeout. */
bool vsock_send(struct vsock_dev *v, const struct vsock_hdr *h, const void *payload, uint32_t len);

/* Send any chain on the tx queue and wait for it (hostile tests). */
bool vsock_send_chain(struct vsock_dev *v, const struct vring_buf *bufs, unsigned n);

/* Take the next packet from rx within about `spins` polls: its header,
 * and its payload copied to `data` (at most `max` bytes; *len gets the
 * payload length). The buffer goes back to the device. Returns false if
 * none came, or the used length disagrees with the header. */
bool vsock_recv(struct vsock_dev *v, struct vsock_hdr *h, void *data, uint32_t max,
		uint32_t *len, uint64_t spins);

/* Take the next event from the event queue within about `spins` polls
 * (§5.10.6.6: a le32 id; 0 is TRANSPORT_RESET) and give the buffer back.
 * Returns false if none came or its used length is not 4. */
bool vsock_event(struct vsock_dev *v, uint32_t *id, uint64_t spins);

/* guest_cid from the configuration space (§5.10.4), into v->cid. */
uint64_t vsock_read_cid(struct vsock_dev *v);

/* The device's Status register (DEVICE_NEEDS_RESET checks). */
static inline uint32_t vsock_status(struct vsock_dev *v)
{
	return virtio_status(&v->dev);
}

#endif
