/* 16550A UART: register behaviour as the PC16550D datasheet and Linux's
 * 8250 driver expect it, interrupt line levels, the receive path's flow
 * control and the transmit path's output fd. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include "devices/uart.h"

#define MAX_IRQ_EVENTS 64

struct irq_recorder {
	bool levels[MAX_IRQ_EVENTS];
	unsigned count;
	unsigned gsi;
};

struct fixture {
	struct uart uart;
	struct irq_recorder irq;
	int pipe_rd, pipe_wr;
	unsigned rx_ready_calls;
};

static void record_level(void *ctx, unsigned gsi, bool level)
{
	struct irq_recorder *r = ctx;

	assert_true(r->count < MAX_IRQ_EVENTS);
	r->gsi = gsi;
	r->levels[r->count++] = level;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	int fds[2];

	assert_non_null(f);
	assert_int_equal(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
	f->pipe_rd = fds[0];
	f->pipe_wr = fds[1];
	assert_int_equal(uart_init(&f->uart, f->pipe_wr, (struct irq_line){
		.set_level = record_level, .ctx = &f->irq, .gsi = UART_COM1_IRQ }), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	uart_destroy(&f->uart);
	if (f->pipe_rd >= 0)
		close(f->pipe_rd);
	close(f->pipe_wr);
	free(f);
	return 0;
}

static uint8_t rd(struct fixture *f, unsigned reg)
{
	uint8_t v = 0xa5;

	uart_ops.read(&f->uart, reg, &v, 1);
	return v;
}

static void wr(struct fixture *f, unsigned reg, uint8_t val)
{
	uart_ops.write(&f->uart, reg, &val, 1);
}

static size_t drain_pipe(struct fixture *f, char *buf, size_t cap)
{
	ssize_t n = read(f->pipe_rd, buf, cap);

	return n < 0 ? 0 : (size_t)n;
}

static void count_rx_ready(void *ctx)
{
	((struct fixture *)ctx)->rx_ready_calls++;
}

static void test_reset_state(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(rd(f, UART_IER), 0);
	assert_int_equal(rd(f, UART_IIR), UART_IIR_NO_INT);
	assert_int_equal(rd(f, UART_LCR), 0);
	assert_int_equal(rd(f, UART_MCR), 0);
	assert_int_equal(rd(f, UART_LSR), UART_LSR_THRE | UART_LSR_TEMT);
	assert_int_equal(rd(f, UART_MSR), UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS);
	assert_int_equal(f->irq.count, 0);
}

static void test_dlab_selects_divisor_latch(void **state)
{
	struct fixture *f = *state;
	char buf[8];

	wr(f, UART_LCR, UART_LCR_DLAB | 0x03);
	wr(f, UART_DLL, 0x01);
	wr(f, UART_DLM, 0x02);
	assert_int_equal(rd(f, UART_DLL), 0x01);
	assert_int_equal(rd(f, UART_DLM), 0x02);
	assert_int_equal(drain_pipe(f, buf, sizeof(buf)), 0);  /* nothing sent */

	wr(f, UART_LCR, 0x03);
	assert_int_equal(rd(f, UART_IER), 0);  /* IER untouched by the DLM write */
	wr(f, UART_THR, 'z');
	assert_int_equal(drain_pipe(f, buf, sizeof(buf)), 1);
	assert_int_equal(buf[0], 'z');

	wr(f, UART_LCR, UART_LCR_DLAB);
	assert_int_equal(rd(f, UART_DLL), 0x01);  /* THR write left DLL alone */
}

/* Linux's autoconfig existence test writes 0x0f and 0 to IER and checks
 * the low nibble; the XScale UUE probe checks that bit 6 does not stick. */
static void test_ier_upper_bits_read_zero(void **state)
{
	struct fixture *f = *state;

	wr(f, UART_IER, 0xff);
	assert_int_equal(rd(f, UART_IER), 0x0f);
	wr(f, UART_IER, 0);
	assert_int_equal(rd(f, UART_IER), 0);
}

