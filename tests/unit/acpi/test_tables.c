/* The ACPI tables as a guest reads them: find the RSDP in 0xe0000-0xfffff,
 * check every checksum, follow RSDT and XSDT, and read each table by the
 * spec's byte offsets (not through src/acpi/tables.h, so a wrong structure
 * layout there would show). The DSDT is parsed as AML by a small walker
 * that checks every PkgLength, and the fixed hardware the FADT points at
 * is driven through real buses: the PM1 control register powers off, the
 * reset register resets. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "acpi/acpi.h"
#include "boot/boot.h"
#include "bus.h"
#include "devices/acpi_pm.h"
#include "devices/i8042.h"
#include "layout.h"
#include "memory.h"

#define TEST_RAM (16ULL << 20)

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t get32(const uint8_t *p) { return get16(p) | (uint32_t)get16(p + 2) << 16; }
static uint64_t get64(const uint8_t *p) { return get32(p) | (uint64_t)get32(p + 4) << 32; }

static uint8_t sum(const uint8_t *p, size_t len)
{
	uint8_t s = 0;

	while (len--)
		s = (uint8_t)(s + *p++);
	return s;
}

static const uint8_t *gpa(const struct guest_memory *mem, uint64_t addr, uint64_t len)
{
	const uint8_t *p = guest_memory_ptr(mem, addr, len);

	assert_non_null(p);
	return p;
}

/* A table at `addr`: in the ACPI area, signature, length at least the
 * header, checksum over the length. Returns it. */
static const uint8_t *table_at(const struct guest_memory *mem, uint64_t addr, const char *sig)
{
	const uint8_t *h = gpa(mem, addr, 36);
	uint32_t len = get32(h + 4);

	assert_memory_equal(h, sig, 4);
	assert_true(len >= 36);
	assert_true(addr >= LAYOUT_ACPI_START && addr + len <= LAYOUT_ACPI_END);
	assert_int_equal(sum(gpa(mem, addr, len), len), 0);
	assert_memory_equal(h + 10, "KVMRUN", 6);
	return h;
}

/* What the guest does: scan the BIOS area on 16-byte boundaries. */
static uint64_t rsdp_find(const struct guest_memory *mem)
{
	for (uint64_t a = 0xe0000; a < 0x100000; a += 16) {
		const uint8_t *p = gpa(mem, a, 36);

		if (!memcmp(p, "RSD PTR ", 8) && sum(p, 20) == 0)
			return a;
	}
	fail_msg("no RSDP in 0xe0000-0xfffff");
	return 0;
}

