/* Exit reasons: the basic reason is what compares, modifiers are asked
 * for, and failures decode into readable text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "exit_reason.h"

static struct kvm_run run;

static void test_plain_exit_has_no_hardware_reason(void **state)
{
	struct exit_reason er;
	char buf[200];

	(void)state;
	memset(&run, 0, sizeof(run));
	run.exit_reason = KVM_EXIT_IO;
	exit_reason_from_run(&er, &run, EXIT_HW_VMX);
	assert_int_equal(exit_reason_basic(&er), KVM_EXIT_IO);
	assert_false(er.has_hardware);
	assert_int_equal(exit_reason_hw_modifiers(&er), 0);
	assert_string_equal(exit_reason_describe(&er, buf, sizeof(buf)), "KVM_EXIT_IO");
}

static void test_vmx_failed_entry_splits_basic_and_modifiers(void **state)
{
	struct exit_reason er;
	char buf[256];

	(void)state;
	memset(&run, 0, sizeof(run));
	run.exit_reason = KVM_EXIT_FAIL_ENTRY;
	/* Basic 33 (invalid guest state) with the VM-entry-failure bit. */
	run.fail_entry.hardware_entry_failure_reason = 0x80000021;
	exit_reason_from_run(&er, &run, EXIT_HW_VMX);
	assert_int_equal(exit_reason_basic(&er), KVM_EXIT_FAIL_ENTRY);
	assert_int_equal(exit_reason_hw_basic(&er), 33);
	assert_true(exit_reason_has_modifier(&er, VMX_EXIT_MOD_FAILED_VMENTRY));
	assert_false(exit_reason_has_modifier(&er, VMX_EXIT_MOD_ENCLAVE));
	exit_reason_describe(&er, buf, sizeof(buf));
	assert_non_null(strstr(buf, "KVM_EXIT_FAIL_ENTRY"));
	assert_non_null(strstr(buf, "INVALID_GUEST_STATE"));
	assert_non_null(strstr(buf, "FAILED_VMENTRY"));
	assert_null(strchr(buf, '\n'));
}

static void test_vmx_enclave_modifier_does_not_change_basic(void **state)
{
	struct exit_reason er;
	char buf[256];

	(void)state;
	memset(&run, 0, sizeof(run));
	run.exit_reason = KVM_EXIT_INTERNAL_ERROR;
	run.internal.suberror = KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON;
	run.internal.ndata = 2;
	run.internal.data[0] = (1u << 27) | 48;  /* EPT violation in enclave mode */
	exit_reason_from_run(&er, &run, EXIT_HW_VMX);
	assert_int_equal(exit_reason_hw_basic(&er), 48);
	assert_true(exit_reason_has_modifier(&er, VMX_EXIT_MOD_ENCLAVE));
	assert_int_equal(er.suberror, KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON);
	exit_reason_describe(&er, buf, sizeof(buf));
	assert_non_null(strstr(buf, "EPT_VIOLATION"));
	assert_non_null(strstr(buf, "ENCLAVE_MODE"));
	assert_non_null(strstr(buf, "unexpected hardware exit reason"));
}

static void test_svm_codes_have_no_modifiers(void **state)
{
	struct exit_reason er;
	char buf[256];

	(void)state;
	memset(&run, 0, sizeof(run));
	run.exit_reason = KVM_EXIT_FAIL_ENTRY;
	run.fail_entry.hardware_entry_failure_reason = UINT64_MAX;  /* VMEXIT_INVALID */
	exit_reason_from_run(&er, &run, EXIT_HW_SVM);
	assert_int_equal(exit_reason_hw_basic(&er), UINT64_MAX);
	assert_int_equal(exit_reason_hw_modifiers(&er), 0);
	exit_reason_describe(&er, buf, sizeof(buf));
	assert_non_null(strstr(buf, "SVM INVALID"));
}

static void test_emulation_failure_and_unknown_names(void **state)
{
	struct exit_reason er;
	char buf[256], tmp[32];

	(void)state;
	memset(&run, 0, sizeof(run));
	run.exit_reason = KVM_EXIT_INTERNAL_ERROR;
	run.internal.suberror = KVM_INTERNAL_ERROR_EMULATION;
	exit_reason_from_run(&er, &run, EXIT_HW_VMX);
	assert_false(er.has_hardware);
	exit_reason_describe(&er, buf, sizeof(buf));
	assert_string_equal(buf, "KVM_EXIT_INTERNAL_ERROR, suberror 1 (emulation failure)");
	assert_string_equal(exit_reason_kvm_name(59, tmp, sizeof(tmp)), "KVM_EXIT_#59");
	assert_string_equal(exit_reason_kvm_name(KVM_EXIT_SHUTDOWN, tmp, sizeof(tmp)), "KVM_EXIT_SHUTDOWN");
	/* A tiny buffer truncates, never overflows. */
	exit_reason_describe(&er, tmp, 8);
	assert_int_equal(strlen(tmp), 7);
}

static void test_vendor_from_cpuid(void **state)
{
	uint32_t r[3];

	(void)state;
	memcpy(r, "GenuntelineI", 12);  /* ebx, ecx, edx order as CPUID returns them */
	assert_int_equal(exit_hw_vendor_from_cpuid(r[0], r[1], r[2]), EXIT_HW_VMX);
	memcpy(r, "AuthcAMDenti", 12);
	assert_int_equal(exit_hw_vendor_from_cpuid(r[0], r[1], r[2]), EXIT_HW_SVM);
	memcpy(r, "KVMKVMKVM\0\0\0", 12);
	assert_int_equal(exit_hw_vendor_from_cpuid(r[0], r[1], r[2]), EXIT_HW_UNKNOWN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_exit_has_no_hardware_reason),
		cmocka_unit_test(test_vmx_failed_entry_splits_basic_and_modifiers),
		cmocka_unit_test(test_vmx_enclave_modifier_does_not_change_basic),
		cmocka_unit_test(test_svm_codes_have_no_modifiers),
		cmocka_unit_test(test_emulation_failure_and_unknown_names),
		cmocka_unit_test(test_vendor_from_cpuid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