static void test_transmit_writes_output_fd(void **state)
{
	struct fixture *f = *state;
	char buf[16];

	wr(f, UART_THR, 'h');
	wr(f, UART_THR, 'i');
	wr(f, UART_THR, '\n');
	assert_int_equal(drain_pipe(f, buf, sizeof(buf)), 3);
	assert_memory_equal(buf, "hi\n", 3);
	assert_int_equal(f->uart.tx_bytes, 3);
	assert_int_equal(f->uart.tx_errors, 0);
	assert_int_equal(rd(f, UART_LSR) & (UART_LSR_THRE | UART_LSR_TEMT),
			 UART_LSR_THRE | UART_LSR_TEMT);
}

static void test_transmit_discards_without_fd(void **state)
{
	struct uart uart;
	uint8_t c = 'x';

	(void)state;
	assert_int_equal(uart_init(&uart, -1, (struct irq_line){ 0 }), 0);
	uart_ops.write(&uart, UART_THR, &c, 1);
	assert_int_equal(uart.tx_bytes, 1);
	assert_int_equal(uart.tx_errors, 0);
	uart_destroy(&uart);
	assert_int_equal(uart_init(&uart, -2, (struct irq_line){ 0 }), -EINVAL);
}

/* The reader went away: each byte is counted as lost and the device keeps
 * working (the process ignores SIGPIPE, as kvmrun's main does). */
static void test_transmit_error_is_counted(void **state)
{
	struct fixture *f = *state;
	void (*old)(int) = signal(SIGPIPE, SIG_IGN);

	close(f->pipe_rd);
	f->pipe_rd = -1;
	wr(f, UART_THR, 'a');
	wr(f, UART_THR, 'b');
	assert_int_equal(f->uart.tx_errors, 2);
	assert_int_equal(rd(f, UART_LSR) & UART_LSR_THRE, UART_LSR_THRE);
	signal(SIGPIPE, old);
}

static void test_fifo_enable_reported_in_iir(void **state)
{
	struct fixture *f = *state;

	wr(f, UART_FCR, UART_FCR_ENABLE);
	assert_int_equal(rd(f, UART_IIR), UART_IIR_FIFO_ON | UART_IIR_NO_INT);
	/* Other FCR bits are only taken while FCR.0 is written as 1. */
	wr(f, UART_FCR, 0xc0);
	assert_int_equal(rd(f, UART_IIR), UART_IIR_NO_INT);
}

static void test_lsr_data_ready_and_overrun_16450_mode(void **state)
{
	struct fixture *f = *state;

	wr(f, UART_MCR, UART_MCR_LOOP);
	wr(f, UART_THR, 'a');
	assert_int_equal(rd(f, UART_LSR) & (UART_LSR_DR | UART_LSR_OE), UART_LSR_DR);
	wr(f, UART_THR, 'b');  /* RBR not read: overrun, 'b' replaces 'a' */
	assert_int_equal(rd(f, UART_LSR) & (UART_LSR_DR | UART_LSR_OE), UART_LSR_DR | UART_LSR_OE);
	assert_int_equal(rd(f, UART_LSR) & UART_LSR_OE, 0);  /* cleared by reading */
	assert_int_equal(rd(f, UART_RBR), 'b');
	assert_int_equal(rd(f, UART_LSR) & UART_LSR_DR, 0);
}

static void test_overrun_in_fifo_mode_keeps_fifo(void **state)
{
	struct fixture *f = *state;

	wr(f, UART_FCR, UART_FCR_ENABLE);
	wr(f, UART_MCR, UART_MCR_LOOP);
	for (int i = 0; i < UART_FIFO_SIZE + 1; i++)
		wr(f, UART_THR, 'A' + i);
	assert_int_equal(rd(f, UART_LSR) & UART_LSR_OE, UART_LSR_OE);
	for (int i = 0; i < UART_FIFO_SIZE; i++)
		assert_int_equal(rd(f, UART_RBR), 'A' + i);
	assert_int_equal(rd(f, UART_LSR) & UART_LSR_DR, 0);
}

