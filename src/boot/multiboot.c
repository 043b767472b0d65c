/* Multiboot v1 boot (Multiboot Specification 0.6.96), the protocol of
 * QEMU-style test kernels (kvm-unit-tests and others that run under
 * `qemu -kernel`).
 *
 * The image is an ELF32 whose PT_LOAD segments load at their p_paddr, or,
 * with the a.out kludge (header flags bit 16), any file whose header gives
 * the physical addresses to load it at (§3.1.3). The vCPU starts in 32-bit
 * protected mode without paging at the entry, with %eax = 0x2BADB002 and
 * %ebx = the Multiboot information (§3.2): memory sizes, the e820 map, the
 * command line "<kernel path> <--cmdline text>", the loader name and the
 * initrd as module 0. The information lives at LAYOUT_MULTIBOOT_INFO, the
 * command line at LAYOUT_CMDLINE: both below 1 MiB, where no image may
 * load, so they never overlap the kernel or the module. */
#include <errno.h>
#include <string.h>

#include "boot/gdt.h"
#include "boot/loader.h"
#include "boot/multiboot.h"
#include "e820.h"
#include "layout.h"

/* The information, then the memory map, the module list, the loader name
 * and module 0's string. */
#define MB_INFO        LAYOUT_MULTIBOOT_INFO
#define MB_MMAP        (MB_INFO + 0x80)
#define MB_MODS        (MB_MMAP + E820_MAX_ENTRIES * sizeof(struct multiboot_mmap_entry))
#define MB_LOADER_NAME (MB_MODS + sizeof(struct multiboot_module))
#define MB_MOD_STRING  (MB_LOADER_NAME + 0x10)
#define MB_END         (MB_MOD_STRING + 0x10)

_Static_assert(sizeof(struct multiboot_info) <= MB_MMAP - MB_INFO,
	       "multiboot_info overlaps its memory map");
_Static_assert(sizeof(MULTIBOOT_LOADER_NAME) <= MB_MOD_STRING - MB_LOADER_NAME &&
	       sizeof(MULTIBOOT_INITRD_STRING) <= MB_END - MB_MOD_STRING,
	       "multiboot strings overflow their slots");
_Static_assert(MB_END <= LAYOUT_ZERO_PAGE,
	       "multiboot information overlaps the zero page slot");

static uint32_t le32_get(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));   /* x86 hosts only: little-endian */
	return v;
}

int multiboot_probe(const uint8_t *image, size_t size, bool *found,
		    struct multiboot_header *hdr, char err[BOOT_ERROR_MAX])
{
	size_t limit = size < MULTIBOOT_SEARCH ? size : MULTIBOOT_SEARCH;
	const char *limit_name = limit == size ? "end of the file" : "first 8 KiB";
	size_t bad_offset = SIZE_MAX;
	uint32_t bad_sum = 0, unknown;
	bool have = false;

	*found = false;
	memset(hdr, 0, sizeof(*hdr));
	for (size_t off = 0; off + MULTIBOOT_HEADER_ALIGN <= limit; off += MULTIBOOT_HEADER_ALIGN) {
		uint32_t flags, sum;

		if (le32_get(image + off) != MULTIBOOT_HEADER_MAGIC)
			continue;
		if (off + MULTIBOOT_HEADER_SIZE > limit)
			return boot_fail(err, -ENOEXEC,
					 "multiboot header at offset 0x%zx is cut off by the %s (it needs %d bytes)",
					 off, limit_name, MULTIBOOT_HEADER_SIZE);
		flags = le32_get(image + off + 4);
		sum = MULTIBOOT_HEADER_MAGIC + flags + le32_get(image + off + 8);
		if (sum != 0) {
			/* A magic with a bad checksum is refused only if no good
			 * header follows: loaders scan for the first valid one
			 * (GRUB does), so stray data cannot hide the real one. */
			if (bad_offset == SIZE_MAX) {
				bad_offset = off;
				bad_sum = sum;
			}
			continue;
		}
		hdr->offset = off;
		hdr->flags = flags;
		have = true;
		break;
	}
	if (!have) {
		if (bad_offset != SIZE_MAX)
			return boot_fail(err, -ENOEXEC,
					 "multiboot header at offset 0x%zx has a bad checksum: magic + flags + checksum = 0x%x, not 0",
					 bad_offset, bad_sum);
		return 0;
	}

