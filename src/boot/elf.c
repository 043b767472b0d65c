#include "boot/elf.h"

#include <elf.h>
#include <errno.h>
#include <string.h>

#include "boot/loader.h"
#include "layout.h"

/* The images are little-endian and so is the only host we run on (x86-64),
 * so headers are read with memcpy into the <elf.h> structures. memcpy also
 * keeps unaligned header offsets in a hostile file harmless. */
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the ELF loader reads little-endian headers in host byte order"
#endif

bool elf_is_elf(const uint8_t *image, size_t size)
{
	return size >= SELFMAG && memcmp(image, ELFMAG, SELFMAG) == 0;
}

static void segment_from_phdr64(struct elf_segment *seg, const Elf64_Phdr *ph)
{
	*seg = (struct elf_segment){
		.type = ph->p_type, .flags = ph->p_flags, .offset = ph->p_offset,
		.vaddr = ph->p_vaddr, .paddr = ph->p_paddr, .filesz = ph->p_filesz,
		.memsz = ph->p_memsz, .align = ph->p_align,
	};
}

static void segment_from_phdr32(struct elf_segment *seg, const Elf32_Phdr *ph)
{
	*seg = (struct elf_segment){
		.type = ph->p_type, .flags = ph->p_flags, .offset = ph->p_offset,
		.vaddr = ph->p_vaddr, .paddr = ph->p_paddr, .filesz = ph->p_filesz,
		.memsz = ph->p_memsz, .align = ph->p_align,
	};
}

/* The class-independent part of the ELF header. */
struct elf_header {
	uint16_t type, machine;
	uint32_t version;
	uint64_t entry, phoff;
	uint16_t phentsize, phnum;
};

static int header_read(const uint8_t *image, size_t size, unsigned bits,
		       struct elf_header *hdr, char err[BOOT_ERROR_MAX])
{
	if (bits == 64) {
		Elf64_Ehdr eh;

		if (size < sizeof(eh))
			return boot_fail(err, -ENOEXEC, "ELF64 image truncated: %zu bytes, header needs %zu",
					 size, sizeof(eh));
		memcpy(&eh, image, sizeof(eh));
		*hdr = (struct elf_header){ eh.e_type, eh.e_machine, eh.e_version, eh.e_entry,
					    eh.e_phoff, eh.e_phentsize, eh.e_phnum };
	} else {
		Elf32_Ehdr eh;

		if (size < sizeof(eh))
			return boot_fail(err, -ENOEXEC, "ELF32 image truncated: %zu bytes, header needs %zu",
					 size, sizeof(eh));
		memcpy(&eh, image, sizeof(eh));
		*hdr = (struct elf_header){ eh.e_type, eh.e_machine, eh.e_version, eh.e_entry,
					    eh.e_phoff, eh.e_phentsize, eh.e_phnum };
	}
	return 0;
}

