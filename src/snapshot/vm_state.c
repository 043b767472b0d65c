/* VM-wide KVM state. See vm_state.h. */
#include "snapshot/vm_state.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "log.h"
#include "snapshot/format.h"
#include "snapshot/timing.h"

static const char *const chip_names[VM_STATE_IRQCHIPS] = { "PIC master", "PIC slave", "IOAPIC" };

int vm_state_save(struct vm_state *s, int vm_fd, struct snap_timing *t)
{
	uint64_t start = snap_now_ns();

	memset(s, 0, sizeof(*s));
	for (unsigned i = 0; i < VM_STATE_IRQCHIPS; i++) {
		s->irqchip[i].chip_id = i;
		if (ioctl(vm_fd, KVM_GET_IRQCHIP, &s->irqchip[i]) < 0) {
			log_error("KVM_GET_IRQCHIP (%s): %s", chip_names[i], strerror(errno));
			return -errno;
		}
	}
	snap_timing_lap(t, &start, "vm irqchip");
	if (ioctl(vm_fd, KVM_GET_PIT2, &s->pit) < 0)
		return log_syscall_error("KVM_GET_PIT2", errno);
	snap_timing_lap(t, &start, "vm pit");
	if (ioctl(vm_fd, KVM_GET_CLOCK, &s->clock) < 0)
		return log_syscall_error("KVM_GET_CLOCK", errno);
	snap_timing_lap(t, &start, "vm clock");
	return 0;
}

int vm_state_restore_chips(const struct vm_state *s, int vm_fd, struct snap_timing *t)
{
	uint64_t start = snap_now_ns();

	for (unsigned i = 0; i < VM_STATE_IRQCHIPS; i++) {
		struct kvm_irqchip chip = s->irqchip[i];

		if (ioctl(vm_fd, KVM_SET_IRQCHIP, &chip) < 0) {
			log_error("KVM_SET_IRQCHIP (%s): %s", chip_names[i], strerror(errno));
			return -errno;
		}
	}
	snap_timing_lap(t, &start, "vm irqchip");
	/* KVM reloads each channel's count from here: the PIT's period
	 * restarts at restore (a fraction of a tick). */
	if (ioctl(vm_fd, KVM_SET_PIT2, &s->pit) < 0)
		return log_syscall_error("KVM_SET_PIT2", errno);
	snap_timing_lap(t, &start, "vm pit");
	return 0;
}

int vm_state_restore_clock(const struct vm_state *s, int vm_fd, struct snap_timing *t)
{
	uint64_t start = snap_now_ns();
	/* Only the clock value: flags 0 (no KVM_CLOCK_REALTIME) so it
	 * continues from where it stopped; see vm_state.h. */
	struct kvm_clock_data clock = { .clock = s->clock.clock };

	if (ioctl(vm_fd, KVM_SET_CLOCK, &clock) < 0)
		return log_syscall_error("KVM_SET_CLOCK", errno);
	snap_timing_lap(t, &start, "vm clock");
	return 0;
}

void vm_state_write(const struct vm_state *s, struct snap_writer *w)
{
	for (unsigned i = 0; i < VM_STATE_IRQCHIPS; i++)
		snap_writer_section(w, SNAP_SEC_VM_IRQCHIP, i, 0, &s->irqchip[i],
				    sizeof(s->irqchip[i]));
	snap_writer_section(w, SNAP_SEC_VM_PIT, 0, 0, &s->pit, sizeof(s->pit));
	snap_writer_section(w, SNAP_SEC_VM_CLOCK, 0, 0, &s->clock, sizeof(s->clock));
}

static int read_fixed(const struct snap_reader *r, uint32_t type, unsigned instance, void *out,
		      size_t size, char *err, size_t errlen)
{
	const struct snap_section *s = snap_reader_find(r, type, instance);

	if (!s || s->len != size) {
		snprintf(err, errlen, s ? "section %s[%u] is %llu bytes, expected %zu"
					: "section %s[%u] is missing",
			 snap_section_name(type), instance, s ? (unsigned long long)s->len : 0ULL, size);
		return -EINVAL;
	}
	memcpy(out, s->data, size);
	return 0;
}

int vm_state_read(struct vm_state *s, const struct snap_reader *r, char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	for (unsigned i = 0; i < VM_STATE_IRQCHIPS; i++) {
		if (read_fixed(r, SNAP_SEC_VM_IRQCHIP, i, &s->irqchip[i], sizeof(s->irqchip[i]), err,
			       errlen) < 0)
			return -EINVAL;
		if (s->irqchip[i].chip_id != i) {
			snprintf(err, errlen, "section vm-irqchip[%u] holds chip %u", i,
				 s->irqchip[i].chip_id);
			return -EINVAL;
		}
	}
	if (read_fixed(r, SNAP_SEC_VM_PIT, 0, &s->pit, sizeof(s->pit), err, errlen) < 0 ||
	    read_fixed(r, SNAP_SEC_VM_CLOCK, 0, &s->clock, sizeof(s->clock), err, errlen) < 0)
		return -EINVAL;
	return 0;
}