	/* §3.1.2: an unknown requirement bit means the image cannot boot
	 * correctly with this loader. */
	unknown = hdr->flags & MULTIBOOT_FLAGS_REQUIRED_MASK & ~MULTIBOOT_FLAGS_KNOWN_REQUIRED;
	if (unknown)
		return boot_fail(err, -ENOEXEC,
				 "multiboot header flags 0x%x require features kvmrun does not know (bits 0x%x; known: 0 page-aligned modules, 1 memory information, 2 video mode)",
				 hdr->flags, unknown);
	if (hdr->flags & MULTIBOOT_FLAG_AOUT_KLUDGE) {
		const uint8_t *f = image + hdr->offset;

		if (hdr->offset + MULTIBOOT_HEADER_SIZE_KLUDGE > limit)
			return boot_fail(err, -ENOEXEC,
					 "multiboot header at offset 0x%zx sets the a.out kludge (flags bit 16) but its address fields are cut off by the %s",
					 hdr->offset, limit_name);
		hdr->header_addr = le32_get(f + 12);
		hdr->load_addr = le32_get(f + 16);
		hdr->load_end_addr = le32_get(f + 20);
		hdr->bss_end_addr = le32_get(f + 24);
		hdr->entry_addr = le32_get(f + 28);
	}
	*found = true;
	return 0;
}

/* Where the kernel goes: [start, end) including bss, and the entry. With
 * the a.out kludge, load_size bytes from file_offset go to start. */
struct multiboot_image {
	uint64_t start;
	uint64_t end;
	uint64_t entry;
	uint64_t file_offset;
	uint64_t load_size;
};

/* §3.1.3. All sums are of 32-bit values in 64-bit arithmetic: no overflow. */
static int kludge_check(const struct guest_memory *mem, const struct multiboot_header *hdr,
			size_t file_size, struct multiboot_image *img, char err[BOOT_ERROR_MAX])
{
	uint64_t low_end = guest_memory_low_end(mem);
	uint64_t load_end;

	if (hdr->load_addr > hdr->header_addr)
		return boot_fail(err, -ENOEXEC,
				 "multiboot load_addr 0x%x is above header_addr 0x%x",
				 hdr->load_addr, hdr->header_addr);
	/* The file offset to load from is the header's offset minus
	 * (header_addr - load_addr); it cannot be before the file. */
	if ((uint64_t)hdr->header_addr - hdr->load_addr > hdr->offset)
		return boot_fail(err, -ENOEXEC,
				 "multiboot header_addr 0x%x - load_addr 0x%x is more than the header's file offset 0x%zx",
				 hdr->header_addr, hdr->load_addr, hdr->offset);
	img->file_offset = hdr->offset - ((uint64_t)hdr->header_addr - hdr->load_addr);
	if (hdr->load_end_addr == 0) {
		img->load_size = file_size - img->file_offset;
	} else {
		if (hdr->load_end_addr < hdr->load_addr)
			return boot_fail(err, -ENOEXEC,
					 "multiboot load_end_addr 0x%x is below load_addr 0x%x",
					 hdr->load_end_addr, hdr->load_addr);
		img->load_size = (uint64_t)hdr->load_end_addr - hdr->load_addr;
		if (img->load_size > file_size - img->file_offset)
			return boot_fail(err, -ENOEXEC,
					 "multiboot load_addr 0x%x to load_end_addr 0x%x (0x%llx bytes from file offset 0x%llx) extends beyond the %zu-byte file",
					 hdr->load_addr, hdr->load_end_addr,
					 (unsigned long long)img->load_size,
					 (unsigned long long)img->file_offset, file_size);
	}
	load_end = hdr->load_addr + img->load_size;
	if (hdr->bss_end_addr != 0 && hdr->bss_end_addr < load_end)
		return boot_fail(err, -ENOEXEC,
				 "multiboot bss_end_addr 0x%x is below the end of the loaded data 0x%llx",
				 hdr->bss_end_addr, (unsigned long long)load_end);
	img->start = hdr->load_addr;
	img->end = hdr->bss_end_addr ? hdr->bss_end_addr : load_end;
	img->entry = hdr->entry_addr;
	/* As for ELF segments: below 1 MiB are our boot structures, the EBDA
	 * and the legacy area; above the hole is not RAM. */
	if (img->start < LAYOUT_HIGH_MEMORY_START)
		return boot_fail(err, -ENOEXEC,
				 "multiboot load_addr 0x%x is below 1 MiB (boot data, EBDA and legacy area)",
				 hdr->load_addr);
	if (img->end > low_end)
		return boot_fail(err, -ENOMEM,
				 "multiboot image [0x%llx, 0x%llx) does not fit in guest RAM below 0x%llx",
				 (unsigned long long)img->start, (unsigned long long)img->end,
				 (unsigned long long)low_end);
	/* The entry must be code we load, not bss. */
	if (img->entry < img->start || img->entry >= load_end)
		return boot_fail(err, -ENOEXEC,
				 "multiboot entry_addr 0x%x is outside the loaded image [0x%llx, 0x%llx)",
				 hdr->entry_addr, (unsigned long long)img->start,
				 (unsigned long long)load_end);
	return 0;
}

