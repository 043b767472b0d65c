/* raw_kvm: the reference for kvmrun's start-up and exit benchmarks
 * (bench/README.md).
 *
 * The least a C program has to do to build the VM kvmrun builds and run a
 * PVH guest to its exit: the same KVM ioctls in the same order (identity
 * map, TSS, in-kernel irqchip and PIT, one memfd-backed memory slot, one
 * vCPU with the host's supported CPUID as-is, the same boot MSRs and LAPIC
 * LINT wiring, the PVH 32-bit entry state), the same guest physical layout
 * (src/layout.h) and e820 map, and a KVM_RUN loop on the main thread that
 * knows three ports: COM1's THR (to stdout), COM1's LSR (always "ready to
 * transmit") and kvmrun's exit port 0x600. No threads, no event loop, no
 * device model, no heap: whatever kvmrun spends beyond this is its overhead.
 * Every other exit gets the least handling there is: port writes and MMIO
 * writes are dropped, port and MMIO reads return all-ones. That is the
 * raw loop the exit benchmark compares kvmrun's exit path with.
 *
 * Usage: raw_kvm IMAGE [CMDLINE]
 * Exit status as kvmrun's: the guest's code; 2 bad image; 3 host/KVM error;
 * 4 guest crash. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATUS_BAD_INPUT   2
#define STATUS_HOST_ERROR  3
#define STATUS_GUEST_CRASH 4

#define RAM_SIZE          (128ULL << 20)  /* kvmrun's default --memory */

/* Guest physical addresses, as in kvmrun's src/layout.h. */
#define IDENTITY_MAP_ADDR 0xfeffc000ULL
#define TSS_ADDR          0xfeffd000ULL
#define BOOT_GDT_ADDR     0x500ULL
#define START_INFO_ADDR   0x5000ULL
#define CMDLINE_ADDR      0x20000ULL
#define EBDA_START        0x9fc00ULL
#define HIGH_MEMORY_START 0x100000ULL

/* The command line when none is given; the start-up guests ignore it. */
#define CMDLINE "console=ttyS0 reboot=k panic=1 pci=off nomodule"
#define CMDLINE_MAX       4096  /* with its NUL; far below the 64 KiB kvmrun allows */

#define PORT_COM1_THR     0x3f8
#define PORT_COM1_LSR     0x3fd
#define PORT_EXIT         0x600
#define LSR_THRE_TEMT     0x60  /* transmitter empty: the guest may send 16 bytes */

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define PVH_START_MAGIC   0x336ec578u
#define E820_RAM          1
#define E820_RESERVED     2

/* xen/include/public/arch-x86/hvm/start_info.h, version 1. */
struct hvm_start_info {
	uint32_t magic, version, flags, nr_modules;
	uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
	uint32_t memmap_entries, reserved;
};

struct hvm_memmap_entry {
	uint64_t addr, size;
	uint32_t type, reserved;
};

#define MSR_IA32_MISC_ENABLE 0x1a0
#define MSR_MTRR_DEF_TYPE    0x2ff
#define APIC_LVT0            0x350
#define APIC_LVT1            0x360
#define APIC_MODE_MASK       (7u << 8)
#define APIC_MODE_NMI        (4u << 8)
#define APIC_MODE_EXTINT     (7u << 8)

struct raw_vm {
	int kvm, vm, vcpu;
	uint8_t *ram;
	struct kvm_run *run;
	uint32_t entry;          /* XEN_ELFNOTE_PHYS32_ENTRY */
};

/* Print "raw_kvm: what: strerror(errno)" and return the host-error status. */
static int host_error(const char *what)
{
	fprintf(stderr, "raw_kvm: %s: %s\n", what, strerror(errno));
	return STATUS_HOST_ERROR;
}

static int bad_image(const char *path, const char *why)
{
	fprintf(stderr, "raw_kvm: %s: %s\n", path, why);
	return STATUS_BAD_INPUT;
}

/* Whether [off, off + len) lies within a buffer of `size` bytes. */
static int in_bounds(uint64_t off, uint64_t len, uint64_t size)
{
	return off <= size && len <= size - off;
}

/* The PVH entry from a PT_NOTE segment: notes of 12-byte headers, name and
 * descriptor each padded to the segment's alignment (4, or 8 for some
 * ELF64 toolchains). Returns 1 if found. */