int elf_parse(const uint8_t *image, size_t size, struct elf_image *elf,
	      char err[BOOT_ERROR_MAX])
{
	struct elf_header hdr = { 0 };
	size_t phentsize;
	unsigned bits;
	int ret;

	if (size < EI_NIDENT || !elf_is_elf(image, size))
		return boot_fail(err, -ENOEXEC, "not an ELF image (bad magic or shorter than %d bytes)",
				 EI_NIDENT);
	switch (image[EI_CLASS]) {
	case ELFCLASS32: bits = 32; break;
	case ELFCLASS64: bits = 64; break;
	default:
		return boot_fail(err, -ENOEXEC, "ELF e_ident[EI_CLASS] %u is neither ELFCLASS32 nor ELFCLASS64",
				 image[EI_CLASS]);
	}
	if (image[EI_DATA] != ELFDATA2LSB)
		return boot_fail(err, -ENOEXEC, "ELF e_ident[EI_DATA] %u is not little-endian (ELFDATA2LSB)",
				 image[EI_DATA]);
	if (image[EI_VERSION] != EV_CURRENT)
		return boot_fail(err, -ENOEXEC, "ELF e_ident[EI_VERSION] %u is not EV_CURRENT",
				 image[EI_VERSION]);
	ret = header_read(image, size, bits, &hdr, err);
	if (ret < 0)
		return ret;
	if (hdr.type != ET_EXEC)
		return boot_fail(err, -ENOEXEC, "ELF e_type %u is not ET_EXEC (an executable kernel)",
				 hdr.type);
	if (bits == 64 && hdr.machine != EM_X86_64)
		return boot_fail(err, -ENOEXEC, "ELF64 e_machine %u is not EM_X86_64 (%u)",
				 hdr.machine, EM_X86_64);
	if (bits == 32 && hdr.machine != EM_386)
		return boot_fail(err, -ENOEXEC, "ELF32 e_machine %u is not EM_386 (%u)",
				 hdr.machine, EM_386);

	phentsize = bits == 64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
	if (hdr.phentsize != phentsize)
		return boot_fail(err, -ENOEXEC, "ELF e_phentsize %u, expected %zu for ELFCLASS%u",
				 hdr.phentsize, phentsize, bits);
	if (hdr.phnum == 0)
		return boot_fail(err, -ENOEXEC, "ELF image has no program headers (e_phnum 0)");
	/* e_phnum == PN_XNUM (0xffff) means "count in section 0"; that and any
	 * other value above our cap is refused before it is multiplied. */
	if (hdr.phnum > ELF_MAX_PHDRS)
		return boot_fail(err, -ENOEXEC, "ELF e_phnum %u exceeds the limit of %u program headers",
				 hdr.phnum, ELF_MAX_PHDRS);
	/* phnum * phentsize is at most 256 * 56, so only e_phoff can overflow:
	 * compare it against the size first, then the remainder. */
	if (hdr.phoff > size || (uint64_t)hdr.phnum * phentsize > size - hdr.phoff)
		return boot_fail(err, -ENOEXEC,
				 "ELF program headers (e_phoff 0x%llx, %u x %zu bytes) extend beyond the %zu-byte file",
				 (unsigned long long)hdr.phoff, hdr.phnum, phentsize, size);

	elf->data = image;
	elf->size = size;
	elf->bits = bits;
	elf->machine = hdr.machine;
	elf->entry = hdr.entry;
	elf->nr_segments = hdr.phnum;
	for (unsigned i = 0; i < hdr.phnum; i++) {
		const uint8_t *p = image + hdr.phoff + (size_t)i * phentsize;

		if (bits == 64) {
			Elf64_Phdr ph;

			memcpy(&ph, p, sizeof(ph));
			segment_from_phdr64(&elf->segments[i], &ph);
		} else {
			Elf32_Phdr ph;

			memcpy(&ph, p, sizeof(ph));
			segment_from_phdr32(&elf->segments[i], &ph);
		}
	}
	return 0;
}

/* A segment's file bytes, bounds-checked: [offset, offset + filesz) must lie
 * inside the file. Written so that neither sum can overflow. */
static bool segment_in_file(const struct elf_image *elf, const struct elf_segment *seg)
{
	return seg->offset <= elf->size && seg->filesz <= elf->size - seg->offset;
}

static uint64_t align_up(uint64_t value, uint64_t align)
{
	return (value + align - 1) & ~(align - 1);
}

/* Walk one PT_NOTE segment. Note layout (ELF gABI "Note Section"): namesz,
 * descsz, type (4 bytes each), then the name and the descriptor, each
 * starting on the note alignment: 4 bytes, or 8 when the segment's p_align
 * says so (toolchains emit 8-aligned notes such as .note.gnu.property). */
