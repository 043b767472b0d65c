/* Exits with the status given as code=N on the command line, so the
 * runner can check that kvmrun passes the exit port's value through.
 * With the word "user" on the command line the exit happens at CPL 3. */
#include "libguest.h"
#include "user.h"

static long exit_from_user(void *code)
{
	exit((int)(uintptr_t)code);
}

int main(int argc __unused, char **argv __unused)
{
	uint64_t code;

	if (!cmdline_get_u64("code", &code) || code > 255) {
		printf("exit_code: need code=N (0-255) on the command line, got \"%s\"\n",
		       cmdline_get());
		return GUEST_EXIT_ABORT;
	}
	if (cmdline_has("user")) {
		printf("exit_code: exiting with %lu from CPL 3\n", code);
		run_in_user(exit_from_user, (void *)(uintptr_t)code);
	}
	printf("exit_code: exiting with %lu\n", code);
	exit((int)code);
}
