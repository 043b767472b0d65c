/* The snapshot state file container. See format.h and docs/snapshots.md. */
#include "snapshot/format.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "snapshot/file_replace.h"
#include "snapshot/trust.h"

#ifndef KVMRUN_VERSION
#define KVMRUN_VERSION "unknown"
#endif

/* The header as it is on disk (little-endian, no padding). */
struct snap_file_header {
	char magic[8];
	uint32_t format_version;
	uint32_t header_size;
	char kvmrun_version[SNAP_VERSION_MAX];
	uint64_t fingerprint;
	uint32_t flags;              /* none defined: must be 0 */
	uint32_t crc;                /* CRC-32 of the 60 bytes before it */
};

struct snap_section_header {
	uint32_t type;
	uint32_t instance;
	uint32_t flags;
	uint32_t crc;                /* over this header (crc = 0) and the payload */
	uint64_t length;
};

_Static_assert(sizeof(struct snap_file_header) == SNAP_HEADER_SIZE, "header layout");
_Static_assert(sizeof(struct snap_section_header) == SNAP_SECTION_HDR_SIZE, "section layout");

static const struct {
	uint32_t type;
	const char *name;
} section_names[] = {
	{ SNAP_SEC_END, "end" },
	{ SNAP_SEC_MACHINE, "machine" },
	{ SNAP_SEC_HOST, "host" },
	{ SNAP_SEC_MEMORY, "memory" },
	{ SNAP_SEC_TIMING, "timing" },
	{ SNAP_SEC_MEMORY_BASE, "memory-base" },
	{ SNAP_SEC_VM_CLOCK, "vm-clock" },
	{ SNAP_SEC_VM_IRQCHIP, "vm-irqchip" },
	{ SNAP_SEC_VM_PIT, "vm-pit" },
	{ SNAP_SEC_VCPU_CPUID, "vcpu-cpuid" },
	{ SNAP_SEC_VCPU_REGS, "vcpu-regs" },
	{ SNAP_SEC_VCPU_SREGS, "vcpu-sregs" },
	{ SNAP_SEC_VCPU_SREGS2, "vcpu-sregs2" },
	{ SNAP_SEC_VCPU_XSAVE, "vcpu-xsave" },
	{ SNAP_SEC_VCPU_XCRS, "vcpu-xcrs" },
	{ SNAP_SEC_VCPU_DEBUGREGS, "vcpu-debugregs" },
	{ SNAP_SEC_VCPU_EVENTS, "vcpu-events" },
	{ SNAP_SEC_VCPU_MP_STATE, "vcpu-mp-state" },
	{ SNAP_SEC_VCPU_LAPIC, "vcpu-lapic" },
	{ SNAP_SEC_VCPU_MSRS, "vcpu-msrs" },
	{ SNAP_SEC_VCPU_TSC_KHZ, "vcpu-tsc-khz" },
	{ SNAP_SEC_DEV_UART, "uart" },
	{ SNAP_SEC_DEV_RTC, "rtc" },
	{ SNAP_SEC_DEV_I8042, "i8042" },
	{ SNAP_SEC_DEV_ACPI_PM, "acpi-pm" },
	{ SNAP_SEC_DEV_PCI, "pci" },
	{ SNAP_SEC_DEV_FW_CFG, "fw-cfg" },
	{ SNAP_SEC_VIRTIO_MMIO, "virtio-mmio" },
	{ SNAP_SEC_VIRTIO_DEVICE, "virtio-device" },
};

const char *snap_section_name(uint32_t type)
{
	for (size_t i = 0; i < sizeof(section_names) / sizeof(section_names[0]); i++)
		if (section_names[i].type == type)
			return section_names[i].name;
	return NULL;
}

uint64_t snap_fingerprint(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t h = 0xcbf29ce484222325ULL;   /* FNV-1a 64 offset basis */

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;        /* FNV 64-bit prime */
	}
	return h;
}

