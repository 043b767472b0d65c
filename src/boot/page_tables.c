#include "boot/page_tables.h"

#include <errno.h>
#include <stdint.h>

/* Every entry is present, writable and user-accessible: Linux replaces
 * these tables within its first instructions, and test guests that drop to
 * CPL3 keep running on the identity map without building their own. */
#define BOOT_PTE_FLAGS (PTE_PRESENT | PTE_WRITE | PTE_USER)

int boot_page_tables_write(struct guest_memory *mem)
{
	uint64_t *pml4 = guest_memory_ptr(mem, BOOT_PML4, 0x1000);
	uint64_t *pdpt = guest_memory_ptr(mem, BOOT_PDPT, 0x1000);

	if (!pml4 || !pdpt)
		return -EFAULT;
	for (unsigned i = 0; i < 512; i++)
		pml4[i] = pdpt[i] = 0;
	pml4[0] = BOOT_PDPT | BOOT_PTE_FLAGS;
	for (unsigned i = 0; i < BOOT_PD_COUNT; i++) {
		uint64_t *pd = guest_memory_ptr(mem, BOOT_PD(i), 0x1000);

		if (!pd)
			return -EFAULT;
		pdpt[i] = BOOT_PD(i) | BOOT_PTE_FLAGS;
		for (uint64_t j = 0; j < 512; j++)
			pd[j] = (((uint64_t)i << 30) | (j << 21)) | BOOT_PTE_FLAGS | PTE_LARGE;
	}
	return 0;
}
