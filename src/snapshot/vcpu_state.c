/* One vCPU's KVM state: save, restore, and its sections. See vcpu_state.h. */
#include "snapshot/vcpu_state.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kvm.h"
#include "log.h"
#include "snapshot/format.h"
#include "snapshot/timing.h"

#define CPUID_MAX_ENTRIES 1024   /* far more than any CPU has leaves */
#define MSRS_MAX          4096   /* bounds a file's MSR count */

/* The MTRRs (Intel SDM vol. 3A §12.11, "Memory Type Range Registers"):
 * guest state KVM emulates but leaves out of KVM_GET_MSR_INDEX_LIST
 * (QEMU saves them apart too). Without them a restored vCPU would come
 * back with its MTRRs disabled (MTRRdefType 0: all memory uncachable to a
 * guest that reads them). KVM implements 8 variable ranges; a host that
 * refuses one of these simply has it dropped (save_msrs). */
static const uint32_t mtrr_msrs[] = {
	0x2ff,                                  /* MTRRdefType */
	0x250, 0x258, 0x259,                    /* fixed: 64K, 16K x 2 */
	0x268, 0x269, 0x26a, 0x26b, 0x26c, 0x26d, 0x26e, 0x26f,   /* fixed: 4K */
	0x200, 0x201, 0x202, 0x203, 0x204, 0x205, 0x206, 0x207,   /* variable: */
	0x208, 0x209, 0x20a, 0x20b, 0x20c, 0x20d, 0x20e, 0x20f,   /* base, mask */
};
#define NR_MTRR_MSRS (sizeof(mtrr_msrs) / sizeof(mtrr_msrs[0]))

/* Append the MTRRs the list does not already name. */
static void add_mtrr_msrs(struct kvm_msr_list *list)
{
	uint32_t listed = list->nmsrs;

	for (size_t i = 0; i < NR_MTRR_MSRS; i++) {
		bool present = false;

		for (uint32_t j = 0; j < listed && !present; j++)
			present = list->indices[j] == mtrr_msrs[i];
		if (!present)
			list->indices[list->nmsrs++] = mtrr_msrs[i];
	}
}

int vcpu_state_caps_init(struct vcpu_state_caps *caps, int kvm_fd, int vm_fd)
{
	struct kvm_msr_list probe = { .nmsrs = 0 };
	int size;

	memset(caps, 0, sizeof(*caps));
	caps->sregs2 = kvm_check_extension(vm_fd, KVM_CAP_SREGS2) > 0;
	caps->xcrs = kvm_check_extension(vm_fd, KVM_CAP_XCRS) > 0;
	/* api.rst, KVM_CAP_XSAVE2: on the VM fd it returns the size of the
	 * buffer KVM_GET_XSAVE2 fills, which can exceed struct kvm_xsave's
	 * 4 KiB once AMX and later features are enabled. */
	size = kvm_check_extension(vm_fd, KVM_CAP_XSAVE2);
	caps->xsave2 = size >= (int)sizeof(struct kvm_xsave);
	caps->xsave_size = caps->xsave2 ? (uint32_t)size : sizeof(struct kvm_xsave);

	/* The MSRs KVM can save: the first call only says how many. */
	if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG)
		return log_syscall_error("KVM_GET_MSR_INDEX_LIST", errno);
	caps->msr_list = calloc(1, sizeof(*caps->msr_list) +
				   (probe.nmsrs + NR_MTRR_MSRS) * sizeof(uint32_t));
	if (!caps->msr_list)
		return -ENOMEM;
	caps->msr_list->nmsrs = probe.nmsrs;
	if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, caps->msr_list) < 0) {
		int err = errno;

		vcpu_state_caps_free(caps);
		return log_syscall_error("KVM_GET_MSR_INDEX_LIST", err);
	}
	add_mtrr_msrs(caps->msr_list);
	return 0;
}

