/* Save a paused VM: the state file and the memory file. See snapshot.h
 * and docs/snapshots.md. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvm.h"
#include "log.h"
#include "platform.h"
#include "snapshot/chain.h"
#include "snapshot/device_state.h"
#include "snapshot/dirty_log.h"
#include "snapshot/format.h"
#include "snapshot/machine_config.h"
#include "snapshot/memdiff.h"
#include "snapshot/memfile.h"
#include "snapshot/snapshot.h"
#include "snapshot/vcpu_state.h"
#include "snapshot/vm_state.h"
#include "vcpu.h"
#include "virtio/devices.h"
#include "vm.h"

static int absolute_path(const char *path, char *out, size_t size);

int snapshot_check_config(const struct config *cfg, char *err, size_t errlen)
{
	/* Test devices with host resources the guest arms (ioeventfds). */
	if (cfg->pci_testdev || cfg->pc_testdev) {
		snprintf(err, errlen, "%s has no snapshot support",
			 cfg->pci_testdev ? "--pci-testdev" : "--pc-testdev");
		return -ENOTSUP;
	}
	/* The vsock socket path is recorded absolute (as disks are), and
	 * must still fit sun_path then: refused up front, not at SIGUSR1. */
	if (cfg->vsock.enabled) {
		char abs[PATH_MAX];

		if (absolute_path(cfg->vsock.uds_path, abs, sizeof(abs)) < 0 ||
		    strlen(abs) > CONFIG_VSOCK_PATH_MAX) {
			snprintf(err, errlen, "--vsock uds=%s: longer than %d bytes as an absolute path, which a snapshot records",
				 cfg->vsock.uds_path, CONFIG_VSOCK_PATH_MAX);
			return -ENOTSUP;
		}
	}
	return 0;
}

int snapshot_check(const struct snapshot_machine *m, char *err, size_t errlen)
{
	int ret = snapshot_check_config(m->cfg, err, errlen);

	if (ret < 0)
		return ret;
	for (unsigned i = 0; i < m->virtio->plan.nr; i++) {
		struct virtio_mmio *dev = virtio_devices_transport(m->virtio, i);

		if (!dev || !virtio_mmio_can_snapshot(dev)) {
			snprintf(err, errlen, "the %s device at 0x%llx has no snapshot support yet",
				 dev ? dev->ops->name : "virtio",
				 (unsigned long long)m->virtio->plan.slots[i].base);
			return -ENOTSUP;
		}
	}
	return 0;
}

/* `path` made absolute against the current directory, so a restore from
 * another directory finds the file. */
static int absolute_path(const char *path, char *out, size_t size)
{
	char cwd[PATH_MAX];

	if (path[0] == '/')
		return (size_t)snprintf(out, size, "%s", path) < size ? 0 : -ENAMETOOLONG;
	if (!getcwd(cwd, sizeof(cwd)))
		return -errno;
	return (size_t)snprintf(out, size, "%s/%s", cwd, path) < size ? 0 : -ENAMETOOLONG;
}

static int disk_sizes(const struct config *cfg, uint64_t *bytes, struct config *abs)
{
	for (unsigned i = 0; i < cfg->nr_disks; i++) {
		struct stat st;

		if (stat(cfg->disks[i].path, &st) < 0) {
			log_error("snapshot: disk %s: %s", cfg->disks[i].path, strerror(errno));
			return -errno;
		}
		/* A restore opens only regular files as disks (docs/snapshots.md,
		 * Trust): a block device's size would not even be recorded. */
		if (!S_ISREG(st.st_mode)) {
			log_error("snapshot: disk %s is not a regular file: snapshots need disk images in regular files",
				  cfg->disks[i].path);
			return -EINVAL;
		}
		bytes[i] = (uint64_t)st.st_size;
		if (absolute_path(cfg->disks[i].path, abs->disks[i].path, sizeof(abs->disks[i].path)) < 0)
			return -ENAMETOOLONG;
	}
	return 0;
}

/* Every virtio device finishes what it has in flight, then its transport
 * and back-end state are appended. */
