#!/usr/bin/env python3
"""kvmrun start-up benchmark (bench/README.md).

Measures, for 1 vCPU and 128 MiB, kvmrun against a minimal raw-KVM C
program (bench/raw_kvm.c) that builds the same VM and runs the same guest,
in the same run, and optionally against QEMU's microvm machine:

  startup_first_instruction  exec -> the guest's first instruction: the
                             first byte of bench/guests/bench_guest.S's
                             (first.elf) output on the VMM's stdout
  startup_to_exit            exec -> the process is gone, booting
                             build/guest/hello.elf (guest library init, one
                             line on the serial console, exit port)
  rss_overhead               peak RSS of kvmrun minus peak RSS of raw_kvm,
                             booting hello.elf to its exit; plus a
                             breakdown while the park guest is halted
  userspace_instructions     valgrind --tool=callgrind: the VMM's userspace
                             instructions (all threads) from exec to exit,
                             booting hello.elf

Each benchmark ends with `bench <name>: <value> <unit> (<ratio>x of
raw-kvm)`. A missed goal prints GOAL MISSED but is not an error: the exit
status is non-zero only when something could not be measured.

Python standard library only. Timing and peak RSS come from
build/bench/spawn_timed (see spawn_timed.c for why not subprocess).
"""
import argparse
import datetime
import json
import math
import os
import platform
import re
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

GOAL_STARTUP_RATIO = 1.2
GOAL_RSS_OVERHEAD_MIB = 2.0
GOAL_INSTRUCTIONS = 1_000_000

MEMORY = "128M"
HELLO_OUTPUT = "hello from the guest"
FIRST_OUTPUT = "!"
RUN_TIMEOUT_S = 60
SPAWN_LINE = re.compile(
    r"\nspawn: first_output_ns=(-?\d+) exit_ns=(\d+) maxrss_kib=(\d+) cpu_us=(\d+) csw=(\d+) "
    r"status=(\d+)\n$")
SKIP_STATUS = 77  # meson's "test skipped"


class BenchError(Exception):
    pass


class Vmm:
    """One VMM under test: how to boot an image, and what exit status a
    guest that exits with 0 produces."""

    def __init__(self, name, argv_fn, ok_status, park_status):
        self.name = name
        self.argv = argv_fn
        self.ok_status = ok_status
        self.park_status = park_status


def build_vmms(build, with_qemu):
    vmms = [
        Vmm("kvmrun",
            lambda img: [os.path.join(build, "kvmrun"), "--kernel", img,
                         "--cpus", "1", "--memory", MEMORY],
            0, {128 + signal.SIGTERM}),
        Vmm("raw-kvm",
            lambda img: [os.path.join(build, "bench", "raw_kvm"), img],
            0, {-signal.SIGTERM}),
    ]
    if with_qemu:
        # isa-debug-exit makes QEMU exit with (code << 1) | 1 = 1.
        vmms.append(Vmm("qemu-microvm",
                        lambda img: [with_qemu, "-M", "microvm", "-enable-kvm", "-cpu", "host",
                                     "-m", MEMORY, "-smp", "1", "-nodefaults",
                                     "-no-user-config", "-display", "none",
                                     "-serial", "stdio",
                                     "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
                                     "-kernel", img],
                        1, {0, -signal.SIGTERM}))
    return vmms


# ---- statistics -----------------------------------------------------------

def p90(values):
    """Nearest-rank 90th percentile."""
    s = sorted(values)
    return s[max(0, math.ceil(0.9 * len(s)) - 1)]


def ratio(a, b):
    return a / b if b else float("inf")


def goal_line(met, text):
    return f"goal: {text}: {'met' if met else 'GOAL MISSED'}"


# ---- running --------------------------------------------------------------

