/* KVM's asynchronous page faults for guest RAM served by userfaultfd
 * (DESIGN.md principle 5; issue #6 item 4).
 *
 * The guest (guest/tests/async_pf.c, mode=apf) enables async PF delivered
 * as an interrupt (guest/lib/apf.c) and runs two CPL 3 tasks on its one
 * vCPU: task A reads 16 pages, 1 MiB apart, of a range only the uffd
 * back-end fills, while task B counts. The back-end's fault thread waits
 * 50 ms before filling each page, like a slow store. With async PF, KVM
 * answers A's access with 'page not present' instead of blocking the vCPU,
 * the guest parks A and runs B, and 'page ready' brings A back.
 *
 * A control run first does the same without enabling async PF: then each
 * access blocks the vCPU in KVM_RUN and B must not run at all.
 *
 * Reports (a) whether KVM delivered 'page not present' for userfaultfd-
 * missing memory on this host and (b) whether B ran while A waited.
 * Exits 77 (SKIP) without /dev/kvm or userfaultfd, or when the host KVM lacks async PF or
 * does not deliver it for such memory, naming what was missing; fails if
 * the host has the features but the guest does not see them, or if the
 * data is wrong. */
#include <stdint.h>
#include <stdio.h>
#include <sys/utsname.h>
#include <asm/kvm_para.h>

#include "cpuid.h"
#include "kvm.h"
#include "uffd_guest.h"
#include "vcpu.h"

#define SKIP             77
#define PAGES            16
#define FAULT_DELAY_US   50000
#define SIZE             (16ULL << 20)
#define GUEST_REGION     "base=0x4000000 size=0x1000000 pages=16 stride=0x100000"
#define GUEST_UNSUPPORTED   20   /* guest/tests/async_pf.c */
#define GUEST_NOT_DELIVERED 21

struct host_apf {
	bool feature_async_pf, feature_async_pf_int;
	int cap_async_pf, cap_async_pf_int;
};

/* What the host KVM offers: the PV feature bits in
 * KVM_GET_SUPPORTED_CPUID leaf 0x40000001 (what kvmrun can pass on, see
 * src/cpuid.h) and the capabilities. Returns -1 without /dev/kvm, -2 if
 * KVM_GET_SUPPORTED_CPUID failed. */
static int host_apf_query(struct host_apf *h)
{
	char err[256];
	struct kvm kvm;
	struct kvm_cpuid_entry2 *e;

	if (kvm_open(&kvm, "/dev/kvm", err, sizeof(err)) < 0) {
		fprintf(stderr, "SKIP: /dev/kvm not available (%s): async PF test not run\n", err);
		return -1;
	}
	if (kvm_wait_cpuid(&kvm, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		kvm_close(&kvm);
		return -2;
	}
	e = cpuid_find(kvm.supported_cpuid, 0x40000001, 0);
	h->feature_async_pf = e && (e->eax & (1u << KVM_FEATURE_ASYNC_PF));
	h->feature_async_pf_int = e && (e->eax & (1u << KVM_FEATURE_ASYNC_PF_INT));
	h->cap_async_pf = kvm_check_extension(kvm.fd, KVM_CAP_ASYNC_PF);
	h->cap_async_pf_int = kvm_check_extension(kvm.fd, KVM_CAP_ASYNC_PF_INT);
	kvm_close(&kvm);
	return 0;
}

int main(void)
{
	struct uffd_memory_options opts = {
		.disable_prefetch = true, .fault_delay_us = FAULT_DELAY_US,
	};
	struct uffd_memory_stats s = { 0 };
	struct host_apf h;
	struct utsname u;
	int status, query;

	query = host_apf_query(&h);
	if (query == -2)
		return 1;   /* KVM is there but refused the query: a failure */
	if (query < 0 || !uffd_guest_available())
		return SKIP;
	uname(&u);
	printf("host %s: KVM_GET_SUPPORTED_CPUID ASYNC_PF=%d ASYNC_PF_INT=%d, "
	       "KVM_CAP_ASYNC_PF=%d KVM_CAP_ASYNC_PF_INT=%d\n", u.release, h.feature_async_pf,
	       h.feature_async_pf_int, h.cap_async_pf, h.cap_async_pf_int);
	if (vcpu_setup_kick_signal() < 0)
		return 1;
	status = uffd_guest_run(96, "mode=block " GUEST_REGION, SIZE, 0, &opts, &s);
	if (status != 0 || s.fault_pages_copied != PAGES) {
		printf("FAIL: control run without async PF: status %d, %lu pages filled\n", status,
		       (unsigned long)s.fault_pages_copied);
		return 1;
	}
	status = uffd_guest_run(96, "mode=apf " GUEST_REGION, SIZE, 0, &opts, &s);
	printf("uffd: %lu faults served (%lu pages copied), first after %.1f ms\n",
	       (unsigned long)s.faults, (unsigned long)s.fault_pages_copied,
	       (double)s.first_fault_ns / 1e6);
	if (status < 0) {
		printf("FAIL: the machine could not be set up\n");
		return 1;
	}
	if (s.fault_pages_copied != PAGES) {
		printf("FAIL: %lu pages filled by faults, expected the %d the guest read\n",
		       (unsigned long)s.fault_pages_copied, PAGES);
		return 1;
	}
	switch (status) {
	case 0:
		printf("PASS: (a) KVM delivered 'page not present' for userfaultfd-missing memory; "
		       "(b) task B ran while task A waited\n");
		return 0;
	case GUEST_UNSUPPORTED:
		if (h.feature_async_pf && h.feature_async_pf_int) {
			printf("FAIL: the host KVM supports async PF as an interrupt but the guest "
			       "could not enable it (see its 'apf: unavailable' line)\n");
			return 1;
		}
		printf("SKIP: the host KVM lacks %s in KVM_GET_SUPPORTED_CPUID leaf 0x40000001\n",
		       !h.feature_async_pf ? "KVM_FEATURE_ASYNC_PF" : "KVM_FEATURE_ASYNC_PF_INT");
		fprintf(stderr, "SKIP: host KVM has no async PF as an interrupt\n");
		return SKIP;
	case GUEST_NOT_DELIVERED:
		printf("SKIP: (a) KVM on host kernel %s accepted async PF (MSR_KVM_ASYNC_PF_EN with "
		       "DELIVERY_AS_INT) but delivered no 'page not present' for userfaultfd-missing "
		       "memory: the vCPU blocked in KVM_RUN until each page was filled; (b) not "
		       "testable\n", u.release);
		fprintf(stderr, "SKIP: no async 'page not present' delivered on this host\n");
		return SKIP;
	default:
		printf("FAIL: guest exit status %d\n", status);
		return 1;
	}
}
