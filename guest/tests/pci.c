/* PCI and QEMU's test devices, from the guest's side.
 *
 * Always: configuration mechanism #1 (Linux's probe, a scan of bus 0, the
 * host bridge at 00:00.0), ECAM returning the same bytes, and the ELCR of
 * KVM's in-kernel PIC at 0x4d0/0x4d1.
 * With `pci-testdev` on the command line (kvmrun --pci-testdev): find
 * 1b36:0005, size its BARs, run its six tests the way kvm-unit-tests does
 * (the eventfd tests must see count 0: KVM completed the writes), and
 * check that the command register gates its memory BAR.
 * With `pc-testdev` (kvmrun --pc-testdev): the 0xe0 latch, the MMIO
 * window at 0xff000000, the flush port, and ISA IRQ line 10 raised through
 * port 0x200a arriving through the IOAPIC, edge- and level-triggered.
 * Without them, their ports must read as unmapped (all-ones). */
#include "apic.h"
#include "desc.h"
#include "io.h"
#include "libguest.h"

#define CONF1_ADDRESS   0xcf8
#define CONF1_DATA      0xcfc
#define CONF1_ENABLE    0x80000000u
#define ECAM_BASE       0xe0000000UL

#define PCI_VENDOR_ID   0x00
#define PCI_COMMAND     0x04
#define PCI_CLASS_REV   0x08
#define PCI_BAR0        0x10
#define CMD_IO          0x1
#define CMD_MEMORY      0x2

#define TESTDEV_ID      0x00051b36u   /* device << 16 | vendor */
#define HOST_BRIDGE_ID  0x29c08086u

#define ELCR_MASTER     0x4d0
#define ELCR_SLAVE      0x4d1

#define IOAPIC_BASE     0xfec00000UL
#define IOAPIC_REDTBL   0x10
#define REDTBL_LEVEL    (1u << 15)
#define IRQ_LINE        10
#define IRQ_VECTOR      0x4a
#define TESTDEV_IRQ_PORT(n) (0x2000 + (n))
#define TESTDEV_IOMEM   0xff000000UL

static uint32_t conf1_read(unsigned devfn, unsigned reg)
{
	outl(CONF1_ADDRESS, CONF1_ENABLE | devfn << 8 | (reg & 0xfc));
	return inl(CONF1_DATA);
}

static void conf1_write(unsigned devfn, unsigned reg, uint32_t value)
{
	outl(CONF1_ADDRESS, CONF1_ENABLE | devfn << 8 | (reg & 0xfc));
	outl(CONF1_DATA, value);
}

static uint32_t ecam_read(unsigned devfn, unsigned reg)
{
	return *(volatile uint32_t *)(ECAM_BASE + ((unsigned long)devfn << 12) + reg);
}

static void check_conf1_probe(void)
{
	/* Linux's pci_check_type1(): a byte to 0xcfb must not disturb the
	 * dword latch, which reads back what was written. */
	outb(0xcfb, 0x01);
	outl(CONF1_ADDRESS, CONF1_ENABLE);
	report(inl(CONF1_ADDRESS) == CONF1_ENABLE, "0xcf8 latches and reads back 0x80000000");
	outb(0xcf8, 0x00);
	report(inl(CONF1_ADDRESS) == CONF1_ENABLE, "byte writes to 0xcf8 are ignored");
	outl(CONF1_ADDRESS, 0);
	report(inl(CONF1_DATA) == 0xffffffff, "data reads all-ones with the enable bit clear");
}

/* Scan bus 0: returns the devfn of pci-testdev, or -1; counts functions. */
static int scan_bus0(unsigned *found)
{
	int testdev = -1;

	*found = 0;
	for (unsigned devfn = 0; devfn < 256; devfn++) {
		uint32_t id = conf1_read(devfn, PCI_VENDOR_ID);

		if ((id & 0xffff) == 0xffff)
			continue;
		(*found)++;
		printf("pci: 00:%02x.%u %04x:%04x class %06x\n", devfn >> 3, devfn & 7, id & 0xffff,
		       id >> 16, conf1_read(devfn, PCI_CLASS_REV) >> 8);
		if (id == TESTDEV_ID)
			testdev = (int)devfn;
	}
	return testdev;
}

static void check_host_bridge(void)
{
	bool same = true;

	report(conf1_read(0, PCI_VENDOR_ID) == HOST_BRIDGE_ID, "host bridge 8086:29c0 at 00:00.0");
	report(conf1_read(0, PCI_CLASS_REV) >> 16 == 0x0600, "host bridge class 0600");
	for (unsigned reg = 0; reg < 0x40; reg += 4)
		same &= ecam_read(0, reg) == conf1_read(0, reg);
	report(same, "ECAM at 0x%lx shows the same header as mechanism #1", ECAM_BASE);
	report(ecam_read(31 << 3, 0) == 0xffffffff, "ECAM: an empty slot reads all-ones");
	report(ecam_read(0, 0x100) == 0xffffffff, "ECAM: no extended configuration space");
}

