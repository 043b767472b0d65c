/* Where the initrd goes: as high as allowed, so it stays clear of the kernel
 * and of everything the kernel allocates early from the bottom up. */
#include <errno.h>

#include "boot/loader.h"
#include "layout.h"

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

int initrd_place_around(const struct guest_memory *mem, uint64_t size,
			const struct elf_extent *image, uint64_t *addr)
{
	if (initrd_place(size, image->end, guest_memory_low_end(mem), addr) == 0)
		return 0;
	return initrd_place(size, LAYOUT_HIGH_MEMORY_START, image->start, addr);
}
