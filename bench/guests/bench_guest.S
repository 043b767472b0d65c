/* The smallest PVH guests, for the start-up benchmark (bench/README.md).
 *
 * The vCPU enters pvh_start32 in 32-bit protected mode (Xen
 * docs/misc/pvh.pandoc). Its first port write puts '!' on COM1, so the
 * moment that byte reaches the VMM's stdout is "the guest's first
 * instruction has run" (plus one PIO exit); the instructions before it
 * only load the port and the byte (OUT takes a port above 0xff only in DX,
 * SDM vol. 2B "OUT"). Then:
 *
 *   default        exit with status 0: kvmrun's exit port 0x600 first, then
 *                  QEMU's isa-debug-exit at 0xf4 (QEMU exits with 1), as the
 *                  guest library's exit() does;
 *   -DBENCH_PARK   halt for ever with interrupts off, so the VMM's memory can
 *                  be read from /proc while the VM is up; the benchmark ends
 *                  it with SIGTERM.
 *
 * No stack, no memory access: nothing but the image itself is touched. */

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define COM1_THR   0x3f8
#define EXIT_PORT  0x600
#define QEMU_EXIT  0xf4

	.section .note.pvh, "a", @note
	.balign 4
	.long 4                         /* namesz: "Xen\0" */
	.long 8                         /* descsz: QEMU reads 8 bytes for ELF64 */
	.long XEN_ELFNOTE_PHYS32_ENTRY
	.asciz "Xen"
	.balign 4
	.quad pvh_start32
	.balign 4

	.text
	.code32
	.globl pvh_start32
pvh_start32:
	movw $COM1_THR, %dx
	movb $'!', %al
	outb %al, %dx
#ifndef BENCH_PARK
	movw $EXIT_PORT, %dx
	xorl %eax, %eax
	outb %al, %dx
	outl %eax, $QEMU_EXIT
#endif
1:	hlt                             /* EFLAGS.IF = 0 at PVH entry: never wakes */
	jmp 1b