static void check_elcr(void)
{
	uint8_t master = inb(ELCR_MASTER), slave = inb(ELCR_SLAVE);

	/* KVM's i8259 keeps IRQ 0-2 (master) and 8, 13 (slave) edge-only. */
	outb(ELCR_MASTER, 0xff);
	outb(ELCR_SLAVE, 0xff);
	report(inb(ELCR_MASTER) == 0xf8 && inb(ELCR_SLAVE) == 0xde,
	       "ELCR answers at 0x4d0/0x4d1 (in-kernel PIC)");
	outb(ELCR_MASTER, master);
	outb(ELCR_SLAVE, slave);
}

static uint32_t bar_size(unsigned devfn, unsigned bar, uint32_t *raw)
{
	unsigned reg = PCI_BAR0 + 4 * bar;
	uint32_t saved = conf1_read(devfn, reg), mask;

	conf1_write(devfn, reg, 0xffffffff);
	mask = conf1_read(devfn, reg);
	conf1_write(devfn, reg, saved);
	*raw = saved;
	mask &= (saved & 1) ? ~3u : ~15u;
	return ~mask + 1;
}

/* One register file of pci-testdev, through memory or ports. */
struct regs {
	bool io;
	unsigned long base;
};

static uint8_t rd8(const struct regs *r, unsigned off)
{
	return r->io ? inb((uint16_t)(r->base + off)) : *(volatile uint8_t *)(r->base + off);
}

static uint32_t rd32(const struct regs *r, unsigned off)
{
	return r->io ? inl((uint16_t)(r->base + off)) : *(volatile uint32_t *)(r->base + off);
}

static void wr8(const struct regs *r, unsigned off, uint8_t v)
{
	if (r->io)
		outb((uint16_t)(r->base + off), v);
	else
		*(volatile uint8_t *)(r->base + off) = v;
}

/* kvm-unit-tests' pci_testdev_one(): select test n, write its value 16
 * times at its offset, and read the count. Returns the count, or -1 when
 * no such test is armed. */
static int testdev_run(const struct regs *r, unsigned n, char *name, unsigned name_size)
{
	uint32_t off;
	uint8_t data;
	unsigned i;

	wr8(r, 0, (uint8_t)n);
	if (rd32(r, 12) != 0 || rd8(r, 1) != 1)
		return -1;
	data = rd8(r, 8);
	off = rd32(r, 4);
	for (i = 0; i < 16; i++)
		wr8(r, off, data);
	for (i = 0; i + 1 < name_size; i++) {
		name[i] = (char)rd8(r, 16 + i);
		if (!name[i])
			break;
	}
	name[i] = '\0';
	return (int)rd32(r, 12);
}

static void check_testdev_tests(const struct regs *r)
{
	char name[40];
	unsigned n;

	for (n = 0;; n++) {
		int count = testdev_run(r, n, name, sizeof(name));

		if (count < 0)
			break;
		/* "no-eventfd" writes reach the VMM; the others end in KVM. */
		report(count == (n == 0 ? 16 : 0), "%s: count %d", name, count);
	}
	report(n == 3, "%s BAR: 3 tests", r->io ? "I/O" : "memory");
}

static void check_pci_testdev(int devfn)
{
	uint32_t bar0, bar1, size0 = bar_size((unsigned)devfn, 0, &bar0);
	uint32_t size1 = bar_size((unsigned)devfn, 1, &bar1);
	struct regs mem = { false, bar0 & ~15u }, io = { true, bar1 & ~3u };
	uint32_t command = conf1_read((unsigned)devfn, PCI_COMMAND) & 0xffff;

	report(!(bar0 & 1) && size0 == 4096, "BAR0: 4 KiB memory at 0x%x", bar0 & ~15u);
	report((bar1 & 1) && size1 == 256, "BAR1: 256 ports at 0x%x", bar1 & ~3u);
	report(conf1_read((unsigned)devfn, PCI_BAR0) == bar0, "BAR0 restored after sizing");
	report((command & (CMD_IO | CMD_MEMORY)) == (CMD_IO | CMD_MEMORY),
	       "I/O and memory decoding enabled");
	check_testdev_tests(&mem);
	check_testdev_tests(&io);

	wr8(&mem, 0, 0);
	conf1_write((unsigned)devfn, PCI_COMMAND, command & ~CMD_MEMORY);
	report(rd8(&mem, 1) == 0xff, "memory BAR reads all-ones with decoding off");
	report(rd8(&io, 1) == 1, "I/O BAR still decodes");
	conf1_write((unsigned)devfn, PCI_COMMAND, command);
	report(rd8(&mem, 1) == 1, "memory BAR decodes again");
	wr8(&mem, 0, 0xff);   /* leave no test armed */
}

