#include "devices/uart.h"

#include <errno.h>
#include <unistd.h>

/* A BIOS would have left COM1 at 9600 baud (divisor 12); guests reprogram
 * it anyway and the value has no effect here. */
#define UART_RESET_DIVISOR 12

/* Modem status inputs when not in loopback: nothing is attached, so report
 * a peer that is always ready (DCD, DSR, CTS asserted, no ring). Linux's
 * console waits for CTS only with flow control; other guests expect DSR. */
#define UART_MSR_IDLE_INPUTS (UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS)

int uart_init(struct uart *uart, int out_fd, struct irq_line irq)
{
	if (out_fd < -1)
		return -EINVAL;
	/* A default mutex holds no resources: the static initializer cannot
	 * fail, unlike the error path pthread_mutex_init would need. */
	*uart = (struct uart){
		.lock = PTHREAD_MUTEX_INITIALIZER,
		.irq = irq,
		.out_fd = out_fd,
		.dll = UART_RESET_DIVISOR,
	};
	return 0;
}

void uart_destroy(struct uart *uart)
{
	pthread_mutex_destroy(&uart->lock);
}

static bool uart_fifo_enabled(const struct uart *uart)
{
	return uart->fcr & UART_FCR_ENABLE;
}

static unsigned uart_rx_capacity(const struct uart *uart)
{
	return uart_fifo_enabled(uart) ? UART_FIFO_SIZE : 1;
}

/* FCR[7:6]: receiver FIFO trigger level (PC16550D Table IV). */
static unsigned uart_rx_trigger(const struct uart *uart)
{
	static const unsigned levels[4] = { 1, 4, 8, 14 };

	return levels[(uart->fcr & UART_FCR_TRIGGER) >> 6];
}

/* Interrupt identification in datasheet priority order (Table IV): receiver
 * line status, received data available / character timeout, THR empty,
 * modem status. We do not model time, so data sitting below the trigger
 * level is reported as the character timeout having already expired: the
 * guest is interrupted either way and drains what is there. */
static uint8_t uart_iir_id(const struct uart *uart)
{
	if ((uart->ier & UART_IER_ELSI) && uart->lsr_errors)
		return UART_IIR_ID_RLS;
	if ((uart->ier & UART_IER_ERBFI) && uart->rx_count) {
		if (uart_fifo_enabled(uart) && uart->rx_count < uart_rx_trigger(uart))
			return UART_IIR_ID_TIMEOUT;
		return UART_IIR_ID_RDA;
	}
	if ((uart->ier & UART_IER_ETBEI) && uart->thre_pending)
		return UART_IIR_ID_THRE;
	if ((uart->ier & UART_IER_EDSSI) && uart->msr_delta)
		return UART_IIR_ID_MSR;
	return UART_IIR_NO_INT;
}

/* Drive the line to its current level, calling out only on a change. */
static void uart_update_irq(struct uart *uart)
{
	bool level = uart_iir_id(uart) != UART_IIR_NO_INT &&
		     (uart->mcr & (UART_MCR_OUT2 | UART_MCR_LOOP)) == UART_MCR_OUT2;

	if (level != uart->irq_level) {
		uart->irq_level = level;
		irq_line_set(&uart->irq, level);
	}
}

/* MSR[7:4]. In loopback the modem control outputs feed the inputs:
 * DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD (PC16550D, MCR bit 4). */
static uint8_t uart_msr_inputs(uint8_t mcr)
{
	uint8_t in = 0;

	if (!(mcr & UART_MCR_LOOP))
		return UART_MSR_IDLE_INPUTS;
	if (mcr & UART_MCR_RTS)
		in |= UART_MSR_CTS;
	if (mcr & UART_MCR_DTR)
		in |= UART_MSR_DSR;
	if (mcr & UART_MCR_OUT1)
		in |= UART_MSR_RI;
	if (mcr & UART_MCR_OUT2)
		in |= UART_MSR_DCD;
	return in;
}

static void uart_rx_clear(struct uart *uart, bool *notify)
{
	uart->rx_head = uart->rx_count = 0;
	if (uart->rx_refused) {
		uart->rx_refused = false;
		*notify = true;
	}
}

static void uart_rx_push(struct uart *uart, uint8_t byte)
{
	uart->rx[(uart->rx_head + uart->rx_count) % UART_FIFO_SIZE] = byte;
	uart->rx_count++;
}

