/* Restore a saved VM into a fresh process. See snapshot.h and
 * docs/snapshots.md. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvm.h"
#include "log.h"
#include "memory.h"
#include "platform.h"
#include "snapshot/chain.h"
#include "snapshot/device_state.h"
#include "snapshot/format.h"
#include "snapshot/machine_config.h"
#include "snapshot/memfile.h"
#include "snapshot/memory_backend.h"
#include "snapshot/snapshot.h"
#include "snapshot/vcpu_state.h"
#include "snapshot/vm_state.h"
#include "vcpu.h"
#include "virtio/devices.h"
#include "vm.h"

struct snapshot_image {
	struct snap_reader reader;
	const char *path;
	struct config cfg;               /* the CLI's, with the machine from the file */
	char *cmdline;
	uint64_t disk_bytes[CONFIG_MAX_DISKS];
	struct memory_record memory;
	int memory_fd;                   /* checked, until the back-end takes it */
	struct memory_backend_state *backend;
	struct memory_chain chain;       /* the memory files, full one first */
	struct memory_chain_files files; /* their diffs, opened (chain.h) */
};

const struct config *snapshot_image_config(const struct snapshot_image *img)
{
	return &img->cfg;
}

const struct memory_chain *snapshot_image_chain(const struct snapshot_image *img)
{
	return &img->chain;
}

/* The memory files, as the state file lists them (a diff: MEMORY_BASE,
 * then its own) or as --base-memory-file and --memory-file override,
 * opened and checked; the full one's fd goes to the memory back-end. */
static int open_memory(struct snapshot_image *img, const struct config *cli, char *err,
			size_t errlen)
{
	const struct snap_section *base = snap_reader_find(&img->reader, SNAP_SEC_MEMORY_BASE, 0);
	const char *top = cli->restore_memory_path ? cli->restore_memory_path : img->memory.path;
	int ret = memory_chain_init(&img->chain);

	if (ret < 0)
		return ret;
	if (base) {
		ret = memory_chain_decode_base(base->data, base->len, &img->chain, err, errlen);
		if (ret < 0)
			return ret;
	} else if (cli->restore_base_memory_path) {
		snprintf(err, errlen, "--base-memory-file: this is a full snapshot, not a diff");
		return -EINVAL;
	}
	if (cli->restore_base_memory_path)
		ret = memory_chain_set_path(&img->chain, 0, cli->restore_base_memory_path);
	if (ret == 0)
		ret = memory_chain_push(&img->chain, top, img->memory.snapshot_id);
	if (ret < 0) {
		snprintf(err, errlen, "memory file %s: %s", top, strerror(-ret));
		return -EINVAL;
	}
	ret = memory_chain_open(&img->chain, img->memory.ram_size, &img->files, err, errlen);
	if (ret == 0) {
		img->memory_fd = img->files.base_fd;
		img->files.base_fd = -1;
	}
	return ret;
}

/* The sections a restore needs before it can build anything. */
static int check_identity(struct snapshot_image *img, char *err, size_t errlen)
{
	const struct snap_reader *r = &img->reader;
	const struct snap_section *machine = snap_reader_find(r, SNAP_SEC_MACHINE, 0);
	const struct snap_section *host = snap_reader_find(r, SNAP_SEC_HOST, 0);
	const struct snap_section *memory = snap_reader_find(r, SNAP_SEC_MEMORY, 0);
	int ret;

	if (!machine || !host || !memory) {
		snprintf(err, errlen, "section %s[0] is missing",
			 !machine ? "machine" : !host ? "host" : "memory");
		return -EINVAL;
	}
	if (snap_fingerprint(machine->data, machine->len) != r->fingerprint) {
		snprintf(err, errlen, "the machine configuration does not match the header's fingerprint");
		return -EINVAL;
	}
	ret = machine_config_decode(machine->data, machine->len, &img->cfg, &img->cmdline,
				    img->disk_bytes, err, errlen);
	if (ret < 0)
		return ret;
	{
		struct virtio_devices_plan plan;

		virtio_devices_plan(&img->cfg, &plan);
		ret = snap_reader_check_instances(r, img->cfg.nr_cpus, plan.nr, err, errlen);
		if (ret < 0)
			return ret;
	}
	ret = host_identity_check(host->data, host->len, err, errlen);
	if (ret < 0)
		return ret;
	ret = memory_record_decode(memory->data, memory->len, &img->memory, err, errlen);
	if (ret < 0)
		return ret;
	if (img->memory.ram_size != img->cfg.memory_bytes) {
		snprintf(err, errlen, "the memory record says %llu bytes of RAM, the machine %llu",
			 (unsigned long long)img->memory.ram_size,
			 (unsigned long long)img->cfg.memory_bytes);
		return -EINVAL;
	}
	return 0;
}

