#include "vcpu.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "boot/cpu_state.h"
#include "cpuid.h"
#include "log.h"
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
	return 0;

close_fd:
	close(vcpu->fd);
	vcpu->fd = -1;
	return ret;
}

int vcpu_init_for_boot(struct vcpu *vcpu)
{
	int ret = set_cpuid(vcpu);

	if (ret == 0)
		ret = set_boot_msrs(vcpu);
	if (ret == 0)
		ret = set_lapic_lint(vcpu);
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