static int find_pvh_entry(const uint8_t *img, size_t size, const Elf64_Phdr *ph, uint32_t *entry)
{
	uint64_t align = ph->p_align == 8 ? 8 : 4;
	uint64_t off = ph->p_offset, end;

	if (!in_bounds(ph->p_offset, ph->p_filesz, size))
		return 0;
	end = ph->p_offset + ph->p_filesz;
	while (end - off >= sizeof(Elf64_Nhdr)) {
		Elf64_Nhdr nh;
		uint64_t name, desc;

		memcpy(&nh, img + off, sizeof(nh));
		name = off + sizeof(nh);
		desc = name + ((nh.n_namesz + align - 1) & ~(align - 1));
		if (desc > end || (uint64_t)nh.n_descsz > end - desc)
			return 0;
		if (nh.n_type == XEN_ELFNOTE_PHYS32_ENTRY && nh.n_namesz == 4 &&
		    memcmp(img + name, "Xen", 4) == 0 && nh.n_descsz >= 4) {
			memcpy(entry, img + desc, 4);  /* a 32-bit entry, little-endian */
			return 1;
		}
		off = desc + ((nh.n_descsz + align - 1) & ~(align - 1));
		if (off > end)
			return 0;
	}
	return 0;
}

/* Copy the PT_LOAD segments to their physical addresses and find the PVH
 * entry. The bytes past p_filesz are not cleared: RAM is a fresh memfd,
 * which reads as zeros (memfd_create(2), ftruncate(2)). */
static int image_load(struct raw_vm *v, const char *path)
{
	struct stat st;
	const uint8_t *img;
	Elf64_Ehdr eh;
	int fd, found = 0, status = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return bad_image(path, strerror(errno));
	img = fstat(fd, &st) == 0 && st.st_size > 0
		? mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
	close(fd);
	if (img == MAP_FAILED)
		return bad_image(path, "empty, or cannot be read");

	memcpy(&eh, img, (size_t)st.st_size < sizeof(eh) ? (size_t)st.st_size : sizeof(eh));
	if ((size_t)st.st_size < sizeof(eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_machine != EM_X86_64 ||
	    eh.e_phentsize != sizeof(Elf64_Phdr) ||
	    !in_bounds(eh.e_phoff, (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr), (uint64_t)st.st_size)) {
		status = bad_image(path, "not an x86-64 ELF64 image with program headers");
		goto unmap;
	}
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, img + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_NOTE && !found)
			found = find_pvh_entry(img, (size_t)st.st_size, &ph, &v->entry);
		if (ph.p_type != PT_LOAD)
			continue;
		if (!in_bounds(ph.p_offset, ph.p_filesz, (uint64_t)st.st_size) ||
		    ph.p_filesz > ph.p_memsz || !in_bounds(ph.p_paddr, ph.p_memsz, RAM_SIZE)) {
			status = bad_image(path, "a PT_LOAD segment lies outside the file or guest RAM");
			goto unmap;
		}
		memcpy(v->ram + ph.p_paddr, img + ph.p_offset, ph.p_filesz);
	}
	if (!found)
		status = bad_image(path, "no XEN_ELFNOTE_PHYS32_ENTRY note (not a PVH image)");
unmap:
	munmap((void *)img, (size_t)st.st_size);
	return status;
}

/* What the guest finds in RAM besides its image: kvmrun's boot GDT (flat
 * 32-bit code at 0x10, data at 0x18), the command line, and hvm_start_info
 * followed by the memory map, with kvmrun's e820 entries. */
static void boot_data_write(struct raw_vm *v, const char *cmdline, size_t cmdline_size)
{
	static const uint64_t gdt[4] = { 0, 0, 0x00cf9b000000ffffULL, 0x00cf93000000ffffULL };
	const struct hvm_memmap_entry map[3] = {
		{ 0, EBDA_START, E820_RAM, 0 },
		{ EBDA_START, HIGH_MEMORY_START - EBDA_START, E820_RESERVED, 0 },
		{ HIGH_MEMORY_START, RAM_SIZE - HIGH_MEMORY_START, E820_RAM, 0 },
	};
	const struct hvm_start_info info = {
		.magic = PVH_START_MAGIC,
		.version = 1,
		.cmdline_paddr = CMDLINE_ADDR,
		.memmap_paddr = START_INFO_ADDR + sizeof(info),
		.memmap_entries = 3,
	};

	memcpy(v->ram + BOOT_GDT_ADDR, gdt, sizeof(gdt));
	memcpy(v->ram + CMDLINE_ADDR, cmdline, cmdline_size);
	memcpy(v->ram + START_INFO_ADDR, &info, sizeof(info));
	memcpy(v->ram + START_INFO_ADDR + sizeof(info), map, sizeof(map));
}

