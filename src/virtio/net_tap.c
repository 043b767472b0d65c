/* The TAP back-end of virtio-net. See net_tap.h. */
#include "virtio/net_tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* sizeof(struct virtio_net_hdr_v1) (virtio 1.2 §5.1.6): with
 * VIRTIO_F_VERSION_1 the header always has num_buffers. */
#define NET_TAP_VNET_HDR_SIZE 12

static int set_nonblocking(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

int net_tap_open(struct net_tap *tap, const char *name, char *err, size_t err_size)
{
	struct ifreq ifr;
	unsigned features = 0;
	int hdr_size = NET_TAP_VNET_HDR_SIZE, ret;

	tap->fd = -1;
	tap->offloads = true;
	if (strlen(name) >= sizeof(tap->name)) {
		snprintf(err, err_size, "--net tap=%s: interface name longer than %zu bytes", name,
			 sizeof(tap->name) - 1);
		return -EINVAL;
	}
	snprintf(tap->name, sizeof(tap->name), "%s", name);
	tap->fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (tap->fd < 0) {
		ret = -errno;
		snprintf(err, err_size, "--net tap=%s: cannot open /dev/net/tun: %s", name,
			 strerror(-ret));
		return ret;
	}
	/* Without IFF_VNET_HDR there would be no way to pass offloads. */
	if (ioctl(tap->fd, TUNGETFEATURES, &features) < 0 || !(features & IFF_VNET_HDR)) {
		ret = -ENOTSUP;
		snprintf(err, err_size, "--net tap=%s: the kernel's TUN driver lacks IFF_VNET_HDR",
			 name);
		goto close_fd;
	}
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, tap->name, sizeof(tap->name));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(tap->fd, TUNSETIFF, &ifr) < 0) {
		ret = -errno;
		/* EPERM: not ours and no CAP_NET_ADMIN; EBUSY: another process
		 * has it; EINVAL: a TUN (not TAP) or multi-queue interface. */
		snprintf(err, err_size, "--net tap=%s: cannot attach to the TAP interface (TUNSETIFF): %s",
			 name, strerror(-ret));
		goto close_fd;
	}
	if (ioctl(tap->fd, TUNSETVNETHDRSZ, &hdr_size) < 0) {
		ret = -errno;
		snprintf(err, err_size, "--net tap=%s: TUNSETVNETHDRSZ %d: %s", name, hdr_size,
			 strerror(-ret));
		goto close_fd;
	}
	/* Nothing unchecksummed or segmented until the driver says it can
	 * take it (virtio_net activation). */
	ret = net_tap_set_offload(tap, 0);
	if (ret < 0) {
		snprintf(err, err_size, "--net tap=%s: TUNSETOFFLOAD 0: %s", name, strerror(-ret));
		goto close_fd;
	}
	return 0;

close_fd:
	close(tap->fd);
	tap->fd = -1;
	return ret;
}

int net_tap_from_fd(struct net_tap *tap, int fd, const char *name)
{
	snprintf(tap->name, sizeof(tap->name), "%s", name);
	tap->fd = fd;
	tap->offloads = false;
	return set_nonblocking(fd);
}

void net_tap_close(struct net_tap *tap)
{
	if (tap->fd >= 0)
		close(tap->fd);
	tap->fd = -1;
}

int net_tap_set_offload(struct net_tap *tap, unsigned tun_flags)
{
	if (!tap->offloads)
		return 0;
	return ioctl(tap->fd, TUNSETOFFLOAD, (unsigned long)tun_flags) < 0 ? -errno : 0;
}

ssize_t net_tap_read(struct net_tap *tap, const struct iovec *iov, int count)
{
	ssize_t n;

	do {
		n = readv(tap->fd, iov, count);
	} while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

ssize_t net_tap_write(struct net_tap *tap, const struct iovec *iov, int count)
{
	ssize_t n;

	do {
		n = writev(tap->fd, iov, count);
	} while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}
