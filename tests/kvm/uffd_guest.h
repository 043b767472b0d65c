/* Shared by the KVM tests of userfaultfd-backed guest RAM: boot
 * guest/async_pf.elf in a machine whose RAM above UFFD_GUEST_BASE is left
 * untouched and handed to the uffd back-end (src/snapshot/uffd_memory.h)
 * with a memory file in the format guest/tests/async_pf.c checks, as a
 * lazy restore will. Returns the machine's exit status and the back-end's
 * counters, and prints the guest's serial transcript. */
#ifndef KVMRUN_TESTS_KVM_UFFD_GUEST_H
#define KVMRUN_TESTS_KVM_UFFD_GUEST_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "machine.h"
#include "snapshot/uffd_memory.h"
#include "vm.h"

#define UFFD_GUEST_PATTERN 0x6b766d72756e5046ULL  /* guest/tests/async_pf.c */
#define UFFD_GUEST_BASE    (64ULL << 20)           /* far above the image */
#define UFFD_GUEST_PAGE    4096ULL

/* Whether this process may use userfaultfd(2); says why not on stderr. */
static inline bool uffd_guest_available(void)
{
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);

	if (fd < 0) {
		fprintf(stderr, "SKIP: userfaultfd(2) unavailable (%s)\n", strerror(errno));
		printf("SKIP: userfaultfd unavailable\n");
		return false;
	}
	close(fd);
	return true;
}

/* A memfd laid out like guest RAM from `base`: page i holds PATTERN ^ its
 * guest physical address in its first word, and every hole_every-th page
 * is a hole. Returns the fd or -errno. */
static inline int uffd_guest_make_file(uint64_t base, uint64_t size, uint64_t hole_every)
{
	int fd = memfd_create("uffd-guest-memory", MFD_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0)
		goto fail;
	for (uint64_t i = 0; i < size / UFFD_GUEST_PAGE; i++) {
		uint64_t word = UFFD_GUEST_PATTERN ^ (base + i * UFFD_GUEST_PAGE);

		if (hole_every && i % hole_every == hole_every - 1)
			continue;
		if (pwrite(fd, &word, sizeof(word), (off_t)(i * UFFD_GUEST_PAGE)) != sizeof(word))
			goto fail;
	}
	return fd;
fail:
	close(fd);
	return -EIO;
}

static inline void uffd_guest_print_file(const char *path)
{
	char line[256];
	FILE *f = fopen(path, "r");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		printf("guest: %s", line);
	fclose(f);
}

/* Boot async_pf.elf with `memory` MiB and the command line `cmdline`,
 * RAM [UFFD_GUEST_BASE, UFFD_GUEST_BASE + size) served by the back-end.
 * Returns the exit status (negative: setup failed). */
static inline int uffd_guest_run(unsigned memory_mib, const char *cmdline, uint64_t size,
				 uint64_t hole_every, const struct uffd_memory_options *opts,
				 struct uffd_memory_stats *stats)
{
	char mem_arg[16], console[64] = "file:/tmp/kvmrun-uffd-guest-XXXXXX";
	char *argv[] = { "kvmrun", "--kernel", "guest/async_pf.elf", "--memory", mem_arg,
			 "--console", console, "--cmdline", (char *)cmdline, NULL };
	char err[CONFIG_ERROR_MAX];
	struct uffd_memory *um = NULL;
	struct machine *m = NULL;
	struct config cfg;
	int fd, tmp, status = -1;

	snprintf(mem_arg, sizeof(mem_arg), "%uM", memory_mib);
	tmp = mkstemp(console + 5);
	if (tmp < 0)
		return -errno;
	close(tmp);
	fd = uffd_guest_make_file(UFFD_GUEST_BASE, size, hole_every);
	if (fd < 0)
		goto remove_console;
	if (config_parse(&cfg, 9, argv, err) != 0) {
		fprintf(stderr, "config: %s\n", err);
		goto close_file;
	}
	if (machine_create(&cfg, &m) != EXIT_STATUS_OK)
		goto close_file;
	/* The loader wrote only the first MiBs: this range is still
	 * unpopulated memfd memory, as after a lazy restore. */
	if (uffd_memory_start(&um, machine_vm(m)->mem.host + UFFD_GUEST_BASE, size, fd, 0,
			      opts) < 0)
		goto destroy_machine;
	if (machine_start(m) == 0)
		status = machine_wait(m);
	if (!opts || !opts->disable_prefetch)
		uffd_memory_wait_resident(um, 20000);
	uffd_memory_stats(um, stats);
	uffd_memory_stop(um);
destroy_machine:
	machine_destroy(m);
close_file:
	close(fd);
remove_console:
	uffd_guest_print_file(console + 5);
	unlink(console + 5);
	return status;
}

#endif
