/* What a state file says about the machine and where it ran:
 *
 *   MACHINE: everything that shapes the guest-visible machine (RAM size,
 *     vCPUs, ACPI, PIT policy, isa-debug-exit, virtio-rng, each disk with
 *     its options and size, the command line fw_cfg offers). A restore
 *     builds its machine from this, and the header's fingerprint is its
 *     hash, so a state file whose configuration was altered is refused.
 *   HOST: the CPU (vendor, family/model/stepping) and the kernel release
 *     the snapshot was taken on. KVM state is restored as raw kernel
 *     structures: another CPU model or kernel is refused.
 *   MEMORY: the memory file's path, the RAM size, and the snapshot id
 *     the memory file's header must carry. */
#ifndef KVMRUN_SNAPSHOT_MACHINE_CONFIG_H
#define KVMRUN_SNAPSHOT_MACHINE_CONFIG_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct snap_buf;
struct snap_reader;

/* `cfg` as a MACHINE payload; disk_bytes[i] is disk i's size. */
void machine_config_encode(const struct config *cfg, const uint64_t *disk_bytes, struct snap_buf *out);

/* The machine from a MACHINE payload into *cfg (only its machine fields:
 * the caller's other fields stay). Strings live in `cmdline` (malloc'd,
 * for the caller to free). Returns 0, or -EINVAL with err set. */
int machine_config_decode(const uint8_t *data, size_t len, struct config *cfg, char **cmdline,
			  uint64_t *disk_bytes, char *err, size_t errlen);

struct host_identity {
	char cpu_vendor[13];
	uint32_t cpu_signature;      /* CPUID.1:EAX: family, model, stepping */
	char kernel_release[65];     /* uname -r */
};

void host_identity_get(struct host_identity *h);
void host_identity_encode(const struct host_identity *h, struct snap_buf *out);
/* Returns 0 if `data` describes this host; -EINVAL with err naming what
 * differs otherwise. */
int host_identity_check(const uint8_t *data, size_t len, char *err, size_t errlen);

struct memory_record {
	char path[PATH_MAX];         /* absolute */
	uint64_t ram_size;
	uint64_t snapshot_id;
};

void memory_record_encode(const struct memory_record *m, struct snap_buf *out);
int memory_record_decode(const uint8_t *data, size_t len, struct memory_record *m, char *err,
			 size_t errlen);

#endif
