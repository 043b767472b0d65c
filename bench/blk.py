#!/usr/bin/env python3
"""kvmrun virtio-blk benchmark (bench/README.md, "Block benchmark").

The same I/O on the same file, in the same run, from a test guest through
kvmrun's virtio-blk (build/guest/blk_bench.elf) and from a host process
(build/bench/blk_host, io_uring as kvmrun's back-end):

  blk_seq_read    sequential 1 MiB reads of the whole file, one at a time
  blk_seq_write   sequential 1 MiB writes of the whole file, one at a
                  time, then one flush (fdatasync); the time includes it
  blk_rand_read   4 KiB reads at random 4 KiB-aligned offsets (the same
                  splitmix64 sequence on both sides), 16 in flight

Goals: the guest reaches >= 0.9x the host's throughput (sequential) and
>= 0.8x its IOPS (random), ratio of medians. kvmrun runs with its default
--disk cache mode (writeback through the host page cache, flush =
fdatasync); both sides see the same cache state: "warm" (default: the file
is in the page cache before every run) or "cold" (its pages are dropped
with fdatasync + POSIX_FADV_DONTNEED before every run).

The output ends with `bench <name>: <value> <unit> (<ratio>x of host)`
lines. A missed goal prints GOAL MISSED but is not an error: the exit status
is non-zero only when something could not be measured (77, "skipped",
without /dev/kvm). Python standard library only.
"""
import argparse
import datetime
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import exits  # noqa: E402
import startup  # noqa: E402

BenchError = startup.BenchError

GOAL_THROUGHPUT = 0.9           # guest / host, sequential
GOAL_IOPS = 0.8                 # guest / host, random reads
MEMORY = "128M"
SKIP_STATUS = 77
RUN_TIMEOUT_S = 300
MIB = 1 << 20
RESULT = re.compile(r"^blk_bench: op=(\S+) bs=(\d+) depth=(\d+) count=(\d+) bytes=(\d+) "
                    r"(?:ticks=(\d+) write_ticks=(\d+) tsc_hz=(\d+)|ns=(\d+) write_ns=(\d+)) "
                    r"us=\d+$", re.M)
SUMMARY_OK = re.compile(r"^SUMMARY: \d+ tests, 0 unexpected failures, 0 skipped$", re.M)


class Job:
    """One workload: the words both sides take, and how it is reported."""

    def __init__(self, name, title, words, unit, goal):
        self.name, self.title, self.words, self.unit, self.goal = name, title, words, unit, goal

    def figure(self, r):
        """MiB/s or IOPS of one result."""
        if self.unit == "IOPS":
            return r["count"] / r["seconds"]
        return r["bytes"] / MIB / r["seconds"]


def make_jobs(size, rand_count, rand_depth, seq_depth, verify):
    n = size // MIB
    v = f"verify={verify}"
    return [
        Job("blk_seq_read", f"sequential reads, 1 MiB, queue depth {seq_depth}, "
            f"{n} requests (the whole file)",
            f"op=read bs={MIB} depth={seq_depth} count={n} {v}", "MiB/s", GOAL_THROUGHPUT),
        Job("blk_seq_write", f"sequential writes, 1 MiB, queue depth {seq_depth}, "
            f"{n} requests (the whole file), then one flush (fdatasync), included",
            f"op=write bs={MIB} depth={seq_depth} count={n}", "MiB/s", GOAL_THROUGHPUT),
        Job("blk_rand_read", f"random reads, 4 KiB, queue depth {rand_depth}, "
            f"{rand_count} requests, splitmix64 offsets (seed 1)",
            f"op=randread bs=4096 depth={rand_depth} count={rand_count} seed=1 {v}",
            "IOPS", GOAL_IOPS),
    ]


# ---- running --------------------------------------------------------------

def parse_result(text, who):
    m = RESULT.search(text)
    if not m:
        raise BenchError(f"{who}: no result line in {text.strip()[-400:]!r}")
    op, bs, depth, count, nbytes, ticks, wticks, hz, ns, wns = m.groups()
    r = {"op": op, "count": int(count), "bytes": int(nbytes)}
    if ticks:
        r["seconds"] = int(ticks) / int(hz)
        r["write_seconds"] = int(wticks) / int(hz)
    else:
        r["seconds"] = int(ns) / 1e9
        r["write_seconds"] = int(wns) / 1e9
    return r


