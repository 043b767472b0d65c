/* MP table search and parse (Intel MP Specification 1.4, §4). The table
 * comes from the VMM, but the guest still checks every length and
 * checksum before it trusts a count. */
#include "mptable.h"

#include "libguest.h"

struct mp_floating {
	char signature[4];          /* "_MP_" */
	uint32_t config_paddr;      /* 0: a default configuration (§5) */
	uint8_t length;             /* in 16-byte units: 1 */
	uint8_t spec_rev;
	uint8_t checksum;
	uint8_t feature[5];         /* feature[0] != 0: default config number */
} __attribute__((packed));

struct mp_config {
	char signature[4];          /* "PCMP" */
	uint16_t base_length;       /* header + base entries, bytes */
	uint8_t spec_rev;
	uint8_t checksum;
	char oem_id[8];
	char product_id[12];
	uint32_t oem_table_paddr;
	uint16_t oem_table_size;
	uint16_t entry_count;
	uint32_t lapic_paddr;
	uint16_t ext_length;
	uint8_t ext_checksum;
	uint8_t reserved;
} __attribute__((packed));

struct mp_processor {
	uint8_t type;               /* 0 */
	uint8_t apic_id;
	uint8_t apic_version;
	uint8_t flags;              /* bit 0 EN, bit 1 BP */
	uint32_t signature;
	uint32_t features;
	uint32_t reserved[2];
} __attribute__((packed));

#define MP_ENTRY_PROCESSOR   0   /* 20 bytes; the other base types are 8 */
#define MP_ENTRY_BUS         1
#define MP_ENTRY_IOAPIC      2
#define MP_ENTRY_IO_INT      3
#define MP_ENTRY_LOCAL_INT   4
#define MP_CPU_ENABLED       0x01
#define MP_CPU_BSP           0x02

#define BDA_EBDA_SEGMENT     0x40e
#define BDA_BASE_MEMORY_KIB  0x413

static uint8_t checksum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	while (len--)
		sum += *b++;
	return sum;
}

static const struct mp_floating *mptable_scan(uintptr_t start, size_t len)
{
	/* The floating pointer is 16-byte aligned (§4). */
	for (uintptr_t a = start; a + sizeof(struct mp_floating) <= start + len; a += 16) {
		const struct mp_floating *f = (const void *)a;

		if (memcmp(f->signature, "_MP_", 4) == 0 && f->length == 1 &&
		    checksum(f, 16) == 0)
			return f;
	}
	return NULL;
}

/* Read the BIOS data area. Through asm because GCC treats dereferences of
 * small constant addresses as out-of-bounds accesses. */
static uint16_t bda_read16(uintptr_t addr)
{
	uint16_t v;

	__asm__ volatile("movw (%1), %0" : "=r"(v) : "r"(addr) : "memory");
	return v;
}

static const struct mp_floating *mptable_find_floating(void)
{
	const struct mp_floating *f = NULL;
	uint16_t ebda_seg = bda_read16(BDA_EBDA_SEGMENT);
	uint16_t base_kib = bda_read16(BDA_BASE_MEMORY_KIB);

	if (ebda_seg)
		f = mptable_scan((uintptr_t)ebda_seg << 4, 1024);
	if (!f && base_kib >= 1 && base_kib <= 640)
		f = mptable_scan(((uintptr_t)base_kib - 1) * 1024, 1024);
	/* kvmrun leaves the BDA zero and puts the table at 639 KiB. */
	if (!f)
		f = mptable_scan(0x9fc00, 1024);
	if (!f)
		f = mptable_scan(0xf0000, 0x10000);
	return f;
}

/* Walk the base table by its length, not by entry_count: some firmware
 * (qboot under QEMU microvm) leaves entry_count 0, and Linux also walks by
 * length. Every entry must fit inside base_length. */
static bool mptable_parse(const struct mp_config *c, struct mptable_info *info,
			  const char **why)
{
	const uint8_t *p = (const uint8_t *)(c + 1);
	const uint8_t *end = (const uint8_t *)c + c->base_length;

	while (p < end) {
		size_t size = *p == MP_ENTRY_PROCESSOR ? sizeof(struct mp_processor) : 8;

		if ((size_t)(end - p) < size) {
			*why = "an entry runs past the base table length";
			return false;
		}
		switch (*p) {
		case MP_ENTRY_PROCESSOR: {
			const struct mp_processor *cpu = (const void *)p;

			if (!(cpu->flags & MP_CPU_ENABLED))
				break;
			if (info->cpu_count < GUEST_MAX_CPUS) {
				info->apic_ids[info->cpu_count] = cpu->apic_id;
				info->is_bsp[info->cpu_count] = cpu->flags & MP_CPU_BSP;
			}
			info->cpu_count++;
			if (cpu->flags & MP_CPU_BSP)
				info->bsp_count++;
			break;
		}
		case MP_ENTRY_IOAPIC:
			info->ioapic_count++;
			break;
		case MP_ENTRY_BUS:
		case MP_ENTRY_IO_INT:
		case MP_ENTRY_LOCAL_INT:
			break;
		default:
			*why = "unknown base table entry type";
			return false;
		}
		p += size;
	}
	return true;
}

bool mptable_find(struct mptable_info *info, const char **why)
{
	const struct mp_floating *f;
	const struct mp_config *c;
	const char *dummy;

	if (!why)
		why = &dummy;
	memset(info, 0, sizeof(*info));
	f = mptable_find_floating();
	if (!f) {
		*why = "no MP floating pointer structure";
		return false;
	}
	info->floating_paddr = (uint32_t)(uintptr_t)f;
	if (f->config_paddr == 0) {
		*why = "MP default configuration (no table) is not supported";
		return false;
	}
	c = (const void *)(uintptr_t)f->config_paddr;
	if (memcmp(c->signature, "PCMP", 4) != 0) {
		*why = "MP configuration table signature is not PCMP";
		return false;
	}
	if (c->base_length < sizeof(*c) || checksum(c, c->base_length) != 0) {
		*why = "MP configuration table length or checksum is bad";
		return false;
	}
	info->config_paddr = f->config_paddr;
	info->lapic_paddr = c->lapic_paddr;
	return mptable_parse(c, info, why);
}
