#include "io.h"
#include "libguest.h"

void exit(int code)
{
	/* kvmrun stops at the first write; QEMU's isa-debug-exit at the
	 * second (it exits with (code << 1) | 1). Both are plain port writes,
	 * so this works at CPL 3 as well (IOPL = 3). */
	outb(EXIT_PORT_KVMRUN, (uint8_t)code);
	outl(EXIT_PORT_QEMU, (uint32_t)code);
	for (;;) {
		if (read_cpl() == 0)
			hlt();
		else
			cpu_relax();
	}
}

void guest_abort(const char *fmt, ...)
{
	va_list ap;

	printf("ABORT: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	exit(GUEST_EXIT_ABORT);
}
