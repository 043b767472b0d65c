/* The machine's virtio-mmio devices. See devices.h. */
#include "virtio/devices.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "layout.h"
#include "log.h"
#include "vm.h"

_Static_assert(LAYOUT_VIRTIO_MMIO_BASE + VIRTIO_DEVICES_MAX * VIRTIO_MMIO_WINDOW <=
	       LAYOUT_PCI_ECAM_BASE, "virtio-mmio windows overlap PCI ECAM");
_Static_assert(VIRTIO_DEVICES_GSI_BASE + VIRTIO_DEVICES_GSIS <= 24,
	       "the IOAPIC has 24 pins");
_Static_assert(1 + CONFIG_MAX_DISKS + CONFIG_MAX_NETS + 1 + 1 <= VIRTIO_DEVICES_MAX,
	       "--rng, every --disk, every --net, --balloon and --vsock get a slot");
_Static_assert(CONFIG_VSOCK_PATH_MAX == VSOCK_UDS_PATH_MAX, "--vsock uds= fits the device");

static void plan_add(struct virtio_devices_plan *plan, enum virtio_device_kind kind,
		     unsigned index)
{
	unsigned n;

	/* The configuration bounds the device count; a plan never drops one
	 * silently: virtio_devices_init() refuses a full plan. */
	if (plan->nr == VIRTIO_DEVICES_MAX) {
		plan->overflow = true;
		return;
	}
	n = plan->nr++;

	plan->slots[n] = (struct virtio_device_slot){
		.kind = kind,
		.base = LAYOUT_VIRTIO_MMIO_BASE + (uint64_t)n * VIRTIO_MMIO_WINDOW,
		.gsi = VIRTIO_DEVICES_GSI_BASE + n % VIRTIO_DEVICES_GSIS,
		.index = index,
	};
}

void virtio_devices_plan(const struct config *cfg, struct virtio_devices_plan *plan)
{
	memset(plan, 0, sizeof(*plan));
	if (cfg->rng)
		plan_add(plan, VIRTIO_DEVICE_RNG, 0);
	/* Linux probes command-line devices in order: the first disk is vda. */
	for (unsigned i = 0; i < cfg->nr_disks; i++)
		plan_add(plan, VIRTIO_DEVICE_BLK, i);
	for (unsigned i = 0; i < cfg->nr_nets; i++)
		plan_add(plan, VIRTIO_DEVICE_NET, i);
	if (cfg->balloon.enabled)
		plan_add(plan, VIRTIO_DEVICE_BALLOON, 0);
	if (cfg->vsock.enabled)
		plan_add(plan, VIRTIO_DEVICE_VSOCK, 0);
}

int virtio_devices_open_disks(struct virtio_devices *vd, const struct config *cfg)
{
	static const enum blk_cache_mode cache[] = { [DISK_CACHE_WRITEBACK] = BLK_CACHE_WRITEBACK,
						     [DISK_CACHE_UNSAFE] = BLK_CACHE_UNSAFE };
	static const enum blk_io_mode io[] = { [DISK_IO_AUTO] = BLK_IO_AUTO,
					       [DISK_IO_URING] = BLK_IO_URING,
					       [DISK_IO_SYNC] = BLK_IO_SYNC };

	for (unsigned i = 0; i < cfg->nr_disks; i++) {
		const struct disk_config *disk = &cfg->disks[i];
		struct blk_backend_options opts = {
			.read_only = disk->read_only,
			.cache = cache[disk->cache],
			.io = io[disk->io],
			.serial = disk->serial[0] ? disk->serial : NULL,
			.regular_only = cfg->restore_path != NULL,
		};
		char err[PATH_MAX + 128];
		int ret = blk_backend_open(&vd->disk_backends[i], disk->path, &opts, err, sizeof(err));

		if (ret < 0) {
			log_error("%s", err);
			return ret;
		}
	}
	return 0;
}

int virtio_devices_open_vsock(struct virtio_devices *vd, const struct config *cfg)
{
	char err[CONFIG_ERROR_MAX + 64];
	int ret;

	if (!cfg->vsock.enabled)
		return 0;
	ret = virtio_vsock_open(&vd->vsock, cfg->vsock.uds_path, err, sizeof(err));
	if (ret < 0) {
		log_error("%s", err);
		return ret;
	}
	vd->vsock_open = true;
	return 0;
}

int virtio_devices_open_nets(struct virtio_devices *vd, const struct config *cfg)
{
	for (unsigned i = 0; i < cfg->nr_nets; i++) {
		char err[256];
		int ret = net_tap_open(&vd->net_taps[i], cfg->nets[i].tap, err, sizeof(err));

		if (ret < 0) {
			log_error("%s", err);
			return ret;
		}
		vd->net_tap_open[i] = true;
	}
	return 0;
}

/* "virtio_mmio.device=<size>@<baseaddr>:<irq>" (Linux,
 * Documentation/admin-guide/kernel-parameters.txt). */
#define CMDLINE_WORD_MAX sizeof(" virtio_mmio.device=4K@0x0123456789abcdef:4294967295")

char *virtio_devices_cmdline(const struct virtio_devices_plan *plan, const char *cmdline)
{
	size_t len = strlen(cmdline), size = len + plan->nr * CMDLINE_WORD_MAX + 1;
	char *out = malloc(size);

	if (!out)
		return NULL;
	memcpy(out, cmdline, len + 1);
	for (unsigned i = 0; i < plan->nr; i++)
		len += (size_t)snprintf(out + len, size - len, "%svirtio_mmio.device=4K@0x%llx:%u",
					len ? " " : "", (unsigned long long)plan->slots[i].base,
					plan->slots[i].gsi);
	return out;
}