static void test_thre_interrupt_raised_and_cleared_by_iir_read(void **state)
{
	struct fixture *f = *state;

	wr(f, UART_MCR, UART_MCR_OUT2);
	wr(f, UART_IER, UART_IER_ETBEI);
	assert_int_equal(f->irq.count, 1);
	assert_true(f->irq.levels[0]);
	assert_int_equal(f->irq.gsi, UART_COM1_IRQ);

	assert_int_equal(rd(f, UART_IIR), UART_IIR_ID_THRE);
	assert_int_equal(f->irq.count, 2);
	assert_false(f->irq.levels[1]);
	assert_int_equal(rd(f, UART_IIR), UART_IIR_NO_INT);
	assert_int_equal(f->irq.count, 2);
}

/* Linux's serial8250_tx_chars fills THR from the THRE interrupt and waits
 * for the next one: each THR write must produce a fresh rising edge. */
static void test_thr_write_gives_new_thre_edge(void **state)
{
	struct fixture *f = *state;

	wr(f, UART_MCR, UART_MCR_OUT2);
	wr(f, UART_IER, UART_IER_ETBEI);       /* high */
	wr(f, UART_THR, 'a');                  /* low, then high again */
	assert_int_equal(f->irq.count, 3);
	assert_true(f->irq.levels[0]);
	assert_false(f->irq.levels[1]);
	assert_true(f->irq.levels[2]);
	assert_int_equal(rd(f, UART_IIR), UART_IIR_ID_THRE);

	wr(f, UART_THR, 'b');                  /* acknowledged: low -> high */
	assert_int_equal(f->irq.count, 5);
	assert_true(f->irq.levels[4]);
}

/* Linux's UART_BUG_THRE probe: THRE must be re-asserted when ETBEI is
 * turned off and on again, even after reading IIR acknowledged it. */
static void test_thre_reasserted_when_etbei_reenabled(void **state)
{
	struct fixture *f = *state;

	wr(f, UART_IER, UART_IER_ETBEI);
	assert_int_equal(rd(f, UART_IIR), UART_IIR_ID_THRE);
	assert_int_equal(rd(f, UART_IIR), UART_IIR_NO_INT);
	wr(f, UART_IER, 0);
	wr(f, UART_IER, UART_IER_ETBEI);
	assert_int_equal(rd(f, UART_IIR), UART_IIR_ID_THRE);
	/* Rewriting IER without an ETBEI transition does not re-trigger. */
	wr(f, UART_IER, UART_IER_ETBEI | UART_IER_ERBFI);
	assert_int_equal(rd(f, UART_IIR), UART_IIR_NO_INT);
}

static void test_iir_priority_order(void **state)
{
	struct fixture *f = *state;

	wr(f, UART_IER, 0x0f);
	assert_int_equal(rd(f, UART_IIR), UART_IIR_ID_THRE);  /* acknowledge it */
	wr(f, UART_MCR, UART_MCR_LOOP);  /* modem inputs change: MSR deltas */
	wr(f, UART_THR, '1');
	wr(f, UART_THR, '2');            /* overrun: line status; THRE again */

	assert_int_equal(rd(f, UART_IIR), UART_IIR_ID_RLS);
	rd(f, UART_LSR);
	assert_int_equal(rd(f, UART_IIR), UART_IIR_ID_RDA);
	assert_int_equal(rd(f, UART_RBR), '2');
	assert_int_equal(rd(f, UART_IIR), UART_IIR_ID_THRE);
	assert_int_equal(rd(f, UART_IIR), UART_IIR_ID_MSR);
	rd(f, UART_MSR);
	assert_int_equal(rd(f, UART_IIR), UART_IIR_NO_INT);
}

/* Below the FIFO trigger level, data is reported as a character timeout
 * (time is not modelled: the timeout has always expired). */