static int note_segment_scan(const struct elf_image *elf, unsigned index, bool *found,
			     uint64_t *entry, char err[BOOT_ERROR_MAX])
{
	const struct elf_segment *seg = &elf->segments[index];
	uint64_t note_align = seg->align == 8 ? 8 : 4;
	const uint8_t *notes;
	uint64_t pos = 0;

	if (!segment_in_file(elf, seg))
		return boot_fail(err, -ENOEXEC,
				 "ELF PT_NOTE segment %u (p_offset 0x%llx, p_filesz 0x%llx) extends beyond the %zu-byte file",
				 index, (unsigned long long)seg->offset,
				 (unsigned long long)seg->filesz, elf->size);
	notes = elf->data + seg->offset;
	/* Every note is at least 12 bytes, so the loop ends after at most
	 * filesz / 12 steps whatever the sizes say. */
	while (seg->filesz - pos >= 12) {
		uint32_t namesz, descsz, type;
		uint64_t name_off, desc_off, next;

		memcpy(&namesz, notes + pos, 4);
		memcpy(&descsz, notes + pos + 4, 4);
		memcpy(&type, notes + pos + 8, 4);
		/* Name and descriptor start on note_align boundaries of the
		 * segment. All terms are below 2^34: no sum overflows. */
		name_off = pos + 12;
		desc_off = align_up(name_off + namesz, note_align);
		next = align_up(desc_off + descsz, note_align);
		if (desc_off + descsz > seg->filesz || name_off + namesz > seg->filesz)
			return boot_fail(err, -ENOEXEC,
					 "ELF note at offset 0x%llx in PT_NOTE segment %u (namesz %u, descsz %u) overruns the segment",
					 (unsigned long long)pos, index, namesz, descsz);
		if (namesz == 4 && memcmp(notes + name_off, "Xen", 4) == 0 &&
		    type == ELF_NOTE_XEN_PHYS32_ENTRY) {
			uint64_t value = 0;

			if (descsz != 4 && descsz != 8)
				return boot_fail(err, -ENOEXEC,
						 "PVH note XEN_ELFNOTE_PHYS32_ENTRY has descsz %u, expected 4 or 8",
						 descsz);
			memcpy(&value, notes + desc_off, descsz);
			if (value > UINT32_MAX)
				return boot_fail(err, -ENOEXEC,
						 "PVH entry 0x%llx (XEN_ELFNOTE_PHYS32_ENTRY) is above 4 GiB",
						 (unsigned long long)value);
			*found = true;
			*entry = value;
			return 0;
		}
		if (next >= seg->filesz)
			break;
		pos = next;
	}
	return 0;
}

int elf_pvh_entry(const struct elf_image *elf, bool *found, uint64_t *entry,
		  char err[BOOT_ERROR_MAX])
{
	*found = false;
	*entry = 0;
	for (unsigned i = 0; i < elf->nr_segments; i++) {
		int ret;

		if (elf->segments[i].type != PT_NOTE)
			continue;
		ret = note_segment_scan(elf, i, found, entry, err);
		if (ret < 0 || *found)
			return ret;
	}
	return 0;
}

/* PT_LOAD segments that are empty in both file and memory put nothing in
 * memory and are skipped everywhere; any other is checked. */
static bool segment_loads(const struct elf_segment *seg)
{
	return seg->type == PT_LOAD && (seg->memsz > 0 || seg->filesz > 0);
}

static int segment_check(const struct guest_memory *mem, const struct elf_image *elf,
			 unsigned index, char err[BOOT_ERROR_MAX])
{
	const struct elf_segment *seg = &elf->segments[index];
	uint64_t low_end = guest_memory_low_end(mem);

	if (seg->filesz > seg->memsz)
		return boot_fail(err, -ENOEXEC, "ELF segment %u has p_filesz 0x%llx > p_memsz 0x%llx",
				 index, (unsigned long long)seg->filesz,
				 (unsigned long long)seg->memsz);
	if (!segment_in_file(elf, seg))
		return boot_fail(err, -ENOEXEC,
				 "ELF segment %u (p_offset 0x%llx, p_filesz 0x%llx) extends beyond the %zu-byte file",
				 index, (unsigned long long)seg->offset,
				 (unsigned long long)seg->filesz, elf->size);
	if (seg->memsz > UINT64_MAX - seg->paddr)
		return boot_fail(err, -ENOEXEC,
				 "ELF segment %u: p_paddr 0x%llx + p_memsz 0x%llx overflows",
				 index, (unsigned long long)seg->paddr,
				 (unsigned long long)seg->memsz);
	/* Below 1 MiB live our boot structures, the EBDA with the MP tables
	 * and the legacy hole; a kernel has no business there. */
	if (seg->paddr < LAYOUT_HIGH_MEMORY_START)
		return boot_fail(err, -ENOEXEC,
				 "ELF segment %u at p_paddr 0x%llx is below 1 MiB (boot data, EBDA and legacy area)",
				 index, (unsigned long long)seg->paddr);
	/* Only RAM below the device hole: both entry protocols start with at
	 * most 4 GiB addressable (identity map or no paging). */
	if (seg->paddr >= low_end || seg->memsz > low_end - seg->paddr)
		return boot_fail(err, -ENOMEM,
				 "ELF segment %u [0x%llx, +0x%llx) does not fit in guest RAM below 0x%llx",
				 index, (unsigned long long)seg->paddr,
				 (unsigned long long)seg->memsz, (unsigned long long)low_end);
	for (unsigned j = 0; j < index; j++) {
		const struct elf_segment *other = &elf->segments[j];

		if (!segment_loads(other))
			continue;
		/* Both ranges are known not to wrap (checked above for j). */
		if (seg->paddr < other->paddr + other->memsz &&
		    other->paddr < seg->paddr + seg->memsz)
			return boot_fail(err, -ENOEXEC,
					 "ELF segments %u [0x%llx, +0x%llx) and %u [0x%llx, +0x%llx) overlap",
					 j, (unsigned long long)other->paddr,
					 (unsigned long long)other->memsz, index,
					 (unsigned long long)seg->paddr,
					 (unsigned long long)seg->memsz);
	}
	return 0;
}

