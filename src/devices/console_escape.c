#include "devices/console_escape.h"

void console_escape_init(struct console_escape *esc)
{
	esc->after_escape = false;
}

size_t console_escape_filter(struct console_escape *esc, const uint8_t *in, size_t n,
			     uint8_t *out, bool *quit)
{
	size_t produced = 0;

	*quit = false;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = in[i];

		if (!esc->after_escape) {
			if (c == CONSOLE_ESCAPE_KEY)
				esc->after_escape = true;
			else
				out[produced++] = c;
			continue;
		}
		esc->after_escape = false;
		if (c == CONSOLE_ESCAPE_KEY) {
			out[produced++] = c;
		} else if (c == 'x' || c == 'X') {
			*quit = true;
			break;
		}
	}
	return produced;
}
