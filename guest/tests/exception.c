/* An unhandled exception ends the guest with GUEST_EXIT_EXCEPTION (10)
 * after a register dump: a #PF on an address the identity map does not
 * cover (above 4 GiB), at CPL 0, or at CPL 3 with "user" on the command
 * line. The runner checks the status and the dump. */
#include "libguest.h"
#include "user.h"

#define UNMAPPED_ADDRESS 0x100000000000ULL  /* PML4 entry 32: not present */

static long touch_unmapped(void *p __unused)
{
	return (long)*(volatile uint64_t *)(uintptr_t)UNMAPPED_ADDRESS;
}

int main(int argc __unused, char **argv __unused)
{
	bool user = cmdline_has("user");

	printf("exception: reading 0x%llx at CPL %d\n", UNMAPPED_ADDRESS, user ? 3 : 0);
	if (user)
		run_in_user(touch_unmapped, NULL);
	else
		touch_unmapped(NULL);
	printf("exception: the read did not fault\n");
	return GUEST_EXIT_FAIL;
}
