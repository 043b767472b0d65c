/* Descriptor-table layout shared by the C library and the assembly stubs
 * (this header holds only #defines so entry.S can include it).
 *
 * One GDT serves every CPU. It holds the flat kernel and user segments and
 * one 16-byte TSS descriptor per CPU: a TSS descriptor goes busy when it is
 * loaded (SDM vol. 3 §7.2.2), so each CPU needs its own. */
#ifndef GUEST_SEGMENTS_H
#define GUEST_SEGMENTS_H

#define GUEST_MAX_CPUS      64

#define KERNEL_CS           0x08  /* 64-bit code, DPL 0 */
#define KERNEL_DS           0x10  /* data, DPL 0 */
#define KERNEL_CS32         0x18  /* 32-bit code, DPL 0 (spare, for 32-bit stubs) */
#define USER_DS             0x23  /* data, DPL 3 (index 4, RPL 3) */
#define USER_CS             0x2b  /* 64-bit code, DPL 3 (index 5, RPL 3) */
#define TSS_SEL_FIRST       0x30  /* CPU n's TSS is at TSS_SEL_FIRST + 16 * n */
#define GDT_FIXED_ENTRIES   6
#define GDT_ENTRIES         (GDT_FIXED_ENTRIES + 2 * GUEST_MAX_CPUS)

/* Vectors the library owns.
 *
 * USER_RETURN_VECTOR is how user code gets back to CPL 0: `int $4` through
 * a DPL 3 gate. Vector 4 (#OF) is otherwise dead in 64-bit mode, where
 * INTO is invalid. A vector >= 32 would be the textbook choice, but on
 * this project's nested KVM hosts `int n` at CPL 3 delivers only vectors
 * below 32 (int $0x80 raises #UD there), and SYSCALL does not switch CPL. */
#define USER_RETURN_VECTOR  4
#define SMP_IPI_VECTOR      0xf0  /* wakes an idle CPU / signals completion */
#define SPURIOUS_VECTOR     0xff

/* Per-CPU stacks, kernel and user. */
#define KERNEL_STACK_SIZE   16384
#define USER_STACK_SIZE     16384

/* Real-mode trampoline for application processors (SIPI vector 0x08). */
#define AP_TRAMPOLINE_ADDR  0x8000

/* Control-register and MSR bits used by the boot paths. */
#define CR0_PE              (1 << 0)
#define CR0_MP              (1 << 1)
#define CR0_ET              (1 << 4)
#define CR0_NE              (1 << 5)
#define CR0_WP              (1 << 16)
#define CR0_PG              (1 << 31)
#define CR0_BOOT            (CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG)
#define CR4_PAE             (1 << 5)
#define MSR_EFER            0xc0000080
#define EFER_LME            (1 << 8)
#define RFLAGS_RESERVED1    (1 << 1)
#define RFLAGS_IF           (1 << 9)
#define RFLAGS_IOPL3        (3 << 12)

#endif
