/* The library checks itself: formatting, parsing, string helpers, the
 * command line and report prefixes. Run with the command line
 *   a=1 hex=0x10 word str=xyz bad=12x
 * The string work runs at CPL 3, where it is not emulated. With "fail" on
 * the command line one deliberate failure checks that report_summary()
 * turns it into exit status 1. */
#include "libguest.h"
#include "user.h"

static char buf[128];

static bool fmt_is(const char *want, const char *fmt, ...) __printf_like(2, 3);
static bool fmt_is(const char *want, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n != (int)strlen(want) || strcmp(buf, want) != 0) {
		report_info("format \"%s\": got \"%s\" (%d), want \"%s\"", fmt, buf, n, want);
		return false;
	}
	return true;
}

static const char *volatile no_string;

static long check_printf(void *p __unused)
{
	bool ok = true;
	char small[4];
	int n;

	ok &= fmt_is("42 -42 0", "%d %i %u", 42, -42, 0u);
	ok &= fmt_is("ff FF 17", "%x %X %o", 255u, 255u, 15u);
	ok &= fmt_is("[   7] [7   ] [0007]", "[%4d] [%-4d] [%04d]", 7, 7, 7);
	ok &= fmt_is("[  -7] [-007]", "[%4d] [%04d]", -7, -7);
	ok &= fmt_is("ffffffffffffffff", "%lx", ~0UL);
	ok &= fmt_is("18446744073709551615", "%llu", ~0ULL);
	ok &= fmt_is("-9223372036854775808", "%lld", (long long)(-0x7fffffffffffffffLL - 1));
	ok &= fmt_is("123", "%zu", (size_t)123);
	ok &= fmt_is("-1 255", "%hhd %hhu", (signed char)-1, (unsigned char)255);
	ok &= fmt_is("0x1000", "%p", (void *)0x1000);
	ok &= fmt_is("abc|  abc|abc  |ab", "%s|%5s|%-5s|%.2s", "abc", "abc", "abc", "abc");
	ok &= fmt_is("x|   y|100%", "%c|%*c|100%%", 'x', 4, 'y');
	ok &= fmt_is("(null)", "%s", no_string);  /* volatile: GCC rejects a literal NULL */
	/* Truncation: NUL-terminated, returns the full length. */
	n = snprintf(small, sizeof(small), "%s", "abcdef");
	ok &= n == 6 && strcmp(small, "abc") == 0;
	return ok;
}

static long check_strings(void *p __unused)
{
	char m[16] = "abcdefgh";
	uint64_t v = 0;
	const char *end;
	bool ok = true;

	memmove(m + 2, m, 6);                   /* overlap, forwards */
	ok &= memcmp(m, "ababcdef", 8) == 0;
	memmove(m, m + 2, 6);                   /* overlap, backwards */
	ok &= memcmp(m, "abcdefef", 8) == 0;
	memset(m, 'z', 3);
	ok &= memcmp(m, "zzzdefef", 8) == 0;
	ok &= strcmp("abc", "abd") < 0 && strcmp("abd", "abc") > 0 && strcmp("", "") == 0;
	ok &= strncmp("abcx", "abcy", 3) == 0 && strncmp("ab", "abc", 3) < 0;
	ok &= strlen("hello") == 5 && strnlen("hello", 3) == 3;
	ok &= strchr("hello", 'l') && *strchr("hello", 'l') == 'l' && !strchr("hello", 'z');
	ok &= parse_u64("1234x", &v, &end) && v == 1234 && *end == 'x';
	ok &= parse_u64("0xfFfF", &v, NULL) && v == 0xffff;
	ok &= parse_u64("18446744073709551615", &v, NULL) && v == ~0ULL;
	ok &= !parse_u64("18446744073709551616", &v, NULL);  /* overflow */
	ok &= !parse_u64("x1", &v, NULL);
	return ok;
}

int main(int argc, char **argv)
{
	uint64_t v = 0;
	char s[8];

	report_prefix_push("selftest");
	report(run_in_user(check_printf, NULL), "vsnprintf conversions, flags, widths, truncation");
	report(run_in_user(check_strings, NULL), "memmove/memset/strcmp/strchr/parse_u64");

	report_prefix_push("cmdline");
	report(cmdline_get_u64("a", &v) && v == 1, "a=1");
	report(cmdline_get_u64("hex", &v) && v == 16, "hex=0x10");
	report(!cmdline_get_u64("bad", &v), "bad=12x is not a number");
	report(!cmdline_get_u64("missing", &v), "missing key");
	report(cmdline_get_str("str", s, sizeof(s)) && strcmp(s, "xyz") == 0, "str=xyz");
	report(cmdline_get_str("str", s, 3) && strcmp(s, "xy") == 0, "str truncated to 2 bytes");
	report(cmdline_has("word") && !cmdline_has("wor"), "bare word");
	report(argc >= 2 && strcmp(argv[0], "guest") == 0 && strcmp(argv[1], "a=1") == 0,
	       "argv: %d words, argv[1] \"%s\"", argc, argc >= 2 ? argv[1] : "");
	report_prefix_pop();

	report_prefix_push("nested");
	report_prefix_push("deeper");
	report_prefix_pop();
	report_prefix_pop();
	report(true, "prefixes pop back to the outer one");

	if (cmdline_has("fail"))
		report(false, "deliberate failure");
	return report_summary();
}
