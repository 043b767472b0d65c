/* MP tables (Intel MultiProcessor Specification 1.4) for the guest's CPUs
 * (APIC IDs 0..n-1, CPU 0 the BSP) and the I/O APIC's interrupt routing:
 *
 *   ISA IRQ 0          -> I/O APIC pin 2 (as on PCs: pin 0 is the 8259's)
 *   ISA IRQ 1, 3..15   -> pin = IRQ, bus-conforming (edge, active high)
 *   ISA IRQ 2          -> none: the 8259 cascade, never a device interrupt
 *   pins 16..23        -> source IRQ = pin, level-triggered, active high,
 *                         for platform devices beyond the ISA range
 *   LINT0 ExtINT, LINT1 NMI on every local APIC (virtual wire mode)
 *
 * The floating pointer sits in the last KiB of base memory (LAYOUT_EBDA_START),
 * where a BIOS puts its EBDA and where guests look ("639K-640K", §4). The
 * configuration table follows it there when it fits, which it does for up
 * to MP_EBDA_MAX_CPUS processors; a larger one goes to MP_CONFIG_HIGH in the
 * BIOS area, which e820 also reserves (guests follow physptr, §4.1). */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "boot/boot.h"
#include "boot/mptable.h"
#include "layout.h"

#define MP_EBDA_SIZE      (LAYOUT_LEGACY_HOLE_START - LAYOUT_EBDA_START)
#define MP_CONFIG_LOW     (LAYOUT_EBDA_START + sizeof(struct mp_floating_pointer))
/* The start of the F segment (0xf0000-0xfffff), where BIOSes keep their
 * tables; inside the e820-reserved 0x9fc00-0xfffff. */
#define MP_CONFIG_HIGH    0xf0000ULL
#define MP_LAPIC_VERSION  0x14   /* integrated xAPIC */
#define MP_IOAPIC_VERSION 0x11   /* 82093AA-compatible, 24 pins */
#define MP_IOAPIC_PINS    24
#define MP_ISA_IRQS       16
#define MP_ISA_BUS_ID     0
/* Family 6, model 0, stepping 0; FPU (bit 0) and on-chip APIC (bit 9). */
#define MP_CPU_SIGNATURE  0x600
#define MP_CPU_FEATURES   ((1u << 0) | (1u << 9))

/* ISA IRQs 0, 1, 3..15 plus pins 16..23. */
#define MP_IO_INTERRUPTS  ((MP_ISA_IRQS - 1) + (MP_IOAPIC_PINS - MP_ISA_IRQS))
#define MP_LOCAL_INTERRUPTS 2

/* Configuration table size without the processor entries. */
#define MP_CONFIG_FIXED (sizeof(struct mp_config_header) + sizeof(struct mp_bus) + \
			 sizeof(struct mp_ioapic) + \
			 (MP_IO_INTERRUPTS + MP_LOCAL_INTERRUPTS) * sizeof(struct mp_interrupt))
#define MP_CONFIG_SIZE(cpus) (MP_CONFIG_FIXED + (cpus) * sizeof(struct mp_processor))
#define MP_CONFIG_MAX     MP_CONFIG_SIZE(BOOT_MPTABLE_MAX_CPUS)
/* 37: the most processors whose table fits after the floating pointer. */
#define MP_EBDA_MAX_CPUS  ((MP_EBDA_SIZE - sizeof(struct mp_floating_pointer) - MP_CONFIG_FIXED) / \
			   sizeof(struct mp_processor))

_Static_assert(MP_CONFIG_HIGH + MP_CONFIG_MAX <= LAYOUT_HIGH_MEMORY_START,
	       "MP configuration table for BOOT_MPTABLE_MAX_CPUS overruns the BIOS area");
_Static_assert(MP_EBDA_MAX_CPUS == 37, "boot.h and docs/boot.md say 37 CPUs fit in the EBDA");
_Static_assert(MP_CONFIG_MAX <= UINT16_MAX, "MP base table length is 16 bits");
/* The I/O APIC takes ID nr_cpus, and 0xff is the broadcast ID. */
_Static_assert(BOOT_MPTABLE_MAX_CPUS < 0xff, "APIC IDs are 8 bits with 0xff broadcast");

static uint8_t checksum(const uint8_t *bytes, size_t len)
{
	uint8_t sum = 0;

	for (size_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + bytes[i]);
	return (uint8_t)-sum;
}

/* Appends entries to the configuration table being built in `buf`. */
struct mp_builder {
	uint8_t *buf;
	size_t used;
	uint16_t count;
};

static void entry_add(struct mp_builder *b, const void *entry, size_t size)
{
	memcpy(b->buf + b->used, entry, size);
	b->used += size;
	b->count++;
}

