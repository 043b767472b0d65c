#include "exit_reason.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define NAME(x) [x] = #x
static const char *const kvm_exit_names[EXIT_REASON_KVM_MAX] = {
	NAME(KVM_EXIT_UNKNOWN), NAME(KVM_EXIT_EXCEPTION), NAME(KVM_EXIT_IO),
	NAME(KVM_EXIT_HYPERCALL), NAME(KVM_EXIT_DEBUG), NAME(KVM_EXIT_HLT),
	NAME(KVM_EXIT_MMIO), NAME(KVM_EXIT_IRQ_WINDOW_OPEN), NAME(KVM_EXIT_SHUTDOWN),
	NAME(KVM_EXIT_FAIL_ENTRY), NAME(KVM_EXIT_INTR), NAME(KVM_EXIT_SET_TPR),
	NAME(KVM_EXIT_TPR_ACCESS), NAME(KVM_EXIT_NMI), NAME(KVM_EXIT_INTERNAL_ERROR),
	NAME(KVM_EXIT_OSI), NAME(KVM_EXIT_WATCHDOG), NAME(KVM_EXIT_EPR),
	NAME(KVM_EXIT_SYSTEM_EVENT), NAME(KVM_EXIT_IOAPIC_EOI), NAME(KVM_EXIT_HYPERV),
	NAME(KVM_EXIT_X86_RDMSR), NAME(KVM_EXIT_X86_WRMSR), NAME(KVM_EXIT_DIRTY_RING_FULL),
	NAME(KVM_EXIT_AP_RESET_HOLD), NAME(KVM_EXIT_X86_BUS_LOCK), NAME(KVM_EXIT_XEN),
	NAME(KVM_EXIT_NOTIFY),
};

static const char *const internal_error_names[] = {
	[KVM_INTERNAL_ERROR_EMULATION] = "emulation failure",
	[KVM_INTERNAL_ERROR_SIMUL_EX] = "exception while delivering an exception",
	[KVM_INTERNAL_ERROR_DELIVERY_EV] = "exit while delivering an event",
	[KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON] = "unexpected hardware exit reason",
};

/* SDM vol. 3D, appendix C "VMX Basic Exit Reasons". */
static const char *const vmx_basic_names[] = {
	[0] = "EXCEPTION_NMI", [1] = "EXTERNAL_INTERRUPT", [2] = "TRIPLE_FAULT",
	[3] = "INIT_SIGNAL", [4] = "SIPI_SIGNAL", [7] = "INTERRUPT_WINDOW",
	[8] = "NMI_WINDOW", [9] = "TASK_SWITCH", [10] = "CPUID", [12] = "HLT",
	[13] = "INVD", [14] = "INVLPG", [15] = "RDPMC", [16] = "RDTSC", [18] = "VMCALL",
	[28] = "CR_ACCESS", [29] = "DR_ACCESS", [30] = "IO_INSTRUCTION", [31] = "MSR_READ",
	[32] = "MSR_WRITE", [33] = "INVALID_GUEST_STATE", [34] = "MSR_LOAD_FAIL",
	[36] = "MWAIT_INSTRUCTION", [37] = "MONITOR_TRAP_FLAG", [39] = "MONITOR_INSTRUCTION",
	[40] = "PAUSE_INSTRUCTION", [41] = "MCE_DURING_VMENTRY", [43] = "TPR_BELOW_THRESHOLD",
	[44] = "APIC_ACCESS", [45] = "EOI_INDUCED", [46] = "GDTR_IDTR", [47] = "LDTR_TR",
	[48] = "EPT_VIOLATION", [49] = "EPT_MISCONFIG", [50] = "INVEPT", [51] = "RDTSCP",
	[52] = "PREEMPTION_TIMER", [53] = "INVVPID", [54] = "WBINVD", [55] = "XSETBV",
	[56] = "APIC_WRITE", [57] = "RDRAND", [58] = "INVPCID", [59] = "VMFUNC",
	[60] = "ENCLS", [61] = "RDSEED", [62] = "PML_FULL", [63] = "XSAVES", [64] = "XRSTORS",
	[67] = "UMWAIT", [68] = "TPAUSE", [74] = "BUS_LOCK", [75] = "NOTIFY",
};

static const struct {
	uint32_t bit;
	const char *name;
} vmx_modifier_names[] = {
	{ VMX_EXIT_MOD_BUS_LOCK, "BUS_LOCK" },
	{ VMX_EXIT_MOD_ENCLAVE, "ENCLAVE_MODE" },
	{ VMX_EXIT_MOD_PENDING_MTF, "PENDING_MTF" },
	{ VMX_EXIT_MOD_FROM_VMX_ROOT, "FROM_VMX_ROOT" },
	{ VMX_EXIT_MOD_FAILED_VMENTRY, "FAILED_VMENTRY" },
};

/* AMD APM vol. 2, appendix C "SVM Intercept Exit Codes" (the ones a VMM
 * is likely to see reported). */
static const char *svm_exit_name(uint64_t code)
{
	switch (code) {
	case 0x060: return "INTR";
	case 0x061: return "NMI";
	case 0x064: return "VINTR";
	case 0x072: return "CPUID";
	case 0x078: return "HLT";
	case 0x07b: return "IOIO";
	case 0x07c: return "MSR";
	case 0x07f: return "SHUTDOWN";
	case 0x081: return "VMMCALL";
	case 0x400: return "NPF";
	case 0x401: return "AVIC_INCOMPLETE_IPI";
	case 0x402: return "AVIC_UNACCELERATED_ACCESS";
	case UINT64_MAX: return "INVALID (VMRUN failed consistency checks)";
	default:
		if (code < 0x20) return "CR access";
		if (code < 0x40) return "DR access";
		if (code < 0x60) return "exception";
		return NULL;
	}
}

