#!/usr/bin/env python3
"""kvmrun Multiboot benchmark (bench/README.md, "Multiboot benchmark").

The same Multiboot test kernel (build/guest/multiboot_bench.elf, an ELF32
with a Multiboot header, kvm-unit-tests style) booted by kvmrun and by
QEMU's pc machine (SeaBIOS and its Multiboot option ROM), in the same run:

  multiboot_wall_time               exec -> the VMM process is gone (median
                                    of alternating rounds)
  multiboot_userspace_instructions  valgrind --tool=callgrind: the VMM's
                                    userspace instructions (all threads),
                                    exec -> exit

Goals: kvmrun at least 10x fewer userspace instructions than QEMU, and a
shorter wall time. Both VMMs run the guest to its end: it writes its
report_summary() status 0 to QEMU's isa-debug-exit port 0xf4, so both exit
with status (0 << 1) | 1 = 1 (kvmrun with --debug-exit); each run's console
file is checked for the guest's summary.

The output ends with `bench <name>: <value> <unit> (<ratio>x of qemu-pc)`
lines. A missed goal prints GOAL MISSED but is not an error: the exit status
is non-zero only when something could not be measured (77, "skipped",
without /dev/kvm, or without QEMU unless --no-qemu or --smoke). Python
standard library only; timing and peak RSS come from build/bench/spawn_timed
like the start-up benchmark's.
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

# Helpers shared with the other benchmarks: timed spawning, callgrind
# function tables, host and build description, load average.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import exits  # noqa: E402
import startup  # noqa: E402

BenchError = startup.BenchError  # startup.spawn() raises it too

GOAL_INSTRUCTION_FACTOR = 10    # QEMU's instructions / kvmrun's, at least
GOAL_WALL_RATIO = 1.0           # kvmrun's wall time / QEMU's, below

MEMORY = "128M"
MEMORY_MIB = 128
INITRD_TEXT = "kvmrun-multiboot-bench-module"
CMDLINE = f"ram_mib={MEMORY_MIB} initrd_text={INITRD_TEXT}"
OK_STATUS = 1                   # the guest's 0 through isa-debug-exit
RUN_TIMEOUT_S = 120
CALLGRIND_TIMEOUT_S = 1200
SKIP_STATUS = 77
SUMMARY_OK = re.compile(r"^SUMMARY: (\d+) tests, 0 unexpected failures, 0 skipped$", re.M)
EXIT_LINE = "multiboot_bench: writing 0 to the debug-exit port 0xf4"
MAIN_LINE = re.compile(r"^multiboot_bench: main\(\) took (\d+) us \(TSC (\d+) Hz from (\S+)\)$",
                       re.M)


class Vmm:
    """How one VMM boots the bench guest, writing its serial console to
    `console`."""

    def __init__(self, name, argv_fn):
        self.name = name
        self.argv = argv_fn


def build_vmms(build, image, initrd, qemu):
    vmms = [
        Vmm("kvmrun", lambda console: [
            os.path.join(build, "kvmrun"), "--kernel", image, "--initrd", initrd,
            "--cmdline", CMDLINE, "--cpus", "1", "--memory", MEMORY, "--debug-exit",
            "--console", f"file:{console}"]),
    ]
    if qemu:
        vmms.append(Vmm("qemu-pc", lambda console: [
            qemu, "-M", "pc", "-accel", "kvm", "-cpu", "host", "-m", MEMORY, "-smp", "1",
            "-nodefaults", "-no-user-config", "-display", "none",
            "-serial", f"file:{console}",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
            "-kernel", image, "-initrd", initrd, "-append", CMDLINE]))
    return vmms


# ---- running --------------------------------------------------------------

def check_console(vmm, console, status, stderr=""):
    """The run ended the way the guest ends when every check passed: exit
    status 1 and the guest's summary and debug-exit line on the console.
    Returns the time the guest's main() took by its TSC, in ms, or None if
    the guest found no TSC frequency."""
    try:
        with open(console, errors="replace") as f:
            out = f.read()
    except OSError as e:
        raise BenchError(f"{vmm.name}: console file {console}: {e.strerror}")
    if status != OK_STATUS or not SUMMARY_OK.search(out) or EXIT_LINE not in out:
        raise BenchError(f"{vmm.name}: exit status {status}, expected {OK_STATUS} with a "
                         f"passing summary; console: {out.strip()[-400:]!r}; "
                         f"stderr: {stderr.strip()[-300:]}")
    m = MAIN_LINE.search(out)
    return int(m.group(1)) / 1e3 if m else None


def timed_run(spawn_timed, vmm, console):
    """One run under spawn_timed: (exit_ms, maxrss_kib, cpu_ms, switches,
    guest_main_ms)."""
    if os.path.exists(console):
        os.unlink(console)
    _, exit_ms, rss, cpu_ms, csw, status = startup.spawn(spawn_timed, vmm.argv(console), "")
    main_ms = check_console(vmm, console, status)
    return exit_ms, rss, cpu_ms, csw, main_ms


def timed_rounds(spawn_timed, vmms, console, runs, warmup):
    """Each round runs every VMM once, starting with a different one each
    round, so they share the machine's noise. {vmm: [results]}."""
    results = {v.name: [] for v in vmms}
    for i in range(warmup + runs):
        order = vmms[i % len(vmms):] + vmms[:i % len(vmms)]
        for v in order:
            r = timed_run(spawn_timed, v, console)
            if i >= warmup:
                results[v.name].append(r)
    return results