struct fixture {
	struct guest_memory mem;
	struct acpi_tables t;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(guest_memory_create_anonymous(&f->mem, TEST_RAM), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	guest_memory_destroy(&f->mem);
	free(f);
	return 0;
}

static void write_tables(struct fixture *f, unsigned cpus, const struct acpi_mmio_device *mmio,
			 unsigned nr_mmio)
{
	struct acpi_config cfg = { .nr_cpus = cpus, .virtio_mmio = mmio, .nr_virtio_mmio = nr_mmio };

	assert_int_equal(acpi_write(&f->mem, &cfg, &f->t), 0);
	/* The loaders hand ACPI_RSDP_ADDR to the kernel before the tables exist. */
	assert_int_equal(f->t.rsdp, ACPI_RSDP_ADDR);
}

/* The tables the XSDT lists, by signature. */
static uint64_t xsdt_lookup(const struct guest_memory *mem, const char *sig)
{
	const uint8_t *rsdp = gpa(mem, rsdp_find(mem), 36);
	const uint8_t *x = table_at(mem, get64(rsdp + 24), "XSDT");
	uint32_t n = (get32(x + 4) - 36) / 8;

	for (uint32_t i = 0; i < n; i++) {
		uint64_t addr = get64(x + 36 + 8 * i);

		if (!memcmp(gpa(mem, addr, 4), sig, 4))
			return addr;
	}
	fail_msg("%s not in the XSDT", sig);
	return 0;
}

static void test_rsdp(void **state)
{
	struct fixture *f = *state;
	const uint8_t *p;
	uint64_t at;

	write_tables(f, 1, NULL, 0);
	at = rsdp_find(&f->mem);
	assert_int_equal(at, LAYOUT_ACPI_START);
	assert_int_equal(at, f->t.rsdp);
	p = gpa(&f->mem, at, 36);
	assert_int_equal(sum(p, 20), 0);             /* ACPI 1.0 checksum */
	assert_int_equal(p[15], 2);                  /* revision */
	assert_int_equal(get32(p + 20), 36);         /* length */
	assert_int_equal(sum(p, 36), 0);             /* extended checksum */
	assert_memory_equal(p + 9, "KVMRUN", 6);
	assert_int_equal(get32(p + 16), f->t.rsdt);
	assert_int_equal(get64(p + 24), f->t.xsdt);
	/* Tables are outside the e820 RAM (0x9fc00-0xfffff is reserved) and
	 * clear of the high MP configuration table at 0xf0000. */
	assert_true(f->t.size <= LAYOUT_ACPI_END - LAYOUT_ACPI_START);
}

static void test_rsdt_and_xsdt_list_the_same_tables(void **state)
{
	struct fixture *f = *state;
	const char *want[] = { "FACP", "APIC", "MCFG" };
	const uint8_t *r, *x;
	uint32_t nr, nx;

	write_tables(f, 2, NULL, 0);
	r = table_at(&f->mem, f->t.rsdt, "RSDT");
	x = table_at(&f->mem, f->t.xsdt, "XSDT");
	assert_int_equal(r[8], 1);
	assert_int_equal(x[8], 1);
	nr = (get32(r + 4) - 36) / 4;
	nx = (get32(x + 4) - 36) / 8;
	assert_int_equal(get32(r + 4), 36 + 4 * nr);
	assert_int_equal(get32(x + 4), 36 + 8 * nx);
	assert_int_equal(nr, 3);
	assert_int_equal(nx, 3);
	for (uint32_t i = 0; i < nx; i++) {
		uint64_t addr = get64(x + 36 + 8 * i);

		assert_int_equal(get32(r + 36 + 4 * i), addr);
		/* Each once, each valid; the FADT first. */
		table_at(&f->mem, addr, want[i]);
	}
	assert_int_equal(f->t.fadt, get64(x + 36));
	assert_int_equal(f->t.madt, get64(x + 44));
	assert_int_equal(f->t.mcfg, get64(x + 52));
}

static void expect_io_gas(const uint8_t *g, uint16_t port, unsigned bits, unsigned access)
{
	assert_int_equal(g[0], 1);          /* system I/O */
	assert_int_equal(g[1], bits);
	assert_int_equal(g[2], 0);
	assert_int_equal(g[3], access);
	assert_int_equal(get64(g + 4), port);
}

static void test_fadt(void **state)
{
	struct fixture *f = *state;
	const uint8_t *p;
	uint32_t flags;

	write_tables(f, 1, NULL, 0);
	p = table_at(&f->mem, xsdt_lookup(&f->mem, "FACP"), "FACP");
	assert_int_equal(get32(p + 4), 276);               /* revision 6 length */
	assert_int_equal(p[8], 6);
	assert_int_equal(get32(p + 36), f->t.facs);        /* FIRMWARE_CTRL */
	assert_int_equal(get32(p + 40), f->t.dsdt);        /* DSDT */
	assert_int_equal(get64(p + 132), 0);               /* X_FIRMWARE_CTRL: not twice */
	assert_int_equal(get64(p + 140), f->t.dsdt);       /* X_DSDT */
	assert_int_equal(get16(p + 46), 9);                /* SCI_INT */
	assert_int_equal(get32(p + 48), 0);                /* SMI_CMD: always in ACPI mode */
	assert_int_equal(get32(p + 56), 0xb000);           /* PM1a_EVT_BLK */
	assert_int_equal(get32(p + 60), 0);                /* no PM1b */
	assert_int_equal(get32(p + 64), 0xb004);           /* PM1a_CNT_BLK */
	assert_int_equal(get32(p + 76), 0xb008);           /* PM_TMR_BLK */
	assert_int_equal(get32(p + 80), 0);                /* no GPE0 */
	assert_int_equal(p[88], 4);                        /* PM1_EVT_LEN */
	assert_int_equal(p[89], 2);                        /* PM1_CNT_LEN */
	assert_int_equal(p[91], 4);                        /* PM_TMR_LEN */
	assert_true(get16(p + 96) > 100);                  /* no C2 */
	assert_true(get16(p + 98) > 1000);                 /* no C3 */
	assert_int_equal(p[108], 0x32);                    /* CENTURY: the RTC's byte */
	assert_int_equal(get16(p + 109) & 0x3, 0x3);       /* legacy devices, 8042 */
	assert_int_equal(get16(p + 109) & (1u << 5), 0);   /* the CMOS RTC is there */
	flags = get32(p + 112);
	assert_true(flags & (1u << 8));                    /* TMR_VAL_EXT: 32-bit timer */
	assert_true(flags & (1u << 10));                   /* RESET_REG_SUP */
	assert_true(flags & (1u << 4));                    /* no fixed power button */
	assert_false(flags & (1u << 20));                  /* not hardware-reduced */
	expect_io_gas(p + 116, 0x64, 8, 1);                /* RESET_REG */
	assert_int_equal(p[128], 0xfe);                    /* RESET_VALUE */
	expect_io_gas(p + 148, 0xb000, 32, 2);             /* X_PM1a_EVT_BLK */
	expect_io_gas(p + 172, 0xb004, 16, 2);             /* X_PM1a_CNT_BLK */
	expect_io_gas(p + 208, 0xb008, 32, 3);             /* X_PM_TMR_BLK */
	for (unsigned off = 160; off < 172; off++)         /* X_PM1b_EVT_BLK empty */
		assert_int_equal(p[off], 0);
	assert_memory_equal(p + 268, "KVMRUN  ", 8);       /* hypervisor vendor */
}

static void test_facs(void **state)
{
	struct fixture *f = *state;
	const uint8_t *p;

	write_tables(f, 1, NULL, 0);
	assert_int_equal(f->t.facs % 64, 0);
	p = gpa(&f->mem, f->t.facs, 64);
	assert_memory_equal(p, "FACS", 4);
	assert_int_equal(get32(p + 4), 64);
	assert_int_equal(get32(p + 12), 0);                /* no waking vector */
	assert_int_equal(get32(p + 16), 0);                /* global lock free */
	assert_int_equal(p[32], 2);                        /* version */
}

static void check_madt(struct fixture *f, unsigned cpus)
{
	const uint8_t *p = table_at(&f->mem, xsdt_lookup(&f->mem, "APIC"), "APIC");
	const uint8_t *e = p + 44, *end = p + get32(p + 4);
	unsigned lapics = 0, ioapics = 0, isos = 0, nmis = 0;
	bool irq0 = false, sci = false;

	assert_int_equal(get32(p + 36), 0xfee00000);       /* local APIC address */
	assert_int_equal(get32(p + 40) & 1, 1);            /* PCAT_COMPAT */
	while (e < end) {
		assert_true(end - e >= 2);
		assert_true(e[1] >= 2 && e[1] <= end - e);
		switch (e[0]) {
		case 0:
			assert_int_equal(e[1], 8);
			assert_int_equal(e[2], lapics);    /* processor UID */
			assert_int_equal(e[3], lapics);    /* APIC ID, in order, BSP first */
			assert_int_equal(get32(e + 4), 1); /* enabled */
			lapics++;
			break;
		case 1:
			assert_int_equal(e[1], 12);
			assert_int_equal(e[2], cpus);      /* I/O APIC ID after the CPUs */
			assert_int_equal(get32(e + 4), LAYOUT_IOAPIC_BASE);
			assert_int_equal(get32(e + 8), 0); /* GSI base */
			ioapics++;
			break;
		case 2:
			assert_int_equal(e[1], 10);
			assert_int_equal(e[2], 0);         /* ISA */
			if (e[3] == 0) {
				assert_int_equal(get32(e + 4), 2);
				assert_int_equal(get16(e + 8), 0x5);   /* edge, active high */
				irq0 = true;
			} else {
				assert_int_equal(e[3], 9);
				assert_int_equal(get32(e + 4), 9);
				assert_int_equal(get16(e + 8), 0xd);   /* level, active high */
				sci = true;
			}
			isos++;
			break;
		case 4:
			assert_int_equal(e[1], 6);
			assert_int_equal(e[2], 0xff);      /* every processor */
			assert_int_equal(e[5], 1);         /* LINT1 */
			nmis++;
			break;
		default:
			fail_msg("unexpected MADT entry type %u", e[0]);
		}
		e += e[1];
	}
	assert_ptr_equal(e, end);
	assert_int_equal(lapics, cpus);
	assert_int_equal(ioapics, 1);
	assert_int_equal(isos, 2);
	assert_true(irq0 && sci);
	assert_int_equal(nmis, 1);
}

static void test_madt(void **state)
{
	static const unsigned counts[] = { 1, 2, 37, 38, 200, ACPI_MAX_CPUS };
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		write_tables(f, counts[i], NULL, 0);
		check_madt(f, counts[i]);
	}
}

