/* Running a built machine: the vCPU threads, the event loop, and the end:
 * joining threads, statistics, the exit status. */
#include "machine.h"
#include "machine_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "devices/terminal.h"
#include "log.h"
#include "vcpu.h"

static void print_exit_stats(struct vm *vm)
{
	struct exit_stats sum;
	long khz = vm->nr_vcpus ? ioctl(vm->vcpus[0].fd, KVM_GET_TSC_KHZ, 0) : -1;

	memset(&sum, 0, sizeof(sum));
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		exit_stats_accumulate(&sum, &vm->vcpus[i].stats);
	exit_stats_print(stderr, &sum, vm->nr_vcpus, khz > 0 ? (unsigned long)khz : 0);
	fprintf(stderr, "  unmapped port accesses: %llu reads, %llu writes\n",
		(unsigned long long)atomic_load(&vm->pio.unmapped_reads),
		(unsigned long long)atomic_load(&vm->pio.unmapped_writes));
}

static int exit_status(struct vm *vm)
{
	switch ((enum vm_stop_reason)atomic_load(&vm->stop_reason)) {
	case VM_STOP_GUEST_EXIT:
		return vm->stop_code & 0xff;
	case VM_STOP_RESET:
	case VM_STOP_POWEROFF:
		return EXIT_STATUS_OK;
	case VM_STOP_CRASH:
		return EXIT_STATUS_GUEST_CRASH;
	case VM_STOP_SIGNAL:
		return vm->stop_code ? EXIT_STATUS_SIGNAL_BASE + vm->stop_code : EXIT_STATUS_OK;
	case VM_STOP_VMM_ERROR:
	default:
		return EXIT_STATUS_VMM_ERROR;
	}
}

static void enter_raw_terminal(const struct machine *m)
{
	if (m->cfg->console == CONSOLE_STDIO && isatty(STDIN_FILENO) &&
	    terminal_raw_enter(STDIN_FILENO) < 0)
		log_warn("cannot put the terminal in raw mode; console input is line-buffered");
}

/* Start vCPUs [first, nr) on threads of their own. */
static int start_vcpu_threads(struct machine *m, unsigned first)
{
	struct vm *vm = &m->vm;
	int ret = 0;

	for (unsigned i = first; i < vm->nr_vcpus && ret == 0; i++)
		ret = vcpu_start(&vm->vcpus[i]);
	if (ret < 0)
		vm_request_stop(vm, VM_STOP_VMM_ERROR, 0);
	return ret;
}

/* A restored VM without --resume waits, parked, for SIGUSR2. */
static void prepare_start(struct machine *m)
{
	if (m->image && !m->cfg->restore_resume) {
		snapshot_control_start_paused(&m->snapshot);
		log_info("restore: %s ready and paused; send SIGUSR2 to resume", m->cfg->restore_path);
	}
}

int machine_start(struct machine *m)
{
	enter_raw_terminal(m);
	prepare_start(m);
	return start_vcpu_threads(m, 0);
}

static struct event_loop_config loop_config(struct machine *m)
{
	return (struct event_loop_config){
		.vm = &m->vm,
		.uart = &m->platform.com1,
		.input_fd = m->cfg->console == CONSOLE_STDIO ? STDIN_FILENO : -1,
		.escape_sequences = m->cfg->console == CONSOLE_STDIO && isatty(STDIN_FILENO),
		.user_signal = snapshot_control_signal,
		.user_signal_ctx = &m->snapshot,
	};
}

/* Once the VM is stopping: join the vCPU threads, give the terminal back,
 * report, and turn the stop reason into the exit status. */
static int finish(struct machine *m, int loop_ret)
{
	struct vm *vm = &m->vm;

	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		vcpu_join(&vm->vcpus[i]);
	terminal_restore();
	if (m->cfg->exit_stats) {
		print_exit_stats(vm);
		virtio_devices_print_stats(&m->virtio, stderr);
	}
	if (m->cfg->exit_stats || m->cfg->snapshot_timing)
		snapshot_image_print_stats(m->image, stderr);
	return loop_ret < 0 ? EXIT_STATUS_VMM_ERROR : exit_status(vm);
}

int machine_wait(struct machine *m)
{
	struct event_loop_config loop = loop_config(m);
	int ret = vm_stopping(&m->vm) ? 0 : event_loop_run(&m->loop, &loop);

	return finish(m, ret);
}

struct loop_thread {
	struct machine *machine;
	struct event_loop_config cfg;
	int ret;
};

static void *loop_thread_main(void *arg)
{
	struct loop_thread *t = arg;

	t->ret = event_loop_run(&t->machine->loop, &t->cfg);
	return NULL;
}

/* The CLI's way to run: the boot vCPU on this (main) thread, the event
 * loop and the other vCPUs on threads. The boot vCPU's first guest
 * instruction and the guest's exit then need no thread hand-off, which on
 * a busy host costs a scheduler tick each (bench/README.md). */
static int machine_run_boot_vcpu_here(struct machine *m)
{
	struct loop_thread loop = { .machine = m, .cfg = loop_config(m) };
	pthread_t thread;
	int ret;

	enter_raw_terminal(m);
	prepare_start(m);
	ret = pthread_create(&thread, NULL, loop_thread_main, &loop);
	if (ret != 0) {
		log_syscall_error("pthread_create(event loop)", ret);
		vm_request_stop(&m->vm, VM_STOP_VMM_ERROR, 0);
		return finish(m, -ret);
	}
	pthread_setname_np(thread, "event-loop");
	if (start_vcpu_threads(m, 1) == 0)
		vcpu_run_here(&m->vm.vcpus[0]);
	/* vCPU 0 leaves its loop only once the VM is stopping; the stop
	 * also woke the event loop. */
	pthread_join(thread, NULL);
	return finish(m, loop.ret);
}


int machine_run(const struct config *cfg)
{
	struct machine *m;
	int status = machine_create(cfg, &m);

	if (status != EXIT_STATUS_OK)
		return status;
	status = machine_run_boot_vcpu_here(m);
	machine_destroy(m);
	return status;
}