/* A looped-back byte arriving at a full receiver is an overrun (LSR.OE).
 * With FIFOs on the byte in the shift register is lost and the FIFO is
 * kept; in 16450 mode the new byte overwrites the RBR (datasheet, LSR
 * bit 1). */
static void uart_loopback(struct uart *uart, uint8_t byte)
{
	if (uart->rx_count < uart_rx_capacity(uart)) {
		uart_rx_push(uart, byte);
		return;
	}
	uart->lsr_errors |= UART_LSR_OE;
	if (!uart_fifo_enabled(uart))
		uart->rx[uart->rx_head] = byte;
}

static void uart_transmit(struct uart *uart, uint8_t byte)
{
	uart->tx_bytes++;
	if (uart->out_fd < 0)
		return;
	for (;;) {
		ssize_t n = write(uart->out_fd, &byte, 1);

		if (n == 1)
			return;
		/* A one-byte write is never partial; 0 bytes written would
		 * spin forever if retried, so only EINTR is retried. */
		if (n < 0 && errno == EINTR)
			continue;
		uart->tx_errors++;
		return;
	}
}

static void uart_write_thr(struct uart *uart, uint8_t byte)
{
	/* Writing THR acknowledges a THRE interrupt. Let the line fall before
	 * the byte is "sent" and THR is empty again: the ISA IRQ is edge
	 * triggered, and the guest (Linux's serial8250_tx_chars) counts on a
	 * fresh edge for each THR it fills. */
	uart->thre_pending = false;
	uart_update_irq(uart);
	if (uart->mcr & UART_MCR_LOOP)
		uart_loopback(uart, byte);
	else
		uart_transmit(uart, byte);
	uart->thre_pending = true;
	uart_update_irq(uart);
}

static void uart_write_ier(struct uart *uart, uint8_t val)
{
	uint8_t changed = (uart->ier ^ val) & UART_IER_ETBEI;

	uart->ier = val & 0x0f;  /* IER[7:4] are always 0 */
	/* Enabling ETBEI while THR is empty (it always is) raises a THRE
	 * interrupt even if a previous one was acknowledged: Linux probes for
	 * exactly this (UART_BUG_THRE / UART_BUG_TXEN in 8250_port.c). */
	if (changed)
		uart->thre_pending = uart->ier & UART_IER_ETBEI;
}

static void uart_write_fcr(struct uart *uart, uint8_t val, bool *notify)
{
	bool enable = val & UART_FCR_ENABLE;

	/* Switching between FIFO and 16450 mode empties the FIFOs; the other
	 * bits are only programmed while FCR.0 is written as 1 (FCR bit 0). */
	if (enable != uart_fifo_enabled(uart))
		uart_rx_clear(uart, notify);
	if (!enable) {
		uart->fcr = 0;
		return;
	}
	uart->fcr = val & (UART_FCR_ENABLE | UART_FCR_DMA | UART_FCR_TRIGGER);
	if (val & UART_FCR_CLEAR_RX)
		uart_rx_clear(uart, notify);
	/* UART_FCR_CLEAR_TX: the transmit FIFO is always empty. */
}

static void uart_write_mcr(struct uart *uart, uint8_t val, bool *notify)
{
	uint8_t before = uart_msr_inputs(uart->mcr), after, changed;
	bool was_loop = uart->mcr & UART_MCR_LOOP;

	uart->mcr = val & 0x1f;  /* MCR[7:5] are always 0 */
	after = uart_msr_inputs(uart->mcr);
	changed = before ^ after;
	if (changed & UART_MSR_CTS)
		uart->msr_delta |= UART_MSR_DCTS;
	if (changed & UART_MSR_DSR)
		uart->msr_delta |= UART_MSR_DDSR;
	if ((before & UART_MSR_RI) && !(after & UART_MSR_RI))
		uart->msr_delta |= UART_MSR_TERI;  /* trailing edge only */
	if (changed & UART_MSR_DCD)
		uart->msr_delta |= UART_MSR_DDCD;
	/* Host input refused during loopback may flow again. */
	if (was_loop && !(uart->mcr & UART_MCR_LOOP) && uart->rx_refused) {
		uart->rx_refused = false;
		*notify = true;
	}
}

static uint8_t uart_read_rbr(struct uart *uart, bool *notify)
{
	if (uart->rx_count) {
		uart->rx_last = uart->rx[uart->rx_head];
		uart->rx_head = (uart->rx_head + 1) % UART_FIFO_SIZE;
		uart->rx_count--;
		if (uart->rx_refused) {
			uart->rx_refused = false;
			*notify = true;
		}
	}
	return uart->rx_last;
}

