/* ACPI table layouts (ACPI 6.4, chapter 5.2) as packed structures: several
 * fields are unaligned (the FADT's 64-bit X_ fields, the MADT's entries),
 * so every structure is packed and its size checked against the spec. */
#ifndef KVMRUN_ACPI_TABLES_H
#define KVMRUN_ACPI_TABLES_H

#include <stddef.h>
#include <stdint.h>

#define ACPI_PACKED __attribute__((packed))

/* §5.2.5.3 Root System Description Pointer, revision 2: 36 bytes. The
 * checksum covers the first 20 bytes (the ACPI 1.0 structure), the
 * extended checksum all 36. */
struct acpi_rsdp {
	char signature[8];        /* "RSD PTR " */
	uint8_t checksum;
	char oem_id[6];
	uint8_t revision;         /* 2: ACPI 2.0 and later, XSDT present */
	uint32_t rsdt_address;
	uint32_t length;          /* 36 */
	uint64_t xsdt_address;
	uint8_t extended_checksum;
	uint8_t reserved[3];
} ACPI_PACKED;
#define ACPI_RSDP_V1_LENGTH 20

/* §5.2.6 System Description Table Header: 36 bytes. */
struct acpi_header {
	char signature[4];
	uint32_t length;          /* header + body */
	uint8_t revision;
	uint8_t checksum;         /* the whole table sums to 0 */
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	char creator_id[4];
	uint32_t creator_revision;
} ACPI_PACKED;

/* §5.2.3.2 Generic Address Structure: 12 bytes. */
struct acpi_gas {
	uint8_t space_id;         /* ACPI_GAS_* */
	uint8_t bit_width;
	uint8_t bit_offset;
	uint8_t access_size;      /* ACPI_ACCESS_* */
	uint64_t address;
} ACPI_PACKED;
#define ACPI_GAS_SYSTEM_MEMORY 0
#define ACPI_GAS_SYSTEM_IO     1
#define ACPI_ACCESS_BYTE       1
#define ACPI_ACCESS_WORD       2
#define ACPI_ACCESS_DWORD      3

/* §5.2.9 Fixed ACPI Description Table, revision 6: 276 bytes. */
struct acpi_fadt {
	struct acpi_header header;    /* "FACP" */
	uint32_t firmware_ctrl;       /* FACS */
	uint32_t dsdt;
	uint8_t reserved0;            /* ACPI 1.0 INT_MODEL */
	uint8_t preferred_pm_profile;
	uint16_t sci_int;
	uint32_t smi_cmd;             /* 0: no SMM, the platform is always in ACPI mode */
	uint8_t acpi_enable;
	uint8_t acpi_disable;
	uint8_t s4bios_req;
	uint8_t pstate_cnt;
	uint32_t pm1a_evt_blk;
	uint32_t pm1b_evt_blk;
	uint32_t pm1a_cnt_blk;
	uint32_t pm1b_cnt_blk;
	uint32_t pm2_cnt_blk;
	uint32_t pm_tmr_blk;
	uint32_t gpe0_blk;
	uint32_t gpe1_blk;
	uint8_t pm1_evt_len;
	uint8_t pm1_cnt_len;
	uint8_t pm2_cnt_len;
	uint8_t pm_tmr_len;
	uint8_t gpe0_blk_len;
	uint8_t gpe1_blk_len;
	uint8_t gpe1_base;
	uint8_t cst_cnt;
	uint16_t p_lvl2_lat;
	uint16_t p_lvl3_lat;
	uint16_t flush_size;
	uint16_t flush_stride;
	uint8_t duty_offset;
	uint8_t duty_width;
	uint8_t day_alrm;
	uint8_t mon_alrm;
	uint8_t century;              /* CMOS index of the century byte */
	uint16_t iapc_boot_arch;      /* ACPI_IAPC_* */
	uint8_t reserved1;
	uint32_t flags;               /* ACPI_FADT_* */
	struct acpi_gas reset_reg;
	uint8_t reset_value;
	uint16_t arm_boot_arch;
	uint8_t minor_version;
	uint64_t x_firmware_ctrl;
	uint64_t x_dsdt;
	struct acpi_gas x_pm1a_evt_blk;
	struct acpi_gas x_pm1b_evt_blk;
	struct acpi_gas x_pm1a_cnt_blk;
	struct acpi_gas x_pm1b_cnt_blk;
	struct acpi_gas x_pm2_cnt_blk;
	struct acpi_gas x_pm_tmr_blk;
	struct acpi_gas x_gpe0_blk;
	struct acpi_gas x_gpe1_blk;
	struct acpi_gas sleep_control_reg;
	struct acpi_gas sleep_status_reg;
	char hypervisor_vendor_id[8];
} ACPI_PACKED;

/* FADT flags (§5.2.9, Table 5.10). */
#define ACPI_FADT_WBINVD        (1u << 0)
#define ACPI_FADT_PROC_C1       (1u << 2)
#define ACPI_FADT_PWR_BUTTON    (1u << 4)   /* set: no fixed-feature power button */
#define ACPI_FADT_SLP_BUTTON    (1u << 5)   /* set: no fixed-feature sleep button */
#define ACPI_FADT_FIX_RTC       (1u << 6)   /* set: RTC wake status not in PM1 */
#define ACPI_FADT_TMR_VAL_EXT   (1u << 8)   /* the PM timer is 32 bits wide */
#define ACPI_FADT_RESET_REG_SUP (1u << 10)
#define ACPI_FADT_HW_REDUCED    (1u << 20)

/* IA-PC boot architecture flags (§5.2.9.3). */
#define ACPI_IAPC_LEGACY_DEVICES (1u << 0)  /* ISA devices the OS cannot enumerate */
#define ACPI_IAPC_8042           (1u << 1)
#define ACPI_IAPC_NO_VGA         (1u << 2)
#define ACPI_IAPC_NO_CMOS_RTC    (1u << 5)

