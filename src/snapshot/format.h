/* The snapshot state file: a versioned container of checksummed sections
 * (byte layout in docs/snapshots.md).
 *
 *   header (64 bytes): magic "KVMRSNAP", format version, header size,
 *       kvmrun version, configuration fingerprint, flags, CRC-32 of the
 *       header's first 60 bytes
 *   sections, each: type, instance, flags, CRC-32, length (24 bytes),
 *       then `length` bytes of payload; the CRC covers the section header
 *       (with the CRC field zero) and the payload
 *   an END section (type 0, empty): a file without one is truncated
 *
 * CRC-32 is zlib's (ISO-HDLC polynomial, the one Python's zlib.crc32
 * computes), so tools can check and forge files.
 *
 * Versioning: a reader accepts exactly its own SNAP_FORMAT_VERSION. Within
 * a version, sections may be added only with SNAP_SECTION_OPTIONAL set; a
 * reader skips optional sections it does not know and refuses mandatory
 * ones, so an older kvmrun never half-restores a newer snapshot.
 *
 * Writing builds the whole file in memory (it is small: the guest's RAM
 * goes to a separate file, memfile.h) and snap_file_write_atomic() puts it
 * in place. Reading loads and checks the whole file before anything uses
 * it; every failure is one line naming the file and what is wrong. */
#ifndef KVMRUN_SNAPSHOT_FORMAT_H
#define KVMRUN_SNAPSHOT_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapshot/buf.h"

#define SNAP_MAGIC            "KVMRSNAP"
/* 2: the machine section also carries --net, --balloon and --vsock.
 * 3: each vcpu-msrs section also holds the MTRRs; restored vCPUs are
 *    created bare, so a version-2 file would bring them back as zero. */
#define SNAP_FORMAT_VERSION   3
#define SNAP_HEADER_SIZE      64
#define SNAP_SECTION_HDR_SIZE 24
#define SNAP_VERSION_MAX      32   /* kvmrun version string, NUL-padded */
#define SNAP_ERROR_MAX        (4096 + 256)

/* Sections a reader accepts, unknown optional ones included: a maximal
 * VM (254 vCPUs x 12 sections, 16 virtio devices x 2, ~20 others) has
 * ~3,100; twice that, rounded. Bounds the work a crafted file can ask
 * for (the duplicate check is quadratic). */
#define SNAP_MAX_SECTIONS     8192

/* Section flags. */
#define SNAP_SECTION_OPTIONAL 1u   /* a reader that does not know it skips it */

/* Section types. The instance number says which one of several (vCPU
 * index, irqchip id, virtio slot). Values are part of the format. */
enum snap_section_type {
	SNAP_SEC_END = 0x00,
	SNAP_SEC_MACHINE = 0x01,       /* the configuration (machine_config.h) */
	SNAP_SEC_HOST = 0x02,          /* host CPU and kernel it was taken on */
	SNAP_SEC_MEMORY = 0x03,        /* the memory file: path, size, id */
	SNAP_SEC_TIMING = 0x04,        /* save timings (optional, informational) */
	SNAP_SEC_MEMORY_BASE = 0x05,   /* a diff's base memory files (chain.h); mandatory */

	SNAP_SEC_VM_CLOCK = 0x10,      /* KVM_GET_CLOCK */
	SNAP_SEC_VM_IRQCHIP = 0x11,    /* KVM_GET_IRQCHIP, instance = chip id */
	SNAP_SEC_VM_PIT = 0x12,        /* KVM_GET_PIT2 */

	SNAP_SEC_VCPU_CPUID = 0x20,    /* instance = vCPU index, for all 0x2x */
	SNAP_SEC_VCPU_REGS = 0x21,
	SNAP_SEC_VCPU_SREGS = 0x22,
	SNAP_SEC_VCPU_SREGS2 = 0x23,
	SNAP_SEC_VCPU_XSAVE = 0x24,
	SNAP_SEC_VCPU_XCRS = 0x25,
	SNAP_SEC_VCPU_DEBUGREGS = 0x26,
	SNAP_SEC_VCPU_EVENTS = 0x27,
	SNAP_SEC_VCPU_MP_STATE = 0x28,
	SNAP_SEC_VCPU_LAPIC = 0x29,
	SNAP_SEC_VCPU_MSRS = 0x2a,
	SNAP_SEC_VCPU_TSC_KHZ = 0x2b,