static void test_rx_timeout_below_trigger_level(void **state)
{
	struct fixture *f = *state;
	const uint8_t four[] = "abcd";

	wr(f, UART_FCR, UART_FCR_ENABLE | 0x40);  /* trigger at 4 bytes */
	wr(f, UART_IER, UART_IER_ERBFI);
	assert_int_equal(uart_receive(&f->uart, four, 1), 1);
	assert_int_equal(rd(f, UART_IIR), UART_IIR_FIFO_ON | UART_IIR_ID_TIMEOUT);
	assert_int_equal(uart_receive(&f->uart, four + 1, 3), 3);
	assert_int_equal(rd(f, UART_IIR), UART_IIR_FIFO_ON | UART_IIR_ID_RDA);
	for (int i = 0; i < 4; i++)
		assert_int_equal(rd(f, UART_RBR), four[i]);
	assert_int_equal(rd(f, UART_IIR), UART_IIR_FIFO_ON | UART_IIR_NO_INT);
}

static void test_irq_gated_by_out2_and_loopback(void **state)
{
	struct fixture *f = *state;

	wr(f, UART_IER, UART_IER_ERBFI);
	assert_int_equal(uart_receive(&f->uart, (const uint8_t *)"k", 1), 1);
	assert_int_equal(f->irq.count, 0);  /* pending, but OUT2 is off */
	assert_int_equal(rd(f, UART_IIR), UART_IIR_ID_RDA);

	wr(f, UART_MCR, UART_MCR_OUT2);
	assert_int_equal(f->irq.count, 1);
	assert_true(f->irq.levels[0]);

	wr(f, UART_MCR, UART_MCR_OUT2 | UART_MCR_LOOP);  /* OUT2 pin forced inactive */
	assert_int_equal(f->irq.count, 2);
	assert_false(f->irq.levels[1]);

	wr(f, UART_MCR, UART_MCR_OUT2);
	assert_int_equal(f->irq.count, 3);
	assert_true(f->irq.levels[2]);
	assert_int_equal(rd(f, UART_RBR), 'k');
	assert_int_equal(f->irq.count, 4);
	assert_false(f->irq.levels[3]);
}

static void test_irq_called_only_on_level_change(void **state)
{
	struct fixture *f = *state;

	wr(f, UART_MCR, UART_MCR_OUT2);
	wr(f, UART_IER, UART_IER_ERBFI);
	uart_receive(&f->uart, (const uint8_t *)"a", 1);
	uart_receive(&f->uart, (const uint8_t *)"b", 1);  /* 16450 mode: refused */
	wr(f, UART_FCR, UART_FCR_ENABLE);                 /* clears the FIFO: low */
	uart_receive(&f->uart, (const uint8_t *)"cd", 2);
	rd(f, UART_LSR);
	rd(f, UART_RBR);                                  /* one byte still there */
	assert_int_equal(f->irq.count, 3);
	assert_true(f->irq.levels[0]);
	assert_false(f->irq.levels[1]);
	assert_true(f->irq.levels[2]);
}

static void test_receive_accepts_only_free_space(void **state)
{
	struct fixture *f = *state;
	uint8_t in[20];

	for (unsigned i = 0; i < sizeof(in); i++)
		in[i] = i;
	/* 16450 mode: the RBR holds one byte. */
	assert_int_equal(uart_receive(&f->uart, in, 3), 1);
	assert_int_equal(uart_receive(&f->uart, in, 3), 0);
	wr(f, UART_FCR, UART_FCR_ENABLE);
	assert_int_equal(uart_receive(&f->uart, in, sizeof(in)), UART_FIFO_SIZE);
	assert_int_equal(uart_receive(&f->uart, in + UART_FIFO_SIZE, 4), 0);
	for (int i = 0; i < UART_FIFO_SIZE; i++)
		assert_int_equal(rd(f, UART_RBR), i);
	assert_int_equal(uart_receive(&f->uart, in, 0), 0);
}

