/* Exit dispatch: what a vCPU does with each KVM_RUN exit. Every handler
 * returns an explicit outcome (DESIGN.md principle 3), never a fake exit
 * reason or an overloaded integer. */
#ifndef KVMRUN_VCPU_EXIT_H
#define KVMRUN_VCPU_EXIT_H

#include <stdio.h>

struct vcpu;

enum exit_outcome {
	EXIT_OUTCOME_REENTER,         /* handled: enter the guest again */
	EXIT_OUTCOME_CHECK_REQUESTS,  /* back to the run loop to act on requests */
	EXIT_OUTCOME_STOP,            /* the VM is stopping: leave the run loop */
	EXIT_OUTCOME_FAIL,            /* unrecoverable: the VM was told to stop with an error */
};

enum exit_outcome vcpu_handle_exit(struct vcpu *vcpu);

/* Registers, segments, control registers and the bytes at RIP. */
void vcpu_dump_state(struct vcpu *vcpu, FILE *out);

#endif
