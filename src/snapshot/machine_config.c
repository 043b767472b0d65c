/* MACHINE, HOST and MEMORY sections. See machine_config.h. */
#include "snapshot/machine_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "cpuid.h"
#include "layout.h"
#include "snapshot/buf.h"

#define CMDLINE_MAX (1u << 20)

/* The other virtio devices, after the disks (format version 2): each
 * --net's TAP name and MAC, the balloon's options, the vsock's CID and
 * socket path. A restore re-creates them in the same slots
 * (virtio_devices_plan is a function of these). */
static void encode_devices(const struct config *cfg, struct snap_buf *out)
{
	snap_buf_put_u32(out, cfg->nr_nets);
	for (unsigned i = 0; i < cfg->nr_nets; i++) {
		snap_buf_put_str(out, cfg->nets[i].tap);
		snap_buf_put(out, cfg->nets[i].mac, sizeof(cfg->nets[i].mac));
	}
	snap_buf_put_u8(out, cfg->balloon.enabled);
	snap_buf_put_u64(out, cfg->balloon.target_bytes);
	snap_buf_put_u32(out, cfg->balloon.stats_interval);
	snap_buf_put_u8(out, cfg->balloon.deflate_on_oom);
	snap_buf_put_u8(out, cfg->vsock.enabled);
	snap_buf_put_u32(out, cfg->vsock.cid);
	snap_buf_put_str(out, cfg->vsock.uds_path);
}

/* Returns false if what was read cannot be a configuration kvmrun wrote. */
static bool decode_devices(struct snap_cursor *c, struct config *cfg)
{
	cfg->nr_nets = snap_get_u32(c);
	if (cfg->nr_nets > CONFIG_MAX_NETS)
		return false;
	for (unsigned i = 0; i < cfg->nr_nets; i++) {
		struct net_config *n = &cfg->nets[i];

		snap_get_str(c, n->tap, sizeof(n->tap));
		snap_get(c, n->mac, sizeof(n->mac));
		n->mac_given = true;
		if (!n->tap[0])
			return false;
	}
	cfg->balloon.enabled = snap_get_u8(c) != 0;
	cfg->balloon.target_bytes = snap_get_u64(c);
	cfg->balloon.stats_interval = snap_get_u32(c);
	cfg->balloon.deflate_on_oom = snap_get_u8(c) != 0;
	cfg->vsock.enabled = snap_get_u8(c) != 0;
	cfg->vsock.cid = snap_get_u32(c);
	snap_get_str(c, cfg->vsock.uds_path, sizeof(cfg->vsock.uds_path));
	/* The same bounds config.c puts on the options (§5.10.4: CIDs 0-2
	 * and 2^32 - 1 are reserved). */
	if (cfg->balloon.target_bytes > cfg->memory_bytes)
		return false;
	if (cfg->vsock.enabled && (cfg->vsock.cid < 3 || cfg->vsock.cid == UINT32_MAX ||
				   !cfg->vsock.uds_path[0]))
		return false;
	return true;
}

void machine_config_encode(const struct config *cfg, const uint64_t *disk_bytes, struct snap_buf *out)
{
	snap_buf_put_u64(out, cfg->memory_bytes);
	snap_buf_put_u32(out, cfg->nr_cpus);
	snap_buf_put_u8(out, cfg->acpi);
	snap_buf_put_u8(out, cfg->pit_reinject);
	snap_buf_put_u8(out, cfg->debug_exit);
	snap_buf_put_u8(out, cfg->rng);
	snap_buf_put_str(out, cfg->cmdline);
	snap_buf_put_u32(out, cfg->nr_disks);
	for (unsigned i = 0; i < cfg->nr_disks; i++) {
		const struct disk_config *d = &cfg->disks[i];

		snap_buf_put_str(out, d->path);
		snap_buf_put_u8(out, d->read_only);
		snap_buf_put_u8(out, (uint8_t)d->cache);
		snap_buf_put_u8(out, (uint8_t)d->io);
		snap_buf_put_str(out, d->serial);
		snap_buf_put_u64(out, disk_bytes[i]);
	}
	encode_devices(cfg, out);
}