static uint32_t crc32_of(uint32_t crc, const void *data, uint64_t len)
{
	const uint8_t *p = data;

	/* zlib takes a uInt length: feed large payloads in pieces. */
	while (len) {
		uInt n = len > (1u << 30) ? (1u << 30) : (uInt)len;

		crc = (uint32_t)crc32(crc, p, n);
		p += n;
		len -= n;
	}
	return crc;
}

static uint32_t section_crc(const struct snap_section_header *h, const void *payload)
{
	struct snap_section_header copy = *h;

	copy.crc = 0;
	return crc32_of(crc32_of(0, &copy, sizeof(copy)), payload, h->length);
}

/* --- writing --- */

void snap_writer_init(struct snap_writer *w)
{
	struct snap_file_header hdr = { 0 };

	snap_buf_init(&w->buf);
	w->in_section = false;
	snap_buf_put(&w->buf, &hdr, sizeof(hdr));
}

void snap_writer_free(struct snap_writer *w)
{
	snap_buf_free(&w->buf);
}

void snap_writer_begin(struct snap_writer *w, uint32_t type, uint32_t instance, uint32_t flags)
{
	struct snap_section_header h = { .type = type, .instance = instance, .flags = flags };

	w->section_start = w->buf.len;
	w->in_section = true;
	snap_buf_put(&w->buf, &h, sizeof(h));
}

void snap_writer_end(struct snap_writer *w)
{
	struct snap_section_header h;

	if (!w->in_section || w->buf.failed)
		return;
	w->in_section = false;
	memcpy(&h, w->buf.data + w->section_start, sizeof(h));
	h.length = w->buf.len - w->section_start - sizeof(h);
	h.crc = section_crc(&h, w->buf.data + w->section_start + sizeof(h));
	memcpy(w->buf.data + w->section_start, &h, sizeof(h));
}

void snap_writer_section(struct snap_writer *w, uint32_t type, uint32_t instance, uint32_t flags,
			 const void *payload, size_t len)
{
	snap_writer_begin(w, type, instance, flags);
	snap_buf_put(&w->buf, payload, len);
	snap_writer_end(w);
}

