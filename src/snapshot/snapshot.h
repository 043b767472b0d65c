/* Snapshots: save a paused VM to a state file and a memory file, and
 * restore it in a fresh process (docs/snapshots.md).
 *
 *   format.h          the state file container (sections, checksums)
 *   vcpu_state.h      one vCPU's KVM state
 *   vm_state.h        PIC, IOAPIC, PIT, kvmclock
 *   device_state.h    UART, RTC, i8042, ACPI PM, PCI, fw_cfg
 *   (virtio/mmio.h)   virtio transports and their back-ends' hooks
 *   machine_config.h  the configuration, the host, the memory file record
 *   memfile.h         the sparse memory file
 *   memory_backend.h  how a restore gets RAM: MAP_PRIVATE or userfaultfd
 *   save.c, restore.c the two directions; control.c the triggers
 *
 * The machine builder (machine.c) hands the snapshot code this view of
 * its parts; nothing here owns any of them. */
#ifndef KVMRUN_SNAPSHOT_SNAPSHOT_H
#define KVMRUN_SNAPSHOT_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "snapshot/timing.h"

struct kvm;
struct vm;
struct vcpu;
struct platform;
struct virtio_devices;
struct guest_memory;
struct memory_chain;
struct dirty_log;
struct snapshot_series;

struct snapshot_machine {
	const struct config *cfg;
	struct kvm *kvm;
	struct vm *vm;
	struct platform *platform;
	struct virtio_devices *virtio;
	struct snapshot_image *image;    /* the restore this VM came from, or NULL */
};

/* --- save.c --- */

/* The part of snapshot_check that needs only the configuration, so that
 * it can refuse before any output file exists. */
int snapshot_check_config(const struct config *cfg, char *err, size_t errlen);

/* Whether this machine can be saved at all: 0, or -ENOTSUP with a
 * one-line reason naming the device that cannot (checked at start-up when
 * --snapshot-on-signal is given, and again by snapshot_save). */
int snapshot_check(const struct snapshot_machine *m, char *err, size_t errlen);

/* Where one snapshot goes, and whether it is a diff. */
struct snapshot_target {
	const char *state_path;
	const char *memory_path;
	/* Diff snapshots (series.c): the dirty-page log, read at the save
	 * (NULL: not tracked), and the memory files the RAM sits on (NULL
	 * or empty: a full snapshot; else a diff of log->pending on them). */
	struct dirty_log *log;
	const struct memory_chain *base;
	uint64_t snapshot_id;        /* out: the id the files carry */
};

/* Save the paused VM (every vCPU parked, vm_pause) to target's paths, on
 * the event-loop thread. Each component's time goes to `t`. Returns 0 or
 * -errno (logged). The VM stays paused. */
int snapshot_save(const struct snapshot_machine *m, struct snapshot_target *target,
		  struct snap_timing *t);

/* --- restore.c --- */

struct snapshot_image;

/* Read and check the state file `cli->restore_path` and everything that
 * needs no KVM: header, sections, host, the machine configuration (the
 * returned image's config: `cli` with the machine fields from the file)
 * and the memory file's header. Returns 0, -EINVAL (bad input: exit 2,
 * one line logged) or another -errno (logged). */
int snapshot_image_open(struct snapshot_image **out, const struct config *cli);
const struct config *snapshot_image_config(const struct snapshot_image *img);
/* The memory files the restored RAM is made of (a diff saved from the
 * restored VM builds on them). */
const struct memory_chain *snapshot_image_chain(const struct snapshot_image *img);
void snapshot_image_close(struct snapshot_image *img);

/* The guest's RAM, by cfg->memory_backend. Returns 0, -EINVAL (bad
 * input) or -errno; logged. */
int snapshot_image_memory(struct snapshot_image *img, struct guest_memory *mem,
			  struct snap_timing *t);

/* Before a save of a restored VM reads its RAM: every page of the memory
 * file in place (the uffd back-end waits until resident). NULL img: 0.
 * Returns 0 or -errno (logged). */
int snapshot_image_memory_settle(struct snapshot_image *img);

/* The memory back-end's counters (--exit-stats, --snapshot-timing). */
void snapshot_image_print_stats(const struct snapshot_image *img, FILE *out);

/* Stop the memory back-end: after every vCPU has been joined and the
 * devices are gone, before the RAM is unmapped. NULL is a no-op. */
void snapshot_image_memory_stop(struct snapshot_image *img);

/* Put every saved state into the freshly built machine (vCPUs created,
 * devices attached, nothing running). Returns 0, -EINVAL (the file does
 * not match this machine: exit 2) or -errno (KVM refused: exit 3); logged. */
int snapshot_restore(struct snapshot_image *img, const struct snapshot_machine *m,
		     struct snap_timing *t);

/* --- series.c: diff snapshots (--snapshot-on-signal ...,diff) --- */

/* The dirty-page log and the chain the next diff builds on, for the VM
 * `vm` whose RAM tracks dirty pages; `restored` is the chain a restored
 * VM's RAM came from (NULL for a booted VM: its first snapshot is full).
 * Returns 0 or -errno (logged). */
int snapshot_series_create(struct snapshot_series **out, struct vm *vm,
			   const struct memory_chain *restored);
void snapshot_series_destroy(struct snapshot_series *s);

/* The next snapshot's names (the n-th this process takes: STATE, then
 * STATE.n; docs/snapshots.md) and base. Returns 0, or -EINVAL with err
 * set when its memory file would replace one of its own base's. */
int snapshot_series_prepare(struct snapshot_series *s, const struct snapshot_config *sc,
			    struct snapshot_target *t, char *err, size_t errlen);

/* `t`, prepared by snapshot_series_prepare, was saved. */
void snapshot_series_saved(struct snapshot_series *s, const struct snapshot_target *t);

/* --- control.c: the triggers --- */

struct snapshot_control {
	struct snapshot_machine machine;
	struct snapshot_series *series;   /* ,diff: set once the VM exists; else NULL */
	bool restored;
	bool waiting_for_resume;     /* restored without --resume, not yet resumed */
	uint64_t restore_start_ns;   /* when the restore began (0: not a restore) */
	uint64_t resume_ns;
	struct snap_timing timing;
};

void snapshot_control_init(struct snapshot_control *ctl, const struct snapshot_machine *m,
			   uint64_t restore_start_ns);

/* A restored VM without --resume: park every vCPU before it first runs.
 * Call before the vCPU threads start. */
void snapshot_control_start_paused(struct snapshot_control *ctl);

/* event_loop_config.user_signal: SIGUSR1 saves (--snapshot-on-signal),
 * SIGUSR2 resumes a VM restored paused. Event-loop thread. */
void snapshot_control_signal(void *ctl, int signo);

/* vm.first_entry_hook: logs restore -> running once vCPU 0 first enters
 * the guest. vCPU thread. */
void snapshot_control_first_entry(void *ctl, struct vcpu *vcpu);

#endif
