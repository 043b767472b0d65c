/* GDT, TSS and IDT: descriptor tables and exception handling.
 *
 * Every vector has an assembly stub that saves the general registers into
 * a struct ex_regs and calls the C dispatcher. The dispatcher runs the
 * handler installed for the vector; with none, an exception inside
 * exception_expect() is caught, and anything else is dumped on the serial
 * console and ends the guest with GUEST_EXIT_EXCEPTION. */
#ifndef GUEST_DESC_H
#define GUEST_DESC_H

#include <stdbool.h>
#include <stdint.h>

/* CPU exception vectors (SDM vol. 3 §6.15). */
enum {
	DE_VECTOR = 0, DB_VECTOR = 1, NMI_VECTOR = 2, BP_VECTOR = 3, OF_VECTOR = 4,
	BR_VECTOR = 5, UD_VECTOR = 6, NM_VECTOR = 7, DF_VECTOR = 8, TS_VECTOR = 10,
	NP_VECTOR = 11, SS_VECTOR = 12, GP_VECTOR = 13, PF_VECTOR = 14,
	MF_VECTOR = 16, AC_VECTOR = 17, MC_VECTOR = 18, XM_VECTOR = 19,
	VE_VECTOR = 20, CP_VECTOR = 21,
};

/* Register state at the exception, in the order the stubs push it. */
struct ex_regs {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector;
	uint64_t error_code;  /* 0 for vectors without one */
	/* The frame the CPU pushed (SDM vol. 3 §6.14.2). */
	uint64_t rip, cs, rflags, rsp, ss;
};

typedef void (*ex_handler_fn)(struct ex_regs *regs);

/* 64-bit TSS (SDM vol. 3 §7.7). */
struct tss64 {
	uint32_t reserved0;
	uint64_t rsp0, rsp1, rsp2;
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
} __attribute__((packed));

/* A TSS followed by an I/O permission bitmap that allows every port
 * (SDM vol. 1 §18.5.2: one bit per port, 0 = allowed, and a final byte of
 * all ones). run_in_user() also sets RFLAGS.IOPL = 3, which architecturally
 * suffices, but this project's nested KVM hosts run CPL 3 code with IOPL 0
 * and honour only the bitmap. */
#define IO_BITMAP_BYTES (65536 / 8)

struct tss_io {
	struct tss64 tss;
	uint8_t io_bitmap[IO_BITMAP_BYTES];
	uint8_t io_bitmap_end;
} __attribute__((packed));

/* Fill the exception gates and the user-return gate, once, on the BSP. */
void idt_init(void);
/* Load this CPU's TSS (selector from its index) and the IDT; the GDT is
 * already loaded by the boot stub or the AP trampoline. */
void desc_load_cpu(unsigned cpu_index, struct tss_io *tss);

/* Install `fn` for `vector` (0-255) on all CPUs (the IDT is shared);
 * NULL removes it. Vectors >= 32 get a present interrupt gate; handlers of
 * device or IPI vectors must call apic_eoi() themselves. */
void idt_set_handler(unsigned vector, ex_handler_fn fn);
/* Make `vector` reachable by `int n` from CPL 3 (gate DPL 3) or not. */
void idt_set_user_callable(unsigned vector, bool user);

/* Run fn(arg) at CPL 0 and report whether it raised `vector`. On the
 * exception, execution resumes here (fn's frame is abandoned) and the
 * state at the fault is copied to *regs if regs is not NULL. Vectors with
 * an installed handler are not caught. */
bool exception_expect(unsigned vector, void (*fn)(void *), void *arg, struct ex_regs *regs);
/* The same for fn run at CPL 3 through run_in_user(). */
bool exception_expect_user(unsigned vector, void (*fn)(void *), void *arg,
			   struct ex_regs *regs);

const char *exception_name(unsigned vector);

/* Dump the state on the serial console and end the guest with
 * GUEST_EXIT_EXCEPTION: what happens to an exception nobody handles. For
 * installed handlers that meet an exception they do not own. */
void exception_unhandled(const struct ex_regs *regs) __attribute__((noreturn));

/* Load an empty IDT (limit 0): the next exception or interrupt cannot be
 * delivered and ends in a triple fault. For tests of the VMM. */
void idt_load_empty(void);

#endif
