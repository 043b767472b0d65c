#include "platform.h"

#include <string.h>

#include "config.h"
#include "fw_cfg_machine.h"
#include "image_file.h"
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

/* fw_cfg is always there, as on QEMU's PC machines: it costs no exits
 * unless the guest uses it, and setting it up copies no image. */
static int platform_fw_cfg_init(struct platform *p, struct vm *vm, const struct config *cfg,
				const struct image_file *kernel, const struct image_file *initrd)
{
	struct fw_cfg_machine machine = {
		.nr_cpus = cfg->nr_cpus,
		.mem = &vm->mem,
		.kernel = kernel->data,
		.kernel_size = kernel->size,
		.initrd = initrd->data,
		.initrd_size = initrd->size,
		.cmdline = cfg->cmdline,
	};
	int ret = fw_cfg_init(&p->fw_cfg, &vm->mem);

	if (ret < 0)
		return log_syscall_error("fw_cfg_init", -ret);
	p->fw_cfg_ready = true;
	ret = fw_cfg_machine_add(&p->fw_cfg, &machine);
	if (ret < 0)
		return log_syscall_error("fw_cfg_machine_add", -ret);
	return 0;
}

int platform_init(struct platform *p, struct vm *vm, int console_fd, const struct config *cfg,
		  const struct image_file *kernel, const struct image_file *initrd)
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
	debug_exit_init(&p->debug_exit, vm_stop_request(vm));
	ret = platform_fw_cfg_init(p, vm, cfg, kernel, initrd);
	if (ret < 0)
		goto destroy;

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
	if (!ret)
		ret = map(vm, FW_CFG_PORT_SELECTOR, FW_CFG_IO_LEN, &fw_cfg_io_ops, &p->fw_cfg, "fw-cfg");
	if (!ret)
		ret = map(vm, FW_CFG_PORT_DMA, FW_CFG_DMA_LEN, &fw_cfg_dma_ops, &p->fw_cfg, "fw-cfg-dma");
	if (!ret && cfg->debug_exit)
		ret = map(vm, DEBUG_EXIT_PORT, DEBUG_EXIT_LEN, &debug_exit_ops, &p->debug_exit,
			  "debug-exit");
	if (ret < 0)
		goto destroy;
	return 0;

destroy:
	platform_destroy(p);
	return ret;
}

void platform_destroy(struct platform *p)
{
	if (p->com1_ready)
		uart_destroy(&p->com1);
	p->com1_ready = false;
	if (p->fw_cfg_ready)
		fw_cfg_destroy(&p->fw_cfg);
	p->fw_cfg_ready = false;
}
