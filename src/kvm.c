#include "kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* Every capability the VMM depends on, with the reason, so a host that
 * lacks one is told exactly what is missing instead of failing later. */
static const struct {
	unsigned long cap;
	const char *name;
} required_caps[] = {
	{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
	{ KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
	{ KVM_CAP_PIT2, "KVM_CAP_PIT2" },
	{ KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
	{ KVM_CAP_SET_IDENTITY_MAP_ADDR, "KVM_CAP_SET_IDENTITY_MAP_ADDR" },
	{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
	{ KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE" },
	{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
	{ KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING" },
	{ KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD" },
	{ KVM_CAP_IRQFD, "KVM_CAP_IRQFD" },
};

int kvm_check_extension(int fd, unsigned long cap)
{
	int ret = ioctl(fd, KVM_CHECK_EXTENSION, cap);

	return ret < 0 ? 0 : ret;
}

/* KVM_GET_SUPPORTED_CPUID wants a buffer large enough up front and says
 * E2BIG otherwise; grow until it fits. */
static int get_supported_cpuid(int fd, struct kvm_cpuid2 **out)
{
	for (unsigned nent = 128; nent <= 4096; nent *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + nent * sizeof(c->entries[0]));

		if (!c)
			return -ENOMEM;
		c->nent = nent;
		if (ioctl(fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
			*out = c;
			return 0;
		}
		int err = errno;
		free(c);
		if (err != E2BIG)
			return -err;
	}
	return -E2BIG;
}

static void *cpuid_query_thread(void *arg)
{
	struct kvm *kvm = arg;

	kvm->cpuid_error = get_supported_cpuid(kvm->fd, &kvm->cpuid_result);
	return NULL;
}

int kvm_open(struct kvm *kvm, const char *path, char *err, size_t errlen)
{
	int ret, version;

	kvm->supported_cpuid = kvm->cpuid_result = NULL;
	kvm->cpuid_pending = false;
	kvm->cpuid_error = 0;
	kvm->fd = open(path, O_RDWR | O_CLOEXEC);
	if (kvm->fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return ret;
	}
	version = ioctl(kvm->fd, KVM_GET_API_VERSION, 0);
	if (version != KVM_API_VERSION) {
		snprintf(err, errlen, "%s: KVM_GET_API_VERSION is %d, kvmrun needs %d",
			 path, version, KVM_API_VERSION);
		ret = -ENOTSUP;
		goto close_fd;
	}
	for (size_t i = 0; i < sizeof(required_caps) / sizeof(required_caps[0]); i++) {
		if (!kvm_check_extension(kvm->fd, required_caps[i].cap)) {
			snprintf(err, errlen, "%s lacks %s, which kvmrun requires",
				 path, required_caps[i].name);
			ret = -ENOTSUP;
			goto close_fd;
		}
	}
	kvm->vcpu_mmap_size = ioctl(kvm->fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (kvm->vcpu_mmap_size < (int)sizeof(struct kvm_run)) {
		ret = kvm->vcpu_mmap_size < 0 ? -errno : -EINVAL;
		snprintf(err, errlen, "KVM_GET_VCPU_MMAP_SIZE: %s",
			 kvm->vcpu_mmap_size < 0 ? strerror(errno) : "too small");
		goto close_fd;
	}
	/* KVM_CAP_MAX_VCPUS may be absent on old hosts: NR_VCPUS is the
	 * recommended limit then (api.rst, KVM_CAP_NR_VCPUS). */
	kvm->max_vcpus = (unsigned)kvm_check_extension(kvm->fd, KVM_CAP_MAX_VCPUS);
	if (kvm->max_vcpus == 0)
		kvm->max_vcpus = (unsigned)kvm_check_extension(kvm->fd, KVM_CAP_NR_VCPUS);
	if (kvm->max_vcpus == 0)
		kvm->max_vcpus = 4;
	kvm->has_exit_on_emulation_failure =
		kvm_check_extension(kvm->fd, KVM_CAP_EXIT_ON_EMULATION_FAILURE) > 0;
	ret = pthread_create(&kvm->cpuid_thread, NULL, cpuid_query_thread, kvm);
	if (ret != 0) {
		snprintf(err, errlen, "starting the KVM_GET_SUPPORTED_CPUID thread: %s", strerror(ret));
		ret = -ret;
		goto close_fd;
	}
	kvm->cpuid_pending = true;
	return 0;

close_fd:
	close(kvm->fd);
	kvm->fd = -1;
	return ret;
}

int kvm_wait_cpuid(struct kvm *kvm, char *err, size_t errlen)
{
	if (kvm->cpuid_pending) {
		pthread_join(kvm->cpuid_thread, NULL);
		kvm->cpuid_pending = false;
		kvm->supported_cpuid = kvm->cpuid_result;
	}
	if (kvm->cpuid_error < 0) {
		snprintf(err, errlen, "KVM_GET_SUPPORTED_CPUID: %s", strerror(-kvm->cpuid_error));
		return kvm->cpuid_error;
	}
	return 0;
}

void kvm_close(struct kvm *kvm)
{
	char ignored[1];

	/* The thread writes into *kvm: it must be done before anything goes. */
	kvm_wait_cpuid(kvm, ignored, sizeof(ignored));
	free(kvm->supported_cpuid);
	kvm->supported_cpuid = kvm->cpuid_result = NULL;
	if (kvm->fd >= 0)
		close(kvm->fd);
	kvm->fd = -1;
}
