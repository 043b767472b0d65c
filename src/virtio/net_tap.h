/* The TAP back-end of virtio-net: a Linux TAP device opened through
 * /dev/net/tun (Documentation/networking/tuntap.rst) with
 *   IFF_TAP       Ethernet frames (not IP packets),
 *   IFF_NO_PI     no 4-byte packet-information prefix,
 *   IFF_VNET_HDR  every frame preceded by a struct virtio_net_hdr, the
 *                 same header a virtio-net driver puts in front of its
 *                 frames, so checksum and segmentation offloads pass
 *                 through unchanged in both directions;
 * and TUNSETVNETHDRSZ = 12: the virtio 1.x header (num_buffers included,
 * which the kernel skips on write and leaves alone on read). The fd is
 * non-blocking: the device reads and writes on the event-loop thread.
 *
 * What the kernel may hand us (TUNSETOFFLOAD: unchecksummed frames,
 * TSO frames) follows what the guest driver accepted; it starts at none. */
#ifndef KVMRUN_VIRTIO_NET_TAP_H
#define KVMRUN_VIRTIO_NET_TAP_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

struct net_tap {
	int fd;
	char name[IFNAMSIZ];
	/* False for a plain packet fd (tests: an AF_UNIX SOCK_SEQPACKET
	 * socket, which keeps frame boundaries as a TAP does): no offloads. */
	bool offloads;
};

/* Attach to (or create) the TAP interface `name`. Returns 0, or -errno
 * with a one-line reason naming the interface in err. */
int net_tap_open(struct net_tap *tap, const char *name, char *err, size_t err_size);

/* Use an already open, message-preserving fd as the back-end (made
 * non-blocking here); the back-end owns it from now on. No offloads. */
int net_tap_from_fd(struct net_tap *tap, int fd, const char *name);

void net_tap_close(struct net_tap *tap);

/* TUNSETOFFLOAD: TUN_F_* bits for what we can take from the kernel.
 * A no-op for a back-end without offloads. Returns 0 or -errno. */
int net_tap_set_offload(struct net_tap *tap, unsigned tun_flags);

/* One frame (virtio_net_hdr + Ethernet frame) in or out. Return the byte
 * count or -errno: -EAGAIN when nothing is queued (read) or the kernel
 * cannot take the frame now (write). A read returns the frame's full
 * length even when it did not fit in `iov` (the rest is lost). */
ssize_t net_tap_read(struct net_tap *tap, const struct iovec *iov, int count);
ssize_t net_tap_write(struct net_tap *tap, const struct iovec *iov, int count);

#endif
