/* vsnprintf and printf. Formatting writes into a small buffer that is
 * flushed to the UART when full, so printf has no length limit and
 * snprintf never writes past `size`. */
#include "libguest.h"

#include "serial.h"
#include "smp.h"

struct fmt_out {
	char *buf;
	size_t size;      /* capacity of buf */
	size_t len;       /* bytes in buf */
	size_t total;     /* bytes the whole output has, for the return value */
	bool to_serial;   /* flush to the UART when full instead of dropping */
};

static void fmt_flush(struct fmt_out *o)
{
	if (o->to_serial && o->len) {
		serial_write(o->buf, o->len);
		o->len = 0;
	}
}

static void fmt_putc(struct fmt_out *o, char c)
{
	if (o->len == o->size)
		fmt_flush(o);
	if (o->len < o->size)
		o->buf[o->len++] = c;
	o->total++;
}

static void fmt_pad(struct fmt_out *o, char c, int n)
{
	while (n-- > 0)
		fmt_putc(o, c);
}

struct fmt_spec {
	bool left;        /* '-' */
	bool zero;        /* '0' */
	int width;
	int precision;    /* -1: none */
};

static void fmt_string(struct fmt_out *o, const char *s, const struct fmt_spec *spec)
{
	size_t len;

	if (!s)
		s = "(null)";
	len = spec->precision >= 0 ? strnlen(s, (size_t)spec->precision) : strlen(s);
	if (!spec->left)
		fmt_pad(o, ' ', spec->width - (int)len);
	for (size_t i = 0; i < len; i++)
		fmt_putc(o, s[i]);
	if (spec->left)
		fmt_pad(o, ' ', spec->width - (int)len);
}

static void fmt_number(struct fmt_out *o, uint64_t v, bool negative, unsigned base,
		       bool upper, const char *prefix, const struct fmt_spec *spec)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char tmp[24];
	int n = 0, len, plen = (int)strlen(prefix) + (negative ? 1 : 0);

	do {
		tmp[n++] = digits[v % base];
		v /= base;
	} while (v);
	len = n + plen;
	if (!spec->left && !spec->zero)
		fmt_pad(o, ' ', spec->width - len);
	if (negative)
		fmt_putc(o, '-');
	while (*prefix)
		fmt_putc(o, *prefix++);
	if (!spec->left && spec->zero)
		fmt_pad(o, '0', spec->width - len);
	while (n)
		fmt_putc(o, tmp[--n]);
	if (spec->left)
		fmt_pad(o, ' ', spec->width - len);
}

enum fmt_length { LEN_INT, LEN_CHAR, LEN_SHORT, LEN_LONG, LEN_LLONG, LEN_SIZE };

static uint64_t fmt_arg_unsigned(va_list *ap, enum fmt_length l)
{
	switch (l) {
	case LEN_CHAR:  return (unsigned char)va_arg(*ap, unsigned int);
	case LEN_SHORT: return (unsigned short)va_arg(*ap, unsigned int);
	case LEN_LONG:  return va_arg(*ap, unsigned long);
	case LEN_LLONG: return va_arg(*ap, unsigned long long);
	case LEN_SIZE:  return va_arg(*ap, size_t);
	default:        return va_arg(*ap, unsigned int);
	}
}

static int64_t fmt_arg_signed(va_list *ap, enum fmt_length l)
{
	switch (l) {
	case LEN_CHAR:  return (signed char)va_arg(*ap, int);
	case LEN_SHORT: return (short)va_arg(*ap, int);
	case LEN_LONG:  return va_arg(*ap, long);
	case LEN_LLONG: return va_arg(*ap, long long);
	case LEN_SIZE:  return (int64_t)va_arg(*ap, size_t);
	default:        return va_arg(*ap, int);
	}
}

