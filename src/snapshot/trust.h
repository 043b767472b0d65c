/* Whether a snapshot file may be believed (docs/snapshots.md, "Trust").
 *
 * A state file is trusted input: it names the disk images, TAP devices
 * and socket path kvmrun opens with its own privileges, and its CRCs say
 * only that the bytes are the ones written, not who wrote them. So, like
 * ssh with a private key, kvmrun refuses a state or memory file that
 * someone other than the invoking user (or root) could have written: one
 * owned by another user, or writable by group or others. */
#ifndef KVMRUN_SNAPSHOT_TRUST_H
#define KVMRUN_SNAPSHOT_TRUST_H

#include <stddef.h>
#include <sys/stat.h>

/* 0 if `st` (fstat of the open file) is owned by the effective user or
 * root and not writable by group or others; otherwise -EPERM with one
 * line in err: "<what> <path>: <why>". */
int snap_file_check_trust(const struct stat *st, const char *what, const char *path, char *err,
			  size_t errlen);

#endif