def spawn(spawn_timed, argv, expect):
    """One timed run. Returns (first_output_ms, exit_ms, maxrss_kib, cpu_ms,
    context_switches, status)."""
    try:
        p = subprocess.run([spawn_timed] + argv, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise BenchError(f"{' '.join(argv)}: no exit within {RUN_TIMEOUT_S} s")
    out = p.stdout.decode(errors="replace")
    m = SPAWN_LINE.search(out)
    if p.returncode != 0 or not m:
        raise BenchError(f"spawn_timed {' '.join(argv)} failed ({p.returncode}): "
                         f"{p.stderr.decode(errors='replace').strip()}")
    guest_out = out[:m.start()]
    if expect not in guest_out:
        raise BenchError(f"{' '.join(argv)}: expected {expect!r} on the console, got "
                         f"{guest_out[-200:]!r}; stderr: "
                         f"{p.stderr.decode(errors='replace').strip()[-300:]}")
    first, exit_ns, rss, cpu_us, csw, status = (int(g) for g in m.groups())
    return (first / 1e6 if first >= 0 else None, exit_ns / 1e6, rss, cpu_us / 1e3, csw, status)


def timed_runs(spawn_timed, vmms, guests, runs, warmup):
    """Run every (vmm, guest) pair runs + warmup times. Each round runs all
    VMMs back to back, starting with a different one each round, so all of
    them share the machine's noise. Returns {(vmm, guest): [results]}."""
    results = {(v.name, g): [] for v in vmms for g in guests}
    for i in range(warmup + runs):
        order = vmms[i % len(vmms):] + vmms[:i % len(vmms)]
        for guest, (image, expect) in guests.items():
            for v in order:
                r = spawn(spawn_timed, v.argv(image), expect)
                if r[5] != v.ok_status:
                    raise BenchError(f"{v.name} booting {image}: exit status {r[5]}, "
                                     f"expected {v.ok_status}")
                if i >= warmup:
                    results[(v.name, guest)].append(r)
    return results


def read_kib_fields(path, names):
    fields = {}
    with open(path) as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in names:
                fields[key] = int(rest.split()[0])
    return fields


def read_smaps(pid):
    """[(rss_kib, mapping name)] for every mapping with resident pages."""
    maps, name = [], None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            parts = line.split()
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                name = parts[5] if len(parts) > 5 else "[anon]"
                if len(parts) > 6:
                    name += " " + " ".join(parts[6:])
            elif parts and parts[0] == "Rss:" and int(parts[1]) > 0:
                maps.append((int(parts[1]), name))
    return maps


def park_memory(vmm, image):
    """Boot the park guest, wait for its byte, read the VMM's memory from
    /proc while the vCPU is halted, then SIGTERM it."""
    p = subprocess.Popen(vmm.argv(image), stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        ready, _, _ = select.select([p.stdout], [], [], RUN_TIMEOUT_S)
        if not ready or os.read(p.stdout.fileno(), 1) != FIRST_OUTPUT.encode():
            raise BenchError(f"{vmm.name}: the park guest printed nothing")
        time.sleep(0.1)  # let the vCPU reach HLT and the VMM its idle wait
        status = read_kib_fields(f"/proc/{p.pid}/status",
                                 {"VmHWM", "VmRSS", "RssAnon", "RssFile", "RssShmem"})
        smaps = read_smaps(p.pid)
        threads = []
        for tid in sorted(os.listdir(f"/proc/{p.pid}/task"), key=int):
            with open(f"/proc/{p.pid}/task/{tid}/comm") as f:
                threads.append(f.read().strip())
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            raise BenchError(f"{vmm.name}: did not stop on SIGTERM")
    if rc not in vmm.park_status:
        raise BenchError(f"{vmm.name}: exit status {rc} after SIGTERM, expected one of "
                         f"{sorted(vmm.park_status)}: {p.stderr.read().decode(errors='replace')}")
    return status, smaps, threads


def callgrind(vmm, image, expect, keep_dir):
    """Total Ir (all threads) of one run under callgrind; the profile is
    kept in keep_dir for callgrind_annotate."""
    out_file = os.path.join(keep_dir, f"callgrind.{vmm.name}.{os.path.basename(image)}")
    argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}"] + vmm.argv(image)
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=10 * RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise BenchError(f"{vmm.name} under callgrind: no exit within {10 * RUN_TIMEOUT_S} s")
    if p.returncode != vmm.ok_status or expect not in p.stdout.decode(errors="replace"):
        raise BenchError(f"{vmm.name} under callgrind booting {image}: status {p.returncode}: "
                         f"{p.stderr.decode(errors='replace').strip()[-500:]}")
    with open(out_file) as f:
        for line in f:
            if line.startswith("summary:"):
                return int(line.split()[1]), out_file
    raise BenchError(f"{out_file}: no summary line")


def short_function_name(fn):
    """'./string/../memset.S:__memset_avx2 [/usr/lib/.../libc.so.6]' ->
    '__memset_avx2 (memset.S, libc.so.6)'."""
    m = re.match(r"^(.*?):(.+?)(?: \[(.*)\])?$", fn)
    if not m:
        return fn
    where = os.path.basename(m.group(1))
    if m.group(3):
        where += ", " + os.path.basename(m.group(3))
    return f"{m.group(2)} ({where})"


def annotate_top(profile, inclusive, only_object=None, count=10):
    """[(Ir, function)] from callgrind_annotate, largest first."""
    p = subprocess.run(["callgrind_annotate", f"--inclusive={'yes' if inclusive else 'no'}",
                        "--threshold=100", "--auto=no", profile],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    rows = []
    for line in p.stdout.splitlines():
        m = re.match(r"^\s*([\d,]+) \(\s*[\d.]+%\)\s+(\S.*)$", line)
        if not m or "PROGRAM TOTALS" in line:
            continue
        fn = m.group(2)
        if fn.startswith(("=>", "<", "*")):  # call-graph lines, not functions
            continue
        if only_object and not fn.endswith(f"[{only_object}]"):
            continue
        rows.append((int(m.group(1).replace(",", "")), short_function_name(fn)))
    rows.sort(key=lambda r: -r[0])
    return rows[:count]


# ---- reporting ------------------------------------------------------------

def print_time_table(results, vmms, guest, index, label):
    print(f"  {label:<40} {'median':>9} {'p90':>9} {'min':>9}   (ms, n={len(results[(vmms[0].name, guest)])})")
    for v in vmms:
        vals = [r[index] for r in results[(v.name, guest)]]
        print(f"  {v.name:<40} {statistics.median(vals):9.2f} {p90(vals):9.2f} {min(vals):9.2f}")


def median_of(results, vmm, guest, index):
    return statistics.median(r[index] for r in results[(vmm, guest)])


def report_first_instruction(results, vmms):
    kvmrun, raw = vmms[0], vmms[1]
    print("== startup_first_instruction: exec -> the guest's first instruction")
    print("   (first.elf writes one byte to COM1 before anything else: time until the")
    print("   VMM's stdout delivers it; the same runs' exit times for reference)")
    print_time_table(results, vmms, "first", 0, "exec -> first guest output")
    print_time_table(results, vmms, "first", 1, "exec -> exit (first.elf)")
    k = median_of(results, kvmrun.name, "first", 0)
    r = ratio(k, median_of(results, raw.name, "first", 0))
    print(goal_line(r <= GOAL_STARTUP_RATIO, f"kvmrun <= {GOAL_STARTUP_RATIO}x raw-kvm"))
    print(f"bench startup_first_instruction: {k:.2f} ms ({r:.2f}x of raw-kvm)")
    print()


def report_to_exit(results, vmms):
    kvmrun, raw = vmms[0], vmms[1]
    print("== startup_to_exit: exec -> exit, booting build/guest/hello.elf")
    print_time_table(results, vmms, "hello", 0, "exec -> first guest output")
    print_time_table(results, vmms, "hello", 1, "exec -> exit (hello.elf)")
    print("  CPU time (user + sys; guest time counts as user) and context switches, medians:")
    print(f"  {'':<24} {'CPU ms first.elf':>17} {'hello.elf':>10} {'switches first.elf':>20} {'hello.elf':>10}")
    for v in vmms:
        cpu = [median_of(results, v.name, g, 3) for g in ("first", "hello")]
        csw = [median_of(results, v.name, g, 4) for g in ("first", "hello")]
        print(f"  {v.name:<24} {cpu[0]:17.2f} {cpu[1]:10.2f} {csw[0]:20g} {csw[1]:10g}")
    k = median_of(results, kvmrun.name, "hello", 1)
    r = ratio(k, median_of(results, raw.name, "hello", 1))
    print(goal_line(r <= GOAL_STARTUP_RATIO, f"kvmrun <= {GOAL_STARTUP_RATIO}x raw-kvm"))
    print(f"bench startup_to_exit: {k:.2f} ms ({r:.2f}x of raw-kvm)")
    print()


def report_rss(results, vmms, park_image):
    kvmrun, raw = vmms[0], vmms[1]
    print("== rss_overhead: peak RSS (ru_maxrss), booting hello.elf to its exit")
    print(f"  {'':<24} {'median':>10} {'min':>10} {'max':>10}   (MiB)")
    for v in vmms:
        vals = [r[2] / 1024 for r in results[(v.name, "hello")]]
        print(f"  {v.name:<24} {statistics.median(vals):10.2f} {min(vals):10.2f} {max(vals):10.2f}")
    first_rss = {v.name: median_of(results, v.name, "first", 2) / 1024 for v in vmms}
    print("  the same with first.elf: " +
          ", ".join(f"{n} {m:.2f}" for n, m in first_rss.items()) + " MiB")

    print("  memory while the park guest is halted (/proc/PID/status; guest RAM is the")
    print("  memfd, i.e. RssShmem; VMM memory = RssAnon + RssFile):")
    print(f"  {'':<24} {'VmHWM':>8} {'VmRSS':>8} {'RssAnon':>8} {'RssFile':>8} "
          f"{'RssShmem':>9}   (KiB)  threads")
    parked = {}
    for v in vmms:
        status, smaps, threads = park_memory(v, park_image)
        parked[v.name] = smaps
        print(f"  {v.name:<24} {status.get('VmHWM', 0):8} {status.get('VmRSS', 0):8} "
              f"{status.get('RssAnon', 0):8} {status.get('RssFile', 0):8} "
              f"{status.get('RssShmem', 0):9}          {', '.join(threads)}")
    for v in (kvmrun, raw):
        by_name = {}
        for rss, name in parked[v.name]:
            name = os.path.basename(name) if name.startswith("/") else name
            by_name[name] = by_name.get(name, 0) + rss
        print(f"  {v.name}'s resident memory by mapping, parked (KiB): " +
              ", ".join(f"{name} {rss}" for name, rss in
                        sorted(by_name.items(), key=lambda m: -m[1])))

    k = median_of(results, kvmrun.name, "hello", 2) / 1024
    r = median_of(results, raw.name, "hello", 2) / 1024
    print(goal_line(k - r <= GOAL_RSS_OVERHEAD_MIB,
                    f"kvmrun peak RSS <= raw-kvm's + {GOAL_RSS_OVERHEAD_MIB:g} MiB"))
    print(f"bench rss_overhead: {k - r:.2f} MiB ({ratio(k, r):.2f}x of raw-kvm)")
    print()


def report_instructions(vmms, guests, build, keep, show_path):
    kvmrun, raw = vmms[0], vmms[1]
    print("== userspace_instructions: valgrind --tool=callgrind, Ir of all threads, exec -> exit")
    counts = {}
    print(f"  {'':<24} {'hello.elf':>14} {'first.elf':>14}")
    for v in vmms:
        row = []
        for guest in ("hello", "first"):
            image, expect = guests[guest]
            # Two runs of the small VMMs: their counts agree to a few
            # hundred instructions; the table shows the larger.
            n_runs = 1 if v.name == "qemu-microvm" else 2
            counts[(v.name, guest)] = max(callgrind(v, image, expect, keep)[0]
                                          for _ in range(n_runs))
            row.append(counts[(v.name, guest)])
        print(f"  {v.name:<24} {row[0]:14,} {row[1]:14,}")
    profile = os.path.join(keep, f"callgrind.kvmrun.{os.path.basename(guests['hello'][0])}")
    print("  kvmrun booting hello.elf, top functions by self Ir" +
          (f" (profile: {profile}):" if show_path else ":"))
    for ir, fn in annotate_top(profile, inclusive=False, count=8):
        print(f"    {ir:12,}  {fn}")
    print("  kvmrun's own functions by inclusive Ir:")
    for ir, fn in annotate_top(profile, inclusive=True,
                               only_object=os.path.join(build, "kvmrun"), count=12):
        print(f"    {ir:12,}  {fn}")
    k = counts[(kvmrun.name, "hello")]
    r = ratio(k, counts[(raw.name, "hello")])
    print(goal_line(k <= GOAL_INSTRUCTIONS, f"kvmrun <= {GOAL_INSTRUCTIONS:,} instructions"))
    print(f"bench userspace_instructions: {k} instr ({r:.2f}x of raw-kvm)")


def host_description():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{platform.node()}, Linux {platform.release()}, {model}, {os.cpu_count()} CPUs"


def build_options(build):
    try:
        with open(os.path.join(build, "meson-info", "intro-buildoptions.json")) as f:
            return {o["name"]: o["value"] for o in json.load(f)}
    except (OSError, ValueError, KeyError):
        return {}


def source_revision(root):
    try:
        rev = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--", "src"],
                               capture_output=True, text=True).stdout.strip()
        return rev + (" (src/ modified)" if dirty else "")
    except OSError:
        return "unknown"


def kvm_usable():
    try:
        fd = os.open("/dev/kvm", os.O_RDWR)
    except OSError:
        return False
    os.close(fd)
    return True


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", default=os.path.join(root, "build"),
                    help="meson build directory (default: build)")
    ap.add_argument("--runs", type=int, default=30, help="timed runs per VMM and guest (30)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed runs first (3)")
    ap.add_argument("--no-qemu", action="store_true", help="leave QEMU out")
    ap.add_argument("--no-callgrind", action="store_true", help="skip instruction counts")
    ap.add_argument("--profile-dir", help="keep the callgrind profiles here")
    ap.add_argument("--cpu", type=int,
                    help="pin everything to this CPU (a diagnostic: takes cross-CPU "
                         "wake-ups out of the timings)")
    ap.add_argument("--smoke", action="store_true",
                    help="one run of each, no QEMU or callgrind: check the benchmark works")
    args = ap.parse_args()
    if args.smoke:
        args.runs, args.warmup, args.no_qemu, args.no_callgrind = 1, 0, True, True
    if args.runs < 1 or args.warmup < 0:
        raise BenchError("--runs must be at least 1 and --warmup at least 0")

    build = os.path.abspath(args.build_dir)
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})  # inherited by every child
    if not kvm_usable():
        print("startup.py: /dev/kvm is not usable here: benchmark SKIPPED", file=sys.stderr)
        return SKIP_STATUS
    opts = build_options(build)
    sanitize = opts.get("b_sanitize", "none")
    if sanitize != "none" and not args.smoke:
        raise BenchError(f"{build} is built with b_sanitize={sanitize}: benchmark a build "
                         f"without sanitizers (e.g. the default build/)")
    spawn_timed = os.path.join(build, "bench", "spawn_timed")
    images = {
        "first": os.path.join(build, "bench", "first.elf"),
        "hello": os.path.join(build, "guest", "hello.elf"),
        "park": os.path.join(build, "bench", "park.elf"),
    }
    for path in [spawn_timed, os.path.join(build, "kvmrun"),
                 os.path.join(build, "bench", "raw_kvm")] + list(images.values()):
        if not os.path.exists(path):
            raise BenchError(f"{path} is missing: build first (ninja -C {args.build_dir})")
    qemu = None if args.no_qemu else shutil.which("qemu-system-x86_64")
    if not args.no_callgrind and not shutil.which("valgrind"):
        raise BenchError("valgrind is not installed (scripts/install-deps.sh --bench), "
                         "or pass --no-callgrind")
    vmms = build_vmms(build, qemu)
    kvmrun, raw = vmms[0], vmms[1]

    print(f"kvmrun start-up benchmark, {datetime.datetime.now().isoformat(timespec='seconds')}")
    print(f"host: {host_description()}")
    print(f"kvmrun {source_revision(root)}, build {args.build_dir} "
          f"(buildtype {opts.get('buildtype', '?')}, b_sanitize {sanitize})")
    print(f"VM: 1 vCPU, {MEMORY} RAM; {args.runs} timed runs per VMM and guest after "
          f"{args.warmup} warm-up rounds, VMMs alternating"
          + ("" if qemu else "; QEMU left out")
          + (f"; everything pinned to CPU {args.cpu}" if args.cpu is not None else ""))
    print()

    guests = {"first": (images["first"], FIRST_OUTPUT), "hello": (images["hello"], HELLO_OUTPUT)}
    results = timed_runs(spawn_timed, vmms, guests, args.runs, args.warmup)
    report_first_instruction(results, vmms)
    report_to_exit(results, vmms)
    report_rss(results, vmms, images["park"])
    if args.no_callgrind:
        print("== userspace_instructions: skipped (--no-callgrind)")
        return 0
    keep = args.profile_dir or tempfile.mkdtemp(prefix="kvmrun-bench-")
    os.makedirs(keep, exist_ok=True)
    try:
        report_instructions(vmms, guests, build, keep, bool(args.profile_dir))
    finally:
        if not args.profile_dir:
            shutil.rmtree(keep, ignore_errors=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print(f"startup.py: error: {e}", file=sys.stderr)
        sys.exit(1)
