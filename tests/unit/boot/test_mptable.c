/* MP tables as a guest parses them (Intel MP spec 1.4, chapter 4): find the
 * floating pointer, verify both checksums, walk the entries. */
#include <errno.h>
#include <stdlib.h>

#include "boot_test.h"
#include "layout.h"

struct parsed {
	unsigned processors, buses, ioapics, io_ints, local_ints;
	uint8_t ioapic_id;
	int bsp_count;
	/* source ISA IRQ -> I/O APIC pin, -1 if absent; and the flags */
	int pin_of_irq[24];
	uint16_t flags_of_irq[24];
	uint8_t lint_type[2];
};

static uint8_t sum(const uint8_t *p, size_t len)
{
	uint8_t s = 0;

	for (size_t i = 0; i < len; i++)
		s = (uint8_t)(s + p[i]);
	return s;
}

static void parse(const struct guest_memory *mem, unsigned nr_cpus, uint64_t config_addr,
		  struct parsed *out)
{
	const uint8_t *fp = gpa(mem, LAYOUT_EBDA_START, 16);
	const uint8_t *ct, *e, *end;
	uint32_t physptr;
	uint16_t length, count;
	int last_type = -1;

	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < 24; i++)
		out->pin_of_irq[i] = -1;

	/* Floating pointer: "_MP_", 16 bytes (length 1), rev 1.4, checksum. */
	assert_memory_equal(fp, "_MP_", 4);
	assert_int_equal(fp[8], 1);
	assert_int_equal(fp[9], 4);
	assert_int_equal(sum(fp, 16), 0);
	assert_int_equal(fp[11], 0);   /* feature 1: a configuration table follows */
	physptr = test_get32(fp + 4);
	assert_int_equal(physptr, config_addr);

	ct = gpa(mem, physptr, 44);
	assert_memory_equal(ct, "PCMP", 4);
	length = test_get16(ct + 4);
	count = test_get16(ct + 34);
	assert_int_equal(ct[6], 4);
	/* Inside the e820-reserved 0x9fc00-0xfffff. */
	assert_true(physptr >= LAYOUT_EBDA_START);
	assert_true(physptr + length <= (physptr < LAYOUT_LEGACY_HOLE_START ?
					 LAYOUT_LEGACY_HOLE_START : LAYOUT_HIGH_MEMORY_START));
	assert_int_equal(sum(gpa(mem, physptr, length), length), 0);
	assert_int_equal(test_get32(ct + 36), 0xfee00000);   /* local APIC address */
	assert_int_equal(test_get16(ct + 40), 0);            /* no extended table */

	e = ct + 44;
	end = ct + length;
	for (unsigned i = 0; i < count; i++) {
		assert_true(e < end);
		assert_true(e[0] >= last_type);   /* sorted by type */
		last_type = e[0];
		switch (e[0]) {
		case 0: /* processor */
			assert_true(e + 20 <= end);
			assert_int_equal(e[1], out->processors);   /* APIC IDs 0..n-1 */
			assert_int_equal(e[2], 0x14);
			assert_true(e[3] & 1);                     /* enabled */
			if (e[3] & 2) {
				out->bsp_count++;
				assert_int_equal(e[1], 0);
			}
			out->processors++;
			e += 20;
			break;
		case 1: /* bus */
			assert_int_equal(e[1], 0);
			assert_memory_equal(e + 2, "ISA   ", 6);
			out->buses++;
			e += 8;
			break;
		case 2: /* I/O APIC */
			out->ioapic_id = e[1];
			assert_int_equal(e[2], 0x11);
			assert_int_equal(e[3] & 1, 1);
			assert_int_equal(test_get32(e + 4), LAYOUT_IOAPIC_BASE);
			out->ioapics++;
			e += 8;
			break;
		case 3: /* I/O interrupt */
			assert_int_equal(e[1], 0);                 /* INT */
			assert_int_equal(e[4], 0);                 /* ISA bus */
			assert_int_equal(e[6], nr_cpus);           /* to our I/O APIC */
			assert_true(e[5] < 24);
			assert_int_equal(out->pin_of_irq[e[5]], -1);
			out->pin_of_irq[e[5]] = e[7];
			out->flags_of_irq[e[5]] = test_get16(e + 2);
			out->io_ints++;
			e += 8;
			break;
		case 4: /* local interrupt */
			assert_int_equal(e[6], 0xff);              /* all local APICs */
			assert_true(e[7] < 2);
			out->lint_type[e[7]] = e[1];
			out->local_ints++;
			e += 8;
			break;
		default:
			fail_msg("unknown MP entry type %u", e[0]);
		}
	}
	assert_ptr_equal(e, end);
}

