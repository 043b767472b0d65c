/* The host half of the virtio-blk benchmark (bench/blk.py, bench/README.md
 * "Block benchmark"): the I/O job guest/tests/blk_bench.c runs in a VM,
 * done by a host process on the same file, through io_uring as kvmrun's
 * back-end does it (src/virtio/blk_backend.c: IORING_OP_READV/WRITEV of
 * one buffer per request, IORING_OP_FSYNC with DATASYNC for a flush,
 * buffered I/O through the page cache).
 *
 *   blk_host create PATH BYTES
 *       write the image: stamp(b) in the first 8 bytes of every 4 KiB
 *       block b, 0xa5 in the rest (no holes), then fdatasync
 *   blk_host run PATH op=read|write|randread bs=N depth=D count=N [seed=S]
 *       the job, with the guest's meaning of every word; prints
 *       blk_bench: op=... bs=... depth=... count=... bytes=... ns=...
 *                  write_ns=... us=...
 *       and exits 0 if every request succeeded and read the right blocks.
 *
 * Timing: CLOCK_MONOTONIC from right before the first submission to the
 * last completion (and, for op=write, the completion of the fdatasync),
 * the same points where the guest reads its TSC. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define BLOCK       4096u
#define MAX_DEPTH   64u
#define MAX_BUF     (16u << 20)   /* depth * bs, as in the guest */

enum op { OP_READ, OP_WRITE, OP_RANDREAD };

struct job {
	enum op op;
	uint64_t bs, depth, count, seed, verify;
	uint64_t file_bytes;
};

/* The same functions as guest/tests/blk_bench.c. */
static uint64_t stamp(uint64_t block)
{
	return 0x6b766d72756e0000ULL ^ block;
}

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t next_offset(const struct job *j, uint64_t i, uint64_t *rng)
{
	if (j->op != OP_RANDREAD)
		return i * j->bs;
	return splitmix64(rng) % (j->file_bytes / j->bs) * j->bs;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int create(const char *path, const char *size_text)
{
	char *end;
	uint64_t size = strtoull(size_text, &end, 10);
	const size_t chunk = 1u << 20;
	uint8_t *p;
	int fd, ret = 1;

	if (*end || size == 0 || size % chunk) {
		fprintf(stderr, "blk_host: create: size %s: a positive multiple of 1 MiB\n",
			size_text);
		return 2;
	}
	p = malloc(chunk);
	if (!p)
		return 1;
	memset(p, 0xa5, chunk);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "blk_host: open %s: %s\n", path, strerror(errno));
		goto free_buf;
	}
	for (uint64_t off = 0; off < size; off += chunk) {
		for (size_t b = 0; b < chunk; b += BLOCK) {
			uint64_t s = stamp((off + b) / BLOCK);

			memcpy(p + b, &s, sizeof(s));
		}
		if (pwrite(fd, p, chunk, (off_t)off) != (ssize_t)chunk) {
			fprintf(stderr, "blk_host: pwrite %s at %" PRIu64 ": %s\n", path, off,
				strerror(errno));
			goto close_file;
		}
	}
	if (fdatasync(fd) < 0) {
		fprintf(stderr, "blk_host: fdatasync %s: %s\n", path, strerror(errno));
		goto close_file;
	}
	ret = 0;
close_file:
	close(fd);
free_buf:
	free(p);
	return ret;
}

/* key=value words, as on the guest's command line. */
static bool parse_job(struct job *j, int argc, char **argv)
{
	bool have_op = false, have_bs = false, have_depth = false, have_count = false;

	j->seed = 1;
	j->verify = 1;
	for (int i = 0; i < argc; i++) {
		char *eq = strchr(argv[i], '='), *end;
		uint64_t v;

		if (!eq)
			return false;
		*eq = '\0';
		if (!strcmp(argv[i], "op")) {
			have_op = true;
			if (!strcmp(eq + 1, "read"))
				j->op = OP_READ;
			else if (!strcmp(eq + 1, "write"))
				j->op = OP_WRITE;
			else if (!strcmp(eq + 1, "randread"))
				j->op = OP_RANDREAD;
			else
				return false;
			continue;
		}
		v = strtoull(eq + 1, &end, 10);
		if (*end || end == eq + 1)
			return false;
		if (!strcmp(argv[i], "bs"))
			j->bs = v, have_bs = true;
		else if (!strcmp(argv[i], "depth"))
			j->depth = v, have_depth = true;
		else if (!strcmp(argv[i], "count"))
			j->count = v, have_count = true;
		else if (!strcmp(argv[i], "seed"))
			j->seed = v;
		else if (!strcmp(argv[i], "verify"))
			j->verify = v;
		else if (strcmp(argv[i], "sectors"))   /* the guest's; checked there */
			return false;
	}
	if (!have_op || !have_bs || !have_depth || !have_count || j->bs == 0 || j->bs % BLOCK ||
	    j->depth == 0 || j->depth > MAX_DEPTH || j->depth * j->bs > MAX_BUF ||
	    j->count == 0 || j->file_bytes < j->bs)
		return false;
	return j->op == OP_RANDREAD || j->count <= j->file_bytes / j->bs;
}

struct slot {
	struct iovec iov;
	uint64_t offset;
};

