/* Command line storage and argv splitting (the lookups are declared in
 * libguest.h). */
#ifndef GUEST_CMDLINE_H
#define GUEST_CMDLINE_H

#define CMDLINE_MAX   2048
#define CMDLINE_ARGV_MAX 64

/* Copy `s` (at most CMDLINE_MAX - 1 bytes) and split it at spaces. */
void cmdline_init(const char *s);
/* argv[0] is "guest"; the rest are the command line's words. */
int cmdline_argv(char ***argv);

#endif
