/* From the boot stub to main(). Everything here runs at CPL 0, which is
 * emulated on this project's machines, so it does the minimum: console,
 * interrupt controller quiet, descriptor tables, start info (PVH or
 * Multiboot). SMP, the APIC and user mode are set up only by tests that
 * use them. */
#include "cmdline.h"
#include "desc.h"
#include "io.h"
#include "libguest.h"
#include "serial.h"
#include "smp.h"
#include "startinfo.h"

#define PIC_MASTER_DATA 0x21
#define PIC_SLAVE_DATA  0xa1

int main(int argc, char **argv);

/* entry.S passes EAX and EBX as the VMM left them: the Multiboot magic and
 * multiboot_info, or (PVH) anything and hvm_start_info. */
void guest_main_entry(uint32_t boot_magic, uint32_t info_paddr) __noreturn;
void guest_main_entry(uint32_t boot_magic, uint32_t info_paddr)
{
	char **argv;
	int argc;

	serial_init();
	/* Mask every 8259 input: firmware (SeaBIOS under QEMU) leaves the
	 * PIT running on IRQ 0, which would arrive on vector 8 (#DF). */
	outb(PIC_MASTER_DATA, 0xff);
	outb(PIC_SLAVE_DATA, 0xff);
	idt_init();
	desc_load_cpu(0, &percpu[0].tss);
	percpu[0].online = 1;
	startinfo_init(boot_magic, info_paddr);
	argc = cmdline_argv(&argv);
	exit(main(argc, argv));
}
