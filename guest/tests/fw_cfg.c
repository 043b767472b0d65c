/* QEMU's fw_cfg device as a firmware or test kernel uses it, and the
 * isa-debug-exit port (QEMU docs/specs/fw_cfg.rst; hw/misc/debugexit.c).
 *
 * Command line: cpus=N ram_mib=M [debug_exit=V]. The items must describe
 * this VM: NB_CPUS = N, RAM_SIZE = M MiB, etc/e820 = the PVH memory map
 * the guest was given, CMDLINE_DATA = this command line. With debug_exit=V
 * and every check passed, the guest ends by writing V to port 0xf4, so the
 * VMM exits with ((V << 1) | 1) & 0xff; if that write does not stop the VM
 * (kvmrun without --debug-exit), the guest says so and exits 11.
 *
 * Two checks are kvmrun's promises, not QEMU's: etc/e820 equals the PVH
 * map (under QEMU microvm it lists QEMU's RAM blocks and qboot builds the
 * PVH map with more entries) and KERNEL_DATA is the image file as given.
 * Everything else passes under QEMU as well.
 *
 * Port I/O at CPL 0: every access is an exit, and this test makes a few
 * hundred of them, a small fraction of a second. */
#include "io.h"
#include "libguest.h"
#include "startinfo.h"

#define FW_CFG_PORT_SEL   0x510
#define FW_CFG_PORT_DATA  0x511
#define FW_CFG_PORT_DMA   0x514

#define FW_CFG_SIGNATURE    0x00
#define FW_CFG_ID           0x01
#define FW_CFG_RAM_SIZE     0x03
#define FW_CFG_NB_CPUS      0x05
#define FW_CFG_KERNEL_SIZE  0x08
#define FW_CFG_MAX_CPUS     0x0f
#define FW_CFG_KERNEL_DATA  0x11
#define FW_CFG_CMDLINE_SIZE 0x14
#define FW_CFG_CMDLINE_DATA 0x15
#define FW_CFG_FILE_DIR     0x19

#define DMA_CTL_ERROR   0x01
#define DMA_CTL_READ    0x02
#define DMA_CTL_SKIP    0x04
#define DMA_CTL_SELECT  0x08
#define DMA_CTL_WRITE   0x10

#define E820_ENTRY_SIZE 20    /* le64 address, le64 length, le32 type */
#define MAX_E820        16
#define DEVICE_HOLE     0xd0000000ULL  /* kvmrun's MMIO hole: no RAM */

/* FWCfgDmaAccess, big-endian fields. Static data is identity-mapped, so
 * its address is its physical address. */
struct fw_cfg_dma_access {
	uint32_t control;
	uint32_t length;
	uint64_t address;
} __attribute__((packed));

static struct fw_cfg_dma_access dma_access __aligned(16);
static uint8_t e820_buf[MAX_E820 * E820_ENTRY_SIZE];
static char cmdline_buf[1024];

static void fw_cfg_select(uint16_t key)
{
	outw(FW_CFG_PORT_SEL, key);
}

static void fw_cfg_read(void *buf, size_t len)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = inb(FW_CFG_PORT_DATA);
}