static void prep(struct io_uring *ring, int fd, const struct job *j, struct slot *s)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);   /* depth <= ring entries */

	if (j->op == OP_WRITE) {
		uint8_t *p = s->iov.iov_base;

		for (uint64_t b = 0; b < j->bs; b += BLOCK) {
			uint64_t v = stamp((s->offset + b) / BLOCK);

			memcpy(p + b, &v, sizeof(v));
		}
		io_uring_prep_writev(sqe, fd, &s->iov, 1, s->offset);
	} else {
		io_uring_prep_readv(sqe, fd, &s->iov, 1, s->offset);
	}
	io_uring_sqe_set_data(sqe, s);
}

static bool data_ok(const struct job *j, const struct slot *s)
{
	const uint8_t *p = s->iov.iov_base;

	for (uint64_t b = 0; b < j->bs; b += BLOCK) {
		uint64_t v;

		memcpy(&v, p + b, sizeof(v));
		if (v != stamp((s->offset + b) / BLOCK))
			return false;
	}
	return true;
}

static int run(const char *path, int argc, char **argv)
{
	static struct slot slots[MAX_DEPTH];
	struct io_uring ring;
	struct job j = { 0 };
	struct stat st;
	uint64_t issued = 0, done = 0, bad = 0, rng, t0, t_write, t_end;
	uint8_t *mem;
	unsigned n;
	int fd, ret;

	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "blk_host: open %s: %s\n", path, strerror(errno));
		return 1;
	}
	j.file_bytes = (uint64_t)st.st_size;
	if (!parse_job(&j, argc, argv)) {
		fprintf(stderr, "blk_host: run: op=read|write|randread bs=4K*n depth=1..%u count=N "
			"[seed=S], depth * bs <= %u, inside the file\n", MAX_DEPTH, MAX_BUF);
		close(fd);
		return 2;
	}
	rng = j.seed;
	n = (unsigned)(j.depth < j.count ? j.depth : j.count);
	mem = mmap(NULL, j.depth * j.bs, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		fprintf(stderr, "blk_host: mmap %" PRIu64 " bytes: %s\n", j.depth * j.bs,
			strerror(errno));
		close(fd);
		return 1;
	}
	memset(mem, 0, j.depth * j.bs);   /* fault in, as the guest does */
	ret = io_uring_queue_init((unsigned)j.depth + 1, &ring, 0);
	if (ret < 0) {
		fprintf(stderr, "blk_host: io_uring_queue_init: %s\n", strerror(-ret));
		return 1;
	}

	t0 = now_ns();
	for (unsigned k = 0; k < n; k++) {
		slots[k].iov = (struct iovec){ mem + k * j.bs, j.bs };
		slots[k].offset = next_offset(&j, issued++, &rng);
		prep(&ring, fd, &j, &slots[k]);
	}
	/* Like kvmrun's event loop: submit what is queued, wait for at least
	 * one completion, take every completion there is, refill each. */
	while (done < j.count) {
		struct io_uring_cqe *cqe;

		ret = io_uring_submit_and_wait(&ring, 1);
		if (ret < 0 && ret != -EINTR) {
			fprintf(stderr, "blk_host: io_uring_submit_and_wait: %s\n", strerror(-ret));
			return 1;
		}
		while (io_uring_peek_cqe(&ring, &cqe) == 0) {
			struct slot *s = io_uring_cqe_get_data(cqe);

			/* A short transfer is a failure here: on a regular file
			 * it does not happen inside the file. */
			if (cqe->res != (int)j.bs || (j.op != OP_WRITE && j.verify && !data_ok(&j, s)))
				bad++;
			io_uring_cqe_seen(&ring, cqe);
			done++;
			if (issued < j.count) {
				s->offset = next_offset(&j, issued++, &rng);
				prep(&ring, fd, &j, s);
			}
		}
	}
	t_write = now_ns();
	if (j.op == OP_WRITE) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
		struct io_uring_cqe *cqe;

		io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
		ret = io_uring_submit_and_wait(&ring, 1);
		if (ret < 0 || io_uring_peek_cqe(&ring, &cqe) < 0 || cqe->res < 0)
			bad++;
		else
			io_uring_cqe_seen(&ring, cqe);
	}
	t_end = now_ns();
	io_uring_queue_exit(&ring);
	munmap(mem, j.depth * j.bs);
	close(fd);

	printf("blk_bench: op=%s bs=%" PRIu64 " depth=%" PRIu64 " count=%" PRIu64
	       " bytes=%" PRIu64 " ns=%" PRIu64 " write_ns=%" PRIu64 " us=%" PRIu64 "\n",
	       j.op == OP_READ ? "read" : j.op == OP_WRITE ? "write" : "randread", j.bs, j.depth,
	       j.count, j.count * j.bs, t_end - t0, t_write - t0, (t_end - t0) / 1000);
	if (bad) {
		fprintf(stderr, "blk_host: %" PRIu64 " of %" PRIu64 " requests failed or read the "
			"wrong blocks\n", bad, j.count);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "create"))
		return create(argv[2], argv[3]);
	if (argc >= 3 && !strcmp(argv[1], "run"))
		return run(argv[2], argc - 3, argv + 3);
	fprintf(stderr, "usage: blk_host create PATH BYTES\n"
			"       blk_host run PATH op=read|write|randread bs=N depth=D count=N "
			"[seed=S]\n");
	return 2;
}