static void test_mcfg(void **state)
{
	struct fixture *f = *state;
	const uint8_t *p;

	write_tables(f, 1, NULL, 0);
	p = table_at(&f->mem, xsdt_lookup(&f->mem, "MCFG"), "MCFG");
	assert_int_equal(get32(p + 4), 44 + 16);           /* one allocation */
	assert_int_equal(get64(p + 44), LAYOUT_PCI_ECAM_BASE);
	assert_int_equal(get16(p + 52), 0);                /* segment */
	assert_int_equal(p[54], 0);                        /* start bus */
	assert_int_equal(p[55], 255);                      /* end bus: 256 MiB of ECAM */
}

/* A walker for the AML subset a DSDT of constants uses: Scope, Device,
 * Name with integers, strings, buffers and packages. Every PkgLength must
 * end inside its parent and every block must end exactly where its
 * PkgLength says. */
struct aml_device {
	char path[64];
	uint64_t hid;             /* EISA ID DWORD, or 0 */
	char hid_str[16];         /* string _HID, or "" */
	bool has_uid;
	uint64_t uid;
	bool has_sta;
	uint64_t sta;
	const uint8_t *crs;
	size_t crs_len;
};

struct aml_parse {
	struct aml_device dev[600];
	unsigned nr;
	unsigned s5_count;
	uint64_t s5[8];
};

