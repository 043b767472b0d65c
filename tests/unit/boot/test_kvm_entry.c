/* The loaders' output, run: each protocol's image is loaded by boot_load(),
 * the vCPU gets boot_entry_to_cpu_state()'s registers, and a few guest
 * instructions at the entry point read the boot structure the protocol
 * passes (zero page through %rsi, hvm_start_info or multiboot_info through
 * %ebx) and write a field of it to port 0x600. That proves KVM accepts the
 * entry state (no failed VM entry), the mode is right for the code, and for
 * long mode that the identity map covers the zero page. Skipped without
 * /dev/kvm. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "boot/cpu_state.h"
#include "boot_test.h"
#include "layout.h"

#define EXIT_PORT 0x600

/* mov $0x600, %dx; mov disp32(%rsi or %rbx), %eax; out %eax, %dx; hlt.
 * The same bytes decode identically in 32-bit and 64-bit mode. */
static void guest_code(uint8_t *p, bool via_rbx, uint32_t disp)
{
	const uint8_t code[] = {
		0x66, 0xba, 0x00, 0x06,
		0x8b, via_rbx ? 0x83 : 0x86, 0, 0, 0, 0,
		0xef,
		0xf4,
	};

	memcpy(p, code, sizeof(code));
	test_put32(p + 6, disp);
}

struct vm {
	int kvm, fd, vcpu;
	struct kvm_run *run;
	size_t run_size;
	struct guest_memory mem;
};

static int vm_create(struct vm *vm)
{
	struct kvm_userspace_memory_region region;
	struct kvm_cpuid2 *cpuid;
	int nent = 256;

	vm->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm < 0)
		return -1;
	vm->fd = ioctl(vm->kvm, KVM_CREATE_VM, 0);
	assert_true(vm->fd >= 0);
	assert_int_equal(ioctl(vm->fd, KVM_SET_TSS_ADDR, (unsigned long)LAYOUT_TSS), 0);
	ram_create(&vm->mem, TEST_RAM);
	region = (struct kvm_userspace_memory_region){
		.slot = 0, .guest_phys_addr = 0, .memory_size = TEST_RAM,
		.userspace_addr = (uintptr_t)vm->mem.host,
	};
	assert_int_equal(ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &region), 0);
	vm->vcpu = ioctl(vm->fd, KVM_CREATE_VCPU, 0);
	assert_true(vm->vcpu >= 0);
	vm->run_size = (size_t)ioctl(vm->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	vm->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vm->vcpu, 0);
	assert_true(vm->run != MAP_FAILED);

	/* Long mode needs CPUID.80000001:EDX.LM in the guest's CPUID before
	 * KVM accepts EFER.LME. */
	cpuid = calloc(1, sizeof(*cpuid) + nent * sizeof(cpuid->entries[0]));
	assert_non_null(cpuid);
	cpuid->nent = nent;
	assert_int_equal(ioctl(vm->kvm, KVM_GET_SUPPORTED_CPUID, cpuid), 0);
	assert_int_equal(ioctl(vm->vcpu, KVM_SET_CPUID2, cpuid), 0);
	free(cpuid);
	return 0;
}

static void vm_destroy(struct vm *vm)
{
	munmap(vm->run, vm->run_size);
	close(vm->vcpu);
	close(vm->fd);
	close(vm->kvm);
	guest_memory_destroy(&vm->mem);
}

/* Load `image`, enter it, and return the value it writes to the exit port. */
static uint32_t boot_and_run(const uint8_t *image, size_t size, struct boot_entry *entry)
{
	struct vm vm;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	char err[BOOT_ERROR_MAX];
	uint32_t value;

	if (vm_create(&vm) < 0)
		skip();
	assert_int_equal(load(&vm.mem, image, size, NULL, 0, "", entry, err), 0);
	assert_int_equal(ioctl(vm.vcpu, KVM_GET_SREGS, &sregs), 0);
	boot_entry_to_cpu_state(entry, &regs, &sregs);
	assert_int_equal(ioctl(vm.vcpu, KVM_SET_SREGS, &sregs), 0);
	assert_int_equal(ioctl(vm.vcpu, KVM_SET_REGS, &regs), 0);

	assert_int_equal(ioctl(vm.vcpu, KVM_RUN, 0), 0);
	if (vm.run->exit_reason != KVM_EXIT_IO)
		fail_msg("exit reason %u (hardware reason 0x%llx), expected KVM_EXIT_IO",
			 vm.run->exit_reason,
			 (unsigned long long)vm.run->fail_entry.hardware_entry_failure_reason);
	assert_int_equal(vm.run->io.direction, KVM_EXIT_IO_OUT);
	assert_int_equal(vm.run->io.port, EXIT_PORT);
	assert_int_equal(vm.run->io.size, 4);
	memcpy(&value, (uint8_t *)vm.run + vm.run->io.data_offset, 4);
	vm_destroy(&vm);
	return value;
}