static int save_virtio(const struct snapshot_machine *m, struct snap_writer *w, struct snap_timing *t)
{
	uint64_t start = snap_now_ns();

	for (unsigned i = 0; i < m->virtio->plan.nr; i++) {
		struct virtio_mmio *dev = virtio_devices_transport(m->virtio, i);
		struct snap_buf backend;
		int ret;

		ret = virtio_mmio_quiesce(dev);
		if (ret < 0) {
			log_error("snapshot: %s at 0x%llx: cannot finish its requests: %s",
				  dev->ops->name, (unsigned long long)dev->base, strerror(-ret));
			return ret;
		}
		snap_timing_lap(t, &start, "virtio%u quiesce", i);
		snap_buf_init(&backend);
		snap_writer_begin(w, SNAP_SEC_VIRTIO_MMIO, i, 0);
		ret = virtio_mmio_state_save(dev, &w->buf, &backend);
		snap_writer_end(w);
		snap_writer_section(w, SNAP_SEC_VIRTIO_DEVICE, i, 0, backend.data, backend.len);
		snap_buf_free(&backend);
		if (ret < 0)
			return ret;
		snap_timing_lap(t, &start, "virtio%u state", i);
	}
	return 0;
}

static int save_vcpus(const struct snapshot_machine *m, struct snap_writer *w, struct snap_timing *t)
{
	struct vcpu_state_caps caps;
	int ret = vcpu_state_caps_init(&caps, m->kvm->fd, m->vm->fd);

	if (ret < 0)
		return ret;
	for (unsigned i = 0; i < m->vm->nr_vcpus && ret == 0; i++) {
		struct vcpu_state s;

		ret = vcpu_state_save(&s, m->vm->vcpus[i].fd, i, &caps, t);
		if (ret == 0)
			vcpu_state_write(&s, i, w);
		vcpu_state_free(&s);
	}
	vcpu_state_caps_free(&caps);
	return ret;
}

/* The configuration, the host and the memory record, which a restore
 * reads first. Returns the configuration's fingerprint. */
static int save_identity(const struct snapshot_machine *m, const struct snapshot_target *target,
			 uint64_t snapshot_id, struct snap_writer *w, uint64_t *fingerprint)
{
	/* ~40 KiB of paths: not on the event loop's stack. */
	struct config *abs = malloc(sizeof(*abs));
	struct memory_record *rec = malloc(sizeof(*rec));
	struct host_identity host;
	uint64_t disk_bytes[CONFIG_MAX_DISKS] = { 0 };
	size_t start;
	int ret = -ENOMEM;

	if (!abs || !rec)
		goto free_copies;
	*abs = *m->cfg;
	ret = disk_sizes(m->cfg, disk_bytes, abs);
	if (ret == 0 && abs->vsock.enabled)
		ret = absolute_path(m->cfg->vsock.uds_path, abs->vsock.uds_path,
				    sizeof(abs->vsock.uds_path));
	if (ret < 0)
		goto free_copies;
	snap_writer_begin(w, SNAP_SEC_MACHINE, 0, 0);
	start = w->buf.len;
	machine_config_encode(abs, disk_bytes, &w->buf);
	*fingerprint = w->buf.failed ? 0 : snap_fingerprint(w->buf.data + start, w->buf.len - start);
	snap_writer_end(w);

	host_identity_get(&host);
	snap_writer_begin(w, SNAP_SEC_HOST, 0, 0);
	host_identity_encode(&host, &w->buf);
	snap_writer_end(w);

	memset(rec, 0, sizeof(*rec));
	ret = absolute_path(target->memory_path, rec->path, sizeof(rec->path));
	if (ret < 0) {
		log_error("snapshot: memory file %s: %s", target->memory_path, strerror(-ret));
		goto free_copies;
	}
	rec->ram_size = m->vm->mem.size;
	rec->snapshot_id = snapshot_id;
	snap_writer_begin(w, SNAP_SEC_MEMORY, 0, 0);
	memory_record_encode(rec, &w->buf);
	snap_writer_end(w);
	/* Mandatory: a kvmrun that does not know diffs must refuse this file,
	 * not restore the diff's few pages as if they were all of RAM. */
	if (target->base && target->base->nr) {
		snap_writer_begin(w, SNAP_SEC_MEMORY_BASE, 0, 0);
		memory_chain_encode_base(target->base, &w->buf);
		snap_writer_end(w);
	}

free_copies:
	free(abs);
	free(rec);
	return ret;
}