static int elf_image_check(const struct guest_memory *mem, const struct elf_image *elf,
			   struct multiboot_image *img, char err[BOOT_ERROR_MAX])
{
	struct elf_extent extent;
	int ret;

	if (!elf)
		return boot_fail(err, -ENOEXEC,
				 "multiboot image without the a.out kludge (flags bit 16) must be an ELF executable");
	/* §3.1: "ELF format"; like QEMU we take ELF32 only, whose addresses
	 * a 32-bit protected-mode entry can reach. */
	if (elf->bits != 32)
		return boot_fail(err, -ENOEXEC,
				 "multiboot image is ELFCLASS%u: without the a.out kludge (flags bit 16) only ELF32 is loaded",
				 elf->bits);
	ret = elf_check_segments(mem, elf, &extent, err);
	if (ret < 0)
		return ret;
	/* e_entry as a physical address, or a virtual one translated through
	 * its segment (GRUB does the same). */
	ret = elf_entry_paddr(elf, &img->entry, err);
	if (ret < 0)
		return ret;
	img->start = extent.start;
	img->end = extent.end;
	return 0;
}

/* "<kernel path> <command line>", or just the path with an empty command
 * line: kernels take the first word as their name (argv[0]), as under GRUB
 * and QEMU. */
static uint64_t cmdline_length(const struct boot_config *cfg)
{
	uint64_t len = strlen(cfg->kernel_name);

	if (cfg->cmdline[0])
		len += 1 + strlen(cfg->cmdline);
	return len;
}

static int cmdline_compose(struct guest_memory *mem, const struct boot_config *cfg)
{
	size_t name_len = strlen(cfg->kernel_name);
	uint64_t len = cmdline_length(cfg);
	char *dst = guest_memory_ptr(mem, LAYOUT_CMDLINE, len + 1);

	if (!dst)
		return -EFAULT;
	memcpy(dst, cfg->kernel_name, name_len);
	if (cfg->cmdline[0]) {
		dst[name_len] = ' ';
		memcpy(dst + name_len + 1, cfg->cmdline, len - name_len - 1);
	}
	dst[len] = '\0';
	return 0;
}

static int info_write(struct guest_memory *mem, const struct boot_config *cfg,
		      uint64_t initrd_addr)
{
	struct e820_entry map[E820_MAX_ENTRIES];
	struct multiboot_mmap_entry mmap[E820_MAX_ENTRIES];
	unsigned n = e820_build(mem, map);
	struct multiboot_info info = {
		.flags = MULTIBOOT_INFO_MEMORY | MULTIBOOT_INFO_CMDLINE | MULTIBOOT_INFO_MODS |
			 MULTIBOOT_INFO_MEM_MAP | MULTIBOOT_INFO_LOADER_NAME,
		/* §3.3: lower memory from 0 (at most 640 KiB: ours ends at the
		 * EBDA), upper memory from 1 MiB to the first hole. */
		.mem_lower = (uint32_t)(LAYOUT_EBDA_START / 1024),
		.mem_upper = (uint32_t)((guest_memory_low_end(mem) - LAYOUT_HIGH_MEMORY_START) / 1024),
		.cmdline = (uint32_t)LAYOUT_CMDLINE,
		.mmap_length = (uint32_t)(n * sizeof(mmap[0])),
		.mmap_addr = (uint32_t)MB_MMAP,
		.boot_loader_name = (uint32_t)MB_LOADER_NAME,
	};

	for (unsigned i = 0; i < n; i++)
		mmap[i] = (struct multiboot_mmap_entry){
			.size = sizeof(mmap[i]) - sizeof(mmap[i].size),
			.base_addr = map[i].addr, .length = map[i].size, .type = map[i].type,
		};
	if (cfg->initrd_size > 0) {
		/* Below the device hole, so both ends fit in 32 bits. */
		struct multiboot_module module = {
			.mod_start = (uint32_t)initrd_addr,
			.mod_end = (uint32_t)(initrd_addr + cfg->initrd_size),
			.string = (uint32_t)MB_MOD_STRING,
		};

		info.mods_count = 1;
		info.mods_addr = (uint32_t)MB_MODS;
		if (guest_memory_write(mem, MB_MODS, &module, sizeof(module)) < 0 ||
		    guest_memory_write(mem, MB_MOD_STRING, MULTIBOOT_INITRD_STRING,
				       sizeof(MULTIBOOT_INITRD_STRING)) < 0)
			return -EFAULT;
	}
	if (guest_memory_write(mem, MB_MMAP, mmap, n * sizeof(mmap[0])) < 0 ||
	    guest_memory_write(mem, MB_LOADER_NAME, MULTIBOOT_LOADER_NAME,
			       sizeof(MULTIBOOT_LOADER_NAME)) < 0 ||
	    guest_memory_write(mem, MB_INFO, &info, sizeof(info)) < 0)
		return -EFAULT;
	return 0;
}

