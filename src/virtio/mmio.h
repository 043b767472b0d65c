/* The virtio-mmio transport, version 2 (virtio 1.2 §4.2): one 4 KiB
 * register window per device, queue notifications through KVM ioeventfds
 * (serviced on the event-loop thread), interrupts through a KVM irqfd.
 *
 * A device back-end (rng.c, blk.c) is a `struct virtio_device_ops` plus
 * its own state (`opaque`). The transport owns the registers, feature
 * negotiation, status, the queues (struct virtq, queue.h) and interrupts;
 * the back-end only pops chains, fills them and pushes them back.
 *
 * Threads and locking: register accesses arrive on vCPU threads (MMIO
 * exits), notifications on the event-loop thread. One mutex per device
 * (`lock`) serialises both; every callback in virtio_device_ops is called
 * with it held, so a back-end needs no lock of its own for state it only
 * touches from its callbacks. A back-end must not call virtio_mmio_*()
 * functions that take the lock (marked below) from inside a callback.
 *
 * Errors: a malformed queue (virtq_pop() < 0) or a failing callback puts
 * the device, and only that device, in DEVICE_NEEDS_RESET (status bit 64,
 * §2.1.2): it stops processing its queues, raises a configuration-change
 * interrupt, logs the reason once, and the VM keeps running. Writing 0 to
 * Status resets it and it works again. See docs/virtio.md. */
#ifndef KVMRUN_VIRTIO_MMIO_H
#define KVMRUN_VIRTIO_MMIO_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "memory.h"
#include "virtio/queue.h"

struct vm;
struct event_loop;
struct virtio_mmio;
struct snap_buf;

#define VIRTIO_MMIO_WINDOW      0x1000   /* bytes of register space per device */
#define VIRTIO_MMIO_MAX_QUEUES  8
#define VIRTIO_MMIO_CONFIG_MAX  (VIRTIO_MMIO_WINDOW - 0x100)

/* Register offsets (§4.2.2, table "MMIO Device Register Layout"). */
#define VIRTIO_MMIO_MAGIC_VALUE         0x000   /* "virt" */
#define VIRTIO_MMIO_VERSION             0x004
#define VIRTIO_MMIO_DEVICE_ID           0x008
#define VIRTIO_MMIO_VENDOR_ID           0x00c
#define VIRTIO_MMIO_DEVICE_FEATURES     0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRIVER_FEATURES     0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_QUEUE_SEL           0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX       0x034
#define VIRTIO_MMIO_QUEUE_NUM           0x038
#define VIRTIO_MMIO_QUEUE_READY         0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY        0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS    0x060
#define VIRTIO_MMIO_INTERRUPT_ACK       0x064
#define VIRTIO_MMIO_STATUS              0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW      0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH     0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LOW    0x090
#define VIRTIO_MMIO_QUEUE_DRIVER_HIGH   0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LOW    0x0a0
#define VIRTIO_MMIO_QUEUE_DEVICE_HIGH   0x0a4
#define VIRTIO_MMIO_SHM_LEN_LOW         0x0b0   /* .. 0x0bc: SHMLen, SHMBase */
#define VIRTIO_MMIO_SHM_BASE_HIGH       0x0bc
#define VIRTIO_MMIO_CONFIG_GENERATION   0x0fc
#define VIRTIO_MMIO_CONFIG              0x100

#define VIRTIO_MMIO_MAGIC               0x74726976u  /* little-endian "virt" */
#define VIRTIO_MMIO_VERSION_2           2            /* non-legacy (§4.2.4 is legacy) */
#define VIRTIO_MMIO_VENDOR              0x554d4551u  /* "QEMU", as Linux and QEMU use */

/* InterruptStatus bits (§4.2.2). */
#define VIRTIO_MMIO_INT_VRING  1u   /* used buffer notification */
#define VIRTIO_MMIO_INT_CONFIG 2u   /* configuration change notification */

/* Device status bits (§2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE        1u
#define VIRTIO_STATUS_DRIVER             2u
#define VIRTIO_STATUS_DRIVER_OK          4u
#define VIRTIO_STATUS_FEATURES_OK        8u
#define VIRTIO_STATUS_DEVICE_NEEDS_RESET 64u
#define VIRTIO_STATUS_FAILED             128u

/* Reserved feature bits (§6) the transport handles itself. */
#define VIRTIO_F_INDIRECT_DESC  28
#define VIRTIO_F_EVENT_IDX      29
#define VIRTIO_F_VERSION_1      32

/* Device IDs (§5). */
#define VIRTIO_ID_BLOCK   2
#define VIRTIO_ID_ENTROPY 4

/* What a device back-end provides. Every callback runs with the device
 * lock held. Optional callbacks may be NULL. */
