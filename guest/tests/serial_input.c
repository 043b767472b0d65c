/* Console input reaches the guest: print "ready", read one line from the
 * UART at CPL 3 (each LSR poll is a VM exit, not an emulated loop) and
 * compare it with expect=<word> from the command line. */
#include "libguest.h"
#include "serial.h"
#include "user.h"

static char line[128];

static long read_line(void *p __unused)
{
	return (long)serial_getline(line, sizeof(line));
}

int main(int argc __unused, char **argv __unused)
{
	char expect[128];

	report_prefix_push("serial_input");
	if (!cmdline_get_str("expect", expect, sizeof(expect))) {
		report_skip("no expect=<word> on the command line");
		return report_summary();
	}
	printf("ready\n");
	run_in_user(read_line, NULL);
	printf("got: %s\n", line);
	report(strcmp(line, expect) == 0, "line \"%s\" matches expect=%s", line, expect);
	return report_summary();
}