static void io_interrupt_add(struct mp_builder *b, uint8_t ioapic_id, uint8_t irq, uint8_t pin,
			     uint16_t flags)
{
	struct mp_interrupt e = {
		.type = MP_IO_INTERRUPT, .interrupt_type = MP_INT, .flags = flags,
		.source_bus_id = MP_ISA_BUS_ID, .source_bus_irq = irq,
		.dest_apic_id = ioapic_id, .dest_pin = pin,
	};

	entry_add(b, &e, sizeof(e));
}

static void local_interrupt_add(struct mp_builder *b, uint8_t type, uint8_t lint)
{
	struct mp_interrupt e = {
		.type = MP_LOCAL_INTERRUPT, .interrupt_type = type, .flags = MP_IRQ_CONFORMING,
		.source_bus_id = MP_ISA_BUS_ID, .source_bus_irq = 0,
		.dest_apic_id = MP_ALL_LAPICS, .dest_pin = lint,
	};

	entry_add(b, &e, sizeof(e));
}

int mptable_write(struct guest_memory *mem, unsigned nr_cpus)
{
	uint8_t table[MP_CONFIG_MAX];
	struct mp_floating_pointer fp = {
		.signature = "_MP_", .length = 1, .spec_rev = MP_SPEC_REV_1_4,
	};
	struct mp_config_header hdr = {
		.signature = "PCMP", .spec_rev = MP_SPEC_REV_1_4,
		.oem_id = "KVMRUN  ", .product_id = "MICROVM     ",
		.lapic_address = (uint32_t)LAYOUT_LAPIC_BASE,
	};
	struct mp_builder b;
	uint8_t ioapic_id = (uint8_t)nr_cpus;
	uint64_t config_addr;

	if (nr_cpus == 0)
		return -EINVAL;
	if (nr_cpus > BOOT_MPTABLE_MAX_CPUS)
		return -E2BIG;

	memset(table, 0, sizeof(table));
	b = (struct mp_builder){ .buf = table, .used = sizeof(hdr) };
	/* §4.3: entries sorted by type. */
	for (unsigned cpu = 0; cpu < nr_cpus; cpu++) {
		struct mp_processor p = {
			.type = MP_PROCESSOR, .lapic_id = (uint8_t)cpu,
			.lapic_version = MP_LAPIC_VERSION,
			.cpu_flags = MP_CPU_ENABLED | (cpu == 0 ? MP_CPU_BSP : 0),
			.cpu_signature = MP_CPU_SIGNATURE, .feature_flags = MP_CPU_FEATURES,
		};

		entry_add(&b, &p, sizeof(p));
	}
	{
		struct mp_bus bus = { .type = MP_BUS, .bus_id = MP_ISA_BUS_ID, .bus_type = "ISA   " };
		struct mp_ioapic ioapic = {
			.type = MP_IOAPIC, .ioapic_id = ioapic_id,
			.ioapic_version = MP_IOAPIC_VERSION, .flags = MP_IOAPIC_ENABLED,
			.address = (uint32_t)LAYOUT_IOAPIC_BASE,
		};

		entry_add(&b, &bus, sizeof(bus));
		entry_add(&b, &ioapic, sizeof(ioapic));
	}
	for (uint8_t irq = 0; irq < MP_ISA_IRQS; irq++) {
		if (irq == 2)
			continue;
		io_interrupt_add(&b, ioapic_id, irq, irq == 0 ? 2 : irq, MP_IRQ_CONFORMING);
	}
	for (uint8_t pin = MP_ISA_IRQS; pin < MP_IOAPIC_PINS; pin++)
		io_interrupt_add(&b, ioapic_id, pin, pin, MP_IRQ_ACTIVE_HIGH | MP_IRQ_LEVEL);
	local_interrupt_add(&b, MP_EXTINT, 0);
	local_interrupt_add(&b, MP_NMI, 1);

	hdr.length = (uint16_t)b.used;
	hdr.entry_count = b.count;
	memcpy(table, &hdr, sizeof(hdr));
	table[offsetof(struct mp_config_header, checksum)] = checksum(table, b.used);

	config_addr = nr_cpus <= MP_EBDA_MAX_CPUS ? MP_CONFIG_LOW : MP_CONFIG_HIGH;
	fp.physptr = (uint32_t)config_addr;
	fp.checksum = checksum((const uint8_t *)&fp, sizeof(fp));

	if (guest_memory_write(mem, LAYOUT_EBDA_START, &fp, sizeof(fp)) < 0 ||
	    guest_memory_write(mem, config_addr, table, b.used) < 0)
		return -EFAULT;
	return 0;
}
