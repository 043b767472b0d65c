/* Large zeroed allocations from fresh anonymous pages: they start as the
 * kernel's shared zero page, so nothing is cleared up front and only the
 * pages actually written ever take memory. For the big, sparsely used
 * start-up structures (the machine, the port index, the ACPI scratch
 * area), where calloc would memset tens of KiB on every start. */
#ifndef KVMRUN_ZEROED_PAGES_H
#define KVMRUN_ZEROED_PAGES_H

#include <stddef.h>
#include <sys/mman.h>

static inline void *zeroed_pages_alloc(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static inline void zeroed_pages_free(void *p, size_t size)
{
	if (p)
		munmap(p, size);
}

#endif