static int image_copy(struct guest_memory *mem, const struct boot_config *cfg,
		      const struct multiboot_header *hdr, const struct elf_image *elf,
		      const struct multiboot_image *img)
{
	if (!(hdr->flags & MULTIBOOT_FLAG_AOUT_KLUDGE))
		return elf_copy_segments(mem, elf);
	/* The bss up to bss_end_addr is already zero: boot_load() takes
	 * freshly zeroed RAM, and touching it would fault in every page of
	 * a large bss for nothing. */
	return guest_memory_write(mem, img->start, cfg->kernel + img->file_offset,
				  img->load_size);
}

int multiboot_load(struct guest_memory *mem, const struct boot_config *cfg,
		   const struct multiboot_header *hdr, const struct elf_image *elf,
		   struct boot_entry *entry, char err[BOOT_ERROR_MAX])
{
	struct multiboot_image img = { 0 };
	struct elf_extent extent;
	uint64_t initrd_addr = 0;
	int ret;

	if (!cfg->kernel_name)
		return boot_fail(err, -EINVAL,
				 "kernel name missing: the multiboot command line starts with it");
	if (hdr->flags & MULTIBOOT_FLAG_AOUT_KLUDGE)
		ret = kludge_check(mem, hdr, cfg->kernel_size, &img, err);
	else
		ret = elf_image_check(mem, elf, &img, err);
	if (ret < 0)
		return ret;
	extent = (struct elf_extent){ img.start, img.end };
	/* Page-aligned, which also satisfies header flags bit 0. */
	if (cfg->initrd_size > 0 &&
	    initrd_place_around(mem, cfg->initrd_size, &extent, &initrd_addr) < 0)
		return boot_fail(err, -ENOMEM,
				 "initrd of %zu bytes does not fit in guest RAM between 0x%llx and 0x%llx next to the image at [0x%llx, 0x%llx)",
				 cfg->initrd_size, (unsigned long long)LAYOUT_HIGH_MEMORY_START,
				 (unsigned long long)guest_memory_low_end(mem),
				 (unsigned long long)img.start, (unsigned long long)img.end);
	if (cmdline_length(cfg) > LAYOUT_CMDLINE_MAX - 1)
		return boot_fail(err, -E2BIG,
				 "multiboot command line (kernel path, space, command line) is %llu bytes, longer than the %llu allowed (kvmrun's command line area)",
				 (unsigned long long)cmdline_length(cfg),
				 (unsigned long long)(LAYOUT_CMDLINE_MAX - 1));

	if ((cfg->initrd_size > 0 &&
	     guest_memory_write(mem, initrd_addr, cfg->initrd, cfg->initrd_size) < 0) ||
	    cmdline_compose(mem, cfg) < 0 ||
	    info_write(mem, cfg, initrd_addr) < 0 ||
	    boot_gdt_write(mem, BOOT_CPU_PROTECTED32) < 0 ||
	    image_copy(mem, cfg, hdr, elf, &img) < 0)
		return boot_fail(err, -EFAULT, "multiboot boot data does not fit in guest RAM");

	/* §3.2 machine state: the PVH one (flat 32-bit segments, no paging,
	 * interrupts off) plus the two registers. */
	entry->protocol = BOOT_PROTOCOL_MULTIBOOT;
	entry->mode = BOOT_CPU_PROTECTED32;
	entry->rip = img.entry;
	entry->rax = MULTIBOOT_BOOTLOADER_MAGIC;
	entry->rbx = MB_INFO;
	entry->rsi = 0;
	return 0;
}
