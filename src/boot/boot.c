/* boot_load(): recognise the image and hand it to its loader. */
#include "boot/boot.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "boot/elf.h"
#include "boot/loader.h"
#include "layout.h"

int boot_fail(char err[BOOT_ERROR_MAX], int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, BOOT_ERROR_MAX, fmt, ap);
	va_end(ap);
	return ret;
}

static int config_check(const struct guest_memory *mem, const struct boot_config *cfg,
			char err[BOOT_ERROR_MAX])
{
	if (!cfg->kernel || cfg->kernel_size == 0)
		return boot_fail(err, -EINVAL, "kernel image is empty");
	if (!cfg->cmdline)
		return boot_fail(err, -EINVAL, "kernel command line is missing (use \"\" for none)");
	if (!cfg->initrd && cfg->initrd_size != 0)
		return boot_fail(err, -EINVAL, "initrd size %zu given without initrd data",
				 cfg->initrd_size);
	/* Every fixed boot structure (layout.h) lies below 1 MiB and kernels
	 * load at 1 MiB: anything smaller cannot hold a kernel. */
	if (guest_memory_low_end(mem) < LAYOUT_MIN_MEMORY)
		return boot_fail(err, -ENOMEM, "guest RAM below the device hole is 0x%llx bytes, need at least 0x%llx",
				 (unsigned long long)guest_memory_low_end(mem),
				 (unsigned long long)LAYOUT_MIN_MEMORY);
	return 0;
}

int boot_load(struct guest_memory *mem, const struct boot_config *cfg,
	      struct boot_entry *entry, char err[BOOT_ERROR_MAX])
{
	/* struct elf_image is ~14 KiB; static would be shared state, so the
	 * stack it is (boot_load runs once, on the main thread). */
	struct elf_image elf;
	struct multiboot_header mb;
	char elf_err[BOOT_ERROR_MAX] = "";
	bool is_elf, elf_ok = false, pvh = false, multiboot = false;
	uint64_t pvh_entry = 0;
	int elf_ret = 0, ret;

	err[0] = '\0';
	memset(entry, 0, sizeof(*entry));
	ret = config_check(mem, cfg, err);
	if (ret < 0)
		return ret;

	/* Order (boot.h): PVH note, then Multiboot, then bzImage, then ELF64
	 * vmlinux. An image with the ELF magic is judged as ELF only: a
	 * malformed ELF is refused rather than retried as something else,
	 * except that a Multiboot header with the a.out kludge loads by its
	 * own addresses and needs no valid ELF (spec 0.6.96 §3.1.3). */
	is_elf = elf_is_elf(cfg->kernel, cfg->kernel_size);
	if (is_elf) {
		elf_ret = elf_parse(cfg->kernel, cfg->kernel_size, &elf, elf_err);
		elf_ok = elf_ret == 0;
	}
	if (elf_ok) {
		ret = elf_pvh_entry(&elf, &pvh, &pvh_entry, err);
		if (ret < 0)
			return ret;
		if (pvh)
			return pvh_load(mem, cfg, &elf, pvh_entry, entry, err);
	}
	ret = multiboot_probe(cfg->kernel, cfg->kernel_size, &multiboot, &mb, err);
	if (ret < 0)
		return ret;
	if (is_elf && !elf_ok && !(multiboot && (mb.flags & MULTIBOOT_FLAG_AOUT_KLUDGE))) {
		memcpy(err, elf_err, BOOT_ERROR_MAX);
		return elf_ret;
	}
	if (multiboot)
		return multiboot_load(mem, cfg, &mb, elf_ok ? &elf : NULL, entry, err);
	if (bzimage_probe(cfg->kernel, cfg->kernel_size))
		return bzimage_load(mem, cfg, entry, err);
	if (is_elf) {
		if (elf.bits != 64)
			return boot_fail(err, -ENOEXEC,
					 "ELF32 image has neither a PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY) nor a multiboot header; 32-bit images boot only through those");
		return vmlinux_load(mem, cfg, &elf, entry, err);
	}
	return boot_fail(err, -ENOEXEC,
			 "unrecognised kernel image (%zu bytes): neither ELF (PVH or vmlinux), multiboot (0x1BADB002 header in the first 8 KiB) nor bzImage (\"HdrS\" at 0x202)",
			 cfg->kernel_size);
}
