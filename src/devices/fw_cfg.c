#include "devices/fw_cfg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The DMA interface and the file directory are big-endian (fw_cfg.rst,
 * "Guest-side DMA Interface" and "File Directory"); integer items are
 * little-endian. Byte-wise helpers keep that independent of the host. */
static uint32_t load_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t load_be64(const uint8_t *p)
{
	return (uint64_t)load_be32(p) << 32 | load_be32(p + 4);
}

static void store_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static void store_be16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v;
}

static void store_le(uint8_t *p, uint64_t v, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++)
		p[i] = v >> (8 * i);
}

static void fw_cfg_item_clear(struct fw_cfg_item *item)
{
	if (item->owned)
		free((void *)item->data);
	*item = (struct fw_cfg_item){ 0 };
}

/* Install `data` at `key` (no key checks: callers do them). */
static int fw_cfg_set(struct fw_cfg *fw, uint16_t key, const void *data, size_t size, bool copy)
{
	struct fw_cfg_item item = { .size = (uint32_t)size };

	/* Item sizes are 32-bit in the file directory and the DMA length. */
	if (size > UINT32_MAX)
		return -EFBIG;
	if (copy && size) {
		uint8_t *buf = malloc(size);

		if (!buf)
			return -ENOMEM;
		memcpy(buf, data, size);
		item.data = buf;
		item.owned = true;
	} else {
		item.data = size ? data : NULL;
	}
	fw_cfg_item_clear(&fw->items[key]);
	fw->items[key] = item;
	return 0;
}

static bool fw_cfg_settable_key(uint16_t key)
{
	return key < FW_CFG_FILE_FIRST && key != FW_CFG_FILE_DIR;
}

int fw_cfg_add_item(struct fw_cfg *fw, uint16_t key, const void *data, size_t size)
{
	if (!fw_cfg_settable_key(key))
		return -EINVAL;
	return fw_cfg_set(fw, key, data, size, true);
}

int fw_cfg_add_item_borrowed(struct fw_cfg *fw, uint16_t key, const void *data, size_t size)
{
	if (!fw_cfg_settable_key(key))
		return -EINVAL;
	return fw_cfg_set(fw, key, data, size, false);
}

static int fw_cfg_add_le(struct fw_cfg *fw, uint16_t key, uint64_t value, unsigned bytes)
{
	uint8_t buf[8];

	store_le(buf, value, bytes);
	return fw_cfg_add_item(fw, key, buf, bytes);
}

int fw_cfg_add_u16(struct fw_cfg *fw, uint16_t key, uint16_t value)
{
	return fw_cfg_add_le(fw, key, value, 2);
}

int fw_cfg_add_u32(struct fw_cfg *fw, uint16_t key, uint32_t value)
{
	return fw_cfg_add_le(fw, key, value, 4);
}

int fw_cfg_add_u64(struct fw_cfg *fw, uint16_t key, uint64_t value)
{
	return fw_cfg_add_le(fw, key, value, 8);
}

/* Regenerate the FW_CFG_FILE_DIR item from the files added so far. */
static int fw_cfg_build_file_dir(struct fw_cfg *fw)
{
	size_t size = 4 + (size_t)fw->nr_files * FW_CFG_FILE_ENTRY_SIZE;
	uint8_t *dir = calloc(1, size);
	int ret;

	if (!dir)
		return -ENOMEM;
	store_be32(dir, fw->nr_files);
	for (unsigned i = 0; i < fw->nr_files; i++) {
		uint8_t *e = dir + 4 + (size_t)i * FW_CFG_FILE_ENTRY_SIZE;
		uint16_t key = FW_CFG_FILE_FIRST + i;

		store_be32(e, fw->items[key].size);
		store_be16(e + 4, key);
		/* e + 6: reserved, zero; the name is NUL-padded by calloc. */
		memcpy(e + 8, fw->file_names[i], strlen(fw->file_names[i]));
	}
	ret = fw_cfg_set(fw, FW_CFG_FILE_DIR, dir, size, true);
	free(dir);
	return ret;
}