static void test_bzimage_runs_in_long_mode(void **state)
{
	struct test_bzimage spec;
	struct boot_entry entry;
	size_t size;
	uint8_t *img;

	(void)state;
	test_bzimage_defaults(&spec);
	img = test_bzimage_build(&spec, &size);
	/* Read the zero page's "HdrS" through %rsi. */
	guest_code(img + test_bzimage_setup_size(&spec) + 0x200, false, 0x202);
	assert_int_equal(boot_and_run(img, size, &entry), 0x53726448);
	free(img);
}

static void test_vmlinux_runs_in_long_mode(void **state)
{
	struct test_elf spec;
	struct boot_entry entry;
	size_t size;
	uint8_t *img;

	(void)state;
	test_elf_defaults64(&spec);
	spec.entry = 0xffffffff81000010ULL;   /* virtual, translated to 0x1000010 */
	img = test_elf_build(&spec, &size);
	/* cmd_line_ptr from the zero page */
	guest_code(img + test_elf_segment_data_offset(&spec, img, 0) + 0x10, false, 0x228);
	assert_int_equal(boot_and_run(img, size, &entry), LAYOUT_CMDLINE);
	free(img);
}

static void test_pvh_runs_in_protected_mode(void **state)
{
	struct test_elf spec;
	struct boot_entry entry;
	size_t size;
	uint8_t *img;

	(void)state;
	test_elf_defaults_pvh32(&spec);
	spec.pvh_entry = 0x100020;
	img = test_elf_build(&spec, &size);
	/* hvm_start_info.magic through %ebx */
	guest_code(img + test_elf_segment_data_offset(&spec, img, 0) + 0x20, true, 0);
	assert_int_equal(boot_and_run(img, size, &entry), 0x336ec578);
	free(img);
}

/* xor $0x2badb002, %eax; add 8(%ebx), %eax; mov $0x600, %dx; out %eax, %dx;
 * hlt: writes mem_upper only if EAX held the boot loader magic. */
static void multiboot_code(uint8_t *p)
{
	const uint8_t code[] = {
		0x35, 0x02, 0xb0, 0xad, 0x2b,
		0x03, 0x43, 0x08,
		0x66, 0xba, 0x00, 0x06,
		0xef,
		0xf4,
	};

	memcpy(p, code, sizeof(code));
}

static void test_multiboot_runs_in_protected_mode(void **state)
{
	struct test_elf spec;
	struct boot_entry entry;
	size_t size, data;
	uint8_t *img;

	(void)state;
	test_elf_defaults_pvh32(&spec);
	spec.pvh_note = false;
	spec.entry = 0x100020;
	img = test_elf_build(&spec, &size);
	data = test_elf_segment_data_offset(&spec, img, 0);
	/* Multiboot header (magic, flags 0, checksum), then the code. */
	test_put32(img + data, 0x1BADB002);
	test_put32(img + data + 4, 0);
	test_put32(img + data + 8, 0u - 0x1BADB002u);
	multiboot_code(img + data + 0x20);
	assert_int_equal(boot_and_run(img, size, &entry), (TEST_RAM - 0x100000) / 1024);
	assert_int_equal(entry.protocol, BOOT_PROTOCOL_MULTIBOOT);
	free(img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bzimage_runs_in_long_mode),
		cmocka_unit_test(test_vmlinux_runs_in_long_mode),
		cmocka_unit_test(test_pvh_runs_in_protected_mode),
		cmocka_unit_test(test_multiboot_runs_in_protected_mode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
