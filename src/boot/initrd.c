/* Where the initrd goes: as high as allowed, so it stays clear of the kernel
 * and of everything the kernel allocates early from the bottom up. */
#include <errno.h>

#include "boot/loader.h"

int initrd_place(uint64_t size, uint64_t floor, uint64_t ceiling, uint64_t *addr)
{
	const uint64_t mask = BOOT_PAGE_SIZE - 1;

	if (floor > UINT64_MAX - mask)
		return -ENOMEM;
	floor = (floor + mask) & ~mask;
	if (ceiling < floor || size > ceiling - floor)
		return -ENOMEM;
	/* ceiling - size >= floor and floor is page aligned, so rounding down
	 * stays inside the window. */
	*addr = (ceiling - size) & ~mask;
	return 0;
}