/* §5.2.10 Firmware ACPI Control Structure: 64 bytes, no checksum. */
struct acpi_facs {
	char signature[4];            /* "FACS" */
	uint32_t length;              /* 64 */
	uint32_t hardware_signature;
	uint32_t firmware_waking_vector;
	uint32_t global_lock;
	uint32_t flags;
	uint64_t x_firmware_waking_vector;
	uint8_t version;              /* 2 */
	uint8_t reserved0[3];
	uint32_t ospm_flags;
	uint8_t reserved1[24];
} ACPI_PACKED;

/* §5.2.12 Multiple APIC Description Table ("APIC"). */
struct acpi_madt {
	struct acpi_header header;
	uint32_t lapic_address;
	uint32_t flags;               /* ACPI_MADT_PCAT_COMPAT */
} ACPI_PACKED;
#define ACPI_MADT_PCAT_COMPAT 1u      /* dual 8259s present (KVM's in-kernel PIC) */

enum acpi_madt_type {
	ACPI_MADT_LAPIC = 0,
	ACPI_MADT_IOAPIC = 1,
	ACPI_MADT_ISO = 2,            /* interrupt source override */
	ACPI_MADT_LAPIC_NMI = 4,
};

/* §5.2.12.2 Processor Local APIC: 8 bytes. */
struct acpi_madt_lapic {
	uint8_t type;
	uint8_t length;
	uint8_t processor_uid;
	uint8_t apic_id;
	uint32_t flags;               /* ACPI_MADT_ENABLED */
} ACPI_PACKED;
#define ACPI_MADT_ENABLED 1u

/* §5.2.12.3 I/O APIC: 12 bytes. */
struct acpi_madt_ioapic {
	uint8_t type;
	uint8_t length;
	uint8_t ioapic_id;
	uint8_t reserved;
	uint32_t address;
	uint32_t gsi_base;
} ACPI_PACKED;

/* §5.2.12.5 Interrupt Source Override: 10 bytes. */
struct acpi_madt_iso {
	uint8_t type;
	uint8_t length;
	uint8_t bus;                  /* 0: ISA */
	uint8_t source;               /* ISA IRQ */
	uint32_t gsi;
	uint16_t flags;               /* MPS INTI flags */
} ACPI_PACKED;

/* §5.2.12.7 Local APIC NMI: 6 bytes. */
struct acpi_madt_lapic_nmi {
	uint8_t type;
	uint8_t length;
	uint8_t processor_uid;        /* 0xff: every processor */
	uint16_t flags;
	uint8_t lint;
} ACPI_PACKED;

/* MPS INTI flags (§5.2.12.5, Table 5.27): polarity bits 1:0, trigger 3:2. */
#define ACPI_INTI_CONFORMS    0x0
#define ACPI_INTI_ACTIVE_HIGH 0x1
#define ACPI_INTI_ACTIVE_LOW  0x3
#define ACPI_INTI_EDGE        (0x1 << 2)
#define ACPI_INTI_LEVEL       (0x3 << 2)
#define ACPI_ALL_PROCESSORS   0xff

/* PCI Firmware Specification 3.2 §4.1.2, the MCFG table: a header, 8
 * reserved bytes, then one 16-byte allocation per ECAM window. */
struct acpi_mcfg {
	struct acpi_header header;
	uint8_t reserved[8];
} ACPI_PACKED;

struct acpi_mcfg_allocation {
	uint64_t base_address;
	uint16_t segment;
	uint8_t start_bus;
	uint8_t end_bus;
	uint32_t reserved;
} ACPI_PACKED;

_Static_assert(sizeof(struct acpi_rsdp) == 36, "RSDP revision 2 is 36 bytes");
_Static_assert(sizeof(struct acpi_header) == 36, "SDT header is 36 bytes");
_Static_assert(sizeof(struct acpi_gas) == 12, "GAS is 12 bytes");
_Static_assert(sizeof(struct acpi_fadt) == 276, "FADT revision 6 is 276 bytes");
_Static_assert(offsetof(struct acpi_fadt, iapc_boot_arch) == 109, "FADT IAPC_BOOT_ARCH at 109");
_Static_assert(offsetof(struct acpi_fadt, reset_reg) == 116, "FADT RESET_REG at 116");
_Static_assert(offsetof(struct acpi_fadt, x_dsdt) == 140, "FADT X_DSDT at 140");
_Static_assert(offsetof(struct acpi_fadt, x_pm_tmr_blk) == 208, "FADT X_PM_TMR_BLK at 208");
_Static_assert(offsetof(struct acpi_fadt, hypervisor_vendor_id) == 268, "FADT hypervisor ID at 268");
_Static_assert(sizeof(struct acpi_facs) == 64, "FACS is 64 bytes");
_Static_assert(sizeof(struct acpi_madt) == 44, "MADT fixed part is 44 bytes");
_Static_assert(sizeof(struct acpi_madt_lapic) == 8, "MADT LAPIC entry is 8 bytes");
_Static_assert(sizeof(struct acpi_madt_ioapic) == 12, "MADT I/O APIC entry is 12 bytes");
_Static_assert(sizeof(struct acpi_madt_iso) == 10, "MADT ISO entry is 10 bytes");
_Static_assert(sizeof(struct acpi_madt_lapic_nmi) == 6, "MADT LAPIC NMI entry is 6 bytes");
_Static_assert(sizeof(struct acpi_mcfg) == 44, "MCFG fixed part is 44 bytes");
_Static_assert(sizeof(struct acpi_mcfg_allocation) == 16, "MCFG allocation is 16 bytes");

#endif