struct virtio_device_ops {
	const char *name;          /* "virtio-rng": for messages */
	uint32_t device_id;        /* VIRTIO_ID_* */
	/* Device-type feature bits offered. The transport adds
	 * VIRTIO_F_VERSION_1 (which a driver must accept), EVENT_IDX and
	 * INDIRECT_DESC (implemented by queue.c). */
	uint64_t features;
	unsigned nr_queues;        /* 1..VIRTIO_MMIO_MAX_QUEUES */
	uint16_t queue_size_max;   /* power of two, at most VIRTQ_MAX_SIZE */
	uint32_t config_size;      /* bytes of device configuration space */

	/* Device configuration space at window offset 0x100 (vCPU thread).
	 * The transport has checked offset + size <= config_size; size is 1,
	 * 2, 4 or 8. NULL: reads are zero, writes ignored. A back-end that
	 * changes its configuration calls virtio_mmio_config_changed(). */
	void (*config_read)(void *opaque, uint32_t offset, void *data, unsigned size);
	void (*config_write)(void *opaque, uint32_t offset, const void *data, unsigned size);

	/* The driver set DRIVER_OK (vCPU thread): features are final
	 * (virtio_mmio_features()) and the queues it made ready are active.
	 * A negative errno puts the device in NEEDS_RESET. */
	int (*activate)(void *opaque, struct virtio_mmio *dev);

	/* The driver notified queue `index` (event-loop thread; only while
	 * DRIVER_OK, the queue ready and the device not in NEEDS_RESET).
	 * Typical body:
	 *     while ((ret = virtq_pop(q, &chain)) > 0) { ...; virtq_push(q, chain.head, n); }
	 *     return ret;
	 * The transport interrupts the guest afterwards if the queue asks for
	 * it (virtq_needs_interrupt). A negative errno (e.g. virtq_pop()'s)
	 * puts the device in NEEDS_RESET. */
	int (*queue_notify)(void *opaque, struct virtio_mmio *dev, unsigned index);

	/* The device is reset (Status written 0): drop in-flight work; any
	 * later completion of it is discarded (virtio_mmio_complete). */
	void (*reset)(void *opaque);

	/* Snapshots (docs/snapshots.md). A device with state_save NULL
	 * cannot be saved: a snapshot of a VM that has it is refused, naming
	 * it. The transport saves its own registers and queue positions
	 * (virtio_mmio_state_save); these carry only the back-end's state.
	 *
	 * quiesce (optional): event-loop thread, VM paused, lock NOT held.
	 * Finish every request in flight (complete and push it) so that
	 * nothing lives outside guest memory and the saved state. Returns 0
	 * or -errno.
	 * state_save: lock held. Append the back-end's state to `out`.
	 * state_load: lock held, on a device fresh from init, before any
	 * vCPU runs. Returns 0, or -EINVAL with a one-line reason in err. */
	int (*quiesce)(void *opaque, struct virtio_mmio *dev);
	void (*state_save)(void *opaque, struct snap_buf *out);
	int (*state_load)(void *opaque, const uint8_t *data, size_t len, char *err, size_t errlen);
};

struct virtio_mmio {
	const struct virtio_device_ops *ops;
	void *opaque;
	uint64_t base;             /* guest-physical window address */
	unsigned gsi;              /* interrupt line (irqfd) */
	pthread_mutex_t lock;

	/* Registers, under lock. */
	uint32_t status;
	uint32_t device_features_sel;
	uint32_t driver_features_sel;
	uint64_t driver_features;
	uint32_t queue_sel;
	uint32_t config_generation;
	_Atomic uint32_t interrupt_status;
	struct virtq queues[VIRTIO_MMIO_MAX_QUEUES];

	/* eventfds: one per queue for notifications (KVM ioeventfd on
	 * QueueNotify with datamatch = the queue index), one written to
	 * interrupt the guest (KVM irqfd on gsi) and, with a level-triggered
	 * line, one KVM signals when the guest EOIs it (resamplefd). */
	int notify_fd[VIRTIO_MMIO_MAX_QUEUES];
	int irq_fd;
	int resample_fd;

	/* Set by virtio_mmio_attach(), for detaching. */
	struct vm *vm;
	struct event_loop *loop;
	unsigned nr_ioeventfds;
	bool irqfd_bound;
	bool mapped;

	/* A hostile guest must not flood stderr: an ignored register write
	 * is logged once per device, NEEDS_RESET the first few times. */
	bool frozen_write_logged;
	char needs_reset_reason[VIRTQ_ERROR_MAX + 64];  /* the last one */
	uint64_t notifications;    /* statistics: notifications serviced */
	uint64_t errors;           /* times the device entered NEEDS_RESET */
};

/* Set up a device and its eventfds (not yet visible to any guest): window
 * at `base`, interrupt line `gsi`, queues over `mem`. The ops must satisfy
 * the limits above (-EINVAL otherwise). Returns 0 or -errno. */
