#include "multiboot.h"

#include "cmdline.h"
#include "libguest.h"

/* Copies of the boot information, filled once by multiboot_init() on the
 * BSP before anything else runs. */
static struct multiboot_info info;
static bool booted;
static char mb_cmdline[CMDLINE_MAX];
static char loader_name[MULTIBOOT_STRING_MAX];
static struct multiboot_module modules[MULTIBOOT_MODULES_MAX];
static char module_strings[MULTIBOOT_MODULES_MAX][MULTIBOOT_STRING_MAX];
static unsigned module_count;

/* Copy the NUL-terminated string at `paddr` (identity-mapped; all Multiboot
 * addresses are 32-bit), truncated to size - 1 bytes. */
static void string_copy(char *dst, size_t size, uint32_t paddr)
{
	const char *src = (const char *)(uintptr_t)paddr;
	size_t len = paddr ? strnlen(src, size - 1) : 0;

	memcpy(dst, src, len);
	dst[len] = '\0';
}

/* Walk the map by each entry's size field (§3.3), within mmap_length and
 * at most `max` entries; an entry too small to hold the fields ends it. */
static unsigned memmap_copy(struct hvm_memmap_table_entry *memmap, unsigned max)
{
	uint64_t pos = 0;
	unsigned n = 0;

	if (!(info.flags & MULTIBOOT_INFO_MEM_MAP))
		return 0;
	while (n < max && pos + sizeof(struct multiboot_mmap_entry) <= info.mmap_length) {
		const struct multiboot_mmap_entry *e =
			(const void *)(uintptr_t)(info.mmap_addr + pos);

		if (e->size < sizeof(*e) - sizeof(e->size))
			break;
		memmap[n++] = (struct hvm_memmap_table_entry){
			.addr = e->base_addr, .size = e->length, .type = e->type,
		};
		pos += (uint64_t)e->size + sizeof(e->size);
	}
	return n;
}

unsigned multiboot_init(uint32_t paddr, struct hvm_memmap_table_entry *memmap, unsigned max)
{
	const char *args;

	if (paddr == 0)
		guest_abort("Multiboot magic in EAX but EBX (multiboot_info) is 0");
	memcpy(&info, (const void *)(uintptr_t)paddr, sizeof(info));
	booted = true;
	if (info.flags & MULTIBOOT_INFO_CMDLINE)
		string_copy(mb_cmdline, sizeof(mb_cmdline), info.cmdline);
	if (info.flags & MULTIBOOT_INFO_LOADER_NAME)
		string_copy(loader_name, sizeof(loader_name), info.boot_loader_name);
	if ((info.flags & MULTIBOOT_INFO_MODS) && info.mods_addr) {
		module_count = info.mods_count < MULTIBOOT_MODULES_MAX ?
			       info.mods_count : MULTIBOOT_MODULES_MAX;
		memcpy(modules, (const void *)(uintptr_t)info.mods_addr,
		       module_count * sizeof(modules[0]));
		for (unsigned i = 0; i < module_count; i++)
			string_copy(module_strings[i], MULTIBOOT_STRING_MAX, modules[i].string);
	}
	/* The first word is the kernel's name (argv[0] under GRUB and QEMU);
	 * the library's command line is the rest, as under PVH. */
	args = mb_cmdline;
	while (*args && *args != ' ')
		args++;
	while (*args == ' ')
		args++;
	cmdline_init(args);
	return memmap_copy(memmap, max);
}

const struct multiboot_info *multiboot_info(void)
{
	return booted ? &info : NULL;
}

const char *multiboot_cmdline(void)
{
	return mb_cmdline;
}

const char *multiboot_loader_name(void)
{
	return loader_name;
}

const struct multiboot_module *multiboot_modules(unsigned *count)
{
	*count = module_count;
	return modules;
}

const char *multiboot_module_string(unsigned index)
{
	return index < module_count ? module_strings[index] : "";
}
