/* A virtual CPU: its KVM fd, the shared kvm_run page, its thread and run
 * loop, and its exit statistics.
 *
 * Kicks: a kicker sets a bit in `requests`, then sends the kick signal to
 * the vCPU thread. The signal is blocked in the thread's own mask and
 * unblocked only inside KVM_RUN (KVM_SET_SIGNAL_MASK), so:
 *  - inside KVM_RUN the signal forces an exit (-EINTR);
 *  - between the loop's request check and the ioctl the signal stays
 *    pending and KVM_RUN returns -EINTR before entering the guest;
 * hence a request is always seen before the guest runs again. */
#ifndef KVMRUN_VCPU_H
#define KVMRUN_VCPU_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "boot/boot.h"
#include "exit_stats.h"

struct vm;

enum vcpu_request {
	VCPU_REQUEST_STOP = 1u << 0,   /* leave the run loop for good */
};

struct vcpu {
	struct vm *vm;
	unsigned index;                 /* also the APIC ID */
	int fd;
	struct kvm_run *run;            /* shared with KVM, vcpu_mmap_size bytes */
	size_t run_size;
	pthread_t thread;
	atomic_bool thread_started;     /* read by kickers on other threads */
	atomic_uint requests;           /* enum vcpu_request bits */
	struct exit_stats stats;
};

/* The real-time signal used for kicks; blocked in every kvmrun thread. */
int vcpu_kick_signal(void);

/* Install the kick signal handler and block the kick signal in the calling
 * thread (threads created afterwards inherit the mask). Call once, from
 * main, before creating any vCPU thread. */
int vcpu_setup_kick_signal(void);

/* KVM_CREATE_VCPU, map kvm_run, set CPUID, boot MSRs and LAPIC LINT pins. */
int vcpu_create(struct vcpu *vcpu, struct vm *vm, unsigned index);
void vcpu_destroy(struct vcpu *vcpu);

/* Put the boot vCPU in the loader's entry state. */
int vcpu_set_boot_state(struct vcpu *vcpu, const struct boot_entry *entry);

int vcpu_start(struct vcpu *vcpu);
void vcpu_join(struct vcpu *vcpu);

/* Post `request` and make sure the vCPU acts on it before it runs guest
 * code again. Safe from any thread, including the vCPU's own. */
void vcpu_kick(struct vcpu *vcpu, enum vcpu_request request);

#endif
