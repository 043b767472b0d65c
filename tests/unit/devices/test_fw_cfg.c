/* fw_cfg as a guest sees it through a real PIO bus and real (anonymous)
 * guest RAM: selector/data semantics, item encodings, the file directory,
 * and the DMA interface with hostile descriptors (QEMU docs/specs/
 * fw_cfg.rst). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bus.h"
#include "devices/fw_cfg.h"
#include "memory.h"

#define RAM_SIZE   (16ULL << 20)
#define DESC_GPA   0x1000ULL   /* where the tests put FWCfgDmaAccess */
#define BUF_GPA    0x2000ULL   /* DMA target buffer */

struct fixture {
	struct guest_memory mem;
	struct fw_cfg fw;
	struct bus pio;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(guest_memory_create_anonymous(&f->mem, RAM_SIZE), 0);
	assert_int_equal(fw_cfg_init(&f->fw, &f->mem), 0);
	bus_init(&f->pio, "pio");
	assert_int_equal(bus_insert(&f->pio, FW_CFG_PORT_SELECTOR, FW_CFG_IO_LEN, &fw_cfg_io_ops,
				    &f->fw, "fw-cfg"), 0);
	assert_int_equal(bus_insert(&f->pio, FW_CFG_PORT_DMA, FW_CFG_DMA_LEN, &fw_cfg_dma_ops,
				    &f->fw, "fw-cfg-dma"), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	bus_destroy(&f->pio);
	fw_cfg_destroy(&f->fw);
	guest_memory_destroy(&f->mem);
	free(f);
	return 0;
}

static void select_key(struct fixture *f, uint16_t key)
{
	assert_true(bus_write(&f->pio, FW_CFG_PORT_SELECTOR, &key, 2));
}

static void read_data(struct fixture *f, void *buf, size_t len)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		assert_true(bus_read(&f->pio, FW_CFG_PORT_DATA, &p[i], 1));
}