int fw_cfg_add_file(struct fw_cfg *fw, const char *name, const void *data, size_t size)
{
	size_t len = strnlen(name, FW_CFG_FILE_NAME_MAX);
	uint16_t key = FW_CFG_FILE_FIRST + fw->nr_files;
	int ret;

	if (len == 0 || len >= FW_CFG_FILE_NAME_MAX)
		return -EINVAL;
	for (unsigned i = 0; i < fw->nr_files; i++)
		if (!strcmp(fw->file_names[i], name))
			return -EEXIST;
	if (fw->nr_files == FW_CFG_MAX_FILES)
		return -ENOSPC;
	ret = fw_cfg_set(fw, key, data, size, true);
	if (ret < 0)
		return ret;
	memcpy(fw->file_names[fw->nr_files], name, len + 1);
	fw->nr_files++;
	ret = fw_cfg_build_file_dir(fw);
	if (ret < 0) {
		fw->nr_files--;
		fw_cfg_item_clear(&fw->items[key]);
	}
	return ret;
}

int fw_cfg_init(struct fw_cfg *fw, const struct guest_memory *mem)
{
	int ret;

	/* A default mutex holds no resources, so the static initializer
	 * needs no error path (as in uart_init). */
	*fw = (struct fw_cfg){
		.lock = PTHREAD_MUTEX_INITIALIZER,
		.mem = mem,
	};
	ret = fw_cfg_add_item(fw, FW_CFG_SIGNATURE, "QEMU", 4);
	if (!ret)
		ret = fw_cfg_add_u32(fw, FW_CFG_ID, FW_CFG_VERSION | FW_CFG_VERSION_DMA);
	if (!ret)
		ret = fw_cfg_build_file_dir(fw);
	if (ret < 0)
		fw_cfg_destroy(fw);
	return ret;
}

void fw_cfg_destroy(struct fw_cfg *fw)
{
	for (unsigned i = 0; i < FW_CFG_NR_KEYS; i++)
		fw_cfg_item_clear(&fw->items[i]);
	pthread_mutex_destroy(&fw->lock);
}

/* The selected item, or NULL for a key kvmrun has nothing at (unknown
 * keys, the architecture-specific space): those read as zeros. */
static const struct fw_cfg_item *fw_cfg_current(const struct fw_cfg *fw)
{
	return fw->key < FW_CFG_NR_KEYS ? &fw->items[fw->key] : NULL;
}

static uint32_t fw_cfg_remaining(const struct fw_cfg *fw)
{
	const struct fw_cfg_item *item = fw_cfg_current(fw);

	return item ? item->size - fw->offset : 0;
}

/* Writing the selector resets the data offset (fw_cfg.rst "Selector"). */
static void fw_cfg_select(struct fw_cfg *fw, uint16_t key)
{
	fw->key = key & ~FW_CFG_WRITE_CHANNEL;
	fw->offset = 0;
}

/* Copy up to `len` bytes of the selected item from the current offset and
 * advance it; bytes past the item's end read as 0 and do not move the
 * offset, which therefore never exceeds the item's size. */
static void fw_cfg_read_data(struct fw_cfg *fw, uint8_t *out, uint64_t len)
{
	const struct fw_cfg_item *item = fw_cfg_current(fw);
	uint64_t n = fw_cfg_remaining(fw);

	if (n > len)
		n = len;
	if (n) {
		memcpy(out, item->data + fw->offset, n);
		fw->offset += (uint32_t)n;
	}
	memset(out + n, 0, len - n);
}

static void fw_cfg_io_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct fw_cfg *fw = opaque;

	/* QEMU decodes 0x510-0x511 as one range whose byte reads are data
	 * reads; an N-byte read returns the next N bytes (fw_cfg.rst "Data
	 * Register"), which kvmrun allows at either port. */
	(void)offset;
	pthread_mutex_lock(&fw->lock);
	fw_cfg_read_data(fw, data, size);
	pthread_mutex_unlock(&fw->lock);
}

static void fw_cfg_io_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct fw_cfg *fw = opaque;
	const uint8_t *b = data;

	pthread_mutex_lock(&fw->lock);
	if (offset == 0 && size == 2)
		fw_cfg_select(fw, (uint16_t)(b[0] | b[1] << 8));
	else
		fw->ignored++;  /* data writes: ignored since QEMU 2.4 */
	pthread_mutex_unlock(&fw->lock);
}

const struct bus_device_ops fw_cfg_io_ops = {
	.read = fw_cfg_io_read,
	.write = fw_cfg_io_write,
};

/* One FWCfgDmaAccess as the guest wrote it (fields converted from BE). */
struct fw_cfg_dma_access {
	uint32_t control;
	uint32_t length;
	uint64_t address;
};

/* Carry out one DMA request and return the control value to write back:
 * 0 on success, FW_CFG_DMA_CTL_ERROR on failure (fw_cfg.rst, "To check the
 * result, read the control field"). A read whose buffer is not entirely in
 * one RAM region copies nothing: the whole target range is checked first,
 * overflow-safe, by guest_memory_ptr(). */
