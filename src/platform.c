#include "platform.h"

#include <string.h>

#include "log.h"
#include "vm.h"

static int map(struct vm *vm, uint64_t port, uint64_t len, const struct bus_device_ops *ops,
	       void *dev, const char *name)
{
	int ret = bus_insert(&vm->pio, port, len, ops, dev, name);

	if (ret < 0)
		log_error("cannot map %s at port 0x%llx: %s", name, (unsigned long long)port,
			  strerror(-ret));
	return ret;
}

int platform_init(struct platform *p, struct vm *vm, int console_fd)
{
	const struct guest_memory *mem = &vm->mem;
	uint64_t high = mem->size - guest_memory_low_end(mem);
	int ret;

	memset(p, 0, sizeof(*p));
	ret = uart_init(&p->com1, console_fd, vm_irq_line(vm, PLATFORM_COM1_IRQ));
	if (ret < 0)
		return log_syscall_error("uart_init", -ret);
	p->com1_ready = true;
	i8042_init(&p->i8042, vm_stop_request(vm));
	rtc_init(&p->rtc, guest_memory_low_end(mem), high);
	exit_port_init(&p->exit_port, vm_stop_request(vm));
	post_code_init(&p->post_code);

	ret = map(vm, PLATFORM_COM1_PORT, UART_PORTS, &uart_ops, &p->com1, "uart-com1");
	if (!ret)
		ret = map(vm, PLATFORM_I8042_DATA, 1, &i8042_data_ops, &p->i8042, "i8042-data");
	if (!ret)
		ret = map(vm, PLATFORM_I8042_CMD, 1, &i8042_command_ops, &p->i8042, "i8042-command");
	if (!ret)
		ret = map(vm, PLATFORM_RTC_PORT, 2, &rtc_ops, &p->rtc, "rtc");
	if (!ret)
		ret = map(vm, POST_CODE_PORT, 1, &post_code_ops, &p->post_code, "post-code");
	if (!ret)
		ret = map(vm, EXIT_PORT_BASE, EXIT_PORT_LEN, &exit_port_ops, &p->exit_port, "exit-port");
	if (ret < 0)
		platform_destroy(p);
	return ret;
}

void platform_destroy(struct platform *p)
{
	if (p->com1_ready)
		uart_destroy(&p->com1);
	p->com1_ready = false;
}
