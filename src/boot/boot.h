/* Boot loaders: pure functions from (image bytes, configuration) to writes
 * into guest memory plus the CPU state the boot vCPU starts in. No KVM here,
 * so every loader is unit-tested on synthetic images.
 *
 * Supported images, tried in this order:
 *   1. ELF64/ELF32 with a XEN_ELFNOTE_PHYS32_ENTRY note -> PVH entry
 *   2. Multiboot v1 header in the first 8 KiB             -> Multiboot entry
 *   3. bzImage (setup header magic "HdrS")                -> Linux 64-bit boot protocol
 *   4. ELF64 vmlinux without a PVH note                   -> Linux 64-bit boot protocol
 */
#ifndef KVMRUN_BOOT_H
#define KVMRUN_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "memory.h"

enum boot_protocol {
	BOOT_PROTOCOL_LINUX64,   /* 64-bit boot protocol: long mode, RSI = zero page */
	BOOT_PROTOCOL_PVH,       /* PVH: 32-bit protected mode, EBX = hvm_start_info */
	BOOT_PROTOCOL_MULTIBOOT, /* Multiboot v1: 32-bit protected mode,
				  * EAX = 0x2BADB002, EBX = multiboot_info */
};

enum boot_cpu_mode {
	BOOT_CPU_LONG64,        /* long mode, paging on (identity map of 4 GiB) */
	BOOT_CPU_PROTECTED32,   /* protected mode, paging off, flat segments */
};

/* The boot vCPU's entry state, turned into kvm_regs/kvm_sregs by
 * boot_entry_to_cpu_state(). */
struct boot_entry {
	enum boot_protocol protocol;
	enum boot_cpu_mode mode;
	uint64_t rip;
	uint64_t rax;   /* MULTIBOOT: the boot loader magic 0x2BADB002 */
	uint64_t rsi;   /* LINUX64: zero page address */
	uint64_t rbx;   /* PVH: hvm_start_info, MULTIBOOT: multiboot_info address */
};

struct boot_config {
	const uint8_t *kernel;
	size_t kernel_size;
	const uint8_t *initrd;   /* NULL if none */
	size_t initrd_size;
	const char *cmdline;     /* never NULL; may be "" */
	/* The kernel's file name, as the user gave it. Multiboot passes it as
	 * the first word of the command line; a Multiboot image is refused
	 * without it. Other protocols ignore it. */
	const char *kernel_name;
	/* Where the ACPI RSDP is, 0 if there are no tables. Handed to the
	 * kernel (PVH rsdp_paddr, zero page acpi_rsdp_addr) so it need not
	 * scan for it; Multiboot v1 has no field for it. */
	uint64_t acpi_rsdp;
};

/* Maximum length of a loader error message, including the NUL. */
#define BOOT_ERROR_MAX 256

/* Load `cfg` into `mem` (which must be zeroed RAM) and fill `entry`.
 * Writes the kernel, the initrd, the command line, the zero page, the
 * hvm_start_info or the multiboot_info with the e820 map, the boot GDT,
 * and for LINUX64 the identity page tables. Returns 0, or -EINVAL / -ENOMEM / -E2BIG / -ENOEXEC
 * with a one-line reason in `err` (no trailing newline, no "error:" prefix). */
int boot_load(struct guest_memory *mem, const struct boot_config *cfg,
	      struct boot_entry *entry, char err[BOOT_ERROR_MAX]);

/* Write the MP floating pointer and configuration table at LAYOUT_EBDA_START
 * announcing `nr_cpus` processors (APIC IDs 0..nr_cpus-1, CPU 0 the BSP),
 * the IOAPIC at LAYOUT_IOAPIC_BASE with 24 pins, ISA bus and IRQ 0-15
 * routing (plus pins 16-23, level-triggered active high, for platform
 * devices). Returns 0 or -errno. */
int mptable_write(struct guest_memory *mem, unsigned nr_cpus);

/* The most processors the MP tables announce: APIC IDs are 8 bits, 0xff is
 * the broadcast ID and the I/O APIC takes ID nr_cpus. The configuration
 * table lives in the EBDA KiB after the floating pointer for up to 37 CPUs
 * and at 0xf0000 (BIOS area, e820 reserved) beyond (docs/boot.md).
 * mptable_write() returns -EINVAL for 0 CPUs and -E2BIG above this. */
#define BOOT_MPTABLE_MAX_CPUS 254

#endif
