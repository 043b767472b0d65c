/* The vCPU thread: run loop, execution modes, requests and kicks.
 * The protocol is in vcpu.h and docs/vcpu-kicks.md; the Promela model in
 * tests/model/vcpu_kick.pml names the lines below that each step stands for. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <x86intrin.h>

#include "log.h"
#include "vcpu.h"
#include "vcpu_exit.h"
#include "vm.h"

/* The kvm_run page of the vCPU running on this thread, for the kick
 * signal's handler: a handler gets no context argument, and a thread-local
 * is the one place it can find its own vCPU without a global. NULL on
 * threads that are not vCPUs. */
static __thread struct kvm_run *this_thread_run;

int vcpu_kick_signal(void)
{
	return SIGRTMIN;
}

/* Async-signal-safe: one store to the shared page. KVM checks
 * immediate_exit on entry to KVM_RUN and returns -EINTR without entering
 * the guest (api.rst, "immediate_exit"), which closes the window between
 * the last request check and the ioctl. A signal inside KVM_RUN makes it
 * return -EINTR by itself. */
static void kick_handler(int sig)
{
	(void)sig;
	if (this_thread_run)
		this_thread_run->immediate_exit = 1;
}

int vcpu_setup_kick_signal(void)
{
	struct sigaction sa = { .sa_handler = kick_handler };
	sigset_t set;

	sigemptyset(&sa.sa_mask);
	if (sigaction(vcpu_kick_signal(), &sa, NULL) < 0)
		return log_syscall_error("sigaction(kick signal)", errno);
	sigemptyset(&set);
	sigaddset(&set, vcpu_kick_signal());
	return -pthread_sigmask(SIG_BLOCK, &set, NULL);
}

static void unblock_kick_signal(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, vcpu_kick_signal());
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

void vcpu_kick(struct vcpu *vcpu, unsigned requests)
{
	int expected = VCPU_MODE_IN_GUEST;

	/* [K1] post the request ... */
	atomic_fetch_or(&vcpu->requests, requests);
	/* [K2] ... then look at the mode. Both seq_cst: see vcpu.h. Only the
	 * kicker that moves IN_GUEST to EXITING signals; the vCPU's own
	 * thread never needs to (it checks requests before re-entering). */
	if (atomic_compare_exchange_strong(&vcpu->mode, &expected, VCPU_MODE_EXITING) &&
	    !pthread_equal(vcpu->self, pthread_self())) {
		/* IN_GUEST was stored after `self`: the CAS made it visible. */
		atomic_fetch_add_explicit(&vcpu->kicks_signalled, 1, memory_order_relaxed);
		pthread_kill(vcpu->self, vcpu_kick_signal());
	}
}

static inline long kvm_run_ioctl(int fd);

/* api.rst, KVM_RUN: a port or MMIO exit's instruction completes only when
 * KVM_RUN is entered again, and "the pending state of the operation is not
 * preserved in state which is visible to userspace". A pause may be
 * followed by a snapshot, so before parking, enter once with immediate_exit
 * set: KVM completes the instruction and returns -EINTR without running
 * any guest code. Harmless when nothing is pending. */
static void complete_pending_exit(struct vcpu *vcpu)
{
	vcpu->run->immediate_exit = 1;
	(void)kvm_run_ioctl(vcpu->fd);
	vcpu->run->immediate_exit = 0;
}

/* Act on the posted requests. Returns false when the loop must end. */
static bool handle_requests(struct vcpu *vcpu, unsigned requests)
{
	struct vm *vm = vcpu->vm;

	if (requests & VCPU_REQUEST_STOP)
		return false;  /* the bit stays set: every later check sees it too */
	atomic_fetch_and(&vcpu->requests, ~(requests & ~VCPU_REQUEST_STOP));
	if (requests & VCPU_REQUEST_DUMP_STATE) {
		fprintf(stderr, "kvmrun: vCPU %u state:\n", vcpu->index);
		vcpu_dump_state(vcpu, stderr);
	}
	if ((requests & VCPU_REQUEST_HOOK_MASK) && vm->request_hook)
		vm->request_hook(vm->request_hook_ctx, vcpu, requests & VCPU_REQUEST_HOOK_MASK);
	if (requests & VCPU_REQUEST_PAUSE) {
		if (vcpu->entered)
			complete_pending_exit(vcpu);
		vm_park_vcpu(vm, vcpu);
	}
	return true;
}

