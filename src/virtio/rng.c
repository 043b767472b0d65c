/* virtio-rng (virtio 1.2 §5.4). See rng.h. */
#include "virtio/rng.h"

#include <errno.h>
#include <stdio.h>
#include <sys/random.h>

/* Fill up to `len` bytes of `seg` from the host's entropy pool. Returns the
 * bytes written (0 if the pool failed, which getrandom without flags only
 * does when interrupted). */
static size_t fill_segment(const struct virtq_segment *seg, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = getrandom((uint8_t *)seg->host + done, len - done, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	return done;
}

/* §5.4.6: each device-writable buffer gets random bytes; readable ones
 * (which a driver must not offer, §5.4.6.1) are ignored. */
static int rng_queue_notify(void *opaque, struct virtio_mmio *dev, unsigned index)
{
	struct virtio_rng *rng = opaque;
	struct virtq *q = virtio_mmio_queue(dev, index);
	struct virtq_chain chain;
	int ret;

	while ((ret = virtq_pop(q, &chain)) > 0) {
		size_t budget = VIRTIO_RNG_MAX_FILL, written = 0;

		for (unsigned i = chain.nr_out; i < chain.nr_out + chain.nr_in && budget; i++) {
			size_t want = chain.seg[i].len < budget ? chain.seg[i].len : budget;
			size_t n = fill_segment(&chain.seg[i], want);

			written += n;
			budget -= n;
			if (n < want)
				break;
		}
		rng->bytes += written;
		ret = virtq_push(q, chain.head, (uint32_t)written);
		if (ret < 0)
			return ret;
	}
	return ret;
}

/* Snapshots: nothing beyond the transport's state (the byte counter is
 * a statistic), and requests complete inside queue_notify. */
static void rng_state_save(void *opaque, struct snap_buf *out)
{
	(void)opaque;
	(void)out;
}

static int rng_state_load(void *opaque, const uint8_t *data, size_t len, char *err, size_t errlen)
{
	(void)opaque;
	(void)data;
	if (len) {
		snprintf(err, errlen, "virtio-rng: %zu bytes of device state, expected none", len);
		return -EINVAL;
	}
	return 0;
}

static const struct virtio_device_ops rng_ops = {
	.name = "virtio-rng",
	.device_id = VIRTIO_ID_ENTROPY,
	.features = 0,
	.nr_queues = 1,
	.queue_size_max = VIRTIO_RNG_QUEUE_SIZE,
	.config_size = 0,
	.queue_notify = rng_queue_notify,
	.state_save = rng_state_save,
	.state_load = rng_state_load,
};

int virtio_rng_init(struct virtio_rng *rng, const struct guest_memory *mem, uint64_t base,
		    unsigned gsi)
{
	rng->bytes = 0;
	return virtio_mmio_init(&rng->mmio, &rng_ops, rng, mem, base, gsi);
}

void virtio_rng_destroy(struct virtio_rng *rng)
{
	virtio_mmio_destroy(&rng->mmio);
}
