/* The boot vCPU's entry state for every protocol, checked field by field
 * against the boot protocol and against the VM-entry rules KVM applies
 * (SDM vol. 3 §26.3.1: byte-granular limits with G=1, a usable busy TSS). */
#include <stdlib.h>

#include "boot/cpu_state.h"
#include "boot_test.h"
#include "layout.h"

static struct kvm_sregs reset_sregs(void)
{
	struct kvm_sregs s;

	/* What KVM_GET_SREGS returns after reset, plus markers the
	 * conversion must leave alone. */
	memset(&s, 0x5a, sizeof(s));
	s.apic_base = 0xfee00900;
	for (unsigned i = 0; i < sizeof(s.interrupt_bitmap) / sizeof(s.interrupt_bitmap[0]); i++)
		s.interrupt_bitmap[i] = 0x1234 + i;
	s.cr0 = 0x60000010;
	return s;
}

static void check_flat(const struct kvm_segment *s, uint16_t selector, uint8_t type)
{
	assert_int_equal(s->base, 0);
	assert_int_equal(s->limit, 0xffffffff);   /* byte granular: G=1 scaled */
	assert_int_equal(s->selector, selector);
	assert_int_equal(s->type, type);
	assert_int_equal(s->present, 1);
	assert_int_equal(s->dpl, 0);
	assert_int_equal(s->s, 1);
	assert_int_equal(s->g, 1);
	assert_int_equal(s->unusable, 0);
}

static void check_common(const struct kvm_regs *regs, const struct kvm_sregs *sregs,
			 uint8_t tss_type)
{
	const struct kvm_segment *data[] = { &sregs->ds, &sregs->es, &sregs->fs, &sregs->gs, &sregs->ss };

	assert_int_equal(regs->rflags, 0x2);   /* IF clear, reserved bit 1 set */
	for (size_t i = 0; i < 5; i++) {
		check_flat(data[i], 0x18, 0x3);
		assert_int_equal(data[i]->db, 1);
		assert_int_equal(data[i]->l, 0);
	}
	assert_int_equal(sregs->tr.type, tss_type);
	assert_int_equal(sregs->tr.present, 1);
	assert_int_equal(sregs->tr.s, 0);
	assert_int_equal(sregs->tr.unusable, 0);
	assert_int_equal(sregs->tr.limit, 0x67);
	assert_int_equal(sregs->tr.base, 0);
	assert_int_equal(sregs->tr.selector & 4, 0);   /* TI clear */
	assert_int_equal(sregs->ldt.unusable, 1);
	assert_int_equal(sregs->gdt.base, LAYOUT_BOOT_GDT);
	assert_int_equal(sregs->gdt.limit, 4 * 8 - 1);
	assert_int_equal(sregs->idt.base, 0);
	assert_int_equal(sregs->idt.limit, 0);
	assert_int_equal(sregs->cr2, 0);
	assert_int_equal(sregs->cr8, 0);
	assert_int_equal(sregs->apic_base, 0xfee00900);
	for (unsigned i = 0; i < sizeof(sregs->interrupt_bitmap) / sizeof(sregs->interrupt_bitmap[0]); i++)
		assert_int_equal(sregs->interrupt_bitmap[i], 0x1234 + i);
}

static void test_long_mode_entry(void **state)
{
	struct boot_entry entry = { .protocol = BOOT_PROTOCOL_LINUX64, .mode = BOOT_CPU_LONG64,
				    .rip = 0x100200, .rsi = LAYOUT_ZERO_PAGE };
	struct kvm_regs regs;
	struct kvm_sregs sregs = reset_sregs();

	(void)state;
	memset(&regs, 0x77, sizeof(regs));
	boot_entry_to_cpu_state(&entry, &regs, &sregs);
	assert_int_equal(regs.rip, 0x100200);
	assert_int_equal(regs.rsi, LAYOUT_ZERO_PAGE);
	assert_int_equal(regs.rbx, 0);
	assert_int_equal(regs.rax, 0);
	assert_int_equal(regs.rdi, 0);
	assert_int_equal(regs.rbp, 0);
	check_common(&regs, &sregs, 11);

	check_flat(&sregs.cs, 0x10, 0xb);
	assert_int_equal(sregs.cs.l, 1);
	assert_int_equal(sregs.cs.db, 0);   /* L=1 requires D=0 */

	assert_int_equal(sregs.cr0 & 0x80000011, 0x80000011);   /* PG, ET, PE */
	assert_int_equal(sregs.cr0 & 0x60000000, 0);            /* caches on */
	assert_int_equal(sregs.cr3, LAYOUT_PAGE_TABLES);
	assert_int_equal(sregs.cr4, 0x20);                      /* PAE */
	assert_int_equal(sregs.efer, 0x500);                    /* LME | LMA */
}

