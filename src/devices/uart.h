/* 16550A UART: the serial console (COM1 at port 0x3f8, IRQ 4).
 *
 * Modelled on the National Semiconductor PC16550D datasheet. Transmission
 * is instantaneous: a byte written to THR goes straight to the output fd,
 * so THR and the transmitter shift register are always empty (LSR.THRE and
 * LSR.TEMT always read 1). Reception goes through a 16-byte RX FIFO (one
 * byte, the RBR, when the FIFOs are disabled) filled by uart_receive() from
 * the event loop. Line speed, word length, parity and stop bits are stored
 * but have no effect; there are no parity/framing errors and no breaks.
 *
 * Interrupt output: as on a PC, the chip's INTR pin reaches the interrupt
 * controller only through a buffer enabled by MCR.OUT2, so the line level is
 * "an enabled interrupt is pending AND MCR.OUT2". In loopback mode the modem
 * control output pins, OUT2 included, are forced inactive (datasheet, MCR
 * bit 4), so the line is low there too.
 *
 * Locking: every entry point takes the UART's own mutex; vCPU threads (port
 * I/O) and the event-loop thread (uart_receive) may call concurrently. The
 * irq_line callback is called with that mutex held, so that level changes
 * reach the interrupt controller in the order they happened; it must not
 * call back into the UART. The rx_ready notifier is called without it. */
#ifndef KVMRUN_DEVICES_UART_H
#define KVMRUN_DEVICES_UART_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus.h"
#include "devices/platform.h"

#define UART_COM1_BASE  0x3f8
#define UART_COM1_IRQ   4
#define UART_PORTS      8   /* length of the port range */
#define UART_FIFO_SIZE  16

/* Register offsets (PC16550D Table II). Several share an offset: which one
 * an access reaches depends on its direction and on LCR.DLAB. */
#define UART_RBR 0  /* read, DLAB=0: receiver buffer */
#define UART_THR 0  /* write, DLAB=0: transmitter holding register */
#define UART_DLL 0  /* DLAB=1: divisor latch, low byte */
#define UART_IER 1  /* DLAB=0: interrupt enable */
#define UART_DLM 1  /* DLAB=1: divisor latch, high byte */
#define UART_IIR 2  /* read: interrupt identification */
#define UART_FCR 2  /* write: FIFO control */
#define UART_LCR 3  /* line control */
#define UART_MCR 4  /* modem control */
#define UART_LSR 5  /* line status */
#define UART_MSR 6  /* modem status */
#define UART_SCR 7  /* scratch */

#define UART_IER_ERBFI  0x01  /* received data available */
#define UART_IER_ETBEI  0x02  /* transmitter holding register empty */
#define UART_IER_ELSI   0x04  /* receiver line status */
#define UART_IER_EDSSI  0x08  /* modem status */

#define UART_IIR_NO_INT     0x01
#define UART_IIR_ID_MSR     0x00
#define UART_IIR_ID_THRE    0x02
#define UART_IIR_ID_RDA     0x04
#define UART_IIR_ID_RLS     0x06
#define UART_IIR_ID_TIMEOUT 0x0c
#define UART_IIR_FIFO_ON    0xc0  /* IIR[7:6] when FCR.0 is set */

#define UART_FCR_ENABLE     0x01
#define UART_FCR_CLEAR_RX   0x02
#define UART_FCR_CLEAR_TX   0x04
#define UART_FCR_DMA        0x08
#define UART_FCR_TRIGGER    0xc0

#define UART_LCR_DLAB  0x80

#define UART_MCR_DTR   0x01
#define UART_MCR_RTS   0x02
#define UART_MCR_OUT1  0x04
#define UART_MCR_OUT2  0x08
#define UART_MCR_LOOP  0x10

#define UART_LSR_DR    0x01
#define UART_LSR_OE    0x02
#define UART_LSR_THRE  0x20
#define UART_LSR_TEMT  0x40

#define UART_MSR_DCTS  0x01
#define UART_MSR_DDSR  0x02
#define UART_MSR_TERI  0x04
#define UART_MSR_DDCD  0x08
#define UART_MSR_CTS   0x10
#define UART_MSR_DSR   0x20
#define UART_MSR_RI    0x40
#define UART_MSR_DCD   0x80

struct uart {
	pthread_mutex_t lock;
	struct irq_line irq;
	bool irq_level;          /* last level sent through irq */
	int out_fd;              /* transmitted bytes go here; -1 discards */

	uint8_t ier, lcr, mcr, scr, dll, dlm;
	uint8_t fcr;             /* FIFO enable, DMA mode and trigger bits */
	uint8_t lsr_errors;      /* only OE ever: no parity, framing or break */
	uint8_t msr_delta;       /* DCTS, DDSR, TERI, DDCD */
	bool thre_pending;       /* THRE interrupt not yet acknowledged */

	uint8_t rx[UART_FIFO_SIZE];
	unsigned rx_head, rx_count;
	uint8_t rx_last;         /* RBR keeps the last byte once drained */
	bool rx_refused;         /* uart_receive turned bytes away */
	void (*rx_ready)(void *ctx);
	void *rx_ready_ctx;

	uint64_t tx_bytes;       /* bytes the guest transmitted (not looped back) */
	uint64_t tx_errors;      /* bytes lost because writing out_fd failed */
};

/* Reset state of a 16550A. `out_fd` is borrowed, not closed by the UART; it
 * should be blocking (EAGAIN counts as a failed byte, it is never spun on),
 * and the process should ignore SIGPIPE so that a closed pipe is a counted
 * EPIPE rather than the end of the VM. Returns 0 or -EINVAL (out_fd < -1). */
int uart_init(struct uart *uart, int out_fd, struct irq_line irq);
void uart_destroy(struct uart *uart);

/* Hand host input to the receiver. Accepts at most the free space in the
 * RX FIFO (none in loopback mode, where the serial input is disconnected)
 * and returns how many bytes it took; the caller keeps the rest. Once bytes
 * have been refused, the rx_ready notifier is called as soon as there is
 * room again (the guest read a byte, reset the FIFO or left loopback), so
 * the event loop can stop reading its input until then and lose nothing. */
size_t uart_receive(struct uart *uart, const uint8_t *buf, size_t len);

/* Register the "room in the RX FIFO again" notifier. Called on the thread
 * that made room (usually a vCPU thread), without the UART lock held, at
 * most once per refusal; it may call uart_receive. */
void uart_set_rx_ready(struct uart *uart, void (*fn)(void *ctx), void *ctx);

/* Port ops for a UART_PORTS-long range; opaque is the struct uart. Wider
 * accesses are split into byte accesses to consecutive registers, as an
 * ISA bus does for an 8-bit device. */
extern const struct bus_device_ops uart_ops;

#endif
