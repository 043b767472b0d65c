/* The Multiboot benchmark's guest (bench/multiboot.py): a small
 * kvm-unit-tests-style kernel that passes under kvmrun and under QEMU's pc
 * machine (SeaBIOS and its Multiboot option ROM) alike, so that both VMMs
 * can be timed booting the same image to the same end.
 *
 * It does what such test kernels do at start: read the Multiboot
 * information (Multiboot Specification 0.6.96 §3.3: memory sizes, memory
 * map, command line, one module), probe fw_cfg (QEMU docs/specs/
 * fw_cfg.rst), catch exceptions at CPL 0 and CPL 3, print its results on
 * COM1, and leave through QEMU's isa-debug-exit port. Unlike
 * guest/tests/multiboot.c it checks nothing one loader does differently
 * from the other: the loader name ("kvmrun" / "qemu") and the module string
 * ("initrd" / the file name) are only printed, and the memory sizes are
 * checked against each other and against the machine's RAM size with room
 * for what firmware reserves.
 *
 * Command line: ram_mib=M initrd_text=TEXT. The initrd holds TEXT and a
 * newline. The guest ends by writing report_summary()'s status V to port
 * 0xf4, so the VMM exits with (V << 1) | 1: 1 when every check passed
 * (kvmrun needs --debug-exit). If that write does not stop the VM, the
 * guest says so and exits 11 through kvmrun's own port.
 *
 * Before its summary it prints how long main()'s checks took by the TSC
 * ("multiboot_bench: main() took N us"), so the benchmark can tell the
 * guest's own time from the VMM's and the firmware's. */
#include "desc.h"
#include "io.h"
#include "libguest.h"
#include "multiboot.h"
#include "startinfo.h"
#include "tsc.h"

#define E820_RAM            1
#define MIB                 (1024 * 1024)
/* What firmware may keep of the RAM it was given: SeaBIOS reserves 128 KiB
 * at the top of RAM below 4 GiB, and neither loader maps 640 KiB-1 MiB. */
#define FIRMWARE_SLACK_MIB  4

#define FW_CFG_PORT_SEL     0x510
#define FW_CFG_PORT_DATA    0x511
#define FW_CFG_SIGNATURE    0x00
#define FW_CFG_RAM_SIZE     0x03
#define FW_CFG_NB_CPUS      0x05

static char initrd_text[64];

static void check_info(const struct multiboot_info *mbi)
{
	const uint32_t want = MULTIBOOT_INFO_MEMORY | MULTIBOOT_INFO_CMDLINE |
			      MULTIBOOT_INFO_MODS | MULTIBOOT_INFO_MEM_MAP;

	report((mbi->flags & want) == want, "info flags 0x%x have memory, cmdline, mods, mmap",
	       mbi->flags);
	report_info("boot loader name \"%s\"", multiboot_loader_name());
}

/* mem_lower / mem_upper against the memory map, and the map's RAM against
 * the machine's size. */
static void check_memory(const struct multiboot_info *mbi, uint64_t ram_mib)
{
	const struct hvm_memmap_table_entry *map;
	uint64_t ram = 0, low = 0, high = 0;
	unsigned n;

	map = startinfo_memmap(&n);
	for (unsigned i = 0; i < n; i++) {
		report_info("mmap %u: [0x%lx, 0x%lx) %s", i, map[i].addr,
			    map[i].addr + map[i].size, memmap_type_name(map[i].type));
		if (map[i].type != E820_RAM)
			continue;
		ram += map[i].size;
		if (map[i].addr == 0)
			low = map[i].size;
		if (map[i].addr == MIB)
			high = map[i].size;
	}
	report(n >= 2 && mbi->mem_lower * 1024ULL == low,
	       "mem_lower %u KiB is the map's RAM from 0 (%u entries)", mbi->mem_lower, n);
	report(mbi->mem_upper * 1024ULL == high, "mem_upper %u KiB is the map's RAM from 1 MiB",
	       mbi->mem_upper);
	report(ram <= ram_mib * MIB && ram + FIRMWARE_SLACK_MIB * MIB >= ram_mib * MIB,
	       "RAM in the map: %lu KiB of the machine's %lu MiB", ram / 1024, ram_mib);
}

