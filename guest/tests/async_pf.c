/* Guest memory served lazily by the host (userfaultfd), and KVM's
 * asynchronous page faults (guest/lib/apf.h).
 *
 * The host (tests/kvm/test_uffd_guest.c, test_async_pf.c; later the
 * snapshot restore tests) fills [base, base + size) on demand from a file
 * whose page i holds, in its first 8 bytes, ASYNC_PF_PATTERN ^ its guest
 * physical address, except every hole_every-th page (i % hole_every ==
 * hole_every - 1), which is a hole and reads as zero.
 *
 *   mode=read  read the first word of every page at CPL 3 and check it:
 *              KVM's own accesses to not-yet-present memory are served.
 *   mode=apf   enable async PF; task A reads `pages` pages `stride` bytes
 *              apart while task B counts on the same vCPU. Reports whether
 *              'page not present' events arrived and whether B's count
 *              moved while A waited.
 *   mode=block the same two tasks without enabling async PF: the control.
 *              Each access blocks the whole vCPU, so B must not move.
 *
 * For a snapshot test, fill=1 snapshot_wait_ms=N first writes the file's
 * contents into the range itself, prints "async_pf: filled, snapshot
 * window of N ms", and spins at CPL 3 for N ms (by the TSC) before running
 * the mode: a snapshot taken in that window and restored with the uffd
 * back-end gives task A a range untouched since the restore.
 *
 * Exit status: 0 all checks passed; 1 a check failed; APF_EXIT_UNSUPPORTED
 * (20) the vCPU cannot enable async PF (the line "apf: unavailable: ..."
 * says what is missing); APF_EXIT_NOT_DELIVERED (21) async PF is enabled and
 * the data is right, but KVM delivered no 'page not present' (it blocked
 * the vCPU instead). */
#include "apf.h"
#include "io.h"
#include "libguest.h"
#include "tsc.h"
#include "user.h"

#define ASYNC_PF_PATTERN       0x6b766d72756e5046ULL  /* "kvmrunPF" */
#define PAGE_SIZE              4096UL
#define APF_EXIT_UNSUPPORTED   20
#define APF_EXIT_NOT_DELIVERED 21

struct region {
	uint64_t base, size, hole_every;
};

static uint64_t expected(const struct region *r, uint64_t gpa)
{
	uint64_t page = (gpa - r->base) / PAGE_SIZE;

	if (r->hole_every && page % r->hole_every == r->hole_every - 1)
		return 0;
	return ASYNC_PF_PATTERN ^ (gpa & ~(PAGE_SIZE - 1));
}

static long read_all(void *arg)
{
	const struct region *r = arg;
	long bad = 0;

	for (uint64_t gpa = r->base; gpa < r->base + r->size; gpa += PAGE_SIZE)
		bad += READ_ONCE(*(uint64_t *)gpa) != expected(r, gpa);
	return bad;
}

static long fill_region(void *arg)
{
	const struct region *r = arg;

	for (uint64_t gpa = r->base; gpa < r->base + r->size; gpa += PAGE_SIZE)
		WRITE_ONCE(*(uint64_t *)gpa, expected(r, gpa));
	return 0;
}

static long spin_until(void *arg)
{
	uint64_t end = *(uint64_t *)arg;

	while (rdtsc() < end)
		cpu_relax();
	return 0;
}

struct apf_job {
	struct region r;
	uint64_t pages, stride;
	volatile uint64_t counter;       /* task B's count */
	uint64_t bad, progressed, waited_counts;
};

/* Task B: counts as fast as it can, forever. */
static void count_forever(void *arg)
{
	struct apf_job *job = arg;

	for (;;)
		job->counter++;
}

/* Task A (main): each access to a page not yet filled parks A until the
 * host has filled it; B's counter tells whether B ran meanwhile. */
static long touch_pages(void *arg)
{
	struct apf_job *job = arg;

	for (uint64_t i = 0; i < job->pages; i++) {
		uint64_t gpa = job->r.base + i * job->stride;
		uint64_t before = job->counter;
		uint64_t v = READ_ONCE(*(uint64_t *)gpa);
		uint64_t after = job->counter;

		job->bad += v != expected(&job->r, gpa);
		if (after != before) {
			job->progressed++;
			job->waited_counts += after - before;
		}
	}
	return 0;
}

