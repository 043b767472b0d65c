/* Private to the virtio-mmio transport (mmio*.c).
 *
 *   mmio.c            lifecycle (init, attach, destroy), queue service on
 *                     the event loop, interrupts, DEVICE_NEEDS_RESET
 *   mmio_registers.c  the register window the guest reads and writes:
 *                     status, feature negotiation, queue set-up (§4.2.2)
 *   mmio_state.c      snapshots of the transport */
#ifndef KVMRUN_VIRTIO_MMIO_INTERNAL_H
#define KVMRUN_VIRTIO_MMIO_INTERNAL_H

#include "virtio/mmio.h"

/* Make an eventfd readable (a no-op for fd < 0). */
void virtio_mmio_signal_fd(int fd);

/* Lock held. Put the device, and only it, in DEVICE_NEEDS_RESET (§2.1.2),
 * saying why. */
void virtio_mmio_enter_needs_reset(struct virtio_mmio *dev, const char *why);

#endif