void vcpu_state_caps_free(struct vcpu_state_caps *caps)
{
	free(caps->msr_list);
	caps->msr_list = NULL;
}

static struct kvm_msrs *msrs_alloc(uint32_t n)
{
	struct kvm_msrs *m = calloc(1, sizeof(*m) + (size_t)n * sizeof(struct kvm_msr_entry));

	if (m)
		m->nmsrs = n;
	return m;
}

/* KVM_GET_MSRS reads entries in order and stops at the first it refuses
 * (returning how many it read): an MSR the index list names may still be
 * unreadable for this vCPU's CPUID. Keep what reads, drop what does not. */
static int save_msrs(struct vcpu_state *s, int fd, const struct kvm_msr_list *list)
{
	struct kvm_msrs *kept = msrs_alloc(list->nmsrs), *part = msrs_alloc(list->nmsrs);
	uint32_t next = 0;
	int ret = 0;

	if (!kept || !part) {
		ret = -ENOMEM;
		goto free_lists;
	}
	kept->nmsrs = 0;
	while (next < list->nmsrs) {
		int n;

		part->nmsrs = list->nmsrs - next;
		for (uint32_t i = 0; i < part->nmsrs; i++)
			part->entries[i] = (struct kvm_msr_entry){ .index = list->indices[next + i] };
		n = ioctl(fd, KVM_GET_MSRS, part);
		if (n < 0) {
			ret = log_syscall_error("KVM_GET_MSRS", errno);
			goto free_lists;
		}
		memcpy(&kept->entries[kept->nmsrs], part->entries, (size_t)n * sizeof(part->entries[0]));
		kept->nmsrs += (uint32_t)n;
		next += (uint32_t)n + 1;   /* past the refused one, if any */
	}
	s->msrs = kept;
	kept = NULL;

free_lists:
	free(kept);
	free(part);
	return ret;
}

static int save_cpuid(struct vcpu_state *s, int fd)
{
	for (uint32_t n = 64; n <= CPUID_MAX_ENTRIES; n *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(struct kvm_cpuid_entry2));

		if (!c)
			return -ENOMEM;
		c->nent = n;
		if (ioctl(fd, KVM_GET_CPUID2, c) == 0) {
			s->cpuid = c;
			return 0;
		}
		free(c);
		if (errno != E2BIG)
			return log_syscall_error("KVM_GET_CPUID2", errno);
	}
	return log_syscall_error("KVM_GET_CPUID2", E2BIG);
}

#define GET(fd, req, arg, name) do {                                   \
		if (ioctl((fd), (req), (arg)) < 0)                     \
			return log_syscall_error(name, errno);         \
	} while (0)

int vcpu_state_save(struct vcpu_state *s, int fd, unsigned index, const struct vcpu_state_caps *caps,
		    struct snap_timing *t)
{
	uint64_t start = snap_now_ns();
	long khz;
	int ret;

