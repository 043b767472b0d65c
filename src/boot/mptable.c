/* MP tables (Intel MultiProcessor Specification 1.4) in the last KiB of
 * base memory, where a BIOS would put its EBDA and where Linux looks for
 * the floating pointer ("639K-640K"). They give the guest its CPUs (APIC
 * IDs 0..n-1, CPU 0 the BSP) and the I/O APIC's interrupt routing:
 *
 *   ISA IRQ 0          -> I/O APIC pin 2 (as on PCs: pin 0 is the 8259's)
 *   ISA IRQ 1, 3..15   -> pin = IRQ, bus-conforming (edge, active high)
 *   ISA IRQ 2          -> none: the 8259 cascade, never a device interrupt
 *   pins 16..23        -> source IRQ = pin, level-triggered, active high,
 *                         for platform devices beyond the ISA range
 *   LINT0 ExtINT, LINT1 NMI on every local APIC (virtual wire mode)
 *
 * One KiB holds the fixed part and BOOT_MPTABLE_MAX_CPUS processor entries
 * (checked at compile time below). */
#include <errno.h>
#include <string.h>

#include "boot/boot.h"
#include "boot/mptable.h"
#include "layout.h"

#define MP_AREA_SIZE      (LAYOUT_LEGACY_HOLE_START - LAYOUT_EBDA_START)
#define MP_CONFIG_ADDRESS (LAYOUT_EBDA_START + sizeof(struct mp_floating_pointer))
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

#define MP_FIXED_SIZE (sizeof(struct mp_floating_pointer) + sizeof(struct mp_config_header) + \
		       sizeof(struct mp_bus) + sizeof(struct mp_ioapic) + \
		       (MP_IO_INTERRUPTS + MP_LOCAL_INTERRUPTS) * sizeof(struct mp_interrupt))

_Static_assert(MP_FIXED_SIZE + BOOT_MPTABLE_MAX_CPUS * sizeof(struct mp_processor) <= MP_AREA_SIZE,
	       "BOOT_MPTABLE_MAX_CPUS processors do not fit in the EBDA KiB");
_Static_assert(MP_FIXED_SIZE + (BOOT_MPTABLE_MAX_CPUS + 1) * sizeof(struct mp_processor) > MP_AREA_SIZE,
	       "BOOT_MPTABLE_MAX_CPUS could be larger");

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
	uint8_t area[MP_AREA_SIZE];
	struct mp_floating_pointer fp = {
		.signature = "_MP_", .physptr = (uint32_t)MP_CONFIG_ADDRESS,
		.length = 1, .spec_rev = MP_SPEC_REV_1_4,
	};
	struct mp_config_header hdr = {
		.signature = "PCMP", .spec_rev = MP_SPEC_REV_1_4,
		.oem_id = "KVMRUN  ", .product_id = "MICROVM     ",
		.lapic_address = (uint32_t)LAYOUT_LAPIC_BASE,
	};
	struct mp_builder b;
	uint8_t ioapic_id = (uint8_t)nr_cpus;

	if (nr_cpus == 0)
		return -EINVAL;
	if (nr_cpus > BOOT_MPTABLE_MAX_CPUS)
		return -E2BIG;

	memset(area, 0, sizeof(area));
	b = (struct mp_builder){ .buf = area + sizeof(fp), .used = sizeof(hdr) };
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
	memcpy(area + sizeof(fp), &hdr, sizeof(hdr));
	area[sizeof(fp) + offsetof(struct mp_config_header, checksum)] =
		checksum(area + sizeof(fp), b.used);
	memcpy(area, &fp, sizeof(fp));
	area[offsetof(struct mp_floating_pointer, checksum)] = checksum(area, sizeof(fp));

	return guest_memory_write(mem, LAYOUT_EBDA_START, area, sizeof(fp) + b.used);
}
