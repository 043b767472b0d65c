/* virtio-rng, the entropy device (virtio 1.2 §5.4): one request queue of
 * device-writable buffers, each filled with bytes from the host's
 * getrandom(2). No features, no configuration space. */
#ifndef KVMRUN_VIRTIO_RNG_H
#define KVMRUN_VIRTIO_RNG_H

#include <stdint.h>

#include "virtio/mmio.h"

/* The most bytes one buffer receives (§5.4.6.1: the device MAY use less
 * than the whole buffer). Bounds the work one notification can cause on
 * the event loop: a guest may offer gigabytes. */
#define VIRTIO_RNG_MAX_FILL (64u * 1024)
#define VIRTIO_RNG_QUEUE_SIZE 256

struct virtio_rng {
	struct virtio_mmio mmio;
	uint64_t bytes;            /* statistics: entropy handed out */
};

/* A virtio-rng on the virtio-mmio window at `base` with line `gsi`; make
 * it live with virtio_mmio_attach(&rng->mmio, ...). Returns 0 or -errno. */
int virtio_rng_init(struct virtio_rng *rng, const struct guest_memory *mem, uint64_t base,
		    unsigned gsi);
void virtio_rng_destroy(struct virtio_rng *rng);

#endif