/* The disks must be the images the guest was using: same size (their
 * contents are the operator's to keep unchanged, docs/snapshots.md). */
static int check_disks(const struct snapshot_image *img)
{
	for (unsigned i = 0; i < img->cfg.nr_disks; i++) {
		const char *path = img->cfg.disks[i].path;
		struct stat st;

		if (stat(path, &st) < 0) {
			log_error("--restore %s: disk %s: %s", img->path, path, strerror(errno));
			return -EINVAL;
		}
		/* The state file names them (docs/snapshots.md, Trust): never a
		 * device. blk_backend checks the opened file again. */
		if (!S_ISREG(st.st_mode)) {
			log_error("--restore %s: disk %s is not a regular file", img->path, path);
			return -EINVAL;
		}
		if ((uint64_t)st.st_size != img->disk_bytes[i]) {
			log_error("--restore %s: disk %s is %lld bytes, it was %llu when saved", img->path,
				  path, (long long)st.st_size, (unsigned long long)img->disk_bytes[i]);
			return -EINVAL;
		}
	}
	return 0;
}

int snapshot_image_open(struct snapshot_image **out, const struct config *cli)
{
	struct snapshot_image *img = calloc(1, sizeof(*img));
	char err[SNAP_ERROR_MAX];
	int ret;

	*out = NULL;
	if (!img)
		return -ENOMEM;
	img->memory_fd = -1;
	img->files.base_fd = -1;
	img->path = cli->restore_path;
	img->cfg = *cli;
	ret = snap_reader_open(&img->reader, cli->restore_path, err, sizeof(err));
	if (ret < 0) {
		log_error("--restore %s", err);
		goto fail;
	}
	ret = check_identity(img, err, sizeof(err));
	if (ret < 0) {
		log_error("--restore %s: %s", img->path, err);
		goto fail;
	}
	ret = check_disks(img);
	if (ret < 0)
		goto fail;
	ret = open_memory(img, cli, err, sizeof(err));
	if (ret < 0) {
		log_error("--restore %s: %s", img->path, err);
		goto fail;
	}
	*out = img;
	return 0;

fail:
	snapshot_image_close(img);
	/* Every problem with the files is bad input. */
	return ret == -ENOMEM ? ret : -EINVAL;
}

void snapshot_image_close(struct snapshot_image *img)
{
	if (!img)
		return;
	memory_backend_stop(img->backend);
	if (img->memory_fd >= 0)
		close(img->memory_fd);
	memory_chain_files_close(&img->files);
	memory_chain_free(&img->chain);
	snap_reader_close(&img->reader);
	free(img->cmdline);
	free(img);
}

/* A diff snapshot: its pages and those of the diffs below it, over the
 * full snapshot's RAM the back-end provides. They go through the
 * back-end's mapping (copy-on-write for `private`; served faults for
 * `uffd`), so the cost follows the diffs' size, not the RAM's. The diffs
 * are closed once applied. */
static int apply_diffs(struct snapshot_image *img, struct guest_memory *mem, struct snap_timing *t)
{
	char err[SNAP_ERROR_MAX];
	uint64_t start = snap_now_ns(), bytes = 0;
	unsigned nr = img->files.nr_diffs;
	int ret = memory_chain_apply(&img->files, mem, &bytes, err, sizeof(err));

	memory_chain_files_close(&img->files);
	if (ret < 0) {
		log_error("--restore %s: %s", img->path, err);
		/* The caller gets no RAM: the back-end first, then the mapping
		 * it serves. */
		memory_backend_stop(img->backend);
		img->backend = NULL;
		guest_memory_destroy(mem);
		return -EINVAL;
	}
	snap_timing_lap(t, &start, "memory diffs (%u, %llu KiB)", nr, (unsigned long long)(bytes >> 10));
	return 0;
}

