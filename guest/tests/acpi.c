/* ACPI from the guest's side, the way an OS finds and trusts it (ACPI 6.4
 * §5.2): scan 0xe0000-0xfffff for the RSDP, check both of its checksums,
 * follow the RSDT and the XSDT and check every table's checksum; then read
 * what an OS would use:
 *
 *   MADT  one enabled local APIC per vCPU (cpus=N), the I/O APIC
 *   MCFG  the ECAM window, which must show the host bridge at 00:00.0
 *   FADT  the DSDT and FACS pointers, the PM timer, PM1a_CNT, the reset
 *         register; \_S5's SLP_TYP is read out of the DSDT's AML
 *
 * The PM timer is read against the TSC for about 50 ms: it must advance at
 * 3.579545 MHz within 5%. Then, if everything passed, the guest powers off
 * the way Linux does (SLP_TYP | SLP_EN into PM1a_CNT) and kvmrun must exit
 * 0; with `reset` on the command line it resets through the FADT's reset
 * register instead. If the VM is still running after that, the guest exits
 * 11. With `no-acpi` (kvmrun --no-acpi) there must be no RSDP and no PM
 * registers.
 *
 * Everything runs at CPL 0 (emulated here): the scan is 8192 compares and
 * the tables are a few KiB, a fraction of a second. */
#include "io.h"
#include "libguest.h"
#include "tsc.h"

#define BIOS_AREA_START  0xe0000UL
#define BIOS_AREA_END    0x100000UL
#define ACPI_HEADER_LEN  36
#define IOAPIC_BASE      0xfec00000UL
#define HOST_BRIDGE_ID   0x29c08086u    /* device << 16 | vendor */
#define PM_TIMER_HZ      3579545ULL
#define SLP_EN           (1u << 13)
#define MAX_TABLES       16

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t get32(const uint8_t *p) { return get16(p) | (uint32_t)get16(p + 2) << 16; }
static uint64_t get64(const uint8_t *p) { return get32(p) | (uint64_t)get32(p + 4) << 32; }

static uint8_t checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	while (len--)
		sum = (uint8_t)(sum + *p++);
	return sum;
}

static const uint8_t *phys(uint64_t addr)
{
	return (const uint8_t *)(uintptr_t)addr;
}

/* §5.2.5.1: on a 16-byte boundary in the BIOS read-only area. */
static const uint8_t *rsdp_find(void)
{
	for (uintptr_t a = BIOS_AREA_START; a < BIOS_AREA_END; a += 16) {
		const uint8_t *p = phys(a);

		if (!memcmp(p, "RSD PTR ", 8) && checksum(p, 20) == 0)
			return p;
	}
	return NULL;
}

static const uint8_t *tables[MAX_TABLES];
static unsigned nr_tables;

/* A table the guest may trust: below 4 GiB (mapped), a sane length, and
 * a checksum of 0 over that length. */
static bool table_valid(uint64_t addr, const char *via)
{
	const uint8_t *t = phys(addr);
	uint32_t len;

	if (!addr || addr >= (1ULL << 32) - ACPI_HEADER_LEN) {
		report(false, "%s entry 0x%lx is not a usable address", via, addr);
		return false;
	}
	len = get32(t + 4);
	if (len < ACPI_HEADER_LEN || len > (1u << 20)) {
		report(false, "%s: table at 0x%lx has length %u", via, addr, len);
		return false;
	}
	report(checksum(t, len) == 0, "%.4s at 0x%lx, %u bytes, revision %u: checksum", t, addr,
	       len, t[8]);
	return checksum(t, len) == 0;
}

static const uint8_t *table_find(const char *sig)
{
	for (unsigned i = 0; i < nr_tables; i++)
		if (!memcmp(tables[i], sig, 4))
			return tables[i];
	return NULL;
}