def callgrind(vmm, console, keep_dir):
    """Total Ir, all threads (callgrind's summary), of one run; the profile
    stays in keep_dir for callgrind_annotate."""
    profile = os.path.join(keep_dir, f"callgrind.{vmm.name}.multiboot_bench")
    argv = ["valgrind", "--tool=callgrind", "--trace-children=no",
            f"--callgrind-out-file={profile}"] + vmm.argv(console)
    if os.path.exists(console):
        os.unlink(console)
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=CALLGRIND_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise BenchError(f"{vmm.name} under callgrind: no exit within {CALLGRIND_TIMEOUT_S} s")
    check_console(vmm, console, p.returncode, p.stderr.decode(errors="replace"))
    with open(profile) as f:
        for line in f:
            if line.startswith("summary:"):
                return int(line.split()[1]), profile
    raise BenchError(f"{profile}: no summary line")


# ---- reporting ------------------------------------------------------------

def fmt_ratio(r):
    """Three significant digits: these ratios run from ~0.005 to ~1."""
    return f"{r:.3g}"


def report_wall(results, vmms, smoke):
    n = len(results[vmms[0].name])
    print("== multiboot_wall_time: exec -> exit, booting build/guest/multiboot_bench.elf")
    print(f"  exec -> exit (ms, n={n})        median       p90       min       max")
    for v in vmms:
        t = [r[0] for r in results[v.name]]
        print(f"  {v.name:<26} {statistics.median(t):9.2f} {startup.p90(t):9.2f} "
              f"{min(t):9.2f} {max(t):9.2f}")
    print("  medians: CPU ms (user + sys; guest time counts as user), peak RSS, "
          "context switches")
    for v in vmms:
        cpu = statistics.median(r[2] for r in results[v.name])
        rss = statistics.median(r[1] for r in results[v.name]) / 1024
        csw = statistics.median(r[3] for r in results[v.name])
        print(f"  {v.name:<26} {cpu:9.2f} CPU ms {rss:9.2f} MiB {csw:9g} switches")
    # The guest's TSC: main()'s checks, the same work under both VMMs; the
    # rest of exec -> exit is the VMM's start, firmware, loading, the
    # library's set-up, and teardown.
    print("  split, medians (ms): the guest's main() by its TSC, and exec -> exit minus that")
    for v in vmms:
        mains = [r[4] for r in results[v.name] if r[4] is not None]
        if not mains:
            print(f"  {v.name:<26} (the guest found no TSC frequency)")
            continue
        outside = [r[0] - r[4] for r in results[v.name] if r[4] is not None]
        print(f"  {v.name:<26} {statistics.median(mains):9.2f} in main() "
              f"{statistics.median(outside):9.2f} outside")
    k = statistics.median(r[0] for r in results["kvmrun"])
    if len(vmms) < 2:
        if not smoke:
            print("  (QEMU left out: no reference, no goal)")
        print()
        return k, None
    q = statistics.median(r[0] for r in results["qemu-pc"])
    rounds = sorted(a[0] / b[0] for a, b in zip(results["kvmrun"], results["qemu-pc"]))
    print(f"  kvmrun / qemu-pc: {fmt_ratio(k / q)} (ratio of medians); round by round: "
          f"min {fmt_ratio(rounds[0])}, median {fmt_ratio(statistics.median(rounds))}, "
          f"max {fmt_ratio(rounds[-1])}")
    print(startup.goal_line(k / q < GOAL_WALL_RATIO, "kvmrun's wall time below qemu-pc's"))
    print()
    return k, q