static const uint8_t *pkg_length(const uint8_t *p, const uint8_t *end, const uint8_t **body_end)
{
	unsigned follow = p[0] >> 6;
	uint32_t v = follow ? (p[0] & 0x0fu) : (p[0] & 0x3fu);

	assert_true(end - p > follow);
	for (unsigned i = 1; i <= follow; i++)
		v |= (uint32_t)p[i] << (4 + 8 * (i - 1));
	assert_true(v >= follow + 1 && v <= (size_t)(end - p));
	*body_end = p + v;
	return p + follow + 1;
}

static const uint8_t *name_string(const uint8_t *p, const uint8_t *end, char *out, size_t size)
{
	unsigned segs;
	size_t n = 0;

	out[0] = '\0';
	while (p < end && (*p == '\\' || *p == '^'))
		out[n++] = (char)*p++;
	assert_true(p < end);
	if (*p == 0x00) {
		segs = 0;
		p++;
	} else if (*p == 0x2e) {
		segs = 2;
		p++;
	} else if (*p == 0x2f) {
		segs = p[1];
		p += 2;
	} else {
		segs = 1;
	}
	assert_true((size_t)(end - p) >= segs * 4);
	for (unsigned i = 0; i < segs; i++) {
		assert_true(n + 6 < size);
		if (i)
			out[n++] = '.';
		memcpy(out + n, p, 4);
		n += 4;
		p += 4;
	}
	out[n] = '\0';
	return p;
}

struct aml_value {
	enum { V_INT, V_STR, V_BUF, V_PKG } kind;
	uint64_t i;
	bool dword;
	const char *s;
	const uint8_t *buf;
	size_t len;
};

static const uint8_t *data_object(const uint8_t *p, const uint8_t *end, struct aml_value *v,
				  struct aml_parse *ap);

static const uint8_t *integer(const uint8_t *p, const uint8_t *end, struct aml_value *v)
{
	static const unsigned widths[] = { [0x0a] = 1, [0x0b] = 2, [0x0c] = 4, [0x0e] = 8 };
	unsigned w;

	*v = (struct aml_value){ .kind = V_INT };
	assert_true(p < end);
	if (*p == 0x00 || *p == 0x01) {
		v->i = *p;
		return p + 1;
	}
	if (*p == 0xff) {
		v->i = UINT64_MAX;
		return p + 1;
	}
	assert_true(*p < sizeof(widths) / sizeof(widths[0]) && widths[*p]);
	w = widths[*p];
	v->dword = w == 4;
	assert_true((size_t)(end - p) > w);
	for (unsigned i = 0; i < w; i++)
		v->i |= (uint64_t)p[1 + i] << (8 * i);
	return p + 1 + w;
}

static const uint8_t *data_object(const uint8_t *p, const uint8_t *end, struct aml_value *v,
				  struct aml_parse *ap)
{
	const uint8_t *body_end, *q;

	assert_true(p < end);
	switch (*p) {
	case 0x0d:
		*v = (struct aml_value){ .kind = V_STR, .s = (const char *)p + 1 };
		q = memchr(p + 1, 0, (size_t)(end - p - 1));
		assert_non_null(q);
		return q + 1;
	case 0x11: {
		struct aml_value size;

		q = pkg_length(p + 1, end, &body_end);
		q = integer(q, body_end, &size);
		assert_int_equal(size.i, body_end - q);
		*v = (struct aml_value){ .kind = V_BUF, .buf = q, .len = size.i };
		return body_end;
	}
	case 0x12: {
		unsigned count, seen = 0;

		q = pkg_length(p + 1, end, &body_end);
		assert_true(q < body_end);
		count = *q++;
		while (q < body_end) {
			struct aml_value e;

			q = data_object(q, body_end, &e, ap);
			if (ap && e.kind == V_INT && seen < 8)
				ap->s5[seen] = e.i;
			seen++;
		}
		assert_ptr_equal(q, body_end);
		assert_int_equal(seen, count);
		*v = (struct aml_value){ .kind = V_PKG, .len = count };
		return body_end;
	}
	default:
		return integer(p, end, v);
	}
}