	SNAP_SEC_DEV_UART = 0x40,
	SNAP_SEC_DEV_RTC = 0x41,
	SNAP_SEC_DEV_I8042 = 0x42,
	SNAP_SEC_DEV_ACPI_PM = 0x43,
	SNAP_SEC_DEV_PCI = 0x44,
	SNAP_SEC_DEV_FW_CFG = 0x45,

	SNAP_SEC_VIRTIO_MMIO = 0x50,   /* transport, instance = slot */
	SNAP_SEC_VIRTIO_DEVICE = 0x51, /* the back-end's own state, instance = slot */
};

/* A short name for messages ("vcpu-regs"), or NULL for an unknown type. */
const char *snap_section_name(uint32_t type);

/* The 64-bit FNV-1a hash the header's configuration fingerprint is. */
uint64_t snap_fingerprint(const void *data, size_t len);

/* --- writing --- */

struct snap_writer {
	struct snap_buf buf;
	size_t section_start;       /* offset of the open section's header */
	bool in_section;
};

/* Start a file: room for the header (sealed by snap_writer_finish), no
 * sections yet. */
void snap_writer_init(struct snap_writer *w);
void snap_writer_free(struct snap_writer *w);

/* Open a section; its payload is whatever is appended to w->buf until
 * snap_writer_end(), which fills in its length and CRC. */
void snap_writer_begin(struct snap_writer *w, uint32_t type, uint32_t instance, uint32_t flags);
void snap_writer_end(struct snap_writer *w);

/* A whole section from one buffer. */
void snap_writer_section(struct snap_writer *w, uint32_t type, uint32_t instance, uint32_t flags,
			 const void *payload, size_t len);

/* Append END and seal the header (fingerprint, CRC). Returns 0, or -ENOMEM
 * if any append failed along the way. The file is w->buf.data[0..len). */
int snap_writer_finish(struct snap_writer *w, uint64_t fingerprint);

/* Write `len` bytes to `path` so that a reader sees either the old file or
 * the whole new one: a temporary file next to it, fsync, rename, fsync of
 * the directory. Returns 0 or -errno with a one-line reason in err. */
int snap_file_write_atomic(const char *path, const void *data, size_t len, char *err,
			   size_t errlen);

/* --- reading --- */

struct snap_section {
	uint32_t type;
	uint32_t instance;
	uint32_t flags;
	const uint8_t *data;
	uint64_t len;
};

struct snap_reader {
	uint8_t *buf;                    /* the whole file (owned, or borrowed) */
	size_t size;
	bool owned;
	uint32_t format_version;
	char kvmrun_version[SNAP_VERSION_MAX + 1];
	uint64_t fingerprint;
	struct snap_section *sections;   /* known ones, in file order */
	unsigned nr_sections;
};

/* Check `size` bytes at `data` (borrowed: must outlive the reader) as a
 * state file named `name`: magic, version, header CRC, every section's
 * bounds and CRC, no unknown mandatory section, no duplicate, END last.
 * Returns 0, or -EINVAL with one line in err ("NAME: ..."). */
int snap_reader_parse(struct snap_reader *r, const void *data, size_t size, const char *name,
		      char *err, size_t errlen);

/* Read `path` and parse it. Returns 0, -EINVAL (bad file), or -errno
 * (cannot read it); err says which. */
int snap_reader_open(struct snap_reader *r, const char *path, char *err, size_t errlen);
void snap_reader_close(struct snap_reader *r);

/* Every known section's instance in range for the machine the file
 * describes: vCPU sections below nr_vcpus, irqchips below 3 (PIC master,
 * slave, IOAPIC), virtio sections below nr_virtio, the others 0. Returns
 * 0, or -EINVAL with one line in err naming the first one out of range
 * (a file kvmrun did not write). */
int snap_reader_check_instances(const struct snap_reader *r, unsigned nr_vcpus, unsigned nr_virtio,
				char *err, size_t errlen);

/* The section (type, instance), or NULL. */
const struct snap_section *snap_reader_find(const struct snap_reader *r, uint32_t type,
					    uint32_t instance);

#endif
