/* Descriptor tables and the C side of exception handling.
 * Layouts from SDM vol. 3: segment descriptors §3.4.5, TSS descriptor
 * §7.2.3, 64-bit IDT gates §6.14.1. */
#include "desc.h"

#include <stddef.h>

#include "io.h"
#include "libguest.h"
#include "smp.h"
#include "user.h"

/* Flat segments: base 0, limit 4 GiB (ignored in 64-bit mode except
 * for the L, D, DPL and type bits). */
#define DESC_KERNEL_CODE64  0x00af9a000000ffffULL  /* P, DPL0, code r/x, L, G */
#define DESC_KERNEL_DATA    0x00cf92000000ffffULL  /* P, DPL0, data r/w, D/B, G */
#define DESC_KERNEL_CODE32  0x00cf9a000000ffffULL  /* P, DPL0, code r/x, D, G */
#define DESC_USER_DATA      0x00cff2000000ffffULL  /* P, DPL3, data r/w, D/B, G */
#define DESC_USER_CODE64    0x00affa000000ffffULL  /* P, DPL3, code r/x, L, G */
#define DESC_TSS_AVAILABLE  0x9ULL                 /* type: available 64-bit TSS */

/* The GDT and IDT are global because the CPU reads them through GDTR and
 * IDTR; the TSS descriptors are filled in per CPU by desc_load_cpu(). */
uint64_t gdt[GDT_ENTRIES] __aligned(16) = {
	[KERNEL_CS >> 3] = DESC_KERNEL_CODE64,
	[KERNEL_DS >> 3] = DESC_KERNEL_DATA,
	[KERNEL_CS32 >> 3] = DESC_KERNEL_CODE32,
	[USER_DS >> 3] = DESC_USER_DATA,
	[USER_CS >> 3] = DESC_USER_CODE64,
};

