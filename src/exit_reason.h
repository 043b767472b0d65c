/* What KVM_RUN reported, held in one type (DESIGN.md principle 2).
 *
 * The basic reason (KVM_EXIT_*) is the thing every handler compares. When
 * KVM also passes a hardware exit code up (KVM_EXIT_FAIL_ENTRY, some
 * KVM_EXIT_INTERNAL_ERROR suberrors), that code is itself a basic reason
 * plus modifier flags on VMX (SDM vol. 3C, "Basic VM-Exit Information":
 * bits 15:0 basic reason, bit 31 VM-entry failure, bit 27 enclave mode, ...)
 * and a plain 64-bit code on SVM. Accessors split the two so that a set
 * modifier bit can never make a comparison against a basic reason fail. */
#ifndef KVMRUN_EXIT_REASON_H
#define KVMRUN_EXIT_REASON_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EXIT_REASON_KVM_MAX 64  /* KVM_EXIT_* values are below this */

enum exit_hw_vendor {
	EXIT_HW_UNKNOWN,
	EXIT_HW_VMX,   /* Intel */
	EXIT_HW_SVM,   /* AMD, Hygon */
};

/* VMX exit-reason modifier bits (SDM vol. 3C, table "Format of Exit Reason"). */
enum vmx_exit_modifier {
	VMX_EXIT_MOD_BUS_LOCK         = 1u << 26,
	VMX_EXIT_MOD_ENCLAVE          = 1u << 27,
	VMX_EXIT_MOD_PENDING_MTF      = 1u << 28,
	VMX_EXIT_MOD_FROM_VMX_ROOT    = 1u << 29,
	VMX_EXIT_MOD_FAILED_VMENTRY   = 1u << 31,
};
#define VMX_EXIT_MODIFIER_MASK 0xbc000000u

struct exit_reason {
	uint32_t basic;        /* KVM_EXIT_* */
	uint32_t suberror;     /* KVM_EXIT_INTERNAL_ERROR: KVM_INTERNAL_ERROR_* */
	bool has_hardware;     /* `hardware` below is meaningful */
	uint64_t hardware;     /* the hardware exit code KVM passed up, unmodified */
	enum exit_hw_vendor vendor;
};

/* Capture the reason from the shared kvm_run page. */
void exit_reason_from_run(struct exit_reason *er, const struct kvm_run *run,
			  enum exit_hw_vendor vendor);

static inline uint32_t exit_reason_basic(const struct exit_reason *er)
{
	return er->basic;
}

/* The hardware basic reason: VMX bits 15:0, the whole SVM exit code. */
uint64_t exit_reason_hw_basic(const struct exit_reason *er);

/* VMX modifier bits set in the hardware reason (0 on SVM or when absent). */
uint32_t exit_reason_hw_modifiers(const struct exit_reason *er);

static inline bool exit_reason_has_modifier(const struct exit_reason *er,
					    enum vmx_exit_modifier mod)
{
	return (exit_reason_hw_modifiers(er) & (uint32_t)mod) != 0;
}

/* "KVM_EXIT_IO", or "KVM_EXIT_#41" for values we have no name for. The
 * returned pointer is to a static string or to `buf`. */
const char *exit_reason_kvm_name(uint32_t basic, char *buf, size_t len);

/* One-line description: basic name, suberror name, hardware reason with
 * its basic name and modifier names. Returns buf. */
char *exit_reason_describe(const struct exit_reason *er, char *buf, size_t len);

/* The vendor of the host CPU from a CPUID leaf-0 vendor string. */
enum exit_hw_vendor exit_hw_vendor_from_cpuid(uint32_t ebx, uint32_t ecx, uint32_t edx);

#endif