static void test_pvh_entry(void **state)
{
	struct boot_entry entry = { .protocol = BOOT_PROTOCOL_PVH, .mode = BOOT_CPU_PROTECTED32,
				    .rip = 0x100000, .rbx = LAYOUT_PVH_START_INFO };
	struct kvm_regs regs;
	struct kvm_sregs sregs = reset_sregs();

	(void)state;
	boot_entry_to_cpu_state(&entry, &regs, &sregs);
	assert_int_equal(regs.rip, 0x100000);
	assert_int_equal(regs.rbx, LAYOUT_PVH_START_INFO);
	assert_int_equal(regs.rsi, 0);
	check_common(&regs, &sregs, 11);

	check_flat(&sregs.cs, 0x10, 0xb);
	assert_int_equal(sregs.cs.l, 0);
	assert_int_equal(sregs.cs.db, 1);   /* 32-bit code */
	assert_int_equal(sregs.cr0, 0x11);  /* PE | ET only */
	assert_int_equal(sregs.cr3, 0);
	assert_int_equal(sregs.cr4, 0);
	assert_int_equal(sregs.efer, 0);
}

/* Multiboot spec 0.6.96 §3.2: the PVH state plus EAX = 0x2BADB002 and
 * EBX = the information structure. */
static void test_multiboot_entry(void **state)
{
	struct boot_entry entry = { .protocol = BOOT_PROTOCOL_MULTIBOOT,
				    .mode = BOOT_CPU_PROTECTED32, .rip = 0x100040,
				    .rax = 0x2BADB002, .rbx = LAYOUT_MULTIBOOT_INFO };
	struct kvm_regs regs;
	struct kvm_sregs sregs = reset_sregs();

	(void)state;
	memset(&regs, 0x77, sizeof(regs));
	boot_entry_to_cpu_state(&entry, &regs, &sregs);
	assert_int_equal(regs.rip, 0x100040);
	assert_int_equal(regs.rax, 0x2BADB002);
	assert_int_equal(regs.rbx, LAYOUT_MULTIBOOT_INFO);
	assert_int_equal(regs.rsi, 0);
	assert_int_equal(regs.rcx, 0);
	check_common(&regs, &sregs, 11);
	check_flat(&sregs.cs, 0x10, 0xb);
	assert_int_equal(sregs.cs.db, 1);
	assert_int_equal(sregs.cr0, 0x11);  /* PE | ET: paging off */
	assert_int_equal(sregs.cr4, 0);
	assert_int_equal(sregs.efer, 0);
}

/* The hidden segment state must be what the GDT in guest memory says, so
 * a guest reloading __BOOT_CS/__BOOT_DS sees no change. */
static void check_gdt_matches(const struct guest_memory *mem, const struct kvm_segment *seg)
{
	uint64_t d = ((const uint64_t *)gpa(mem, LAYOUT_BOOT_GDT, 32))[seg->selector >> 3];
	uint32_t limit = (uint32_t)((d & 0xffff) | ((d >> 32) & 0xf0000));
	uint8_t access = (uint8_t)(d >> 40);

	assert_int_equal((d >> 16 & 0xffffff) | (d >> 56) << 24, seg->base);
	assert_int_equal(access & 0xf, seg->type);
	assert_int_equal(access >> 4 & 1, seg->s);
	assert_int_equal(access >> 7, seg->present);
	assert_int_equal(d >> 53 & 1, seg->l);
	assert_int_equal(d >> 54 & 1, seg->db);
	assert_int_equal(d >> 55 & 1, seg->g);
	assert_int_equal(seg->g ? (limit << 12 | 0xfff) : limit, seg->limit);
}

static void test_segments_match_gdt_in_memory(void **state)
{
	struct guest_memory mem;
	struct test_bzimage bz;
	struct test_elf pvh;
	struct boot_entry entry;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	char err[BOOT_ERROR_MAX];
	size_t size;
	uint8_t *img;

	(void)state;
	ram_create(&mem, TEST_RAM);
	test_bzimage_defaults(&bz);
	img = test_bzimage_build(&bz, &size);
	assert_int_equal(load(&mem, img, size, NULL, 0, "", &entry, err), 0);
	free(img);
	sregs = reset_sregs();
	boot_entry_to_cpu_state(&entry, &regs, &sregs);
	check_gdt_matches(&mem, &sregs.cs);
	check_gdt_matches(&mem, &sregs.ds);
	check_gdt_matches(&mem, &sregs.ss);
	guest_memory_destroy(&mem);

	ram_create(&mem, TEST_RAM);
	test_elf_defaults_pvh32(&pvh);
	img = test_elf_build(&pvh, &size);
	assert_int_equal(load(&mem, img, size, NULL, 0, "", &entry, err), 0);
	free(img);
	sregs = reset_sregs();
	boot_entry_to_cpu_state(&entry, &regs, &sregs);
	check_gdt_matches(&mem, &sregs.cs);
	check_gdt_matches(&mem, &sregs.es);
	guest_memory_destroy(&mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_long_mode_entry),
		cmocka_unit_test(test_pvh_entry),
		cmocka_unit_test(test_multiboot_entry),
		cmocka_unit_test(test_segments_match_gdt_in_memory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
