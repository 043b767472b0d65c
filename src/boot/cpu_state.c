/* Entry state of the boot vCPU for each protocol.
 *
 * LONG64 (boot.rst, "64-bit Boot Protocol"): 64-bit mode with paging on
 * and the identity map loaded, a GDT with __BOOT_CS/__BOOT_DS, CS =
 * __BOOT_CS, DS = ES = SS = __BOOT_DS, interrupts off, %rsi = zero page.
 *
 * PROTECTED32 (Xen docs/misc/pvh.pandoc): CR0.PE set and every other
 * writable CR0 bit clear except ET (hardwired on modern CPUs), CR4 = 0,
 * paging off, flat 32-bit code and data segments, TR a 32-bit TSS with
 * base 0 and limit 0x67, EFLAGS.IF/TF/VM clear, %ebx = hvm_start_info.
 * Multiboot (spec 0.6.96 §3.2, "Machine state") asks for the same, with
 * %eax = 0x2BADB002 and %ebx = multiboot_info; its GDTR "may be invalid",
 * so the boot GDT does no harm.
 *
 * The hidden segment state is derived from the same descriptors that
 * boot_gdt_write() puts in guest memory, so a guest that reloads a
 * selector gets exactly what it already had. */
#include "boot/cpu_state.h"

#include <string.h>

#include "boot/gdt.h"
#include "boot/page_tables.h"
#include "layout.h"

#define CR0_PE   (1ULL << 0)
#define CR0_ET   (1ULL << 4)
#define CR0_NE   (1ULL << 5)
#define CR0_PG   (1ULL << 31)
#define CR4_PAE  (1ULL << 5)
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)

#define RFLAGS_RESERVED1 0x2ULL   /* bit 1 always reads as 1 */

/* System segment types (SDM vol. 3 §3.5, table 3-2). */
#define SEG_TYPE_LDT       0x2
#define SEG_TYPE_TSS_BUSY  0xb    /* busy 32-bit TSS, or busy 64-bit TSS in IA-32e mode */
#define TSS_LIMIT          0x67   /* the minimal 104-byte TSS */

/* Decode a code/data descriptor (SDM vol. 3 §3.4.5) into KVM's segment
 * form. KVM takes the limit in bytes, as VMX keeps it: with G=1 the
 * 20-bit limit is scaled to (limit << 12) | 0xfff, so a flat segment has
 * limit 0xffffffff, not 0xfffff. */
static struct kvm_segment segment_from_descriptor(uint64_t desc, uint16_t selector)
{
	uint32_t limit = (uint32_t)((desc & 0xffff) | ((desc >> 32) & 0xf0000));
	uint8_t access = (uint8_t)(desc >> 40);
	uint8_t flags = (uint8_t)((desc >> 52) & 0xf);
	struct kvm_segment seg = {
		.base = (desc >> 16 & 0xffffff) | ((desc >> 56) << 24),
		.selector = selector,
		.type = access & 0xf,
		.s = (access >> 4) & 1,
		.dpl = (access >> 5) & 3,
		.present = (access >> 7) & 1,
		.avl = flags & 1,
		.l = (flags >> 1) & 1,
		.db = (flags >> 2) & 1,
		.g = (flags >> 3) & 1,
	};

	seg.limit = seg.g ? (limit << 12) | 0xfff : limit;
	return seg;
}

/* VM entry needs a usable TR of type busy TSS (SDM vol. 3 §26.3.1.2) even
 * though neither protocol defines one; the guest loads its own before it
 * needs a stack switch. Base 0 and limit 0x67 is what PVH specifies. */
static struct kvm_segment task_register(void)
{
	return (struct kvm_segment){
		.base = 0, .limit = TSS_LIMIT, .selector = 0,
		.type = SEG_TYPE_TSS_BUSY, .present = 1, .s = 0,
	};
}

static struct kvm_segment ldt_unusable(void)
{
	return (struct kvm_segment){ .type = SEG_TYPE_LDT, .unusable = 1 };
}

void boot_entry_to_cpu_state(const struct boot_entry *entry,
			     struct kvm_regs *regs, struct kvm_sregs *sregs)
{
	enum boot_cpu_mode mode = entry->mode;
	struct kvm_segment code = segment_from_descriptor(
		boot_gdt_entry(mode, BOOT_GDT_CS / 8), BOOT_GDT_CS);
	struct kvm_segment data = segment_from_descriptor(
		boot_gdt_entry(mode, BOOT_GDT_DS / 8), BOOT_GDT_DS);

	memset(regs, 0, sizeof(*regs));
	regs->rip = entry->rip;
	regs->rax = entry->rax;
	regs->rsi = entry->rsi;
	regs->rbx = entry->rbx;
	regs->rflags = RFLAGS_RESERVED1;   /* IF = 0: "interrupts must be disabled" */

	sregs->cs = code;
	sregs->ds = sregs->es = sregs->fs = sregs->gs = sregs->ss = data;
	sregs->tr = task_register();
	sregs->ldt = ldt_unusable();
	sregs->gdt = (struct kvm_dtable){ .base = LAYOUT_BOOT_GDT, .limit = BOOT_GDT_LIMIT };
	sregs->idt = (struct kvm_dtable){ .base = 0, .limit = 0 };
	sregs->cr2 = 0;
	sregs->cr8 = 0;

	if (mode == BOOT_CPU_LONG64) {
		/* PE|PG for long mode (SDM §9.8.5), ET as hardware has it, and
		 * NE for native x87 error reporting, which Linux sets anyway.
		 * CD/NW from the reset value are cleared: caches on. */
		sregs->cr0 = CR0_PE | CR0_ET | CR0_NE | CR0_PG;
		sregs->cr3 = BOOT_PML4;
		sregs->cr4 = CR4_PAE;
		sregs->efer = EFER_LME | EFER_LMA;
	} else {
		sregs->cr0 = CR0_PE | CR0_ET;
		sregs->cr3 = 0;
		sregs->cr4 = 0;
		sregs->efer = 0;
	}
	/* apic_base and interrupt_bitmap stay as KVM reset them. */
}
