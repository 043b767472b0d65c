/* Console escape sequences in the operator's input, as in QEMU's
 * -nographic: Ctrl-A is the escape key.
 *
 *   Ctrl-A x (or X)   quit kvmrun
 *   Ctrl-A Ctrl-A     send one literal Ctrl-A to the guest
 *   Ctrl-A other      ignored, both bytes (an unknown command, as in QEMU)
 *
 * A pure state machine: the escape may be split across reads. */
#ifndef KVMRUN_DEVICES_CONSOLE_ESCAPE_H
#define KVMRUN_DEVICES_CONSOLE_ESCAPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONSOLE_ESCAPE_KEY 0x01  /* Ctrl-A */

struct console_escape {
	bool after_escape;  /* the last byte seen was an unpaired Ctrl-A */
};

void console_escape_init(struct console_escape *esc);

/* Filter `n` input bytes into `out` (room for n bytes: the output is never
 * longer than the input) and return how many bytes were written. *quit is
 * set to whether a quit sequence was seen; if so, the bytes after it are
 * not looked at and the state is reset. */
size_t console_escape_filter(struct console_escape *esc, const uint8_t *in, size_t n,
			     uint8_t *out, bool *quit);

#endif