int elf_check_segments(const struct guest_memory *mem, const struct elf_image *elf,
		       struct elf_extent *extent, char err[BOOT_ERROR_MAX])
{
	bool any = false;

	*extent = (struct elf_extent){ UINT64_MAX, 0 };
	for (unsigned i = 0; i < elf->nr_segments; i++) {
		const struct elf_segment *seg = &elf->segments[i];
		int ret;

		if (!segment_loads(seg))
			continue;
		ret = segment_check(mem, elf, i, err);
		if (ret < 0)
			return ret;
		any = true;
		if (seg->paddr < extent->start)
			extent->start = seg->paddr;
		if (seg->paddr + seg->memsz > extent->end)
			extent->end = seg->paddr + seg->memsz;
	}
	if (!any)
		return boot_fail(err, -ENOEXEC, "ELF image has no non-empty PT_LOAD segment");
	return 0;
}

int elf_copy_segments(struct guest_memory *mem, const struct elf_image *elf)
{
	for (unsigned i = 0; i < elf->nr_segments; i++) {
		const struct elf_segment *seg = &elf->segments[i];
		uint8_t *dst;

		if (!segment_loads(seg))
			continue;
		dst = guest_memory_ptr(mem, seg->paddr, seg->memsz);
		if (!dst)
			return -EFAULT;
		/* p_memsz beyond p_filesz (.bss) is already zero: boot_load()
		 * takes freshly zeroed RAM. Zeroing it again would fault in every
		 * page of a large .bss (test kernels carry megabytes) for nothing. */
		memcpy(dst, elf->data + seg->offset, seg->filesz);
	}
	return 0;
}

bool elf_paddr_loaded(const struct elf_image *elf, uint64_t addr, uint64_t len)
{
	for (unsigned i = 0; i < elf->nr_segments; i++) {
		const struct elf_segment *seg = &elf->segments[i];

		if (!segment_loads(seg) || addr < seg->paddr)
			continue;
		if (addr - seg->paddr < seg->memsz && len <= seg->memsz - (addr - seg->paddr))
			return true;
	}
	return false;
}

int elf_entry_paddr(const struct elf_image *elf, uint64_t *paddr, char err[BOOT_ERROR_MAX])
{
	uint64_t entry = elf->entry;

	if (elf_paddr_loaded(elf, entry, 1)) {
		*paddr = entry;
		return 0;
	}
	for (unsigned i = 0; i < elf->nr_segments; i++) {
		const struct elf_segment *seg = &elf->segments[i];

		if (!segment_loads(seg) || entry < seg->vaddr || entry - seg->vaddr >= seg->memsz)
			continue;
		*paddr = seg->paddr + (entry - seg->vaddr);
		return 0;
	}
	return boot_fail(err, -ENOEXEC, "ELF e_entry 0x%llx lies in no PT_LOAD segment",
			 (unsigned long long)entry);
}
