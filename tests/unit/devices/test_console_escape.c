/* Console escapes: Ctrl-A x quits, Ctrl-A Ctrl-A is a literal Ctrl-A,
 * other Ctrl-A commands are swallowed; sequences may span reads. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "devices/console_escape.h"

struct filtered {
	uint8_t out[64];
	size_t len;
	bool quit;
};

static struct filtered filter(struct console_escape *esc, const char *in, size_t n)
{
	struct filtered r;

	memset(r.out, 0xee, sizeof(r.out));
	r.len = console_escape_filter(esc, (const uint8_t *)in, n, r.out, &r.quit);
	assert_true(r.len <= n);
	return r;
}

static void test_plain_input_passes_through(void **state)
{
	struct console_escape esc;
	struct filtered r;

	(void)state;
	console_escape_init(&esc);
	r = filter(&esc, "ls -l\r\x03", 7);  /* Ctrl-C is the guest's */
	assert_int_equal(r.len, 7);
	assert_memory_equal(r.out, "ls -l\r\x03", 7);
	assert_false(r.quit);
	r = filter(&esc, "", 0);
	assert_int_equal(r.len, 0);
	assert_false(r.quit);
}

static void test_ctrl_a_x_quits_and_stops_filtering(void **state)
{
	struct console_escape esc;
	struct filtered r;

	(void)state;
	console_escape_init(&esc);
	r = filter(&esc, "ab\x01xcd", 6);
	assert_true(r.quit);
	assert_int_equal(r.len, 2);
	assert_memory_equal(r.out, "ab", 2);
	assert_false(esc.after_escape);

	r = filter(&esc, "\x01X", 2);
	assert_true(r.quit);
	assert_int_equal(r.len, 0);
}

static void test_ctrl_a_ctrl_a_is_literal(void **state)
{
	struct console_escape esc;
	struct filtered r;

	(void)state;
	console_escape_init(&esc);
	r = filter(&esc, "a\x01\x01" "b\x01\x01\x01\x01", 8);
	assert_false(r.quit);
	assert_int_equal(r.len, 5);
	assert_memory_equal(r.out, "a\x01" "b\x01\x01", 5);
	/* ...and the literal Ctrl-A does not start a new escape. */
	r = filter(&esc, "\x01\x01x", 3);
	assert_false(r.quit);
	assert_int_equal(r.len, 2);
	assert_memory_equal(r.out, "\x01x", 2);
}

static void test_escape_split_across_reads(void **state)
{
	struct console_escape esc;
	struct filtered r;

	(void)state;
	console_escape_init(&esc);
	r = filter(&esc, "hi\x01", 3);
	assert_int_equal(r.len, 2);
	assert_false(r.quit);
	r = filter(&esc, "x", 1);
	assert_true(r.quit);
	assert_int_equal(r.len, 0);

	r = filter(&esc, "\x01", 1);
	assert_int_equal(r.len, 0);
	r = filter(&esc, "\x01z", 2);
	assert_int_equal(r.len, 2);
	assert_memory_equal(r.out, "\x01z", 2);
}

static void test_unknown_command_is_swallowed(void **state)
{
	struct console_escape esc;
	struct filtered r;

	(void)state;
	console_escape_init(&esc);
	r = filter(&esc, "1\x01h2\x01" "c3", 7);
	assert_false(r.quit);
	assert_int_equal(r.len, 3);
	assert_memory_equal(r.out, "123", 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_input_passes_through),
		cmocka_unit_test(test_ctrl_a_x_quits_and_stops_filtering),
		cmocka_unit_test(test_ctrl_a_ctrl_a_is_literal),
		cmocka_unit_test(test_escape_split_across_reads),
		cmocka_unit_test(test_unknown_command_is_swallowed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