void exit_reason_from_run(struct exit_reason *er, const struct kvm_run *run,
			  enum exit_hw_vendor vendor)
{
	memset(er, 0, sizeof(*er));
	er->basic = run->exit_reason;
	er->vendor = vendor;
	switch (run->exit_reason) {
	case KVM_EXIT_FAIL_ENTRY:
		er->has_hardware = true;
		er->hardware = run->fail_entry.hardware_entry_failure_reason;
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		er->suberror = run->internal.suberror;
		/* Where the suberror carries the hardware exit reason: data[0]
		 * for UNEXPECTED_EXIT_REASON, data[1] for DELIVERY_EV (api.rst
		 * and arch/x86/kvm/{vmx,svm}). */
		if (run->internal.suberror == KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON &&
		    run->internal.ndata >= 1) {
			er->has_hardware = true;
			er->hardware = run->internal.data[0];
		} else if (run->internal.suberror == KVM_INTERNAL_ERROR_DELIVERY_EV &&
			   run->internal.ndata >= 2) {
			er->has_hardware = true;
			er->hardware = run->internal.data[1];
		}
		break;
	default:
		break;
	}
}

uint64_t exit_reason_hw_basic(const struct exit_reason *er)
{
	if (!er->has_hardware)
		return 0;
	if (er->vendor == EXIT_HW_VMX)
		return er->hardware & 0xffff;
	return er->hardware;
}

uint32_t exit_reason_hw_modifiers(const struct exit_reason *er)
{
	if (!er->has_hardware || er->vendor != EXIT_HW_VMX)
		return 0;
	return (uint32_t)er->hardware & VMX_EXIT_MODIFIER_MASK;
}

const char *exit_reason_kvm_name(uint32_t basic, char *buf, size_t len)
{
	if (basic < EXIT_REASON_KVM_MAX && kvm_exit_names[basic])
		return kvm_exit_names[basic];
	snprintf(buf, len, "KVM_EXIT_#%u", basic);
	return buf;
}

/* snprintf at `at`, returning the new end; never writes past len. */
__attribute__((format(printf, 4, 5)))
static size_t append(char *buf, size_t len, size_t at, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (at >= len)
		return at;
	va_start(ap, fmt);
	n = vsnprintf(buf + at, len - at, fmt, ap);
	va_end(ap);
	return n < 0 ? at : at + (size_t)n;
}

static size_t describe_hardware(const struct exit_reason *er, char *buf, size_t len, size_t at)
{
	uint64_t basic = exit_reason_hw_basic(er);
	const char *name = NULL;

	at = append(buf, len, at, ", hardware reason 0x%llx", (unsigned long long)er->hardware);
	switch (er->vendor) {
	case EXIT_HW_VMX: {
		uint32_t mods = exit_reason_hw_modifiers(er);

		if (basic < sizeof(vmx_basic_names) / sizeof(vmx_basic_names[0]))
			name = vmx_basic_names[basic];
		at = append(buf, len, at, " (VMX basic %llu %s", (unsigned long long)basic,
			    name ? name : "unknown");
		if (mods) {
			const char *sep = ", modifiers ";

			for (size_t i = 0; i < sizeof(vmx_modifier_names) / sizeof(vmx_modifier_names[0]); i++) {
				if (mods & vmx_modifier_names[i].bit) {
					at = append(buf, len, at, "%s%s", sep, vmx_modifier_names[i].name);
					sep = "|";
				}
			}
		}
		at = append(buf, len, at, ")");
		break;
	}
	case EXIT_HW_SVM:
		name = svm_exit_name(basic);
		at = append(buf, len, at, " (SVM %s)", name ? name : "unknown exit code");
		break;
	default:
		break;
	}
	return at;
}

char *exit_reason_describe(const struct exit_reason *er, char *buf, size_t len)
{
	char tmp[32];
	size_t at = 0;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	at = append(buf, len, at, "%s", exit_reason_kvm_name(er->basic, tmp, sizeof(tmp)));
	if (er->basic == KVM_EXIT_INTERNAL_ERROR) {
		const char *sub = NULL;

		if (er->suberror < sizeof(internal_error_names) / sizeof(internal_error_names[0]))
			sub = internal_error_names[er->suberror];
		at = append(buf, len, at, ", suberror %u (%s)", er->suberror, sub ? sub : "unknown");
	}
	if (er->has_hardware)
		describe_hardware(er, buf, len, at);
	return buf;
}

enum exit_hw_vendor exit_hw_vendor_from_cpuid(uint32_t ebx, uint32_t ecx, uint32_t edx)
{
	char v[13];

	memcpy(v, &ebx, 4);
	memcpy(v + 4, &edx, 4);
	memcpy(v + 8, &ecx, 4);
	v[12] = '\0';
	if (!strcmp(v, "GenuineIntel"))
		return EXIT_HW_VMX;
	if (!strcmp(v, "AuthenticAMD") || !strcmp(v, "HygonGenuine"))
		return EXIT_HW_SVM;
	return EXIT_HW_UNKNOWN;
}
