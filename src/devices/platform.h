/* What a device may do to the machine around it: raise interrupt lines and
 * ask the VM to stop. Devices get these as small callback structs so that
 * the unit tests can plug in recorders and no device knows about struct vm. */
#ifndef KVMRUN_DEVICES_PLATFORM_H
#define KVMRUN_DEVICES_PLATFORM_H

#include <stdbool.h>

struct irq_line {
	/* Drive interrupt line `gsi` high or low (level semantics). */
	void (*set_level)(void *ctx, unsigned gsi, bool level);
	void *ctx;
	unsigned gsi;
};

static inline void irq_line_set(const struct irq_line *line, bool level)
{
	if (line->set_level)
		line->set_level(line->ctx, line->gsi, level);
}

enum vm_stop_reason {
	VM_STOP_NONE = 0,
	VM_STOP_GUEST_EXIT,   /* guest wrote its exit code to the exit port */
	VM_STOP_RESET,        /* guest asked for a reset (i8042, triple fault is a crash) */
	VM_STOP_POWEROFF,     /* guest powered off */
	VM_STOP_CRASH,        /* triple fault, emulation failure, failed entry */
	VM_STOP_VMM_ERROR,    /* a KVM ioctl or host resource failed */
	VM_STOP_SIGNAL,       /* the operator stopped it (SIGINT/SIGTERM/escape) */
};

struct stop_request {
	/* Ask the VM to stop; `code` is the guest's exit code for
	 * VM_STOP_GUEST_EXIT and ignored otherwise. Safe from any thread; the
	 * first request wins. */
	void (*request)(void *ctx, enum vm_stop_reason reason, int code);
	void *ctx;
};

static inline void stop_request_send(const struct stop_request *stop,
				     enum vm_stop_reason reason, int code)
{
	if (stop->request)
		stop->request(stop->ctx, reason, code);
}

#endif
