/* The host side of the virtio-net benchmark (bench/net.py): the same
 * frames kvmrun's guest moves, moved by a plain process, as the reference.
 *
 *   net_helper write TAP COUNT SIZE
 *       Open TAP as kvmrun does (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, 12-byte
 *       header) and write COUNT frames of SIZE bytes as fast as it can:
 *       the guest -> host reference. SIZE 1514: a plain frame; larger: a
 *       GSO_TCPV4 frame with NEEDS_CSUM, as the guest sends. Both go to a
 *       MAC nobody has, so the host kernel drops them after the TAP.
 *   net_helper read TAP COUNT
 *       Open TAP the same way and read frames until COUNT test frames
 *       (EtherType 0x88b5) or an end frame (0x88b6): the host -> guest
 *       reference receiver.
 *   net_helper send IFNAME DSTMAC COUNT SIZE
 *       Send COUNT test frames of SIZE bytes to DSTMAC through an AF_PACKET
 *       socket on IFNAME (into the TAP's queue, towards its reader), then
 *       an end frame every 10 ms for up to 20 s (until killed): the sender
 *       of both host -> guest runs.
 *
 * Prints "frames=N bytes=B ns=T" (T from the first frame to the last).
 * Exit status 0, or 1 with a message on stderr. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define ETH_TEST 0x88b5
#define MAX_FRAME (12 + 65549)

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int open_tap(const char *name)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC), size = 12;

	if (fd < 0) {
		perror("open /dev/net/tun");
		exit(1);
	}
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETVNETHDRSZ, &size) < 0) {
		fprintf(stderr, "net_helper: TAP %s: %s\n", name, strerror(errno));
		exit(1);
	}
	return fd;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* The frame guest/tests/net_bench.c's bench_tx() sends: header first. */
static size_t tx_frame(uint8_t *f, size_t size)
{
	static const uint8_t nobody[6] = { 2, 0, 0, 0, 0, 0x99 };
	uint8_t *e = f + 12, *ip = e + 14;

	memset(f, 0, 12 + 14 + 40);
	memcpy(e, nobody, 6);
	e[6] = 2;
	if (size <= 1514) {
		e[12] = ETH_TEST >> 8;
		e[13] = ETH_TEST & 0xff;
		return 12 + (size < 60 ? 60 : size);
	}
	if (size > 65549)
		size = 65549;
	e[12] = 0x08;
	ip[0] = 0x45;
	ip[2] = (uint8_t)((size - 14) >> 8);
	ip[3] = (uint8_t)(size - 14);
	ip[8] = 64;
	ip[9] = 6;
	ip[12] = 10, ip[15] = 2, ip[16] = 10, ip[17] = 0, ip[18] = 1, ip[19] = 2;
	ip[32] = 5 << 4;
	{
		uint32_t l4 = (uint32_t)size - 34, sum = 6 + l4;
		uint16_t c;

		for (int i = 12; i < 20; i += 2)
			sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
		c = fold(sum);
		ip[36] = (uint8_t)(c >> 8);
		ip[37] = (uint8_t)c;
	}
	f[0] = 1;                              /* NEEDS_CSUM */
	f[1] = 1;                              /* GSO_TCPV4 */
	f[2] = 54;                             /* hdr_len */
	f[4] = 1448 & 0xff, f[5] = 1448 >> 8;  /* gso_size, little-endian */
	f[6] = 34;                             /* csum_start */
	f[8] = 16;                             /* csum_offset */
	return 12 + size;
}

static int cmd_write(const char *tap, unsigned long count, size_t size)
{
	static uint8_t f[MAX_FRAME];
	size_t len = tx_frame(f, size);
	int fd = open_tap(tap);
	uint64_t t0 = now_ns();

	for (unsigned long i = 0; i < count; i++)
		if (write(fd, f, len) != (ssize_t)len) {
			perror("write TAP");
			return 1;
		}
	printf("frames=%lu bytes=%llu ns=%llu\n", count,
	       (unsigned long long)count * (len - 12), (unsigned long long)(now_ns() - t0));
	return 0;
}

static int cmd_read(const char *tap, unsigned long count)
{
	static uint8_t f[MAX_FRAME];
	int fd = open_tap(tap);
	unsigned long frames = 0;
	uint64_t bytes = 0, t0 = 0;

	while (frames < count) {
		ssize_t n = read(fd, f, sizeof(f));
		uint16_t type;

		if (n < 12 + 14)
			continue;
		type = (uint16_t)(f[24] << 8 | f[25]);
		if (type == ETH_TEST + 1)
			break;
		if (type != ETH_TEST)
			continue;
		if (!frames)
			t0 = now_ns();
		frames++;
		bytes += (uint64_t)n - 12;
	}
	printf("frames=%lu bytes=%llu ns=%llu\n", frames, (unsigned long long)bytes,
	       (unsigned long long)(frames ? now_ns() - t0 : 0));
	return 0;
}

static int cmd_send(const char *ifname, const char *dst, unsigned long count, size_t size)
{
	static uint8_t f[1514];
	struct sockaddr_ll to = { .sll_family = AF_PACKET, .sll_halen = 6 };
	int fd = socket(AF_PACKET, SOCK_RAW, 0);
	unsigned mac[6];
	uint64_t t0;

	if (fd < 0 || sscanf(dst, "%x:%x:%x:%x:%x:%x", &mac[0], &mac[1], &mac[2], &mac[3], &mac[4],
			     &mac[5]) != 6) {
		fprintf(stderr, "net_helper: AF_PACKET socket or MAC %s: %s\n", dst, strerror(errno));
		return 1;
	}
	to.sll_ifindex = (int)if_nametoindex(ifname);
	size = size < 60 ? 60 : size > 1514 ? 1514 : size;
	for (int i = 0; i < 6; i++)
		f[i] = (uint8_t)mac[i];
	f[6] = 2;
	f[12] = ETH_TEST >> 8;
	f[13] = ETH_TEST & 0xff;
	t0 = now_ns();
	for (unsigned long i = 0; i < count; i++)
		if (sendto(fd, f, size, 0, (struct sockaddr *)&to, sizeof(to)) < 0 && errno != ENOBUFS) {
			perror("sendto");
			return 1;
		}
	printf("frames=%lu bytes=%llu ns=%llu\n", count, (unsigned long long)count * size,
	       (unsigned long long)(now_ns() - t0));
	fflush(stdout);
	f[13] = (ETH_TEST + 1) & 0xff;
	for (int i = 0; i < 2000; i++) {
		sendto(fd, f, 60, 0, (struct sockaddr *)&to, sizeof(to));
		usleep(10000);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "write"))
		return cmd_write(argv[2], strtoul(argv[3], NULL, 0), strtoul(argv[4], NULL, 0));
	if (argc == 4 && !strcmp(argv[1], "read"))
		return cmd_read(argv[2], strtoul(argv[3], NULL, 0));
	if (argc == 6 && !strcmp(argv[1], "send"))
		return cmd_send(argv[2], argv[3], strtoul(argv[4], NULL, 0), strtoul(argv[5], NULL, 0));
	fprintf(stderr, "usage: net_helper write TAP COUNT SIZE | read TAP COUNT | "
			"send IFNAME DSTMAC COUNT SIZE\n");
	return 1;
}
