/* The boot GDT at LAYOUT_BOOT_GDT. Its layout follows the Linux boot
 * protocol (Documentation/arch/x86/boot.rst, "32-bit/64-bit Boot Protocol"):
 * entries 0 and 1 null, __BOOT_CS (0x10) a flat code segment, __BOOT_DS
 * (0x18) a flat read/write data segment. The code segment is 64-bit for
 * BOOT_CPU_LONG64 and 32-bit for BOOT_CPU_PROTECTED32 (PVH), so the same
 * selectors serve both entry modes. */
#ifndef KVMRUN_BOOT_GDT_H
#define KVMRUN_BOOT_GDT_H

#include <stdint.h>

#include "boot/boot.h"
#include "memory.h"

#define BOOT_GDT_CS       0x10   /* __BOOT_CS */
#define BOOT_GDT_DS       0x18   /* __BOOT_DS */
#define BOOT_GDT_ENTRIES  4
#define BOOT_GDT_LIMIT    (BOOT_GDT_ENTRIES * 8 - 1)

/* Descriptor `index` of the boot GDT for `mode` (SDM vol. 3 §3.4.5). */
uint64_t boot_gdt_entry(enum boot_cpu_mode mode, unsigned index);

/* Write the boot GDT for `mode` at LAYOUT_BOOT_GDT. Returns 0 or -EFAULT. */
int boot_gdt_write(struct guest_memory *mem, enum boot_cpu_mode mode);

#endif
