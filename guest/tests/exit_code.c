/* Exits with the status given as code=N on the command line, so the
 * runner can check that kvmrun passes the exit port's value through. */
#include "libguest.h"

int main(int argc __unused, char **argv __unused)
{
	uint64_t code;

	if (!cmdline_get_u64("code", &code) || code > 255) {
		printf("exit_code: need code=N (0-255) on the command line, got \"%s\"\n",
		       cmdline_get());
		return GUEST_EXIT_ABORT;
	}
	printf("exit_code: exiting with %lu\n", code);
	exit((int)code);
}
