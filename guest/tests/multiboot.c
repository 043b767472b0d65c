/* The Multiboot boot information as the guest receives it (Multiboot
 * Specification 0.6.96 §3.3). Built twice without the PVH note
 * (guest/meson.build): multiboot.elf, an ELF32 whose header has no address
 * fields, and multiboot_aout.elf, an ELF64 loaded through the a.out kludge.
 * Reaching main() at all shows the entry state worked: 32-bit protected
 * mode, EAX = 0x2BADB002 (entry.S picked Multiboot), EBX = the info.
 *
 * Command line (tests.ini):
 *   kernel=<image path> mem_lower=<KiB> mem_upper=<KiB> initrd_text=<text>
 * The VMM's command line is "<image path> <that>"; the initrd holds
 * <text> and a newline. */
#include "libguest.h"
#include "multiboot.h"
#include "startinfo.h"

#define E820_RAM 1

static char kernel[256];
static char initrd_text[64];

static void check_memory(const struct multiboot_info *mbi)
{
	const struct hvm_memmap_table_entry *map;
	uint64_t lower = 0, upper = 0, raw_entries = 0;
	bool low_ram = false, high_ram = false, sizes_ok = true;
	unsigned n;

	assert(cmdline_get_u64("mem_lower", &lower) && cmdline_get_u64("mem_upper", &upper));
	report(mbi->mem_lower == lower, "mem_lower %u KiB, want %lu", mbi->mem_lower, lower);
	report(mbi->mem_upper == upper, "mem_upper %u KiB, want %lu", mbi->mem_upper, upper);

	/* The raw map: every entry's size field is 20, walked by size + 4. */
	for (uint32_t pos = 0; pos + 24 <= mbi->mmap_length; raw_entries++) {
		const struct multiboot_mmap_entry *e =
			(const void *)(uintptr_t)(mbi->mmap_addr + pos);

		sizes_ok &= e->size == 20;
		pos += e->size + 4;
	}
	/* The library's copy (startinfo_memmap(), same as under PVH). */
	map = startinfo_memmap(&n);
	report(sizes_ok && n == raw_entries && n >= 3 && mbi->mmap_length == n * 24,
	       "mmap: %u entries of 24 bytes (%u bytes)", n, mbi->mmap_length);
	for (unsigned i = 0; i < n; i++) {
		report_info("mmap %u: [0x%lx, 0x%lx) %s", i, map[i].addr,
			    map[i].addr + map[i].size, memmap_type_name(map[i].type));
		low_ram |= map[i].addr == 0 && map[i].type == E820_RAM &&
			   map[i].size == lower * 1024;
		high_ram |= map[i].addr == 0x100000 && map[i].type == E820_RAM &&
			    map[i].size == upper * 1024;
	}
	report(low_ram, "mmap: RAM from 0, mem_lower KiB");
	report(high_ram, "mmap: RAM from 1 MiB, mem_upper KiB");
}

static void check_cmdline(void)
{
	const char *full = multiboot_cmdline();
	size_t klen = strlen(kernel);
	bool starts = klen > 0 && strncmp(full, kernel, klen) == 0 && full[klen] == ' ';

	report_info("command line: \"%s\"", full);
	report(starts, "command line starts with the kernel path %s", kernel);
	report(starts && strcmp(full + klen + 1, cmdline_get()) == 0,
	       "the rest is the --cmdline text, which cmdline_get() returns");
}

static void check_module(void)
{
	const struct multiboot_module *mods;
	size_t len = strlen(initrd_text);
	const char *data;
	unsigned count;

	mods = multiboot_modules(&count);
	report(count == 1, "one module (the initrd), got %u", count);
	if (count < 1)
		return;
	data = (const char *)(uintptr_t)mods[0].mod_start;
	report(mods[0].mod_start % 4096 == 0, "module 0 page-aligned at 0x%x (header flags bit 0)",
	       mods[0].mod_start);
	report(mods[0].mod_end - mods[0].mod_start == len + 1 &&
	       memcmp(data, initrd_text, len) == 0 && data[len] == '\n',
	       "module 0 [0x%x, 0x%x) holds \"%s\\n\"", mods[0].mod_start, mods[0].mod_end,
	       initrd_text);
	report(strcmp(multiboot_module_string(0), "initrd") == 0, "module 0 string \"%s\"",
	       multiboot_module_string(0));
}

int main(int argc __unused, char **argv __unused)
{
	const uint32_t want = MULTIBOOT_INFO_MEMORY | MULTIBOOT_INFO_CMDLINE |
			      MULTIBOOT_INFO_MODS | MULTIBOOT_INFO_MEM_MAP |
			      MULTIBOOT_INFO_LOADER_NAME;
	const struct multiboot_info *mbi = multiboot_info();

	report_prefix_push("multiboot");
	report(mbi != NULL, "booted through %s, info at 0x%x", startinfo_protocol(),
	       startinfo_paddr());
	if (!mbi)
		return report_summary();
	assert(cmdline_get_str("kernel", kernel, sizeof(kernel)));
	assert(cmdline_get_str("initrd_text", initrd_text, sizeof(initrd_text)));

	report((mbi->flags & want) == want, "info flags 0x%x have memory, cmdline, mods, mmap, loader name",
	       mbi->flags);
	check_memory(mbi);
	check_cmdline();
	report(strcmp(multiboot_loader_name(), "kvmrun") == 0, "boot loader name \"%s\"",
	       multiboot_loader_name());
	check_module();
	return report_summary();
}