static int slot_init(struct virtio_devices *vd, const struct virtio_device_slot *slot,
		     const struct config *cfg, struct vm *vm, struct event_loop *loop)
{
	int ret;

	switch (slot->kind) {
	case VIRTIO_DEVICE_RNG:
		ret = virtio_rng_init(&vd->rng, &vm->mem, slot->base, slot->gsi);
		if (ret < 0)
			return log_syscall_error("virtio_rng_init", -ret);
		vd->rng_ready = true;
		return virtio_mmio_attach(&vd->rng.mmio, vm, loop);
	case VIRTIO_DEVICE_BLK: {
		unsigned i = slot->index;
		struct blk_backend *backend = vd->disk_backends[i];

		/* The device owns the image from here on, even on failure. */
		vd->disk_backends[i] = NULL;
		ret = virtio_blk_init(&vd->disks[i], &vm->mem, slot->base, slot->gsi, backend,
				      cfg->disks[i].path);
		if (ret < 0)
			return ret;
		vd->disk_ready[i] = true;
		return virtio_blk_attach(&vd->disks[i], vm, loop);
	}
	case VIRTIO_DEVICE_BALLOON: {
		struct virtio_balloon_options opts = {
			.target_pages = (uint32_t)(cfg->balloon.target_bytes >> VIRTIO_BALLOON_PFN_SHIFT),
			.stats_interval = cfg->balloon.stats_interval,
			.deflate_on_oom = cfg->balloon.deflate_on_oom,
		};

		ret = virtio_balloon_init(&vd->balloon, &vm->mem, slot->base, slot->gsi, &opts);
		if (ret < 0)
			return log_syscall_error("virtio_balloon_init", -ret);
		vd->balloon_ready = true;
		return virtio_balloon_attach(&vd->balloon, vm, loop);
	}
	case VIRTIO_DEVICE_VSOCK:
		ret = virtio_vsock_init(&vd->vsock, &vm->mem, slot->base, slot->gsi, cfg->vsock.cid);
		if (ret < 0)
			return ret;
		vd->vsock_ready = true;
		return virtio_vsock_attach(&vd->vsock, vm, loop);
	case VIRTIO_DEVICE_NET: {
		unsigned i = slot->index;
		struct net_tap tap = vd->net_taps[i];

		/* The device owns the TAP from here on, even on failure. */
		vd->net_tap_open[i] = false;
		vd->nets[i] = malloc(sizeof(*vd->nets[i]));
		if (!vd->nets[i]) {
			net_tap_close(&tap);
			return log_syscall_error("malloc(virtio-net)", ENOMEM);
		}
		ret = virtio_net_init(vd->nets[i], &vm->mem, slot->base, slot->gsi, &tap,
				      cfg->nets[i].mac);
		if (ret < 0) {
			free(vd->nets[i]);
			vd->nets[i] = NULL;
			return ret;
		}
		return virtio_net_attach(vd->nets[i], vm, loop);
	}
	}
	return -EINVAL;
}

int virtio_devices_init(struct virtio_devices *vd, const struct config *cfg, struct vm *vm,
			struct event_loop *loop)
{
	virtio_devices_plan(cfg, &vd->plan);
	if (vd->plan.overflow) {
		log_error("more than %d virtio devices", VIRTIO_DEVICES_MAX);
		return -E2BIG;
	}
	for (unsigned i = 0; i < vd->plan.nr; i++) {
		int ret = slot_init(vd, &vd->plan.slots[i], cfg, vm, loop);

		if (ret < 0)
			return ret;
	}
	return 0;
}

void virtio_devices_destroy(struct virtio_devices *vd)
{
	if (vd->rng_ready)
		virtio_rng_destroy(&vd->rng);
	vd->rng_ready = false;
	for (unsigned i = 0; i < CONFIG_MAX_DISKS; i++) {
		if (vd->disk_ready[i])
			virtio_blk_destroy(&vd->disks[i]);
		vd->disk_ready[i] = false;
		blk_backend_close(vd->disk_backends[i]);
		vd->disk_backends[i] = NULL;
	}
	for (unsigned i = 0; i < CONFIG_MAX_NETS; i++) {
		if (vd->nets[i])
			virtio_net_destroy(vd->nets[i]);
		free(vd->nets[i]);
		vd->nets[i] = NULL;
		if (vd->net_tap_open[i])
			net_tap_close(&vd->net_taps[i]);
		vd->net_tap_open[i] = false;
	}
	if (vd->balloon_ready)
		virtio_balloon_destroy(&vd->balloon);
	vd->balloon_ready = false;
	if (vd->vsock_open)
		virtio_vsock_destroy(&vd->vsock);
	vd->vsock_open = false;
}

void virtio_devices_print_stats(struct virtio_devices *vd, FILE *out)
{
	if (vd->balloon_ready)
		virtio_balloon_print_stats(&vd->balloon, out);
}

struct virtio_mmio *virtio_devices_transport(struct virtio_devices *vd, unsigned n)
{
	const struct virtio_device_slot *slot;

	if (n >= vd->plan.nr)
		return NULL;
	slot = &vd->plan.slots[n];
	switch (slot->kind) {
	case VIRTIO_DEVICE_RNG:
		return vd->rng_ready ? &vd->rng.mmio : NULL;
	case VIRTIO_DEVICE_BLK:
		return vd->disk_ready[slot->index] ? &vd->disks[slot->index].mmio : NULL;
	case VIRTIO_DEVICE_NET:
		return vd->nets[slot->index] ? &vd->nets[slot->index]->mmio : NULL;
	case VIRTIO_DEVICE_BALLOON:
		return vd->balloon_ready ? &vd->balloon.mmio : NULL;
	case VIRTIO_DEVICE_VSOCK:
		return vd->vsock_ready ? &vd->vsock.mmio : NULL;
	}
	return NULL;
}
