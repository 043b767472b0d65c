/* The virtio-net benchmark's guest (bench/net.py, bench/README.md
 * "virtio-net benchmark"): frames through kvmrun's virtio-mmio transport
 * and TAP back-end as fast as a polling driver at CPL 3 moves them, with
 * every checksum and TSO offload negotiated and 256-entry rings.
 *
 *   bench=tx count=N size=S  sends N frames of S bytes (default 1000 of
 *                            1514) and prints "sync: bench tx done
 *                            frames=F bytes=B"
 *   bench=rx                 counts the frames that arrive until an end
 *                            frame, then prints "sync: bench rx done ..."
 *
 * mac= is the address given with --net, the frames' source. */
#include "libguest.h"
#include "net_test.h"
#include "user.h"
#include "virtio_net.h"

static struct vnet_mem mem;
static struct vnet net;
static uint8_t *const frame = mem.frame;   /* the last frame received, header first */
static uint8_t my_mac[6];
static const uint8_t my_ip[4] = { 10, 0, 0, 2 }, far_ip[4] = { 10, 0, 1, 2 };

/* bench=tx count=N size=S: N frames of S bytes (1514: plain frames; more:
 * GSO_TCPV4 frames of S bytes) to a MAC nobody has, so the host kernel
 * drops them right after the TAP. The ring is kept full; every frame
 * points at the same buffer (the device only reads it). */
static void bench_tx(uint64_t count, uint64_t size)
{
	static const uint8_t nobody[6] = { 0x02, 0, 0, 0, 0, 0x99 };
	uint8_t *p = mem.tx_slots[0], *tcp;
	uint8_t *ip = net_eth(p, nobody, my_mac, size > 1514 ? 0x0800 : ETH_TEST);
	uint64_t sent = 0, done = 0;
	uint32_t id, len;

	if (size > 1514) {
		size = size > 65549 ? 65549 : size;
		tcp = net_ipv4(ip, my_ip, far_ip, 6, (unsigned)size - 34, 1);
		memset(tcp, 0, 20);
		tcp[12] = 5 << 4;
		put16(tcp + 16, net_fold(net_pseudo(ip, 6, (unsigned)size - 34)));
		*(struct vnet_hdr *)p = (struct vnet_hdr){ .flags = VNET_HDR_F_NEEDS_CSUM,
			.gso_type = VNET_GSO_TCPV4, .hdr_len = 54, .gso_size = 1448,
			.csum_start = 34, .csum_offset = 16 };
	} else if (size < 60) {
		size = 60;
	}
	net_sync("bench tx start");
	while (done < count) {
		while (sent < count && sent - done < VNET_QSIZE) {
			struct vring_buf b = { (uintptr_t)p, (uint32_t)(12 + size), false };

			vring_add(&net.txq, &b, 1);
			sent++;
		}
		vring_kick(&net.txq);
		if (!vring_wait(&net.txq, &id, &len, VNET_WAIT_SPINS))
			break;
		done++;
		while (vring_poll(&net.txq, &id, &len))
			done++;
	}
	printf("sync: bench tx done frames=%llu bytes=%llu\n", (unsigned long long)done,
	       (unsigned long long)(done * size));
}

/* bench=rx: count test frames until an end frame (EtherType 0x88b6). */
static void bench_rx(void)
{
	uint64_t frames = 0, bytes = 0;
	unsigned freed = 0;
	uint32_t len;

	vnet_rx_post(&net, VNET_QSIZE);
	net_sync("bench rx ready");
	/* Buffers go back in batches of half the ring, as Linux refills in
	 * its NAPI poll: a driver that gives buffers back one at a time to a
	 * device that has run out of them gets one frame per notification,
	 * i.e. per VM exit. */
	while ((len = vnet_rx_frame(&net, false, VNET_WAIT_SPINS))) {
		uint16_t type = be16(frame + 24);

		freed += ((struct vnet_hdr *)frame)->num_buffers;
		if (freed >= VNET_QSIZE / 2) {
			vnet_rx_post(&net, freed);
			freed = 0;
		}

		if (type == ETH_TEST + 1)
			break;
		if (type == ETH_TEST) {
			frames++;
			bytes += len - 12;
		}
	}
	printf("sync: bench rx done frames=%llu bytes=%llu\n", (unsigned long long)frames,
	       (unsigned long long)bytes);
}

static long run(void *arg)
{
	uint64_t count = 1000, size = 1514;
	char mac[32];

	(void)arg;
	report_prefix_push("virtio-net");
	if (!vnet_probe(&net, &mem)) {
		report(false, "setup: virtio-net found (is --net given?)");
		return 0;
	}
	if (!cmdline_has("bench=tx") && !cmdline_has("bench=rx")) {
		report(false, "bench: bench=tx or bench=rx on the command line");
		return 0;
	}
	if (!vnet_setup(&net, VNET_FEATURES_OFFLOADS) ||
	    !cmdline_get_str("mac", mac, sizeof(mac)) || !net_parse_mac(mac, my_mac)) {
		report(false, "bench: setup");
		return 0;
	}
	cmdline_get_u64("count", &count);
	cmdline_get_u64("size", &size);
	if (cmdline_has("bench=tx"))
		bench_tx(count, size);
	else
		bench_rx();
	return 0;
}

int main(int argc __unused, char **argv __unused)
{
	run_in_user(run, NULL);
	return report_summary();
}
