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

static void plan_add(struct virtio_devices_plan *plan, enum virtio_device_kind kind)
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
	};
}

void virtio_devices_plan(const struct config *cfg, struct virtio_devices_plan *plan)
{
	memset(plan, 0, sizeof(*plan));
	if (cfg->rng)
		plan_add(plan, VIRTIO_DEVICE_RNG);
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
		     struct vm *vm, struct event_loop *loop)
{
	int ret;

	switch (slot->kind) {
	case VIRTIO_DEVICE_RNG:
		ret = virtio_rng_init(&vd->rng, &vm->mem, slot->base, slot->gsi);
		if (ret < 0)
			return log_syscall_error("virtio_rng_init", -ret);
		vd->rng_ready = true;
		return virtio_mmio_attach(&vd->rng.mmio, vm, loop);
	}
	return -EINVAL;
}

int virtio_devices_init(struct virtio_devices *vd, const struct config *cfg, struct vm *vm,
			struct event_loop *loop)
{
	memset(vd, 0, sizeof(*vd));
	virtio_devices_plan(cfg, &vd->plan);
	if (vd->plan.overflow) {
		log_error("more than %d virtio devices", VIRTIO_DEVICES_MAX);
		return -E2BIG;
	}
	for (unsigned i = 0; i < vd->plan.nr; i++) {
		int ret = slot_init(vd, &vd->plan.slots[i], vm, loop);

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
}
