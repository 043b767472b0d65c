/* The machine builder: assembles a VM from a configuration in one readable
 * order, runs it to the end and says how it ended. */
#ifndef KVMRUN_MACHINE_H
#define KVMRUN_MACHINE_H

#include "config.h"

/* Process exit statuses (README "Exit status"). A guest exit code passes
 * through unchanged. */
enum {
	EXIT_STATUS_OK = 0,           /* guest reset or powered off */
	EXIT_STATUS_BAD_INPUT = 2,    /* bad option, file, image or size */
	EXIT_STATUS_VMM_ERROR = 3,    /* KVM or a host resource failed */
	EXIT_STATUS_GUEST_CRASH = 4,  /* triple fault, internal error, failed entry */
	EXIT_STATUS_SIGNAL_BASE = 128 /* stopped by signal N: 128 + N */
};

/* Build and run the VM described by `cfg`. Returns the process exit status. */
int machine_run(const struct config *cfg);

#endif