static void term_list(const uint8_t *p, const uint8_t *end, const char *scope,
		      struct aml_device *dev, struct aml_parse *ap)
{
	while (p < end) {
		const uint8_t *body_end;
		char name[24], path[64];
		int n;

		if (p[0] == 0x10 || (p[0] == 0x5b && end - p > 1 && p[1] == 0x82)) {
			bool device = p[0] == 0x5b;
			struct aml_device *d = NULL;

			p = pkg_length(p + (device ? 2 : 1), end, &body_end);
			p = name_string(p, body_end, name, sizeof(name));
			if (name[0] == '\\')
				n = snprintf(path, sizeof(path), "%s", name);
			else
				n = snprintf(path, sizeof(path), "%.30s.%.24s", scope, name);
			assert_true(n > 0 && (size_t)n < sizeof(path));
			if (device) {
				assert_true(ap->nr < sizeof(ap->dev) / sizeof(ap->dev[0]));
				d = &ap->dev[ap->nr++];
				memset(d, 0, sizeof(*d));
				snprintf(d->path, sizeof(d->path), "%s", path);
			}
			term_list(p, body_end, path, d, ap);
			p = body_end;
		} else if (p[0] == 0x08) {
			struct aml_value v;

			p = name_string(p + 1, end, name, sizeof(name));
			p = data_object(p, end, &v, !strcmp(name, "\\_S5_") ? ap : NULL);
			if (!strcmp(name, "\\_S5_")) {
				assert_int_equal(v.kind, V_PKG);
				ap->s5_count = (unsigned)v.len;
			} else if (dev && !strcmp(name, "_HID")) {
				if (v.kind == V_STR)
					snprintf(dev->hid_str, sizeof(dev->hid_str), "%s", v.s);
				else {
					assert_true(v.dword);   /* EisaId is a DWORD */
					dev->hid = v.i;
				}
			} else if (dev && !strcmp(name, "_UID")) {
				dev->has_uid = true;
				dev->uid = v.i;
			} else if (dev && !strcmp(name, "_STA")) {
				dev->has_sta = true;
				dev->sta = v.i;
			} else if (dev && !strcmp(name, "_CRS")) {
				assert_int_equal(v.kind, V_BUF);
				dev->crs = v.buf;
				dev->crs_len = v.len;
			}
		} else {
			fail_msg("unexpected AML opcode 0x%02x", p[0]);
		}
	}
	assert_ptr_equal(p, end);
}

static void dsdt_parse(struct fixture *f, struct aml_parse *ap)
{
	const uint8_t *p = table_at(&f->mem, f->t.dsdt, "DSDT");
	uint32_t len = get32(p + 4);

	assert_int_equal(p[8], 2);   /* revision 2: 64-bit integers */
	/* The FADT's DSDT pointer leads here. */
	assert_int_equal(get64(gpa(&f->mem, f->t.fadt, 276) + 140), f->t.dsdt);
	memset(ap, 0, sizeof(*ap));
	/* The AML starts with Scope (\_SB). */
	assert_memory_equal(p + 36 + 0, "\x10", 1);
	term_list(p + 36, p + len, "", NULL, ap);
}

static const struct aml_device *device(const struct aml_parse *ap, const char *path)
{
	for (unsigned i = 0; i < ap->nr; i++)
		if (!strcmp(ap->dev[i].path, path))
			return &ap->dev[i];
	fail_msg("no device %s in the DSDT", path);
	return NULL;
}

/* EisaId ("PNP0501") as the DWORD the AML holds. */
static uint64_t eisaid(const char *id)
{
	uint16_t v = (uint16_t)((id[0] - 0x40) << 10 | (id[1] - 0x40) << 5 | (id[2] - 0x40));
	uint16_t prod = (uint16_t)strtoul(id + 3, NULL, 16);

	return (uint64_t)(v >> 8) | (uint64_t)(v & 0xff) << 8 | (uint64_t)(prod >> 8) << 16 |
	       (uint64_t)(prod & 0xff) << 24;
}

/* A resource template: descriptors back to back, ending with an End Tag. */
static void resources_valid(const struct aml_device *d)
{
	const uint8_t *p = d->crs, *end = d->crs + d->crs_len;

	assert_non_null(p);
	while (p < end) {
		size_t len = (*p & 0x80) ? 3u + get16(p + 1) : 1u + (*p & 7u);

		assert_true(len <= (size_t)(end - p));
		if (*p == 0x79) {
			assert_ptr_equal(p + len, end);
			return;
		}
		p += len;
	}
	fail_msg("%s: _CRS without an End Tag", d->path);
}

