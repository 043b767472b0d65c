/* Private to the command-line parser (config*.c): what the option parsers
 * share. */
#ifndef KVMRUN_CONFIG_OPTIONS_H
#define KVMRUN_CONFIG_OPTIONS_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "config.h"

/* Write a one-line reason into the caller's `err` (char[CONFIG_ERROR_MAX])
 * and return -EINVAL from the calling parser. */
#define fail(...) do { snprintf(err, CONFIG_ERROR_MAX, __VA_ARGS__); return -EINVAL; } while (0)

/* Whether the option `word` (len bytes, not NUL-terminated) is `name`. */
static inline bool config_word_is(const char *word, size_t len, const char *name)
{
	return strlen(name) == len && !strncmp(word, name, len);
}

#endif
