/* The machine builder: validates the input, loads the guest and assembles
 * the VM, its platform, devices and vCPUs (or a restored VM from its state
 * file), in one readable order; and takes it apart again. Running it is
 * machine_run.c. */
#include "machine.h"
#include "machine_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "acpi/acpi.h"
#include "boot/boot.h"
#include "cpuid.h"
#include "layout.h"
#include "log.h"
#include "snapshot/format.h"
#include "vcpu.h"
#include "zeroed_pages.h"

/* The guest's highest physical address must fit in the host CPU's
 * physical address width (CPUID 0x80000008 EAX[7:0]). Read from the CPU
 * itself: it is checked before the memory slots, and KVM's copy
 * (KVM_GET_SUPPORTED_CPUID) is still being queried then. KVM reports the
 * same width, or fewer bits where memory encryption takes some; then
 * KVM_SET_USER_MEMORY_REGION refuses the slot beyond it. */
static uint64_t max_guest_phys(void)
{
	unsigned eax, ebx, ecx, edx, bits = 36;

	cpuid_host(0x80000000, &eax, &ebx, &ecx, &edx);
	if (eax >= 0x80000008) {
		cpuid_host(0x80000008, &eax, &ebx, &ecx, &edx);
		bits = eax & 0xff;
	}

	return bits >= 64 ? UINT64_MAX : (1ULL << bits);
}

/* The host's RAM bounds the guest's: checked before anything is allocated. */
static int check_host_memory(const struct config *cfg)
{
	struct sysinfo si;

	if (sysinfo(&si) == 0) {
		uint64_t host_ram = (uint64_t)si.totalram * si.mem_unit;

		if (cfg->memory_bytes > host_ram) {
			log_error("--memory %llu MiB: more than the host's %llu MiB of RAM",
				  (unsigned long long)(cfg->memory_bytes >> 20),
				  (unsigned long long)(host_ram >> 20));
			return -EINVAL;
		}
	}
	return 0;
}

/* Limits of the host: how many vCPUs KVM allows, how wide guest
 * addresses may be. Checked before the VM is created. */
static int check_kvm_limits(const struct machine *m)
{
	const struct config *cfg = m->cfg;
	struct guest_memory layout;

	if (cfg->nr_cpus > m->kvm.max_vcpus) {
		log_error("--cpus %u: this host's KVM allows at most %u vCPUs", cfg->nr_cpus,
			  m->kvm.max_vcpus);
		return -EINVAL;
	}
	guest_memory_layout(&layout, cfg->memory_bytes);
	const struct guest_region *top = &layout.regions[layout.nr_regions - 1];
	if (top->gpa + top->size > max_guest_phys()) {
		log_error("--memory %llu MiB: beyond the host CPU's physical address width",
			  (unsigned long long)(cfg->memory_bytes >> 20));
		return -EINVAL;
	}
	return 0;
}

static int open_images(struct machine *m)
{
	char err[512];

	if (image_file_open(&m->kernel, "kernel", m->cfg->kernel_path, err, sizeof(err)) < 0 ||
	    (m->cfg->initrd_path &&
	     image_file_open(&m->initrd, "initrd", m->cfg->initrd_path, err, sizeof(err)) < 0)) {
		log_error("%s", err);
		return -EINVAL;
	}
	return 0;
}

/* Whether the guest will read our ACPI tables: they exist, and the
 * command line does not turn ACPI off. */
static bool uses_acpi(const struct config *cfg)
{
	return cfg->acpi && !strstr(cfg->cmdline, "acpi=off");
}

/* Guest RAM with the guest loaded into it: input checks that need no KVM. */
static int load_guest(struct machine *m, struct guest_memory *mem, struct boot_entry *entry)
{
	struct boot_config boot = {
		.kernel = m->kernel.data,
		.kernel_size = m->kernel.size,
		.initrd = m->initrd.data,
		.initrd_size = m->initrd.size,
		.cmdline = m->cmdline,
		.kernel_name = m->cfg->kernel_path,
		.acpi_rsdp = uses_acpi(m->cfg) ? ACPI_RSDP_ADDR : 0,
	};
	char err[BOOT_ERROR_MAX];
	int ret;

	/* A restore's RAM is the memory file, loaded with everything. */
	if (m->image)
		return snapshot_image_memory(m->image, mem, &m->snapshot.timing);
	ret = guest_memory_create(mem, m->cfg->memory_bytes);
	if (ret < 0) {
		log_error("cannot allocate %llu MiB of guest memory: %s",
			  (unsigned long long)(m->cfg->memory_bytes >> 20), strerror(-ret));
		return ret;
	}
	ret = boot_load(mem, &boot, entry, err);
	if (ret < 0) {
		log_error("%s: %s", m->cfg->kernel_path, err);
		goto free_memory;
	}
	ret = mptable_write(mem, m->cfg->nr_cpus);
	if (ret < 0) {
		log_error("cannot write the MP table for %u vCPUs: %s", m->cfg->nr_cpus, strerror(-ret));
		goto free_memory;
	}
	return 0;

free_memory:
	guest_memory_destroy(mem);
	return -EINVAL;
}