/* The configuration table follows the floating pointer in the EBDA KiB up
 * to 37 CPUs, and moves to the BIOS area at 0xf0000 beyond. */
static void check_tables(unsigned nr_cpus, uint64_t config_addr)
{
	struct guest_memory mem;
	struct parsed p;

	ram_create(&mem, TEST_RAM);
	assert_int_equal(mptable_write(&mem, nr_cpus), 0);
	parse(&mem, nr_cpus, config_addr, &p);
	assert_int_equal(p.processors, nr_cpus);
	assert_int_equal(p.bsp_count, 1);
	assert_int_equal(p.buses, 1);
	assert_int_equal(p.ioapics, 1);
	assert_int_equal(p.ioapic_id, nr_cpus);
	/* ISA IRQ 0 on pin 2; IRQ 2 (cascade) absent; 1, 3..15 identity. */
	assert_int_equal(p.pin_of_irq[0], 2);
	assert_int_equal(p.pin_of_irq[2], -1);
	for (int irq = 1; irq < 16; irq++) {
		if (irq == 2)
			continue;
		assert_int_equal(p.pin_of_irq[irq], irq);
		assert_int_equal(p.flags_of_irq[irq], 0);   /* bus conforming: edge/high */
	}
	for (int irq = 16; irq < 24; irq++) {
		assert_int_equal(p.pin_of_irq[irq], irq);
		assert_int_equal(p.flags_of_irq[irq], 0x1 | 0xc);   /* active high, level */
	}
	assert_int_equal(p.io_ints, 23);
	assert_int_equal(p.local_ints, 2);
	assert_int_equal(p.lint_type[0], 3);   /* ExtINT on LINT0 */
	assert_int_equal(p.lint_type[1], 1);   /* NMI on LINT1 */
	/* Nothing written outside the floating pointer and the table. */
	assert_true(ram_is_zero(&mem, 0, LAYOUT_EBDA_START));
	if (config_addr == LAYOUT_EBDA_START + 16) {
		assert_true(ram_is_zero(&mem, LAYOUT_LEGACY_HOLE_START, 0x60000));
	} else {
		assert_true(ram_is_zero(&mem, LAYOUT_EBDA_START + 16, 1024 - 16));
		assert_true(ram_is_zero(&mem, LAYOUT_LEGACY_HOLE_START, config_addr - LAYOUT_LEGACY_HOLE_START));
		assert_true(ram_is_zero(&mem, config_addr + 44 + 20 * nr_cpus + 8 + 8 + 25 * 8,
					LAYOUT_HIGH_MEMORY_START - (config_addr + 44 + 20 * nr_cpus + 216)));
	}
	guest_memory_destroy(&mem);
}

static void test_one_cpu(void **state)
{
	(void)state;
	check_tables(1, LAYOUT_EBDA_START + 16);
}

static void test_four_cpus(void **state)
{
	(void)state;
	check_tables(4, LAYOUT_EBDA_START + 16);
}

static void test_most_cpus_in_the_ebda(void **state)
{
	(void)state;
	check_tables(37, LAYOUT_EBDA_START + 16);
}

static void test_more_cpus_move_the_table_to_the_bios_area(void **state)
{
	(void)state;
	check_tables(38, 0xf0000);
	check_tables(BOOT_MPTABLE_MAX_CPUS, 0xf0000);
}

static void test_refuses_cpu_counts_that_do_not_fit(void **state)
{
	struct guest_memory mem;

	(void)state;
	ram_create(&mem, TEST_RAM);
	assert_int_equal(mptable_write(&mem, 0), -EINVAL);
	assert_int_equal(mptable_write(&mem, BOOT_MPTABLE_MAX_CPUS + 1), -E2BIG);
	assert_int_equal(mptable_write(&mem, 255), -E2BIG);
	assert_int_equal(mptable_write(&mem, 100000), -E2BIG);
	assert_true(ram_is_zero(&mem, 0, 1 << 20));
	guest_memory_destroy(&mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_cpu),
		cmocka_unit_test(test_four_cpus),
		cmocka_unit_test(test_most_cpus_in_the_ebda),
		cmocka_unit_test(test_more_cpus_move_the_table_to_the_bios_area),
		cmocka_unit_test(test_refuses_cpu_counts_that_do_not_fit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