static uint32_t fw_cfg_dma_transfer(struct fw_cfg *fw, const struct fw_cfg_dma_access *dma)
{
	uint64_t n;

	if (dma->control & FW_CFG_DMA_CTL_SELECT)
		fw_cfg_select(fw, dma->control >> 16);
	/* Read wins over write, write over skip (fw_cfg.rst). */
	if (dma->control & FW_CFG_DMA_CTL_READ) {
		uint8_t *dst;

		if (dma->length == 0)
			return 0;
		dst = guest_memory_ptr(fw->mem, dma->address, dma->length);
		if (!dst)
			return FW_CFG_DMA_CTL_ERROR;
		fw_cfg_read_data(fw, dst, dma->length);
		guest_memory_mark_dirty(fw->mem, dst, dma->length);   /* diff snapshots */
		return 0;
	}
	/* Every kvmrun item is read-only, as QEMU's are unless it made them
	 * writable; QEMU reports a write to a read-only item as an error. */
	if (dma->control & FW_CFG_DMA_CTL_WRITE)
		return FW_CFG_DMA_CTL_ERROR;
	if (dma->control & FW_CFG_DMA_CTL_SKIP) {
		n = fw_cfg_remaining(fw);
		fw->offset += (uint32_t)(n < dma->length ? n : dma->length);
	}
	return 0;
}

/* Start the operation described at guest physical `gpa`. */
static void fw_cfg_dma_run(struct fw_cfg *fw, uint64_t gpa)
{
	uint8_t raw[FW_CFG_DMA_ACCESS_SIZE];
	uint8_t *desc = guest_memory_ptr(fw->mem, gpa, sizeof(raw));
	struct fw_cfg_dma_access dma;
	uint32_t result;

	fw->dma_ops++;
	if (!desc) {
		/* Nowhere to read the request from; if its control word
		 * alone is in RAM, say so there, as QEMU tries to. */
		uint8_t *control = guest_memory_ptr(fw->mem, gpa, 4);

		fw->dma_errors++;
		if (control) {
			store_be32(control, FW_CFG_DMA_CTL_ERROR);
			guest_memory_mark_dirty(fw->mem, control, 4);
		}
		return;
	}
	/* One copy: other vCPUs may rewrite the descriptor meanwhile, and
	 * every field must be the value that was checked. */
	memcpy(raw, desc, sizeof(raw));
	dma = (struct fw_cfg_dma_access){
		.control = load_be32(raw),
		.length = load_be32(raw + 4),
		.address = load_be64(raw + 8),
	};
	result = fw_cfg_dma_transfer(fw, &dma);
	if (result)
		fw->dma_errors++;
	/* desc is still valid: guest RAM never moves while the VM exists. */
	store_be32(desc, result);
	guest_memory_mark_dirty(fw->mem, desc, 4);
}

static void fw_cfg_dma_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	static const char signature[FW_CFG_DMA_LEN] = FW_CFG_DMA_SIGNATURE;
	uint8_t *out = data;

	/* The register reads as the big-endian 64-bit "QEMU CFG", i.e. the
	 * signature's bytes in port order, at any offset and width. */
	(void)opaque;
	for (unsigned i = 0; i < size; i++)
		out[i] = offset + i < FW_CFG_DMA_LEN ? (uint8_t)signature[offset + i] : 0xff;
}

static void fw_cfg_dma_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct fw_cfg *fw = opaque;
	const uint8_t *b = data;

	/* Big-endian register: the byte at the lowest port is the most
	 * significant. Writing the low half (offset 4) starts the operation;
	 * the latch is 0 again afterwards (fw_cfg.rst, DMA interface). */
	pthread_mutex_lock(&fw->lock);
	if (offset == 0 && size == 4) {
		fw->dma_address = (uint64_t)load_be32(b) << 32;
	} else if (offset == 4 && size == 4) {
		uint64_t gpa = fw->dma_address | load_be32(b);

		fw->dma_address = 0;
		fw_cfg_dma_run(fw, gpa);
	} else if (offset == 0 && size == 8) {
		fw->dma_address = 0;
		fw_cfg_dma_run(fw, load_be64(b));
	} else {
		fw->ignored++;
	}
	pthread_mutex_unlock(&fw->lock);
}

const struct bus_device_ops fw_cfg_dma_ops = {
	.read = fw_cfg_dma_read,
	.write = fw_cfg_dma_write,
};
