/* CPUID construction from a synthetic KVM_GET_SUPPORTED_CPUID table. */
#include <asm/kvm_para.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cpuid.h"

#define SIG(a, b, c, d) ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)

static struct kvm_cpuid2 *make_supported(const char *vendor)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + 16 * sizeof(c->entries[0]));
	unsigned n = 0;
	uint32_t ebx, ecx, edx;

	memcpy(&ebx, vendor, 4);
	memcpy(&edx, vendor + 4, 4);
	memcpy(&ecx, vendor + 8, 4);
	c->entries[n++] = (struct kvm_cpuid_entry2){ .function = 0, .eax = 0x1f, .ebx = ebx, .ecx = ecx, .edx = edx };
	/* Host-ish leaf 1: APIC ID 7 and 16 logical CPUs from the host must go. */
	c->entries[n++] = (struct kvm_cpuid_entry2){ .function = 1, .eax = 0x906ea,
		.ebx = (7u << 24) | (16u << 16) | (8u << 8), .ecx = 0x1, .edx = 1u << 28 };
	/* Leaf 4: L1d (level 1, type 1) and L3 (level 3, type 3). */
	c->entries[n++] = (struct kvm_cpuid_entry2){ .function = 4, .index = 0,
		.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .eax = (1u << 5) | 1 | (7u << 26) | (1u << 14) };
	c->entries[n++] = (struct kvm_cpuid_entry2){ .function = 4, .index = 1,
		.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .eax = (3u << 5) | 3 | (7u << 26) | (15u << 14) };
	c->entries[n++] = (struct kvm_cpuid_entry2){ .function = 4, .index = 2,
		.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .eax = 0 };
	c->entries[n++] = (struct kvm_cpuid_entry2){ .function = 0xb, .index = 0,
		.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .eax = 1, .ebx = 2, .ecx = 0x100, .edx = 7 };
	c->entries[n++] = (struct kvm_cpuid_entry2){ .function = 0x1f, .index = 0,
		.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX };
	c->entries[n++] = (struct kvm_cpuid_entry2){ .function = KVM_CPUID_SIGNATURE, .eax = 0x40000001 };
	/* The host supports more PV features than we offer (bit 7 PV_UNHALT). */
	c->entries[n++] = (struct kvm_cpuid_entry2){ .function = KVM_CPUID_FEATURES,
		.eax = 0xffffffff, .edx = 1 };
	c->entries[n++] = (struct kvm_cpuid_entry2){ .function = 0x80000000, .eax = 0x8000001e };
	c->entries[n++] = (struct kvm_cpuid_entry2){ .function = 0x80000008, .eax = 0x3027, .ecx = 0xffff };
	c->entries[n++] = (struct kvm_cpuid_entry2){ .function = 0x8000001e, .eax = 99, .ebx = 0x100 };
	c->nent = n;
	return c;
}

static void test_apic_id_and_topology(void **state)
{
	struct kvm_cpuid2 *sup = make_supported("GenuineIntel"), *c;
	struct kvm_cpuid_entry2 *e;

	(void)state;
	assert_int_equal(cpuid_build(sup, 2, 4, &c), 0);
	e = cpuid_find(c, 1, 0);
	assert_int_equal(e->ebx >> 24, 2);
	assert_int_equal((e->ebx >> 16) & 0xff, 4);
	assert_int_equal((e->ebx >> 8) & 0xff, 8);      /* CLFLUSH size kept */
	assert_true(e->ecx & (1u << 31));                /* hypervisor */
	assert_true(e->ecx & (1u << 21));                /* x2APIC */
	assert_true(e->edx & (1u << 28));                /* HTT: more than one logical CPU */

	/* Leaf 0xB: SMT level then core level, EDX = x2APIC ID everywhere. */
	e = cpuid_find(c, 0xb, 0);
	assert_int_equal(e->eax, 0);
	assert_int_equal(e->ebx, 1);
	assert_int_equal((e->ecx >> 8) & 0xff, 1);
	assert_int_equal(e->edx, 2);
	e = cpuid_find(c, 0xb, 1);
	assert_int_equal(e->eax, 2);                     /* 4 cores: 2 bits */
	assert_int_equal(e->ebx, 4);
	assert_int_equal((e->ecx >> 8) & 0xff, 2);
	assert_int_equal(e->ecx & 0xff, 1);
	assert_int_equal(e->edx, 2);
	e = cpuid_find(c, 0xb, 2);
	assert_int_equal((e->ecx >> 8) & 0xff, 0);       /* terminator */
	assert_non_null(cpuid_find(c, 0x1f, 1));

	/* Leaf 4: cores per package - 1 = 3; L1 private, L3 shared by 4. */
	e = cpuid_find(c, 4, 0);
	assert_int_equal(e->eax >> 26, 3);
	assert_int_equal((e->eax >> 14) & 0xfff, 0);
	e = cpuid_find(c, 4, 1);
	assert_int_equal(e->eax >> 26, 3);
	assert_int_equal((e->eax >> 14) & 0xfff, 3);
	free(c);
	free(sup);
}

