#include "vcpu_exit.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/ioctl.h>

#include "exit_reason.h"
#include "log.h"
#include "vcpu.h"
#include "vm.h"

static enum exit_outcome handle_io(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	unsigned size = run->io.size;
	uint32_t count = run->io.count;
	uint64_t offset = run->io.data_offset;

	/* KVM puts the data inside the kvm_run mapping; check it once, since
	 * a wrong offset would have us scribble past the shared page. size is
	 * at most 8 and count 32 bits, so the product cannot overflow. */
	if (__builtin_expect(offset > vcpu->run_size ||
			     (uint64_t)size * count > vcpu->run_size - offset, 0)) {
		log_error("vCPU %u: KVM_EXIT_IO data outside kvm_run (offset %" PRIu64 ", %u x %u bytes)",
			  vcpu->index, offset, count, size);
		vm_request_stop(vcpu->vm, VM_STOP_VMM_ERROR, 0);
		return EXIT_OUTCOME_FAIL;
	}
	uint8_t *data = (uint8_t *)run + offset;

	if (__builtin_expect(count == 1, 1)) {
		/* in/out: one item, the hot case. */
		if (run->io.direction == KVM_EXIT_IO_OUT)
			bus_port_write(&vcpu->vm->pio, run->io.port, data, size);
		else
			bus_port_read(&vcpu->vm->pio, run->io.port, data, size);
		/* A device that asked the VM to stop (exit port, reset) has
		 * kicked this vCPU with STOP: the run loop's request check,
		 * which comes before any re-entry, acts on it. */
		return EXIT_OUTCOME_REENTER;
	}
	/* String I/O (rep ins/outs) arrives as `count` back-to-back items. */
	if (run->io.direction == KVM_EXIT_IO_OUT) {
		for (uint32_t i = 0; i < count; i++, data += size)
			bus_port_write(&vcpu->vm->pio, run->io.port, data, size);
	} else {
		for (uint32_t i = 0; i < count; i++, data += size)
			bus_port_read(&vcpu->vm->pio, run->io.port, data, size);
	}
	return EXIT_OUTCOME_REENTER;
}

static enum exit_outcome handle_mmio(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	unsigned len = run->mmio.len;

	if (len == 0 || len > sizeof(run->mmio.data))
		return EXIT_OUTCOME_REENTER;  /* cannot come from KVM; ignore */
	if (run->mmio.is_write)
		bus_write(&vcpu->vm->mmio, run->mmio.phys_addr, run->mmio.data, len);
	else
		bus_read(&vcpu->vm->mmio, run->mmio.phys_addr, run->mmio.data, len);
	return EXIT_OUTCOME_REENTER;
}

static enum exit_outcome handle_system_event(struct vcpu *vcpu)
{
	switch (vcpu->run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		vm_request_stop(vcpu->vm, VM_STOP_POWEROFF, 0);
		return EXIT_OUTCOME_STOP;
	case KVM_SYSTEM_EVENT_RESET:
		vm_request_stop(vcpu->vm, VM_STOP_RESET, 0);
		return EXIT_OUTCOME_STOP;
	default:
		log_error("vCPU %u: KVM_EXIT_SYSTEM_EVENT type %u (crash)", vcpu->index,
			  vcpu->run->system_event.type);
		vm_request_stop(vcpu->vm, VM_STOP_CRASH, 0);
		return EXIT_OUTCOME_FAIL;
	}
}

/* The guest is dead (triple fault, failed entry, emulation failure): say
 * precisely why, with its state, and stop the VM with a crash status. */
static enum exit_outcome guest_crashed(struct vcpu *vcpu, const char *what)
{
	struct exit_reason er;
	char desc[256];

	exit_reason_from_run(&er, vcpu->run, vcpu->vm->vendor);
	exit_reason_describe(&er, desc, sizeof(desc));
	log_error("guest crashed on vCPU %u: %s: %s", vcpu->index, what, desc);
	if (er.basic == KVM_EXIT_INTERNAL_ERROR) {
		/* The suberror's extra words (api.rst: data[0..ndata-1]). */
		uint32_t n = vcpu->run->internal.ndata;

		if (n > sizeof(vcpu->run->internal.data) / sizeof(vcpu->run->internal.data[0]))
			n = sizeof(vcpu->run->internal.data) / sizeof(vcpu->run->internal.data[0]);
		fprintf(stderr, "  internal error data (%u words):", n);
		for (uint32_t i = 0; i < n; i++)
			fprintf(stderr, " %016llx", (unsigned long long)vcpu->run->internal.data[i]);
		fputc('\n', stderr);
	} else if (er.basic == KVM_EXIT_FAIL_ENTRY) {
		fprintf(stderr, "  failed entry on host CPU %u\n", vcpu->run->fail_entry.cpu);
	}
	vcpu_dump_state(vcpu, stderr);
	vm_request_stop(vcpu->vm, VM_STOP_CRASH, 0);
	return EXIT_OUTCOME_FAIL;
}

