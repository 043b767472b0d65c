/* Polled 16550A UART on COM1 (port 0x3f8). No interrupts: every call polls
 * the line status register, which works the same at CPL 0 and CPL 3. */
#ifndef GUEST_SERIAL_H
#define GUEST_SERIAL_H

#include <stdbool.h>
#include <stddef.h>

#define SERIAL_COM1  0x3f8

void serial_init(void);
void serial_putc(char c);
void serial_write(const char *buf, size_t len);
/* True if a received byte is waiting (LSR.DR). */
bool serial_rx_ready(void);
/* Wait for and return one received byte. */
char serial_getc(void);
/* Read bytes into buf until '\n' or '\r' (not stored) or size-1 bytes;
 * NUL-terminates and returns the length. */
size_t serial_getline(char *buf, size_t size);

#endif
