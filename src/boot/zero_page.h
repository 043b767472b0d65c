/* The Linux zero page (struct boot_params) as offsets into a 4 KiB buffer.
 * Offsets and names are those of Documentation/arch/x86/boot.rst (the setup
 * header, which sits at the same offsets in a bzImage file) and
 * Documentation/arch/x86/zero-page.rst. Fields are little-endian and many
 * are unaligned, so they are accessed bytewise through the helpers below. */
#ifndef KVMRUN_BOOT_ZERO_PAGE_H
#define KVMRUN_BOOT_ZERO_PAGE_H

#include <stdint.h>

#define BP_SIZE                 0x1000

/* struct boot_params outside the setup header (zero-page.rst) */
#define BP_ACPI_RSDP_ADDR       0x070   /* u64, protocol 2.14+ */
#define BP_EXT_RAMDISK_IMAGE    0x0c0   /* ramdisk_image high 32 bits */
#define BP_EXT_RAMDISK_SIZE     0x0c4   /* ramdisk_size high 32 bits */
#define BP_EXT_CMD_LINE_PTR     0x0c8   /* cmd_line_ptr high 32 bits */
#define BP_E820_ENTRIES         0x1e8
#define BP_SENTINEL             0x1ef   /* must stay 0: nonzero means "broken loader" */
#define BP_E820_TABLE           0x2d0   /* struct boot_e820_entry[128], 20 bytes each */
#define BP_E820_MAX             128
#define BP_E820_ENTRY_SIZE      20

/* struct setup_header (boot.rst "The Real-Mode Kernel Header") */
#define BP_HDR                  0x1f1   /* first byte of the setup header */
#define BP_SETUP_SECTS          0x1f1
#define BP_SYSSIZE              0x1f4
#define BP_VID_MODE             0x1fa
#define BP_BOOT_FLAG            0x1fe
#define BP_JUMP                 0x200   /* 0xeb, then the header length - 2 */
#define BP_HEADER               0x202   /* "HdrS" */
#define BP_VERSION              0x206
#define BP_TYPE_OF_LOADER       0x210
#define BP_LOADFLAGS            0x211
#define BP_CODE32_START         0x214
#define BP_RAMDISK_IMAGE        0x218
#define BP_RAMDISK_SIZE         0x21c
#define BP_HEAP_END_PTR         0x224
#define BP_CMD_LINE_PTR         0x228
#define BP_INITRD_ADDR_MAX      0x22c
#define BP_KERNEL_ALIGNMENT     0x230
#define BP_RELOCATABLE_KERNEL   0x234
#define BP_XLOADFLAGS           0x236
#define BP_CMDLINE_SIZE         0x238
#define BP_PREF_ADDRESS         0x258
#define BP_INIT_SIZE            0x260
#define BP_HANDOVER_OFFSET      0x264
/* The setup header may extend up to here: edd_mbr_sig_buffer follows. */
#define BP_HDR_AREA_END         0x290

#define BP_BOOT_FLAG_MAGIC      0xaa55
#define BP_HEADER_MAGIC         0x53726448u   /* "HdrS" */
#define BP_TYPE_OF_LOADER_UNDEFINED 0xff      /* "Special (0xFF = undefined)" */

/* loadflags */
#define LOADED_HIGH             0x01
#define CAN_USE_HEAP            0x80
/* xloadflags */
#define XLF_KERNEL_64           0x01
#define XLF_CAN_BE_LOADED_ABOVE_4G 0x02

static inline uint16_t le16_get(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t le32_get(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t le64_get(const uint8_t *p)
{
	return (uint64_t)le32_get(p) | (uint64_t)le32_get(p + 4) << 32;
}

static inline void le16_put(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void le32_put(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void le64_put(uint8_t *p, uint64_t v)
{
	le32_put(p, (uint32_t)v);
	le32_put(p + 4, (uint32_t)(v >> 32));
}

#endif
