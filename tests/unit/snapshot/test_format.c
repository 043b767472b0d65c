/* The snapshot container (src/snapshot/format.h): what is written reads
 * back, and every corruption, truncation, version or structure problem is
 * refused with one line naming the file. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <cmocka.h>

#include "snapshot/buf.h"
#include "snapshot/format.h"
#include "snapshot/trust.h"

#define FINGERPRINT 0x1122334455667788ULL

static const uint8_t payload_a[] = { 1, 2, 3, 4, 5, 6, 7 };
static const char payload_b[] = "the second section";

/* A small file: two known sections, one empty one, END. */
static void build(struct snap_writer *w)
{
	snap_writer_init(w);
	snap_writer_section(w, SNAP_SEC_MACHINE, 0, 0, payload_a, sizeof(payload_a));
	snap_writer_begin(w, SNAP_SEC_VCPU_REGS, 3, 0);
	snap_buf_put(&w->buf, payload_b, sizeof(payload_b));
	snap_writer_end(w);
	snap_writer_section(w, SNAP_SEC_DEV_UART, 0, 0, NULL, 0);
	assert_int_equal(snap_writer_finish(w, FINGERPRINT), 0);
}

static int parse(const uint8_t *data, size_t size, char *err)
{
	struct snap_reader r;
	int ret = snap_reader_parse(&r, data, size, "state.snap", err, SNAP_ERROR_MAX);

	if (ret == 0)
		snap_reader_close(&r);
	return ret;
}

static void assert_one_line_naming_file(const char *err)
{
	assert_true(strncmp(err, "state.snap: ", 12) == 0);
	assert_null(strchr(err, '\n'));
	assert_true(strlen(err) > 14);
}

static void test_round_trip(void **state)
{
	struct snap_writer w;
	struct snap_reader r;
	const struct snap_section *s;
	char err[SNAP_ERROR_MAX];

	(void)state;
	build(&w);
	assert_int_equal(snap_reader_parse(&r, w.buf.data, w.buf.len, "state.snap", err, sizeof(err)), 0);
	assert_int_equal(r.format_version, SNAP_FORMAT_VERSION);
	assert_true(r.fingerprint == FINGERPRINT);
	assert_int_equal(r.nr_sections, 3);
	s = snap_reader_find(&r, SNAP_SEC_MACHINE, 0);
	assert_non_null(s);
	assert_int_equal(s->len, sizeof(payload_a));
	assert_memory_equal(s->data, payload_a, sizeof(payload_a));
	s = snap_reader_find(&r, SNAP_SEC_VCPU_REGS, 3);
	assert_non_null(s);
	assert_string_equal((const char *)s->data, payload_b);
	assert_null(snap_reader_find(&r, SNAP_SEC_VCPU_REGS, 0));
	s = snap_reader_find(&r, SNAP_SEC_DEV_UART, 0);
	assert_non_null(s);
	assert_int_equal(s->len, 0);
	snap_reader_close(&r);
	snap_writer_free(&w);
}

/* Every single-byte change anywhere in the file is caught: the header by
 * its CRC (or the version / magic checks), each section by its own. */
static void test_every_byte_flip_refused(void **state)
{
	struct snap_writer w;
	char err[SNAP_ERROR_MAX];

	(void)state;
	build(&w);
	for (size_t i = 0; i < w.buf.len; i++) {
		for (unsigned bit = 0; bit < 8; bit += 3) {
			w.buf.data[i] ^= (uint8_t)(1u << bit);
			err[0] = '\0';
			if (parse(w.buf.data, w.buf.len, err) != -EINVAL)
				fail_msg("flipping bit %u of byte %zu was not noticed", bit, i);
			assert_one_line_naming_file(err);
			w.buf.data[i] ^= (uint8_t)(1u << bit);
		}
	}
	assert_int_equal(parse(w.buf.data, w.buf.len, err), 0);
	snap_writer_free(&w);
}

static void test_every_truncation_refused(void **state)
{
	struct snap_writer w;
	char err[SNAP_ERROR_MAX];

	(void)state;
	build(&w);
	for (size_t len = 0; len < w.buf.len; len++) {
		err[0] = '\0';
		if (parse(w.buf.data, len, err) != -EINVAL)
			fail_msg("a file cut to %zu of %zu bytes was accepted", len, w.buf.len);
		assert_one_line_naming_file(err);
	}
	/* Cut after the magic: said to be truncated, not "not a snapshot". */
	parse(w.buf.data, 40, err);
	assert_non_null(strstr(err, "truncated"));
	parse(w.buf.data, w.buf.len - SNAP_SECTION_HDR_SIZE, err);
	assert_non_null(strstr(err, "no end section"));
	snap_writer_free(&w);
}