static void test_single_cpu_has_no_htt(void **state)
{
	struct kvm_cpuid2 *sup = make_supported("GenuineIntel"), *c;

	(void)state;
	assert_int_equal(cpuid_build(sup, 0, 1, &c), 0);
	assert_false(cpuid_find(c, 1, 0)->edx & (1u << 28));
	assert_int_equal(cpuid_find(c, 0xb, 1)->eax, 0);
	free(c);
	free(sup);
}

static void test_kvm_pv_leaves(void **state)
{
	struct kvm_cpuid2 *sup = make_supported("GenuineIntel"), *c;
	struct kvm_cpuid_entry2 *e;

	(void)state;
	assert_int_equal(cpuid_build(sup, 0, 1, &c), 0);
	e = cpuid_find(c, KVM_CPUID_SIGNATURE, 0);
	assert_int_equal(e->ebx, SIG('K', 'V', 'M', 'K'));
	assert_int_equal(e->ecx, SIG('V', 'M', 'K', 'V'));
	assert_int_equal(e->edx, SIG('M', 0, 0, 0));
	assert_int_equal(e->eax, KVM_CPUID_FEATURES);
	e = cpuid_find(c, KVM_CPUID_FEATURES, 0);
	assert_int_equal(e->eax, CPUID_KVM_PV_FEATURES);
	assert_true(e->eax & (1u << KVM_FEATURE_ASYNC_PF_INT));
	assert_true(e->eax & (1u << KVM_FEATURE_PV_SEND_IPI));
	assert_false(e->eax & (1u << KVM_FEATURE_PV_UNHALT));
	assert_int_equal(e->edx, 0);
	free(c);

	/* A host without PV EOI does not get it offered. */
	cpuid_find(sup, KVM_CPUID_FEATURES, 0)->eax &= ~(1u << KVM_FEATURE_PV_EOI);
	assert_int_equal(cpuid_build(sup, 0, 1, &c), 0);
	assert_false(cpuid_find(c, KVM_CPUID_FEATURES, 0)->eax & (1u << KVM_FEATURE_PV_EOI));
	free(c);
	free(sup);
}

static void test_amd_leaves(void **state)
{
	struct kvm_cpuid2 *sup = make_supported("AuthenticAMD"), *c;
	struct kvm_cpuid_entry2 *e;

	(void)state;
	assert_int_equal(cpuid_build(sup, 3, 6, &c), 0);
	e = cpuid_find(c, 0x80000008, 0);
	assert_int_equal(e->ecx & 0xff, 5);
	assert_int_equal((e->ecx >> 12) & 0xf, 3);
	assert_int_equal(e->eax, 0x3027);               /* address sizes untouched */
	e = cpuid_find(c, 0x8000001e, 0);
	assert_int_equal(e->eax, 3);
	assert_int_equal((e->ebx >> 8) & 0xff, 0);
	free(c);
	free(sup);
}

static void test_rejects_bad_arguments(void **state)
{
	struct kvm_cpuid2 *sup = make_supported("GenuineIntel"), *c = NULL;

	(void)state;
	assert_int_equal(cpuid_build(sup, 0, 0, &c), -EINVAL);
	assert_int_equal(cpuid_build(sup, 4, 4, &c), -EINVAL);
	assert_int_equal(cpuid_build(sup, 0, 256, &c), -EINVAL);
	assert_null(c);
	free(sup);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_apic_id_and_topology),
		cmocka_unit_test(test_single_cpu_has_no_htt),
		cmocka_unit_test(test_kvm_pv_leaves),
		cmocka_unit_test(test_amd_leaves),
		cmocka_unit_test(test_rejects_bad_arguments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
