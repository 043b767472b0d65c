#!/usr/bin/env python3
"""kvmrun exit-path benchmark (bench/README.md, "Exit path").

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
(port 0x2f0, no device), mmio_unassigned (0xd0100000 in the device hole).

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
# options, callgrind_annotate parsing...).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import startup  # noqa: E402

GOAL_EXIT_RATIO = 0.97          # kvmrun's exits/s >= 0.97x raw-kvm's
GOAL_INSTRUCTIONS_PIO = 100     # kvmrun's instructions per PIO exit

MEMORY = "128M"
RUN_TIMEOUT_S = 120
SKIP_STATUS = 77
GUEST_LINE = re.compile(
    r"io_loop: (pio |mmio) 0x([0-9a-f]+) count +(\d+) ticks +(\d+) tsc_hz +(\d+) "
    r"exits/s +(\d+) \((\S+)\)")
UNMAPPED_LINE = re.compile(r"unmapped port accesses: (\d+) reads, (\d+) writes")
PAUSE_LINE = re.compile(
    r"pause_latency vcpus=(\d+) cycles=(\d+) p50_us=([\d.]+) p99_us=([\d.]+) "
    r"max_us=([\d.]+) mean_us=([\d.]+) kicks=(\d+)")


class BenchError(Exception):
    pass


class Case:
    def __init__(self, name, args, what, is_pio):
        self.name = name
        self.args = args      # io_loop's command line, without count=
        self.what = what
        self.is_pio = is_pio


CASES = [
    Case("pio_noop", "port=0x80",
         "1-byte out to I/O port 0x80, served by kvmrun's POST-code device (a no-op)", True),
    Case("pio_unassigned", "port=0x2f0",
         "1-byte out to I/O port 0x2f0, where no device is", True),
    Case("mmio_unassigned", "mmio=0xd0100000",
         "1-byte write to 0xd0100000 in the device hole, where no device is", False),
]


class Vmm:
    """How to boot io_loop.elf with a command line, and the exit status
    the guest's 0 becomes."""

    def __init__(self, name, argv_fn, ok_status):
        self.name = name
        self.argv = argv_fn
        self.ok_status = ok_status


def build_vmms(build, qemu):
    kvmrun = os.path.join(build, "kvmrun")
    raw = os.path.join(build, "bench", "raw_kvm")
    vmms = [
        Vmm("kvmrun", lambda img, cmdline: [kvmrun, "--kernel", img, "--cpus", "1",
                                            "--memory", MEMORY, "--cmdline", cmdline], 0),
        Vmm("raw-kvm", lambda img, cmdline: [raw, img, cmdline], 0),
    ]
    if qemu:
        # isa-debug-exit makes QEMU exit with (code << 1) | 1 = 1.
        vmms.append(Vmm("qemu-microvm",
                        lambda img, cmdline: [qemu, "-M", "microvm", "-enable-kvm", "-cpu", "host",
                                              "-m", MEMORY, "-smp", "1", "-nodefaults",
                                              "-no-user-config", "-display", "none",
                                              "-serial", "stdio",
                                              "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
                                              "-kernel", img, "-append", cmdline], 1))
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
    m = GUEST_LINE.search(out)
    if not m:
        raise BenchError(f"{' '.join(argv)}: no io_loop result on the console: {out[-300:]!r}")
    count, ticks, hz = int(m.group(3)), int(m.group(4)), int(m.group(5))
    if hz == 0:
        raise BenchError(f"{' '.join(argv)}: the guest could not find the TSC frequency")
    return count, ticks, hz


def timed_run(vmm, image, case, count):
    """One run; returns (exits per second, TSC frequency the guest used)."""
    argv = vmm.argv(image, f"{case.args} count={count}")
    out, _ = run_vmm(argv, vmm.ok_status)
    got, ticks, hz = parse_guest_line(out, argv)
    if got != count or ticks == 0:
        raise BenchError(f"{' '.join(argv)}: the guest reports count {got}, ticks {ticks}")
    return count * hz / ticks, hz