/* The ACPI tables, written once the platform exists so that the DSDT can
 * list the devices it created. The MP table stays too (load_guest): guests
 * without ACPI, or booted with acpi=off, use it. */
static int write_acpi_tables(struct machine *m)
{
	const struct virtio_devices_plan *plan = &m->virtio.plan;
	struct acpi_mmio_device virtio[VIRTIO_DEVICES_MAX];
	struct acpi_config acpi = {
		.nr_cpus = m->cfg->nr_cpus,
		.virtio_mmio = virtio,
		.nr_virtio_mmio = plan->nr,
	};

	/* virtio-mmio windows as LNRO0005 devices: level-triggered, like
	 * the IOAPIC pins 16-23 they use. */
	for (unsigned i = 0; i < plan->nr; i++)
		virtio[i] = (struct acpi_mmio_device){
			.base = plan->slots[i].base, .size = 0x1000,
			.gsi = plan->slots[i].gsi, .level = true,
		};
	int ret = acpi_write(&m->vm.mem, &acpi, NULL);

	if (ret < 0)
		log_error("cannot write the ACPI tables for %u vCPUs: %s", m->cfg->nr_cpus,
			  strerror(-ret));
	return ret;
}

/* Opened only once all input has been validated, so that bad input never
 * leaves a console file behind. */