/* Both loaders pass "<kernel path> <arguments>"; the library keeps the
 * arguments. */
static void check_cmdline(void)
{
	const char *full = multiboot_cmdline();
	const char *space = strchr(full, ' ');

	report_info("command line: \"%s\"", full);
	report(space && space > full && !strcmp(space + 1, cmdline_get()),
	       "a kernel name, then the arguments cmdline_get() returns");
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
	report_info("module 0 string \"%s\"", multiboot_module_string(0));
}

static uint64_t fw_cfg_read_le(uint16_t key, unsigned bytes)
{
	uint64_t v = 0;

	outw(FW_CFG_PORT_SEL, key);
	for (unsigned i = 0; i < bytes; i++)
		v |= (uint64_t)inb(FW_CFG_PORT_DATA) << (8 * i);
	return v;
}

static void check_fw_cfg(uint64_t ram_mib)
{
	uint64_t sig = fw_cfg_read_le(FW_CFG_SIGNATURE, 4);
	uint64_t cpus = fw_cfg_read_le(FW_CFG_NB_CPUS, 2);
	uint64_t ram = fw_cfg_read_le(FW_CFG_RAM_SIZE, 8);

	report(sig == 0x554d4551, "fw_cfg signature \"QEMU\" (0x%lx)", sig);
	report(cpus == 1, "fw_cfg NB_CPUS %lu", cpus);
	report(ram == ram_mib * MIB, "fw_cfg RAM_SIZE %lu MiB", ram / MIB);
}

static void do_ud2(void *arg __unused)
{
	__asm__ volatile("ud2");
}

static void do_hlt(void *arg __unused)
{
	__asm__ volatile("hlt");
}

static void check_exceptions(void)
{
	struct ex_regs regs;

	report(exception_expect(UD_VECTOR, do_ud2, NULL, &regs) && (regs.cs & 3) == 0,
	       "ud2 at CPL 0 raises #UD");
	report(exception_expect_user(UD_VECTOR, do_ud2, NULL, &regs) && (regs.cs & 3) == 3,
	       "ud2 at CPL 3 raises #UD");
	report(exception_expect_user(GP_VECTOR, do_hlt, NULL, &regs) && (regs.cs & 3) == 3,
	       "hlt at CPL 3 raises #GP");
}

int main(int argc __unused, char **argv __unused)
{
	const struct multiboot_info *mbi = multiboot_info();
	uint64_t start = rdtsc(), ticks, hz, ram_mib;
	const char *source;
	int status;

	report_prefix_push("multiboot_bench");
	report(mbi != NULL, "booted through %s, info at 0x%x", startinfo_protocol(),
	       startinfo_paddr());
	if (!mbi)
		return report_summary();
	assert(cmdline_get_u64("ram_mib", &ram_mib));
	assert(cmdline_get_str("initrd_text", initrd_text, sizeof(initrd_text)));

	check_info(mbi);
	check_memory(mbi, ram_mib);
	check_cmdline();
	check_module();
	check_fw_cfg(ram_mib);
	check_exceptions();
	ticks = rdtsc() - start;
	report_prefix_pop();
	/* ticks * 10^6 fits in 64 bits for runs up to hours at GHz rates. */
	hz = tsc_hz(&source);
	if (hz)
		printf("multiboot_bench: main() took %lu us (TSC %lu Hz from %s)\n",
		       ticks * 1000000 / hz, hz, source);
	status = report_summary();
	printf("multiboot_bench: writing %d to the debug-exit port 0x%x\n", status,
	       EXIT_PORT_QEMU);
	outl(EXIT_PORT_QEMU, (uint32_t)status);
	printf("multiboot_bench: still running after the debug-exit write\n");
	return GUEST_EXIT_ABORT;
}