def timed_rounds(vmms, image, count, rounds, warmup):
    """{(vmm, case): [exits/s per round]}. Each round runs every case on
    every VMM back to back, starting with a different VMM each round, so
    all of them share the machine's noise."""
    results = {(v.name, c.name): [] for v in vmms for c in CASES}
    hz_seen = {}
    for i in range(warmup + rounds):
        order = vmms[i % len(vmms):] + vmms[:i % len(vmms)]
        for case in CASES:
            for v in order:
                rate, hz = timed_run(v, image, case, count if i >= warmup else max(1, count // 10))
                hz_seen.setdefault(v.name, set()).add(hz)
                if i >= warmup:
                    results[(v.name, case.name)].append(rate)
    return results, hz_seen


def check_devices(build, image, count):
    """With --exit-stats kvmrun counts unmapped port accesses: port 0x80
    must be served by a device, port 0x2f0 must not. Returns warnings."""
    warnings = []
    kvmrun = os.path.join(build, "kvmrun")
    for case, want_served in (("port=0x80", True), ("port=0x2f0", False)):
        argv = [kvmrun, "--kernel", image, "--memory", MEMORY, "--exit-stats",
                "--cmdline", f"{case} count={count}"]
        _, err = run_vmm(argv, 0)
        m = UNMAPPED_LINE.search(err)
        if not m:
            raise BenchError(f"{' '.join(argv)}: no unmapped-access count in --exit-stats")
        served = int(m.group(2)) < count
        if served != want_served:
            warnings.append(f"WARNING: {case}: {m.group(2)} of {count} writes were unmapped: "
                            f"expected {'a device' if want_served else 'no device'} there")
    return warnings


def callgrind_ir(vmm, image, case, count, keep_dir):
    """Total Ir (all threads) of one run under callgrind, and the profile."""
    out_file = os.path.join(keep_dir, f"callgrind.exits.{vmm.name}.{case.name}.{count}")
    argv = (["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}"] +
            vmm.argv(image, f"{case.args} count={count}"))
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


def report_exits(results, vmms, count, rounds):
    """Prints the tables; returns {case: (kvmrun median, ratio to raw)}."""
    summary = {}
    for case in CASES:
        print(f"== exits_{case.name}: {case.what}")
        print(f"  {'exits/s':<16} {'median':>9} {'min':>9} {'max':>9} {'us/exit':>9}"
              f"   (n={rounds} runs of {count:,} exits)")
        med = {}
        for v in vmms:
            vals = results[(v.name, case.name)]
            med[v.name] = statistics.median(vals)
            print(f"  {v.name:<16} {med[v.name]:9.0f} {min(vals):9.0f} {max(vals):9.0f} "
                  f"{1e6 / med[v.name]:9.2f}")
        paired = [k / r for k, r in zip(results[("kvmrun", case.name)],
                                        results[("raw-kvm", case.name)])]
        ratio = med["kvmrun"] / med["raw-kvm"]
        print(f"  kvmrun / raw-kvm: {ratio:.3f} (ratio of medians); the same round by round: "
              + " ".join(f"{r:.3f}" for r in paired))
        if "qemu-microvm" in med:
            print(f"  qemu-microvm / raw-kvm: {med['qemu-microvm'] / med['raw-kvm']:.3f}")
        summary[case.name] = (med["kvmrun"], ratio)
        print()
    print("== exits_mmio_noop: not measured yet: kvmrun has no MMIO device; it waits for the first")
    print()
    return summary


def report_instructions(vmms, image, count, keep, build, show_path):
    """Prints the table and kvmrun's per-exit profile; returns
    {case: (kvmrun instr/exit, raw instr/exit)}."""
    print(f"== instructions_per_exit: valgrind --tool=callgrind, all threads, "
          f"(Ir with count={count:,} - Ir with count=0) / {count:,}")
    per_exit, profiles = {}, {}
    for v in vmms:
        # QEMU for scale on the unassigned port only: ~70 million
        # instructions of start-up per run make it the slowest part.
        cases = [c for c in CASES if v.name != "qemu-microvm" or c.name == "pio_unassigned"]
        for case in cases:
            ir_long, prof_long = callgrind_ir(v, image, case, count, keep)
            ir_zero, prof_zero = callgrind_ir(v, image, case, 0, keep)
            per_exit[(v.name, case.name)] = (ir_long - ir_zero) / count
            profiles[(v.name, case.name)] = (prof_long, prof_zero, ir_long, ir_zero)
    print(f"  {'instr/exit':<16}" + "".join(f" {c.name:>16}" for c in CASES))
    for v in vmms:
        cells = [per_exit.get((v.name, c.name)) for c in CASES]
        print(f"  {v.name:<16}" + "".join(f" {x:16.1f}" if x is not None else f" {'-':>16}"
                                          for x in cells))
    print(f"  (totals with count={count:,} / count=0: " + "; ".join(
        f"{v}/{c}: {p[2]:,} / {p[3]:,}" for (v, c), p in profiles.items()
        if v != "qemu-microvm") + ")")
    for case in CASES:
        long_prof, zero_prof, _, _ = profiles[("kvmrun", case.name)]
        print(f"  kvmrun's instructions per exit by function (self), {case.name}" +
              (f" (profiles: {long_prof}, {zero_prof}):" if show_path else ":"))
        for ir, fn in per_exit_breakdown(long_prof, zero_prof, count):
            print(f"    {ir:8.1f}  {fn}")
    print()
    return {c.name: (per_exit[("kvmrun", c.name)], per_exit[("raw-kvm", c.name)]) for c in CASES}


def report_pause(build, cycles, vcpu_counts):
    print(f"== pause_latency: vm_pause() until every vCPU is out of KVM_RUN and parked, with")
    print(f"   busy vCPUs (guest/spin.elf: CPL 3 loops, no exits), {cycles:,} cycles after 20 warm-up")
    print(f"  {'':<16} {'p50':>9} {'p99':>9} {'max':>9} {'mean':>9}   (us)  kick signals")
    res = {}
    for vcpus in vcpu_counts:
        r = pause_latency(build, vcpus, cycles)
        res[vcpus] = r
        print(f"  {f'{vcpus} vCPU' + ('s' if vcpus > 1 else ''):<16} {r['p50']:9.1f} "
              f"{r['p99']:9.1f} {r['max']:9.1f} {r['mean']:9.1f}         {r['kicks']:,}")
    print()
    return res


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", default=os.path.join(root, "build"),
                    help="meson build directory (default: build)")
    ap.add_argument("--rounds", type=int, default=5,
                    help="timed rounds, each running every case on every VMM (5)")
    ap.add_argument("--count", type=int, default=50000,
                    help="writes per timed run (50000, ~1.5-3 s here)")
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
        args.rounds, args.count, args.pause_cycles = 1, 300, 50
        args.no_qemu = args.no_callgrind = True
    if args.rounds < 1 or args.count < 1 or args.callgrind_count < 1 or args.pause_cycles < 1:
        raise BenchError("--rounds, --count, --callgrind-count and --pause-cycles must be >= 1")

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
    print(f"host: {startup.host_description()}")
    print(f"kvmrun {startup.source_revision(root)}, build {args.build_dir} "
          f"(buildtype {opts.get('buildtype', '?')}, b_sanitize {sanitize})")
    print(f"guest: build/guest/io_loop.elf, 1 vCPU, {MEMORY}; exits/s = writes x TSC Hz / TSC "
          f"ticks of the guest's CPL 3 loop; {args.rounds} rounds after {warmup} warm-up round(s), "
          f"VMMs alternating" + ("" if qemu else "; QEMU left out"))
    warnings = check_devices(build, image, min(args.count, 1000))
    for w in warnings:
        print(w)
    print()

    results, hz_seen = timed_rounds(vmms, image, args.count, args.rounds, warmup)
    all_hz = set().union(*hz_seen.values())
    if len(all_hz) > 1:
        print(f"note: the guests found different TSC frequencies: {hz_seen}")
    exits = report_exits(results, vmms, args.count, args.rounds)

    instr = None
    if args.no_callgrind:
        print("== instructions_per_exit: skipped (--no-callgrind)\n")
    else:
        keep = args.profile_dir or tempfile.mkdtemp(prefix="kvmrun-bench-exits-")
        os.makedirs(keep, exist_ok=True)
        try:
            instr = report_instructions(vmms, image, args.callgrind_count, keep, build,
                                        bool(args.profile_dir))
        finally:
            if not args.profile_dir:
                shutil.rmtree(keep, ignore_errors=True)

    pause = None
    if args.no_pause:
        print("== pause_latency: skipped (--no-pause)\n")
    else:
        pause = report_pause(build, args.pause_cycles, (4,) if args.smoke else (4, 1))

    print("== summary")
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
    for w in warnings:
        print(w)
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
