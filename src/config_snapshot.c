/* The snapshot options' values: --snapshot-on-signal (where and how a
 * snapshot is saved) and --memory-backend (how a restore gets its RAM). */
#include "config_options.h"

#include <errno.h>
#include <stdlib.h>

int config_parse_memory_backend(struct config *cfg, const char *text, char err[CONFIG_ERROR_MAX])
{
	size_t kind_len = strcspn(text, ",");
	const char *p;

	cfg->uffd_prefetch_off = false;
	cfg->uffd_fault_delay_us = 0;
	if (config_word_is(text, kind_len, "private") && !text[kind_len]) {
		cfg->memory_backend = MEMORY_BACKEND_PRIVATE;
		return 0;
	}
	if (!config_word_is(text, kind_len, "uffd"))
		fail("--memory-backend %s: expected private or uffd[,prefetch=on|off][,fault-delay-us=N]",
		     text);
	cfg->memory_backend = MEMORY_BACKEND_UFFD;
	for (p = text + kind_len; *p; p += strcspn(p, ",")) {
		const char *word = ++p;
		size_t len = strcspn(word, ",");
		char *end;

		if (config_word_is(word, len, "prefetch=on")) {
			cfg->uffd_prefetch_off = false;
		} else if (config_word_is(word, len, "prefetch=off")) {
			cfg->uffd_prefetch_off = true;
		} else if (len > 15 && !strncmp(word, "fault-delay-us=", 15)) {
			unsigned long v;

			errno = 0;
			v = strtoul(word + 15, &end, 10);
			/* At most 10 s a page: a knob for tests, not a store. */
			if (errno || end != word + len || word[15] < '0' || word[15] > '9' ||
			    v > 10000000)
				fail("--memory-backend %s: fault-delay-us=%.*s: expected 0-10000000",
				     text, (int)(len - 15), word + 15);
			cfg->uffd_fault_delay_us = (unsigned)v;
		} else {
			fail("--memory-backend %s: unknown uffd option '%.*s' (expected prefetch=on, "
			     "prefetch=off or fault-delay-us=N)", text, (int)len, word);
		}
	}
	return 0;
}

int config_parse_snapshot(struct snapshot_config *snap, const char *text,
			  char err[CONFIG_ERROR_MAX])
{
	const char *comma = strchr(text, ','), *p;
	size_t path_len = comma ? (size_t)(comma - text) : strlen(text);
	bool mem_given = false;

	memset(snap, 0, sizeof(*snap));
	snap->then = SNAPSHOT_THEN_EXIT;
	if (path_len == 0)
		fail("--snapshot-on-signal %s: no state file path before the options", text);
	if (path_len + sizeof(".mem") > sizeof(snap->state_path))
		fail("--snapshot-on-signal: state file path longer than %zu bytes",
		     sizeof(snap->state_path) - sizeof(".mem"));
	memcpy(snap->state_path, text, path_len);
	for (p = comma; p; p = strchr(p, ',')) {
		const char *word = ++p;
		size_t len = strcspn(word, ",");

		if (len > 4 && !strncmp(word, "mem=", 4)) {
			if (len - 4 >= sizeof(snap->memory_path))
				fail("--snapshot-on-signal: mem= path longer than %zu bytes",
				     sizeof(snap->memory_path) - 1);
			memcpy(snap->memory_path, word + 4, len - 4);
			mem_given = true;
		} else if (config_word_is(word, len, "then=exit")) {
			snap->then = SNAPSHOT_THEN_EXIT;
		} else if (config_word_is(word, len, "then=continue")) {
			snap->then = SNAPSHOT_THEN_CONTINUE;
		} else if (config_word_is(word, len, "diff")) {
			snap->diff = true;
		} else {
			fail("--snapshot-on-signal %s: unknown option '%.*s' (expected mem=PATH, then=exit, then=continue or diff)",
			     text, (int)len, word);
		}
	}
	snap->memory_path_given = mem_given;
	if (!mem_given) {
		/* path_len + 5 fits: checked above. */
		memcpy(snap->memory_path, snap->state_path, path_len);
		memcpy(snap->memory_path + path_len, ".mem", sizeof(".mem"));
	}
	if (!strcmp(snap->memory_path, snap->state_path))
		fail("--snapshot-on-signal %s: the state and memory files must differ", text);
	return 0;
}
