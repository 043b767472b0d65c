/* libguest: the freestanding C library test guests are written against.
 *
 * A test is one file with `int main(int argc, char **argv)`; its return
 * value is the guest's exit code. See docs/guest-library.md. */
#ifndef GUEST_LIBGUEST_H
#define GUEST_LIBGUEST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "segments.h"

/* Guest exit codes (the low byte of the value written to the exit port;
 * kvmrun exits with it). 2, 3 and 4 are kvmrun's own statuses (bad input,
 * VMM error, guest crash), so the library's failure codes avoid them. */
#define GUEST_EXIT_PASS       0   /* report_summary(): no unexpected failure */
#define GUEST_EXIT_FAIL       1   /* report_summary(): a test failed */
#define GUEST_EXIT_EXCEPTION  10  /* unhandled CPU exception (dump on serial) */
#define GUEST_EXIT_ABORT      11  /* assert() / guest_abort(): broken setup */

/* kvmrun's exit port, and QEMU's isa-debug-exit (iobase=0xf4) so the same
 * images run under `qemu-system-x86_64 -device isa-debug-exit`. */
#define EXIT_PORT_KVMRUN      0x600
#define EXIT_PORT_QEMU        0xf4

#define ARRAY_SIZE(a)         (sizeof(a) / sizeof((a)[0]))
#define __printf_like(f, a)   __attribute__((format(printf, f, a)))
#define __noreturn            __attribute__((noreturn))
#define __aligned(n)          __attribute__((aligned(n)))
#define __unused              __attribute__((unused))
#define barrier()             __asm__ volatile("" : : : "memory")

#define READ_ONCE(x)          (*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v)      (*(volatile __typeof__(x) *)&(x) = (v))

/* string.c: what the compiler may call implicitly, plus a few helpers. */
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
size_t strnlen(const char *s, size_t max);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);
/* Parse an unsigned number: decimal, or hexadecimal after "0x". Stops at
 * the first character that is not a digit; *end (if not NULL) points to it.
 * Returns false if no digit was read or the value overflows 64 bits. */
bool parse_u64(const char *s, uint64_t *val, const char **end);

/* printf.c: %d %i %u %x %X %o %c %s %p %% with flags '-' '0', a width
 * (number or *), a precision for %s, and the hh h l ll z length modifiers.
 * vsnprintf returns the length the full output would have. */
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap) __printf_like(3, 0);
int snprintf(char *buf, size_t size, const char *fmt, ...) __printf_like(3, 4);
/* printf writes to the serial console; output from several CPUs is
 * serialised per call. Safe at CPL 0 and CPL 3. */
int vprintf(const char *fmt, va_list ap) __printf_like(1, 0);
int printf(const char *fmt, ...) __printf_like(1, 2);
int puts(const char *s);

/* exit.c */
void exit(int code) __noreturn;
void guest_abort(const char *fmt, ...) __printf_like(1, 2) __noreturn;
#define assert(cond)                                                       \
	do {                                                               \
		if (!(cond))                                               \
			guest_abort("assertion failed: %s (%s:%d)", #cond, \
				    __FILE__, __LINE__);                   \
	} while (0)

/* report.c: kvm-unit-tests style results. Each line is "PASS: ", "FAIL: "
 * or "SKIP: ", the current prefixes ("a: b: "), then the message. */
void report(bool pass, const char *fmt, ...) __printf_like(2, 3);
void report_skip(const char *fmt, ...) __printf_like(1, 2);
void report_info(const char *fmt, ...) __printf_like(1, 2);
void report_prefix_push(const char *prefix);
void report_prefix_pop(void);
/* Prints "SUMMARY: N tests, M unexpected failures, K skipped" and returns
 * GUEST_EXIT_PASS or GUEST_EXIT_FAIL: `return report_summary();` */
int report_summary(void);

/* cmdline.c: the command line from hvm_start_info, split at spaces.
 * Keys are looked up as "key=value" words, key given without '='.
 * cmdline_get_str() truncates the value to size - 1 bytes;
 * cmdline_get_u64() fails on a value that is not entirely a number. */
const char *cmdline_get(void);
bool cmdline_get_str(const char *key, char *buf, size_t size);
bool cmdline_get_u64(const char *key, uint64_t *val);
bool cmdline_has(const char *word);

#endif
