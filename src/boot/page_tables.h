/* The identity map the Linux 64-bit boot protocol requires ("the range with
 * setup_header.init_size from start address of loaded kernel and zero page
 * and command line buffer get ident mapping"): the whole first 4 GiB, so
 * RAM below the hole and the MMIO devices are all reachable at entry. */
#ifndef KVMRUN_BOOT_PAGE_TABLES_H
#define KVMRUN_BOOT_PAGE_TABLES_H

#include "layout.h"
#include "memory.h"

#define BOOT_PML4        LAYOUT_PAGE_TABLES
#define BOOT_PDPT        (LAYOUT_PAGE_TABLES + 0x1000)
#define BOOT_PD(i)       (LAYOUT_PAGE_TABLES + 0x2000 + (i) * 0x1000ULL)  /* i = 0..3 */
#define BOOT_PD_COUNT    4
#define BOOT_PAGE_TABLES_SIZE (0x2000 + BOOT_PD_COUNT * 0x1000ULL)

/* Page table entry bits (SDM vol. 3 §4.5). */
#define PTE_PRESENT  0x001ULL
#define PTE_WRITE    0x002ULL
#define PTE_USER     0x004ULL
#define PTE_LARGE    0x080ULL   /* PS: a 2 MiB page in a page directory */

/* Write PML4, PDPT and four page directories of 2 MiB pages at
 * LAYOUT_PAGE_TABLES. Returns 0 or -EFAULT. */
int boot_page_tables_write(struct guest_memory *mem);

#endif