	memset(s, 0, sizeof(*s));
	/* First: it may move the LAPIC's pending INIT/SIPI into the vCPU. */
	GET(fd, KVM_GET_MP_STATE, &s->mp_state, "KVM_GET_MP_STATE");
	snap_timing_lap(t, &start, "vcpu%u mp_state", index);
	GET(fd, KVM_GET_REGS, &s->regs, "KVM_GET_REGS");
	snap_timing_lap(t, &start, "vcpu%u regs", index);
	s->has_sregs2 = caps->sregs2;
	if (caps->sregs2)
		GET(fd, KVM_GET_SREGS2, &s->sregs2, "KVM_GET_SREGS2");
	else
		GET(fd, KVM_GET_SREGS, &s->sregs, "KVM_GET_SREGS");
	snap_timing_lap(t, &start, "vcpu%u sregs", index);
	s->xsave_size = caps->xsave_size;
	s->xsave = calloc(1, caps->xsave_size);
	if (!s->xsave)
		return -ENOMEM;
	if (caps->xsave2)
		GET(fd, KVM_GET_XSAVE2, s->xsave, "KVM_GET_XSAVE2");
	else
		GET(fd, KVM_GET_XSAVE, s->xsave, "KVM_GET_XSAVE");
	snap_timing_lap(t, &start, "vcpu%u xsave", index);
	s->has_xcrs = caps->xcrs;
	if (caps->xcrs)
		GET(fd, KVM_GET_XCRS, &s->xcrs, "KVM_GET_XCRS");
	snap_timing_lap(t, &start, "vcpu%u xcrs", index);
	GET(fd, KVM_GET_DEBUGREGS, &s->debugregs, "KVM_GET_DEBUGREGS");
	snap_timing_lap(t, &start, "vcpu%u debugregs", index);
	GET(fd, KVM_GET_LAPIC, &s->lapic, "KVM_GET_LAPIC");
	snap_timing_lap(t, &start, "vcpu%u lapic", index);
	khz = ioctl(fd, KVM_GET_TSC_KHZ, 0);
	s->tsc_khz = khz > 0 ? (uint32_t)khz : 0;
	snap_timing_lap(t, &start, "vcpu%u tsc_khz", index);
	ret = save_msrs(s, fd, caps->msr_list);
	if (ret < 0)
		return ret;
	snap_timing_lap(t, &start, "vcpu%u msrs(%u)", index, s->msrs->nmsrs);
	ret = save_cpuid(s, fd);
	if (ret < 0)
		return ret;
	snap_timing_lap(t, &start, "vcpu%u cpuid", index);
	/* Last: what is pending after every other GET had its effect. */
	GET(fd, KVM_GET_VCPU_EVENTS, &s->events, "KVM_GET_VCPU_EVENTS");
	snap_timing_lap(t, &start, "vcpu%u events", index);
	return 0;
}

/* KVM_SET_MSRS stops at the first MSR it refuses, and some MSRs depend on
 * others (async PF's interrupt vector before its enable bit): set what
 * goes, then retry the refused ones once everything else is in place. */
static int restore_msrs(const struct kvm_msrs *saved, int fd, unsigned index)
{
	struct kvm_msrs *todo = msrs_alloc(saved->nmsrs), *retry = msrs_alloc(saved->nmsrs);
	int ret = 0;

	if (!todo || !retry) {
		ret = -ENOMEM;
		goto free_lists;
	}
	memcpy(todo->entries, saved->entries, saved->nmsrs * sizeof(struct kvm_msr_entry));
	retry->nmsrs = 0;
	for (int pass = 0; pass < 2 && todo->nmsrs; pass++) {
		uint32_t next = 0, total = todo->nmsrs;

		retry->nmsrs = 0;
		while (next < total) {
			struct kvm_msrs *part = msrs_alloc(total - next);
			int n;

			if (!part) {
				ret = -ENOMEM;
				goto free_lists;
			}
			memcpy(part->entries, &todo->entries[next],
			       (total - next) * sizeof(struct kvm_msr_entry));
			n = ioctl(fd, KVM_SET_MSRS, part);
			free(part);
			if (n < 0) {
				ret = log_syscall_error("KVM_SET_MSRS", errno);
				goto free_lists;
			}
			next += (uint32_t)n;
			if (next < total)
				retry->entries[retry->nmsrs++] = todo->entries[next++];
		}
		memcpy(todo->entries, retry->entries, retry->nmsrs * sizeof(struct kvm_msr_entry));
		todo->nmsrs = retry->nmsrs;
	}
	if (todo->nmsrs) {
		log_error("KVM_SET_MSRS: vCPU %u: MSR 0x%x = 0x%llx refused (%u refused in all)", index,
			  todo->entries[0].index, (unsigned long long)todo->entries[0].data,
			  todo->nmsrs);
		ret = -EINVAL;
	}

free_lists:
	free(todo);
	free(retry);
	return ret;
}