/* A newer (or older) format, with a header whose CRC is right. */
static void test_other_version_refused(void **state)
{
	struct snap_writer w;
	char err[SNAP_ERROR_MAX], want[32];
	uint32_t version = SNAP_FORMAT_VERSION + 1, crc;

	(void)state;
	build(&w);
	memcpy(w.buf.data + 8, &version, 4);
	crc = (uint32_t)crc32(0, w.buf.data, 60);
	memcpy(w.buf.data + 60, &crc, 4);
	assert_int_equal(parse(w.buf.data, w.buf.len, err), -EINVAL);
	assert_one_line_naming_file(err);
	snprintf(want, sizeof(want), "format version %u", version);
	assert_non_null(strstr(err, want));
	snap_writer_free(&w);
}

static void test_not_a_snapshot(void **state)
{
	static const char text[] = "#!/bin/sh\necho this is not a snapshot at all, not even close\n";
	char err[SNAP_ERROR_MAX];

	(void)state;
	assert_int_equal(parse((const uint8_t *)text, sizeof(text), err), -EINVAL);
	assert_non_null(strstr(err, "not a kvmrun snapshot"));
}

static void test_unknown_sections(void **state)
{
	struct snap_writer w;
	struct snap_reader r;
	char err[SNAP_ERROR_MAX];

	(void)state;
	/* Optional and unknown: skipped. */
	snap_writer_init(&w);
	snap_writer_section(&w, 0x7777, 0, SNAP_SECTION_OPTIONAL, "x", 1);
	snap_writer_section(&w, SNAP_SEC_HOST, 0, 0, "h", 1);
	assert_int_equal(snap_writer_finish(&w, 1), 0);
	assert_int_equal(snap_reader_parse(&r, w.buf.data, w.buf.len, "s", err, sizeof(err)), 0);
	assert_int_equal(r.nr_sections, 1);
	assert_non_null(snap_reader_find(&r, SNAP_SEC_HOST, 0));
	snap_reader_close(&r);
	snap_writer_free(&w);

	/* Mandatory and unknown: refused, naming it. */
	snap_writer_init(&w);
	snap_writer_section(&w, 0x7777, 5, 0, "x", 1);
	assert_int_equal(snap_writer_finish(&w, 1), 0);
	assert_int_equal(parse(w.buf.data, w.buf.len, err), -EINVAL);
	assert_one_line_naming_file(err);
	assert_non_null(strstr(err, "0x7777[5] is unknown and mandatory"));
	snap_writer_free(&w);
}

static void test_structure_errors(void **state)
{
	struct snap_writer w;
	char err[SNAP_ERROR_MAX];
	uint8_t *longer;

	(void)state;
	snap_writer_init(&w);
	snap_writer_section(&w, SNAP_SEC_HOST, 0, 0, "a", 1);
	snap_writer_section(&w, SNAP_SEC_HOST, 0, 0, "b", 1);
	assert_int_equal(snap_writer_finish(&w, 1), 0);
	assert_int_equal(parse(w.buf.data, w.buf.len, err), -EINVAL);
	assert_non_null(strstr(err, "section host[0] appears twice"));

	/* Bytes after END. */
	longer = malloc(w.buf.len + 3);
	assert_non_null(longer);
	memcpy(longer, w.buf.data, w.buf.len);
	memset(longer + w.buf.len, 0, 3);
	assert_int_equal(parse(longer, w.buf.len + 3, err), -EINVAL);
	free(longer);
	snap_writer_free(&w);

	/* Unknown section flags. */
	snap_writer_init(&w);
	snap_writer_section(&w, SNAP_SEC_HOST, 0, 0x80, "a", 1);
	assert_int_equal(snap_writer_finish(&w, 1), 0);
	assert_int_equal(parse(w.buf.data, w.buf.len, err), -EINVAL);
	assert_non_null(strstr(err, "unknown flags"));
	snap_writer_free(&w);
}

