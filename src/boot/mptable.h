/* Intel MultiProcessor Specification 1.4 structures (chapter 4): the MP
 * floating pointer and the MP configuration table with its base entries.
 * Every layout is naturally aligned, so no packing is needed; the sizes are
 * checked below against the spec. */
#ifndef KVMRUN_BOOT_MPTABLE_H
#define KVMRUN_BOOT_MPTABLE_H

#include <stdint.h>

#define MP_SPEC_REV_1_4      4

/* §4.1 MP Floating Pointer Structure, 16 bytes. */
struct mp_floating_pointer {
	char signature[4];        /* "_MP_" */
	uint32_t physptr;         /* address of the configuration table */
	uint8_t length;           /* in 16-byte paragraphs: 1 */
	uint8_t spec_rev;
	uint8_t checksum;         /* all 16 bytes sum to 0 */
	uint8_t feature[5];       /* feature[0] = 0: a configuration table is present;
				   * feature[1] bit 7 (IMCRP) = 0: virtual wire mode */
};

/* §4.2 MP Configuration Table Header, 44 bytes. */
struct mp_config_header {
	char signature[4];        /* "PCMP" */
	uint16_t length;          /* base table: header + entries */
	uint8_t spec_rev;
	uint8_t checksum;         /* the base table sums to 0 */
	char oem_id[8];
	char product_id[12];
	uint32_t oem_table;
	uint16_t oem_table_size;
	uint16_t entry_count;
	uint32_t lapic_address;
	uint16_t ext_table_length;
	uint8_t ext_table_checksum;
	uint8_t reserved;
};

enum mp_entry_type {
	MP_PROCESSOR = 0,
	MP_BUS = 1,
	MP_IOAPIC = 2,
	MP_IO_INTERRUPT = 3,
	MP_LOCAL_INTERRUPT = 4,
};

/* §4.3.1 Processor Entry, 20 bytes. */
struct mp_processor {
	uint8_t type;
	uint8_t lapic_id;
	uint8_t lapic_version;
	uint8_t cpu_flags;        /* MP_CPU_ENABLED | MP_CPU_BSP */
	uint32_t cpu_signature;   /* CPUID.1:EAX stepping/model/family */
	uint32_t feature_flags;   /* CPUID.1:EDX */
	uint32_t reserved[2];
};
#define MP_CPU_ENABLED 0x01
#define MP_CPU_BSP     0x02

/* §4.3.2 Bus Entry, 8 bytes. */
struct mp_bus {
	uint8_t type;
	uint8_t bus_id;
	char bus_type[6];         /* "ISA   " */
};

/* §4.3.3 I/O APIC Entry, 8 bytes. */
struct mp_ioapic {
	uint8_t type;
	uint8_t ioapic_id;
	uint8_t ioapic_version;
	uint8_t flags;            /* MP_IOAPIC_ENABLED */
	uint32_t address;
};
#define MP_IOAPIC_ENABLED 0x01

/* §4.3.4 I/O Interrupt Assignment and §4.3.5 Local Interrupt Assignment
 * Entries, 8 bytes each and the same shape. */
struct mp_interrupt {
	uint8_t type;
	uint8_t interrupt_type;   /* enum mp_interrupt_type */
	uint16_t flags;           /* polarity bits 0-1, trigger mode bits 2-3 */
	uint8_t source_bus_id;
	uint8_t source_bus_irq;
	uint8_t dest_apic_id;     /* 0xff in a local entry: every local APIC */
	uint8_t dest_pin;         /* INTIN# of the I/O APIC, or LINTIN# */
};

enum mp_interrupt_type {
	MP_INT = 0,
	MP_NMI = 1,
	MP_SMI = 2,
	MP_EXTINT = 3,
};
#define MP_IRQ_CONFORMING    0x0   /* polarity and trigger as the bus defines */
#define MP_IRQ_ACTIVE_HIGH   0x1
#define MP_IRQ_LEVEL         (0x3 << 2)
#define MP_ALL_LAPICS        0xff

_Static_assert(sizeof(struct mp_floating_pointer) == 16, "MP floating pointer is 16 bytes");
_Static_assert(sizeof(struct mp_config_header) == 44, "MP configuration header is 44 bytes");
_Static_assert(sizeof(struct mp_processor) == 20, "MP processor entry is 20 bytes");
_Static_assert(sizeof(struct mp_bus) == 8, "MP bus entry is 8 bytes");
_Static_assert(sizeof(struct mp_ioapic) == 8, "MP I/O APIC entry is 8 bytes");
_Static_assert(sizeof(struct mp_interrupt) == 8, "MP interrupt entry is 8 bytes");

#endif