static uint64_t fw_cfg_read_le(uint16_t key, unsigned bytes)
{
	uint8_t b[8];
	uint64_t v = 0;

	fw_cfg_select(key);
	fw_cfg_read(b, bytes);
	for (unsigned i = 0; i < bytes; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

/* Run one DMA operation; returns the control word the device left. The
 * address register is big-endian: high half at 0x514, then the low half at
 * 0x518, which starts the operation. */
static uint32_t fw_cfg_dma(uint32_t control, uint64_t address, uint32_t length)
{
	uint64_t desc = (uintptr_t)&dma_access;

	WRITE_ONCE(dma_access.control, __builtin_bswap32(control));
	WRITE_ONCE(dma_access.length, __builtin_bswap32(length));
	WRITE_ONCE(dma_access.address, __builtin_bswap64(address));
	barrier();
	outl(FW_CFG_PORT_DMA, __builtin_bswap32((uint32_t)(desc >> 32)));
	outl(FW_CFG_PORT_DMA + 4, __builtin_bswap32((uint32_t)desc));
	barrier();
	return __builtin_bswap32(READ_ONCE(dma_access.control));
}

static uint32_t fw_cfg_dma_read(uint16_t key, void *buf, uint32_t length)
{
	return fw_cfg_dma((uint32_t)key << 16 | DMA_CTL_SELECT | DMA_CTL_READ, (uintptr_t)buf,
			  length);
}

/* The directory entry named `name`: its key, and its size in *size. */
static uint16_t fw_cfg_find_file(const char *name, uint32_t *size)
{
	uint8_t count_be[4], entry[64];
	uint32_t count;

	fw_cfg_select(FW_CFG_FILE_DIR);
	fw_cfg_read(count_be, 4);
	count = (uint32_t)count_be[0] << 24 | count_be[1] << 16 | count_be[2] << 8 | count_be[3];
	report_info("file directory: %u entries", count);
	for (uint32_t i = 0; i < count && i < 64; i++) {
		fw_cfg_read(entry, sizeof(entry));
		entry[63] = '\0';
		if (!strcmp((const char *)entry + 8, name)) {
			*size = (uint32_t)entry[0] << 24 | entry[1] << 16 | entry[2] << 8 | entry[3];
			return (uint16_t)(entry[4] << 8 | entry[5]);
		}
	}
	return 0;
}

static uint64_t le_at(const uint8_t *p, unsigned bytes)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < bytes; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void check_signatures(void)
{
	char sig[5] = { 0 };
	uint32_t half;

	fw_cfg_select(FW_CFG_SIGNATURE);
	fw_cfg_read(sig, 2);
	/* Selecting again starts the item over. */
	fw_cfg_select(FW_CFG_SIGNATURE);
	fw_cfg_read(sig, 4);
	report(!strcmp(sig, "QEMU"), "signature \"%s\"", sig);
	half = inl(FW_CFG_PORT_DMA);
	memcpy(sig, &half, 4);
	report(!strcmp(sig, "QEMU"), "DMA register reads \"%s\"", sig);
	half = inl(FW_CFG_PORT_DMA + 4);
	memcpy(sig, &half, 4);
	report(!strcmp(sig, " CFG"), "DMA register low half reads \"%s\"", sig);
	report(fw_cfg_read_le(FW_CFG_ID, 4) == 3, "ID: traditional and DMA interfaces");
	report(fw_cfg_read_le(0x1234, 4) == 0, "an unknown key reads as zeros");
}

static void check_machine(void)
{
	uint64_t cpus, ram_mib, nb, max, ram;

	nb = fw_cfg_read_le(FW_CFG_NB_CPUS, 2);
	max = fw_cfg_read_le(FW_CFG_MAX_CPUS, 2);
	ram = fw_cfg_read_le(FW_CFG_RAM_SIZE, 8);
	if (cmdline_get_u64("cpus", &cpus))
		report(nb == cpus && max == cpus, "NB_CPUS %lu, MAX_CPUS %lu, cpus=%lu", nb, max,
		       cpus);
	else
		report_skip("no cpus=N on the command line (NB_CPUS %lu)", nb);
	if (cmdline_get_u64("ram_mib", &ram_mib))
		report(ram == ram_mib << 20, "RAM_SIZE %lu, ram_mib=%lu", ram, ram_mib);
	else
		report_skip("no ram_mib=M on the command line (RAM_SIZE %lu)", ram);
}

/* etc/e820 read by DMA, against the PVH memory map from start of day. */
static void check_e820(void)
{
	const struct hvm_memmap_table_entry *map;
	unsigned count, n;
	uint32_t size = 0;
	uint16_t key = fw_cfg_find_file("etc/e820", &size);
	bool same = true;

	report(key >= 0x20, "etc/e820 in the file directory at key 0x%x, %u bytes", key, size);
	if (key < 0x20 || size > sizeof(e820_buf) || size % E820_ENTRY_SIZE)
		return;
	report(fw_cfg_dma_read(key, e820_buf, size) == 0, "etc/e820 read by DMA");
	map = startinfo_memmap(&count);
	n = size / E820_ENTRY_SIZE;
	for (unsigned i = 0; i < n && i < count; i++) {
		const uint8_t *e = e820_buf + i * E820_ENTRY_SIZE;

		report_info("e820 %u: 0x%lx +0x%lx type %lu", i, le_at(e, 8), le_at(e + 8, 8),
			    le_at(e + 16, 4));
		same &= le_at(e, 8) == map[i].addr && le_at(e + 8, 8) == map[i].size &&
			le_at(e + 16, 4) == map[i].type;
	}
	report(same && n == count, "etc/e820 (%u entries) equals the PVH memory map (%u)", n,
	       count);
}

static void check_images(void)
{
	const char *cmdline = cmdline_get();
	uint64_t size = fw_cfg_read_le(FW_CFG_CMDLINE_SIZE, 4);
	uint8_t magic[4] = { 0 };
	bool ok;

	/* Each transfer happens before its report(): the arguments that
	 * print the buffer must see the data it received. */
	report(size == strlen(cmdline) + 1, "CMDLINE_SIZE %lu counts the NUL", size);
	if (size <= sizeof(cmdline_buf)) {
		ok = fw_cfg_dma_read(FW_CFG_CMDLINE_DATA, cmdline_buf, (uint32_t)size) == 0;
		report(ok && !strcmp(cmdline_buf, cmdline), "CMDLINE_DATA \"%s\"", cmdline_buf);
	}
	size = fw_cfg_read_le(FW_CFG_KERNEL_SIZE, 4);
	ok = fw_cfg_dma_read(FW_CFG_KERNEL_DATA, magic, 4) == 0;
	report(ok && size > 4 && !memcmp(magic, "\x7f" "ELF", 4),
	       "KERNEL_DATA: %lu bytes of this ELF image", size);
}

static void check_dma_errors(void)
{
	static uint8_t buf[8];
	uint32_t ctl;
	bool ok;

	/* Past the item's end a read fills zeros. */
	memset(buf, 0xaa, sizeof(buf));
	ok = fw_cfg_dma_read(FW_CFG_SIGNATURE, buf, 8) == 0;
	report(ok && !memcmp(buf, "QEMU\0\0\0\0", 8), "a DMA read past the end fills zeros");
	/* Skip, then read the rest. */
	ok = fw_cfg_dma((uint32_t)FW_CFG_SIGNATURE << 16 | DMA_CTL_SELECT | DMA_CTL_SKIP, 0, 2) == 0;
	ok &= fw_cfg_dma(DMA_CTL_READ, (uintptr_t)buf, 2) == 0;
	report(ok && !memcmp(buf, "MU", 2), "DMA skip 2, then read \"%c%c\"", buf[0], buf[1]);
	ctl = fw_cfg_dma((uint32_t)FW_CFG_SIGNATURE << 16 | DMA_CTL_SELECT | DMA_CTL_READ,
			 DEVICE_HOLE, 4);
	report(ctl == DMA_CTL_ERROR, "DMA into the device hole: control 0x%x", ctl);
	ctl = fw_cfg_dma((uint32_t)FW_CFG_SIGNATURE << 16 | DMA_CTL_SELECT | DMA_CTL_READ,
			 ~0ULL - 1, 4);
	report(ctl == DMA_CTL_ERROR, "DMA range wrapping around 2^64: control 0x%x", ctl);
	ctl = fw_cfg_dma((uint32_t)FW_CFG_SIGNATURE << 16 | DMA_CTL_SELECT | DMA_CTL_WRITE,
			 (uintptr_t)buf, 4);
	report(ctl == DMA_CTL_ERROR, "DMA write refused: control 0x%x", ctl);
}

int main(int argc __unused, char **argv __unused)
{
	uint64_t code;
	int status;

	report_prefix_push("fw_cfg");
	check_signatures();
	check_machine();
	check_e820();
	check_images();
	check_dma_errors();
	report_prefix_pop();
	status = report_summary();
	if (status != GUEST_EXIT_PASS || !cmdline_get_u64("debug_exit", &code))
		return status;
	printf("fw_cfg: writing %lu to the debug-exit port 0x%x\n", code, EXIT_PORT_QEMU);
	outl(EXIT_PORT_QEMU, (uint32_t)code);
	printf("fw_cfg: still running after the debug-exit write\n");
	return GUEST_EXIT_ABORT;
}
