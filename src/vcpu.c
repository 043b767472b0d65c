#include "vcpu.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <x86intrin.h>

#include "boot/cpu_state.h"
#include "cpuid.h"
#include "log.h"
#include "vcpu_exit.h"
#include "vm.h"

#define MSR_IA32_MISC_ENABLE        0x1a0
#define MISC_ENABLE_FAST_STRING     (1ULL << 0)
#define MSR_MTRR_DEF_TYPE           0x2ff
#define MTRR_DEF_TYPE_ENABLE_WB     ((1ULL << 11) | 6)  /* MTRRs on, default write-back */

#define APIC_LVT0                   0x350
#define APIC_LVT1                   0x360
#define APIC_DELIVERY_MODE_MASK     (7u << 8)
#define APIC_MODE_NMI               (4u << 8)
#define APIC_MODE_EXTINT            (7u << 8)

int vcpu_kick_signal(void)
{
	return SIGRTMIN;
}

/* The handler does nothing: the signal's only job is to make KVM_RUN
 * return -EINTR. It must exist (SIG_IGN signals are discarded and would
 * not interrupt KVM_RUN). */
static void kick_handler(int sig)
{
	(void)sig;
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

/* KVM_RUN runs with the thread's mask minus the kick signal. */
static int set_run_signal_mask(struct vcpu *vcpu)
{
	/* The kernel's sigset_t is 64 bits on x86-64; the ioctl takes exactly
	 * that, after the header (a union, not a struct with a flexible array
	 * member in the middle: that is a GNU extension). */
	union {
		struct kvm_signal_mask hdr;
		uint8_t bytes[sizeof(struct kvm_signal_mask) + 8];
	} mask = { .hdr.len = 8 };
	sigset_t set;

	if (pthread_sigmask(SIG_BLOCK, NULL, &set) != 0)
		return -EINVAL;
	sigdelset(&set, vcpu_kick_signal());
	memcpy(mask.hdr.sigset, &set, 8);
	if (ioctl(vcpu->fd, KVM_SET_SIGNAL_MASK, &mask) < 0)
		return log_syscall_error("KVM_SET_SIGNAL_MASK", errno);
	return 0;
}

static int set_cpuid(struct vcpu *vcpu)
{
	struct kvm_cpuid2 *cpuid;
	int ret = cpuid_build(vcpu->vm->kvm->supported_cpuid, vcpu->index, vcpu->vm->nr_vcpus, &cpuid);

	if (ret < 0)
		return log_syscall_error("building CPUID", -ret);
	if (ioctl(vcpu->fd, KVM_SET_CPUID2, cpuid) < 0)
		ret = log_syscall_error("KVM_SET_CPUID2", errno);
	free(cpuid);
	return ret;
}

/* MSRs a PC BIOS would have set before handing over. */
static int set_boot_msrs(struct vcpu *vcpu)
{
	static const struct kvm_msr_entry boot_msrs[] = {
		{ .index = MSR_IA32_MISC_ENABLE, .data = MISC_ENABLE_FAST_STRING },
		{ .index = MSR_MTRR_DEF_TYPE, .data = MTRR_DEF_TYPE_ENABLE_WB },
	};
	union {
		struct kvm_msrs hdr;
		uint8_t bytes[sizeof(struct kvm_msrs) + sizeof(boot_msrs)];
	} msrs = { .hdr.nmsrs = 2 };

	memcpy(msrs.hdr.entries, boot_msrs, sizeof(boot_msrs));
	int ret = ioctl(vcpu->fd, KVM_SET_MSRS, &msrs);

	if (ret < 0)
		return log_syscall_error("KVM_SET_MSRS", errno);
	if (ret != 2) {
		log_error("KVM_SET_MSRS: MSR 0x%x was refused", boot_msrs[ret].index);
		return -EINVAL;
	}
	return 0;
}

/* As a BIOS does (MP spec 1.4 §3.6.2 virtual wire mode): LINT0 takes the
 * PIC's ExtINT, LINT1 takes NMI. */
static int set_lapic_lint(struct vcpu *vcpu)
{
	struct kvm_lapic_state lapic;
	uint32_t lvt;

	if (ioctl(vcpu->fd, KVM_GET_LAPIC, &lapic) < 0)
		return log_syscall_error("KVM_GET_LAPIC", errno);
	memcpy(&lvt, &lapic.regs[APIC_LVT0], 4);
	lvt = (lvt & ~APIC_DELIVERY_MODE_MASK) | APIC_MODE_EXTINT;
	memcpy(&lapic.regs[APIC_LVT0], &lvt, 4);
	memcpy(&lvt, &lapic.regs[APIC_LVT1], 4);
	lvt = (lvt & ~APIC_DELIVERY_MODE_MASK) | APIC_MODE_NMI;
	memcpy(&lapic.regs[APIC_LVT1], &lvt, 4);
	if (ioctl(vcpu->fd, KVM_SET_LAPIC, &lapic) < 0)
		return log_syscall_error("KVM_SET_LAPIC", errno);
	return 0;
}

int vcpu_create(struct vcpu *vcpu, struct vm *vm, unsigned index)
{
	int ret;

	memset(vcpu, 0, sizeof(*vcpu));
	vcpu->vm = vm;
	vcpu->index = index;
	vcpu->fd = ioctl(vm->fd, KVM_CREATE_VCPU, (unsigned long)index);
	if (vcpu->fd < 0)
		return log_syscall_error("KVM_CREATE_VCPU", errno);
	vcpu->run_size = (size_t)vm->kvm->vcpu_mmap_size;
	vcpu->run = mmap(NULL, vcpu->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED) {
		vcpu->run = NULL;
		ret = log_syscall_error("mmap(kvm_run)", errno);
		goto close_fd;
	}
	ret = set_cpuid(vcpu);
	if (ret < 0)
		goto unmap_run;
	ret = set_boot_msrs(vcpu);
	if (ret < 0)
		goto unmap_run;
	ret = set_lapic_lint(vcpu);
	if (ret < 0)
		goto unmap_run;
	return 0;

unmap_run:
	munmap(vcpu->run, vcpu->run_size);
	vcpu->run = NULL;
close_fd:
	close(vcpu->fd);
	vcpu->fd = -1;
	return ret;
}

void vcpu_destroy(struct vcpu *vcpu)
{
	if (vcpu->run)
		munmap(vcpu->run, vcpu->run_size);
	if (vcpu->fd >= 0)
		close(vcpu->fd);
	vcpu->run = NULL;
	vcpu->fd = -1;
}

int vcpu_set_boot_state(struct vcpu *vcpu, const struct boot_entry *entry)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;

	if (ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0)
		return log_syscall_error("KVM_GET_SREGS", errno);
	memset(&regs, 0, sizeof(regs));
	boot_entry_to_cpu_state(entry, &regs, &sregs);
	if (ioctl(vcpu->fd, KVM_SET_SREGS, &sregs) < 0)
		return log_syscall_error("KVM_SET_SREGS", errno);
	if (ioctl(vcpu->fd, KVM_SET_REGS, &regs) < 0)
		return log_syscall_error("KVM_SET_REGS", errno);
	return 0;
}