/* KVM_RUN as a bare system call: the libc wrapper and errno's TLS lookup
 * cost more than the rest of a port exit's handling together. Returns 0 or
 * -errno. */
static inline long kvm_run_ioctl(int fd)
{
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "0"((long)SYS_ioctl), "D"((long)fd), "S"((long)KVM_RUN), "d"(0L)
			 : "rcx", "r11", "memory");
	return ret;
}

static void *vcpu_thread_main(void *arg)
{
	struct vcpu *vcpu = arg;
	struct vm *vm = vcpu->vm;
	struct kvm_run *run = vcpu->run;

	vcpu->self = pthread_self();
	this_thread_run = run;
	unblock_kick_signal();
	for (;;) {
		/* [V1] publish "about to enter", then [V2] the last check. */
		atomic_store(&vcpu->mode, VCPU_MODE_IN_GUEST);
		unsigned requests = atomic_load(&vcpu->requests);
		if (requests) {
			atomic_store(&vcpu->mode, VCPU_MODE_OUTSIDE_GUEST);
			if (!handle_requests(vcpu, requests))
				break;
			continue;
		}
		if (__builtin_expect(!vcpu->entered, 0)) {
			vcpu->entered = true;
			if (vm->first_entry_hook)
				vm->first_entry_hook(vm->first_entry_ctx, vcpu);
		}
		/* [V3] enter; a kick since V1 has set immediate_exit or is a
		 * pending signal, so this returns at once if one came. */
		long ret = kvm_run_ioctl(vcpu->fd);
		/* [V4] withdraw, then re-arm: a handler that runs after this
		 * store belongs to a kick whose request V2 will see. */
		atomic_store(&vcpu->mode, VCPU_MODE_OUTSIDE_GUEST);
		run->immediate_exit = 0;
		if (ret < 0) {
			if (ret == -EINTR || ret == -EAGAIN)
				continue;
			log_syscall_error("KVM_RUN", (int)-ret);
			vm_request_stop(vm, VM_STOP_VMM_ERROR, 0);
			break;
		}
		uint64_t start = __rdtsc();
		uint32_t basic = run->exit_reason;
		enum exit_outcome outcome = vcpu_handle_exit(vcpu);

		exit_stats_record(&vcpu->stats, basic, __rdtsc() - start);
		if (outcome == EXIT_OUTCOME_STOP || outcome == EXIT_OUTCOME_FAIL)
			break;
		/* REENTER and CHECK_REQUESTS both go through V1/V2: the check
		 * is one load, and it must happen before every entry anyway. */
	}
	this_thread_run = NULL;
	vm_vcpu_exited(vm, vcpu);
	return NULL;
}

int vcpu_start(struct vcpu *vcpu)
{
	char name[16];
	int ret;

	vm_vcpu_starting(vcpu->vm, vcpu);
	ret = pthread_create(&vcpu->thread, NULL, vcpu_thread_main, vcpu);
	if (ret != 0) {
		vm_vcpu_exited(vcpu->vm, vcpu);
		return log_syscall_error("pthread_create(vCPU)", ret);
	}
	atomic_store(&vcpu->thread_started, true);
	snprintf(name, sizeof(name), "vcpu%u", vcpu->index);
	pthread_setname_np(vcpu->thread, name);
	return 0;
}

void vcpu_run_here(struct vcpu *vcpu)
{
	vm_vcpu_starting(vcpu->vm, vcpu);
	vcpu_thread_main(vcpu);
	/* The loop unblocked the kick signal for this thread: block it again,
	 * the thread goes back to being an ordinary VMM thread. */
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, vcpu_kick_signal());
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

void vcpu_join(struct vcpu *vcpu)
{
	if (atomic_load(&vcpu->thread_started))
		pthread_join(vcpu->thread, NULL);
	atomic_store(&vcpu->thread_started, false);
}