struct table_descr {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

/* Used by entry.S (32-bit LGDT reads the low 6 bytes) and by the AP
 * trampoline, which has its own 32-bit copy. */
const struct table_descr gdt_descr = {
	.limit = sizeof(gdt) - 1,
	.base = (uintptr_t)gdt,
};

struct idt_gate {
	uint16_t offset_low;
	uint16_t selector;
	uint8_t ist;
	uint8_t type_attr;
	uint16_t offset_mid;
	uint32_t offset_high;
	uint32_t reserved;
} __attribute__((packed));

#define GATE_INTERRUPT_DPL0  0x8e  /* P, DPL 0, 64-bit interrupt gate */
#define GATE_INTERRUPT_DPL3  0xee  /* P, DPL 3: reachable by `int n` at CPL 3 */

static struct idt_gate idt[256] __aligned(16);
static const struct table_descr idt_descr = {
	.limit = sizeof(idt) - 1,
	.base = (uintptr_t)idt,
};

/* Handlers per vector; shared by all CPUs like the IDT itself. */
static ex_handler_fn ex_handlers[256];

/* entry.S: one 16-byte stub per vector, and the user-return entry. */
extern const char isr_stubs[];
extern const char user_return_entry[];
#define ISR_STUB_SIZE 16

void ex_longjmp(struct ex_jmp_buf *buf, int val) __noreturn;
int ex_setjmp(struct ex_jmp_buf *buf) __attribute__((returns_twice));

static void idt_set_gate(unsigned vector, const void *entry, uint8_t type_attr)
{
	uintptr_t addr = (uintptr_t)entry;
	struct idt_gate *g = &idt[vector];

	g->offset_low = (uint16_t)addr;
	g->selector = KERNEL_CS;
	g->ist = 0;
	g->offset_mid = (uint16_t)(addr >> 16);
	g->offset_high = (uint32_t)(addr >> 32);
	g->reserved = 0;
	/* Write the present bit last: another CPU may take this vector. */
	__atomic_store_n(&g->type_attr, type_attr, __ATOMIC_RELEASE);
}

void idt_init(void)
{
	/* Only the 32 exception vectors are present from the start: an
	 * unexpected interrupt on any other vector then raises #NP with the
	 * vector in the error code, which the dump shows. */
	for (unsigned v = 0; v < 32; v++) {
		if (v == USER_RETURN_VECTOR)
			idt_set_gate(v, user_return_entry, GATE_INTERRUPT_DPL3);
		else
			idt_set_gate(v, isr_stubs + v * ISR_STUB_SIZE, GATE_INTERRUPT_DPL0);
	}
}

void desc_load_cpu(unsigned cpu_index, struct tss_io *tss)
{
	uintptr_t base = (uintptr_t)tss;
	uint64_t limit = sizeof(*tss) - 1;
	unsigned slot = (TSS_SEL_FIRST >> 3) + 2 * cpu_index;
	uint16_t sel = (uint16_t)(TSS_SEL_FIRST + 16 * cpu_index);

	/* The bitmap is all zeroes (.bss): every port allowed at CPL 3. */
	tss->tss.iomap_base = offsetof(struct tss_io, io_bitmap);
	tss->io_bitmap_end = 0xff;
	gdt[slot] = (limit & 0xffff) | ((uint64_t)(base & 0xffffff) << 16) |
		    (DESC_TSS_AVAILABLE << 40) | (1ULL << 47) |
		    ((limit >> 16 & 0xf) << 48) | ((uint64_t)(base >> 24 & 0xff) << 56);
	gdt[slot + 1] = base >> 32;
	__asm__ volatile("ltr %0" : : "r"(sel) : "memory");
	__asm__ volatile("lidt %0" : : "m"(idt_descr) : "memory");
}

void idt_set_handler(unsigned vector, ex_handler_fn fn)
{
	if (vector >= ARRAY_SIZE(ex_handlers))
		guest_abort("idt_set_handler: vector %u out of range", vector);
	if (vector == USER_RETURN_VECTOR)
		guest_abort("idt_set_handler: vector %u belongs to run_in_user", vector);
	__atomic_store_n(&ex_handlers[vector], fn, __ATOMIC_RELEASE);
	if (vector >= 32 && fn && !(idt[vector].type_attr & 0x80))
		idt_set_gate(vector, isr_stubs + vector * ISR_STUB_SIZE, GATE_INTERRUPT_DPL0);
}

void idt_set_user_callable(unsigned vector, bool user)
{
	if (vector >= ARRAY_SIZE(idt) || vector == USER_RETURN_VECTOR)
		guest_abort("idt_set_user_callable: vector %u not allowed", vector);
	idt_set_gate(vector, isr_stubs + vector * ISR_STUB_SIZE,
		     user ? GATE_INTERRUPT_DPL3 : GATE_INTERRUPT_DPL0);
}

void idt_load_empty(void)
{
	static const struct table_descr empty = { .limit = 0, .base = 0 };

	__asm__ volatile("lidt %0" : : "m"(empty) : "memory");
}

const char *exception_name(unsigned vector)
{
	static const char *const names[32] = {
		[DE_VECTOR] = "#DE", [DB_VECTOR] = "#DB", [NMI_VECTOR] = "NMI",
		[BP_VECTOR] = "#BP", [OF_VECTOR] = "#OF", [BR_VECTOR] = "#BR",
		[UD_VECTOR] = "#UD", [NM_VECTOR] = "#NM", [DF_VECTOR] = "#DF",
		[TS_VECTOR] = "#TS", [NP_VECTOR] = "#NP", [SS_VECTOR] = "#SS",
		[GP_VECTOR] = "#GP", [PF_VECTOR] = "#PF", [MF_VECTOR] = "#MF",
		[AC_VECTOR] = "#AC", [MC_VECTOR] = "#MC", [XM_VECTOR] = "#XM",
		[VE_VECTOR] = "#VE", [CP_VECTOR] = "#CP",
	};

	if (vector < 32 && names[vector])
		return names[vector];
	return vector < 32 ? "reserved" : "interrupt";
}

static void exception_dump(const struct ex_regs *r)
{
	printf("EXCEPTION: %s (vector %lu) error code 0x%lx on CPU %u at CPL %lu\n",
	       exception_name((unsigned)r->vector), r->vector, r->error_code, smp_id(),
	       r->cs & 3);
	printf("  rip %016lx  cs %04lx  rflags %016lx\n", r->rip, r->cs, r->rflags);
	printf("  rsp %016lx  ss %04lx", r->rsp, r->ss);
	if (r->vector == PF_VECTOR)
		printf("  cr2 %016lx", read_cr2());
	printf("\n");
	printf("  rax %016lx  rbx %016lx  rcx %016lx\n", r->rax, r->rbx, r->rcx);
	printf("  rdx %016lx  rsi %016lx  rdi %016lx\n", r->rdx, r->rsi, r->rdi);
	printf("  rbp %016lx  r8  %016lx  r9  %016lx\n", r->rbp, r->r8, r->r9);
	printf("  r10 %016lx  r11 %016lx  r12 %016lx\n", r->r10, r->r11, r->r12);
	printf("  r13 %016lx  r14 %016lx  r15 %016lx\n", r->r13, r->r14, r->r15);
	if (r->vector == NP_VECTOR && (r->error_code & 2))
		printf("  (IDT vector %lu has no handler)\n", r->error_code >> 3);
}

void exception_unhandled(const struct ex_regs *regs)
{
	exception_dump(regs);
	exit(GUEST_EXIT_EXCEPTION);
}

/* Called by the assembly stubs with the saved state. */
void exception_dispatch(struct ex_regs *regs);
void exception_dispatch(struct ex_regs *regs)
{
	ex_handler_fn fn = __atomic_load_n(&ex_handlers[regs->vector], __ATOMIC_ACQUIRE);
	struct percpu *cpu;

	if (fn) {
		fn(regs);
		return;
	}
	cpu = this_cpu();
	if (cpu->catch_active && regs->vector == cpu->catch_vector) {
		cpu->catch_regs = *regs;
		cpu->catch_active = false;
		ex_longjmp(&cpu->catch_jmp, 1);
	}
	exception_unhandled(regs);
}

bool exception_expect(unsigned vector, void (*fn)(void *), void *arg, struct ex_regs *regs)
{
	/* No local lives across ex_setjmp(): after the longjmp only the
	 * callee-saved registers are restored, so re-derive the CPU. */
	if (ex_setjmp(&this_cpu()->catch_jmp)) {
		if (regs)
			*regs = this_cpu()->catch_regs;
		return true;
	}
	this_cpu()->catch_vector = vector;
	WRITE_ONCE(this_cpu()->catch_active, true);
	barrier();
	fn(arg);
	barrier();
	WRITE_ONCE(this_cpu()->catch_active, false);
	return false;
}

struct user_call {
	void (*fn)(void *);
	void *arg;
};

static long user_call_shim(void *p)
{
	struct user_call *c = p;

	c->fn(c->arg);
	return 0;
}

static void user_call_enter(void *p)
{
	run_in_user(user_call_shim, p);
}

bool exception_expect_user(unsigned vector, void (*fn)(void *), void *arg,
			   struct ex_regs *regs)
{
	struct user_call call = { .fn = fn, .arg = arg };

	return exception_expect(vector, user_call_enter, &call, regs);
}
