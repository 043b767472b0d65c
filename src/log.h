/* One-line diagnostics on stderr, all prefixed "kvmrun: ". */
#ifndef KVMRUN_LOG_H
#define KVMRUN_LOG_H

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define log_error(fmt, ...) fprintf(stderr, "kvmrun: error: " fmt "\n", ##__VA_ARGS__)
#define log_warn(fmt, ...)  fprintf(stderr, "kvmrun: warning: " fmt "\n", ##__VA_ARGS__)
#define log_info(fmt, ...)  fprintf(stderr, "kvmrun: " fmt "\n", ##__VA_ARGS__)

/* Report a failed system call or ioctl by name and return -err, so call
 * sites read `return log_syscall_error("KVM_CREATE_VM", errno);`. */
static inline int log_syscall_error(const char *what, int err)
{
	log_error("%s: %s", what, strerror(err));
	return -err;
}

#endif
