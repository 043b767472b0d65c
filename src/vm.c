#include "vm.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cpuid.h"
#include "irq_routing.h"
#include "layout.h"
#include "log.h"
#include "vcpu.h"

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* ns since *start, moving *start to now. */
static uint64_t lap_ns(uint64_t *start)
{
	uint64_t now = monotonic_ns(), ns = now - *start;

	*start = now;
	return ns;
}

static enum exit_hw_vendor host_vendor(struct kvm *kvm)
{
	struct kvm_cpuid_entry2 *leaf0 = cpuid_find(kvm->supported_cpuid, 0, 0);

	return leaf0 ? exit_hw_vendor_from_cpuid(leaf0->ebx, leaf0->ecx, leaf0->edx)
		     : EXIT_HW_UNKNOWN;
}

/* Slot i is RAM region i (the dirty log, snapshot/dirty_log.c, relies on
 * it). RAM that tracks dirty pages (guest_memory_track_dirty: diff
 * snapshots) has KVM log the guest's writes too (api.rst,
 * KVM_SET_USER_MEMORY_REGION, KVM_MEM_LOG_DIRTY_PAGES). */
static int add_memory_slots(struct vm *vm)
{
	for (unsigned i = 0; i < vm->mem.nr_regions; i++) {
		const struct guest_region *r = &vm->mem.regions[i];
		struct kvm_userspace_memory_region slot = {
			.slot = i,
			.flags = vm->mem.vmm_dirty ? KVM_MEM_LOG_DIRTY_PAGES : 0,
			.guest_phys_addr = r->gpa,
			.memory_size = r->size,
			.userspace_addr = (uint64_t)(uintptr_t)(vm->mem.host + r->host_offset),
		};

		if (ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
			return log_syscall_error("KVM_SET_USER_MEMORY_REGION", errno);
	}
	return 0;
}

/* GSI 0 (the PIT) to I/O APIC pin 2, where the MP table and the MADT put
 * ISA IRQ 0 (irq_routing.h). Returns 0, or -1 with errno set (logged). */
static int set_pc_irq_routing(struct vm *vm)
{
	struct {
		struct kvm_irq_routing table;
		struct kvm_irq_routing_entry entries[IRQ_ROUTING_PC_ENTRIES];
	} routing;
	int err;

	memset(&routing, 0, sizeof(routing));
	routing.table.nr = irq_routing_pc(routing.entries);
	if (ioctl(vm->fd, KVM_SET_GSI_ROUTING, &routing.table) < 0) {
		err = errno;
		log_syscall_error("KVM_SET_GSI_ROUTING", err);
		errno = err;
		return -1;
	}
	return 0;
}

/* Platform pieces KVM emulates in the kernel: the TSS and identity-map
 * pages it needs for real mode on Intel, PIC + IOAPIC + LAPICs, and the
 * PIT (which also serves port 0x61, the speaker gate Linux uses to
 * calibrate the TSC). */
static int create_in_kernel_platform(struct vm *vm)
{
	uint64_t identity_map = LAYOUT_IDENTITY_MAP;
	struct kvm_pit_config pit = { .flags = 0 };

	if (ioctl(vm->fd, KVM_SET_IDENTITY_MAP_ADDR, &identity_map) < 0)
		return log_syscall_error("KVM_SET_IDENTITY_MAP_ADDR", errno);
	if (ioctl(vm->fd, KVM_SET_TSS_ADDR, (unsigned long)LAYOUT_TSS) < 0)
		return log_syscall_error("KVM_SET_TSS_ADDR", errno);
	if (ioctl(vm->fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return log_syscall_error("KVM_CREATE_IRQCHIP", errno);
	if (set_pc_irq_routing(vm) < 0)
		return -errno;
	if (ioctl(vm->fd, KVM_CREATE_PIT2, &pit) < 0)
		return log_syscall_error("KVM_CREATE_PIT2", errno);
	return 0;
}

/* The CPUID query kvm_open() started ran during KVM_CREATE_VM and the
 * memory slots; the vendor decodes exit reasons. */
static int take_host_cpuid(struct vm *vm)
{
	char err[128];
	int ret = kvm_wait_cpuid(vm->kvm, err, sizeof(err));

	if (ret < 0) {
		log_error("%s", err);
		return ret;
	}
	vm->vendor = host_vendor(vm->kvm);
	return 0;
}

int vm_create(struct vm *vm, struct kvm *kvm, struct guest_memory *mem)
{
	uint64_t start = monotonic_ns();
	int ret;

	memset(vm, 0, sizeof(*vm));
	vm->kvm = kvm;
	vm->mem = *mem;
	memset(mem, 0, sizeof(*mem));
	mem->fd = -1;
	vm->stop_eventfd = -1;
	bus_init(&vm->mmio, "mmio");
	ret = bus_init_dense(&vm->pio, "pio", 0x10000);
	if (ret < 0) {
		guest_memory_destroy(&vm->mem);
		return log_syscall_error("allocating the port index", -ret);
	}

	vm->fd = ioctl(kvm->fd, KVM_CREATE_VM, 0);
	if (vm->fd < 0) {
		ret = log_syscall_error("KVM_CREATE_VM", errno);
		goto free_memory;
	}
	vm->setup.create_ns = lap_ns(&start);
	vm->stop_eventfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->stop_eventfd < 0) {
		ret = log_syscall_error("eventfd", errno);
		goto close_vm;
	}
	/* Memory slots before the in-kernel devices, as Firecracker orders
	 * them. Adding a slot and registering the irqchip's and PIT's I/O
	 * devices each end in an SRCU grace period of kvm->srcu
	 * (synchronize_srcu_expedited). With the slot last it waited 4-10 ms
	 * for one, sleeping, on every boot and restore on the development
	 * host; first, the whole sequence mostly takes 0.3-2 ms
	 * (bench/README.md, "Snapshot benchmark"). KVM needs no order between
	 * them (api.rst). */
	ret = add_memory_slots(vm);
	if (ret < 0)
		goto close_eventfd;
	vm->setup.slots_ns = lap_ns(&start);
	ret = take_host_cpuid(vm);
	if (ret < 0)
		goto close_eventfd;
	vm->setup.cpuid_wait_ns = lap_ns(&start);
	ret = create_in_kernel_platform(vm);
	if (ret < 0)
		goto close_eventfd;
	vm->setup.platform_ns = lap_ns(&start);
	/* Last: vm_destroy() undoes these, and only a created VM gets there. */
	pthread_mutex_init(&vm->pause_lock, NULL);
	pthread_cond_init(&vm->parked_cond, NULL);
	pthread_cond_init(&vm->resume_cond, NULL);
	return 0;

close_eventfd:
	close(vm->stop_eventfd);
	vm->stop_eventfd = -1;
close_vm:
	close(vm->fd);
	vm->fd = -1;
free_memory:
	bus_destroy(&vm->pio);
	guest_memory_destroy(&vm->mem);
	return ret;
}

int vm_set_pit_reinject(struct vm *vm, bool reinject)
{
	struct kvm_reinject_control control = { .pit_reinject = reinject ? 1 : 0 };

	if (ioctl(vm->fd, KVM_REINJECT_CONTROL, &control) < 0)
		return log_syscall_error("KVM_REINJECT_CONTROL", errno);
	return 0;
}

void vm_destroy(struct vm *vm)
{
	bus_destroy(&vm->pio);
	bus_destroy(&vm->mmio);
	guest_memory_destroy(&vm->mem);
	if (vm->stop_eventfd >= 0)
		close(vm->stop_eventfd);
	if (vm->fd >= 0)
		close(vm->fd);
	vm->fd = vm->stop_eventfd = -1;
	pthread_cond_destroy(&vm->resume_cond);
	pthread_cond_destroy(&vm->parked_cond);
	pthread_mutex_destroy(&vm->pause_lock);
}

void vm_request_stop(struct vm *vm, enum vm_stop_reason reason, int code)
{
	int expected = VM_STOP_NONE;
	uint64_t one = 1;

	/* The first caller claims the stop, then stores its code, then
	 * publishes the reason with release order, so whoever sees the reason
	 * also sees the code. */
	if (!atomic_compare_exchange_strong(&vm->stop_reason, &expected, VM_STOP_CLAIMED))
		return;  /* somebody else is stopping (or stopped) the VM */
	vm->stop_code = code;
	atomic_store_explicit(&vm->stop_reason, (int)reason, memory_order_release);

	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(&vm->vcpus[i], VCPU_REQUEST_STOP);
	/* Parked vCPUs wait on resume_cond, not for a kick; a pauser waits
	 * on parked_cond and must give up. */
	pthread_mutex_lock(&vm->pause_lock);
	pthread_cond_broadcast(&vm->resume_cond);
	pthread_cond_broadcast(&vm->parked_cond);
	pthread_mutex_unlock(&vm->pause_lock);
	/* Wake the event loop; a failed write only means it is already awake. */
	if (write(vm->stop_eventfd, &one, sizeof(one)) < 0)
		(void)0;
}

void vm_stop_request_cb(void *vm, enum vm_stop_reason reason, int code)
{
	vm_request_stop(vm, reason, code);
}

static int ioeventfd_ctl(struct vm *vm, enum vm_io_space space, uint64_t addr, unsigned len,
			 const uint64_t *datamatch, int fd, bool assign)
{
	struct kvm_ioeventfd io = {
		.addr = addr,
		.len = len,
		.fd = fd,
		.datamatch = datamatch ? *datamatch : 0,
		.flags = (space == VM_IO_PIO ? KVM_IOEVENTFD_FLAG_PIO : 0) |
			 (datamatch ? KVM_IOEVENTFD_FLAG_DATAMATCH : 0) |
			 (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN),
	};

	if (len != 1 && len != 2 && len != 4 && len != 8)
		return -EINVAL;
	if (ioctl(vm->fd, KVM_IOEVENTFD, &io) < 0) {
		int err = errno;

		log_error("KVM_IOEVENTFD (%s %s 0x%llx, %u bytes): %s", assign ? "add" : "remove",
			  space == VM_IO_PIO ? "port" : "MMIO", (unsigned long long)addr, len,
			  strerror(err));
		return -err;
	}
	return 0;
}

int vm_add_ioeventfd(struct vm *vm, enum vm_io_space space, uint64_t addr, unsigned len,
		     const uint64_t *datamatch, int fd)
{
	return ioeventfd_ctl(vm, space, addr, len, datamatch, fd, true);
}

int vm_remove_ioeventfd(struct vm *vm, enum vm_io_space space, uint64_t addr, unsigned len,
			const uint64_t *datamatch, int fd)
{
	return ioeventfd_ctl(vm, space, addr, len, datamatch, fd, false);
}

static int irqfd_ctl(struct vm *vm, unsigned gsi, int fd, bool assign)
{
	struct kvm_irqfd irqfd = {
		.fd = (uint32_t)fd,
		.gsi = gsi,
		.flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN,
	};

	if (ioctl(vm->fd, KVM_IRQFD, &irqfd) < 0) {
		int err = errno;

		log_error("KVM_IRQFD (%s gsi %u): %s", assign ? "add" : "remove", gsi, strerror(err));
		return -err;
	}
	return 0;
}

int vm_add_irqfd(struct vm *vm, unsigned gsi, int fd)
{
	return irqfd_ctl(vm, gsi, fd, true);
}

int vm_remove_irqfd(struct vm *vm, unsigned gsi, int fd)
{
	return irqfd_ctl(vm, gsi, fd, false);
}

void vm_irq_set_level(void *opaque, unsigned gsi, bool level)
{
	struct vm *vm = opaque;
	struct kvm_irq_level irq = { .irq = gsi, .level = level };

	/* Can only fail for a bad GSI, which is a VMM bug: say so, once. */
	if (ioctl(vm->fd, KVM_IRQ_LINE, &irq) < 0) {
		static atomic_bool warned;  /* rate limit: one message per process */
		if (!atomic_exchange(&warned, true))
			log_warn("KVM_IRQ_LINE gsi %u: %s", gsi, strerror(errno));
	}
}

int vm_pause(struct vm *vm)
{
	int ret = 0;

	pthread_mutex_lock(&vm->pause_lock);
	vm->paused = true;
	pthread_mutex_unlock(&vm->pause_lock);
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(&vm->vcpus[i], VCPU_REQUEST_PAUSE);
	pthread_mutex_lock(&vm->pause_lock);
	while (vm->nr_parked < vm->nr_running && !vm_stopping(vm))
		pthread_cond_wait(&vm->parked_cond, &vm->pause_lock);
	if (vm_stopping(vm))
		ret = -ESHUTDOWN;
	pthread_mutex_unlock(&vm->pause_lock);
	return ret;
}

void vm_resume(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	vm->paused = false;
	/* Do not wait for the vCPUs to leave: on a busy host that takes a
	 * scheduler tick each. A vCPU that has not run again by the next
	 * vm_pause() simply stays parked, and counts as paused: it has not
	 * executed guest code since the last pause. */
	pthread_cond_broadcast(&vm->resume_cond);
	pthread_mutex_unlock(&vm->pause_lock);
}

void vm_park_vcpu(struct vm *vm, struct vcpu *vcpu)
{
	(void)vcpu;
	pthread_mutex_lock(&vm->pause_lock);
	/* A pause request that arrives after the resume finds paused false
	 * and does not park: nobody is waiting for it any more. */
	if (vm->paused && !vm_stopping(vm)) {
		vm->nr_parked++;
		pthread_cond_broadcast(&vm->parked_cond);
		while (vm->paused && !vm_stopping(vm))
			pthread_cond_wait(&vm->resume_cond, &vm->pause_lock);
		vm->nr_parked--;
		pthread_cond_broadcast(&vm->parked_cond);
	}
	pthread_mutex_unlock(&vm->pause_lock);
}

void vm_vcpu_starting(struct vm *vm, struct vcpu *vcpu)
{
	(void)vcpu;
	pthread_mutex_lock(&vm->pause_lock);
	vm->nr_running++;
	pthread_mutex_unlock(&vm->pause_lock);
}

void vm_vcpu_exited(struct vm *vm, struct vcpu *vcpu)
{
	(void)vcpu;
	pthread_mutex_lock(&vm->pause_lock);
	vm->nr_running--;
	pthread_cond_broadcast(&vm->parked_cond);
	pthread_mutex_unlock(&vm->pause_lock);
}