#define SET(fd, req, arg, name) do {                                   \
		if (ioctl((fd), (req), (arg)) < 0)                     \
			return log_syscall_error(name, errno);         \
	} while (0)

int vcpu_state_restore(const struct vcpu_state *s, int fd, unsigned index,
		       const struct vcpu_state_caps *caps, struct snap_timing *t)
{
	uint64_t start = snap_now_ns();
	long khz;
	int ret;

	/* The guest's TSC rate first: MSR_IA32_TSC and the LAPIC timer are
	 * in its units. On the same host it already matches. */
	khz = ioctl(fd, KVM_GET_TSC_KHZ, 0);
	if (s->tsc_khz && khz > 0 && (uint32_t)khz != s->tsc_khz &&
	    ioctl(fd, KVM_SET_TSC_KHZ, (unsigned long)s->tsc_khz) < 0) {
		log_error("KVM_SET_TSC_KHZ %u (the snapshot's TSC rate; this host runs at %ld kHz): %s",
			  s->tsc_khz, khz, strerror(errno));
		return -EINVAL;
	}
	snap_timing_lap(t, &start, "vcpu%u tsc_khz", index);
	SET(fd, KVM_SET_CPUID2, s->cpuid, "KVM_SET_CPUID2");
	snap_timing_lap(t, &start, "vcpu%u cpuid", index);
	SET(fd, KVM_SET_MP_STATE, &s->mp_state, "KVM_SET_MP_STATE");
	snap_timing_lap(t, &start, "vcpu%u mp_state", index);
	SET(fd, KVM_SET_REGS, &s->regs, "KVM_SET_REGS");
	snap_timing_lap(t, &start, "vcpu%u regs", index);
	if (s->has_sregs2)
		SET(fd, KVM_SET_SREGS2, &s->sregs2, "KVM_SET_SREGS2");
	else
		SET(fd, KVM_SET_SREGS, &s->sregs, "KVM_SET_SREGS");
	snap_timing_lap(t, &start, "vcpu%u sregs", index);
	/* api.rst: KVM_SET_XSAVE reads as many bytes as KVM_GET_XSAVE2
	 * wrote when KVM_CAP_XSAVE2 is there. */
	SET(fd, KVM_SET_XSAVE, s->xsave, "KVM_SET_XSAVE");
	snap_timing_lap(t, &start, "vcpu%u xsave", index);
	if (s->has_xcrs)
		SET(fd, KVM_SET_XCRS, &s->xcrs, "KVM_SET_XCRS");
	snap_timing_lap(t, &start, "vcpu%u xcrs", index);
	SET(fd, KVM_SET_DEBUGREGS, &s->debugregs, "KVM_SET_DEBUGREGS");
	snap_timing_lap(t, &start, "vcpu%u debugregs", index);
	/* After SREGS (the APIC base MSR), before the MSRs (TSC deadline). */
	SET(fd, KVM_SET_LAPIC, &s->lapic, "KVM_SET_LAPIC");
	snap_timing_lap(t, &start, "vcpu%u lapic", index);
	ret = restore_msrs(s->msrs, fd, index);
	if (ret < 0)
		return ret;
	snap_timing_lap(t, &start, "vcpu%u msrs(%u)", index, s->msrs->nmsrs);
	SET(fd, KVM_SET_VCPU_EVENTS, &s->events, "KVM_SET_VCPU_EVENTS");
	snap_timing_lap(t, &start, "vcpu%u events", index);
	(void)caps;
	return 0;
}

