/* The machine's virtio-mmio devices: which ones the configuration asks
 * for, where each sits (a 4 KiB window at LAYOUT_VIRTIO_MMIO_BASE +
 * n * 0x1000, interrupt line VIRTIO_DEVICES_GSI_BASE + n % 8), the kernel
 * command line words that announce them to Linux, and their lifetime.
 *
 * The plan is a pure function of the configuration, so the command line
 * (needed before the kernel is loaded) and the devices (created once the
 * VM exists) always agree on the slots. */
#ifndef KVMRUN_VIRTIO_DEVICES_H
#define KVMRUN_VIRTIO_DEVICES_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "virtio/balloon.h"
#include "virtio/blk.h"
#include "virtio/net.h"
#include "virtio/rng.h"
#include "virtio/vsock.h"

struct config;
struct vm;
struct event_loop;

/* IOAPIC pins 16-23: above the ISA IRQs (0 PIT, 1 keyboard, 4 COM1,
 * 8 RTC, 9 the ACPI SCI, ...), so no device ever shares a line with a
 * legacy one. The MP table routes them level-triggered, active high,
 * which is what virtio-mmio's interrupt is (§4.2.3.4). Beyond 8 devices
 * lines are shared (slot n uses pin 16 + n % 8): a level-triggered line
 * shares cleanly (each device's resampling irqfd re-raises it while its
 * own InterruptStatus is non-zero), and Linux's virtio_mmio driver
 * requests its interrupt IRQF_SHARED. */
#define VIRTIO_DEVICES_GSI_BASE 16
#define VIRTIO_DEVICES_GSIS     8
#define VIRTIO_DEVICES_MAX      16

enum virtio_device_kind {
	VIRTIO_DEVICE_RNG,
	VIRTIO_DEVICE_BLK,         /* one per --disk, in the order given */
	VIRTIO_DEVICE_BALLOON,     /* after the disks: adding it moves no other slot */
	VIRTIO_DEVICE_VSOCK,       /* --vsock, after the disks */
	VIRTIO_DEVICE_NET,         /* one per --net, in the order given */
};

struct virtio_device_slot {
	enum virtio_device_kind kind;
	uint64_t base;             /* guest-physical window */
	unsigned gsi;
	unsigned index;            /* which cfg->disks[] (BLK), cfg->nets[] (NET) */
};

struct virtio_devices_plan {
	unsigned nr;
	bool overflow;             /* more devices asked for than fit */
	struct virtio_device_slot slots[VIRTIO_DEVICES_MAX];
};

/* The devices `cfg` asks for, in a fixed order, slot n at base + n pages. */
void virtio_devices_plan(const struct config *cfg, struct virtio_devices_plan *plan);

/* `cmdline` followed by " virtio_mmio.device=4K@0xADDR:GSI" per device
 * (Linux's drivers/virtio/virtio_mmio.c command-line binding), in memory
 * the caller frees; or a copy of `cmdline` when there are no devices.
 * Returns NULL when out of memory. */
char *virtio_devices_cmdline(const struct virtio_devices_plan *plan, const char *cmdline);

/* Starts zeroed (the machine allocates it with calloc). */
struct virtio_devices {
	struct virtio_devices_plan plan;
	struct virtio_rng rng;
	bool rng_ready;
	/* Disk images, opened with the rest of the input so that a bad one
	 * is bad input (exit status 2); each goes to its device at init. */
	struct blk_backend *disk_backends[CONFIG_MAX_DISKS];
	struct virtio_blk disks[CONFIG_MAX_DISKS];
	bool disk_ready[CONFIG_MAX_DISKS];
	struct virtio_balloon balloon;
	bool balloon_ready;
	/* --vsock: its listening socket is opened with the input (a path in
	 * use is bad input), the device created at init. */
	struct virtio_vsock vsock;
	bool vsock_open;
	bool vsock_ready;
	/* TAP interfaces, opened with the input as disks are; each goes to
	 * its device at init. */
	struct net_tap net_taps[CONFIG_MAX_NETS];
	bool net_tap_open[CONFIG_MAX_NETS];
	struct virtio_net *nets[CONFIG_MAX_NETS];   /* each ~12 KiB, allocated */
};

/* Open and check every --disk image (blk_backend_open). Returns 0, or
 * -errno with a one-line error logged naming the image. Undone by
 * virtio_devices_destroy. */
int virtio_devices_open_disks(struct virtio_devices *vd, const struct config *cfg);

/* Listen on the --vsock socket path, if any (virtio_vsock_open). Returns
 * 0, or -errno with a one-line error logged. Undone by
 * virtio_devices_destroy. */
int virtio_devices_open_vsock(struct virtio_devices *vd, const struct config *cfg);

/* Attach to every --net TAP interface (net_tap_open). Returns 0, or
 * -errno with a one-line error logged naming the interface. Undone by
 * virtio_devices_destroy. */
int virtio_devices_open_nets(struct virtio_devices *vd, const struct config *cfg);

/* Create the planned devices on `vm` and make them live (windows mapped,
 * ioeventfds and irqfds bound, notifications watched on `loop`), after
 * virtio_devices_open_disks. Returns 0 or -errno (logged); destroy also
 * after a failure. */
int virtio_devices_init(struct virtio_devices *vd, const struct config *cfg, struct vm *vm,
			struct event_loop *loop);
void virtio_devices_destroy(struct virtio_devices *vd);

/* Device statistics for --exit-stats (so far the balloon's), on `out`. */
void virtio_devices_print_stats(struct virtio_devices *vd, FILE *out);

/* The transport of planned slot `n` (snapshots walk every device), or NULL
 * for a slot whose kind this function does not know yet: a new device
 * kind adds its case here, and until then a snapshot refuses it. */
struct virtio_mmio *virtio_devices_transport(struct virtio_devices *vd, unsigned n);

#endif