/* Everything but port and MMIO exits: rare, kept off the hot path. */
__attribute__((noinline, cold))
static enum exit_outcome handle_other_exit(struct vcpu *vcpu)
{
	switch (vcpu->run->exit_reason) {
	case KVM_EXIT_INTR:
		return EXIT_OUTCOME_CHECK_REQUESTS;
	case KVM_EXIT_HLT:
		/* With the in-kernel LAPIC, HLT stays in KVM; seeing it means
		 * the guest halted with interrupts off for good. */
		return guest_crashed(vcpu, "halted with no way to wake up");
	case KVM_EXIT_SHUTDOWN:
		return guest_crashed(vcpu, "triple fault");
	case KVM_EXIT_FAIL_ENTRY:
		return guest_crashed(vcpu, "VM entry failed");
	case KVM_EXIT_INTERNAL_ERROR:
		return guest_crashed(vcpu, "KVM internal error");
	case KVM_EXIT_SYSTEM_EVENT:
		return handle_system_event(vcpu);
	default:
		return guest_crashed(vcpu, "unexpected exit");
	}
}

enum exit_outcome vcpu_handle_exit(struct vcpu *vcpu)
{
	uint32_t reason = vcpu->run->exit_reason;

	if (__builtin_expect(reason == KVM_EXIT_IO, 1))
		return handle_io(vcpu);
	if (reason == KVM_EXIT_MMIO)
		return handle_mmio(vcpu);
	return handle_other_exit(vcpu);
}

static void dump_segment(FILE *out, const char *name, const struct kvm_segment *s)
{
	fprintf(out, "  %-3s sel %04x base %016" PRIx64 " limit %08x type %x s%u dpl%u p%u l%u db%u g%u%s\n",
		name, s->selector, (uint64_t)s->base, s->limit, s->type, s->s, s->dpl, s->present,
		s->l, s->db, s->g, s->unusable ? " unusable" : "");
}

/* Up to 16 bytes at CS:RIP, through the guest's own page tables. */
static void dump_code(struct vcpu *vcpu, FILE *out, const struct kvm_sregs *sregs, uint64_t rip)
{
	struct kvm_translation tr = { .linear_address = sregs->cs.base + rip };
	uint8_t bytes[16];
	unsigned n = 0;

	if (ioctl(vcpu->fd, KVM_TRANSLATE, &tr) < 0 || !tr.valid) {
		fprintf(out, "  code: RIP not mapped\n");
		return;
	}
	/* Stop at the first byte outside RAM (the range may cross a page). */
	while (n < sizeof(bytes) && guest_memory_read(&vcpu->vm->mem, tr.physical_address + n, &bytes[n], 1) == 0)
		n++;
	fprintf(out, "  code at gpa %016" PRIx64 ":", (uint64_t)tr.physical_address);
	for (unsigned i = 0; i < n; i++)
		fprintf(out, " %02x", bytes[i]);
	fprintf(out, n ? "\n" : " (outside RAM)\n");
}

void vcpu_dump_state(struct vcpu *vcpu, FILE *out)
{
	struct kvm_regs r;
	struct kvm_sregs s;

	if (ioctl(vcpu->fd, KVM_GET_REGS, &r) < 0 || ioctl(vcpu->fd, KVM_GET_SREGS, &s) < 0) {
		fprintf(out, "  (registers unavailable: %s)\n", strerror(errno));
		return;
	}
	fprintf(out, "  rip %016llx rflags %016llx\n", r.rip, r.rflags);
	fprintf(out, "  rax %016llx rbx %016llx rcx %016llx rdx %016llx\n", r.rax, r.rbx, r.rcx, r.rdx);
	fprintf(out, "  rsi %016llx rdi %016llx rsp %016llx rbp %016llx\n", r.rsi, r.rdi, r.rsp, r.rbp);
	fprintf(out, "  r8  %016llx r9  %016llx r10 %016llx r11 %016llx\n", r.r8, r.r9, r.r10, r.r11);
	fprintf(out, "  r12 %016llx r13 %016llx r14 %016llx r15 %016llx\n", r.r12, r.r13, r.r14, r.r15);
	fprintf(out, "  cr0 %016llx cr2 %016llx cr3 %016llx cr4 %016llx efer %016llx\n",
		s.cr0, s.cr2, s.cr3, s.cr4, s.efer);
	dump_segment(out, "cs", &s.cs);
	dump_segment(out, "ss", &s.ss);
	dump_segment(out, "ds", &s.ds);
	dump_segment(out, "tr", &s.tr);
	fprintf(out, "  gdt %016llx/%04x idt %016llx/%04x\n", s.gdt.base, s.gdt.limit, s.idt.base, s.idt.limit);
	dump_code(vcpu, out, &s, r.rip);
}
