/* KVM asynchronous page faults, guest side, with a tiny cooperative
 * scheduler to make use of them (DESIGN.md principle 5, seed 001).
 *
 * Protocol (Linux Documentation/virt/kvm/x86/msr.rst, MSR_KVM_ASYNC_PF_*;
 * cpuid.rst, KVM_FEATURE_ASYNC_PF and KVM_FEATURE_ASYNC_PF_INT):
 *  - the guest gives KVM a 64-byte aligned per-vCPU area (struct
 *    kvm_vcpu_pv_apf_data) and a notification vector (MSR_KVM_ASYNC_PF_INT),
 *    then enables delivery as an interrupt (MSR_KVM_ASYNC_PF_EN);
 *  - when the host must wait for a page (swapped out, or a userfaultfd
 *    page not yet filled) while the guest runs at CPL 3 with interrupts
 *    on, KVM injects a #PF instead of blocking the vCPU: `flags` in the area
 *    says KVM_PV_REASON_PAGE_NOT_PRESENT and CR2 holds a token;
 *  - once the page is there, KVM raises the notification vector with the
 *    same token in `token`; the guest clears `token` and writes 1 to
 *    MSR_KVM_ASYNC_PF_ACK so the next one can be delivered.
 *
 * The scheduler: apf_run() runs a main task at CPL 3; background tasks
 * added with apf_task_add() run, on their own user stacks, only while
 * tasks before them wait for a page. On "page not present" the faulting
 * task is parked on its token and the first runnable task (or an idle
 * loop) takes over; "page ready" makes the task runnable again and, if it
 * comes before the running one, switches back at once. Tasks switch only
 * in these two handlers, by swapping the interrupted CPL 3 frame, so they
 * are cheap and need no locks. One vCPU (the BSP) only; the state below is
 * global for that reason. apf_enable() installs the library's #PF handler:
 * an ordinary #PF then ends the guest with the exception dump. */
#ifndef GUEST_APF_H
#define GUEST_APF_H

#include <stdbool.h>
#include <stdint.h>

#define MSR_KVM_ASYNC_PF_EN          0x4b564d02
#define MSR_KVM_ASYNC_PF_INT         0x4b564d06
#define MSR_KVM_ASYNC_PF_ACK         0x4b564d07
#define KVM_ASYNC_PF_ENABLED         (1u << 0)
#define KVM_ASYNC_PF_SEND_ALWAYS     (1u << 1)  /* also at CPL 0: not used */
#define KVM_ASYNC_PF_DELIVERY_AS_INT (1u << 3)
#define KVM_PV_REASON_PAGE_NOT_PRESENT 1u
#define KVM_APF_WAKE_ALL_TOKEN       0xffffffffu  /* "page ready" for every waiter */

#define KVM_CPUID_SIGNATURE          0x40000000
#define KVM_CPUID_FEATURES           0x40000001
#define KVM_FEATURE_ASYNC_PF         4
#define KVM_FEATURE_ASYNC_PF_INT     14

#define APF_VECTOR                   0xec  /* "page ready" notification */
#define APF_MAX_TASKS                4     /* background tasks */
#define APF_TASK_STACK_SIZE          8192

/* msr.rst, MSR_KVM_ASYNC_PF_EN. */
struct kvm_vcpu_pv_apf_data {
	uint32_t flags;   /* 'page not present': the reason, token in CR2 */
	uint32_t token;   /* 'page ready': the token, via APF_VECTOR */
	uint8_t pad[56];
} __attribute__((aligned(64)));

enum apf_status {
	APF_OK,
	APF_NO_KVM,                /* no "KVMKVMKVM" hypervisor leaf */
	APF_NO_FEATURE_ASYNC_PF,   /* CPUID 0x40000001 EAX bit 4 clear */
	APF_NO_FEATURE_ASYNC_PF_INT, /* CPUID 0x40000001 EAX bit 14 clear */
	APF_MSR_INT_REFUSED,       /* WRMSR MSR_KVM_ASYNC_PF_INT raised #GP */
	APF_MSR_EN_REFUSED,        /* WRMSR MSR_KVM_ASYNC_PF_EN raised #GP */
};

struct apf_stats {
	uint64_t not_present;      /* 'page not present' #PFs */
	uint64_t page_ready;       /* 'page ready' interrupts */
	uint64_t ready_early;      /* page ready before its task was parked */
	uint64_t wake_all;         /* broadcast page-ready tokens */
	uint64_t switches;         /* task switches */
	uint64_t idle_entries;     /* times no task could run */
};

/* Enable async PF on this CPU (x2APIC included) and install the handlers.
 * Call at CPL 0. Returns APF_OK or what is missing. */
enum apf_status apf_enable(void);
/* Turn delivery off (MSR_KVM_ASYNC_PF_EN = 0). */
void apf_disable(void);
const char *apf_status_name(enum apf_status status);
const struct apf_stats *apf_get_stats(void);

/* Add a background task: fn(arg) at CPL 3. It should loop; if it returns,
 * the task idles. At most APF_MAX_TASKS, before apf_run(). */
void apf_task_add(void (*fn)(void *), void *arg);
/* Run fn(arg) at CPL 3 with interrupts on as the main task and return its
 * result once it returns; background tasks then stop where they are and
 * are forgotten (add them again for another run). Call at CPL 0. */
long apf_run(long (*fn)(void *), void *arg);

#endif