static uint8_t uart_read_reg(struct uart *uart, unsigned reg, bool *notify)
{
	bool dlab = uart->lcr & UART_LCR_DLAB;
	uint8_t val, id;

	switch (reg) {
	case UART_RBR:
		return dlab ? uart->dll : uart_read_rbr(uart, notify);
	case UART_IER:
		return dlab ? uart->dlm : uart->ier;
	case UART_IIR:
		id = uart_iir_id(uart);
		/* Reading IIR acknowledges a THRE interrupt, but only when it
		 * is the one being reported (PC16550D Table IV). */
		if (id == UART_IIR_ID_THRE)
			uart->thre_pending = false;
		return id | (uart_fifo_enabled(uart) ? UART_IIR_FIFO_ON : 0);
	case UART_LCR:
		return uart->lcr;
	case UART_MCR:
		return uart->mcr;
	case UART_LSR:
		val = (uart->rx_count ? UART_LSR_DR : 0) | uart->lsr_errors |
		      UART_LSR_THRE | UART_LSR_TEMT;
		uart->lsr_errors = 0;  /* reading LSR clears the error bits */
		return val;
	case UART_MSR:
		val = uart_msr_inputs(uart->mcr) | uart->msr_delta;
		uart->msr_delta = 0;
		return val;
	default:
		return uart->scr;
	}
}

static void uart_write_reg(struct uart *uart, unsigned reg, uint8_t val, bool *notify)
{
	bool dlab = uart->lcr & UART_LCR_DLAB;

	switch (reg) {
	case UART_THR:
		if (dlab)
			uart->dll = val;
		else
			uart_write_thr(uart, val);
		break;
	case UART_IER:
		if (dlab)
			uart->dlm = val;
		else
			uart_write_ier(uart, val);
		break;
	case UART_FCR:
		uart_write_fcr(uart, val, notify);
		break;
	case UART_LCR:
		uart->lcr = val;
		break;
	case UART_MCR:
		uart_write_mcr(uart, val, notify);
		break;
	case UART_LSR:
	case UART_MSR:
		break;  /* read-only (LSR writes are a factory test mode) */
	default:
		uart->scr = val;
		break;
	}
}

/* Call the notifier outside the lock: it may re-enter uart_receive. */
static void uart_unlock_and_notify(struct uart *uart, bool notify)
{
	void (*fn)(void *) = uart->rx_ready;
	void *ctx = uart->rx_ready_ctx;

	pthread_mutex_unlock(&uart->lock);
	if (notify && fn)
		fn(ctx);
}

static void uart_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct uart *uart = opaque;
	uint8_t *bytes = data;
	bool notify = false;

	pthread_mutex_lock(&uart->lock);
	for (unsigned i = 0; i < size; i++)
		bytes[i] = offset + i < UART_PORTS
			 ? uart_read_reg(uart, offset + i, &notify) : 0xff;
	uart_update_irq(uart);
	uart_unlock_and_notify(uart, notify);
}

static void uart_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct uart *uart = opaque;
	const uint8_t *bytes = data;
	bool notify = false;

	pthread_mutex_lock(&uart->lock);
	for (unsigned i = 0; i < size && offset + i < UART_PORTS; i++)
		uart_write_reg(uart, offset + i, bytes[i], &notify);
	uart_update_irq(uart);
	uart_unlock_and_notify(uart, notify);
}

const struct bus_device_ops uart_ops = {
	.read = uart_read,
	.write = uart_write,
};

size_t uart_receive(struct uart *uart, const uint8_t *buf, size_t len)
{
	size_t room, n = 0;

	pthread_mutex_lock(&uart->lock);
	if (!(uart->mcr & UART_MCR_LOOP)) {
		room = uart_rx_capacity(uart) - uart->rx_count;
		n = len < room ? len : room;
		for (size_t i = 0; i < n; i++)
			uart_rx_push(uart, buf[i]);
	}
	if (n < len)
		uart->rx_refused = true;
	uart_update_irq(uart);
	pthread_mutex_unlock(&uart->lock);
	return n;
}

void uart_set_rx_ready(struct uart *uart, void (*fn)(void *ctx), void *ctx)
{
	pthread_mutex_lock(&uart->lock);
	uart->rx_ready = fn;
	uart->rx_ready_ctx = ctx;
	pthread_mutex_unlock(&uart->lock);
}
