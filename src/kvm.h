/* The KVM system handle: /dev/kvm, its API version and the capabilities
 * kvmrun relies on, checked once at start-up, and the CPUID KVM supports.
 *
 * KVM_GET_SUPPORTED_CPUID runs CPUID for every leaf in the host kernel:
 * ~0.36 ms on the nested development host, where each CPUID traps. It
 * needs nothing but /dev/kvm, so kvm_open() starts it on a thread of its
 * own and the VM's creation (KVM_CREATE_VM, the memory slots) goes on
 * meanwhile; kvm_wait_cpuid() collects it (bench/README.md, "Snapshot
 * benchmark"). */
#ifndef KVMRUN_KVM_H
#define KVMRUN_KVM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

struct kvm {
	int fd;                                /* /dev/kvm */
	int vcpu_mmap_size;                    /* size of struct kvm_run mapping */
	unsigned max_vcpus;                    /* KVM_CAP_MAX_VCPUS */
	/* KVM_GET_SUPPORTED_CPUID: NULL until kvm_wait_cpuid() succeeds. */
	struct kvm_cpuid2 *supported_cpuid;
	bool has_exit_on_emulation_failure;    /* instruction bytes in internal errors */

	/* The query's thread, its result for kvm_wait_cpuid(), and whether
	 * it still has to be joined. Written by that thread only before it
	 * ends; read after the join. */
	pthread_t cpuid_thread;
	bool cpuid_pending;
	int cpuid_error;                       /* 0 or -errno */
	struct kvm_cpuid2 *cpuid_result;
};

/* Open `path` (normally /dev/kvm), check everything kvmrun needs and start
 * the supported-CPUID query. On failure returns -errno and writes a
 * one-line reason to `err`. */
int kvm_open(struct kvm *kvm, const char *path, char *err, size_t errlen);

/* Wait for the query kvm_open() started; then kvm->supported_cpuid is
 * set. Later calls return at once. Returns 0, or -errno with a one-line
 * reason in `err`. Call from the thread that opened `kvm`. */
int kvm_wait_cpuid(struct kvm *kvm, char *err, size_t errlen);

/* Also waits for the query, if nobody has. */
void kvm_close(struct kvm *kvm);

/* KVM_CHECK_EXTENSION on any KVM fd; 0 when absent. */
int kvm_check_extension(int fd, unsigned long cap);

#endif