int snap_writer_finish(struct snap_writer *w, uint64_t fingerprint)
{
	struct snap_file_header hdr = {
		.magic = SNAP_MAGIC,
		.format_version = SNAP_FORMAT_VERSION,
		.header_size = SNAP_HEADER_SIZE,
		.fingerprint = fingerprint,
	};

	snap_writer_section(w, SNAP_SEC_END, 0, 0, NULL, 0);
	if (w->buf.failed)
		return -ENOMEM;
	strncpy(hdr.kvmrun_version, KVMRUN_VERSION, sizeof(hdr.kvmrun_version));
	hdr.crc = crc32_of(0, &hdr, offsetof(struct snap_file_header, crc));
	memcpy(w->buf.data, &hdr, sizeof(hdr));
	return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

struct bytes {
	const void *data;
	size_t len;
};

static int fill_bytes(int fd, void *ctx)
{
	const struct bytes *b = ctx;

	return write_all(fd, b->data, b->len);
}

int snap_file_write_atomic(const char *path, const void *data, size_t len, char *err,
			   size_t errlen)
{
	struct bytes b = { data, len };
	int ret = snap_file_replace(path, "the state file", fill_bytes, &b, err, errlen);

	if (ret < 0)
		return ret;
	ret = snap_file_sync_dir(path);
	if (ret < 0)
		snprintf(err, errlen, "%s: fsync of its directory: %s", path, strerror(-ret));
	return ret;
}

/* --- reading --- */

static int bad(char *err, size_t errlen, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int bad(char *err, size_t errlen, const char *name, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "%s: %s", name, what);
	return -EINVAL;
}

static void section_label(char *out, size_t size, uint32_t type, uint32_t instance)
{
	const char *name = snap_section_name(type);

	if (name)
		snprintf(out, size, "section %s[%u]", name, instance);
	else
		snprintf(out, size, "section type 0x%x[%u]", type, instance);
}

static int parse_header(struct snap_reader *r, const uint8_t *data, size_t size, const char *name,
			char *err, size_t errlen)
{
	struct snap_file_header hdr;

	size_t magic_len = sizeof(SNAP_MAGIC) - 1;

	if (memcmp(data, SNAP_MAGIC, size < magic_len ? size : magic_len))
		return bad(err, errlen, name, "not a kvmrun snapshot state file (no KVMRSNAP magic)");
	if (size < sizeof(hdr))
		return bad(err, errlen, name, "truncated: %zu bytes, the header alone is %d", size,
			   SNAP_HEADER_SIZE);
	memcpy(&hdr, data, sizeof(hdr));
	/* The version first: a newer format may have another header CRC. */
	if (hdr.format_version != SNAP_FORMAT_VERSION)
		return bad(err, errlen, name,
			   "snapshot format version %u, this kvmrun reads only version %d",
			   hdr.format_version, SNAP_FORMAT_VERSION);
	if (crc32_of(0, &hdr, offsetof(struct snap_file_header, crc)) != hdr.crc)
		return bad(err, errlen, name, "header checksum mismatch (corrupted file)");
	if (hdr.header_size != SNAP_HEADER_SIZE || hdr.flags != 0)
		return bad(err, errlen, name, "header size %u / flags 0x%x not as version %d defines",
			   hdr.header_size, hdr.flags, SNAP_FORMAT_VERSION);
	r->format_version = hdr.format_version;
	memcpy(r->kvmrun_version, hdr.kvmrun_version, SNAP_VERSION_MAX);
	r->kvmrun_version[SNAP_VERSION_MAX] = '\0';
	r->fingerprint = hdr.fingerprint;
	return 0;
}

int snap_reader_parse(struct snap_reader *r, const void *data, size_t size, const char *name,
		      char *err, size_t errlen)
{
	const uint8_t *p = data;
	size_t off = SNAP_HEADER_SIZE, max_sections;
	bool ended = false;
	int ret;

	memset(r, 0, sizeof(*r));
	r->buf = (uint8_t *)data;
	r->size = size;
	ret = parse_header(r, p, size, name, err, errlen);
	if (ret < 0)
		return ret;
	max_sections = (size - SNAP_HEADER_SIZE) / SNAP_SECTION_HDR_SIZE;
	r->sections = calloc(max_sections ? max_sections : 1, sizeof(*r->sections));
	if (!r->sections)
		return bad(err, errlen, name, "out of memory");

	for (size_t nr = 0; !ended; nr++) {
		struct snap_section_header h;
		char label[64];

		if (nr == SNAP_MAX_SECTIONS) {
			ret = bad(err, errlen, name,
				  "more than %d sections at byte %zu: not a file kvmrun wrote",
				  SNAP_MAX_SECTIONS, off);
			goto fail;
		}

		if (size - off < sizeof(h)) {
			ret = bad(err, errlen, name,
				  "truncated at byte %zu: no end section (a section header needs %d bytes, %zu left)",
				  off, SNAP_SECTION_HDR_SIZE, size - off);
			goto fail;
		}
		memcpy(&h, p + off, sizeof(h));
		section_label(label, sizeof(label), h.type, h.instance);
		off += sizeof(h);
		if (h.length > size - off) {
			ret = bad(err, errlen, name,
				  "truncated: %s at byte %zu needs %llu bytes, %zu left", label,
				  off - sizeof(h), (unsigned long long)h.length, size - off);
			goto fail;
		}
		if (section_crc(&h, p + off) != h.crc) {
			ret = bad(err, errlen, name, "%s at byte %zu: checksum mismatch (corrupted file)",
				  label, off - sizeof(h));
			goto fail;
		}
		if (h.flags & ~SNAP_SECTION_OPTIONAL) {
			ret = bad(err, errlen, name, "%s: unknown flags 0x%x", label, h.flags);
			goto fail;
		}
		if (h.type == SNAP_SEC_END) {
			ended = true;
		} else if (!snap_section_name(h.type)) {
			if (!(h.flags & SNAP_SECTION_OPTIONAL)) {
				ret = bad(err, errlen, name,
					  "%s is unknown and mandatory (written by another kvmrun version?)",
					  label);
				goto fail;
			}
		} else if (snap_reader_find(r, h.type, h.instance)) {
			ret = bad(err, errlen, name, "%s appears twice", label);
			goto fail;
		} else {
			r->sections[r->nr_sections++] = (struct snap_section){
				.type = h.type, .instance = h.instance, .flags = h.flags,
				.data = p + off, .len = h.length,
			};
		}
		off += h.length;
	}
	if (off != size) {
		ret = bad(err, errlen, name, "%zu bytes after the end section", size - off);
		goto fail;
	}
	return 0;

fail:
	free(r->sections);
	r->sections = NULL;
	r->nr_sections = 0;
	return ret;
}

int snap_reader_open(struct snap_reader *r, const char *path, char *err, size_t errlen)
{
	struct stat st;
	uint8_t *buf;
	size_t done = 0;
	int fd, ret;

	memset(r, 0, sizeof(*r));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return ret;
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: fstat: %s", path, strerror(errno));
		goto close_fd;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = bad(err, errlen, path, "not a regular file");
		goto close_fd;
	}
	/* It names files kvmrun opens: only one its user wrote (trust.h). */
	ret = snap_file_check_trust(&st, "state file", path, err, errlen);
	if (ret < 0)
		goto close_fd;
	/* State files are small; anything huge is not one of ours. */
	if (st.st_size > (1LL << 30)) {
		ret = bad(err, errlen, path, "%lld bytes: too large for a state file",
			  (long long)st.st_size);
		goto close_fd;
	}
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf) {
		ret = -ENOMEM;
		snprintf(err, errlen, "%s: out of memory", path);
		goto close_fd;
	}
	while (done < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + done, (size_t)st.st_size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	ret = snap_reader_parse(r, buf, done, path, err, errlen);
	if (ret < 0) {
		free(buf);
		goto close_fd;
	}
	r->owned = true;

close_fd:
	close(fd);
	return ret;
}