/* A kick that arrived while the signal was blocked is left pending after
 * KVM_RUN returns -EINTR (KVM restores our mask, in which it is blocked).
 * Take it off so the next KVM_RUN does not return at once again. */
static void consume_pending_kick(void)
{
	static const struct timespec no_wait = { 0, 0 };
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, vcpu_kick_signal());
	while (sigtimedwait(&set, NULL, &no_wait) > 0)
		;
}

static void *vcpu_thread_main(void *arg)
{
	struct vcpu *vcpu = arg;
	struct vm *vm = vcpu->vm;

	while (!(atomic_load_explicit(&vcpu->requests, memory_order_acquire) & VCPU_REQUEST_STOP)) {
		if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				consume_pending_kick();
				continue;
			}
			log_syscall_error("KVM_RUN", errno);
			vm_request_stop(vm, VM_STOP_VMM_ERROR, 0);
			break;
		}
		uint64_t start = __rdtsc();
		uint32_t basic = vcpu->run->exit_reason;
		enum exit_outcome outcome = vcpu_handle_exit(vcpu);

		exit_stats_record(&vcpu->stats, basic, __rdtsc() - start);
		if (outcome == EXIT_OUTCOME_STOP || outcome == EXIT_OUTCOME_FAIL)
			break;
		/* EXIT_OUTCOME_REENTER and _CHECK_REQUESTS both go back through
		 * the request check: one load, and it keeps the loop simple. */
	}
	return NULL;
}

int vcpu_start(struct vcpu *vcpu)
{
	char name[16];
	int ret = set_run_signal_mask(vcpu);

	if (ret < 0)
		return ret;
	ret = pthread_create(&vcpu->thread, NULL, vcpu_thread_main, vcpu);
	if (ret != 0)
		return log_syscall_error("pthread_create(vCPU)", ret);
	vcpu->thread_started = true;
	snprintf(name, sizeof(name), "vcpu%u", vcpu->index);
	pthread_setname_np(vcpu->thread, name);
	return 0;
}

void vcpu_join(struct vcpu *vcpu)
{
	if (vcpu->thread_started)
		pthread_join(vcpu->thread, NULL);
	vcpu->thread_started = false;
}

void vcpu_kick(struct vcpu *vcpu, enum vcpu_request request)
{
	atomic_fetch_or_explicit(&vcpu->requests, request, memory_order_release);
	if (vcpu->thread_started && !pthread_equal(vcpu->thread, pthread_self()))
		pthread_kill(vcpu->thread, vcpu_kick_signal());
}