int virtio_mmio_init(struct virtio_mmio *dev, const struct virtio_device_ops *ops, void *opaque,
		     const struct guest_memory *mem, uint64_t base, unsigned gsi);

/* Make the device live: map its window on vm->mmio, bind an ioeventfd per
 * queue and the irqfd in KVM, and watch the notification eventfds on
 * `loop`. Before the vCPUs start. Returns 0 or -errno (logged); undone by
 * virtio_mmio_destroy. */
int virtio_mmio_attach(struct virtio_mmio *dev, struct vm *vm, struct event_loop *loop);

/* Unbind from KVM and the event loop, close the eventfds. The bus mapping
 * stays (buses never shrink): destroy only with the VM. */
void virtio_mmio_destroy(struct virtio_mmio *dev);

/* The register window's bus callbacks (offsets within the window). */
extern const struct bus_device_ops virtio_mmio_bus_ops;

/* Service a notification of queue `index`: what the event loop does when
 * notify_fd[index] fires (tests call it directly). Takes the lock. */
void virtio_mmio_notify(struct virtio_mmio *dev, unsigned index);

/* Complete a chain popped earlier, outside a callback (an asynchronous
 * back-end): push it, interrupt if the queue asks for it. Dropped with
 * -ESTALE if the queue was reset since (epoch is the chain's). A push
 * error puts the device in NEEDS_RESET. Takes the lock. */
int virtio_mmio_complete(struct virtio_mmio *dev, unsigned index, uint32_t epoch, uint16_t head,
			 uint32_t len);

/* An asynchronous back-end's batch: under one hold of the lock, call
 * complete(opaque, q) to push the chains that finished (with
 * virtq_push_epoch; its error, other than -ESTALE, puts the device in
 * NEEDS_RESET), then service the queue as a notification would (the
 * device's queue_notify, which picks up chains the driver added without
 * notifying), then decide once whether to interrupt. One lock round trip
 * and one interrupt check (a full fence) per batch instead of per chain.
 * `complete` runs whatever the device status (completions of a broken or
 * reset queue are still accounted for); queue_notify only as
 * virtio_mmio_notify would run it. */
typedef int virtio_mmio_complete_fn(void *opaque, struct virtq *q);
void virtio_mmio_service(struct virtio_mmio *dev, unsigned index,
			 virtio_mmio_complete_fn *complete, void *opaque);

/* Put the device in NEEDS_RESET, naming why (an asynchronous back-end's
 * failure). Takes the lock. */
void virtio_mmio_fail(struct virtio_mmio *dev, const char *why);

/* Inside callbacks (lock held): */
static inline struct virtq *virtio_mmio_queue(struct virtio_mmio *dev, unsigned index)
{
	return &dev->queues[index];
}

/* The features the driver accepted (final once FEATURES_OK is set). */
static inline uint64_t virtio_mmio_features(const struct virtio_mmio *dev)
{
	return dev->driver_features;
}

static inline bool virtio_mmio_has_feature(const struct virtio_mmio *dev, unsigned bit)
{
	return bit < 64 && (dev->driver_features >> bit) & 1;
}

/* Snapshots (mmio_state.c). Whether the back-end can be saved at all. */
static inline bool virtio_mmio_can_snapshot(const struct virtio_mmio *dev)
{
	return dev->ops->state_save && dev->ops->state_load;
}

/* With the VM paused, on the event-loop thread: service notifications the
 * guest made that the loop has not seen yet, then the back-end's quiesce.
 * Returns 0 or -errno (logged). */
int virtio_mmio_quiesce(struct virtio_mmio *dev);

/* The transport's registers and every queue's configuration and position,
 * then the back-end's state_save, as two byte strings. Takes the lock.
 * Returns 0, or -EBUSY (logged) if a request is still in flight (the
 * back-end did not quiesce). */
int virtio_mmio_state_save(struct virtio_mmio *dev, struct snap_buf *transport,
			    struct snap_buf *backend);

/* Load what state_save wrote into a device fresh from init and attached
 * (before any vCPU runs): registers, queues re-activated and put back at
 * their positions, back-end state; then the interrupt line re-asserted if
 * an interrupt was pending, and every ready queue looked at once (a
 * notification the old process had not serviced is not lost). Returns 0,
 * or -EINVAL with a one-line reason in err. Takes the lock. */
int virtio_mmio_state_load(struct virtio_mmio *dev, const uint8_t *transport, size_t transport_len,
			   const uint8_t *backend, size_t backend_len, char *err, size_t errlen);

/* The back-end changed its configuration space: bump ConfigGeneration
 * and raise a configuration-change interrupt (§4.2.2, §2.5.1). Lock held. */
void virtio_mmio_config_changed(struct virtio_mmio *dev);

#endif
