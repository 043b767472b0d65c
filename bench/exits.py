#!/usr/bin/env python3
"""kvmrun exit-path benchmark (bench/README.md, "Exit-path benchmark").

How fast kvmrun handles the VM exits a guest causes, against a minimal
raw-KVM C program (bench/raw_kvm.c) running the same guest in the same
run, and optionally QEMU's microvm machine:

  exits_<case>                  exits per second from a CPL 3 loop of
                                1-byte writes (build/guest/io_loop.elf,
                                timed by the guest with the TSC)
  instructions_per_exit_<case>  valgrind --tool=callgrind: the VMM's
                                userspace instructions per exit, from a
                                long run minus a run with no writes
  pause_latency_p50 / _p99      vm_pause() with 4 busy vCPUs
                                (build/bench/pause_latency)

Cases: pio_noop (port 0x80, kvmrun's POST-code device), pio_unassigned
(port 0x2f0, no device), mmio_device (0xff000000, pc-testdev's MMIO
window, kvmrun's only MMIO device so far), mmio_unassigned (0xd0100000 in
the device hole, no device).

The output ends with `bench <name>: <value> <unit> (<ratio>x of
<reference>)` lines. A missed goal prints GOAL MISSED but is not an error:
the exit status is non-zero only when something could not be measured.
Python standard library only.
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

# Helpers shared with the start-up benchmark (host description, build
# options, source revision, callgrind function names).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import startup  # noqa: E402

GOAL_EXIT_RATIO = 0.97          # kvmrun's exits/s >= 0.97x raw-kvm's
GOAL_INSTRUCTIONS_PIO = 100     # kvmrun's instructions per PIO exit

MEMORY = "128M"
RUN_TIMEOUT_S = 120
SKIP_STATUS = 77
WARMUP_COUNT = 1000             # writes per warm-up run: two of io_loop's chunks
CHECK_COUNT = 5000              # writes per --exit-stats run
GUEST_LINE = re.compile(
    r"io_loop: (pio |mmio) 0x([0-9a-f]+) count +(\d+) ticks +(\d+) tsc_hz +(\d+) "
    r"exits/s +(\d+) chunk +(\d+) min_chunk_ticks +(\d+) median_chunk_ticks +(\d+) "
    r"\((\S+)\)")
UNMAPPED_LINE = re.compile(r"unmapped port accesses: (\d+) reads, (\d+) writes")
PAUSE_LINE = re.compile(
    r"pause_latency vcpus=(\d+) cycles=(\d+) p50_us=([\d.]+) p99_us=([\d.]+) "
    r"max_us=([\d.]+) mean_us=([\d.]+) kicks=(\d+)")


class BenchError(Exception):
    pass


class Case:
    def __init__(self, name, args, what, reason, served, kvmrun_args=(), qemu_args=()):
        self.name = name
        self.args = args                # io_loop's command line, without count=
        self.what = what
        self.reason = reason            # the KVM exit reason each write causes
        self.served = served            # whether a kvmrun device serves it
        self.kvmrun_args = list(kvmrun_args)
        self.qemu_args = list(qemu_args)

    @property
    def is_pio(self):
        return self.reason == "KVM_EXIT_IO"


CASES = [
    Case("pio_noop", "port=0x80",
         "1-byte out to I/O port 0x80, served by kvmrun's POST-code device (a no-op)",
         "KVM_EXIT_IO", True),
    Case("pio_unassigned", "port=0x2f0",
         "1-byte out to I/O port 0x2f0, where no device is",
         "KVM_EXIT_IO", False),
    Case("mmio_device", "mmio=0xff000000",
         "1-byte write to 0xff000000, served by pc-testdev's MMIO window (kvmrun "
         "--pc-testdev, QEMU -device pc-testdev: a 1-byte copy into a buffer)",
         "KVM_EXIT_MMIO", True, ["--pc-testdev"], ["-device", "pc-testdev"]),
    Case("mmio_unassigned", "mmio=0xd0100000",
         "1-byte write to 0xd0100000 in the device hole, where no device is",
         "KVM_EXIT_MMIO", False),
]


class Vmm:
    """How to boot io_loop.elf for a case, and the exit status the guest's
    0 becomes."""

    def __init__(self, name, argv_fn, ok_status):
        self.name = name
        self.argv_fn = argv_fn
        self.ok_status = ok_status
        self.cases = {c.name for c in CASES}   # the cases it can run

    def argv(self, image, case, count):
        return self.argv_fn(image, case, f"{case.args} count={count}")


def build_vmms(build, qemu):
    kvmrun = os.path.join(build, "kvmrun")
    raw = os.path.join(build, "bench", "raw_kvm")
    vmms = [
        Vmm("kvmrun", lambda img, case, cmdline: [kvmrun, "--kernel", img, "--cpus", "1",
                                                  "--memory", MEMORY] + case.kvmrun_args +
            ["--cmdline", cmdline], 0),
        # The raw loop drops every write it does not know: that is its
        # no-op device and its unassigned address alike.
        Vmm("raw-kvm", lambda img, case, cmdline: [raw, img, cmdline], 0),
    ]
    if qemu:
        # isa-debug-exit makes QEMU exit with (code << 1) | 1 = 1.
        vmms.append(Vmm("qemu-microvm",
                        lambda img, case, cmdline: [
                            qemu, "-M", "microvm", "-enable-kvm", "-cpu", "host", "-m", MEMORY,
                            "-smp", "1", "-nodefaults", "-no-user-config", "-display", "none",
                            "-serial", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=4"]
                        + case.qemu_args + ["-kernel", img, "-append", cmdline], 1))
    return vmms


# ---- running --------------------------------------------------------------

def run_vmm(argv, ok_status, timeout=RUN_TIMEOUT_S):
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchError(f"{' '.join(argv)}: no exit within {timeout} s")
    out = p.stdout.decode(errors="replace")
    err = p.stderr.decode(errors="replace")
    if p.returncode != ok_status:
        raise BenchError(f"{' '.join(argv)}: exit status {p.returncode}, expected {ok_status}; "
                         f"console: {out.strip()[-300:]!r}; stderr: {err.strip()[-300:]}")
    return out, err


def parse_guest_line(out, argv):
    """(count, ticks, tsc_hz, chunk, min_chunk_ticks, median_chunk_ticks)
    from the guest."""
    m = GUEST_LINE.search(out)
    if not m:
        raise BenchError(f"{' '.join(argv)}: no io_loop result on the console: {out[-300:]!r}")
    count, ticks, hz = int(m.group(3)), int(m.group(4)), int(m.group(5))
    chunk, min_ticks, median_ticks = int(m.group(7)), int(m.group(8)), int(m.group(9))
    if hz == 0:
        raise BenchError(f"{' '.join(argv)}: the guest could not find the TSC frequency")
    return count, ticks, hz, chunk, min_ticks, median_ticks


# The rates of one run, in the order results hold them.
RATES = ("best chunk", "median chunk", "whole loop")


def timed_run(vmm, image, case, count):
    """One run: ((best-chunk, median-chunk, whole-loop exits/s), the
    guest's TSC Hz)."""
    argv = vmm.argv(image, case, count)
    out, _ = run_vmm(argv, vmm.ok_status)
    got, ticks, hz, chunk, min_ticks, median_ticks = parse_guest_line(out, argv)
    if got != count or ticks == 0 or min_ticks == 0 or median_ticks == 0:
        raise BenchError(f"{' '.join(argv)}: the guest reports count {got}, ticks {ticks}, "
                         f"chunk ticks {min_ticks} (min), {median_ticks} (median)")
    return (chunk * hz / min_ticks, chunk * hz / median_ticks, count * hz / ticks), hz


def qemu_preflight(vmm, image):
    """Drop the cases QEMU cannot run (a device it lacks, a guest that does
    not boot under it). Returns notes for the header."""
    failed = {}
    for case in CASES:
        argv = vmm.argv(image, case, WARMUP_COUNT)
        try:
            p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=RUN_TIMEOUT_S, text=True,
                               errors="replace")
        except subprocess.TimeoutExpired:
            failed[case.name] = f"no exit within {RUN_TIMEOUT_S} s"
            continue
        if p.returncode != vmm.ok_status or not GUEST_LINE.search(p.stdout):
            said = (p.stdout.strip() or p.stderr.strip()).splitlines()
            failed[case.name] = (f"exit status {p.returncode}: "
                                 f"{said[-1][:160] if said else 'no output'}")
    for name in failed:
        vmm.cases.discard(name)
    if failed and len(failed) == len(CASES):
        return [f"note: qemu-microvm left out: io_loop.elf fails under it "
                f"({next(iter(failed.values()))})"]
    return [f"note: qemu-microvm left out of {name}: {why}" for name, why in failed.items()]