int snapshot_image_memory(struct snapshot_image *img, struct guest_memory *mem,
			  struct snap_timing *t)
{
	uint64_t start = snap_now_ns();
	int fd = img->memory_fd, ret;

	img->memory_fd = -1;   /* the back-end owns it now, also on failure */
	ret = memory_backend_start(&img->cfg, fd, MEMFILE_DATA_OFFSET,
				   img->memory.ram_size, mem, &img->backend);
	snap_timing_lap(t, &start, "memory (%s)", memory_backend_name(img->cfg.memory_backend));
	if (ret == 0 && img->files.nr_diffs)
		ret = apply_diffs(img, mem, t);
	return ret == -ENOTSUP ? -EINVAL : ret;
}

int snapshot_image_memory_settle(struct snapshot_image *img)
{
	return img ? memory_backend_settle(img->backend) : 0;
}

void snapshot_image_print_stats(const struct snapshot_image *img, FILE *out)
{
	if (img)
		memory_backend_print_stats(img->backend, out);
}

void snapshot_image_memory_stop(struct snapshot_image *img)
{
	if (!img)
		return;
	memory_backend_stop(img->backend);
	img->backend = NULL;
}

static int restore_vcpus(struct snapshot_image *img, const struct snapshot_machine *m,
			 struct snap_timing *t, char *err, size_t errlen)
{
	struct vcpu_state_caps caps;
	int ret = vcpu_state_caps_init(&caps, m->kvm->fd, m->vm->fd);

	if (ret < 0)
		return ret;
	for (unsigned i = 0; i < m->vm->nr_vcpus && ret == 0; i++) {
		struct vcpu_state s;
		uint64_t start = snap_now_ns();

		ret = vcpu_state_read(&s, i, &img->reader, &caps, err, errlen);
		snap_timing_lap(t, &start, "vcpu%u decode", i);
		if (ret == 0) {
			ret = vcpu_state_restore(&s, m->vm->vcpus[i].fd, i, &caps, t);
			if (ret < 0)
				snprintf(err, errlen, "vCPU %u: KVM refused the saved state", i);
		}
		vcpu_state_free(&s);
	}
	vcpu_state_caps_free(&caps);
	return ret;
}

static int restore_virtio(struct snapshot_image *img, const struct snapshot_machine *m,
			  struct snap_timing *t, char *err, size_t errlen)
{
	uint64_t start = snap_now_ns();

	for (unsigned i = 0; i < m->virtio->plan.nr; i++) {
		struct virtio_mmio *dev = virtio_devices_transport(m->virtio, i);
		const struct snap_section *tr = snap_reader_find(&img->reader, SNAP_SEC_VIRTIO_MMIO, i);
		const struct snap_section *be = snap_reader_find(&img->reader, SNAP_SEC_VIRTIO_DEVICE, i);
		int ret;

		if (!dev || !tr || !be) {
			snprintf(err, errlen, "virtio device %u: %s", i,
				 !dev ? "no snapshot support" : "its sections are missing");
			return -EINVAL;
		}
		ret = virtio_mmio_state_load(dev, tr->data, tr->len, be->data, be->len, err, errlen);
		if (ret < 0)
			return ret;
		snap_timing_lap(t, &start, "virtio%u", i);
	}
	return 0;
}

int snapshot_restore(struct snapshot_image *img, const struct snapshot_machine *m,
		     struct snap_timing *t)
{
	char err[SNAP_ERROR_MAX];
	struct vm_state vs;
	uint64_t start = snap_now_ns();
	int ret;

	err[0] = '\0';
	ret = vm_state_read(&vs, &img->reader, err, sizeof(err));
	if (ret == 0)
		ret = vm_state_restore_chips(&vs, m->vm->fd, t);
	if (ret == 0)
		ret = restore_vcpus(img, m, t, err, sizeof(err));
	if (ret == 0) {
		start = snap_now_ns();
		ret = device_state_restore(m->platform, &img->reader, err, sizeof(err));
		snap_timing_lap(t, &start, "devices");
	}
	if (ret == 0)
		ret = restore_virtio(img, m, t, err, sizeof(err));
	/* Last: every vCPU's TSC and kvmclock MSRs are in place. */
	if (ret == 0)
		ret = vm_state_restore_clock(&vs, m->vm->fd, t);
	if (ret < 0 && err[0])
		log_error("--restore %s: %s", img->path, err);
	return ret;
}