static void fmt_format(struct fmt_out *o, const char *fmt, va_list ap_in)
{
	va_list ap;

	va_copy(ap, ap_in);
	while (*fmt) {
		struct fmt_spec spec = { .precision = -1 };
		enum fmt_length l = LEN_INT;
		const char *start = fmt;

		if (*fmt != '%') {
			fmt_putc(o, *fmt++);
			continue;
		}
		fmt++;
		for (;; fmt++) {
			if (*fmt == '-')
				spec.left = true;
			else if (*fmt == '0')
				spec.zero = true;
			else
				break;
		}
		if (*fmt == '*') {
			spec.width = va_arg(ap, int);
			if (spec.width < 0) {
				spec.left = true;
				spec.width = -spec.width;
			}
			fmt++;
		} else {
			while (*fmt >= '0' && *fmt <= '9')
				spec.width = spec.width * 10 + (*fmt++ - '0');
		}
		if (*fmt == '.') {
			fmt++;
			spec.precision = 0;
			if (*fmt == '*') {
				spec.precision = va_arg(ap, int);
				fmt++;
			} else {
				while (*fmt >= '0' && *fmt <= '9')
					spec.precision = spec.precision * 10 + (*fmt++ - '0');
			}
		}
		if (*fmt == 'h') {
			fmt++;
			l = LEN_SHORT;
			if (*fmt == 'h') {
				fmt++;
				l = LEN_CHAR;
			}
		} else if (*fmt == 'l') {
			fmt++;
			l = LEN_LONG;
			if (*fmt == 'l') {
				fmt++;
				l = LEN_LLONG;
			}
		} else if (*fmt == 'z') {
			fmt++;
			l = LEN_SIZE;
		}
		switch (*fmt) {
		case 'd':
		case 'i': {
			int64_t v = fmt_arg_signed(&ap, l);
			uint64_t mag = v < 0 ? -(uint64_t)v : (uint64_t)v;

			fmt_number(o, mag, v < 0, 10, false, "", &spec);
			break;
		}
		case 'u':
			fmt_number(o, fmt_arg_unsigned(&ap, l), false, 10, false, "", &spec);
			break;
		case 'x':
		case 'X':
			fmt_number(o, fmt_arg_unsigned(&ap, l), false, 16, *fmt == 'X', "", &spec);
			break;
		case 'o':
			fmt_number(o, fmt_arg_unsigned(&ap, l), false, 8, false, "", &spec);
			break;
		case 'p':
			fmt_number(o, (uintptr_t)va_arg(ap, void *), false, 16, false, "0x", &spec);
			break;
		case 'c': {
			char c = (char)va_arg(ap, int);

			if (!spec.left)
				fmt_pad(o, ' ', spec.width - 1);
			fmt_putc(o, c);
			if (spec.left)
				fmt_pad(o, ' ', spec.width - 1);
			break;
		}
		case 's':
			fmt_string(o, va_arg(ap, const char *), &spec);
			break;
		case '%':
			fmt_putc(o, '%');
			break;
		default:
			/* Unknown conversion (or the string ended): print it
			 * literally so the mistake is visible. */
			while (start < fmt)
				fmt_putc(o, *start++);
			if (!*fmt)
				goto done;
			fmt_putc(o, *fmt);
			break;
		}
		fmt++;
	}
done:
	va_end(ap);
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct fmt_out o = { .buf = buf, .size = size ? size - 1 : 0 };

	fmt_format(&o, fmt, ap);
	if (size)
		buf[o.len] = '\0';
	return (int)o.total;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

/* One lock serialises console output from all CPUs so lines do not
 * interleave. It records its owner so that printing from an exception
 * handler that interrupted a printf on the same CPU does not deadlock
 * (the two outputs may then mix, which beats a hang). */
static uint32_t console_owner = UINT32_MAX;  /* CPU index holding the lock */

static bool console_lock(void)
{
	uint32_t self = smp_id();
	uint32_t expected;

	if (__atomic_load_n(&console_owner, __ATOMIC_RELAXED) == self)
		return false;
	for (;;) {
		expected = UINT32_MAX;
		if (__atomic_compare_exchange_n(&console_owner, &expected, self, false,
						__ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			return true;
		__asm__ volatile("pause");
	}
}

static void console_unlock(bool taken)
{
	if (taken)
		__atomic_store_n(&console_owner, UINT32_MAX, __ATOMIC_RELEASE);
}

int vprintf(const char *fmt, va_list ap)
{
	char buf[128];
	struct fmt_out o = { .buf = buf, .size = sizeof(buf), .to_serial = true };
	bool taken = console_lock();

	fmt_format(&o, fmt, ap);
	fmt_flush(&o);
	console_unlock(taken);
	return (int)o.total;
}

int printf(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vprintf(fmt, ap);
	va_end(ap);
	return n;
}

int puts(const char *s)
{
	return printf("%s\n", s);
}