static bool check_root(const uint8_t *rsdp)
{
	const uint8_t *rsdt, *xsdt;
	unsigned nr, nx;
	bool same = true;

	report(rsdp[15] == 2 && get32(rsdp + 20) == 36, "RSDP revision %u, length %u", rsdp[15],
	       get32(rsdp + 20));
	report(checksum(rsdp, 36) == 0, "RSDP extended checksum");
	if (!table_valid(get32(rsdp + 16), "RSDP RsdtAddress") ||
	    !table_valid(get64(rsdp + 24), "RSDP XsdtAddress"))
		return false;
	rsdt = phys(get32(rsdp + 16));
	xsdt = phys(get64(rsdp + 24));
	report(!memcmp(rsdt, "RSDT", 4) && !memcmp(xsdt, "XSDT", 4), "RSDT and XSDT signatures");
	nr = (get32(rsdt + 4) - ACPI_HEADER_LEN) / 4;
	nx = (get32(xsdt + 4) - ACPI_HEADER_LEN) / 8;
	for (unsigned i = 0; i < nx && i < nr; i++)
		same &= get32(rsdt + ACPI_HEADER_LEN + 4 * i) == get64(xsdt + ACPI_HEADER_LEN + 8 * i);
	report(same && nr == nx, "RSDT and XSDT list the same %u tables", nx);
	for (unsigned i = 0; i < nx && nr_tables < MAX_TABLES; i++) {
		uint64_t addr = get64(xsdt + ACPI_HEADER_LEN + 8 * i);

		if (table_valid(addr, "XSDT"))
			tables[nr_tables++] = phys(addr);
	}
	return true;
}

static void check_madt(uint64_t cpus)
{
	const uint8_t *madt = table_find("APIC");
	const uint8_t *e, *end;
	unsigned lapics = 0, ioapics = 0;
	bool ioapic_ok = false;

	if (!madt) {
		report(false, "MADT present");
		return;
	}
	e = madt + 44;
	end = madt + get32(madt + 4);
	while (e + 2 <= end && e[1] >= 2 && e + e[1] <= end) {
		if (e[0] == 0 && (get32(e + 4) & 1))
			lapics++;
		if (e[0] == 1) {
			ioapics++;
			ioapic_ok = get32(e + 4) == IOAPIC_BASE && get32(e + 8) == 0;
		}
		e += e[1];
	}
	report(e == end, "MADT entries fill the table exactly");
	report(lapics == cpus, "MADT: %u enabled local APICs, cpus=%lu", lapics, cpus);
	report(ioapics == 1 && ioapic_ok, "MADT: one I/O APIC at 0x%lx, GSI base 0", IOAPIC_BASE);
}

static void check_mcfg(void)
{
	const uint8_t *mcfg = table_find("MCFG");
	uint64_t base;

	if (!mcfg || get32(mcfg + 4) < 60) {
		report(false, "MCFG with an allocation");
		return;
	}
	base = get64(mcfg + 44);
	report(get16(mcfg + 52) == 0 && mcfg[54] == 0 && mcfg[55] == 255,
	       "MCFG: ECAM at 0x%lx, segment 0, buses %u-%u", base, mcfg[54], mcfg[55]);
	report(*(volatile const uint32_t *)(uintptr_t)base == HOST_BRIDGE_ID,
	       "ECAM from the MCFG reads the host bridge at 00:00.0");
}

/* Name (\_S5, Package () { SLP_TYPa, ... }) in the AML: what small OSes
 * look for instead of running an interpreter. Returns -1 if absent. */
static int dsdt_s5(const uint8_t *dsdt)
{
	const uint8_t *aml = dsdt + ACPI_HEADER_LEN, *end = dsdt + get32(dsdt + 4);

	for (const uint8_t *p = aml; p + 10 < end; p++) {
		const uint8_t *q;

		if (memcmp(p, "_S5_", 4) || p[4] != 0x12)   /* PackageOp */
			continue;
		if (p[-1] != 0x08 && !(p[-1] == '\\' && p[-2] == 0x08))
			continue;
		q = p + 5;
		q += 1 + (*q >> 6);                         /* PkgLength */
		q++;                                        /* NumElements */
		if (*q == 0x0a)                             /* BytePrefix */
			return q[1];
		if (*q <= 1)                                /* ZeroOp, OneOp */
			return *q;
		return -1;
	}
	return -1;
}

static bool dsdt_has(const uint8_t *dsdt, const uint8_t *bytes, size_t len)
{
	const uint8_t *end = dsdt + get32(dsdt + 4);

	for (const uint8_t *p = dsdt + ACPI_HEADER_LEN; p + len <= end; p++)
		if (!memcmp(p, bytes, len))
			return true;
	return false;
}

static void check_pm_timer(uint16_t port)
{
	const char *source;
	uint64_t hz = tsc_hz(&source), tsc0, tsc1, ticks, expected;
	uint32_t t0, t1, prev;
	bool monotonic = true;

	prev = inl(port);
	for (unsigned i = 0; i < 20; i++) {
		uint32_t now = inl(port);

		monotonic &= now >= prev;
		prev = now;
	}
	report(monotonic, "PM timer: 20 reads never go back");
	if (!hz) {
		report_skip("PM timer rate: TSC frequency unknown");
		return;
	}
	t0 = inl(port);
	tsc0 = rdtsc();
	while (rdtsc() - tsc0 < hz / 20)                    /* ~50 ms */
		cpu_relax();
	t1 = inl(port);
	tsc1 = rdtsc();
	ticks = (uint32_t)(t1 - t0);
	expected = (tsc1 - tsc0) * 1000 / (hz / 1000) * PM_TIMER_HZ / 1000000;
	report(ticks * 100 >= expected * 95 && ticks * 100 <= expected * 105,
	       "PM timer: %lu ticks where the TSC (%s, %lu Hz) expects %lu", ticks, source, hz,
	       expected);
}