static void test_cursor(void **state)
{
	struct snap_buf b;
	struct snap_cursor c;
	char s[8];

	(void)state;
	snap_buf_init(&b);
	snap_buf_put_u8(&b, 0xab);
	snap_buf_put_u16(&b, 0x1234);
	snap_buf_put_u32(&b, 0xdeadbeef);
	snap_buf_put_u64(&b, 0x0102030405060708ULL);
	snap_buf_put_str(&b, "kvm");
	assert_false(b.failed);

	snap_cursor_init(&c, b.data, b.len);
	assert_int_equal(snap_get_u8(&c), 0xab);
	assert_int_equal(snap_get_u16(&c), 0x1234);
	assert_int_equal(snap_get_u32(&c), 0xdeadbeef);
	assert_true(snap_get_u64(&c) == 0x0102030405060708ULL);
	snap_get_str(&c, s, sizeof(s));
	assert_string_equal(s, "kvm");
	assert_true(snap_cursor_done(&c));
	/* Reading past the end: zero, and latched. */
	assert_int_equal(snap_get_u32(&c), 0);
	assert_true(c.overrun);
	assert_false(snap_cursor_done(&c));

	/* A string longer than the destination is an overrun, not a cut. */
	snap_cursor_init(&c, b.data + 15, b.len - 15);
	snap_get_str(&c, s, 3);
	assert_true(c.overrun);
	snap_buf_free(&b);
}

static void test_write_atomic(void **state)
{
	char dir[] = "/tmp/kvmrun-format-XXXXXX", path[64], err[256], tmp[80];
	struct snap_reader r;
	struct snap_writer w;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/state", dir);
	build(&w);
	assert_int_equal(snap_file_write_atomic(path, w.buf.data, w.buf.len, err, sizeof(err)), 0);
	assert_int_equal(snap_reader_open(&r, path, err, sizeof(err)), 0);
	assert_int_equal(r.size, w.buf.len);
	assert_memory_equal(r.buf, w.buf.data, w.buf.len);
	snap_reader_close(&r);
	/* No temporary left behind. */
	snprintf(tmp, sizeof(tmp), "%s.tmp%d", path, (int)getpid());
	assert_int_equal(access(tmp, F_OK), -1);
	/* A missing file: -ENOENT, naming it. */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(snap_reader_open(&r, path, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, path));
	assert_int_equal(rmdir(dir), 0);
	snap_writer_free(&w);
}

/* A state file names files kvmrun opens with its privileges (trust.h):
 * one that another user owns, or that group or others may write, is
 * refused with one line naming it and why. */