def run_guest(build, image, disk, job, sectors):
    """One kvmrun run of the job. The guest prints "S" right before its
    first request and "E" right after its last completion: their arrival
    times here give a host-side measure of the same interval, to check the
    guest's TSC figure against."""
    argv = [os.path.join(build, "kvmrun"), "--kernel", image, "--memory", MEMORY,
            "--disk", disk, "--cmdline", f"sectors={sectors} {job.words}"]
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    lines, marks = [], {}
    deadline = time.monotonic() + RUN_TIMEOUT_S
    for raw in p.stdout:
        now = time.monotonic()
        line = raw.decode(errors="replace").rstrip("\n")
        lines.append(line)
        if line in ("S", "E") and line not in marks:
            marks[line] = now
        if now > deadline:
            p.kill()
            raise BenchError(f"kvmrun {job.words}: no exit within {RUN_TIMEOUT_S} s")
    try:
        p.wait(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        p.kill()
        raise BenchError(f"kvmrun {job.words}: no exit within {RUN_TIMEOUT_S} s")
    out = "\n".join(lines)
    err = p.stderr.read().decode(errors="replace")
    if p.returncode != 0 or not SUMMARY_OK.search(out):
        raise BenchError(f"kvmrun {job.words}: exit status {p.returncode}; console: "
                         f"{out.strip()[-500:]!r}; stderr: {err.strip()[-300:]}")
    r = parse_result(out, f"kvmrun {job.words}")
    r["marker_seconds"] = marks["E"] - marks["S"] if "S" in marks and "E" in marks else None
    return r


def run_host(build, disk, job):
    argv = [os.path.join(build, "bench", "blk_host"), "run", disk] + job.words.split()
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise BenchError(f"blk_host {job.words}: no exit within {RUN_TIMEOUT_S} s")
    if p.returncode != 0:
        raise BenchError(f"blk_host {job.words}: exit status {p.returncode}: "
                         f"{p.stderr.strip()[-300:]}")
    return parse_result(p.stdout, f"blk_host {job.words}")


def set_cache(path, cold):
    """Warm: read the whole file so every page is cached (a no-op when it
    already is). Cold: write back and drop its pages."""
    fd = os.open(path, os.O_RDONLY)
    try:
        if cold:
            os.fdatasync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        else:
            while os.read(fd, 8 * MIB):
                pass
    finally:
        os.close(fd)


def rounds(build, image, disk, jobs, sectors, runs, warmup, cold):
    """Each round runs every job on both sides back to back, the side that
    goes first alternating, so they share the machine's noise.
    {job name: {"guest": [...], "host": [...]}}."""
    results = {j.name: {"guest": [], "host": []} for j in jobs}
    for i in range(warmup + runs):
        for j in jobs:
            sides = ["guest", "host"] if i % 2 == 0 else ["host", "guest"]
            for side in sides:
                set_cache(disk, cold)
                r = (run_guest(build, image, disk, j, sectors) if side == "guest"
                     else run_host(build, disk, j))
                if i >= warmup:
                    results[j.name][side].append(r)
    return results


# ---- reporting ------------------------------------------------------------

def report(jobs, results, cache, smoke):
    """Prints the tables; returns [(job, guest median, host median)]."""
    out = []
    for j in jobs:
        g = [j.figure(r) for r in results[j.name]["guest"]]
        h = [j.figure(r) for r in results[j.name]["host"]]
        n = len(g)
        print(f"== {j.name} ({cache}): {j.title}")
        print(f"  {j.unit + ', n=' + str(n):<24} median       min       max")
        gm, hm = statistics.median(g), statistics.median(h)
        for side, v in (("guest (kvmrun)", g), ("host process", h)):
            print(f"  {side:<22} {statistics.median(v):9.0f} {min(v):9.0f} {max(v):9.0f}")
        per = sorted(a / b for a, b in zip(g, h))
        print(f"  guest / host: {gm / hm:.3f} (ratio of medians); round by round: min "
              f"{per[0]:.3f}, median {statistics.median(per):.3f}, max {per[-1]:.3f}")
        if j.name == "blk_seq_write":
            for side in ("guest", "host"):
                w = [r["bytes"] / MIB / r["write_seconds"] for r in results[j.name][side]]
                f = [r["seconds"] - r["write_seconds"] for r in results[j.name][side]]
                print(f"  {side}: writes alone {statistics.median(w):.0f} MiB/s, then the "
                      f"flush {statistics.median(f) * 1e3:.1f} ms (medians)")
        marks = [r["marker_seconds"] / r["seconds"] for r in results[j.name]["guest"]
                 if r["marker_seconds"]]
        if marks:
            print(f"  check of the guest's TSC: the host saw its S..E markers "
                  f"{statistics.median(marks):.3f}x the TSC interval (median; ~1 plus "
                  f"two serial lines, ~0.1 ms, and pipe delays)")
        if not smoke:
            print(startup.goal_line(gm / hm >= j.goal, f"guest >= {j.goal}x host"))
        print()
        out.append((j, gm, hm))
    return out


def filesystem_of(path):
    """The type of the file system holding `path` (/proc/mounts)."""
    best, kind = "", "unknown"
    try:
        with open("/proc/mounts") as f:
            for line in f:
                fields = line.split()
                mnt = fields[1]
                if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
                    best, kind = mnt, fields[2]
    except OSError:
        pass
    return kind


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", default=os.path.join(root, "build"),
                    help="meson build directory (default: build)")
    ap.add_argument("--runs", type=int, default=5, help="timed rounds (5)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed rounds first (1)")
    ap.add_argument("--size-mib", type=int, default=512, help="the file's size (512)")
    ap.add_argument("--rand-count", type=int, default=200000,
                    help="random reads per run (200000)")
    ap.add_argument("--rand-depth", type=int, default=16, help="random reads in flight (16)")
    ap.add_argument("--seq-depth", type=int, default=1,
                    help="sequential requests in flight (1)")
    ap.add_argument("--verify", type=int, choices=(0, 1), default=0,
                    help="check the blocks every read returned inside the timed runs "
                         "(default 0; the warm-up round always checks)")
    ap.add_argument("--cache", choices=("warm", "cold", "both"), default="warm",
                    help="page-cache state before each run (warm)")
    ap.add_argument("--dir", default="/var/tmp",
                    help="where the file goes (/var/tmp; not a tmpfs, for fdatasync)")
    ap.add_argument("--smoke", action="store_true",
                    help="a 16 MiB file, one short round, no goals")
    # What bench/run.sh passes to every benchmark; nothing to do here.
    ap.add_argument("--no-qemu", action="store_true", help="accepted, no effect (no QEMU here)")
    ap.add_argument("--no-callgrind", action="store_true", help="accepted, no effect")
    ap.add_argument("--profile-dir", help="accepted, no effect")
    args = ap.parse_args()
    if args.smoke:
        args.runs, args.warmup, args.size_mib, args.rand_count = 1, 0, 16, 2000
        args.verify = 1
    if args.runs < 1 or args.warmup < 0 or args.size_mib < 1 or args.rand_count < 1:
        raise BenchError("--runs, --size-mib and --rand-count must be at least 1, "
                         "--warmup at least 0")

    build = os.path.abspath(args.build_dir)
    if not startup.kvm_usable():
        print("blk.py: /dev/kvm is not usable here: benchmark SKIPPED", file=sys.stderr)
        return SKIP_STATUS
    opts = startup.build_options(build)
    sanitize = opts.get("b_sanitize", "none")
    if sanitize != "none" and not args.smoke:
        raise BenchError(f"{build} is built with b_sanitize={sanitize}: benchmark a build "
                         f"without sanitizers (e.g. the default build/)")
    image = os.path.join(build, "guest", "blk_bench.elf")
    for path in (os.path.join(build, "kvmrun"), os.path.join(build, "bench", "blk_host"),
                 image):
        if not os.path.exists(path):
            raise BenchError(f"{path} is missing: build first (ninja -C {args.build_dir})")

    size = args.size_mib * MIB
    caches = ["warm", "cold"] if args.cache == "both" else [args.cache]
    work = tempfile.mkdtemp(prefix="kvmrun-bench-blk-", dir=args.dir)
    summary = []
    try:
        disk = os.path.join(work, "disk.img")
        p = subprocess.run([os.path.join(build, "bench", "blk_host"), "create", disk,
                            str(size)], capture_output=True, text=True)
        if p.returncode != 0:
            raise BenchError(f"blk_host create: {p.stderr.strip()}")
        fstype = filesystem_of(work)
        print(f"kvmrun virtio-blk benchmark, "
              f"{datetime.datetime.now().isoformat(timespec='seconds')}")
        print(f"host: {startup.host_description()}, load average {exits.load_average()}")
        if os.getloadavg()[0] > 1.0:
            print("note: the machine is busy. The guest needs two CPUs of its own (its vCPU "
                  "spins on the used ring while kvmrun's event loop does the I/O); sharing "
                  "one, each waits for the other's time slice and the guest figures mean "
                  "little")
        print(f"kvmrun {startup.source_revision(root)}, build {args.build_dir} "
              f"(buildtype {opts.get('buildtype', '?')}, b_sanitize {sanitize})")
        print(f"file: {args.size_mib} MiB in {args.dir} ({fstype}); kvmrun --disk FILE "
              f"(cache=writeback, io=auto), --memory {MEMORY}, guest "
              f"build/guest/blk_bench.elf; host build/bench/blk_host (io_uring)")
        print(f"{args.runs} timed rounds after {args.warmup} warm-up (the warm-up checks "
              f"every block read), sides alternating; reads "
              f"{'checked' if args.verify else 'not checked'} in timed runs; guest "
              f"timed by its TSC, the host by CLOCK_MONOTONIC")
        print()
        for cache in caches:
            jobs = make_jobs(size, args.rand_count, args.rand_depth, args.seq_depth, 1)
            if args.warmup:
                rounds(build, image, disk, jobs, size // 512, 0, args.warmup, cache == "cold")
            jobs = make_jobs(size, args.rand_count, args.rand_depth, args.seq_depth,
                             args.verify)
            results = rounds(build, image, disk, jobs, size // 512, args.runs, 0, cache == "cold")
            summary += [(cache,) + t for t in report(jobs, results, cache, args.smoke)]
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"== summary (load average now {exits.load_average()})")
    if args.smoke:
        print("smoke run: no goals and no bench lines")
        return 0
    for cache, j, gm, hm in summary:
        print(startup.goal_line(gm / hm >= j.goal, f"{j.name} ({cache}): guest >= {j.goal}x "
                                                   f"host"))
    for cache, j, gm, hm in summary:
        suffix = "" if cache == "warm" else "_cold"
        print(f"bench {j.name}{suffix}: {gm:.0f} {j.unit} ({gm / hm:.3f}x of host)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print(f"blk.py: error: {e}", file=sys.stderr)
        sys.exit(1)
