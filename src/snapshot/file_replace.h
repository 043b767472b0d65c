/* Files written whole or not at all, as every snapshot file is: a reader
 * (a restore, or a crash in the middle of a save) sees either the old file
 * or the complete new one, never a part. */
#ifndef KVMRUN_SNAPSHOT_FILE_REPLACE_H
#define KVMRUN_SNAPSHOT_FILE_REPLACE_H

#include <stddef.h>

/* Fill a temporary file next to `path` ("PATH.tmpPID", mode 0600) with
 * fill(fd, ctx), fsync it and rename it over `path`. On any failure the
 * temporary file is removed and `err` reads "PATH: cannot write WHAT:
 * reason". The directory is not fsynced: a save does that once, after its
 * last file (snap_file_sync_dir). Returns 0 or -errno (fill's included). */
int snap_file_replace(const char *path, const char *what, int (*fill)(int fd, void *ctx),
		      void *ctx, char *err, size_t errlen);

/* fsync the directory holding `path`, so that renames into it are
 * durable. Returns 0 or -errno. */
int snap_file_sync_dir(const char *path);

#endif
