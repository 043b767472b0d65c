/* A KVM virtual machine: its fd, guest RAM, the in-kernel interrupt
 * controllers and PIT, the I/O buses, the vCPUs, and how it stops. */
#ifndef KVMRUN_VM_H
#define KVMRUN_VM_H

#include <stdatomic.h>
#include <stdbool.h>

#include "bus.h"
#include "devices/platform.h"
#include "exit_reason.h"
#include "kvm.h"
#include "memory.h"

struct vcpu;

/* stop_reason while the winning stopper is still storing its code. */
#define VM_STOP_CLAIMED (-1)

struct vm {
	struct kvm *kvm;
	int fd;
	enum exit_hw_vendor vendor;      /* decodes hardware exit reasons */
	struct guest_memory mem;
	struct bus pio;
	struct bus mmio;
	unsigned nr_vcpus;
	struct vcpu *vcpus;

	/* How the VM ended. The first vm_request_stop() wins the
	 * compare-and-swap on stop_reason; stop_code is written by that
	 * winner before the eventfd is signalled and read after every vCPU
	 * thread has been joined. */
	_Atomic int stop_reason;         /* enum vm_stop_reason or VM_STOP_CLAIMED */
	int stop_code;
	int stop_eventfd;                /* readable once a stop was requested */
};

/* Create the VM around `mem` (guest RAM, already loaded with the guest;
 * the VM takes it over and frees it in vm_destroy, also on failure):
 * KVM_CREATE_VM, TSS and identity-map addresses, IRQ chip, PIT, memory
 * slots, empty buses. Returns 0 or -errno (the failing operation is logged). */
int vm_create(struct vm *vm, struct kvm *kvm, struct guest_memory *mem);
void vm_destroy(struct vm *vm);

/* Stop the VM: record why (the first caller wins), ask every vCPU to
 * leave the guest and wake the event loop. Safe from any thread. */
void vm_request_stop(struct vm *vm, enum vm_stop_reason reason, int code);

static inline bool vm_stopping(struct vm *vm)
{
	return atomic_load_explicit(&vm->stop_reason, memory_order_acquire) != VM_STOP_NONE;
}

/* irq_line callback: drive an IOAPIC/PIC input through KVM_IRQ_LINE. */
void vm_irq_set_level(void *vm, unsigned gsi, bool level);

static inline struct irq_line vm_irq_line(struct vm *vm, unsigned gsi)
{
	return (struct irq_line){ .set_level = vm_irq_set_level, .ctx = vm, .gsi = gsi };
}

/* stop_request callback for devices. */
void vm_stop_request_cb(void *vm, enum vm_stop_reason reason, int code);

static inline struct stop_request vm_stop_request(struct vm *vm)
{
	return (struct stop_request){ .request = vm_stop_request_cb, .ctx = vm };
}

#endif
