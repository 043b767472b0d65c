/* 16550A driver, polled. Register offsets and bits from the National
 * Semiconductor PC16550D data sheet. Every register access is a VM exit
 * (~30 us here), so transmit fills the whole 16-byte FIFO per LSR check. */
#include "serial.h"

#include "io.h"

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

void serial_init(void)
{
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
	return inb(SERIAL_COM1 + UART_LSR) & LSR_DR;
}

char serial_getc(void)
{
	while (!serial_rx_ready())
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
