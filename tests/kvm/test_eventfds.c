/* The exit fast path through KVM: a guest write to a port bound to an
 * ioeventfd completes in the kernel (the eventfd fires, the VMM sees no
 * exit for it), and writing an irqfd injects an interrupt the guest
 * receives through the IOAPIC (guest/tests/eventfd.c).
 * Exits 77 (meson's SKIP) with a loud message when /dev/kvm is unusable. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <cmocka.h>

#include "machine.h"
#include "vcpu.h"
#include "vm.h"
#include "kvm_test.h"

#define DOORBELL_PORT 0x604
#define IRQ_GSI       5
#define SUCCESS       0x5a

static void test_doorbell_and_interrupt(void **state)
{
	static char *argv[] = { "kvmrun", "--kernel", "guest/eventfd.elf", "--memory", "32M",
				"--console", "none", NULL };
	struct config cfg;
	struct machine *m;
	struct vm *vm;
	char err[CONFIG_ERROR_MAX];
	uint64_t doorbell_value = 1, count = 0, one = 1;
	int doorbell = eventfd(0, EFD_CLOEXEC), irq = eventfd(0, EFD_CLOEXEC);

	(void)state;
	assert_true(doorbell >= 0 && irq >= 0);
	assert_int_equal(config_parse(&cfg, 7, argv, err), 0);
	assert_int_equal(machine_create(&cfg, &m), EXIT_STATUS_OK);
	vm = machine_vm(m);
	assert_int_equal(vm_add_ioeventfd(vm, VM_IO_PIO, DOORBELL_PORT, 1, &doorbell_value, doorbell), 0);
	assert_int_equal(vm_add_irqfd(vm, IRQ_GSI, irq), 0);
	assert_int_equal(machine_start(m), 0);

	struct pollfd pfd = { .fd = doorbell, .events = POLLIN };
	int ready = poll(&pfd, 1, 20000);
	if (ready != 1)
		vm_request_stop(vm, VM_STOP_VMM_ERROR, 0);
	assert_int_equal(ready, 1);
	assert_int_equal(read(doorbell, &count, sizeof(count)), sizeof(count));
	assert_int_equal(count, 1);
	assert_int_equal(write(irq, &one, sizeof(one)), sizeof(one));

	int status = machine_wait(m);
	/* The doorbell port is on no bus: had the write reached the VMM it
	 * would have been counted as unmapped. */
	assert_int_equal(atomic_load(&vm->pio.unmapped_writes), 0);
	assert_int_equal(status, SUCCESS);

	assert_int_equal(vm_remove_irqfd(vm, IRQ_GSI, irq), 0);
	assert_int_equal(vm_remove_ioeventfd(vm, VM_IO_PIO, DOORBELL_PORT, 1, &doorbell_value, doorbell), 0);
	machine_destroy(m);
	close(doorbell);
	close(irq);
}

static void test_bad_arguments_are_refused(void **state)
{
	static char *argv[] = { "kvmrun", "--kernel", "guest/eventfd.elf", "--memory", "32M",
				"--console", "none", NULL };
	struct config cfg;
	struct machine *m;
	char err[CONFIG_ERROR_MAX];
	int fd = eventfd(0, EFD_CLOEXEC);

	(void)state;
	assert_int_equal(config_parse(&cfg, 7, argv, err), 0);
	assert_int_equal(machine_create(&cfg, &m), EXIT_STATUS_OK);
	assert_int_equal(vm_add_ioeventfd(machine_vm(m), VM_IO_PIO, DOORBELL_PORT, 3, NULL, fd), -EINVAL);
	assert_true(vm_add_irqfd(machine_vm(m), IRQ_GSI, -1) < 0);
	machine_destroy(m);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_doorbell_and_interrupt),
		cmocka_unit_test(test_bad_arguments_are_refused),
	};

	return kvm_test_run("eventfd tests", tests, NULL, NULL);
}