static void test_rx_ready_after_refusal(void **state)
{
	struct fixture *f = *state;
	uint8_t in[20] = { 0 };

	uart_set_rx_ready(&f->uart, count_rx_ready, f);
	wr(f, UART_FCR, UART_FCR_ENABLE);
	assert_int_equal(uart_receive(&f->uart, in, UART_FIFO_SIZE), UART_FIFO_SIZE);
	rd(f, UART_RBR);
	assert_int_equal(f->rx_ready_calls, 0);  /* nothing was refused */

	assert_int_equal(uart_receive(&f->uart, in, 4), 1);
	assert_int_equal(f->rx_ready_calls, 0);
	rd(f, UART_RBR);
	assert_int_equal(f->rx_ready_calls, 1);  /* room again */
	rd(f, UART_RBR);
	assert_int_equal(f->rx_ready_calls, 1);  /* once per refusal */

	assert_int_equal(uart_receive(&f->uart, in, 4), 2);
	wr(f, UART_FCR, UART_FCR_ENABLE | UART_FCR_CLEAR_RX);
	assert_int_equal(f->rx_ready_calls, 2);
	assert_int_equal(rd(f, UART_LSR) & UART_LSR_DR, 0);
}

/* The notifier may feed the UART straight away: it runs unlocked. */
struct refeed {
	struct uart *uart;
	size_t fed;
};

static void refeed_rx_ready(void *ctx)
{
	struct refeed *r = ctx;

	r->fed += uart_receive(r->uart, (const uint8_t *)"Z", 1);
}

static void test_rx_ready_may_reenter_receive(void **state)
{
	struct fixture *f = *state;
	struct refeed r = { .uart = &f->uart };

	uart_set_rx_ready(&f->uart, refeed_rx_ready, &r);
	assert_int_equal(uart_receive(&f->uart, (const uint8_t *)"AB", 2), 1);
	assert_int_equal(rd(f, UART_RBR), 'A');
	assert_int_equal(r.fed, 1);
	assert_int_equal(rd(f, UART_RBR), 'Z');
}

static void test_loopback(void **state)
{
	struct fixture *f = *state;
	char buf[4];

	uart_set_rx_ready(&f->uart, count_rx_ready, f);
	/* Linux's autoconfig: MCR = LOOP | RTS | OUT2 must give MSR[7:4] = 0x90
	 * (CTS from RTS, DCD from OUT2). */
	wr(f, UART_MCR, UART_MCR_LOOP | UART_MCR_RTS | UART_MCR_OUT2);
	assert_int_equal(rd(f, UART_MSR) & 0xf0, UART_MSR_DCD | UART_MSR_CTS);
	wr(f, UART_MCR, UART_MCR_LOOP | UART_MCR_DTR | UART_MCR_OUT1);
	assert_int_equal(rd(f, UART_MSR), UART_MSR_DSR | UART_MSR_RI |
			 UART_MSR_DCTS | UART_MSR_DDSR | UART_MSR_DDCD);
	wr(f, UART_MCR, UART_MCR_LOOP);  /* RI falls: trailing edge */
	assert_int_equal(rd(f, UART_MSR), UART_MSR_DDSR | UART_MSR_TERI);
	assert_int_equal(rd(f, UART_MSR), 0);  /* deltas cleared by reading */

	wr(f, UART_THR, 'q');
	assert_int_equal(drain_pipe(f, buf, sizeof(buf)), 0);
	assert_int_equal(f->uart.tx_bytes, 0);
	assert_int_equal(rd(f, UART_RBR), 'q');

	/* Host input waits while the serial input is disconnected. */
	assert_int_equal(uart_receive(&f->uart, (const uint8_t *)"h", 1), 0);
	wr(f, UART_MCR, 0);
	assert_int_equal(f->rx_ready_calls, 1);
	assert_int_equal(uart_receive(&f->uart, (const uint8_t *)"h", 1), 1);
}