static uint64_t read_le(struct fixture *f, unsigned bytes)
{
	uint8_t b[8];
	uint64_t v = 0;

	read_data(f, b, bytes);
	for (unsigned i = 0; i < bytes; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

/* A 32-bit port write of a big-endian register half: the byte at the
 * lowest port is the most significant (what a guest gets from
 * outl(port, bswap32(v))). */
static void write_be32_port(struct fixture *f, uint16_t port, uint32_t v)
{
	uint8_t b[4];

	put_be32(b, v);
	assert_true(bus_write(&f->pio, port, b, 4));
}

/* Put an FWCfgDmaAccess at `desc`, trigger it with the low half of the
 * address register, and return the control word the device wrote back. */
static uint32_t dma_at(struct fixture *f, uint64_t desc, uint32_t control, uint32_t length,
		       uint64_t address)
{
	uint8_t *d = guest_memory_ptr(&f->mem, desc, FW_CFG_DMA_ACCESS_SIZE);

	assert_non_null(d);
	put_be32(d, control);
	put_be32(d + 4, length);
	put_be32(d + 8, address >> 32);
	put_be32(d + 12, (uint32_t)address);
	if (desc >> 32)
		write_be32_port(f, FW_CFG_PORT_DMA, desc >> 32);
	write_be32_port(f, FW_CFG_PORT_DMA + 4, (uint32_t)desc);
	return be32(d);
}

static uint32_t dma(struct fixture *f, uint32_t control, uint32_t length, uint64_t address)
{
	return dma_at(f, DESC_GPA, control, length, address);
}

static uint8_t *ram(struct fixture *f, uint64_t gpa, uint64_t len)
{
	uint8_t *p = guest_memory_ptr(&f->mem, gpa, len);

	assert_non_null(p);
	return p;
}

static void test_signature_and_id(void **state)
{
	struct fixture *f = *state;
	char sig[5] = { 0 };

	select_key(f, FW_CFG_SIGNATURE);
	read_data(f, sig, 4);
	assert_string_equal(sig, "QEMU");
	select_key(f, FW_CFG_ID);
	/* Bit 0 traditional interface, bit 1 DMA (fw_cfg.rst FW_CFG_ID). */
	assert_int_equal(read_le(f, 4), FW_CFG_VERSION | FW_CFG_VERSION_DMA);
}

static void test_select_resets_offset(void **state)
{
	struct fixture *f = *state;
	char buf[5] = { 0 };

	select_key(f, FW_CFG_SIGNATURE);
	read_data(f, buf, 2);
	assert_memory_equal(buf, "QE", 2);
	read_data(f, buf, 2);
	assert_memory_equal(buf, "MU", 2);
	select_key(f, FW_CFG_SIGNATURE);
	read_data(f, buf, 4);
	assert_string_equal(buf, "QEMU");
}

static void test_reads_past_end_are_zero(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[8];

	select_key(f, FW_CFG_SIGNATURE);
	read_data(f, buf, 8);
	assert_memory_equal(buf, "QEMU\0\0\0\0", 8);
	/* The offset stopped at the end: a DMA skip/read continues there. */
	assert_int_equal(f->fw.offset, 4);
}

static void test_unknown_keys_read_zero(void **state)
{
	struct fixture *f = *state;
	const uint16_t keys[] = { FW_CFG_UUID, FW_CFG_KERNEL_ADDR, FW_CFG_FILE_FIRST + 3,
				  0x1234, 0x3fff, FW_CFG_ARCH_LOCAL | 3, 0xffff };

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		select_key(f, keys[i]);
		assert_int_equal(read_le(f, 8), 0);
	}
}

static void test_write_channel_bit_is_ignored(void **state)
{
	struct fixture *f = *state;
	char sig[5] = { 0 };

	/* Bit 14 once asked for write access; the key is the rest. */
	select_key(f, FW_CFG_WRITE_CHANNEL | FW_CFG_SIGNATURE);
	read_data(f, sig, 4);
	assert_string_equal(sig, "QEMU");
}

static void test_integer_items_are_little_endian(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(fw_cfg_add_u16(&f->fw, FW_CFG_NB_CPUS, 0x0102), 0);
	assert_int_equal(fw_cfg_add_u32(&f->fw, FW_CFG_KERNEL_SIZE, 0x01020304), 0);
	assert_int_equal(fw_cfg_add_u64(&f->fw, FW_CFG_RAM_SIZE, 0x0102030405060708ULL), 0);
	select_key(f, FW_CFG_NB_CPUS);
	assert_int_equal(read_le(f, 1), 0x02);
	assert_int_equal(read_le(f, 1), 0x01);
	assert_int_equal(read_le(f, 1), 0);  /* 2 bytes only */
	select_key(f, FW_CFG_KERNEL_SIZE);
	assert_int_equal(read_le(f, 4), 0x01020304);
	select_key(f, FW_CFG_RAM_SIZE);
	assert_int_equal(read_le(f, 8), 0x0102030405060708ULL);
	/* Replacing an item frees the old copy (ASan would see a leak). */
	assert_int_equal(fw_cfg_add_u16(&f->fw, FW_CFG_NB_CPUS, 7), 0);
	select_key(f, FW_CFG_NB_CPUS);
	assert_int_equal(read_le(f, 2), 7);
}

static void test_wide_and_combined_port_access(void **state)
{
	struct fixture *f = *state;
	uint32_t v = 0;
	uint8_t b = 0;

	select_key(f, FW_CFG_SIGNATURE);
	/* A byte read at the selector port is a data read, as in QEMU. */
	assert_true(bus_read(&f->pio, FW_CFG_PORT_SELECTOR, &b, 1));
	assert_int_equal(b, 'Q');
	/* An N-byte read returns the next N bytes. */
	assert_true(bus_read(&f->pio, FW_CFG_PORT_SELECTOR, &v, 2));
	assert_memory_equal(&v, "EM", 2);
	/* A byte write to the selector is a data write: ignored. */
	b = FW_CFG_ID;
	assert_true(bus_write(&f->pio, FW_CFG_PORT_SELECTOR, &b, 1));
	assert_true(bus_write(&f->pio, FW_CFG_PORT_DATA, &b, 1));
	read_data(f, &b, 1);
	assert_int_equal(b, 'U');
	assert_int_equal(f->fw.ignored, 2);
}

static void test_file_directory_is_big_endian(void **state)
{
	struct fixture *f = *state;
	uint8_t dir[4 + 2 * FW_CFG_FILE_ENTRY_SIZE];
	char blob[3] = "xyz";
	char content[11] = { 0 };

	select_key(f, FW_CFG_FILE_DIR);
	assert_int_equal(read_le(f, 4), 0);  /* empty: count 0 */

	assert_int_equal(fw_cfg_add_file(&f->fw, "opt/one", blob, 3), 0);
	assert_int_equal(fw_cfg_add_file(&f->fw, "opt/org.example/two", "0123456789", 10), 0);
	select_key(f, FW_CFG_FILE_DIR);
	read_data(f, dir, sizeof(dir));
	assert_int_equal(be32(dir), 2);
	/* entry: be32 size, be16 select, be16 reserved, char name[56] */
	assert_memory_equal(dir + 4, "\0\0\0\x03\0\x20\0\0opt/one\0", 16);
	assert_memory_equal(dir + 4 + 64, "\0\0\0\x0a\0\x21\0\0opt/org.example/two\0", 28);
	for (unsigned i = 8 + 19; i < 64; i++)
		assert_int_equal(dir[4 + 64 + i], 0);
	read_data(f, content, 1);
	assert_int_equal(content[0], 0);  /* exactly 4 + 2 * 64 bytes */

	blob[0] = 'X';  /* the device copied it */
	select_key(f, 0x20);
	read_data(f, content, 4);
	assert_memory_equal(content, "xyz\0", 4);
	select_key(f, 0x21);
	read_data(f, content, 10);
	assert_string_equal(content, "0123456789");
}

static void test_add_rejects_bad_keys_and_names(void **state)
{
	struct fixture *f = *state;
	char name[FW_CFG_FILE_NAME_MAX + 1];

	assert_int_equal(fw_cfg_add_item(&f->fw, FW_CFG_FILE_DIR, "x", 1), -EINVAL);
	assert_int_equal(fw_cfg_add_item(&f->fw, FW_CFG_FILE_FIRST, "x", 1), -EINVAL);
	assert_int_equal(fw_cfg_add_item_borrowed(&f->fw, 0x8000, "x", 1), -EINVAL);
	assert_int_equal(fw_cfg_add_item(&f->fw, FW_CFG_UUID, "x", (size_t)UINT32_MAX + 1), -EFBIG);
	assert_int_equal(fw_cfg_add_file(&f->fw, "", "x", 1), -EINVAL);
	memset(name, 'n', sizeof(name));
	name[FW_CFG_FILE_NAME_MAX - 1] = '\0';  /* 55 characters fit */
	assert_int_equal(fw_cfg_add_file(&f->fw, name, "x", 1), 0);
	name[FW_CFG_FILE_NAME_MAX - 1] = 'n';
	name[FW_CFG_FILE_NAME_MAX] = '\0';      /* 56 do not */
	assert_int_equal(fw_cfg_add_file(&f->fw, name, "x", 1), -EINVAL);
	assert_int_equal(fw_cfg_add_file(&f->fw, "dup", "a", 1), 0);
	assert_int_equal(fw_cfg_add_file(&f->fw, "dup", "b", 1), -EEXIST);
	for (unsigned i = 2; i < FW_CFG_MAX_FILES; i++) {
		char n[16];

		snprintf(n, sizeof(n), "f%u", i);
		assert_int_equal(fw_cfg_add_file(&f->fw, n, "", 0), 0);
	}
	assert_int_equal(fw_cfg_add_file(&f->fw, "one-too-many", "x", 1), -ENOSPC);
	select_key(f, FW_CFG_FILE_DIR);
	assert_int_equal(read_le(f, 1), 0);
	assert_int_equal(read_le(f, 3), FW_CFG_MAX_FILES << 16);  /* be32 count */
}

static void test_dma_signature_reads(void **state)
{
	struct fixture *f = *state;
	uint8_t b[4];

	assert_true(bus_read(&f->pio, FW_CFG_PORT_DMA, b, 4));
	assert_memory_equal(b, "QEMU", 4);
	assert_true(bus_read(&f->pio, FW_CFG_PORT_DMA + 4, b, 4));
	assert_memory_equal(b, " CFG", 4);
	assert_true(bus_read(&f->pio, FW_CFG_PORT_DMA + 3, b, 1));
	assert_int_equal(b[0], 'U');
	assert_true(bus_read(&f->pio, FW_CFG_PORT_DMA + 6, b, 2));
	assert_memory_equal(b, "FG", 2);
}

static void test_dma_select_and_read(void **state)
{
	struct fixture *f = *state;
	uint8_t *buf = ram(f, BUF_GPA, 16);

	memset(buf, 0xaa, 16);
	assert_int_equal(dma(f, FW_CFG_SIGNATURE << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ,
			     4, BUF_GPA), 0);
	assert_memory_equal(buf, "QEMU", 4);
	assert_int_equal(buf[4], 0xaa);  /* exactly `length` bytes */
	assert_int_equal(f->fw.dma_ops, 1);
	assert_int_equal(f->fw.dma_errors, 0);
	/* The latch is 0 after an operation (fw_cfg.rst): a later low-half
	 * write alone uses a 32-bit address. */
	assert_int_equal(f->fw.dma_address, 0);
}

static void test_dma_read_past_end_fills_zeros(void **state)
{
	struct fixture *f = *state;
	uint8_t *buf = ram(f, BUF_GPA, 16);

	memset(buf, 0xaa, 16);
	assert_int_equal(dma(f, FW_CFG_ID << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ,
			     12, BUF_GPA), 0);
	assert_memory_equal(buf, "\x03\0\0\0\0\0\0\0\0\0\0\0\xaa", 13);
	assert_int_equal(f->fw.offset, 4);
}

static void test_dma_shares_offset_with_data_port(void **state)
{
	struct fixture *f = *state;
	uint8_t *buf = ram(f, BUF_GPA, 4);
	char c;

	select_key(f, FW_CFG_SIGNATURE);
	read_data(f, &c, 1);
	/* Without SELECT, DMA continues the current item at its offset. */
	assert_int_equal(dma(f, FW_CFG_DMA_CTL_READ, 2, BUF_GPA), 0);
	assert_memory_equal(buf, "EM", 2);
	read_data(f, &c, 1);
	assert_int_equal(c, 'U');
}

static void test_dma_skip_and_select_only(void **state)
{
	struct fixture *f = *state;
	uint8_t *buf = ram(f, BUF_GPA, 8);
	char c;

	assert_int_equal(fw_cfg_add_file(&f->fw, "opt/digits", "0123456789", 10), 0);
	assert_int_equal(dma(f, 0x20 << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_SKIP, 7, 0), 0);
	assert_int_equal(dma(f, FW_CFG_DMA_CTL_READ, 3, BUF_GPA), 0);
	assert_memory_equal(buf, "789", 3);
	/* Skipping past the end stops at the end, without an error. */
	assert_int_equal(dma(f, 0x20 << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_SKIP,
			     UINT32_MAX, 0), 0);
	assert_int_equal(f->fw.offset, 10);
	/* SELECT alone selects (offset 0) and transfers nothing. */
	assert_int_equal(dma(f, FW_CFG_SIGNATURE << 16 | FW_CFG_DMA_CTL_SELECT, 100, BUF_GPA), 0);
	read_data(f, &c, 1);
	assert_int_equal(c, 'Q');
	/* A zero-length read is a no-op even with a bad address. */
	assert_int_equal(dma(f, FW_CFG_DMA_CTL_READ, 0, UINT64_MAX), 0);
}

static void test_dma_write_is_rejected(void **state)
{
	struct fixture *f = *state;
	uint8_t *buf = ram(f, BUF_GPA, 4);
	char sig[5] = { 0 };

	memcpy(buf, "EVIL", 4);
	assert_int_equal(dma(f, FW_CFG_SIGNATURE << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_WRITE,
			     4, BUF_GPA), FW_CFG_DMA_CTL_ERROR);
	select_key(f, FW_CFG_SIGNATURE);
	read_data(f, sig, 4);
	assert_string_equal(sig, "QEMU");
	assert_int_equal(f->fw.dma_errors, 1);
	/* READ together with WRITE is a read (fw_cfg.rst: write is bit 4
	 * "and not bit 1"). */
	assert_int_equal(dma(f, FW_CFG_SIGNATURE << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ |
			     FW_CFG_DMA_CTL_WRITE, 4, BUF_GPA), 0);
	assert_memory_equal(buf, "QEMU", 4);
}

static void test_dma_bad_target_sets_error(void **state)
{
	struct fixture *f = *state;
	const uint32_t ctl = FW_CFG_SIGNATURE << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ;
	uint8_t *tail = ram(f, RAM_SIZE - 2, 2);

	/* Outside RAM, in the device hole, above 4 GiB. */
	assert_int_equal(dma(f, ctl, 4, RAM_SIZE), FW_CFG_DMA_CTL_ERROR);
	assert_int_equal(dma(f, ctl, 4, 0xfee00000), FW_CFG_DMA_CTL_ERROR);
	assert_int_equal(dma(f, ctl, 4, 1ULL << 40), FW_CFG_DMA_CTL_ERROR);
	/* Straddling the end of RAM: nothing is copied, not even the part
	 * that would fit, and the offset does not move. */
	tail[0] = tail[1] = 0xaa;
	assert_int_equal(dma(f, ctl, 4, RAM_SIZE - 2), FW_CFG_DMA_CTL_ERROR);
	assert_int_equal(tail[0], 0xaa);
	assert_int_equal(tail[1], 0xaa);
	assert_int_equal(f->fw.offset, 0);
	/* address + length wraps around 2^64. */
	assert_int_equal(dma(f, ctl, 16, UINT64_MAX - 7), FW_CFG_DMA_CTL_ERROR);
	assert_int_equal(dma(f, ctl, UINT32_MAX, UINT64_MAX), FW_CFG_DMA_CTL_ERROR);
	/* A length larger than RAM, from a valid start. */
	assert_int_equal(dma(f, ctl, UINT32_MAX, BUF_GPA), FW_CFG_DMA_CTL_ERROR);
	assert_int_equal(f->fw.dma_errors, 7);
}

static void test_dma_bad_descriptor_address(void **state)
{
	struct fixture *f = *state;
	uint8_t *tail = ram(f, RAM_SIZE - 8, 8);

	/* Entirely outside RAM: nothing to read or write back. */
	write_be32_port(f, FW_CFG_PORT_DMA + 4, (uint32_t)RAM_SIZE);
	write_be32_port(f, FW_CFG_PORT_DMA + 4, 0xfffffff8);
	write_be32_port(f, FW_CFG_PORT_DMA, 0xffffffff);
	write_be32_port(f, FW_CFG_PORT_DMA + 4, 0xfffffff8);  /* 2^64 - 8: wraps */
	assert_int_equal(f->fw.dma_ops, 3);
	assert_int_equal(f->fw.dma_errors, 3);
	/* Only the control word is in RAM: it gets the ERROR bit. */
	memset(tail, 0, 8);
	put_be32(tail + 4, FW_CFG_SIGNATURE << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ);
	write_be32_port(f, FW_CFG_PORT_DMA + 4, (uint32_t)RAM_SIZE - 4);
	assert_int_equal(be32(tail + 4), FW_CFG_DMA_CTL_ERROR);
	assert_int_equal(f->fw.dma_errors, 4);
}

static void test_dma_address_register_halves(void **state)
{
	struct fixture *f = *state;
	uint8_t *d = ram(f, DESC_GPA, FW_CFG_DMA_ACCESS_SIZE);
	uint8_t *buf = ram(f, BUF_GPA, 4);
	uint8_t addr[8] = { 0 };

	memset(d, 0, FW_CFG_DMA_ACCESS_SIZE);
	put_be32(d, FW_CFG_SIGNATURE << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ);
	put_be32(d + 4, 4);
	put_be32(d + 12, BUF_GPA);
	/* High half 1: the descriptor would be at 4 GiB + DESC_GPA, not RAM. */
	write_be32_port(f, FW_CFG_PORT_DMA, 1);
	write_be32_port(f, FW_CFG_PORT_DMA + 4, DESC_GPA);
	assert_int_equal(f->fw.dma_errors, 1);
	assert_int_equal(be32(d), FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ);  /* untouched */
	/* The latch was cleared by that operation: the low half alone works. */
	write_be32_port(f, FW_CFG_PORT_DMA + 4, DESC_GPA);
	assert_int_equal(be32(d), 0);
	assert_memory_equal(buf, "QEMU", 4);
	/* One 8-byte big-endian write (MMIO-style) triggers too. */
	memset(buf, 0, 4);
	put_be32(d, FW_CFG_SIGNATURE << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ);
	put_be32(addr + 4, DESC_GPA);
	fw_cfg_dma_ops.write(&f->fw, 0, addr, 8);
	assert_int_equal(be32(d), 0);
	assert_memory_equal(buf, "QEMU", 4);
	/* Other widths and offsets do nothing. */
	assert_true(bus_write(&f->pio, FW_CFG_PORT_DMA + 4, addr, 2));
	assert_true(bus_write(&f->pio, FW_CFG_PORT_DMA + 1, addr, 1));
	assert_int_equal(f->fw.ignored, 2);
	assert_int_equal(f->fw.dma_ops, 3);
}

static void test_borrowed_item_is_not_copied(void **state)
{
	struct fixture *f = *state;
	static const uint8_t image[] = { 1, 2, 3 };
	uint8_t *buf = ram(f, BUF_GPA, 3);

	assert_int_equal(fw_cfg_add_item_borrowed(&f->fw, FW_CFG_KERNEL_DATA, image, 3), 0);
	assert_ptr_equal(f->fw.items[FW_CFG_KERNEL_DATA].data, image);
	assert_int_equal(dma(f, FW_CFG_KERNEL_DATA << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ,
			     3, BUF_GPA), 0);
	assert_memory_equal(buf, image, 3);
}

/* Random requests, biased towards the edges where range checks go wrong
 * (end of RAM, 4 GiB, 2^64): nothing may crash or trip ASan/UBSan, control
 * always ends 0 or ERROR, and the offset stays within the selected item. */
static uint64_t edge_value(unsigned *seed)
{
	static const uint64_t edges[] = { 0, 1, RAM_SIZE - 16, RAM_SIZE - 1, RAM_SIZE,
					  0xfffffff0ULL, 1ULL << 32, UINT64_MAX - 15, UINT64_MAX };
	uint64_t base = edges[rand_r(seed) % (sizeof(edges) / sizeof(edges[0]))];

	return base + (uint64_t)(rand_r(seed) % 33) - 16;
}

static void test_dma_random_requests(void **state)
{
	struct fixture *f = *state;
	unsigned seed = 20261122;

	assert_int_equal(fw_cfg_add_file(&f->fw, "opt/blob", "0123456789abcdef", 16), 0);
	for (unsigned i = 0; i < 20000; i++) {
		uint32_t control = (uint32_t)(rand_r(&seed) % 0x24) << 16 | (rand_r(&seed) & 0x1f);
		uint32_t length = rand_r(&seed) % 4 ? (uint32_t)(rand_r(&seed) % 40)
						    : (uint32_t)edge_value(&seed);
		uint64_t address = rand_r(&seed) % 2 ? BUF_GPA + (uint64_t)(rand_r(&seed) % 64)
						     : edge_value(&seed);
		uint32_t result = dma(f, control, length, address);
		const struct fw_cfg_item *item = f->fw.key < FW_CFG_NR_KEYS ?
						 &f->fw.items[f->fw.key] : NULL;

		assert_true(result == 0 || result == FW_CFG_DMA_CTL_ERROR);
		assert_true(f->fw.offset <= (item ? item->size : 0));
		if (rand_r(&seed) % 8 == 0) {
			/* A descriptor anywhere, including nowhere. */
			uint64_t desc = edge_value(&seed);

			write_be32_port(f, FW_CFG_PORT_DMA, desc >> 32);
			write_be32_port(f, FW_CFG_PORT_DMA + 4, (uint32_t)desc);
		}
	}
	assert_true(f->fw.dma_errors > 0);
	assert_true(f->fw.dma_errors < f->fw.dma_ops);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_signature_and_id),
		T(test_select_resets_offset),
		T(test_reads_past_end_are_zero),
		T(test_unknown_keys_read_zero),
		T(test_write_channel_bit_is_ignored),
		T(test_integer_items_are_little_endian),
		T(test_wide_and_combined_port_access),
		T(test_file_directory_is_big_endian),
		T(test_add_rejects_bad_keys_and_names),
		T(test_dma_signature_reads),
		T(test_dma_select_and_read),
		T(test_dma_read_past_end_fills_zeros),
		T(test_dma_shares_offset_with_data_port),
		T(test_dma_skip_and_select_only),
		T(test_dma_write_is_rejected),
		T(test_dma_bad_target_sets_error),
		T(test_dma_bad_descriptor_address),
		T(test_dma_address_register_halves),
		T(test_borrowed_item_is_not_copied),
		T(test_dma_random_requests),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