def print_top(profile, title, only_object=None, inclusive=False, count=8):
    print(title)
    for ir, fn in startup.annotate_top(profile, inclusive=inclusive, only_object=only_object,
                                       count=count):
        print(f"    {ir:14,}  {fn}")


def report_instructions(vmms, console, keep, build, show_path):
    print("== multiboot_userspace_instructions: valgrind --tool=callgrind --trace-children=no,")
    print("   Ir of all the VMM's threads, exec -> exit, one run each")
    counts, profiles = {}, {}
    for v in vmms:
        counts[v.name], profiles[v.name] = callgrind(v, console, keep)
    for v in vmms:
        print(f"  {v.name:<26} {counts[v.name]:16,}")
    where = (lambda name: f" (profile: {profiles[name]})") if show_path else (lambda name: "")
    print_top(profiles["kvmrun"], "  kvmrun, top functions by self Ir" + where("kvmrun") + ":")
    print_top(profiles["kvmrun"], "  kvmrun's own functions by inclusive Ir:",
              only_object=os.path.join(build, "kvmrun"), inclusive=True)
    k = counts["kvmrun"]
    if len(vmms) < 2:
        print()
        return k, None
    q = counts["qemu-pc"]
    print_top(profiles["qemu-pc"], "  qemu-pc, top functions by self Ir" + where("qemu-pc") + ":")
    print(f"  qemu-pc / kvmrun: {q / k:.1f}x")
    print(startup.goal_line(q >= GOAL_INSTRUCTION_FACTOR * k,
                            f"kvmrun >= {GOAL_INSTRUCTION_FACTOR}x fewer instructions "
                            f"than qemu-pc"))
    print()
    return k, q


