/* How a restored guest's RAM gets the saved contents (--memory-backend).
 *
 *   private  the memory file mapped MAP_PRIVATE (guest_memory_map_file):
 *            pages come from the page cache as the guest touches them,
 *            writes are copy-on-write. Restore cost does not depend on
 *            the RAM size.
 *   uffd     fresh memfd RAM registered with userfaultfd (uffd_memory.h):
 *            a fault-service thread fills each page from the file on first
 *            touch and a prefetch thread fills the rest in the background.
 *            Restore cost does not depend on the RAM size either; the
 *            file is read into RAM once, after which the guest runs on
 *            ordinary memory.
 *
 * A back-end is started before any vCPU runs and stopped after the last
 * one has been joined, before the RAM is unmapped. */
#ifndef KVMRUN_SNAPSHOT_MEMORY_BACKEND_H
#define KVMRUN_SNAPSHOT_MEMORY_BACKEND_H

#include <stdint.h>
#include <stdio.h>

#include "config.h"

struct guest_memory;
struct memory_backend_state;

/* Give `mem` `size` bytes of RAM whose contents are those of the open
 * memory file `fd` from `file_offset` on, by cfg->memory_backend and its
 * options. Takes `fd`. On success *state is what memory_backend_stop()
 * ends (NULL when nothing runs). Returns 0, -ENOTSUP (back-end not
 * available here: bad input), or -errno; logged. */
int memory_backend_start(const struct config *cfg, int fd, uint64_t file_offset, uint64_t size,
			 struct guest_memory *mem, struct memory_backend_state **state);

/* Before something reads all of RAM (a save of the restored VM): every
 * page of the memory file in place. uffd: starts the prefetcher if it was
 * off and waits until the RAM is resident; private: nothing to do.
 * NULL state: 0. Returns 0 or -errno (logged). */
int memory_backend_settle(struct memory_backend_state *state);

/* Print the back-end's counters (faults served, pages copied by faults,
 * pages prefetched, zero pages, time to fully resident). */
void memory_backend_print_stats(const struct memory_backend_state *state, FILE *out);

/* NULL is a no-op. */
void memory_backend_stop(struct memory_backend_state *state);

const char *memory_backend_name(enum memory_backend kind);

#endif
