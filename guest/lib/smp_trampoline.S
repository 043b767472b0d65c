/* Application-processor start-up.
 *
 * smp_init() copies ap_trampoline_start..ap_trampoline_end to
 * AP_TRAMPOLINE_ADDR and sends INIT-SIPI-SIPI with that page as the SIPI
 * vector, so the AP starts here in real mode with CS = page << 8, IP = 0
 * (SDM vol. 3 §8.4.4). It goes straight to long mode: PE and PG may be set
 * in one MOV to CR0 as long as PAE and EFER.LME are set first, and the far
 * jump then loads the 64-bit code segment. The code is position
 * independent: data is addressed relative to the trampoline start, with
 * DS = CS. */
#include "segments.h"

	.section .rodata.ap_trampoline, "a"
	.code16
	.globl ap_trampoline_start
ap_trampoline_start:
	cli
	movw %cs, %ax
	movw %ax, %ds
	lgdtl ap_gdt_descr - ap_trampoline_start
	movl $CR4_PAE, %eax
	movl %eax, %cr4
	movl $boot_pml4, %eax
	movl %eax, %cr3
	movl $MSR_EFER, %ecx
	rdmsr
	orl $EFER_LME, %eax
	wrmsr
	movl $CR0_BOOT, %eax
	movl %eax, %cr0
	ljmpl $KERNEL_CS, $ap_start64

	.balign 8
ap_gdt_descr:
	.word GDT_ENTRIES * 8 - 1
	.long gdt
	.globl ap_trampoline_end
ap_trampoline_end:

	.section .text, "ax"
	.code64
ap_start64:
	movl $KERNEL_DS, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	xorl %eax, %eax
	movl %eax, %fs
	movl %eax, %gs
	movq ap_boot_stack(%rip), %rsp
	call ap_main
1:	hlt
	jmp 1b

	.section .note.GNU-stack, "", @progbits