static int open_console(struct machine *m)
{
	m->console_fd = -1;
	switch (m->cfg->console) {
	case CONSOLE_STDIO:
		m->console_fd = STDOUT_FILENO;
		return 0;
	case CONSOLE_NONE:
		return 0;
	case CONSOLE_FILE:
		m->console_fd = open(m->cfg->console_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (m->console_fd < 0) {
			log_error("--console file:%s: %s", m->cfg->console_path, strerror(errno));
			return -errno;
		}
		m->console_fd_owned = true;
		return 0;
	}
	return -EINVAL;
}

/* vm_create()'s steps: on a shadow-paging host the memory slots are the
 * one part of a restore that grows with RAM (KVM allocates per-page
 * metadata with each slot), so they are reported apart. */
static void time_vm_setup(struct snap_timing *t, const struct vm_setup_times *s)
{
	snap_timing_add(t, s->create_ns, "vm created");
	snap_timing_add(t, s->slots_ns, "vm memory slots");
	snap_timing_add(t, s->cpuid_wait_ns, "kvm supported cpuid (wait)");
	snap_timing_add(t, s->platform_ns, "vm irqchip and PIT created");
}

static void snapshot_view(struct machine *m, struct snapshot_machine *view)
{
	*view = (struct snapshot_machine){ .cfg = m->cfg, .kvm = &m->kvm, .vm = &m->vm,
					   .platform = &m->platform, .virtio = &m->virtio,
					   .image = m->image };
}

static int create_vcpus(struct machine *m, const struct boot_entry *entry)
{
	struct vm *vm = &m->vm;

	vm->vcpus = calloc(m->cfg->nr_cpus, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return -ENOMEM;
	/* Every vCPU's CPUID describes the whole VM, so the count is known
	 * before the first one is created; nr_created is what teardown undoes. */
	vm->nr_vcpus = m->cfg->nr_cpus;
	for (unsigned i = 0; i < m->cfg->nr_cpus; i++) {
		int ret = vcpu_create(&vm->vcpus[i], vm, i);

		if (ret < 0)
			return ret;
		m->nr_created = i + 1;
		/* A restored machine gets its state from the snapshot instead. */
		if (!m->image) {
			ret = vcpu_init_for_boot(&vm->vcpus[i]);
			if (ret < 0)
				return ret;
		}
	}
	if (m->image)
		return 0;
	/* The BSP starts at the loader's entry; APs wait in the in-kernel LAPIC
	 * for INIT/SIPI (KVM's default MP state for vCPUs other than 0). */
	return vcpu_set_boot_state(&vm->vcpus[0], entry);
}

/* The saved vCPU, VM and device state into the machine just built. */
static int restore_machine_state(struct machine *m, const struct snapshot_machine *view,
				 uint64_t restore_start)
{
	int ret = snapshot_restore(m->image, view, &m->snapshot.timing);

	if (ret < 0)
		return ret;
	snap_timing_add(&m->snapshot.timing, snap_now_ns() - restore_start, "total restore->ready");
	if (m->cfg->snapshot_timing)
		snap_timing_print(&m->snapshot.timing, "restore", stderr);
	log_info("restore: %s: machine ready in %.2f ms", m->cfg->restore_path,
		 (double)(snap_now_ns() - restore_start) / 1e6);
	m->vm.first_entry_hook = snapshot_control_first_entry;
	m->vm.first_entry_ctx = &m->snapshot;
	return 0;
}

/* --snapshot-on-signal ...,diff: the dirty log and the chain the first
 * diff builds on (a restored VM's own). A restored VM whose first diff
 * would overwrite one of its base files is refused now rather than at
 * the signal. Returns 0, -EINVAL (bad names: exit 2) or -errno. */
static int start_diff_series(struct machine *m)
{
	struct snapshot_target next;
	char err[SNAP_ERROR_MAX];
	int ret = snapshot_series_create(&m->snapshot.series, &m->vm,
					 m->image ? snapshot_image_chain(m->image) : NULL);

	if (ret < 0)
		return ret;
	ret = snapshot_series_prepare(m->snapshot.series, &m->cfg->snapshot, &next, err, sizeof(err));
	if (ret < 0)
		log_error("--snapshot-on-signal: %s", err);
	return ret;
}

int machine_create(const struct config *cfg, struct machine **out)
{
	/* ~80 KiB, mostly device slots that stay unused: untouched pages cost
	 * neither memory nor a clear (calloc would memset all of it). */
	struct machine *m = zeroed_pages_alloc(sizeof(*m));
	struct guest_memory mem;
	struct boot_entry entry;
	char err[256];
	int status = EXIT_STATUS_BAD_INPUT;

	uint64_t restore_start = cfg->restore_path ? snap_now_ns() : 0, lap = restore_start;
	struct snap_timing *timing;
	struct snapshot_machine view;
	int ret;

	*out = NULL;
	if (!m)
		return EXIT_STATUS_VMM_ERROR;
	m->cfg = cfg;
	m->console_fd = -1;
	m->kvm.fd = -1;
	m->vm.fd = m->vm.stop_eventfd = -1;
	if (event_loop_init(&m->loop) < 0) {
		log_syscall_error("epoll_create1", errno);
		zeroed_pages_free(m, sizeof(*m));
		return EXIT_STATUS_VMM_ERROR;
	}
	/* A restore builds the machine the state file describes. */
	if (cfg->restore_path) {
		ret = snapshot_image_open(&m->image, cfg);
		if (ret < 0) {
			status = ret == -EINVAL ? EXIT_STATUS_BAD_INPUT : EXIT_STATUS_VMM_ERROR;
			goto fail;
		}
		cfg = m->cfg = snapshot_image_config(m->image);
	}
	snapshot_view(m, &view);
	snapshot_control_init(&m->snapshot, &view, restore_start);
	/* A restore's time, step by step (--snapshot-timing): the steps a
	 * boot shares are timed too, so that restore->ready adds up. */
	timing = m->image ? &m->snapshot.timing : NULL;
	snap_timing_lap(timing, &lap, "state file read and checked");

	if (check_host_memory(cfg) < 0 || (!m->image && open_images(m) < 0))
		goto fail;
	if (cfg->snapshot.state_path[0] && snapshot_check_config(cfg, err, sizeof(err)) < 0) {
		log_error("--snapshot-on-signal: %s", err);
		goto fail;
	}
	/* Disk images are input too: a bad one is refused before anything
	 * is created; virtio_devices_destroy closes what was opened. */
	m->virtio_ready = true;
	if (virtio_devices_open_disks(&m->virtio, cfg) < 0)
		goto fail;
	if (virtio_devices_open_vsock(&m->virtio, cfg) < 0)
		goto fail;
	if (virtio_devices_open_nets(&m->virtio, cfg) < 0)
		goto fail;
	/* Linux finds virtio-mmio devices in the DSDT when it uses ACPI, and
	 * on its command line otherwise (which must be final before the
	 * kernel is loaded). Never both: it would probe each device twice. */
	virtio_devices_plan(cfg, &m->virtio.plan);
	if (uses_acpi(cfg)) {
		m->cmdline = strdup(cfg->cmdline);
	} else {
		m->cmdline = virtio_devices_cmdline(&m->virtio.plan, cfg->cmdline);
	}
	if (!m->cmdline) {
		status = EXIT_STATUS_VMM_ERROR;
		goto fail;
	}
	if (load_guest(m, &mem, &entry) < 0)
		goto fail;
	lap = snap_now_ns();   /* the memory back-end timed itself */
	status = EXIT_STATUS_VMM_ERROR;
	/* Diff snapshots: RAM tracks kvmrun's writes, and the VM's slots log
	 * the guest's, from before anything runs. */
	if (cfg->snapshot.diff && guest_memory_track_dirty(&mem) < 0) {
		log_error("cannot allocate the dirty-page bitmap");
		guest_memory_destroy(&mem);
		goto fail;
	}
	if (kvm_open(&m->kvm, "/dev/kvm", err, sizeof(err)) < 0) {
		log_error("%s", err);
		snapshot_image_memory_stop(m->image);
		guest_memory_destroy(&mem);
		goto fail;
	}
	snap_timing_lap(timing, &lap, "kvm opened");
	if (check_kvm_limits(m) < 0) {
		status = EXIT_STATUS_BAD_INPUT;
		snapshot_image_memory_stop(m->image);
		guest_memory_destroy(&mem);
		goto fail;
	}
	if (vm_create(&m->vm, &m->kvm, &mem) < 0) {
		snapshot_image_memory_stop(m->image);   /* mem is already unmapped */
		goto fail;
	}
	m->vm_created = true;
	time_vm_setup(timing, &m->vm.setup);
	lap = snap_now_ns();
	if (cfg->snapshot.diff) {
		ret = start_diff_series(m);
		if (ret < 0) {
			status = ret == -EINVAL ? EXIT_STATUS_BAD_INPUT : EXIT_STATUS_VMM_ERROR;
			goto fail;
		}
	}
	if (vm_set_pit_reinject(&m->vm, cfg->pit_reinject) < 0)
		goto fail;
	snap_timing_lap(timing, &lap, "vm settings (PIT reinjection, dirty log)");
	if (open_console(m) < 0) {
		status = EXIT_STATUS_BAD_INPUT;
		goto fail;
	}
	if (platform_init(&m->platform, &m->vm, m->console_fd, m->cfg, &m->kernel, &m->initrd) < 0)
		goto fail;
	m->platform_ready = true;
	if (virtio_devices_init(&m->virtio, cfg, &m->vm, &m->loop) < 0)
		goto fail;
	snap_timing_lap(timing, &lap, "devices created");
	if (cfg->snapshot.state_path[0] && snapshot_check(&view, err, sizeof(err)) < 0) {
		log_error("--snapshot-on-signal: %s", err);
		status = EXIT_STATUS_BAD_INPUT;
		goto fail;
	}
	/* A restored guest's memory already holds its tables. */
	if (!m->image && cfg->acpi && write_acpi_tables(m) < 0)
		goto fail;
	if (create_vcpus(m, &entry) < 0)
		goto fail;
	snap_timing_lap(timing, &lap, "vcpus created");
	if (m->image) {
		ret = restore_machine_state(m, &view, restore_start);
		if (ret < 0) {
			status = ret == -EINVAL ? EXIT_STATUS_BAD_INPUT : EXIT_STATUS_VMM_ERROR;
			goto fail;
		}
	}
	*out = m;
	return EXIT_STATUS_OK;

fail:
	machine_destroy(m);
	return status;
}

void machine_destroy(struct machine *m)
{
	if (!m)
		return;
	for (unsigned i = 0; i < m->nr_created; i++)
		vcpu_destroy(&m->vm.vcpus[i]);
	free(m->vm.vcpus);
	if (m->virtio_ready)
		virtio_devices_destroy(&m->virtio);
	if (m->platform_ready)
		platform_destroy(&m->platform);
	if (m->console_fd_owned)
		close(m->console_fd);
	/* vCPUs joined, devices gone: nothing touches RAM any more, and the
	 * userfaultfd service must stop before RAM is unmapped. */
	snapshot_image_memory_stop(m->image);
	snapshot_series_destroy(m->snapshot.series);
	if (m->vm_created)
		vm_destroy(&m->vm);
	kvm_close(&m->kvm);
	event_loop_destroy(&m->loop);
	image_file_close(&m->initrd);
	image_file_close(&m->kernel);
	free(m->cmdline);
	/* After the VM: the memory back-end serves its RAM until then. */
	snapshot_image_close(m->image);
	zeroed_pages_free(m, sizeof(*m));
}

struct vm *machine_vm(struct machine *m)
{
	return &m->vm;
}
