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

static int map_mmio(struct vm *vm, uint64_t addr, uint64_t len, const struct bus_device_ops *ops,
		    void *dev, const char *name)
{
	int ret = bus_insert(&vm->mmio, addr, len, ops, dev, name);

	if (ret < 0)
		log_error("cannot map %s at 0x%llx: %s", name, (unsigned long long)addr,
			  strerror(-ret));
	return ret;
}

/* pci-testdev arms its tests with KVM_IOEVENTFD, from a vCPU thread. */
static int bind_ioeventfd(void *vm, bool mmio, uint64_t addr, unsigned len,
			  const uint64_t *datamatch, int fd, bool assign)
{
	enum vm_io_space space = mmio ? VM_IO_MMIO : VM_IO_PIO;

	return assign ? vm_add_ioeventfd(vm, space, addr, len, datamatch, fd)
		      : vm_remove_ioeventfd(vm, space, addr, len, datamatch, fd);
}

/* The PCI bus is always there: the host bridge costs nothing until a
 * guest scans, and pci=off keeps Linux from scanning by default. */
static int platform_pci_init(struct platform *p, struct vm *vm, const struct config *cfg)
{
	int ret;

	pci_bus_init(&p->pci);
	p->pci_ready = true;
	pci_host_bridge_init(&p->host_bridge);
	ret = pci_bus_add(&p->pci, &p->host_bridge.pci, PCI_HOST_BRIDGE_DEVFN);
	if (ret < 0)
		return log_syscall_error("pci_bus_add host bridge", -ret);
	if (cfg->pci_testdev) {
		ret = pci_testdev_init(&p->pci_testdev,
				       (struct ioeventfd_binder){ .bind = bind_ioeventfd, .ctx = vm });
		if (ret < 0)
			return log_syscall_error("pci_testdev_init", -ret);
		p->pci_testdev_ready = true;
		ret = pci_bus_add(&p->pci, &p->pci_testdev.pci, PLATFORM_PCI_TESTDEV_DEVFN);
		if (ret < 0)
			return log_syscall_error("pci_bus_add pci-testdev", -ret);
	}
	return pci_bus_map(&p->pci, &vm->pio, &vm->mmio);
}

/* pc-testdev's ISA IRQ ports drive GSIs 0-23 of the in-kernel irqchip. */
static int platform_pc_testdev_init(struct platform *p, struct vm *vm)
{
	struct irq_line irqs[PC_TESTDEV_NR_IRQS];
	struct pc_testdev *dev = &p->pc_testdev;
	int ret;

	for (unsigned n = 0; n < PC_TESTDEV_NR_IRQS; n++)
		irqs[n] = vm_irq_line(vm, n);
	ret = pc_testdev_init(dev, irqs, &vm->mem);
	if (ret < 0)
		return log_syscall_error("pc_testdev_init", -ret);
	p->pc_testdev_ready = true;
	ret = map(vm, PC_TESTDEV_LATCH_PORT, PC_TESTDEV_PORTS, &pc_testdev_latch_ops, dev,
		  "pc-testdev-ioport");
	if (!ret)
		ret = map(vm, PC_TESTDEV_FLUSH_PORT, PC_TESTDEV_PORTS, &pc_testdev_flush_ops, dev,
			  "pc-testdev-flush-page");
	if (!ret)
		ret = map(vm, PC_TESTDEV_LATCH_BYTE_PORT, PC_TESTDEV_PORTS, &pc_testdev_latch_ops,
			  dev, "pc-testdev-ioport-byte");
	if (!ret)
		ret = map(vm, PC_TESTDEV_IRQ_PORT, PC_TESTDEV_NR_IRQS, &pc_testdev_irq_ops, dev,
			  "pc-testdev-irq-line");
	if (!ret)
		ret = map_mmio(vm, PC_TESTDEV_IOMEM_BASE, PC_TESTDEV_IOMEM_SIZE, &pc_testdev_iomem_ops,
			       dev, "pc-testdev-iomem");
	return ret;
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
	acpi_pm_init(&p->acpi_pm, vm_stop_request(vm));
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
	/* The fixed hardware the FADT describes (machine.c writes the tables). */
	if (!ret && cfg->acpi)
		ret = map(vm, ACPI_PM_BASE, ACPI_PM_LEN, &acpi_pm_ops, &p->acpi_pm, "acpi-pm");
	if (!ret)
		ret = platform_pci_init(p, vm, cfg);
	if (!ret && cfg->pc_testdev)
		ret = platform_pc_testdev_init(p, vm);
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
	if (p->pc_testdev_ready)
		pc_testdev_destroy(&p->pc_testdev);
	p->pc_testdev_ready = false;
	if (p->pci_testdev_ready)
		pci_testdev_destroy(&p->pci_testdev);
	p->pci_testdev_ready = false;
	if (p->pci_ready)
		pci_bus_destroy(&p->pci);
	p->pci_ready = false;
}