static uint64_t new_snapshot_id(void)
{
	uint64_t id = 0;

	/* getrandom cannot fail for 8 bytes once the pool is ready; a time
	 * stamp is a fine fallback: the id only tells snapshots apart. */
	if (getrandom(&id, sizeof(id), 0) != sizeof(id))
		id = snap_now_ns() ^ ((uint64_t)getpid() << 32);
	return id;
}

/* The memory file: every page (full), or the pages changed since the
 * base (diff). The dirty log is read here, with the devices quiesced, so
 * that it holds their last writes too. */
static int save_memory(const struct snapshot_machine *m, const struct snapshot_target *target,
		       uint64_t id, struct snap_timing *t)
{
	const struct memory_chain *base = target->base;
	struct memfile_stats stats;
	char err[SNAP_ERROR_MAX];
	uint64_t start = snap_now_ns();
	bool diff = base && base->nr;
	int ret = 0;

	if (target->log) {
		ret = dirty_log_collect(target->log);
		if (ret < 0)
			return ret;
		snap_timing_lap(t, &start, "dirty log");
	}
	if (diff)
		ret = memdiff_write(target->memory_path, &m->vm->mem, target->log->pending, id,
				    base->layers[base->nr - 1].snapshot_id, &stats, err, sizeof(err));
	else
		ret = memfile_write(target->memory_path, &m->vm->mem, id, &stats, err, sizeof(err));
	if (ret < 0) {
		log_error("snapshot: %s", err);
		return ret;
	}
	if (diff)
		snap_timing_lap(t, &start, "diff file (%llu KiB, %llu runs)",
				(unsigned long long)(stats.data_bytes >> 10), (unsigned long long)stats.extents);
	else
		snap_timing_lap(t, &start, "memory file (%llu MiB in %llu runs)",
				(unsigned long long)(stats.data_bytes >> 20), (unsigned long long)stats.extents);
	if (diff)
		log_info("snapshot: %s: a diff of %llu pages (%llu KiB) on %s",
			 target->memory_path, (unsigned long long)(stats.data_bytes / 4096),
			 (unsigned long long)(stats.data_bytes >> 10), base->layers[base->nr - 1].path);
	return 0;
}

int snapshot_save(const struct snapshot_machine *m, struct snapshot_target *target,
		  struct snap_timing *t)
{
	struct snap_writer w;
	uint64_t id = new_snapshot_id(), fingerprint = 0, start = snap_now_ns();
	char err[SNAP_ERROR_MAX];
	int ret = snapshot_check(m, err, sizeof(err));

	if (ret < 0) {
		log_error("snapshot refused: %s", err);
		return ret;
	}
	if (target->base && target->base->nr && !target->log)
		return -EINVAL;   /* a diff needs the log: a caller's bug */
	target->snapshot_id = id;
	snap_writer_init(&w);
	/* Devices first: finishing virtio requests writes guest memory and
	 * raises interrupts, which the interrupt controllers' state must
	 * then include. */
	ret = save_virtio(m, &w, t);
	if (ret < 0)
		goto free_writer;
	device_state_write(m->platform, &w);
	snap_timing_lap(t, &start, "devices");
	ret = save_identity(m, target, id, &w, &fingerprint);
	if (ret < 0)
		goto free_writer;
	ret = save_vcpus(m, &w, t);
	if (ret < 0)
		goto free_writer;
	{
		struct vm_state vs;

		ret = vm_state_save(&vs, m->vm->fd, t);
		if (ret < 0)
			goto free_writer;
		vm_state_write(&vs, &w);
	}
	start = snap_now_ns();
	/* A restored VM's RAM may still be arriving (uffd): all of it first. */
	ret = snapshot_image_memory_settle(m->image);
	if (ret < 0)
		goto free_writer;
	snap_timing_lap(t, &start, "memory settle");
	/* The memory file before the state file: a state file on disk always
	 * names a complete memory file. */
	ret = save_memory(m, target, id, t);
	if (ret < 0)
		goto free_writer;
	start = snap_now_ns();
	ret = snap_writer_finish(&w, fingerprint);
	if (ret == 0)
		ret = snap_file_write_atomic(target->state_path, w.buf.data, w.buf.len, err, sizeof(err));
	if (ret < 0) {
		log_error("snapshot: %s", ret == -ENOMEM ? "out of memory" : err);
		goto free_writer;
	}
	snap_timing_lap(t, &start, "state file (%zu bytes)", w.buf.len);

free_writer:
	snap_writer_free(&w);
	return ret;
}