void vcpu_state_write(const struct vcpu_state *s, unsigned index, struct snap_writer *w)
{
	snap_writer_begin(w, SNAP_SEC_VCPU_CPUID, index, 0);
	snap_buf_put_u32(&w->buf, s->cpuid->nent);
	snap_buf_put(&w->buf, s->cpuid->entries, s->cpuid->nent * sizeof(struct kvm_cpuid_entry2));
	snap_writer_end(w);
	snap_writer_section(w, SNAP_SEC_VCPU_MP_STATE, index, 0, &s->mp_state, sizeof(s->mp_state));
	snap_writer_section(w, SNAP_SEC_VCPU_REGS, index, 0, &s->regs, sizeof(s->regs));
	if (s->has_sregs2)
		snap_writer_section(w, SNAP_SEC_VCPU_SREGS2, index, 0, &s->sregs2, sizeof(s->sregs2));
	else
		snap_writer_section(w, SNAP_SEC_VCPU_SREGS, index, 0, &s->sregs, sizeof(s->sregs));
	snap_writer_section(w, SNAP_SEC_VCPU_XSAVE, index, 0, s->xsave, s->xsave_size);
	if (s->has_xcrs)
		snap_writer_section(w, SNAP_SEC_VCPU_XCRS, index, 0, &s->xcrs, sizeof(s->xcrs));
	snap_writer_section(w, SNAP_SEC_VCPU_DEBUGREGS, index, 0, &s->debugregs,
			    sizeof(s->debugregs));
	snap_writer_section(w, SNAP_SEC_VCPU_LAPIC, index, 0, &s->lapic, sizeof(s->lapic));
	snap_writer_begin(w, SNAP_SEC_VCPU_MSRS, index, 0);
	snap_buf_put_u32(&w->buf, s->msrs->nmsrs);
	snap_buf_put(&w->buf, s->msrs->entries, s->msrs->nmsrs * sizeof(struct kvm_msr_entry));
	snap_writer_end(w);
	snap_writer_section(w, SNAP_SEC_VCPU_TSC_KHZ, index, 0, &s->tsc_khz, sizeof(s->tsc_khz));
	snap_writer_section(w, SNAP_SEC_VCPU_EVENTS, index, 0, &s->events, sizeof(s->events));
}

/* A fixed-size section into `out`: present and exactly `size` bytes. */
static int read_fixed(const struct snap_reader *r, uint32_t type, unsigned index, void *out,
		      size_t size, char *err, size_t errlen)
{
	const struct snap_section *s = snap_reader_find(r, type, index);

	if (!s) {
		snprintf(err, errlen, "section %s[%u] is missing", snap_section_name(type), index);
		return -EINVAL;
	}
	if (s->len != size) {
		snprintf(err, errlen,
			 "section %s[%u] is %llu bytes, this host's structure is %zu (another kernel?)",
			 snap_section_name(type), index, (unsigned long long)s->len, size);
		return -EINVAL;
	}
	memcpy(out, s->data, size);
	return 0;
}

/* A counted array section: u32 count, then count entries of `entry` bytes.
 * Returns the count, or -EINVAL. */
static long read_counted(const struct snap_reader *r, uint32_t type, unsigned index, size_t entry,
			 uint32_t max, const uint8_t **entries, char *err, size_t errlen)
{
	const struct snap_section *s = snap_reader_find(r, type, index);
	uint32_t n;

	if (!s) {
		snprintf(err, errlen, "section %s[%u] is missing", snap_section_name(type), index);
		return -EINVAL;
	}
	if (s->len < 4)
		goto bad_size;
	memcpy(&n, s->data, 4);
	if (n > max || s->len != 4 + (uint64_t)n * entry)
		goto bad_size;
	*entries = s->data + 4;
	return n;

bad_size:
	snprintf(err, errlen, "section %s[%u]: %llu bytes do not hold a count and whole entries",
		 snap_section_name(type), index, (unsigned long long)s->len);
	return -EINVAL;
}

