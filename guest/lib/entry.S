/* Boot stub: PVH or Multiboot entry, long-mode switch, exception stubs,
 * CPL 3 switch.
 *
 * PVH boot (xen/include/public/arch-x86/hvm/start_info.h and the x86 PVH
 * boot ABI): the VMM enters at the address in the XEN_ELFNOTE_PHYS32_ENTRY
 * note in 32-bit protected mode, paging off, flat 4 GiB segments,
 * interrupts off, with EBX = physical address of struct hvm_start_info.
 *
 * Multiboot v1 (Multiboot Specification 0.6.96 §3.2) enters in the same
 * state with EAX = 0x2BADB002 and EBX = the multiboot_info. Images built
 * with -DGUEST_MULTIBOOT carry a Multiboot header (below) instead of the
 * PVH note: VMMs that know both take PVH first (kvmrun), or Multiboot first
 * (QEMU), so an image with both would test only one of them, and every
 * other image keeps booting through PVH under both. -DGUEST_MULTIBOOT_AOUT
 * adds the a.out-kludge address fields, so the ELF64 file loads by them.
 * start32 tells the two apart by EAX.
 *
 * Ring 0 is emulated on the machines this runs on (~1.4M instructions/s),
 * so the path to C is a couple of dozen instructions: the page tables are
 * assembled statically, and .bss is not cleared because ELF loaders zero
 * p_memsz beyond p_filesz (ELF spec, program loading) and both kvmrun and
 * QEMU load into zeroed RAM. */
#include "segments.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define MULTIBOOT_HEADER_MAGIC     0x1BADB002
#define MULTIBOOT_BOOTLOADER_MAGIC 0x2BADB002
/* Header flags (§3.1.2): modules page-aligned, memory information wanted,
 * and with GUEST_MULTIBOOT_AOUT the address fields (bit 16). */
#ifdef GUEST_MULTIBOOT_AOUT
#define MULTIBOOT_FLAGS            0x00010003
#else
#define MULTIBOOT_FLAGS            0x00000003
#endif

#ifdef GUEST_MULTIBOOT
	/* guest.ld puts .multiboot first in the image, so the header lies
	 * in the first 8 KiB of the file, 4-byte aligned (§3.1.1). */
	.section .multiboot, "a"
	.balign 4
multiboot_header:
	.long MULTIBOOT_HEADER_MAGIC
	.long MULTIBOOT_FLAGS
	.long -(MULTIBOOT_HEADER_MAGIC + MULTIBOOT_FLAGS)
#ifdef GUEST_MULTIBOOT_AOUT
	/* §3.1.3: text and data are contiguous in the file from .text on
	 * (guest.ld), then bss up to _end. */
	.long multiboot_header         /* header_addr */
	.long __image_start            /* load_addr */
	.long __data_end               /* load_end_addr */
	.long _end                     /* bss_end_addr */
	.long start32                  /* entry_addr */
#endif
#else
	.section .note.pvh, "a", @note
	.balign 4
	.long 4                        /* namesz: "Xen\0" */
	.long 8                        /* descsz: QEMU reads 8 bytes for ELF64 */
	.long XEN_ELFNOTE_PHYS32_ENTRY
	.asciz "Xen"
	.balign 4
	.quad start32
	.balign 4
#endif

/* ---- Page tables: identity map of 4 GiB with 2 MiB pages -------------- */
#define PTE_P   0x001
#define PTE_RW  0x002
#define PTE_US  0x004   /* user-accessible: CPL 3 code may touch everything */
#define PTE_PWT 0x008
#define PTE_PCD 0x010
#define PTE_PS  0x080   /* 2 MiB page in a page directory */
#define PTE_TABLE (PTE_P | PTE_RW | PTE_US)
#define PTE_LARGE (PTE_P | PTE_RW | PTE_US | PTE_PS)
/* 0xc0000000-0xffffffff (the last GiB) holds the device hole; map it
 * uncached so MMIO accesses are not cached (SDM vol. 3 §11.12). */
#define PTE_LARGE_UC (PTE_LARGE | PTE_PCD | PTE_PWT)

	.section .data.page_tables, "aw"
	.balign 4096
	.globl boot_pml4
boot_pml4:
	.quad boot_pdpt + PTE_TABLE
	.fill 511, 8, 0
boot_pdpt:
	.quad boot_pd + 0x0000 + PTE_TABLE
	.quad boot_pd + 0x1000 + PTE_TABLE
	.quad boot_pd + 0x2000 + PTE_TABLE
	.quad boot_pd + 0x3000 + PTE_TABLE
	.fill 508, 8, 0
boot_pd:
	pde = 0
	.rept 512 * 3
	.quad (pde << 21) + PTE_LARGE
	pde = pde + 1
	.endr
	.rept 512
	.quad (pde << 21) + PTE_LARGE_UC
	pde = pde + 1
	.endr

/* ---- 32-bit entry --------------------------------------------------- */
	.section .text.boot, "ax"
	.code32
	.globl start32