static void test_dsdt_devices(void **state)
{
	struct fixture *f = *state;
	struct aml_parse *ap = calloc(1, sizeof(*ap));
	const struct aml_device *d;

	assert_non_null(ap);
	write_tables(f, 1, NULL, 0);
	dsdt_parse(f, ap);

	d = device(ap, "\\_SB_.COM1");
	assert_int_equal(d->hid, eisaid("PNP0501"));
	assert_int_equal(d->hid, 0x0105d041);
	assert_true(d->has_uid && d->uid == 1);
	assert_int_equal(d->crs_len, 8 + 3 + 2);
	assert_memory_equal(d->crs, "\x47\x01\xf8\x03\xf8\x03\x01\x08" "\x22\x10\x00" "\x79\x00", 13);

	d = device(ap, "\\_SB_.RTC_");
	assert_int_equal(d->hid, eisaid("PNP0B00"));
	assert_memory_equal(d->crs, "\x47\x01\x70\x00\x70\x00\x01\x02" "\x22\x00\x01", 11);

	d = device(ap, "\\_SB_.KBD_");
	assert_int_equal(d->hid, eisaid("PNP0303"));
	assert_memory_equal(d->crs, "\x47\x01\x60\x00\x60\x00\x01\x01"
				    "\x47\x01\x64\x00\x64\x00\x01\x01" "\x22\x02\x00", 19);

	d = device(ap, "\\_SB_.FWCF");
	assert_string_equal(d->hid_str, "QEMU0002");
	assert_true(d->has_sta && d->sta == 0x0b);
	assert_memory_equal(d->crs, "\x47\x01\x10\x05\x10\x05\x01\x0c", 8);

	/* ECAM as a motherboard resource, so that Linux accepts the MCFG. */
	d = device(ap, "\\_SB_.MBRD");
	assert_int_equal(d->hid, eisaid("PNP0C02"));
	assert_memory_equal(d->crs, "\x86\x09\x00\x01\x00\x00\x00\xe0\x00\x00\x00\x10", 12);

	d = device(ap, "\\_SB_.PCI0");
	assert_int_equal(d->hid, eisaid("PNP0A08"));
	resources_valid(d);
	/* Bus numbers 0-255 first, then the 0xcf8 ports. */
	assert_memory_equal(d->crs, "\x88\x0d\x00\x02", 4);
	assert_int_equal(get16(d->crs + 10), 255);
	assert_memory_equal(d->crs + 16, "\x47\x01\xf8\x0c\xf8\x0c\x01\x08", 8);

	for (unsigned i = 0; i < ap->nr; i++)
		if (ap->dev[i].crs)
			resources_valid(&ap->dev[i]);

	/* \_S5: SLP_TYP 5 for both PM1 control blocks. */
	assert_int_equal(ap->s5_count, 4);
	assert_int_equal(ap->s5[0], ACPI_PM_SLP_TYP_S5);
	assert_int_equal(ap->s5[1], ACPI_PM_SLP_TYP_S5);
	free(ap);
}

static void test_dsdt_processors_and_virtio_mmio(void **state)
{
	static const struct acpi_mmio_device mmio[] = {
		{ .base = 0xd0000000, .size = 0x1000, .gsi = 5 },
		{ .base = 0xd0001000, .size = 0x1000, .gsi = 16, .level = true },
	};
	struct fixture *f = *state;
	struct aml_parse *ap = calloc(1, sizeof(*ap));
	unsigned cpus = 0, virtio = 0;

	assert_non_null(ap);
	write_tables(f, 20, mmio, 2);
	dsdt_parse(f, ap);
	for (unsigned i = 0; i < ap->nr; i++) {
		const struct aml_device *d = &ap->dev[i];

		if (!strcmp(d->hid_str, "ACPI0007")) {
			char want[24];

			/* _UID = the MADT's processor UID = APIC ID. */
			snprintf(want, sizeof(want), "\\_SB_.C%03X", cpus);
			assert_string_equal(d->path, want);
			assert_true(d->has_uid && d->uid == cpus);
			cpus++;
		} else if (!strcmp(d->hid_str, "LNRO0005")) {
			const struct acpi_mmio_device *m = &mmio[virtio];

			assert_true(d->has_uid && d->uid == virtio);
			resources_valid(d);
			assert_int_equal(d->crs[0], 0x86);          /* Memory32Fixed */
			assert_int_equal(get32(d->crs + 4), m->base);
			assert_int_equal(get32(d->crs + 8), m->size);
			assert_int_equal(d->crs[12], 0x89);         /* Interrupt */
			assert_int_equal(d->crs[15], m->level ? 0x01 : 0x03);
			assert_int_equal(get32(d->crs + 17), m->gsi);
			virtio++;
		}
	}
	assert_int_equal(cpus, 20);
	assert_int_equal(virtio, 2);
	assert_string_equal(device(ap, "\\_SB_.VR01")->hid_str, "LNRO0005");
	free(ap);
}

