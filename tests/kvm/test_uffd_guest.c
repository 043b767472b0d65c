/* KVM's own accesses to guest RAM that is not yet present are served by
 * the userfaultfd back-end: the guest (guest/tests/async_pf.c, mode=read)
 * reads every page of a 64 MiB range that only the back-end fills, from a
 * memory file with a pattern and holes, with and without the prefetcher.
 * The faults come from the vCPU thread inside KVM_RUN (KVM's
 * get_user_pages), not from a VMM access. Exits 77 without /dev/kvm or
 * userfaultfd. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "kvm_test.h"
#include "uffd_guest.h"

#define SIZE       (64ULL << 20)
#define HOLE_EVERY 16
#define CMDLINE    "mode=read base=0x4000000 size=0x4000000 hole_every=16"

static void print_stats(const char *what, const struct uffd_memory_stats *s)
{
	printf("%s: %lu pages, %lu faults (%lu copied, %lu zeroed), %lu prefetched, %lu races, "
	       "first fault after %.1f ms, resident after %.1f ms\n", what,
	       (unsigned long)s->pages, (unsigned long)s->faults,
	       (unsigned long)s->fault_pages_copied, (unsigned long)s->fault_pages_zeroed,
	       (unsigned long)s->prefetch_pages, (unsigned long)s->races,
	       (double)s->first_fault_ns / 1e6, (double)s->resident_ns / 1e6);
}

static void test_guest_reads_memory_filled_on_faults(void **state)
{
	struct uffd_memory_options opts = { .disable_prefetch = true };
	struct uffd_memory_stats s;
	const uint64_t pages = SIZE / UFFD_GUEST_PAGE;

	(void)state;
	assert_int_equal(uffd_guest_run(160, CMDLINE, SIZE, HOLE_EVERY, &opts, &s), 0);
	print_stats("faults only", &s);
	/* The guest read every page, so each was filled by a fault. */
	assert_int_equal(s.present, pages);
	assert_int_equal(s.fault_pages_copied + s.fault_pages_zeroed, pages);
	assert_int_equal(s.fault_pages_zeroed, pages / HOLE_EVERY);
	assert_int_equal(s.prefetch_pages, 0);
}

static void test_guest_reads_memory_while_prefetching(void **state)
{
	struct uffd_memory_stats s;
	const uint64_t pages = SIZE / UFFD_GUEST_PAGE;

	(void)state;
	assert_int_equal(uffd_guest_run(160, CMDLINE, SIZE, HOLE_EVERY, NULL, &s), 0);
	print_stats("faults and prefetch", &s);
	assert_true(s.resident);
	assert_int_equal(s.fault_pages_copied + s.fault_pages_zeroed + s.prefetch_pages, pages);
	assert_int_equal(s.zero_pages, pages / HOLE_EVERY);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_guest_reads_memory_filled_on_faults),
		cmocka_unit_test(test_guest_reads_memory_while_prefetching),
	};

	if (!uffd_guest_available())
		return KVM_TEST_SKIP;
	return kvm_test_run("uffd guest tests", tests, NULL, NULL);
}
