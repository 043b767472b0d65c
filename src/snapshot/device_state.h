/* The state of kvmrun's legacy platform devices (src/devices/, src/pci/)
 * in snapshot sections: UART, RTC, i8042, ACPI PM registers, the PCI
 * configuration mechanism and configuration spaces, fw_cfg's cursor.
 *
 * These functions reach into the device structures (under each device's
 * lock) rather than adding a save/load pair to every device file: the
 * devices stay free of snapshot code, and this file is the one place that
 * says which fields are state and which are wiring (fds, callbacks, the
 * console) that a restored machine gets afresh.
 *
 * Stateless devices (exit port, POST code, isa-debug-exit) have no
 * section. pc-testdev and pci-testdev hold host resources a snapshot
 * cannot describe (ioeventfds armed by the guest): a machine with either
 * is refused (snapshot_check). */
#ifndef KVMRUN_SNAPSHOT_DEVICE_STATE_H
#define KVMRUN_SNAPSHOT_DEVICE_STATE_H

#include <stddef.h>

struct platform;
struct snap_writer;
struct snap_reader;

void device_state_write(struct platform *p, struct snap_writer *w);

/* Apply the sections to a freshly initialised platform, before any vCPU
 * runs. Returns 0, or -EINVAL with a one-line reason in err. */
int device_state_restore(struct platform *p, const struct snap_reader *r, char *err,
			 size_t errlen);

#endif
