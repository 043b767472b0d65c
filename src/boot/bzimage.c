/* bzImage through the Linux 64-bit boot protocol (Documentation/arch/x86/
 * boot.rst). The setup header is validated field by field, the protected-
 * mode part is loaded at 1 MiB and entered at its 64-bit entry point
 * (load address + 0x200, present when xloadflags has XLF_KERNEL_64). The
 * real-mode setup code is never run. */
#include <errno.h>
#include <string.h>

#include "boot/loader.h"
#include "boot/zero_page.h"
#include "layout.h"

#define BZIMAGE_MIN_VERSION   0x020c   /* 2.12: first with xloadflags */
#define BZIMAGE_ENTRY64       0x200    /* "start address of loaded 64-bit kernel plus 0x200" */
#define BZIMAGE_LOAD_ADDRESS  LAYOUT_HIGH_MEMORY_START
#define SECTOR_SIZE           512

bool bzimage_probe(const uint8_t *image, size_t size)
{
	return size >= BP_HEADER + 4 && le32_get(image + BP_HEADER) == BP_HEADER_MAGIC;
}

/* The layout facts read from a validated setup header. */
struct bzimage_info {
	size_t header_end;       /* 0x202 + jump offset: end of the setup header */
	size_t setup_size;       /* (setup_sects + 1) * 512 */
	size_t payload_size;     /* protected-mode part: the rest of the file */
	uint64_t footprint_end;  /* first byte above what the kernel needs to start */
};

static int header_check(const uint8_t *img, size_t size, struct bzimage_info *info,
			char err[BOOT_ERROR_MAX])
{
	uint16_t version;
	uint32_t alignment;
	unsigned setup_sects;
	uint64_t syssize_bytes;

	/* The probe saw only "HdrS"; no other field is read before this. */
	if (size < BP_HDR_AREA_END)
		return boot_fail(err, -ENOEXEC,
				 "bzImage truncated: %zu bytes, the setup header area ends at %u",
				 size, BP_HDR_AREA_END);
	version = le16_get(img + BP_VERSION);
	alignment = le32_get(img + BP_KERNEL_ALIGNMENT);
	setup_sects = img[BP_SETUP_SECTS];
	if (le16_get(img + BP_BOOT_FLAG) != BP_BOOT_FLAG_MAGIC)
		return boot_fail(err, -ENOEXEC, "bzImage boot_flag is 0x%04x, expected 0xaa55",
				 le16_get(img + BP_BOOT_FLAG));
	if (version < BZIMAGE_MIN_VERSION)
		return boot_fail(err, -ENOEXEC,
				 "bzImage boot protocol %u.%02u is older than 2.12 (no xloadflags, so no 64-bit entry point)",
				 version >> 8, version & 0xff);
	/* The jump at 0x200 doubles as the header length (boot.rst, "32-bit
	 * Boot Protocol": end = 0x0202 + byte at 0x0201). Protocol 2.12 has
	 * fields up to handover_offset; the header cannot pass 0x290. */
	info->header_end = BP_HEADER + img[BP_JUMP + 1];
	if (info->header_end < BP_HANDOVER_OFFSET + 4 || info->header_end > BP_HDR_AREA_END)
		return boot_fail(err, -ENOEXEC,
				 "bzImage setup header ends at 0x%zx (jump offset 0x%02x); protocol 2.12 needs 0x%x..0x%x",
				 info->header_end, img[BP_JUMP + 1], BP_HANDOVER_OFFSET + 4,
				 BP_HDR_AREA_END);
	if (!(img[BP_LOADFLAGS] & LOADED_HIGH))
		return boot_fail(err, -ENOEXEC,
				 "bzImage loadflags 0x%02x lack LOADED_HIGH: a zImage, which must load at 0x10000",
				 img[BP_LOADFLAGS]);
	if (!(le16_get(img + BP_XLOADFLAGS) & XLF_KERNEL_64))
		return boot_fail(err, -ENOEXEC,
				 "bzImage xloadflags 0x%04x lack XLF_KERNEL_64: no 64-bit entry point",
				 le16_get(img + BP_XLOADFLAGS));
	if (img[BP_RELOCATABLE_KERNEL] == 0)
		return boot_fail(err, -ENOEXEC,
				 "bzImage relocatable_kernel is 0: only relocatable kernels are supported");
	if (alignment == 0 || (alignment & (alignment - 1)) != 0)
		return boot_fail(err, -ENOEXEC, "bzImage kernel_alignment 0x%x is not a power of two",
				 alignment);

	/* setup_sects 0 means 4 (boot.rst note (1)); the boot sector adds one. */
	if (setup_sects == 0)
		setup_sects = 4;
	info->setup_size = (size_t)(setup_sects + 1) * SECTOR_SIZE;
	if (size <= info->setup_size + BZIMAGE_ENTRY64)
		return boot_fail(err, -ENOEXEC,
				 "bzImage truncated: %zu bytes, but setup (setup_sects %u) takes %zu and the 64-bit entry is 0x%x bytes further",
				 size, setup_sects, info->setup_size, BZIMAGE_ENTRY64);
	info->payload_size = size - info->setup_size;
	syssize_bytes = (uint64_t)le32_get(img + BP_SYSSIZE) * 16;
	if (syssize_bytes > info->payload_size)
		return boot_fail(err, -ENOEXEC,
				 "bzImage truncated: syssize says %llu bytes of protected-mode code, the file has %zu",
				 (unsigned long long)syssize_bytes, info->payload_size);
	return 0;
}