/* The largest configuration still fits the area, and the ACPI tables and
 * the MP table (whose big form lives at 0xf0000) do not overwrite each
 * other. */
static void test_largest_configuration_fits(void **state)
{
	static struct acpi_mmio_device mmio[ACPI_MAX_MMIO_DEVICES];
	struct fixture *f = *state;
	struct aml_parse *ap = calloc(1, sizeof(*ap));

	assert_non_null(ap);
	for (unsigned i = 0; i < ACPI_MAX_MMIO_DEVICES; i++)
		mmio[i] = (struct acpi_mmio_device){ .base = 0xd0000000 + 0x1000 * i, .size = 0x1000,
						     .gsi = 5 + i % 19 };
	assert_int_equal(mptable_write(&f->mem, BOOT_MPTABLE_MAX_CPUS), 0);
	write_tables(f, ACPI_MAX_CPUS, mmio, ACPI_MAX_MMIO_DEVICES);
	assert_true(LAYOUT_ACPI_START + f->t.size <= LAYOUT_ACPI_END);
	check_madt(f, ACPI_MAX_CPUS);
	dsdt_parse(f, ap);
	assert_int_equal(ap->nr, 6 + ACPI_MAX_CPUS + ACPI_MAX_MMIO_DEVICES);
	/* The MP configuration table at 0xf0000 still sums to 0. */
	{
		const uint8_t *fp = gpa(&f->mem, LAYOUT_EBDA_START, 16);
		uint32_t ct = get32(fp + 4);

		assert_int_equal(ct, 0xf0000);
		assert_int_equal(sum(gpa(&f->mem, ct, get16(gpa(&f->mem, ct, 44) + 4)),
				     get16(gpa(&f->mem, ct, 44) + 4)), 0);
	}
	free(ap);
}

static bool area_is_zero(const struct guest_memory *mem)
{
	const uint8_t *p = gpa(mem, LAYOUT_ACPI_START, LAYOUT_ACPI_END - LAYOUT_ACPI_START);

	for (size_t i = 0; i < LAYOUT_ACPI_END - LAYOUT_ACPI_START; i++)
		if (p[i])
			return false;
	return true;
}

static void test_bad_configurations_write_nothing(void **state)
{
	struct fixture *f = *state;
	struct acpi_mmio_device mmio = { .base = 0xd0000000, .size = 0x1000, .gsi = 5 };
	struct acpi_config cfg = { .nr_cpus = 0 };
	struct guest_memory tiny = { 0 };

	assert_int_equal(acpi_write(&f->mem, &cfg, NULL), -EINVAL);
	cfg.nr_cpus = ACPI_MAX_CPUS + 1;
	assert_int_equal(acpi_write(&f->mem, &cfg, NULL), -E2BIG);
	cfg = (struct acpi_config){ .nr_cpus = 1, .virtio_mmio = &mmio, .nr_virtio_mmio = 1 };
	mmio.base = 0x100000000ULL;              /* Memory32Fixed cannot say it */
	assert_int_equal(acpi_write(&f->mem, &cfg, NULL), -EINVAL);
	mmio.base = 0xfffff000;                  /* ends exactly at 4 GiB: fine */
	mmio.size = 0x1000;
	assert_int_equal(acpi_write(&f->mem, &cfg, NULL), 0);
	memset(guest_memory_ptr(&f->mem, LAYOUT_ACPI_START, LAYOUT_ACPI_END - LAYOUT_ACPI_START), 0,
	       LAYOUT_ACPI_END - LAYOUT_ACPI_START);
	mmio.size = 0x2000;                      /* crosses 4 GiB */
	assert_int_equal(acpi_write(&f->mem, &cfg, NULL), -EINVAL);
	mmio = (struct acpi_mmio_device){ .base = 0xd0000000, .size = 0x1000, .gsi = 24 };
	assert_int_equal(acpi_write(&f->mem, &cfg, NULL), -EINVAL);   /* no such IOAPIC pin */
	mmio.gsi = 5;
	mmio.size = 0;
	assert_int_equal(acpi_write(&f->mem, &cfg, NULL), -EINVAL);
	cfg.nr_virtio_mmio = ACPI_MAX_MMIO_DEVICES + 1;
	assert_int_equal(acpi_write(&f->mem, &cfg, NULL), -E2BIG);
	cfg.virtio_mmio = NULL;
	cfg.nr_virtio_mmio = 1;
	assert_int_equal(acpi_write(&f->mem, &cfg, NULL), -EINVAL);
	assert_true(area_is_zero(&f->mem));
	/* RAM without the BIOS area: nothing to write into. */
	cfg = (struct acpi_config){ .nr_cpus = 1 };
	assert_int_equal(acpi_write(&tiny, &cfg, NULL), -EFAULT);
}

