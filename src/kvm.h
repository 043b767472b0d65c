/* The KVM system handle: /dev/kvm, its API version and the capabilities
 * kvmrun relies on, checked once at start-up. */
#ifndef KVMRUN_KVM_H
#define KVMRUN_KVM_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>

struct kvm {
	int fd;                                /* /dev/kvm */
	int vcpu_mmap_size;                    /* size of struct kvm_run mapping */
	unsigned max_vcpus;                    /* KVM_CAP_MAX_VCPUS */
	struct kvm_cpuid2 *supported_cpuid;    /* KVM_GET_SUPPORTED_CPUID */
	bool has_exit_on_emulation_failure;    /* instruction bytes in internal errors */
};

/* Open `path` (normally /dev/kvm) and check everything kvmrun needs.
 * On failure returns -errno and writes a one-line reason to `err`. */
int kvm_open(struct kvm *kvm, const char *path, char *err, size_t errlen);
void kvm_close(struct kvm *kvm);

/* KVM_CHECK_EXTENSION on any KVM fd; 0 when absent. */
int kvm_check_extension(int fd, unsigned long cap);

#endif
