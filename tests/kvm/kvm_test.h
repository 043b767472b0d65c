/* Shared by the KVM tests: skip loudly (exit 77, meson's SKIP) when
 * /dev/kvm is unusable, set up the kick signal as main() would, then run
 * the cmocka group. */
#ifndef KVMRUN_TESTS_KVM_TEST_H
#define KVMRUN_TESTS_KVM_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vcpu.h"

#define KVM_TEST_SKIP 77

#define kvm_test_run(what, tests, setup, teardown)                                      \
	({                                                                              \
		int fd_ = open("/dev/kvm", O_RDWR | O_CLOEXEC), ret_;                   \
		if (fd_ < 0) {                                                          \
			fprintf(stderr, "SKIP: /dev/kvm not available (%s): %s not run\n", \
				strerror(errno), what);                                 \
			printf("SKIP: /dev/kvm not available\n");                       \
			ret_ = KVM_TEST_SKIP;                                           \
		} else {                                                                \
			close(fd_);                                                     \
			ret_ = vcpu_setup_kick_signal() < 0                             \
				       ? 1                                              \
				       : cmocka_run_group_tests(tests, setup, teardown);  \
		}                                                                       \
		ret_;                                                                   \
	})

#endif
