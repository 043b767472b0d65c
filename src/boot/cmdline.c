/* The kernel command line, for every protocol at LAYOUT_CMDLINE. */
#include <errno.h>
#include <string.h>

#include "boot/loader.h"
#include "layout.h"

int cmdline_write(struct guest_memory *mem, const char *cmdline, uint64_t max_len,
		  const char *limit_name, char err[BOOT_ERROR_MAX])
{
	size_t len = strlen(cmdline);

	/* Our own window at LAYOUT_CMDLINE caps every protocol's limit. */
	if (max_len > LAYOUT_CMDLINE_MAX - 1)
		max_len = LAYOUT_CMDLINE_MAX - 1;
	if (len > max_len)
		return boot_fail(err, -E2BIG,
				 "kernel command line is %zu bytes, longer than the %llu allowed (%s)",
				 len, (unsigned long long)max_len, limit_name);
	if (guest_memory_write(mem, LAYOUT_CMDLINE, cmdline, len + 1) < 0)
		return boot_fail(err, -ENOMEM, "command line at 0x%llx is outside guest RAM",
				 (unsigned long long)LAYOUT_CMDLINE);
	return 0;
}
