/* Trusted snapshot files. See trust.h. */
#include "snapshot/trust.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

int snap_file_check_trust(const struct stat *st, const char *what, const char *path, char *err,
			  size_t errlen)
{
	uid_t me = geteuid();

	if (st->st_uid != me && st->st_uid != 0) {
		snprintf(err, errlen,
			 "%s %s: owned by uid %u, not by you (uid %u) or root: refusing a file another user could have written (docs/snapshots.md, Trust)",
			 what, path, (unsigned)st->st_uid, (unsigned)me);
		return -EPERM;
	}
	if (st->st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(err, errlen,
			 "%s %s: mode %04o, writable by %s: refusing a file others could have written (chmod go-w; docs/snapshots.md, Trust)",
			 what, path, (unsigned)(st->st_mode & 07777),
			 (st->st_mode & S_IWGRP) && (st->st_mode & S_IWOTH) ? "group and others" :
			 (st->st_mode & S_IWGRP) ? "group" : "others");
		return -EPERM;
	}
	return 0;
}
