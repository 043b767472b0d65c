/* The machine builder: assembles a VM from a configuration in one readable
 * order, runs it and says how it ended. The phases are separate so tests
 * and benchmarks can drive a running machine (pause it, kick it). */
#ifndef KVMRUN_MACHINE_H
#define KVMRUN_MACHINE_H

#include "config.h"

struct vm;
struct machine;

/* Process exit statuses (README "Exit status"). A guest exit code passes
 * through unchanged. */
enum {
	EXIT_STATUS_OK = 0,           /* guest reset or powered off */
	EXIT_STATUS_BAD_INPUT = 2,    /* bad option, file, image or size */
	EXIT_STATUS_VMM_ERROR = 3,    /* KVM or a host resource failed */
	EXIT_STATUS_GUEST_CRASH = 4,  /* triple fault, internal error, failed entry */
	EXIT_STATUS_SIGNAL_BASE = 128 /* stopped by signal N: 128 + N */
};

/* Validate everything, load the guest and build the VM with its devices
 * and vCPUs, not yet running. All input is checked before anything is
 * created outside the process (console file, KVM objects). Returns
 * EXIT_STATUS_OK with *out set, or the exit status to fail with. */
int machine_create(const struct config *cfg, struct machine **out);

/* Start the vCPU threads. Returns 0 or -errno (the VM is then stopping). */
int machine_start(struct machine *m);

/* Serve the event loop until the VM stops, join the vCPU threads and
 * return the process exit status. */
int machine_wait(struct machine *m);

void machine_destroy(struct machine *m);

struct vm *machine_vm(struct machine *m);

/* create + start + wait + destroy: what main does. */
int machine_run(const struct config *cfg);

#endif
