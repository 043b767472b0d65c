/* Snapshot triggers and restore timing. See snapshot.h.
 *
 * Until the control API exists, signals drive snapshots: SIGUSR1 saves
 * (with --snapshot-on-signal), SIGUSR2 resumes a VM restored without
 * --resume. Both arrive on the event-loop thread (its signalfd), which is
 * also where device back-ends run, so a save can finish their requests
 * without any hand-off. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "snapshot/format.h"
#include "snapshot/snapshot.h"
#include "snapshot/soft_event.h"
#include "vcpu.h"
#include "vm.h"

void snapshot_control_init(struct snapshot_control *ctl, const struct snapshot_machine *m,
			   uint64_t restore_start_ns)
{
	ctl->machine = *m;
	ctl->series = NULL;
	ctl->restored = restore_start_ns != 0;
	ctl->waiting_for_resume = false;
	ctl->restore_start_ns = restore_start_ns;
	ctl->resume_ns = 0;
	ctl->timing.nr = 0;
	ctl->timing.dropped = 0;
}

void snapshot_control_start_paused(struct snapshot_control *ctl)
{
	struct vm *vm = ctl->machine.vm;

	ctl->waiting_for_resume = true;
	pthread_mutex_lock(&vm->pause_lock);
	vm->paused = true;
	pthread_mutex_unlock(&vm->pause_lock);
	/* Posted before the threads exist: each parks at its first request
	 * check, before its first KVM_RUN. */
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(&vm->vcpus[i], VCPU_REQUEST_PAUSE);
}

static double ms_since(uint64_t start)
{
	return (double)(snap_now_ns() - start) / 1e6;
}

/* How often a save lets the guest run on for a moment rather than catch
 * a vCPU in the middle of a software interrupt (soft_event.h), and for
 * how long each time. Ten misses in a row would take a guest that loops
 * on INT n; it is then saved anyway, with a warning. */
#define SOFT_EVENT_RETRIES   10
#define SOFT_EVENT_RUN_NS    1000000L

static int vcpu_with_soft_event(const struct vm *vm)
{
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		if (soft_event_maybe_hidden(vm->vcpus[i].fd, &vm->mem))
			return (int)i;
	return -1;
}

/* Pause, and again while a vCPU may hold a software interrupt KVM would
 * not report. Returns 0, or -1 if the VM is stopping. */
static int pause_outside_soft_events(struct vm *vm)
{
	int vcpu;

	if (vm_pause(vm) < 0)
		return -1;
	for (unsigned tries = 0; (vcpu = vcpu_with_soft_event(vm)) >= 0; tries++) {
		struct timespec run = { .tv_nsec = SOFT_EVENT_RUN_NS };

		if (tries == SOFT_EVENT_RETRIES) {
			log_warn("snapshot: vCPU %d may be delivering a software interrupt KVM "
				 "does not report; saving anyway", vcpu);
			break;
		}
		log_info("snapshot: vCPU %d may be delivering a software interrupt; letting it "
			 "run on for a moment", vcpu);
		vm_resume(vm);
		nanosleep(&run, NULL);
		if (vm_pause(vm) < 0)
			return -1;
	}
	return 0;
}

/* After a save: the guest runs on, unless it is a restored VM still
 * waiting for SIGUSR2, which keeps waiting. */
static void resume_after_save(struct snapshot_control *ctl)
{
	if (!ctl->waiting_for_resume)
		vm_resume(ctl->machine.vm);
}

static void save_on_signal(struct snapshot_control *ctl)
{
	const struct snapshot_config *sc = &ctl->machine.cfg->snapshot;
	struct snapshot_target target = { .state_path = sc->state_path,
					   .memory_path = sc->memory_path };
	struct vm *vm = ctl->machine.vm;
	uint64_t start = snap_now_ns(), paused;
	char err[SNAP_ERROR_MAX];
	int ret;

	if (!sc->state_path[0]) {
		log_info("SIGUSR1 ignored: no --snapshot-on-signal");
		return;
	}
	if (ctl->series && snapshot_series_prepare(ctl->series, sc, &target, err, sizeof(err)) < 0) {
		log_error("snapshot refused: %s; the VM continues", err);
		return;
	}
	ctl->timing.nr = 0;
	ctl->timing.dropped = 0;
	/* A restored VM waiting for SIGUSR2 has not run since its restore:
	 * its vCPUs hold the state its own save checked, and letting it run
	 * on for the check would start the guest before the operator did. */
	ret = ctl->waiting_for_resume ? vm_pause(vm) : pause_outside_soft_events(vm);
	if (ret < 0)
		return;   /* the VM is stopping anyway */
	paused = snap_now_ns();
	snap_timing_add(&ctl->timing, paused - start, "pause");
	ret = snapshot_save(&ctl->machine, &target, &ctl->timing);
	snap_timing_add(&ctl->timing, snap_now_ns() - start, "total pause->saved");
	if (ctl->machine.cfg->snapshot_timing)
		snap_timing_print(&ctl->timing, "save", stderr);
	if (ret < 0) {
		/* Nothing is lost: the guest runs on, and a diff series still
		 * has every page changed since its last snapshot on disk. */
		log_error("snapshot to %s failed; the VM continues", target.state_path);
		resume_after_save(ctl);
		return;
	}
	if (ctl->series)
		snapshot_series_saved(ctl->series, &target);
	log_info("snapshot: saved %s and %s in %.2f ms (vCPUs paused in %.2f ms)", target.state_path,
		 target.memory_path, ms_since(start), (double)(paused - start) / 1e6);
	if (sc->then == SNAPSHOT_THEN_EXIT)
		vm_request_stop(vm, VM_STOP_SIGNAL, 0);   /* exit status 0 */
	else
		resume_after_save(ctl);
}

static void resume_on_signal(struct snapshot_control *ctl)
{
	if (!ctl->waiting_for_resume) {
		log_info("SIGUSR2 ignored: no restored VM is waiting to be resumed");
		return;
	}
	ctl->waiting_for_resume = false;
	ctl->resume_ns = snap_now_ns();
	log_info("restore: resuming on SIGUSR2");
	vm_resume(ctl->machine.vm);
}

void snapshot_control_signal(void *opaque, int signo)
{
	struct snapshot_control *ctl = opaque;

	if (signo == SIGUSR1)
		save_on_signal(ctl);
	else if (signo == SIGUSR2)
		resume_on_signal(ctl);
}

void snapshot_control_first_entry(void *opaque, struct vcpu *vcpu)
{
	struct snapshot_control *ctl = opaque;

	if (!ctl->restored || vcpu->index != 0)
		return;
	if (ctl->resume_ns)
		log_info("restore: vCPU 0 entered the guest %.2f ms after SIGUSR2 (%.2f ms after the restore began)",
			 ms_since(ctl->resume_ns), ms_since(ctl->restore_start_ns));
	else
		log_info("restore: vCPU 0 entered the guest %.2f ms after the restore began",
			 ms_since(ctl->restore_start_ns));
}