int machine_config_decode(const uint8_t *data, size_t len, struct config *cfg, char **cmdline,
			  uint64_t *disk_bytes, char *err, size_t errlen)
{
	struct snap_cursor c;
	uint32_t cmdline_len;

	*cmdline = NULL;
	snap_cursor_init(&c, data, len);
	cfg->memory_bytes = snap_get_u64(&c);
	cfg->nr_cpus = snap_get_u32(&c);
	cfg->acpi = snap_get_u8(&c) != 0;
	cfg->pit_reinject = snap_get_u8(&c) != 0;
	cfg->debug_exit = snap_get_u8(&c) != 0;
	cfg->rng = snap_get_u8(&c) != 0;
	/* The command line may be long: peek at its length to size it. */
	cmdline_len = 0;
	if (c.len - c.off >= 4)
		memcpy(&cmdline_len, c.data + c.off, 4);
	if (cmdline_len > CMDLINE_MAX)
		goto bad;
	*cmdline = malloc(cmdline_len + 1);
	if (!*cmdline)
		return -ENOMEM;
	snap_get_str(&c, *cmdline, cmdline_len + 1);
	cfg->cmdline = *cmdline;
	cfg->nr_disks = snap_get_u32(&c);
	if (cfg->nr_disks > CONFIG_MAX_DISKS)
		goto bad;
	for (unsigned i = 0; i < cfg->nr_disks; i++) {
		struct disk_config *d = &cfg->disks[i];

		snap_get_str(&c, d->path, sizeof(d->path));
		d->read_only = snap_get_u8(&c) != 0;
		d->cache = (enum disk_cache)snap_get_u8(&c);
		d->io = (enum disk_io)snap_get_u8(&c);
		snap_get_str(&c, d->serial, sizeof(d->serial));
		disk_bytes[i] = snap_get_u64(&c);
		/* A saved disk was a regular file of at least one sector
		 * (blk_backend.h); 0 is what stat says of a block device. */
		if (d->cache > DISK_CACHE_UNSAFE || d->io > DISK_IO_SYNC || !d->path[0] ||
		    disk_bytes[i] < 512)
			goto bad;
	}
	if (!decode_devices(&c, cfg))
		goto bad;
	if (!snap_cursor_done(&c) || cfg->nr_cpus == 0 || cfg->nr_cpus > CONFIG_MAX_CPUS ||
	    cfg->memory_bytes < LAYOUT_MIN_MEMORY || (cfg->memory_bytes & 0xfff))
		goto bad;
	return 0;

bad:
	snprintf(err, errlen, "section machine[0]: %zu bytes that do not decode as a machine configuration",
		 len);
	free(*cmdline);
	*cmdline = NULL;
	return -EINVAL;
}

/* The host's own CPUID (<cpuid.h> is shadowed by src/cpuid.h). */
void host_identity_get(struct host_identity *h)
{
	uint32_t eax, ebx, ecx, edx;
	struct utsname u;

	memset(h, 0, sizeof(*h));
	cpuid_host(0, &eax, &ebx, &ecx, &edx);
	memcpy(h->cpu_vendor, &ebx, 4);
	memcpy(h->cpu_vendor + 4, &edx, 4);
	memcpy(h->cpu_vendor + 8, &ecx, 4);
	cpuid_host(1, &eax, &ebx, &ecx, &edx);
	h->cpu_signature = eax;
	if (uname(&u) == 0)
		snprintf(h->kernel_release, sizeof(h->kernel_release), "%s", u.release);
}

void host_identity_encode(const struct host_identity *h, struct snap_buf *out)
{
	snap_buf_put_str(out, h->cpu_vendor);
	snap_buf_put_u32(out, h->cpu_signature);
	snap_buf_put_str(out, h->kernel_release);
}

int host_identity_check(const uint8_t *data, size_t len, char *err, size_t errlen)
{
	struct host_identity saved, here;
	struct snap_cursor c;

	snap_cursor_init(&c, data, len);
	snap_get_str(&c, saved.cpu_vendor, sizeof(saved.cpu_vendor));
	saved.cpu_signature = snap_get_u32(&c);
	snap_get_str(&c, saved.kernel_release, sizeof(saved.kernel_release));
	if (!snap_cursor_done(&c)) {
		snprintf(err, errlen, "section host[0]: %zu bytes that do not decode", len);
		return -EINVAL;
	}
	host_identity_get(&here);
	if (strcmp(saved.cpu_vendor, here.cpu_vendor) || saved.cpu_signature != here.cpu_signature) {
		snprintf(err, errlen, "taken on a %s CPU with signature 0x%x, this host has %s 0x%x: the same CPU model is required",
			 saved.cpu_vendor, saved.cpu_signature, here.cpu_vendor, here.cpu_signature);
		return -EINVAL;
	}
	if (strcmp(saved.kernel_release, here.kernel_release)) {
		snprintf(err, errlen, "taken on kernel %s, this host runs %s: the same host kernel is required",
			 saved.kernel_release, here.kernel_release);
		return -EINVAL;
	}
	return 0;
}

void memory_record_encode(const struct memory_record *m, struct snap_buf *out)
{
	snap_buf_put_str(out, m->path);
	snap_buf_put_u64(out, m->ram_size);
	snap_buf_put_u64(out, m->snapshot_id);
}

int memory_record_decode(const uint8_t *data, size_t len, struct memory_record *m, char *err,
			 size_t errlen)
{
	struct snap_cursor c;

	snap_cursor_init(&c, data, len);
	snap_get_str(&c, m->path, sizeof(m->path));
	m->ram_size = snap_get_u64(&c);
	m->snapshot_id = snap_get_u64(&c);
	if (!snap_cursor_done(&c) || !m->path[0]) {
		snprintf(err, errlen, "section memory[0]: %zu bytes that do not decode", len);
		return -EINVAL;
	}
	return 0;
}
