/* A KVM virtual machine: its fd, guest RAM, the in-kernel interrupt
 * controllers and PIT, the I/O buses, the vCPUs, and how it stops. */
#ifndef KVMRUN_VM_H
#define KVMRUN_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "bus.h"
#include "devices/platform.h"
#include "exit_reason.h"
#include "kvm.h"
#include "memory.h"

struct vcpu;

/* Where vm_create()'s time went, in ns (CLOCK_MONOTONIC): a restore
 * reports them (--snapshot-timing), since the memory slots are the one
 * part of it that grows with RAM on a shadow-paging host. */
struct vm_setup_times {
	uint64_t create_ns;        /* the port index, KVM_CREATE_VM */
	/* (the stop eventfd falls in slots_ns: a few microseconds) */
	uint64_t slots_ns;         /* KVM_SET_USER_MEMORY_REGION, every slot */
	uint64_t cpuid_wait_ns;    /* what was left of KVM_GET_SUPPORTED_CPUID */
	uint64_t platform_ns;      /* identity map, TSS, irqchip, routing, PIT */
};

/* stop_reason while the winning stopper is still storing its code. */
#define VM_STOP_CLAIMED (-1)

struct vm {
	struct kvm *kvm;
	int fd;
	enum exit_hw_vendor vendor;      /* decodes hardware exit reasons */
	struct vm_setup_times setup;
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

	/* Pause: vm_pause() sets `paused` and kicks every vCPU with
	 * VCPU_REQUEST_PAUSE; each parks in vm_park_vcpu() until vm_resume().
	 * All under pause_lock. nr_running counts vCPU threads inside their
	 * run loop, so a pause never waits for a thread that has ended. */
	pthread_mutex_t pause_lock;
	pthread_cond_t parked_cond;      /* nr_parked or nr_running changed, or stop */
	pthread_cond_t resume_cond;      /* paused cleared, or the VM stops */
	bool paused;
	unsigned nr_parked;
	unsigned nr_running;

	/* Called on the vCPU thread for request bits in
	 * VCPU_REQUEST_HOOK_MASK (set before the vCPUs start). */
	void (*request_hook)(void *ctx, struct vcpu *vcpu, unsigned requests);
	void *request_hook_ctx;

	/* Called on each vCPU's thread just before its first KVM_RUN (a
	 * restore times restore -> running with it); NULL for none. */
	void (*first_entry_hook)(void *ctx, struct vcpu *vcpu);
	void *first_entry_ctx;
};

/* Create the VM around `mem` (guest RAM, already loaded with the guest;
 * the VM takes it over and frees it in vm_destroy, also on failure):
 * KVM_CREATE_VM, memory slots, TSS and identity-map addresses, IRQ chip,
 * PIT, empty buses. Waits for kvm_open()'s CPUID query (kvm_wait_cpuid)
 * once the slots are in. Returns 0 or -errno (the failing operation is
 * logged). */
int vm_create(struct vm *vm, struct kvm *kvm, struct guest_memory *mem);
void vm_destroy(struct vm *vm);

/* The in-kernel PIT's lost-tick policy (KVM_REINJECT_CONTROL): with
 * reinjection on (KVM's default, and QEMU's lost_tick_policy=delay), a tick
 * the guest has not acknowledged when the next one is due is queued and
 * delivered as soon as the previous one is acknowledged, so a guest that
 * counts ticks for time keeping does not fall behind; off, missed ticks
 * are dropped. Returns 0 or -errno (logged). */
int vm_set_pit_reinject(struct vm *vm, bool reinject);

/* Stop the VM: record why (the first caller wins), ask every vCPU to
 * leave the guest and wake the event loop. Safe from any thread. */
void vm_request_stop(struct vm *vm, enum vm_stop_reason reason, int code);

/* Get every vCPU out of KVM_RUN and parked. Returns 0 once all running
 * vCPUs are parked, -ESHUTDOWN if the VM is stopping. Not for vCPU threads. */
int vm_pause(struct vm *vm);

/* Let parked vCPUs run again. Returns at once; see vm.c. */
void vm_resume(struct vm *vm);

/* vCPU-thread side of pause and of the thread's life (vcpu_run.c). */
void vm_park_vcpu(struct vm *vm, struct vcpu *vcpu);
void vm_vcpu_starting(struct vm *vm, struct vcpu *vcpu);
void vm_vcpu_exited(struct vm *vm, struct vcpu *vcpu);

static inline bool vm_stopping(struct vm *vm)
{
	return atomic_load_explicit(&vm->stop_reason, memory_order_acquire) != VM_STOP_NONE;
}

enum vm_io_space { VM_IO_PIO, VM_IO_MMIO };

/* Have KVM signal the eventfd `fd` when the guest writes `len` bytes (1, 2,
 * 4 or 8) at `addr`, matching *datamatch unless datamatch is NULL. The
 * write completes in the kernel: no exit reaches the VMM (the fast path for
 * virtio queue notifications). Returns 0 or -errno (logged). */
int vm_add_ioeventfd(struct vm *vm, enum vm_io_space space, uint64_t addr, unsigned len,
		     const uint64_t *datamatch, int fd);
int vm_remove_ioeventfd(struct vm *vm, enum vm_io_space space, uint64_t addr, unsigned len,
			const uint64_t *datamatch, int fd);

/* Have KVM raise interrupt line `gsi` (an edge) each time the eventfd `fd`
 * is written: device back-ends interrupt the guest without a VMM thread or
 * an ioctl. Returns 0 or -errno (logged). */
int vm_add_irqfd(struct vm *vm, unsigned gsi, int fd);
int vm_remove_irqfd(struct vm *vm, unsigned gsi, int fd);

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