def timed_rounds(vmms, image, count, rounds, warmup):
    """{(vmm, case): [(exits/s as in RATES) per round]}. Each round runs every case on every VMM back to back, starting
    with a different VMM each round, so all of them share the machine's
    noise. Also returns the TSC frequencies the guests reported."""
    results = {(v.name, c.name): [] for v in vmms for c in CASES}
    hz_seen = set()
    for i in range(warmup + rounds):
        order = vmms[i % len(vmms):] + vmms[:i % len(vmms)]
        for case in CASES:
            for v in order:
                if case.name not in v.cases:
                    continue
                n = count if i >= warmup else max(WARMUP_COUNT, count // 10)
                rates, hz = timed_run(v, image, case, n)
                hz_seen.add(hz)
                if i >= warmup:
                    results[(v.name, case.name)].append(rates)
    return results, hz_seen


def exit_stats(build, image, case, count):
    """kvmrun --exit-stats: ({reason: (count, handler total us)}, unmapped
    port writes). The guest prints nothing (quiet), so the writes are all
    but a dozen of the exits: console writes cost microseconds each and
    would swamp the handler times measured."""
    vmm = build_vmms(build, None)[0]
    argv = vmm.argv(image, case, count)
    argv[-2:-2] = ["--exit-stats", "--console", "none"]
    argv[-1] += " quiet"
    _, err = run_vmm(argv, 0)
    reasons = {}
    for m in re.finditer(r"^\s*(KVM_EXIT_\w+)\s+(\d+)\s+([\d.]+)\s", err, re.M):
        reasons[m.group(1)] = (int(m.group(2)), float(m.group(3)))
    unmapped = UNMAPPED_LINE.search(err)
    if (count and case.reason not in reasons) or not unmapped:
        raise BenchError(f"{' '.join(argv)}: no {case.reason} line or unmapped-access count "
                         f"in --exit-stats: {err.strip()[-300:]}")
    return reasons, int(unmapped.group(2))


def check_cases(build, image, count):
    """For each case: kvmrun's own handler time per exit (--exit-stats: the
    mean over the exits of the case's reason, which are the writes and, for
    port I/O, a dozen more), and whether the port is served as the case
    says. Returns ({case: ns per exit}, warnings)."""
    handler_ns, warnings = {}, []
    for case in CASES:
        reasons, unmapped = exit_stats(build, image, case, count)
        n, us = reasons[case.reason]
        handler_ns[case.name] = us * 1000 / n
        if case.is_pio and (unmapped < count) != case.served:
            warnings.append(f"WARNING: {case.name}: {unmapped} of {count} writes to "
                            f"{case.args} were unmapped: expected "
                            f"{'a device' if case.served else 'no device'} there")
    return handler_ns, warnings


def callgrind_ir(vmm, image, case, count, keep_dir):
    """Total Ir (all threads) of one run under callgrind, and the profile."""
    out_file = os.path.join(keep_dir, f"callgrind.exits.{vmm.name}.{case.name}.{count}")
    argv = (["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}"] +
            vmm.argv(image, case, count))
    out, _ = run_vmm(argv, vmm.ok_status, timeout=10 * RUN_TIMEOUT_S)
    parse_guest_line(out, argv)
    with open(out_file) as f:
        for line in f:
            if line.startswith("summary:"):
                return int(line.split()[1]), out_file
    raise BenchError(f"{out_file}: no summary line")


def self_ir_by_function(profile):
    """{function: self Ir} from callgrind_annotate (every function)."""
    p = subprocess.run(["callgrind_annotate", "--inclusive=no", "--threshold=100",
                        "--auto=no", profile],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    rows = {}
    for line in p.stdout.splitlines():
        m = re.match(r"^\s*([\d,]+) \(\s*[\d.]+%\)\s+(\S.*)$", line)
        if not m or "PROGRAM TOTALS" in line:
            continue
        name = startup.short_function_name(m.group(2))
        rows[name] = rows.get(name, 0) + int(m.group(1).replace(",", ""))
    return rows


def per_exit_breakdown(long_profile, zero_profile, count, top=10):
    """[(Ir per exit, function)]: each function's self Ir in the long run
    minus the zero run, divided by the exits, largest first."""
    a, b = self_ir_by_function(long_profile), self_ir_by_function(zero_profile)
    rows = [((a.get(fn, 0) - b.get(fn, 0)) / count, fn) for fn in set(a) | set(b)]
    rows = [r for r in rows if abs(r[0]) >= 0.05]
    rows.sort(key=lambda r: -r[0])
    return rows[:top]


def pause_latency(build, vcpus, cycles):
    argv = [os.path.join(build, "bench", "pause_latency"),
            os.path.join(build, "guest", "spin.elf"), str(vcpus), str(cycles)]
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=RUN_TIMEOUT_S, text=True)
    except subprocess.TimeoutExpired:
        raise BenchError(f"{' '.join(argv)}: no exit within {RUN_TIMEOUT_S} s")
    m = PAUSE_LINE.search(p.stdout)
    if p.returncode != 0 or not m:
        raise BenchError(f"{' '.join(argv)} failed ({p.returncode}): {p.stderr.strip()[-500:]}")
    keys = ("vcpus", "cycles", "p50", "p99", "max", "mean", "kicks")
    return {k: (float(v) if "." in v else int(v)) for k, v in zip(keys, m.groups())}


# ---- reporting ------------------------------------------------------------

def goal_line(met, text):
    return f"goal: {text}: {'met' if met else 'GOAL MISSED'}"


def quartiles(values):
    if len(values) < 2:
        return values[0], values[0]
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[0], q[2]


def report_exits(results, vmms, count, rounds, handler_ns, check_count):
    """Prints one table per case; returns {case: (kvmrun's best-chunk
    exits/s, its ratio to raw-kvm's)}, medians over the rounds."""
    summary = {}
    for case in CASES:
        print(f"== exits_{case.name}: {case.what}")
        print(f"  exits/s, n={rounds} runs of {count:,} writes per VMM:")
        print(f"  {'':<14} {'best chunk:':>11} {'median':>7} {'min':>7} {'max':>7} {'us/exit':>8}"
              f"   {'median chunk:':>13} {'median':>7}   {'whole loop:':>11} {'median':>7}")
        med = {}
        for v in vmms:
            runs = results[(v.name, case.name)]
            if not runs:
                print(f"  {v.name:<14} (not run)")
                continue
            med[v.name] = [statistics.median(r[i] for r in runs) for i in range(len(RATES))]
            best = [r[0] for r in runs]
            print(f"  {v.name:<14} {'':>11} {med[v.name][0]:7.0f} {min(best):7.0f} "
                  f"{max(best):7.0f} {1e6 / med[v.name][0]:8.2f}   {'':>13} {med[v.name][1]:7.0f}"
                  f"   {'':>11} {med[v.name][2]:7.0f}")
        for i, label in enumerate(RATES):
            paired = [k[i] / r[i] for k, r in zip(results[("kvmrun", case.name)],
                                                  results[("raw-kvm", case.name)])]
            q1, q3 = quartiles(paired)
            print(f"  kvmrun / raw-kvm, {label + ':':<13} {med['kvmrun'][i] / med['raw-kvm'][i]:.3f}"
                  f" (ratio of medians); round by round: median {statistics.median(paired):.3f}, "
                  f"quartiles {q1:.3f}-{q3:.3f}, min {min(paired):.3f}, max {max(paired):.3f}")
        if "qemu-microvm" in med:
            print(f"  qemu-microvm / raw-kvm, best chunk: "
                  f"{med['qemu-microvm'][0] / med['raw-kvm'][0]:.3f}")
        ns = handler_ns.get(case.name)
        if ns is not None:
            us_exit = 1e6 / med["raw-kvm"][0]
            print(f"  kvmrun's exit handler (--exit-stats, rdtsc around it, a quiet run of "
                  f"{check_count:,} writes): {ns:.0f} ns per exit, {ns / 10 / us_exit:.2f} % of "
                  f"raw-kvm's {us_exit:.1f} us per exit")
        summary[case.name] = (med["kvmrun"][0], med["kvmrun"][0] / med["raw-kvm"][0])
        print()
    return summary


def report_instructions(vmms, image, count, keep, show_path):
    """Prints the table and kvmrun's per-exit profile; returns
    {case: (kvmrun instr/exit, raw instr/exit)}."""
    print(f"== instructions_per_exit: valgrind --tool=callgrind, all threads, "
          f"(Ir with count={count:,} - Ir with count=0) / {count:,}")
    per_exit, profiles = {}, {}
    for v in vmms:
        # QEMU for scale on the unassigned port only: ~70 million
        # instructions of start-up per run make it the slowest part.
        cases = [c for c in CASES if c.name in v.cases and
                 (v.name != "qemu-microvm" or c.name == "pio_unassigned")]
        for case in cases:
            ir_long, prof_long = callgrind_ir(v, image, case, count, keep)
            ir_zero, prof_zero = callgrind_ir(v, image, case, 0, keep)
            per_exit[(v.name, case.name)] = (ir_long - ir_zero) / count
            profiles[(v.name, case.name)] = (prof_long, prof_zero, ir_long, ir_zero)
    print(f"  {'instr/exit':<14}" + "".join(f" {c.name:>16}" for c in CASES))
    for v in vmms:
        cells = [per_exit.get((v.name, c.name)) for c in CASES]
        print(f"  {v.name:<14}" + "".join(f" {x:16.1f}" if x is not None else f" {'-':>16}"
                                          for x in cells))
    print(f"  totals, count={count:,} / count=0:")
    for (v, c), p in profiles.items():
        print(f"    {v:<14} {c:<16} {p[2]:>12,} / {p[3]:>12,}")
    for case in CASES:
        long_prof, zero_prof, _, _ = profiles[("kvmrun", case.name)]
        print(f"  kvmrun's instructions per exit by function (self), {case.name}" +
              (f" (profiles: {long_prof}, {zero_prof}):" if show_path else ":"))
        for ir, fn in per_exit_breakdown(long_prof, zero_prof, count):
            print(f"    {ir:8.1f}  {fn}")
    print()
    return {c.name: (per_exit[("kvmrun", c.name)], per_exit[("raw-kvm", c.name)]) for c in CASES}


def report_pause(build, cycles, vcpu_counts):
    print("== pause_latency: vm_pause() until every vCPU is out of KVM_RUN and parked, with")
    print(f"   busy vCPUs (guest/spin.elf: CPL 3 loops, no exits), {cycles:,} cycles after 20 warm-up")
    print(f"  {'':<14} {'p50':>9} {'p99':>9} {'max':>9} {'mean':>9}   (us)  kick signals")
    res = {}
    for vcpus in vcpu_counts:
        r = pause_latency(build, vcpus, cycles)
        res[vcpus] = r
        print(f"  {f'{vcpus} vCPU' + ('s' if vcpus > 1 else ''):<14} {r['p50']:9.1f} "
              f"{r['p99']:9.1f} {r['max']:9.1f} {r['mean']:9.1f}         {r['kicks']:,}")
    print()
    return res


def load_average():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "unknown"


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", default=os.path.join(root, "build"),
                    help="meson build directory (default: build)")
    ap.add_argument("--rounds", type=int, default=9,
                    help="timed rounds, each running every case on every VMM (9)")
    ap.add_argument("--count", type=int, default=20000,
                    help="writes per timed run (20000: 0.6 s at 30 us per exit)")
    ap.add_argument("--callgrind-count", type=int, default=20000,
                    help="writes in the long callgrind runs (20000)")
    ap.add_argument("--pause-cycles", type=int, default=2000,
                    help="pause/resume cycles per pause-latency run (2000)")
    ap.add_argument("--no-qemu", action="store_true", help="leave QEMU out")
    ap.add_argument("--no-callgrind", action="store_true", help="skip instruction counts")
    ap.add_argument("--no-pause", action="store_true", help="skip pause latency")
    ap.add_argument("--profile-dir", help="keep the callgrind profiles here")
    ap.add_argument("--smoke", action="store_true",
                    help="tiny counts, no QEMU or callgrind, no goals: check the benchmark works")
    args = ap.parse_args()
    if args.smoke:
        args.rounds, args.count, args.pause_cycles = 1, WARMUP_COUNT, 50
        args.no_qemu = args.no_callgrind = True
    if args.rounds < 1 or args.count < WARMUP_COUNT or args.callgrind_count < 1 or \
            args.pause_cycles < 1:
        raise BenchError(f"--rounds, --callgrind-count and --pause-cycles must be >= 1, "
                         f"--count >= {WARMUP_COUNT}")

    build = os.path.abspath(args.build_dir)
    if not startup.kvm_usable():
        print("exits.py: /dev/kvm is not usable here: benchmark SKIPPED", file=sys.stderr)
        return SKIP_STATUS
    opts = startup.build_options(build)
    sanitize = opts.get("b_sanitize", "none")
    if sanitize != "none" and not args.smoke:
        raise BenchError(f"{build} is built with b_sanitize={sanitize}: benchmark a build "
                         f"without sanitizers (e.g. the default build/)")
    image = os.path.join(build, "guest", "io_loop.elf")
    for path in [os.path.join(build, "kvmrun"), os.path.join(build, "bench", "raw_kvm"),
                 os.path.join(build, "bench", "pause_latency"), image,
                 os.path.join(build, "guest", "spin.elf")]:
        if not os.path.exists(path):
            raise BenchError(f"{path} is missing: build first (ninja -C {args.build_dir})")
    qemu = None if args.no_qemu else shutil.which("qemu-system-x86_64")
    if not args.no_callgrind and not shutil.which("valgrind"):
        raise BenchError("valgrind is not installed (scripts/install-deps.sh --bench), "
                         "or pass --no-callgrind")
    vmms = build_vmms(build, qemu)
    warmup = 0 if args.smoke else 1

    print(f"kvmrun exit-path benchmark, {datetime.datetime.now().isoformat(timespec='seconds')}")
    print(f"host: {startup.host_description()}, load average {load_average()}")
    print(f"kvmrun {startup.source_revision(root)}, build {args.build_dir} "
          f"(buildtype {opts.get('buildtype', '?')}, b_sanitize {sanitize})")
    print(f"guest: build/guest/io_loop.elf, 1 vCPU, {MEMORY}; exits/s from the guest's TSC: "
          f"500 writes / the fastest 500-write chunk (best chunk; the bench lines), / the median "
          f"chunk, and all writes / the whole loop; {args.rounds} rounds after "
          f"{warmup} warm-up round, VMMs alternating" + ("" if qemu else "; QEMU left out"))
    notes = qemu_preflight(vmms[2], image) if qemu else []
    check_count = min(CHECK_COUNT, args.count)
    handler_ns, warnings = check_cases(build, image, check_count)
    for line in notes + warnings:
        print(line)
    print()

    results, hz_seen = timed_rounds(vmms, image, args.count, args.rounds, warmup)
    if len(hz_seen) > 1:
        print(f"note: the guests found different TSC frequencies: {sorted(hz_seen)}")
    exits = report_exits(results, vmms, args.count, args.rounds, handler_ns, check_count)

    instr = None
    if args.no_callgrind:
        print("== instructions_per_exit: skipped (--no-callgrind)\n")
    else:
        keep = args.profile_dir or tempfile.mkdtemp(prefix="kvmrun-bench-exits-")
        os.makedirs(keep, exist_ok=True)
        try:
            instr = report_instructions(vmms, image, args.callgrind_count, keep,
                                        bool(args.profile_dir))
        finally:
            if not args.profile_dir:
                shutil.rmtree(keep, ignore_errors=True)

    pause = None
    if args.no_pause:
        print("== pause_latency: skipped (--no-pause)\n")
    else:
        pause = report_pause(build, args.pause_cycles, (4,) if args.smoke else (4, 1))

    print(f"== summary (load average now {load_average()})")
    if args.smoke:
        print("(smoke run: counts too small for the goals; no goals checked)")
    else:
        for case, (_, ratio) in exits.items():
            print(goal_line(ratio >= GOAL_EXIT_RATIO,
                            f"exits_{case}: kvmrun >= {GOAL_EXIT_RATIO}x raw-kvm"))
        if instr:
            for case in CASES:
                if case.is_pio:
                    print(goal_line(instr[case.name][0] <= GOAL_INSTRUCTIONS_PIO,
                                    f"instructions_per_exit_{case.name}: kvmrun <= "
                                    f"{GOAL_INSTRUCTIONS_PIO}"))
    for line in warnings:
        print(line)
    for case, (rate, ratio) in exits.items():
        print(f"bench exits_{case}: {rate:.0f} exits/s ({ratio:.2f}x of raw-kvm)")
    if instr:
        for case, (k, r) in instr.items():
            print(f"bench instructions_per_exit_{case}: {k:.1f} instr ({k / r:.2f}x of raw-kvm)")
    if pause and 1 in pause:
        for stat in ("p50", "p99"):
            print(f"bench pause_latency_{stat}: {pause[4][stat]:.1f} us "
                  f"({pause[4][stat] / pause[1][stat]:.2f}x of 1 busy vCPU)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print(f"exits.py: error: {e}", file=sys.stderr)
        sys.exit(1)
