/* Diff snapshots across the life of one process: which snapshot comes
 * next, what it is called, what it builds on. See snapshot.h and
 * docs/snapshots.md, "Diff snapshots".
 *
 * The n-th snapshot a process takes is named STATE (n = 0), then STATE.n;
 * its memory file MEM, then MEM.n when mem= was given, else STATE.n.mem.
 * No snapshot overwrites an earlier one, so every diff's base stays on
 * disk. The first snapshot of a booted VM is full; every later one is a
 * diff on the previous, until the chain holds MEMORY_CHAIN_MAX files and
 * the next is full again. A restored VM's RAM is exactly its snapshot's,
 * so its first snapshot is already a diff on the restored chain. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "snapshot/chain.h"
#include "snapshot/dirty_log.h"
#include "snapshot/snapshot.h"
#include "vm.h"

struct snapshot_series {
	struct dirty_log log;
	struct memory_chain chain;     /* the last snapshot's: what a diff builds on */
	unsigned taken;                /* snapshots written by this process */
	char state_path[PATH_MAX];     /* the next one's names */
	char memory_path[PATH_MAX];
};

int snapshot_series_create(struct snapshot_series **out, struct vm *vm,
			   const struct memory_chain *restored)
{
	struct snapshot_series *s = calloc(1, sizeof(*s));
	int ret = -ENOMEM;

	*out = NULL;
	if (!s || memory_chain_init(&s->chain) < 0)
		goto free_series;
	ret = dirty_log_init(&s->log, vm->fd, &vm->mem);
	if (ret < 0) {
		log_error("diff snapshots: cannot track dirty pages: %s", strerror(-ret));
		goto free_series;
	}
	if (restored)
		memory_chain_copy(&s->chain, restored);
	*out = s;
	return 0;

free_series:
	if (s)
		memory_chain_free(&s->chain);
	free(s);
	return ret;
}

void snapshot_series_destroy(struct snapshot_series *s)
{
	if (!s)
		return;
	dirty_log_destroy(&s->log);
	memory_chain_free(&s->chain);
	free(s);
}

static int name_next(struct snapshot_series *s, const struct snapshot_config *sc)
{
	int a, b;

	if (s->taken == 0) {
		a = snprintf(s->state_path, sizeof(s->state_path), "%s", sc->state_path);
		b = snprintf(s->memory_path, sizeof(s->memory_path), "%s", sc->memory_path);
	} else {
		a = snprintf(s->state_path, sizeof(s->state_path), "%s.%u", sc->state_path, s->taken);
		b = sc->memory_path_given
			? snprintf(s->memory_path, sizeof(s->memory_path), "%s.%u", sc->memory_path, s->taken)
			: snprintf(s->memory_path, sizeof(s->memory_path), "%s.%u.mem", sc->state_path,
				   s->taken);
	}
	return a < 0 || b < 0 || (size_t)a >= sizeof(s->state_path) ||
	       (size_t)b >= sizeof(s->memory_path) ? -ENAMETOOLONG : 0;
}

/* Whether `path` names the same file as a layer of the chain (by inode:
 * the names may be spelled differently). */
static const struct memory_layer *in_chain(const struct memory_chain *c, const char *path)
{
	struct stat target, layer;

	if (stat(path, &target) < 0)
		return NULL;   /* does not exist yet: cannot be a layer */
	for (unsigned i = 0; i < c->nr; i++) {
		if (stat(c->layers[i].path, &layer) == 0 && layer.st_dev == target.st_dev &&
		    layer.st_ino == target.st_ino)
			return &c->layers[i];
	}
	return NULL;
}

int snapshot_series_prepare(struct snapshot_series *s, const struct snapshot_config *sc,
			    struct snapshot_target *t, char *err, size_t errlen)
{
	const struct memory_layer *clash;
	bool diff = s->chain.nr > 0 && s->chain.nr < MEMORY_CHAIN_MAX;

	if (name_next(s, sc) < 0) {
		snprintf(err, errlen, "--snapshot-on-signal %s: numbered file names too long",
			 sc->state_path);
		return -EINVAL;
	}
	/* Renaming over a base file would leave a chain whose middle is
	 * gone (the mapped inode lives on only in this process). */
	clash = diff ? in_chain(&s->chain, s->memory_path) : NULL;
	if (clash) {
		snprintf(err, errlen, "%s is the memory file %s this diff builds on; give --snapshot-on-signal other names",
			 s->memory_path, clash->path);
		return -EINVAL;
	}
	if (s->chain.nr >= MEMORY_CHAIN_MAX)
		log_info("snapshot: %u memory files in the chain; this snapshot is a full one",
			 s->chain.nr);
	t->state_path = s->state_path;
	t->memory_path = s->memory_path;
	t->log = &s->log;
	t->base = diff ? &s->chain : NULL;
	return 0;
}

void snapshot_series_saved(struct snapshot_series *s, const struct snapshot_target *t)
{
	if (!t->base)
		s->chain.nr = 0;   /* a full snapshot starts a new chain */
	/* Cannot fail: the chain had room (else this one was full) and the
	 * path was made absolute for the state file already. */
	if (memory_chain_push(&s->chain, t->memory_path, t->snapshot_id) < 0)
		s->chain.nr = 0;   /* then the next snapshot is full: still correct */
	dirty_log_commit(&s->log);
	s->taken++;
}