int main(int argc, char **argv)
{
	const uint8_t *rsdp = rsdp_find(), *fadt, *dsdt;
	uint64_t cpus = 1;
	uint16_t pm1a_cnt, pm_tmr, reset_port;
	uint8_t reset_value;
	int slp_typ;

	(void)argc;
	(void)argv;
	cmdline_get_u64("cpus", &cpus);
	report_prefix_push("acpi");
	if (cmdline_has("no-acpi")) {
		report(!rsdp, "no RSDP in 0xe0000-0xfffff");
		report(inl(0xb008) == 0xffffffffu, "PM timer port 0xb008 unmapped");
		return report_summary();
	}
	if (!rsdp) {
		report(false, "RSDP found in 0xe0000-0xfffff");
		return report_summary();
	}
	report(true, "RSDP at 0x%lx", (uint64_t)(uintptr_t)rsdp);
	if (!check_root(rsdp))
		return report_summary();
	check_madt(cpus);
	check_mcfg();

	fadt = table_find("FACP");
	if (!fadt) {
		report(false, "FADT present");
		return report_summary();
	}
	dsdt = phys(get64(fadt + 140));
	report(table_valid(get64(fadt + 140), "FADT X_DSDT") && !memcmp(dsdt, "DSDT", 4),
	       "DSDT through the FADT");
	report(get32(fadt + 36) % 64 == 0 && !memcmp(phys(get32(fadt + 36)), "FACS", 4),
	       "FACS 64-byte aligned at 0x%x", get32(fadt + 36));
	report(dsdt_has(dsdt, (const uint8_t *)"\x0c\x41\xd0\x05\x01", 5),
	       "DSDT declares EisaId (\"PNP0501\") (COM1)");
	{
		/* virtio=N: kvmrun lists its N virtio-mmio windows as LNRO0005
		 * devices (and then keeps them off the command line). */
		uint64_t want_virtio;

		if (cmdline_get_u64("virtio", &want_virtio)) {
			unsigned found = 0;
			const uint8_t *end = dsdt + get32(dsdt + 4);

			for (const uint8_t *p = dsdt + ACPI_HEADER_LEN; p + 8 <= end; p++)
				found += !memcmp(p, "LNRO0005", 8);
			report(found == want_virtio, "DSDT lists %u virtio-mmio devices, virtio=%lu",
			       found, want_virtio);
			char word[64];

			report(!cmdline_get_str("virtio_mmio.device", word, sizeof(word)),
			       "no virtio_mmio.device= words on the command line with ACPI on");
		}
	}
	slp_typ = dsdt_s5(dsdt);
	report(slp_typ >= 0 && slp_typ < 8, "\\_S5: SLP_TYP %d", slp_typ);

	pm1a_cnt = (uint16_t)get32(fadt + 64);
	pm_tmr = (uint16_t)get32(fadt + 76);
	report(get32(fadt + 112) & (1u << 8), "FADT: 32-bit PM timer (TMR_VAL_EXT)");
	report(inw(pm1a_cnt) & 1, "PM1a_CNT 0x%x: SCI_EN set (ACPI mode)", pm1a_cnt);
	check_pm_timer(pm_tmr);

	/* RESET_REG: a byte in I/O space. */
	reset_port = (uint16_t)get64(fadt + 120);
	reset_value = fadt[128];
	report(fadt[116] == 1 && fadt[117] == 8 && (get32(fadt + 112) & (1u << 10)),
	       "reset register: port 0x%x, value 0x%x", reset_port, reset_value);

	if (report_summary() != GUEST_EXIT_PASS)
		return GUEST_EXIT_FAIL;
	if (cmdline_has("reset")) {
		printf("acpi: resetting through the reset register\n");
		outb(reset_port, reset_value);
	} else {
		printf("acpi: powering off through PM1a_CNT\n");
		outw(pm1a_cnt, (uint16_t)((unsigned)slp_typ << 10 | SLP_EN));
	}
	printf("acpi: still running after the write\n");
	return GUEST_EXIT_ABORT;
}