struct stop_record {
	unsigned stops;
	enum vm_stop_reason reason;
};

static void record_stop(void *ctx, enum vm_stop_reason reason, int code)
{
	struct stop_record *r = ctx;

	(void)code;
	r->stops++;
	r->reason = reason;
}

/* OSPM's reset: write RESET_VALUE to RESET_REG (§4.8.3.6); here the
 * i8042's command port, which resets the VM. */
static void test_reset_register_resets(void **state)
{
	struct fixture *f = *state;
	struct stop_record rec = { 0 };
	struct i8042 kbc;
	struct bus pio;
	const uint8_t *fadt;
	uint8_t value;

	write_tables(f, 1, NULL, 0);
	fadt = gpa(&f->mem, f->t.fadt, 276);
	i8042_init(&kbc, (struct stop_request){ .request = record_stop, .ctx = &rec });
	bus_init(&pio, "pio");
	assert_int_equal(bus_insert(&pio, I8042_DATA_PORT, 1, &i8042_data_ops, &kbc, "data"), 0);
	assert_int_equal(bus_insert(&pio, I8042_COMMAND_PORT, 1, &i8042_command_ops, &kbc, "cmd"), 0);
	assert_int_equal(fadt[116], 1);                  /* in I/O space */
	value = fadt[128];
	assert_true(bus_write(&pio, get64(fadt + 120), &value, fadt[117] / 8));
	assert_int_equal(rec.stops, 1);
	assert_int_equal(rec.reason, VM_STOP_RESET);
	bus_destroy(&pio);
}

/* OSPM's soft-off: SLP_TYP from \_S5 and SLP_EN into PM1a_CNT (§7.4.2,
 * §4.8.4.2.1), through the device at the FADT's address; and the PM timer
 * at PM_TMR_BLK counts. */
static void test_pm1_control_powers_off(void **state)
{
	struct fixture *f = *state;
	struct aml_parse *ap = calloc(1, sizeof(*ap));
	struct stop_record rec = { 0 };
	struct acpi_pm pm;
	struct bus pio;
	const uint8_t *fadt;
	uint32_t t0, t1;
	uint16_t cnt;
	struct timespec ten_ms = { 0, 10 * 1000 * 1000 };

	assert_non_null(ap);
	write_tables(f, 1, NULL, 0);
	dsdt_parse(f, ap);
	fadt = gpa(&f->mem, f->t.fadt, 276);
	acpi_pm_init(&pm, (struct stop_request){ .request = record_stop, .ctx = &rec });
	bus_init(&pio, "pio");
	assert_int_equal(bus_insert(&pio, get32(fadt + 56), ACPI_PM_LEN, &acpi_pm_ops, &pm, "pm"), 0);

	assert_true(bus_read(&pio, get32(fadt + 76), &t0, 4));
	nanosleep(&ten_ms, NULL);
	assert_true(bus_read(&pio, get32(fadt + 76), &t1, 4));
	assert_true(t1 - t0 >= 35795);                   /* >= 10 ms of 3.579545 MHz */

	assert_true(bus_read(&pio, get32(fadt + 64), &cnt, 2));
	assert_int_equal(cnt & 1, 1);                    /* SCI_EN: already in ACPI mode */
	cnt = (uint16_t)(ap->s5[0] << 10 | 1u << 13);
	assert_true(bus_write(&pio, get32(fadt + 64), &cnt, 2));
	assert_int_equal(rec.stops, 1);
	assert_int_equal(rec.reason, VM_STOP_POWEROFF);
	bus_destroy(&pio);
	free(ap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rsdp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rsdt_and_xsdt_list_the_same_tables, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fadt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_facs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_madt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mcfg, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dsdt_devices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dsdt_processors_and_virtio_mmio, setup, teardown),
		cmocka_unit_test_setup_teardown(test_largest_configuration_fits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_configurations_write_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_register_resets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pm1_control_powers_off, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
