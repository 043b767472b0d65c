/* Private to the machine (machine*.c): what the builder assembles and the
 * running code drives.
 *
 *   machine.c      the builder: checks, guest loading, devices, vCPUs,
 *                  restore wiring; machine_create() / machine_destroy()
 *   machine_run.c  running a built machine: vCPU threads, the event loop,
 *                  the end (statistics, exit status) */
#ifndef KVMRUN_MACHINE_INTERNAL_H
#define KVMRUN_MACHINE_INTERNAL_H

#include <stdbool.h>

#include "config.h"
#include "event_loop.h"
#include "image_file.h"
#include "kvm.h"
#include "platform.h"
#include "snapshot/snapshot.h"
#include "virtio/devices.h"
#include "vm.h"

struct machine {
	const struct config *cfg;
	struct image_file kernel;
	struct image_file initrd;
	struct kvm kvm;
	struct vm vm;
	struct platform platform;
	struct event_loop loop;     /* device back-ends register on it */
	struct virtio_devices virtio;
	char *cmdline;              /* cfg->cmdline + the virtio-mmio devices */
	int console_fd;
	bool console_fd_owned;
	bool vm_created;
	bool platform_ready;
	bool virtio_ready;
	unsigned nr_created;  /* vCPUs created so far */
	/* Snapshots: the state file being restored (NULL when booting a
	 * kernel), and the triggers (SIGUSR1 save, SIGUSR2 resume). */
	struct snapshot_image *image;
	struct snapshot_control snapshot;
};

#endif