/* How far up the kernel reaches before it reads the memory map: the file's
 * protected-mode part at 1 MiB, and the area it decompresses into. The
 * decompressor (arch/x86/boot/compressed/head_64.S) runs at the load
 * address rounded up to kernel_alignment but never below LOAD_PHYSICAL_ADDR,
 * which the header publishes as pref_address, and needs init_size bytes
 * from there (boot.rst, init_size). */
static int footprint_check(const uint8_t *img, const struct guest_memory *mem,
			   struct bzimage_info *info, char err[BOOT_ERROR_MAX])
{
	uint64_t low_end = guest_memory_low_end(mem);
	uint64_t alignment = le32_get(img + BP_KERNEL_ALIGNMENT);
	uint64_t pref = le64_get(img + BP_PREF_ADDRESS);
	uint64_t init_size = le32_get(img + BP_INIT_SIZE);
	uint64_t runtime = (BZIMAGE_LOAD_ADDRESS + alignment - 1) & ~(alignment - 1);
	uint64_t end = BZIMAGE_LOAD_ADDRESS + info->payload_size;

	if (pref > runtime)
		runtime = pref;
	if (runtime > low_end || init_size > low_end - runtime || end > low_end)
		return boot_fail(err, -ENOMEM,
				 "bzImage does not fit in guest RAM below 0x%llx: %zu bytes at 0x%llx, init_size 0x%llx from 0x%llx",
				 (unsigned long long)low_end, info->payload_size,
				 (unsigned long long)BZIMAGE_LOAD_ADDRESS,
				 (unsigned long long)init_size, (unsigned long long)runtime);
	if (runtime + init_size > end)
		end = runtime + init_size;
	info->footprint_end = end;
	return 0;
}

int bzimage_load(struct guest_memory *mem, const struct boot_config *cfg,
		 struct boot_entry *entry, char err[BOOT_ERROR_MAX])
{
	const uint8_t *img = cfg->kernel;
	struct bzimage_info info = { 0 };
	struct linux64_kernel kernel;
	uint8_t zp[BP_SIZE];
	int ret;

	ret = header_check(img, cfg->kernel_size, &info, err);
	if (ret < 0)
		return ret;
	ret = footprint_check(img, mem, &info, err);
	if (ret < 0)
		return ret;

	/* The zero page starts zeroed with the image's setup header copied
	 * in (boot.rst, "64-bit Boot Protocol"). */
	memset(zp, 0, sizeof(zp));
	memcpy(zp + BP_HDR, img + BP_HDR, info.header_end - BP_HDR);
	le32_put(zp + BP_CODE32_START, (uint32_t)BZIMAGE_LOAD_ADDRESS);

	kernel = (struct linux64_kernel){
		.entry = BZIMAGE_LOAD_ADDRESS + BZIMAGE_ENTRY64,
		.end = info.footprint_end,
		/* initrd_addr_max is the highest byte the initrd may occupy */
		.initrd_ceiling = (uint64_t)le32_get(img + BP_INITRD_ADDR_MAX) + 1,
		.cmdline_size = le32_get(img + BP_CMDLINE_SIZE),
	};
	ret = linux64_boot(mem, cfg, zp, &kernel, entry, err);
	if (ret < 0)
		return ret;
	if (guest_memory_write(mem, BZIMAGE_LOAD_ADDRESS, img + info.setup_size,
			       info.payload_size) < 0)
		return boot_fail(err, -EFAULT, "bzImage kernel does not fit at 0x%llx",
				 (unsigned long long)BZIMAGE_LOAD_ADDRESS);
	return 0;
}