static void test_scratch_register(void **state)
{
	struct fixture *f = *state;

	wr(f, UART_SCR, 0x5a);
	assert_int_equal(rd(f, UART_SCR), 0x5a);
	wr(f, UART_LSR, 0);  /* read-only: ignored */
	wr(f, UART_MSR, 0);
	assert_int_equal(rd(f, UART_LSR), UART_LSR_THRE | UART_LSR_TEMT);
}

static void test_wide_access_is_split_into_bytes(void **state)
{
	struct fixture *f = *state;
	uint16_t divisor = 0x0203, back = 0;

	wr(f, UART_LCR, UART_LCR_DLAB);
	uart_ops.write(&f->uart, UART_DLL, &divisor, 2);
	assert_int_equal(rd(f, UART_DLL), 0x03);
	assert_int_equal(rd(f, UART_DLM), 0x02);
	uart_ops.read(&f->uart, UART_DLL, &back, 2);
	assert_int_equal(back, 0x0203);
}

/* A producer thread (the event loop) and the guest (a vCPU) at once: every
 * byte arrives exactly once and in order, with rx_ready as the only
 * wake-up. */
#define STRESS_BYTES 20000

struct stress {
	struct uart *uart;
	sem_t room;
};

static void stress_rx_ready(void *ctx)
{
	sem_post(&((struct stress *)ctx)->room);
}

static void *stress_producer(void *arg)
{
	struct stress *s = arg;
	static uint8_t data[STRESS_BYTES];
	size_t off = 0;

	for (size_t i = 0; i < STRESS_BYTES; i++)
		data[i] = (uint8_t)(i * 7);
	while (off < STRESS_BYTES) {
		size_t want = STRESS_BYTES - off, n;

		if (want > 64)
			want = 64;
		n = uart_receive(s->uart, data + off, want);
		off += n;
		if (n < want)
			sem_wait(&s->room);
	}
	return NULL;
}

static void test_concurrent_receive_loses_nothing(void **state)
{
	struct fixture *f = *state;
	struct stress s = { .uart = &f->uart };
	pthread_t producer;
	size_t got = 0;

	assert_int_equal(sem_init(&s.room, 0, 0), 0);
	uart_set_rx_ready(&f->uart, stress_rx_ready, &s);
	wr(f, UART_FCR, UART_FCR_ENABLE);
	assert_int_equal(pthread_create(&producer, NULL, stress_producer, &s), 0);
	while (got < STRESS_BYTES) {
		if (rd(f, UART_LSR) & UART_LSR_DR) {
			assert_int_equal(rd(f, UART_RBR), (uint8_t)(got * 7));
			got++;
		}
	}
	assert_int_equal(pthread_join(producer, NULL), 0);
	assert_int_equal(rd(f, UART_LSR) & (UART_LSR_DR | UART_LSR_OE), 0);
	sem_destroy(&s.room);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_reset_state),
		T(test_dlab_selects_divisor_latch),
		T(test_ier_upper_bits_read_zero),
		T(test_transmit_writes_output_fd),
		T(test_transmit_discards_without_fd),
		T(test_transmit_error_is_counted),
		T(test_fifo_enable_reported_in_iir),
		T(test_lsr_data_ready_and_overrun_16450_mode),
		T(test_overrun_in_fifo_mode_keeps_fifo),
		T(test_thre_interrupt_raised_and_cleared_by_iir_read),
		T(test_thr_write_gives_new_thre_edge),
		T(test_thre_reasserted_when_etbei_reenabled),
		T(test_iir_priority_order),
		T(test_rx_timeout_below_trigger_level),
		T(test_irq_gated_by_out2_and_loopback),
		T(test_irq_called_only_on_level_change),
		T(test_receive_accepts_only_free_space),
		T(test_rx_ready_after_refusal),
		T(test_rx_ready_may_reenter_receive),
		T(test_loopback),
		T(test_scratch_register),
		T(test_wide_access_is_split_into_bytes),
		T(test_concurrent_receive_loses_nothing),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
