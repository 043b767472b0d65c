/* Restored RAM back-ends. See memory_backend.h. */
#include "snapshot/memory_backend.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "memory.h"

/* Per running back-end (uffd: the service thread's handle). */
struct memory_backend_state {
	enum memory_backend kind;
};

const char *memory_backend_name(enum memory_backend kind)
{
	return kind == MEMORY_BACKEND_UFFD ? "uffd" : "private";
}

/* The userfaultfd back-end plugs in here: RAM from anonymous memory
 * (guest_memory_create_anonymous), then uffd_memory_start(&state->uffd,
 * mem->host, size, fd, file_offset, flags), which registers the range and
 * serves faults from `fd`; memory_backend_stop() calls uffd_memory_stop()
 * and memory_backend_print_stats() uffd_memory_stats(). */
static int start_uffd(int fd, uint64_t file_offset, uint64_t size, struct guest_memory *mem,
		      struct memory_backend_state **state)
{
	(void)file_offset;
	(void)size;
	(void)mem;
	(void)state;
	close(fd);
	log_error("--memory-backend uffd: the userfaultfd back-end is not part of this build yet; use private");
	return -ENOTSUP;
}

int memory_backend_start(enum memory_backend kind, int fd, uint64_t file_offset, uint64_t size,
			 struct guest_memory *mem, struct memory_backend_state **state)
{
	int ret;

	*state = NULL;
	switch (kind) {
	case MEMORY_BACKEND_UFFD:
		return start_uffd(fd, file_offset, size, mem, state);
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

void memory_backend_print_stats(const struct memory_backend_state *state, FILE *out)
{
	(void)state;
	(void)out;
}

void memory_backend_stop(struct memory_backend_state *state)
{
	(void)state;
}
