/* Whether a paused vCPU may hold a software interrupt that a snapshot
 * would lose.
 *
 * KVM_GET_VCPU_EVENTS does not report a software exception or interrupt
 * (INT n, INT3, INTO) that KVM has queued but not yet delivered: the ABI
 * carries no instruction length for it, and KVM relies on the guest's RIP
 * still pointing at the instruction, so that a restored guest simply
 * executes it again (Documentation/virt/kvm/api.rst, KVM_GET_VCPU_EVENTS;
 * arch/x86/kvm/x86.c). A KVM that has already moved RIP past the
 * instruction when the vCPU leaves KVM_RUN (observed on our nested
 * development hosts, whose ring 0 is emulated; SVM without NRIPS works
 * the same way) hands us a state in which the interrupt is simply gone,
 * and the restored guest runs on after its INT as if it had returned.
 *
 * The check is a heuristic with no false negatives for that case: the
 * bytes just before RIP are an INT n / INT3 / INTO whose vector is the
 * one KVM last queued. It has false positives (an interrupt handler that
 * returned to the next instruction), which only cost the caller a retry. */
#ifndef KVMRUN_SNAPSHOT_SOFT_EVENT_H
#define KVMRUN_SNAPSHOT_SOFT_EVENT_H

#include <stdbool.h>

struct guest_memory;

/* For a vCPU that is not in KVM_RUN. False if anything cannot be read. */
bool soft_event_maybe_hidden(int vcpu_fd, const struct guest_memory *mem);

#endif
