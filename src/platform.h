/* The legacy PC platform devices kvmrun puts on the port-I/O bus, and the
 * PCI bus. The PIC (with its ELCR at 0x4d0/0x4d1), IOAPIC, LAPICs and PIT
 * are in KVM (vm_create). */
#ifndef KVMRUN_PLATFORM_H
#define KVMRUN_PLATFORM_H

#include "devices/acpi_pm.h"
#include "devices/debug_exit.h"
#include "devices/exit_port.h"
#include "devices/fw_cfg.h"
#include "devices/i8042.h"
#include "devices/pc_testdev.h"
#include "devices/post_code.h"
#include "devices/rtc.h"
#include "devices/uart.h"
#include "pci/host_bridge.h"
#include "pci/pci_bus.h"
#include "pci/pci_testdev.h"

#define PLATFORM_COM1_PORT  0x3f8
#define PLATFORM_COM1_IRQ   4
#define PLATFORM_I8042_DATA 0x60
#define PLATFORM_I8042_CMD  0x64
#define PLATFORM_RTC_PORT   0x70
#define PLATFORM_PCI_TESTDEV_DEVFN PCI_DEVFN(1, 0)

struct vm;
struct config;
struct image_file;

struct platform {
	struct uart com1;
	struct i8042 i8042;
	struct rtc rtc;
	struct exit_port exit_port;
	struct post_code post_code;
	struct fw_cfg fw_cfg;
	struct debug_exit debug_exit;   /* mapped only with --debug-exit */
	struct acpi_pm acpi_pm;         /* mapped unless --no-acpi */
	struct pci_bus pci;             /* bus 0: the host bridge, pci-testdev */
	struct pci_host_bridge host_bridge;
	struct pci_testdev pci_testdev; /* only with --pci-testdev */
	struct pc_testdev pc_testdev;   /* only with --pc-testdev */
	bool com1_ready;
	bool fw_cfg_ready;
	bool pci_ready;
	bool pci_testdev_ready;
	bool pc_testdev_ready;
};

/* Create the devices and map them on vm->pio. `console_fd` receives the
 * guest's serial output (-1 discards it). fw_cfg describes the machine in
 * `cfg` and offers the kernel and initrd (initrd->size 0 if none), which
 * it borrows: they must outlive the platform. Returns 0 or -errno. */
int platform_init(struct platform *p, struct vm *vm, int console_fd, const struct config *cfg,
		  const struct image_file *kernel, const struct image_file *initrd);
void platform_destroy(struct platform *p);

#endif