static volatile unsigned interrupts;
static bool lower_in_handler_after;   /* level test: lower the line on the 2nd interrupt */

static void irq_handler(struct ex_regs *regs __unused)
{
	interrupts++;
	if (lower_in_handler_after && interrupts >= 2)
		outb(TESTDEV_IRQ_PORT(IRQ_LINE), 0);
	apic_eoi();
}

static void ioapic_write(unsigned reg, uint32_t value)
{
	*(volatile uint32_t *)(IOAPIC_BASE) = reg;
	*(volatile uint32_t *)(IOAPIC_BASE + 0x10) = value;
}

static void check_pc_testdev_irq(void)
{
	unsigned pin = IRQ_LINE;

	apic_enable();
	idt_set_handler(IRQ_VECTOR, irq_handler);
	/* Fixed delivery to this CPU, active high, edge-triggered. */
	ioapic_write(IOAPIC_REDTBL + 2 * pin + 1, apic_id() << 24);
	ioapic_write(IOAPIC_REDTBL + 2 * pin, IRQ_VECTOR);
	outb(TESTDEV_IRQ_PORT(pin), 1);
	while (interrupts < 1)
		safe_halt();
	outb(TESTDEV_IRQ_PORT(pin), 0);
	outb(TESTDEV_IRQ_PORT(pin), 0x80);   /* any non-zero value raises the line */
	while (interrupts < 2)
		safe_halt();
	outb(TESTDEV_IRQ_PORT(pin), 0);
	report(interrupts == 2, "edge: two rising edges on ISA line %u, two interrupts", pin);

	/* Level-triggered: the first EOI finds the line still high and the
	 * IOAPIC delivers again; the second handler lowers it. */
	interrupts = 0;
	lower_in_handler_after = true;
	ioapic_write(IOAPIC_REDTBL + 2 * pin, IRQ_VECTOR | REDTBL_LEVEL);
	outb(TESTDEV_IRQ_PORT(pin), 1);
	while (interrupts < 2)
		safe_halt();
	report(interrupts == 2, "level: redelivered while high, then quiet (%u interrupts)",
	       interrupts);
	ioapic_write(IOAPIC_REDTBL + 2 * pin, 1u << 16);   /* masked */
}

static uint8_t flush_page_buf[4096] __aligned(4096);

static void check_pc_testdev(void)
{
	volatile uint32_t *iomem = (volatile uint32_t *)TESTDEV_IOMEM;

	outl(0xe0, 0x11223344);
	outb(0xe1, 0xaa);
	report(inl(0xe0) == 0x1122aa44 && inb(0xe2) == 0x22, "0xe0 latch by byte lane");
	report(inw(0xea) == 0x1122, "0xe8 is the same latch");
	iomem[0x10] = 0xcafef00d;
	report(iomem[0x10] == 0xcafef00d && iomem[0x11] == 0, "MMIO window at 0x%lx stores",
	       TESTDEV_IOMEM);
	memset(flush_page_buf, 0x5a, sizeof(flush_page_buf));
	outl(0xe4, (uint32_t)(unsigned long)flush_page_buf);
	report(flush_page_buf[0] == 0x5a && flush_page_buf[4095] == 0x5a,
	       "page contents survive a flush");
	check_pc_testdev_irq();
}

int main(int argc __unused, char **argv __unused)
{
	bool want_pci_testdev = cmdline_has("pci-testdev"), want_pc_testdev = cmdline_has("pc-testdev");
	unsigned found;
	int testdev;

	report_prefix_push("pci");
	check_conf1_probe();
	testdev = scan_bus0(&found);
	report(found == (want_pci_testdev ? 2u : 1u), "bus 0: %u functions", found);
	check_host_bridge();
	check_elcr();
	report_prefix_pop();

	report_prefix_push("pci-testdev");
	if (want_pci_testdev) {
		report(testdev >= 0, "found at 00:%02x.%u", testdev >> 3, testdev & 7);
		if (testdev >= 0)
			check_pci_testdev(testdev);
	} else {
		report(testdev < 0, "absent without --pci-testdev");
	}
	report_prefix_pop();

	report_prefix_push("pc-testdev");
	if (want_pc_testdev)
		check_pc_testdev();
	else
		report(inl(0xe0) == 0xffffffff && inb(TESTDEV_IRQ_PORT(0)) == 0xff,
		       "ports unmapped without --pc-testdev");
	report_prefix_pop();
	return report_summary();
}
