/* Test result reporting in the kvm-unit-tests format, which the runner
 * (tests/guest/run_guest_test.py) and people read alike. */
#include "libguest.h"

/* Counters may be bumped from any CPU. */
static unsigned report_tests, report_failures, report_skips;

/* The prefix stack as one string "a: b: "; used from one CPU at a time. */
static char report_prefix[256];

void report_prefix_push(const char *prefix)
{
	size_t len = strlen(report_prefix);

	snprintf(report_prefix + len, sizeof(report_prefix) - len, "%s: ", prefix);
}

void report_prefix_pop(void)
{
	size_t len = strlen(report_prefix);

	/* Drop the last "name: ": find the ": " before the final one. */
	if (len < 2)
		return;
	len -= 2;
	while (len >= 2 && !(report_prefix[len - 2] == ':' && report_prefix[len - 1] == ' '))
		len--;
	if (len < 2)
		len = 0;
	report_prefix[len] = '\0';
}

static void report_line(const char *kind, const char *fmt, va_list ap)
{
	char msg[256];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	printf("%s: %s%s\n", kind, report_prefix, msg);
}

void report(bool pass, const char *fmt, ...)
{
	va_list ap;

	__atomic_fetch_add(&report_tests, 1, __ATOMIC_RELAXED);
	if (!pass)
		__atomic_fetch_add(&report_failures, 1, __ATOMIC_RELAXED);
	va_start(ap, fmt);
	report_line(pass ? "PASS" : "FAIL", fmt, ap);
	va_end(ap);
}

void report_skip(const char *fmt, ...)
{
	va_list ap;

	__atomic_fetch_add(&report_tests, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&report_skips, 1, __ATOMIC_RELAXED);
	va_start(ap, fmt);
	report_line("SKIP", fmt, ap);
	va_end(ap);
}

void report_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report_line("INFO", fmt, ap);
	va_end(ap);
}

int report_summary(void)
{
	unsigned tests = __atomic_load_n(&report_tests, __ATOMIC_RELAXED);
	unsigned failures = __atomic_load_n(&report_failures, __ATOMIC_RELAXED);
	unsigned skips = __atomic_load_n(&report_skips, __ATOMIC_RELAXED);

	printf("SUMMARY: %u tests, %u unexpected failures, %u skipped\n", tests, failures,
	       skips);
	return failures ? GUEST_EXIT_FAIL : GUEST_EXIT_PASS;
}