def write_initrd(path):
    with open(path, "w") as f:
        f.write(INITRD_TEXT + "\n")


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", default=os.path.join(root, "build"),
                    help="meson build directory (default: build)")
    ap.add_argument("--runs", type=int, default=10,
                    help="timed rounds, each one run per VMM (10)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed rounds first (1)")
    ap.add_argument("--no-qemu", action="store_true",
                    help="kvmrun only: no reference, no goals, no bench lines")
    ap.add_argument("--no-callgrind", action="store_true", help="skip instruction counts")
    ap.add_argument("--profile-dir", help="keep the callgrind profiles here")
    ap.add_argument("--smoke", action="store_true",
                    help="one kvmrun run, no QEMU or callgrind: check the benchmark works")
    args = ap.parse_args()
    if args.smoke:
        args.runs, args.warmup, args.no_qemu, args.no_callgrind = 1, 0, True, True
    if args.runs < 1 or args.warmup < 0:
        raise BenchError("--runs must be at least 1 and --warmup at least 0")

    build = os.path.abspath(args.build_dir)
    if not startup.kvm_usable():
        print("multiboot.py: /dev/kvm is not usable here: benchmark SKIPPED", file=sys.stderr)
        return SKIP_STATUS
    qemu = None if args.no_qemu else shutil.which("qemu-system-x86_64")
    if not args.no_qemu and not qemu:
        print("multiboot.py: qemu-system-x86_64 is not installed (scripts/install-deps.sh "
              "--bench), and QEMU is the reference: benchmark SKIPPED (--no-qemu runs "
              "kvmrun alone)", file=sys.stderr)
        return SKIP_STATUS
    opts = startup.build_options(build)
    sanitize = opts.get("b_sanitize", "none")
    if sanitize != "none" and not args.smoke:
        raise BenchError(f"{build} is built with b_sanitize={sanitize}: benchmark a build "
                         f"without sanitizers (e.g. the default build/)")
    spawn_timed = os.path.join(build, "bench", "spawn_timed")
    image = os.path.join(build, "guest", "multiboot_bench.elf")
    for path in (spawn_timed, os.path.join(build, "kvmrun"), image):
        if not os.path.exists(path):
            raise BenchError(f"{path} is missing: build first (ninja -C {args.build_dir})")
    if not args.no_callgrind and not shutil.which("valgrind"):
        raise BenchError("valgrind is not installed (scripts/install-deps.sh --bench), "
                         "or pass --no-callgrind")

    work = tempfile.mkdtemp(prefix="kvmrun-bench-multiboot-")
    try:
        initrd = os.path.join(work, "initrd.txt")
        console = os.path.join(work, "console.txt")
        write_initrd(initrd)
        vmms = build_vmms(build, image, initrd, qemu)

        print(f"kvmrun Multiboot benchmark, "
              f"{datetime.datetime.now().isoformat(timespec='seconds')}")
        print(f"host: {startup.host_description()}, load average {exits.load_average()}")
        print(f"kvmrun {startup.source_revision(root)}, build {args.build_dir} "
              f"(buildtype {opts.get('buildtype', '?')}, b_sanitize {sanitize})")
        if qemu:
            version = subprocess.run([qemu, "--version"], capture_output=True,
                                     text=True).stdout.split("\n")[0]
            print(f"reference: {version}, -M pc (SeaBIOS, Multiboot through its option ROM)")
        print(f"guest: build/guest/multiboot_bench.elf (ELF32 Multiboot), 1 vCPU, {MEMORY}, "
              f"initrd {len(INITRD_TEXT) + 1} bytes, command line \"{CMDLINE}\", serial "
              f"console to a file; {args.runs} timed rounds after {args.warmup} warm-up, "
              f"VMMs alternating" + ("" if qemu else "; QEMU left out"))
        print()

        results = timed_rounds(spawn_timed, vmms, console, args.runs, args.warmup)
        wall_k, wall_q = report_wall(results, vmms, args.smoke)

        instr_k = instr_q = None
        if args.no_callgrind:
            print("== multiboot_userspace_instructions: skipped (--no-callgrind)\n")
        else:
            keep = args.profile_dir or os.path.join(work, "profiles")
            os.makedirs(keep, exist_ok=True)
            instr_k, instr_q = report_instructions(vmms, console, keep, build,
                                                   bool(args.profile_dir))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"== summary (load average now {exits.load_average()})")
    if not qemu:
        print(f"kvmrun: {wall_k:.2f} ms exec -> exit" +
              (f", {instr_k:,} instructions" if instr_k else "") +
              ("; smoke run: " if args.smoke else "; ") +
              "QEMU left out, so no goals and no bench lines")
        return 0
    print(startup.goal_line(wall_k / wall_q < GOAL_WALL_RATIO,
                            "multiboot_wall_time: kvmrun below qemu-pc"))
    if instr_k:
        print(startup.goal_line(instr_q >= GOAL_INSTRUCTION_FACTOR * instr_k,
                                f"multiboot_userspace_instructions: kvmrun >= "
                                f"{GOAL_INSTRUCTION_FACTOR}x fewer than qemu-pc"))
    print(f"bench multiboot_wall_time: {wall_k:.2f} ms ({fmt_ratio(wall_k / wall_q)}x of qemu-pc)")
    if instr_k:
        print(f"bench multiboot_userspace_instructions: {instr_k} instr "
              f"({fmt_ratio(instr_k / instr_q)}x of qemu-pc)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print(f"multiboot.py: error: {e}", file=sys.stderr)
        sys.exit(1)
