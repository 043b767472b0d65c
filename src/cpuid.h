/* Per-vCPU CPUID, built from what KVM supports (KVM_GET_SUPPORTED_CPUID):
 * the vCPU's APIC ID, a topology of nr_cpus single-threaded cores in one
 * package (leaves 0x1, 0x4, 0xB, 0x1F; AMD 0x80000008, 0x8000001E), the
 * hypervisor bit, x2APIC, and KVM's paravirtual leaves (0x40000000) with
 * the PV features kvmrun offers, limited to those the host supports. */
#ifndef KVMRUN_CPUID_H
#define KVMRUN_CPUID_H

#include <linux/kvm.h>

/* The KVM paravirtual features kvmrun offers guests when the host has them
 * (Documentation/virt/kvm/x86/cpuid.rst). */
#define CPUID_KVM_PV_FEATURES                                                   \
	((1u << KVM_FEATURE_CLOCKSOURCE) | (1u << KVM_FEATURE_NOP_IO_DELAY) |   \
	 (1u << KVM_FEATURE_CLOCKSOURCE2) | (1u << KVM_FEATURE_ASYNC_PF) |      \
	 (1u << KVM_FEATURE_STEAL_TIME) | (1u << KVM_FEATURE_PV_EOI) |          \
	 (1u << KVM_FEATURE_PV_TLB_FLUSH) | (1u << KVM_FEATURE_PV_SEND_IPI) |   \
	 (1u << KVM_FEATURE_PV_SCHED_YIELD) | (1u << KVM_FEATURE_ASYNC_PF_INT) | \
	 (1u << KVM_FEATURE_CLOCKSOURCE_STABLE_BIT))

/* Allocate and fill the CPUID table of vCPU `index` (its APIC ID) in a VM of
 * `nr_cpus` vCPUs. Returns 0 or -errno; the caller frees *out. Pure. */
int cpuid_build(const struct kvm_cpuid2 *supported, unsigned index, unsigned nr_cpus,
		struct kvm_cpuid2 **out);

/* The entry for (function, index), or NULL. `index` is ignored for leaves
 * without KVM_CPUID_FLAG_SIGNIFCANT_INDEX. */
struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *cpuid, unsigned function, unsigned index);

/* The host CPU's own CPUID leaf (subleaf 0), executed here. */
static inline void cpuid_host(unsigned leaf, unsigned *eax, unsigned *ebx, unsigned *ecx,
			      unsigned *edx)
{
	__asm__ volatile("cpuid" : "=a"(*eax), "=b"(*ebx), "=c"(*ecx), "=d"(*edx) : "0"(leaf), "2"(0));
}

#endif
