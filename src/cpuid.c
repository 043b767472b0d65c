#include "cpuid.h"

#include <asm/kvm_para.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "exit_reason.h"

#define LEAF1_ECX_X2APIC      (1u << 21)
#define LEAF1_ECX_HYPERVISOR  (1u << 31)
#define LEAF1_EDX_HTT         (1u << 28)
#define EXT1_ECX_CMP_LEGACY   (1u << 1)

/* Topology level types in leaves 0xB/0x1F ECX[15:8] (SDM vol. 2A, CPUID). */
#define TOPO_LEVEL_INVALID 0
#define TOPO_LEVEL_SMT     1
#define TOPO_LEVEL_CORE    2

/* Extra entries we may add: leaf 0xB and 0x1F with 3 subleaves each. */
#define CPUID_EXTRA_ENTRIES 8

struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *cpuid, unsigned function, unsigned index)
{
	for (unsigned i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

		if (e->function != function)
			continue;
		if (!(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e->index == index)
			return e;
	}
	return NULL;
}

/* Bits needed to number `n` items: ceil(log2(n)). */
static unsigned id_bits(unsigned n)
{
	unsigned bits = 0;

	while ((1u << bits) < n)
		bits++;
	return bits;
}

/* Drop every entry of `function`, then append our own subleaves for an
 * extended topology leaf (0xB or 0x1F): SMT (1 thread per core) and core
 * (nr_cpus cores per package), then the invalid terminator. */
static void set_topology_leaf(struct kvm_cpuid2 *c, unsigned function, unsigned apic_id,
			      unsigned nr_cpus)
{
	unsigned out = 0;

	for (unsigned i = 0; i < c->nent; i++)
		if (c->entries[i].function != function)
			c->entries[out++] = c->entries[i];
	c->nent = out;

	const struct { uint32_t shift, count, type; } levels[3] = {
		{ 0, 1, TOPO_LEVEL_SMT },
		{ id_bits(nr_cpus), nr_cpus, TOPO_LEVEL_CORE },
		{ 0, 0, TOPO_LEVEL_INVALID },
	};
	for (unsigned sub = 0; sub < 3; sub++) {
		c->entries[c->nent++] = (struct kvm_cpuid_entry2){
			.function = function,
			.index = sub,
			.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
			.eax = levels[sub].shift,
			.ebx = levels[sub].count,
			.ecx = (levels[sub].type << 8) | sub,
			.edx = apic_id,
		};
	}
}

static void set_cache_topology(struct kvm_cpuid2 *c, unsigned nr_cpus)
{
	for (unsigned i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		unsigned level, sharing;

		if (e->function != 4 || (e->eax & 0x1f) == 0)
			continue;
		/* EAX[31:26]: cores per package - 1; EAX[25:14]: threads sharing
		 * this cache - 1. L1/L2 are per core, L3 is shared by all. */
		level = (e->eax >> 5) & 7;
		sharing = level >= 3 ? nr_cpus - 1 : 0;
		e->eax &= 0x3fff;
		e->eax |= ((nr_cpus - 1) & 0x3f) << 26;
		e->eax |= (sharing & 0xfff) << 14;
	}
}

int cpuid_build(const struct kvm_cpuid2 *supported, unsigned index, unsigned nr_cpus,
		struct kvm_cpuid2 **out)
{
	struct kvm_cpuid2 *c;
	struct kvm_cpuid_entry2 *e;
	enum exit_hw_vendor vendor = EXIT_HW_UNKNOWN;
	unsigned max_basic = 0;
	size_t bytes;

	if (nr_cpus == 0 || index >= nr_cpus || nr_cpus > 255)
		return -EINVAL;
	bytes = sizeof(*c) + (supported->nent + CPUID_EXTRA_ENTRIES) * sizeof(c->entries[0]);
	c = calloc(1, bytes);
	if (!c)
		return -ENOMEM;
	c->nent = supported->nent;
	memcpy(c->entries, supported->entries, supported->nent * sizeof(c->entries[0]));

	e = cpuid_find(c, 0, 0);
	if (e) {
		max_basic = e->eax;
		vendor = exit_hw_vendor_from_cpuid(e->ebx, e->ecx, e->edx);
	}

	e = cpuid_find(c, 1, 0);
	if (e) {
		e->ebx &= 0x0000ffff;
		e->ebx |= index << 24;                       /* initial APIC ID */
		e->ebx |= (nr_cpus & 0xff) << 16;            /* logical processors per package */
		e->ecx |= LEAF1_ECX_HYPERVISOR | LEAF1_ECX_X2APIC;
		if (nr_cpus > 1)
			e->edx |= LEAF1_EDX_HTT;
		else
			e->edx &= ~LEAF1_EDX_HTT;
	}

	set_cache_topology(c, nr_cpus);
	if (max_basic >= 0xb)
		set_topology_leaf(c, 0xb, index, nr_cpus);
	if (max_basic >= 0x1f)
		set_topology_leaf(c, 0x1f, index, nr_cpus);

	e = cpuid_find(c, KVM_CPUID_SIGNATURE, 0);
	if (e) {
		/* "KVMKVMKVM\0\0\0" and the highest PV leaf we describe. */
		e->eax = KVM_CPUID_FEATURES;
		memcpy(&e->ebx, "KVMK", 4);
		memcpy(&e->ecx, "VMKV", 4);
		memcpy(&e->edx, "M\0\0\0", 4);
	}
	e = cpuid_find(c, KVM_CPUID_FEATURES, 0);
	if (e) {
		e->eax &= CPUID_KVM_PV_FEATURES;
		e->edx = 0;  /* no hints: vCPUs are not pinned to dedicated cores */
	}

	if (vendor == EXIT_HW_SVM) {
		e = cpuid_find(c, 0x80000001, 0);
		if (e && nr_cpus > 1)
			e->ecx |= EXT1_ECX_CMP_LEGACY;
		e = cpuid_find(c, 0x80000008, 0);
		if (e) {
			/* ECX[15:12] APIC ID size, ECX[7:0] cores - 1 (APM vol. 3). */
			e->ecx &= ~0xf0ffu;
			e->ecx |= (id_bits(nr_cpus) << 12) | ((nr_cpus - 1) & 0xff);
		}
		e = cpuid_find(c, 0x8000001e, 0);
		if (e) {
			e->eax = index;          /* extended APIC ID */
			e->ebx = index & 0xff;   /* core ID; threads per core - 1 = 0 */
			e->ecx = 0;              /* node 0, one node per package */
		}
	}
	*out = c;
	return 0;
}
