/* One vCPU's architectural state as KVM holds it: everything a restored
 * vCPU needs to continue at the same instruction with the same registers,
 * FPU/SSE/AVX contents, pending events, timers and MSRs.
 *
 * Saved from a vCPU that is out of KVM_RUN (parked, and its last port or
 * MMIO exit completed: vcpu_run.c), in the order Firecracker and Cloud
 * Hypervisor use and api.rst implies: MP state first (KVM_GET_MP_STATE
 * runs kvm_apic_accept_events(), which may change LAPIC and vCPU state),
 * vCPU events last (the other GETs may change what is pending). Restored
 * CPUID first (KVM checks later state against it), then MP state, REGS,
 * SREGS (EFER, CR0/CR4, APIC base: before the LAPIC), XSAVE, XCRs, debug
 * registers, LAPIC, MSRs (after the LAPIC: the TSC deadline MSR is only
 * accepted while the LVT timer is in TSC-deadline mode), vCPU events.
 *
 * Raw kernel structures are stored as they are: a snapshot is restored
 * on the same host kernel and CPU model (docs/snapshots.md). */
#ifndef KVMRUN_SNAPSHOT_VCPU_STATE_H
#define KVMRUN_SNAPSHOT_VCPU_STATE_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct snap_writer;
struct snap_reader;
struct snap_timing;

/* What the host offers, looked up once per save or restore. */
struct vcpu_state_caps {
	bool sregs2;                     /* KVM_CAP_SREGS2: PDPTRs too */
	uint32_t xsave_size;             /* KVM_CAP_XSAVE2 size, or 4096 (KVM_GET_XSAVE) */
	bool xsave2;
	bool xcrs;
	struct kvm_msr_list *msr_list;   /* KVM_GET_MSR_INDEX_LIST + MTRRs (owned) */
};

/* Fill caps from /dev/kvm and the VM fd. Returns 0 or -errno (logged). */
int vcpu_state_caps_init(struct vcpu_state_caps *caps, int kvm_fd, int vm_fd);
void vcpu_state_caps_free(struct vcpu_state_caps *caps);

struct vcpu_state {
	struct kvm_cpuid2 *cpuid;        /* malloc'd, nent entries */
	struct kvm_mp_state mp_state;
	struct kvm_regs regs;
	bool has_sregs2;
	struct kvm_sregs sregs;
	struct kvm_sregs2 sregs2;
	struct kvm_xsave *xsave;         /* malloc'd, xsave_size bytes */
	uint32_t xsave_size;
	bool has_xcrs;
	struct kvm_xcrs xcrs;
	struct kvm_debugregs debugregs;
	struct kvm_lapic_state lapic;
	struct kvm_msrs *msrs;           /* malloc'd, nmsrs entries */
	uint32_t tsc_khz;                /* 0: unknown */
	struct kvm_vcpu_events events;
};

/* Read every piece from the vCPU `fd` (not in KVM_RUN); each ioctl group
 * is timed into `t` as "vcpuN <group>". Returns 0 or -errno (logged,
 * naming the ioctl). */
int vcpu_state_save(struct vcpu_state *s, int fd, unsigned index, const struct vcpu_state_caps *caps,
		    struct snap_timing *t);

/* Put it back into a freshly created vCPU, in KVM's order (above).
 * Returns 0 or -errno (logged, naming the ioctl or the refused MSR). */
int vcpu_state_restore(const struct vcpu_state *s, int fd, unsigned index,
		       const struct vcpu_state_caps *caps, struct snap_timing *t);

/* Sections SNAP_SEC_VCPU_*, instance `index`. */
void vcpu_state_write(const struct vcpu_state *s, unsigned index, struct snap_writer *w);
/* Returns 0, or -EINVAL with a one-line reason in err (a missing section,
 * a size that does not match this kernel's structures). */
int vcpu_state_read(struct vcpu_state *s, unsigned index, const struct snap_reader *r,
		    const struct vcpu_state_caps *caps, char *err, size_t errlen);

void vcpu_state_free(struct vcpu_state *s);

#endif
