/* QEMU's pc-testdev: an ISA device that kvm-unit-tests uses to test the
 * x86 emulator and interrupt routing. Semantics follow QEMU's
 * hw/misc/pc-testdev.c:
 *
 * - Ports 0xe0-0xe3: a 32-bit latch by byte lane. A write of n bytes at
 *   port 0xe0 + k replaces bytes k..k+n-1 of the latch; a read returns
 *   them. Ports 0xe8-0xeb are the same latch (QEMU's "ioport-byte" view,
 *   which only differs in how QEMU splits accesses internally).
 * - Ports 0xe4-0xe7, "flush page": a 4-byte write of a guest physical
 *   address makes KVM drop its mapping of that 4 KiB page of RAM, so the
 *   next guest access faults into KVM again (tests of the emulator and of
 *   the MMU use it). Other widths and addresses outside RAM are ignored
 *   (counted); reads return 0.
 * - Ports 0x2000-0x2017: a 1-byte write of v to port 0x2000 + n drives ISA
 *   interrupt line n (GSI n of the in-kernel irqchip: PIC input n for n <
 *   16 and IOAPIC pin n) to !!v. Wider writes are ignored (counted); reads
 *   return 0.
 * - Memory 0xff000000-0xff00ffff: 64 KiB of scratch storage reached only
 *   through MMIO exits (it is not RAM: every access traps to the VMM), for
 *   tests of MMIO emulation. Accesses of 1, 2, 4 or 8 bytes at any offset
 *   read and write it little-endian; it starts zeroed.
 *
 * How the flush works: guest RAM is a shared memfd mapping, so
 * MADV_DONTNEED on the page drops only the VMM's page-table entry (the
 * data stays in the memfd) and, through the MMU notifier, KVM's mapping.
 * Unlike QEMU's mprotect(PROT_NONE) / mprotect(RW) pair it never leaves
 * the page inaccessible to other VMM threads. Anonymous (unit-test) RAM
 * would be zeroed by MADV_DONTNEED, so there the page is write-protected
 * and unprotected instead, which invalidates KVM's mapping the same way.
 *
 * Locking: one mutex for the latch and the scratch memory; the interrupt
 * lines and counters need none. */
#ifndef KVMRUN_DEVICES_PC_TESTDEV_H
#define KVMRUN_DEVICES_PC_TESTDEV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "bus.h"
#include "devices/platform.h"
#include "layout.h"
#include "memory.h"

#define PC_TESTDEV_LATCH_PORT       0xe0
#define PC_TESTDEV_FLUSH_PORT       0xe4
#define PC_TESTDEV_LATCH_BYTE_PORT  0xe8
#define PC_TESTDEV_PORTS            4      /* each of the three ranges above */
#define PC_TESTDEV_IRQ_PORT         0x2000
#define PC_TESTDEV_NR_IRQS          24     /* one port per IOAPIC pin */
#define PC_TESTDEV_IOMEM_BASE       LAYOUT_PC_TESTDEV_IOMEM
#define PC_TESTDEV_IOMEM_SIZE       0x10000

struct pc_testdev {
	pthread_mutex_t lock;
	uint32_t latch;
	uint8_t *iomem;                                  /* PC_TESTDEV_IOMEM_SIZE bytes */
	struct irq_line irqs[PC_TESTDEV_NR_IRQS];
	const struct guest_memory *mem;
	atomic_uint_fast64_t flushes;
	atomic_uint_fast64_t ignored;                    /* bad widths, flushes outside RAM */
};

/* `irqs[n]` is ISA line n; `mem` is the guest RAM the flush port acts on.
 * Returns 0 or -ENOMEM. */
int pc_testdev_init(struct pc_testdev *dev, const struct irq_line irqs[PC_TESTDEV_NR_IRQS],
		    const struct guest_memory *mem);
void pc_testdev_destroy(struct pc_testdev *dev);

/* Ops, opaque = struct pc_testdev: the latch (for both 4-port ranges), the
 * flush port (4 ports), the IRQ ports (PC_TESTDEV_NR_IRQS ports), and the
 * MMIO window (PC_TESTDEV_IOMEM_SIZE bytes). */
extern const struct bus_device_ops pc_testdev_latch_ops;
extern const struct bus_device_ops pc_testdev_flush_ops;
extern const struct bus_device_ops pc_testdev_irq_ops;
extern const struct bus_device_ops pc_testdev_iomem_ops;

#endif
