/* virtio-net (virtio 1.2 §5.1) against a hostile driver, driven by
 * tests/guest/net_tap.py --hostile (the TAP set-up of virtio_net.c; the
 * command line is the same plus `hostile`, which this image does not need
 * to pick its mode). Each malformed chain must put the device in
 * DEVICE_NEEDS_RESET, or its frame must be dropped, and never harm
 * kvmrun; after a reset the device sends again. The frames 100, 101 and
 * 102 sent in between are what the host checks for.
 *
 * Everything runs at CPL 3. */
#include "libguest.h"
#include "net_test.h"
#include "user.h"
#include "virtio_net.h"

static struct vnet_mem mem;
static struct vnet net;
static uint8_t my_mac[6];

/* A test frame `seq` of 100 bytes, broadcast: the host looks for it. */
static bool send_probe(unsigned seq)
{
	vnet_tx_send(&net, net_test_frame(vnet_tx_slot(&net), my_mac, seq, 100), true);
	return vnet_tx_drain(&net) && !vnet_needs_reset(&net);
}

/* Offer one chain of `n` raw buffers on `vq`, wait for it to come back. */
static bool offer(struct vring *vq, const struct vring_buf *b, unsigned n, uint32_t *used_len)
{
	uint32_t id;
	uint16_t head = vring_add(vq, b, n);

	vring_kick(vq);
	return vring_wait(vq, &id, used_len, VNET_WAIT_SPINS) && id == head;
}

static void hostile(uint64_t features)
{
	uint32_t len;
	bool back;

	report_prefix_push("hostile");
	vnet_config_read(&net, my_mac, sizeof(my_mac));
	/* A transmit header of 8 bytes: not a frame (§5.1.6.2). */
	vnet_setup(&net, features);
	{
		struct vring_buf b = { (uintptr_t)vnet_tx_slot(&net), 8, false };

		back = offer(&net.txq, &b, 1, &len);
		report(back && len == 0 && vnet_needs_reset(&net),
		       "tx header shorter than virtio_net_hdr: chain back empty, DEVICE_NEEDS_RESET");
	}
	vnet_setup(&net, features);
	report(send_probe(100), "after a reset the device sends again");

	/* A transmit frame claiming 80 KiB: dropped, the device goes on. */
	memset(mem.tx_slots[0], 0, 12);
	{
		struct vring_buf b[2] = { { (uintptr_t)mem.tx_slots[0], 12, false },
					  { (uintptr_t)mem.tx_slots[1], 80 * 1024, false } };

		back = offer(&net.txq, b, 2, &len);
		report(back && len == 0 && !vnet_needs_reset(&net),
		       "tx frame of 80 KiB (over 64 KiB + headers): dropped, device still running");
	}
	report(send_probe(101), "a frame after the oversized one is sent");

	/* Receive buffers the device cannot write a frame into. */
	{
		struct vring_buf b = { (uintptr_t)mem.rx_bufs[0], VNET_RXBUF, false };

		vring_add(&net.rxq, &b, 1);
		vring_kick(&net.rxq);
		net_sync("hostile rx ready");
		back = vring_wait(&net.rxq, &len, &len, VNET_WAIT_SPINS);
		report(back && len == 0 && vnet_needs_reset(&net),
		       "rx chain with only device-readable buffers: DEVICE_NEEDS_RESET");
	}
	vnet_setup(&net, features);
	{
		struct vring_buf b = { (uintptr_t)mem.rx_bufs[0], 8, true };

		vring_add(&net.rxq, &b, 1);
		vring_kick(&net.rxq);
		net_sync("hostile rx2 ready");
		back = vring_wait(&net.rxq, &len, &len, VNET_WAIT_SPINS);
		report(back && len == 0 && vnet_needs_reset(&net),
		       "rx buffer of 8 bytes, shorter than the header: DEVICE_NEEDS_RESET");
	}
	vnet_setup(&net, features);
	report(send_probe(102), "still serving at the end");
	report_prefix_pop();
}

static long run(void *arg)
{
	(void)arg;
	report_prefix_push("virtio-net");
	if (!vnet_probe(&net, &mem)) {
		report(false, "setup: virtio-net found (is --net given?)");
		return 0;
	}
	hostile(VNET_FEATURES);
	return 0;
}

int main(int argc __unused, char **argv __unused)
{
	run_in_user(run, NULL);
	return report_summary();
}