void snap_reader_close(struct snap_reader *r)
{
	if (r->owned)
		free(r->buf);
	free(r->sections);
	memset(r, 0, sizeof(*r));
}

const struct snap_section *snap_reader_find(const struct snap_reader *r, uint32_t type,
					    uint32_t instance)
{
	for (unsigned i = 0; i < r->nr_sections; i++)
		if (r->sections[i].type == type && r->sections[i].instance == instance)
			return &r->sections[i];
	return NULL;
}

int snap_reader_check_instances(const struct snap_reader *r, unsigned nr_vcpus, unsigned nr_virtio,
				char *err, size_t errlen)
{
	for (unsigned i = 0; i < r->nr_sections; i++) {
		const struct snap_section *s = &r->sections[i];
		uint32_t limit = 1;
		char label[64];

		if (s->type >= SNAP_SEC_VCPU_CPUID && s->type <= SNAP_SEC_VCPU_TSC_KHZ)
			limit = nr_vcpus;
		else if (s->type == SNAP_SEC_VM_IRQCHIP)
			limit = 3;
		else if (s->type == SNAP_SEC_VIRTIO_MMIO || s->type == SNAP_SEC_VIRTIO_DEVICE)
			limit = nr_virtio;
		if (s->instance < limit)
			continue;
		section_label(label, sizeof(label), s->type, s->instance);
		snprintf(err, errlen, "%s: instance out of range for this machine (%u vCPUs, %u virtio devices)",
			 label, nr_vcpus, nr_virtio);
		return -EINVAL;
	}
	return 0;
}
