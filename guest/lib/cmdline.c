#include "cmdline.h"

#include "libguest.h"

/* The command line, its split copy and argv, filled once at entry. */
static char cmdline_copy[CMDLINE_MAX];
static char cmdline_words[CMDLINE_MAX];
static char *cmdline_argv_store[CMDLINE_ARGV_MAX + 1];
static int cmdline_argc;

void cmdline_init(const char *s)
{
	size_t len = strnlen(s, CMDLINE_MAX - 1);
	char *p = cmdline_words;

	memcpy(cmdline_copy, s, len);
	cmdline_copy[len] = '\0';
	memcpy(cmdline_words, s, len);
	cmdline_words[len] = '\0';

	cmdline_argc = 0;
	cmdline_argv_store[cmdline_argc++] = "guest";
	while (*p && cmdline_argc < CMDLINE_ARGV_MAX) {
		while (*p == ' ' || *p == '\t' || *p == '\n')
			*p++ = '\0';
		if (!*p)
			break;
		cmdline_argv_store[cmdline_argc++] = p;
		while (*p && *p != ' ' && *p != '\t' && *p != '\n')
			p++;
	}
	cmdline_argv_store[cmdline_argc] = NULL;
}

int cmdline_argv(char ***argv)
{
	*argv = cmdline_argv_store;
	return cmdline_argc;
}

const char *cmdline_get(void)
{
	return cmdline_copy;
}

/* The value of the first "key=value" word, or NULL. */
static const char *cmdline_value(const char *key)
{
	size_t klen = strlen(key);

	for (int i = 1; i < cmdline_argc; i++) {
		const char *w = cmdline_argv_store[i];

		if (strncmp(w, key, klen) == 0 && w[klen] == '=')
			return w + klen + 1;
	}
	return NULL;
}

bool cmdline_get_str(const char *key, char *buf, size_t size)
{
	const char *v = cmdline_value(key);
	size_t len;

	if (!v || size == 0)
		return false;
	len = strnlen(v, size - 1);
	memcpy(buf, v, len);
	buf[len] = '\0';
	return true;
}

bool cmdline_get_u64(const char *key, uint64_t *val)
{
	const char *v = cmdline_value(key);
	const char *end;

	return v && parse_u64(v, val, &end) && *end == '\0';
}

bool cmdline_has(const char *word)
{
	for (int i = 1; i < cmdline_argc; i++) {
		if (strcmp(cmdline_argv_store[i], word) == 0)
			return true;
	}
	return false;
}
