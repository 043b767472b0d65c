/* Restored RAM back-ends. See memory_backend.h. */
#include "snapshot/memory_backend.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "memory.h"
#include "snapshot/uffd_memory.h"

/* Per running back-end (uffd: the service's handle). */
struct memory_backend_state {
	enum memory_backend kind;
	struct uffd_memory *uffd;
};

const char *memory_backend_name(enum memory_backend kind)
{
	return kind == MEMORY_BACKEND_UFFD ? "uffd" : "private";
}

/* Fresh memfd RAM, as for a boot, served from the file by userfaultfd.
 *
 * A memfd rather than anonymous memory: a restored VM can be saved again,
 * and memfile_write() then writes only the memfd's data extents
 * (SEEK_DATA), so the cost of that save follows what the guest holds, not
 * its RAM size. For that the file's holes stay holes (leave_holes): they
 * read as zero anyway, prefetching them would allocate a real zero page
 * each on shmem (all of RAM for a mostly empty guest), and a hole the
 * guest touches is still filled with zeroes by the fault thread. The
 * mapping is new, so no mincore scan (`fresh`). Nothing here grows with
 * the RAM size: the two bitmaps are calloc'ed (zero pages mapped on first
 * use), and the SEEK_DATA/SEEK_HOLE map of the file (up to ~30 ms for
 * 4 GiB on tmpfs) and the prefetch run on uffd_memory's background thread,
 * after a delay that lets the rest of the restore reach its first KVM_RUN
 * first; faults before the map read their page from the file. */
static int start_uffd(const struct config *cfg, int fd, uint64_t file_offset, uint64_t size,
		      struct guest_memory *mem, struct memory_backend_state *state)
{
	struct uffd_memory_options opts = {
		.disable_prefetch = cfg->uffd_prefetch_off,
		.fault_delay_us = cfg->uffd_fault_delay_us,
		.leave_holes = true,
		.fresh = true,
	};
	int ret = guest_memory_create(mem, size);

	if (ret < 0) {
		log_error("cannot allocate %llu MiB of guest memory: %s",
			  (unsigned long long)(size >> 20), strerror(-ret));
		goto close_fd;
	}
	/* Logs its reason; -ENOSYS/-EPERM without userfaultfd. */
	ret = uffd_memory_start(&state->uffd, mem->host, size, fd, file_offset, &opts);
	if (ret < 0)
		guest_memory_destroy(mem);
	if (ret == -ENOSYS || ret == -EPERM) {
		log_error("--memory-backend uffd: userfaultfd is not available to this process "
			  "(as non-root: vm.unprivileged_userfaultfd=1); use private");
		ret = -ENOTSUP;
	}
close_fd:
	close(fd);   /* uffd_memory keeps its own read-only mapping */
	return ret;
}

int memory_backend_start(const struct config *cfg, int fd, uint64_t file_offset, uint64_t size,
			 struct guest_memory *mem, struct memory_backend_state **state)
{
	struct memory_backend_state *s;
	int ret;

	*state = NULL;
	switch (cfg->memory_backend) {
	case MEMORY_BACKEND_UFFD:
		s = calloc(1, sizeof(*s));
		if (!s) {
			close(fd);
			return -ENOMEM;
		}
		s->kind = MEMORY_BACKEND_UFFD;
		ret = start_uffd(cfg, fd, file_offset, size, mem, s);
		if (ret < 0) {
			free(s);
			return ret;
		}
		*state = s;
		return 0;
	case MEMORY_BACKEND_PRIVATE:
		ret = guest_memory_map_file(mem, fd, file_offset, size);
		if (ret < 0)
			log_error("mapping %llu MiB of the memory file: %s",
				  (unsigned long long)(size >> 20), strerror(-ret));
		return ret;
	}
	close(fd);
	return -EINVAL;
}

int memory_backend_settle(struct memory_backend_state *state)
{
	int ret;

	if (!state || !state->uffd)
		return 0;
	/* No time limit: the VM is paused and the background thread only
	 * maps the file (if it has not yet) and copies; its failure ends the
	 * wait with its error. */
	ret = uffd_memory_make_resident(state->uffd, -1);
	if (ret < 0)
		log_error("userfaultfd memory: making RAM resident before the save: %s",
			  strerror(-ret));
	return ret;
}

void memory_backend_print_stats(const struct memory_backend_state *state, FILE *out)
{
	struct uffd_memory_stats s;

	if (!state || !state->uffd)
		return;
	uffd_memory_stats(state->uffd, &s);
	fprintf(out, "memory backend uffd: %llu faults served, %llu pages copied by faults, "
		"%llu zero-filled by faults, %llu pages prefetched, %llu zero pages, "
		"%llu holes left, %llu races\n",
		(unsigned long long)s.faults, (unsigned long long)s.fault_pages_copied,
		(unsigned long long)s.fault_pages_zeroed, (unsigned long long)s.prefetch_pages,
		(unsigned long long)s.zero_pages, (unsigned long long)s.holes_left,
		(unsigned long long)s.races);
	if (s.first_fault_ns)
		fprintf(out, "memory backend uffd: first fault %.3f ms after the start\n",
			(double)s.first_fault_ns / 1e6);
	if (s.map_ns)
		fprintf(out, "memory backend uffd: memory file mapped (data and holes) %.3f ms "
			"after the start\n", (double)s.map_ns / 1e6);
	if (s.resident)
		fprintf(out, "memory backend uffd: fully resident %.3f ms after the start "
			"(%llu of %llu pages)\n", (double)s.resident_ns / 1e6,
			(unsigned long long)s.present, (unsigned long long)s.pages);
	else
		fprintf(out, "memory backend uffd: not fully resident (%llu of %llu pages)%s\n",
			(unsigned long long)s.present, (unsigned long long)s.pages,
			s.prefetch_error ? ": the background thread (map or prefetch) failed" : "");
}

void memory_backend_stop(struct memory_backend_state *state)
{
	if (!state)
		return;
	uffd_memory_stop(state->uffd);
	free(state);
}
