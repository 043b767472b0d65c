/* 16550A driver, polled. Register offsets and bits from the National
 * Semiconductor PC16550D data sheet. Every register access is a VM exit
 * (~30 us here), so transmit fills the whole 16-byte FIFO per LSR check. */
#include "serial.h"

#include "io.h"

#include <stdint.h>

#define UART_THR   0  /* transmit holding (write, DLAB=0) */
#define UART_RBR   0  /* receive buffer (read, DLAB=0) */
#define UART_DLL   0  /* divisor latch low (DLAB=1) */
#define UART_IER   1
#define UART_DLM   1  /* divisor latch high (DLAB=1) */
#define UART_FCR   2
#define UART_LCR   3
#define UART_MCR   4
#define UART_LSR   5

#define LCR_8N1    0x03
#define LCR_DLAB   0x80
#define FCR_ENABLE_CLEAR 0x07  /* FIFO enable, clear RX and TX FIFOs */
#define MCR_DTR_RTS_OUT2 0x0b
#define LSR_DR     0x01  /* data ready */
#define LSR_THRE   0x20  /* THR empty; with FIFOs on, the whole TX FIFO is empty */
#define TX_FIFO_SIZE 16

/* Bytes that were already received when serial_init() ran. Enabling the
 * FIFOs clears them (PC16550D: FCR bit 0), and a VMM may have delivered
 * early console input by then, so init moves them here first. Filled
 * once at boot, drained by serial_getc() on any CPU. */
static char early_rx[TX_FIFO_SIZE];
static unsigned early_rx_len, early_rx_pos;

void serial_init(void)
{
	while (early_rx_len < sizeof(early_rx)) {
		uint8_t lsr = inb(SERIAL_COM1 + UART_LSR);

		/* 0xff: nothing decodes the port, there is no UART */
		if (lsr == 0xff || !(lsr & LSR_DR))
			break;
		early_rx[early_rx_len++] = (char)inb(SERIAL_COM1 + UART_RBR);
	}
	outb(SERIAL_COM1 + UART_IER, 0);          /* polled: no interrupts */
	outb(SERIAL_COM1 + UART_LCR, LCR_DLAB);
	outb(SERIAL_COM1 + UART_DLL, 1);          /* 115200 baud */
	outb(SERIAL_COM1 + UART_DLM, 0);
	outb(SERIAL_COM1 + UART_LCR, LCR_8N1);
	outb(SERIAL_COM1 + UART_FCR, FCR_ENABLE_CLEAR);
	outb(SERIAL_COM1 + UART_MCR, MCR_DTR_RTS_OUT2);
}

static void serial_wait_tx_empty(void)
{
	while (!(inb(SERIAL_COM1 + UART_LSR) & LSR_THRE))
		__asm__ volatile("pause");
}

void serial_putc(char c)
{
	serial_write(&c, 1);
}

void serial_write(const char *buf, size_t len)
{
	size_t i = 0;

	while (i < len) {
		serial_wait_tx_empty();
		for (size_t n = 0; n < TX_FIFO_SIZE && i < len; n++, i++)
			outb(SERIAL_COM1 + UART_THR, (unsigned char)buf[i]);
	}
}

bool serial_rx_ready(void)
{
	return __atomic_load_n(&early_rx_pos, __ATOMIC_RELAXED) < early_rx_len ||
	       (inb(SERIAL_COM1 + UART_LSR) & LSR_DR);
}

char serial_getc(void)
{
	unsigned pos = __atomic_load_n(&early_rx_pos, __ATOMIC_RELAXED);

	while (pos < early_rx_len) {
		if (__atomic_compare_exchange_n(&early_rx_pos, &pos, pos + 1, false,
						__ATOMIC_RELAXED, __ATOMIC_RELAXED))
			return early_rx[pos];
	}
	while (!(inb(SERIAL_COM1 + UART_LSR) & LSR_DR))
		__asm__ volatile("pause");
	return (char)inb(SERIAL_COM1 + UART_RBR);
}

size_t serial_getline(char *buf, size_t size)
{
	size_t len = 0;

	if (size == 0)
		return 0;
	while (len + 1 < size) {
		char c = serial_getc();

		if (c == '\n' || c == '\r')
			break;
		buf[len++] = c;
	}
	buf[len] = '\0';
	return len;
}