static int run_apf(struct apf_job *job)
{
	enum apf_status status = apf_enable();
	const struct apf_stats *s;

	if (status != APF_OK) {
		printf("apf: unavailable: %s\n", apf_status_name(status));
		report_skip("async PF: %s", apf_status_name(status));
		report_summary();
		return APF_EXIT_UNSUPPORTED;
	}
	report_info("async PF enabled: vector 0x%x", APF_VECTOR);
	apf_task_add(count_forever, job);
	apf_run(touch_pages, job);
	apf_disable();
	s = apf_get_stats();
	printf("apf: not_present=%lu page_ready=%lu ready_early=%lu wake_all=%lu switches=%lu "
	       "idle=%lu\n", s->not_present, s->page_ready, s->ready_early, s->wake_all,
	       s->switches, s->idle_entries);
	printf("apf: pages=%lu b_progressed_during=%lu b_counts_during_waits=%lu\n", job->pages,
	       job->progressed, job->waited_counts);
	report(job->bad == 0, "%lu pages read back the file's contents", job->pages);
	if (!s->not_present) {
		printf("apf: KVM delivered no 'page not present' for host-missing memory\n");
		return report_summary() ? 1 : APF_EXIT_NOT_DELIVERED;
	}
	report(s->page_ready >= s->not_present - s->ready_early,
	       "every 'page not present' was followed by 'page ready'");
	report(job->progressed > 0, "task B ran while task A waited (%lu of %lu accesses)",
	       job->progressed, job->pages);
	return report_summary();
}

/* Without async PF every access to a missing page blocks the vCPU inside
 * KVM until the host fills it: B cannot run in between. */
static int run_block(struct apf_job *job)
{
	apf_task_add(count_forever, job);
	apf_run(touch_pages, job);
	printf("block: pages=%lu b_progressed_during=%lu\n", job->pages, job->progressed);
	report(job->bad == 0, "%lu pages read back the file's contents", job->pages);
	report(job->progressed == 0, "without async PF, task B never ran while A waited");
	return report_summary();
}

int main(int argc __unused, char **argv __unused)
{
	static struct apf_job job;
	char mode[8] = "read";

	job.r.hole_every = 0;
	job.stride = 1 << 20;
	if (!cmdline_get_u64("base", &job.r.base) || !cmdline_get_u64("size", &job.r.size) ||
	    job.r.base % PAGE_SIZE || job.r.size % PAGE_SIZE)
		guest_abort("async_pf: base= and size= (page-aligned) are required");
	cmdline_get_u64("hole_every", &job.r.hole_every);
	cmdline_get_str("mode", mode, sizeof(mode));
	cmdline_get_u64("stride", &job.stride);
	job.pages = job.r.size / job.stride;
	cmdline_get_u64("pages", &job.pages);
	if (!job.stride || job.stride % PAGE_SIZE || job.pages > job.r.size / job.stride)
		guest_abort("async_pf: pages=%lu stride=%lu do not fit size=%lu", job.pages,
			    job.stride, job.r.size);
	report_prefix_push("async_pf");
	if (cmdline_has("fill=1")) {
		uint64_t wait_ms = 0, end;
		const char *source;

		cmdline_get_u64("snapshot_wait_ms", &wait_ms);
		run_in_user(fill_region, &job.r);
		end = rdtsc() + tsc_hz(&source) / 1000 * wait_ms;
		printf("async_pf: filled, snapshot window of %lu ms\n", wait_ms);
		run_in_user(spin_until, &end);
	}
	if (!strcmp(mode, "apf"))
		return run_apf(&job);
	if (!strcmp(mode, "block"))
		return run_block(&job);
	report(run_in_user(read_all, &job.r) == 0, "%lu pages at 0x%lx read back the file's contents",
	       job.r.size / PAGE_SIZE, job.r.base);
	return report_summary();
}
