/* QEMU's pci-testdev (1b36:0005): a PCI function that lets a guest check
 * that ioeventfd-backed writes complete in KVM without reaching the VMM.
 * kvm-unit-tests drives it (lib/pci-testdev.c); the semantics here follow
 * QEMU's hw/misc/pci-testdev.c.
 *
 * Header: vendor 1b36 (Red Hat), device 0005, revision 0, class code
 * 0x00ff00 (QEMU stores its PCI_CLASS_OTHERS, 0xff, as the 16-bit class
 * word, so base class 0x00, sub-class 0xff: lspci's "Unclassified device
 * [00ff]"), subsystem 1af4:1100, no interrupt pin. BAR0: 4 KiB memory,
 * BAR1: 256 I/O ports. Both BARs show the same register file, a test
 * header:
 *
 *   0x00  u8   test     write: select test N (see below); read: its index
 *   0x01  u8   width    access width the test expects (1)
 *   0x04  u32  offset   BAR offset the test watches
 *   0x08  u8   data     value to write there
 *   0x0c  u32  count    writes the VMM saw at `offset` since selection
 *   0x10  char name[]   NUL-terminated, e.g. "portio-datamatch-eventfd"
 *
 * A write of N to offset 0 through BAR k (0 = memory, 1 = I/O) disarms the
 * current test and, if N < 3, arms test k * 3 + N with count 0:
 *   N = 0 "no-eventfd": every write of `data` at `offset` reaches the VMM
 *         and increments count;
 *   N = 1 "wildcard-eventfd": an ioeventfd on `offset` (any value, data
 *         0xce) absorbs the writes in KVM: count stays 0;
 *   N = 2 "datamatch-eventfd": an ioeventfd on `offset` matching `data`
 *         (0xfa) absorbs the writes.
 * `offset` is 2048 + i for memory tests and 128 + i for I/O tests, i the
 * test's index 0-5. Larger N leaves no test armed.
 *
 * Like QEMU, the device handles accesses a byte at a time: a wider access
 * is split into bytes at consecutive offsets, so the byte at `offset` of a
 * wider write is what is compared and counted. Reads return header bytes
 * (0 past the name, and 0 for everything while no test is armed) and
 * drain the test's eventfd; the signals drained are counted in
 * `eventfd_signals`, which the unit and guest tests use.
 *
 * If KVM refuses an ioeventfd, the test is armed without one (writes then
 * reach the device and count, as for "no-eventfd") and `bind_errors`
 * counts the refusal. The ioeventfd stays bound while the command
 * register disables decoding: KVM matches addresses, not BAR state.
 *
 * Locking: one mutex per device, held across the ioeventfd ioctls. */
#ifndef KVMRUN_PCI_PCI_TESTDEV_H
#define KVMRUN_PCI_PCI_TESTDEV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "pci/pci.h"

#define PCI_TESTDEV_VENDOR        0x1b36
#define PCI_TESTDEV_DEVICE        0x0005
#define PCI_TESTDEV_MMIO_SIZE     4096   /* BAR0 */
#define PCI_TESTDEV_IO_SIZE       256    /* BAR1 */
#define PCI_TESTDEV_NR_TESTS      6      /* {mmio, portio} x {no, wildcard, datamatch} */
#define PCI_TESTDEV_HDR_MAX       48     /* header + the longest name */

/* Test header offsets. */
#define PCI_TESTDEV_TEST          0x00
#define PCI_TESTDEV_WIDTH         0x01
#define PCI_TESTDEV_OFFSET        0x04
#define PCI_TESTDEV_DATA          0x08
#define PCI_TESTDEV_COUNT         0x0c
#define PCI_TESTDEV_NAME          0x10

/* Bind or unbind an eventfd to guest writes of `len` bytes at `addr` in
 * port (mmio false) or memory space, matching *datamatch unless it is
 * NULL. Returns 0 or -errno. The machine plugs in KVM_IOEVENTFD; the unit
 * tests a recorder. */
struct ioeventfd_binder {
	int (*bind)(void *ctx, bool mmio, uint64_t addr, unsigned len, const uint64_t *datamatch,
		    int fd, bool assign);
	void *ctx;
};

struct pci_testdev {
	struct pci_device pci;
	pthread_mutex_t lock;
	struct ioeventfd_binder binder;
	int eventfd;                     /* shared by the eventfd tests; nonblocking */
	int current;                     /* armed test index, -1 for none */
	bool bound;                      /* the armed test's ioeventfd is bound */
	uint8_t hdr[PCI_TESTDEV_NR_TESTS][PCI_TESTDEV_HDR_MAX];
	unsigned hdr_len[PCI_TESTDEV_NR_TESTS];
	uint64_t eventfd_signals;        /* drained from the eventfd, under lock */
	uint64_t bind_errors;            /* under lock */
};

/* Build the header and BARs and create the eventfd. Returns 0 or -errno. */
int pci_testdev_init(struct pci_testdev *dev, struct ioeventfd_binder binder);
/* Unbind the armed test's ioeventfd and close the eventfd. */
void pci_testdev_destroy(struct pci_testdev *dev);

/* Test index the guest armed, or -1 (for tests; takes the lock). */
int pci_testdev_current(struct pci_testdev *dev);

#endif
