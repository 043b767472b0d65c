/* How a restored guest's RAM gets the saved contents (--memory-backend).
 *
 *   private  the memory file mapped MAP_PRIVATE (guest_memory_map_file):
 *            pages come from the page cache as the guest touches them,
 *            writes are copy-on-write. Restore cost does not depend on
 *            the RAM size.
 *   uffd     anonymous RAM registered with userfaultfd; a fault-service
 *            thread fills each page from the file on first touch and
 *            prefetches the rest in the background. The service is a
 *            module of its own (uffd_memory.h, `uffd_memory_start(&u,
 *            host, len, fd, file_offset, flags)`); until it is part of
 *            the build, choosing it is refused with one line.
 *
 * A back-end is started before any vCPU runs and stopped after the last
 * one has been joined. */
#ifndef KVMRUN_SNAPSHOT_MEMORY_BACKEND_H
#define KVMRUN_SNAPSHOT_MEMORY_BACKEND_H

#include <stdint.h>
#include <stdio.h>

#include "config.h"

struct guest_memory;
struct memory_backend_state;

/* Give `mem` `size` bytes of RAM whose contents are those of the open
 * memory file `fd` from `file_offset` on. Takes `fd`. On success *state
 * is what memory_backend_stop() ends (NULL when nothing runs). Returns 0,
 * -ENOTSUP (back-end not available: bad input), or -errno; logged. */
int memory_backend_start(enum memory_backend kind, int fd, uint64_t file_offset, uint64_t size,
			 struct guest_memory *mem, struct memory_backend_state **state);

/* Print the back-end's counters (faults served, pages prefetched). */
void memory_backend_print_stats(const struct memory_backend_state *state, FILE *out);

/* NULL is a no-op. */
void memory_backend_stop(struct memory_backend_state *state);

const char *memory_backend_name(enum memory_backend kind);

#endif
