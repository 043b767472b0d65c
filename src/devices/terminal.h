/* The host terminal as the serial console: raw input while the VM runs,
 * and the operator's settings back on every way out of the process.
 *
 * Raw mode is cfmakeraw() except for output processing: input is byte for
 * byte with no echo, no line editing and no signals from the keyboard
 * (Ctrl-C goes to the guest; the console escape Ctrl-A x quits), but
 * OPOST and the terminal's own output flags are left as they were, like
 * QEMU's stdio backend. Guests normally send "\r\n" themselves (Linux's
 * console and its tty layer's ONLCR both do); with ONLCR still on that
 * becomes "\r\r\n", which looks the same, while a bare "\n" from a minimal
 * guest still starts a new line instead of a staircase. Raw mode is only
 * ever applied to a terminal, so output captured from a pipe or file stays
 * byte-exact either way.
 *
 * Restoring happens on: terminal_restore(); normal return from main and
 * exit() (an atexit hook); and fatal signals (SIGHUP, SIGINT, SIGQUIT,
 * SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGSEGV, SIGPIPE, SIGTERM,
 * SIGXCPU, SIGXFSZ, SIGSYS), whose handler restores the settings and then
 * re-raises the signal with its default action, so the process still dies
 * of it (status and core dump unchanged). A handler is installed only for
 * a signal whose disposition is still SIG_DFL when raw mode is entered:
 * a caller with its own handler (a graceful SIGTERM, a sanitizer's SIGSEGV)
 * keeps it, and must then leave through exit() or terminal_restore().
 * _exit() and SIGKILL cannot be covered; `stty sane` fixes the terminal. */
#ifndef KVMRUN_DEVICES_TERMINAL_H
#define KVMRUN_DEVICES_TERMINAL_H

/* Put the terminal behind `fd` into raw mode, saving its settings.
 * Returns 0 without doing anything if fd is not a terminal; -EBUSY if raw
 * mode is already entered; -errno if the settings cannot be read or set
 * (then nothing is changed), -ENOMEM if the atexit hook cannot be set. */
int terminal_raw_enter(int fd);

/* Put back the settings saved by terminal_raw_enter. Idempotent; safe to
 * call when raw mode was never entered. */
void terminal_restore(void);

#endif