static int vm_create(struct raw_vm *v)
{
	uint64_t identity_map = IDENTITY_MAP_ADDR;
	struct kvm_pit_config pit = { .flags = 0 };
	struct kvm_userspace_memory_region slot = { .slot = 0, .memory_size = RAM_SIZE };
	int memfd;

	v->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (v->kvm < 0)
		return host_error("/dev/kvm");
	if (ioctl(v->kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
		return host_error("KVM_GET_API_VERSION");
	v->vm = ioctl(v->kvm, KVM_CREATE_VM, 0);
	if (v->vm < 0)
		return host_error("KVM_CREATE_VM");
	if (ioctl(v->vm, KVM_SET_IDENTITY_MAP_ADDR, &identity_map) < 0)
		return host_error("KVM_SET_IDENTITY_MAP_ADDR");
	if (ioctl(v->vm, KVM_SET_TSS_ADDR, (unsigned long)TSS_ADDR) < 0)
		return host_error("KVM_SET_TSS_ADDR");
	if (ioctl(v->vm, KVM_CREATE_IRQCHIP, 0) < 0)
		return host_error("KVM_CREATE_IRQCHIP");
	if (ioctl(v->vm, KVM_CREATE_PIT2, &pit) < 0)
		return host_error("KVM_CREATE_PIT2");

	memfd = memfd_create("raw-kvm-guest-ram", MFD_CLOEXEC);
	if (memfd < 0)
		return host_error("memfd_create");
	if (ftruncate(memfd, (off_t)RAM_SIZE) < 0)
		return host_error("ftruncate(guest RAM)");
	v->ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, memfd, 0);
	if (v->ram == MAP_FAILED)
		return host_error("mmap(guest RAM)");
	slot.userspace_addr = (uint64_t)(uintptr_t)v->ram;
	if (ioctl(v->vm, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
		return host_error("KVM_SET_USER_MEMORY_REGION");
	return 0;
}

static int vcpu_create(struct raw_vm *v)
{
	struct {
		struct kvm_cpuid2 hdr;
		struct kvm_cpuid_entry2 entries[256];
	} cpuid = { .hdr.nent = 256 };
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry entries[2];
	} msrs = {
		.hdr.nmsrs = 2,
		.entries = {
			{ .index = MSR_IA32_MISC_ENABLE, .data = 1 },        /* fast strings */
			{ .index = MSR_MTRR_DEF_TYPE, .data = (1 << 11) | 6 }, /* MTRRs on, WB */
		},
	};
	struct kvm_lapic_state lapic;
	uint32_t lvt;
	int mmap_size;

	v->vcpu = ioctl(v->vm, KVM_CREATE_VCPU, 0UL);
	if (v->vcpu < 0)
		return host_error("KVM_CREATE_VCPU");
	mmap_size = ioctl(v->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (mmap_size < 0)
		return host_error("KVM_GET_VCPU_MMAP_SIZE");
	v->run = mmap(NULL, (size_t)mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->vcpu, 0);
	if (v->run == MAP_FAILED)
		return host_error("mmap(kvm_run)");

	if (ioctl(v->kvm, KVM_GET_SUPPORTED_CPUID, &cpuid) < 0)
		return host_error("KVM_GET_SUPPORTED_CPUID");
	if (ioctl(v->vcpu, KVM_SET_CPUID2, &cpuid) < 0)
		return host_error("KVM_SET_CPUID2");
	if (ioctl(v->vcpu, KVM_SET_MSRS, &msrs) != 2) {
		fprintf(stderr, "raw_kvm: KVM_SET_MSRS: not all 2 MSRs were set\n");
		return STATUS_HOST_ERROR;
	}

	/* LINT0 = ExtINT (the PIC), LINT1 = NMI: virtual wire mode, MP spec
	 * 1.4 §3.6.2, as kvmrun and a BIOS set them. */
	if (ioctl(v->vcpu, KVM_GET_LAPIC, &lapic) < 0)
		return host_error("KVM_GET_LAPIC");
	memcpy(&lvt, &lapic.regs[APIC_LVT0], 4);
	lvt = (lvt & ~APIC_MODE_MASK) | APIC_MODE_EXTINT;
	memcpy(&lapic.regs[APIC_LVT0], &lvt, 4);
	memcpy(&lvt, &lapic.regs[APIC_LVT1], 4);
	lvt = (lvt & ~APIC_MODE_MASK) | APIC_MODE_NMI;
	memcpy(&lapic.regs[APIC_LVT1], &lvt, 4);
	if (ioctl(v->vcpu, KVM_SET_LAPIC, &lapic) < 0)
		return host_error("KVM_SET_LAPIC");
	return 0;
}

/* PVH entry state (pvh.pandoc): 32-bit protected mode, paging off, flat
 * code and data segments matching the GDT in RAM, TR a busy 32-bit TSS
 * (VM entry needs one), EFLAGS.IF = 0, EBX = hvm_start_info. */
static int vcpu_set_pvh_entry(struct raw_vm *v)
{
	struct kvm_segment code = {
		.base = 0, .limit = 0xffffffff, .selector = 0x10, .type = 0xb,
		.present = 1, .s = 1, .db = 1, .g = 1,
	};
	struct kvm_segment data = code;
	struct kvm_regs regs = { .rip = v->entry, .rbx = START_INFO_ADDR, .rflags = 0x2 };
	struct kvm_sregs sregs;

	data.selector = 0x18;
	data.type = 0x3;
	if (ioctl(v->vcpu, KVM_GET_SREGS, &sregs) < 0)
		return host_error("KVM_GET_SREGS");
	sregs.cs = code;
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
	sregs.tr = (struct kvm_segment){ .limit = 0x67, .type = 0xb, .present = 1 };
	sregs.ldt = (struct kvm_segment){ .type = 0x2, .unusable = 1 };
	sregs.gdt = (struct kvm_dtable){ .base = BOOT_GDT_ADDR, .limit = 31 };
	sregs.idt = (struct kvm_dtable){ .base = 0, .limit = 0 };
	sregs.cr0 = 0x11;  /* PE | ET */
	sregs.cr2 = sregs.cr3 = sregs.cr4 = sregs.cr8 = sregs.efer = 0;
	if (ioctl(v->vcpu, KVM_SET_SREGS, &sregs) < 0)
		return host_error("KVM_SET_SREGS");
	if (ioctl(v->vcpu, KVM_SET_REGS, &regs) < 0)
		return host_error("KVM_SET_REGS");
	return 0;
}

/* One KVM_EXIT_IO. Returns the exit status when the guest wrote the exit
 * port, -1 to keep running. */
static int handle_io(struct raw_vm *v)
{
	struct kvm_run *run = v->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	size_t bytes = (size_t)run->io.size * run->io.count;

	if (run->io.direction == KVM_EXIT_IO_OUT) {
		if (run->io.port == PORT_EXIT)
			return data[0];
		if (run->io.port == PORT_COM1_THR && run->io.size == 1 &&
		    write(STDOUT_FILENO, data, bytes) < 0)
			return host_error("write(stdout)");
		return -1;
	}
	memset(data, run->io.port == PORT_COM1_LSR ? LSR_THRE_TEMT : 0xff, bytes);
	return -1;
}

static int vcpu_run(struct raw_vm *v)
{
	for (;;) {
		int status;

		if (ioctl(v->vcpu, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return host_error("KVM_RUN");
		}
		switch (v->run->exit_reason) {
		case KVM_EXIT_IO:
			status = handle_io(v);
			if (status >= 0)
				return status;
			break;
		case KVM_EXIT_MMIO:
			if (!v->run->mmio.is_write)
				memset(v->run->mmio.data, 0xff, sizeof(v->run->mmio.data));
			break;
		case KVM_EXIT_SHUTDOWN:
		case KVM_EXIT_FAIL_ENTRY:
		case KVM_EXIT_INTERNAL_ERROR:
			fprintf(stderr, "raw_kvm: guest crashed: KVM exit reason %u\n",
				v->run->exit_reason);
			return STATUS_GUEST_CRASH;
		default:
			fprintf(stderr, "raw_kvm: unexpected KVM exit reason %u\n",
				v->run->exit_reason);
			return STATUS_HOST_ERROR;
		}
	}
}

int main(int argc, char **argv)
{
	struct raw_vm v = { .kvm = -1, .vm = -1, .vcpu = -1 };
	const char *cmdline = argc == 3 ? argv[2] : CMDLINE;
	size_t cmdline_size = strlen(cmdline) + 1;
	int status;

	if (argc != 2 && argc != 3) {
		fprintf(stderr, "usage: raw_kvm IMAGE [CMDLINE]   (a PVH ELF; 1 vCPU, 128 MiB)\n");
		return STATUS_BAD_INPUT;
	}
	if (cmdline_size > CMDLINE_MAX) {
		fprintf(stderr, "raw_kvm: command line of %zu bytes: at most %d\n",
			cmdline_size - 1, CMDLINE_MAX - 1);
		return STATUS_BAD_INPUT;
	}
	/* Descriptors and mappings are left to process exit: that is the
	 * cheapest teardown, and the one a minimal program would have. */
	status = vm_create(&v);
	if (!status)
		status = image_load(&v, argv[1]);
	if (!status) {
		boot_data_write(&v, cmdline, cmdline_size);
		status = vcpu_create(&v);
	}
	if (!status)
		status = vcpu_set_pvh_entry(&v);
	if (!status)
		status = vcpu_run(&v);
	return status;
}