static void test_untrusted_files_refused(void **state)
{
	char dir[] = "/tmp/kvmrun-format-XXXXXX", path[64], err[512];
	struct snap_reader r;
	struct snap_writer w;
	struct stat st;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/state", dir);
	build(&w);
	assert_int_equal(snap_file_write_atomic(path, w.buf.data, w.buf.len, err, sizeof(err)), 0);
	snap_writer_free(&w);
	/* Written 0600 by its owner: read. 0644 too. */
	assert_int_equal(snap_reader_open(&r, path, err, sizeof(err)), 0);
	snap_reader_close(&r);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(snap_reader_open(&r, path, err, sizeof(err)), 0);
	snap_reader_close(&r);
	assert_int_equal(chmod(path, 0664), 0);
	assert_int_equal(snap_reader_open(&r, path, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "mode 0664, writable by group"));
	assert_null(strchr(err, '\n'));
	assert_int_equal(chmod(path, 0602), 0);
	assert_int_equal(snap_reader_open(&r, path, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "writable by others"));
	assert_int_equal(chmod(path, 0600), 0);
	/* Another user's file (only root can give one away). */
	if (geteuid() == 0) {
		assert_int_equal(chown(path, 65534, 65534), 0);
		assert_int_equal(snap_reader_open(&r, path, err, sizeof(err)), -EPERM);
		assert_non_null(strstr(err, "owned by uid 65534"));
	}
	/* The rule itself: the effective user or root, no group/other write. */
	memset(&st, 0, sizeof(st));
	st.st_uid = 0;
	st.st_mode = S_IFREG | 0644;
	assert_int_equal(snap_file_check_trust(&st, "memory file", "m", err, sizeof(err)), 0);
	st.st_uid = geteuid();
	assert_int_equal(snap_file_check_trust(&st, "memory file", "m", err, sizeof(err)), 0);
	st.st_uid = geteuid() + 1;
	if (st.st_uid != 0) {
		assert_int_equal(snap_file_check_trust(&st, "memory file", "m", err, sizeof(err)), -EPERM);
		assert_non_null(strstr(err, "memory file m: owned by uid"));
	}
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

/* A file of empty optional sections: beyond SNAP_MAX_SECTIONS it is not
 * one kvmrun wrote, refused before the (quadratic) duplicate check could
 * take long; at the limit it is read. */
static void test_too_many_sections(void **state)
{
	struct snap_reader r;
	struct snap_writer w;
	char err[SNAP_ERROR_MAX];

	(void)state;
	for (unsigned nr = SNAP_MAX_SECTIONS - 1; nr <= SNAP_MAX_SECTIONS; nr++) {
		snap_writer_init(&w);
		/* Known types with distinct instances: each one is stored and
		 * compared with all before it. */
		for (unsigned i = 0; i < nr; i++)
			snap_writer_section(&w, SNAP_SEC_VCPU_REGS, i, 0, NULL, 0);
		assert_int_equal(snap_writer_finish(&w, FINGERPRINT), 0);   /* + END */
		if (nr + 1 <= SNAP_MAX_SECTIONS) {
			assert_int_equal(snap_reader_parse(&r, w.buf.data, w.buf.len, "state.snap", err,
							   sizeof(err)), 0);
			snap_reader_close(&r);
		} else {
			assert_int_equal(parse(w.buf.data, w.buf.len, err), -EINVAL);
			assert_one_line_naming_file(err);
			assert_non_null(strstr(err, "more than 8192 sections"));
		}
		snap_writer_free(&w);
	}
}

/* Instances the machine cannot have: a vCPU beyond its vCPUs, a virtio
 * slot beyond its devices, a second UART, a fourth irqchip. */
static void test_instances_checked(void **state)
{
	static const struct { uint32_t type, instance; const char *label; } bad[] = {
		{ SNAP_SEC_VCPU_REGS, 300, "section vcpu-regs[300]" },
		{ SNAP_SEC_VCPU_TSC_KHZ, 2, "section vcpu-tsc-khz[2]" },
		{ SNAP_SEC_VIRTIO_MMIO, 1, "section virtio-mmio[1]" },
		{ SNAP_SEC_VIRTIO_DEVICE, 7, "section virtio-device[7]" },
		{ SNAP_SEC_DEV_UART, 1, "section uart[1]" },
		{ SNAP_SEC_VM_IRQCHIP, 3, "section vm-irqchip[3]" },
		{ SNAP_SEC_MACHINE, 1, "section machine[1]" },
	};
	struct snap_reader r;
	struct snap_writer w;
	char err[SNAP_ERROR_MAX];

	(void)state;
	for (size_t k = 0; k <= sizeof(bad) / sizeof(bad[0]); k++) {
		snap_writer_init(&w);
		snap_writer_section(&w, SNAP_SEC_MACHINE, 0, 0, NULL, 0);
		snap_writer_section(&w, SNAP_SEC_VCPU_REGS, 0, 0, NULL, 0);
		snap_writer_section(&w, SNAP_SEC_VCPU_REGS, 1, 0, NULL, 0);
		snap_writer_section(&w, SNAP_SEC_VM_IRQCHIP, 2, 0, NULL, 0);
		snap_writer_section(&w, SNAP_SEC_VIRTIO_MMIO, 0, 0, NULL, 0);
		if (k < sizeof(bad) / sizeof(bad[0]))
			snap_writer_section(&w, bad[k].type, bad[k].instance, 0, NULL, 0);
		assert_int_equal(snap_writer_finish(&w, FINGERPRINT), 0);
		assert_int_equal(snap_reader_parse(&r, w.buf.data, w.buf.len, "s", err, sizeof(err)), 0);
		if (k < sizeof(bad) / sizeof(bad[0])) {
			assert_int_equal(snap_reader_check_instances(&r, 2, 1, err, sizeof(err)), -EINVAL);
			assert_true(strncmp(err, bad[k].label, strlen(bad[k].label)) == 0);
			assert_non_null(strstr(err, "out of range"));
		} else {
			assert_int_equal(snap_reader_check_instances(&r, 2, 1, err, sizeof(err)), 0);
		}
		snap_reader_close(&r);
		snap_writer_free(&w);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_every_byte_flip_refused),
		cmocka_unit_test(test_every_truncation_refused),
		cmocka_unit_test(test_other_version_refused),
		cmocka_unit_test(test_not_a_snapshot),
		cmocka_unit_test(test_unknown_sections),
		cmocka_unit_test(test_structure_errors),
		cmocka_unit_test(test_cursor),
		cmocka_unit_test(test_write_atomic),
		cmocka_unit_test(test_untrusted_files_refused),
		cmocka_unit_test(test_too_many_sections),
		cmocka_unit_test(test_instances_checked),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