int vcpu_state_read(struct vcpu_state *s, unsigned index, const struct snap_reader *r,
		    const struct vcpu_state_caps *caps, char *err, size_t errlen)
{
	const struct snap_section *sec;
	const uint8_t *entries;
	long n;
	int ret;

	memset(s, 0, sizeof(*s));
	n = read_counted(r, SNAP_SEC_VCPU_CPUID, index, sizeof(struct kvm_cpuid_entry2),
			 CPUID_MAX_ENTRIES, &entries, err, errlen);
	if (n < 0)
		return -EINVAL;
	s->cpuid = calloc(1, sizeof(*s->cpuid) + (size_t)n * sizeof(struct kvm_cpuid_entry2));
	if (!s->cpuid)
		return -ENOMEM;
	s->cpuid->nent = (uint32_t)n;
	memcpy(s->cpuid->entries, entries, (size_t)n * sizeof(struct kvm_cpuid_entry2));

	n = read_counted(r, SNAP_SEC_VCPU_MSRS, index, sizeof(struct kvm_msr_entry), MSRS_MAX,
			 &entries, err, errlen);
	if (n < 0)
		return -EINVAL;
	s->msrs = msrs_alloc((uint32_t)n);
	if (!s->msrs)
		return -ENOMEM;
	memcpy(s->msrs->entries, entries, (size_t)n * sizeof(struct kvm_msr_entry));

	s->has_sregs2 = snap_reader_find(r, SNAP_SEC_VCPU_SREGS2, index) != NULL;
	if (s->has_sregs2 && !caps->sregs2) {
		snprintf(err, errlen, "vCPU %u was saved with KVM_GET_SREGS2, which this host lacks", index);
		return -EINVAL;
	}
	ret = s->has_sregs2 ? read_fixed(r, SNAP_SEC_VCPU_SREGS2, index, &s->sregs2,
					 sizeof(s->sregs2), err, errlen)
			    : read_fixed(r, SNAP_SEC_VCPU_SREGS, index, &s->sregs, sizeof(s->sregs),
					 err, errlen);
	if (ret < 0)
		return ret;

	sec = snap_reader_find(r, SNAP_SEC_VCPU_XSAVE, index);
	if (!sec || sec->len != caps->xsave_size) {
		snprintf(err, errlen, sec ? "section vcpu-xsave[%u] is %llu bytes, this host's XSAVE area is %u"
					  : "section vcpu-xsave[%u] is missing",
			 index, sec ? (unsigned long long)sec->len : 0ULL, caps->xsave_size);
		return -EINVAL;
	}
	s->xsave_size = caps->xsave_size;
	s->xsave = malloc(s->xsave_size);
	if (!s->xsave)
		return -ENOMEM;
	memcpy(s->xsave, sec->data, s->xsave_size);

	s->has_xcrs = snap_reader_find(r, SNAP_SEC_VCPU_XCRS, index) != NULL;
	if ((s->has_xcrs &&
	     read_fixed(r, SNAP_SEC_VCPU_XCRS, index, &s->xcrs, sizeof(s->xcrs), err, errlen) < 0) ||
	    read_fixed(r, SNAP_SEC_VCPU_MP_STATE, index, &s->mp_state, sizeof(s->mp_state), err,
		       errlen) < 0 ||
	    read_fixed(r, SNAP_SEC_VCPU_REGS, index, &s->regs, sizeof(s->regs), err, errlen) < 0 ||
	    read_fixed(r, SNAP_SEC_VCPU_DEBUGREGS, index, &s->debugregs, sizeof(s->debugregs), err,
		       errlen) < 0 ||
	    read_fixed(r, SNAP_SEC_VCPU_LAPIC, index, &s->lapic, sizeof(s->lapic), err, errlen) < 0 ||
	    read_fixed(r, SNAP_SEC_VCPU_TSC_KHZ, index, &s->tsc_khz, sizeof(s->tsc_khz), err,
		       errlen) < 0 ||
	    read_fixed(r, SNAP_SEC_VCPU_EVENTS, index, &s->events, sizeof(s->events), err, errlen) < 0)
		return -EINVAL;
	return 0;
}

void vcpu_state_free(struct vcpu_state *s)
{
	free(s->cpuid);
	free(s->xsave);
	free(s->msrs);
	memset(s, 0, sizeof(*s));
}
