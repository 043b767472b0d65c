/* A virtual CPU: its KVM fd, the shared kvm_run page, its thread and run
 * loop, its requests and its exit statistics.
 *
 * Kicks (docs/vcpu-kicks.md has the full protocol and the argument):
 * a kicker posts a request bit, then, if the vCPU's mode says it is in or
 * about to enter KVM_RUN, sends it the kick signal. The vCPU publishes
 * VCPU_MODE_IN_GUEST before its last request check; both sides use
 * sequentially consistent atomics, so either the vCPU sees the request
 * before entering, or the kicker sees IN_GUEST and signals. The signal's
 * handler sets kvm_run->immediate_exit, so a signal that lands between
 * the check and the ioctl still makes KVM_RUN return at once; one that
 * lands inside KVM_RUN makes it return -EINTR. */
#ifndef KVMRUN_VCPU_H
#define KVMRUN_VCPU_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "boot/boot.h"
#include "exit_stats.h"

struct vm;

enum vcpu_mode {
	/* In the VMM: handling an exit or a request, parked, or not yet
	 * started. A kick needs no signal: the check before the next
	 * KVM_RUN will see the request. */
	VCPU_MODE_OUTSIDE_GUEST,
	/* Committed to KVM_RUN: published before the last request check and
	 * withdrawn after KVM_RUN returns. A kick must signal. */
	VCPU_MODE_IN_GUEST,
	/* A kicker already signalled this entry; later kickers need not. */
	VCPU_MODE_EXITING,
};

enum vcpu_request {
	VCPU_REQUEST_STOP = 1u << 0,        /* leave the run loop for good */
	VCPU_REQUEST_PAUSE = 1u << 1,       /* park until vm_resume() */
	VCPU_REQUEST_DUMP_STATE = 1u << 2,  /* print registers to stderr */
};
/* Bits 16..31 are for request kinds defined by whoever set
 * vm->request_hook (tests, and later features); the vCPU hands them over. */
#define VCPU_REQUEST_HOOK_SHIFT 16
#define VCPU_REQUEST_HOOK_MASK  0xffff0000u

struct vcpu {
	struct vm *vm;
	unsigned index;                 /* also the APIC ID */
	int fd;
	struct kvm_run *run;            /* shared with KVM, run_size bytes */
	size_t run_size;
	pthread_t thread;               /* for join; written by the creator */
	pthread_t self;                 /* for kicks; written by the thread itself
					 * before it first publishes IN_GUEST */
	atomic_bool thread_started;
	atomic_int mode;                /* enum vcpu_mode */
	atomic_uint requests;           /* enum vcpu_request bits */
	atomic_uint_fast64_t kicks_signalled;  /* kicks that needed a signal */
	bool entered;                   /* has run KVM_RUN into the guest (vCPU thread) */
	struct exit_stats stats;
};

/* The real-time signal used for kicks. */
int vcpu_kick_signal(void);

/* Install the kick signal's handler and block the signal in the calling
 * thread, so that only vCPU threads (which unblock it) ever take it. Call
 * once, from main, before creating any thread. */
int vcpu_setup_kick_signal(void);

/* KVM_CREATE_VCPU and map kvm_run. */
int vcpu_create(struct vcpu *vcpu, struct vm *vm, unsigned index);

/* What a booted vCPU needs before it runs: CPUID, the MSRs a BIOS sets and
 * the LAPIC LINT pins. A restored vCPU gets all of them from the snapshot
 * instead (it skips this: ~0.1 ms a vCPU on the development host). */
int vcpu_init_for_boot(struct vcpu *vcpu);
void vcpu_destroy(struct vcpu *vcpu);

/* Put the boot vCPU in the loader's entry state. */
int vcpu_set_boot_state(struct vcpu *vcpu, const struct boot_entry *entry);

int vcpu_start(struct vcpu *vcpu);
void vcpu_join(struct vcpu *vcpu);

/* Run the vCPU's loop on the calling thread until the VM stops (the boot
 * vCPU on main's thread: no thread hand-off before the first guest
 * instruction or after the last). The thread must have the kick signal
 * blocked, as every kvmrun thread does from the start. */
void vcpu_run_here(struct vcpu *vcpu);

/* Post `requests` (enum vcpu_request bits, or hook bits) and make sure the
 * vCPU acts on them before it runs guest code again. Safe from any
 * thread, including the vCPU's own. */
void vcpu_kick(struct vcpu *vcpu, unsigned requests);

#endif