start32:
	movl %eax, boot_magic           /* MULTIBOOT_BOOTLOADER_MAGIC or anything (PVH) */
	movl %ebx, boot_info_paddr      /* multiboot_info or hvm_start_info */
	lgdt gdt_descr                  /* 32-bit LGDT reads limit + 32-bit base */
	movl $CR4_PAE, %eax
	movl %eax, %cr4
	movl $boot_pml4, %eax
	movl %eax, %cr3
	movl $MSR_EFER, %ecx
	rdmsr
	orl $EFER_LME, %eax
	wrmsr
	movl $CR0_BOOT, %eax            /* PG with EFER.LME: long mode (SDM vol. 3 §9.8.5) */
	movl %eax, %cr0
	ljmp $KERNEL_CS, $start64

	.code64
start64:
	movl $KERNEL_DS, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	xorl %eax, %eax
	movl %eax, %fs
	movl %eax, %gs
	movq $(kernel_stacks + KERNEL_STACK_SIZE), %rsp
	movl boot_magic, %edi
	movl boot_info_paddr, %esi
	call guest_main_entry
1:	hlt
	jmp 1b

	.section .data, "aw"
	.balign 4
boot_magic:
	.long 0
boot_info_paddr:
	.long 0

/* ---- Exception and interrupt stubs ---------------------------------- */
/* One 16-byte stub per vector at isr_stubs + 16 * vector. Vectors without
 * a CPU error code push a zero so every frame has the same layout
 * (struct ex_regs in desc.h). Error codes: SDM vol. 3 §6.13 table 6-1. */
	.section .text, "ax"
	.balign 16
	.globl isr_stubs
isr_stubs:
	vec = 0
	.rept 256
	.balign 16
	.if !(vec == 8 || (vec >= 10 && vec <= 14) || vec == 17 || vec == 21 || vec == 29 || vec == 30)
	pushq $0
	.endif
	pushq $vec
	jmp isr_common
	vec = vec + 1
	.endr

isr_common:
	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %rbp
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	cld
	/* The CPU aligned RSP to 16 before pushing its 5-word frame (SDM vol. 3
	 * §6.14.2); with the error code, vector and 15 registers the stack is
	 * aligned again here, as the ABI wants at a call. */
	movq %rsp, %rdi
	call exception_dispatch
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rbp
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rbx
	popq %rax
	addq $16, %rsp                  /* vector and error code */
	iretq

/* ---- CPL 3 ---------------------------------------------------------- */
/* long __run_in_user(fn, arg, struct tss64 *tss, void *user_stack_top)
 *                    rdi  rsi  rdx               rcx
 * RSP0 sits at offset 4 of the 64-bit TSS (SDM vol. 3 §7.7). */
	.globl __run_in_user
__run_in_user:
	pushq %rbp
	pushq %rbx
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	pushfq
	/* Entry RSP was 8 mod 16 (return address); after 7 pushes it is 16-
	 * byte aligned, so a trap from CPL 3 pushes its frame directly below
	 * this one and the user-return gate finds it at RSP0 - 40. */
	movq %rsp, 4(%rdx)
	movq (%rsp), %rax
	andq $RFLAGS_IF, %rax
	orq $(RFLAGS_IOPL3 | RFLAGS_RESERVED1), %rax
	pushq $USER_DS                  /* SS */
	pushq %rcx                      /* RSP */
	pushq %rax                      /* RFLAGS: IOPL 3, caller's IF */
	pushq $USER_CS                  /* CS */
	leaq user_trampoline(%rip), %rax
	pushq %rax                      /* RIP */
	iretq

user_trampoline:                        /* CPL 3, rdi = fn, rsi = arg */
	movq %rdi, %rax
	movq %rsi, %rdi
	call *%rax
	movq %rax, %rdi
	int $USER_RETURN_VECTOR
	ud2

/* Interrupt gate, DPL 3. Entered from user_trampoline at CPL 3 with the
 * CPU's frame (SS, RSP, RFLAGS, CS, RIP: 40 bytes, no error code) pushed
 * just below the frame __run_in_user saved; RDI holds fn's result. */
	.globl user_return_entry
user_return_entry:
	testb $3, 8(%rsp)               /* came from CPL 3? (CS in the frame) */
	jz 1f
	addq $40, %rsp
	movq %rdi, %rax
	popfq
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbx
	popq %rbp
	ret
1:	ud2                             /* `int $USER_RETURN_VECTOR` at CPL 0 */

/* ---- setjmp/longjmp for exception_expect() ---------------------------- */
/* int ex_setjmp(struct ex_jmp_buf *) -- layout in smp.h */
	.globl ex_setjmp
ex_setjmp:
	movq %rbx, 0(%rdi)
	movq %rbp, 8(%rdi)
	movq %r12, 16(%rdi)
	movq %r13, 24(%rdi)
	movq %r14, 32(%rdi)
	movq %r15, 40(%rdi)
	leaq 8(%rsp), %rax
	movq %rax, 48(%rdi)             /* RSP after our return */
	movq (%rsp), %rax
	movq %rax, 56(%rdi)             /* return address */
	pushfq
	popq 64(%rdi)
	xorl %eax, %eax
	ret

/* void ex_longjmp(struct ex_jmp_buf *, int val) */
	.globl ex_longjmp
ex_longjmp:
	movq 0(%rdi), %rbx
	movq 8(%rdi), %rbp
	movq 16(%rdi), %r12
	movq 24(%rdi), %r13
	movq 32(%rdi), %r14
	movq 40(%rdi), %r15
	movq 48(%rdi), %rsp
	pushq 64(%rdi)
	popfq
	movl %esi, %eax
	jmpq *56(%rdi)

	.section .note.GNU-stack, "", @progbits
