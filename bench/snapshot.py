#!/usr/bin/env python3
"""kvmrun snapshot benchmark (bench/README.md, "Snapshot benchmark"; issue 6
item 6, DESIGN.md principle 4: measure each piece).

build/guest/snapshot_bench.elf fills its RAM with a non-zero pattern at
CPL 3 and then prints "tick N" every tick_us. For each guest size (256 MiB,
1 GiB, 4 GiB) the script boots it once under kvmrun with
--snapshot-on-signal ...,then=continue --snapshot-timing and, in the same
run, under QEMU (bench/snapshot_qemu.py), and measures:

  save     SIGUSR1 -> kvmrun's per-component times (pause, devices, each
           vCPU's ioctl groups, VM state, memory file, state file) and
           pause -> saved, with the files on a disk file system and on
           tmpfs, alternately, `runs` times each
  restore  a fresh `kvmrun --restore STATE --memory-file MEM
           --memory-backend B --resume` per back-end and file system,
           `runs` times: kvmrun's per-component times, its restore ->
           first KVM_RUN, and spawn -> the guest's first new tick line on
           the console (from outside); the ticks must continue from the
           saved one, and one restore per size and back-end checks the
           whole RAM ('v' on the guest's console)
  QEMU     migration of the same guest to a file and back
           (snapshot_qemu.measure_size), the reference

and checks the goals: restore -> running <= 5 ms for the lazy back-ends
and flat across sizes (4 GiB <= 1.5x 256 MiB); state-file save <= 5 ms;
>= 10x faster than QEMU's restore at 1 GiB.

A back-end the build refuses (uffd before its branch is merged) is
reported as "not available in this build". Standard library only. Exit
status: 0 measured (a missed goal prints GOAL MISSED but is not an error),
1 something could not be measured, 77 (skipped) without /dev/kvm.
"""
import argparse
import ctypes
import datetime
import fcntl
import os
import re
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import exits  # noqa: E402
import snapshot_qemu as sq  # noqa: E402
import startup  # noqa: E402

BenchError = startup.BenchError

SKIP_STATUS = 77
GOAL_RESTORE_MS = 5.0
GOAL_FLAT_RATIO = 1.5          # largest size / smallest size
GOAL_STATE_FILE_MS = 5.0
GOAL_VS_QEMU = 10.0            # QEMU's restore / kvmrun's, at 1 GiB
GOAL_VS_QEMU_SIZE = "1g"
BACKENDS = ("private", "uffd")
LAZY_BACKENDS = {"private", "uffd"}   # MAP_PRIVATE maps pages on demand, uffd faults them in
DEFAULT_RUNS = {"256m": 3, "1g": 3, "4g": 2}
# Restores are cheap next to saves (a 4 GiB save writes 4 GiB): more of
# them make the restore medians steadier.
DEFAULT_RESTORES = 5
TMPFS_DIR = "/dev/shm"
RESTORE_TIMEOUT_S = 60
VERIFY_TIMEOUT_S = 600

TIMING = re.compile(r"^kvmrun: snapshot-timing: (save|restore) (.+) (\d+(?:\.\d+)?) us$", re.M)
SAVED = re.compile(r"^kvmrun: snapshot: saved .* in (\d+\.\d+) ms "
                   r"\(vCPUs paused in (\d+\.\d+) ms\)$", re.M)
SAVE_FAILED = re.compile(r"^kvmrun: error: snapshot.*$", re.M)
ENTERED = re.compile(r"restore: vCPU 0 entered the guest (\d+\.\d+) ms after the restore began")
UFFD_STAT = re.compile(r"^kvmrun: memory backend uffd: (.*)$|^memory backend uffd: (.*)$", re.M)
FILLED = re.compile(r"snapshot_bench: filled (\d+) MiB in (\d+) ms")
MIB = 1 << 20


def now_ms():
    return time.monotonic_ns() / 1e6


def component_key(name):
    """"memory file (250 MiB in 14 runs)" -> ("memory file", "250 MiB in 14
    runs"); "vcpu0 msrs(41)" -> ("vcpu0 msrs", "41")."""
    m = re.match(r"^(.*?)\s*\((.*)\)?$", name)
    if not m:
        return name, ""
    return m.group(1), m.group(2).rstrip(")")


def parse_timings(text, phase):
    """{component: us} and {component: detail} of one save or restore."""
    times, details = {}, {}
    for ph, name, us in TIMING.findall(text):
        if ph != phase:
            continue
        key, detail = component_key(name)
        times[key] = float(us)
        if detail:
            details[key] = detail
    return times, details


def last_tick(text):
    ticks = sq.TICK.findall(text)
    return int(ticks[-1]) if ticks else None


# ---- one kvmrun process -----------------------------------------------------

class Kvmrun:
    """kvmrun with its console (stdout) and log (stderr) read by threads
    that timestamp each chunk (snapshot_qemu.Console)."""

    def __init__(self, argv):
        self.argv = argv
        self.t_spawn = now_ms()
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, close_fds=True)
        self.console = sq.Console(self.proc.stdout)
        self.log = sq.Console(self.proc.stderr)

    def log_text(self):
        return self.log.text().decode(errors="replace")

    def wait_log(self, regex, count, timeout, what):
        """Wait until `regex` matched `count` times in the log; returns the
        last match."""
        def found(chunks):
            ms = list(regex.finditer(b"".join(c for _, c in chunks).decode(errors="replace")))
            return ms[count - 1] if len(ms) >= count else None
        try:
            return self.log.wait(found, timeout, what)
        except BenchError as e:
            raise BenchError(f"{e}; kvmrun's log ends {self.log_text()[-400:]!r}") from None

    def stop(self):
        """SIGTERM (kvmrun stops the VM and prints its statistics), then the
        exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.console.thread.join(5)
        self.log.thread.join(5)
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


# ---- save -------------------------------------------------------------------

class SnapshotDirs:
    """Where the snapshots go. kvmrun takes one --snapshot-on-signal path
    per process; to save the same running guest alternately to a disk file
    system and to tmpfs, that path goes through a symbolic link (`cur`)
    that is pointed at one directory or the other before each SIGUSR1.
    kvmrun writes a temporary file next to the target and renames it, so
    both stay inside the directory the link names at that moment."""

    def __init__(self, fs_dirs):
        self.base = tempfile.mkdtemp(prefix="kvmrun-bench-snapshot-")
        self.link = os.path.join(self.base, "cur")
        self.dirs = {}
        for fs, parent in fs_dirs.items():
            self.dirs[fs] = tempfile.mkdtemp(prefix="kvmrun-bench-snapshot-", dir=parent)

    def point_at(self, fs):
        tmp = self.link + ".new"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(self.dirs[fs], tmp)
        os.replace(tmp, self.link)

    def state(self, fs=None):
        return os.path.join(self.dirs[fs] if fs else self.link, "snap.state")

    def memory(self, fs=None):
        return os.path.join(self.dirs[fs] if fs else self.link, "snap.mem")

    def clear(self):
        for d in self.dirs.values():
            for name in os.listdir(d):
                os.unlink(os.path.join(d, name))

    def remove(self):
        for d in list(self.dirs.values()) + [self.base]:
            shutil.rmtree(d, ignore_errors=True)


def boot(kvmrun, image, memory_mib, dirs, cmdline):
    """kvmrun runs the guest until it has filled its RAM and ticks."""
    vm = Kvmrun([kvmrun, "--kernel", image, "--memory", f"{memory_mib}M", "--cmdline", cmdline,
                 "--snapshot-on-signal", f"{dirs.state()},mem={dirs.memory()},then=continue",
                 "--snapshot-timing"])
    try:
        timeout = 30 + sq.FILL_TIMEOUT_S_PER_GIB * max(1, memory_mib // 1024)
        vm.console.wait_text(sq.READY_LINE, timeout)
        vm.console.wait(lambda chunks: sq.TICK.search(b"".join(c for _, c in chunks)),
                        sq.QMP_TIMEOUT_S, "waiting for the guest's first tick")
    except BenchError as e:
        vm.kill()
        raise BenchError(f"{e}; kvmrun's log: {vm.log_text()[-400:]!r}") from None
    except BaseException:
        vm.kill()
        raise
    return vm


def save_once(vm, dirs, fs, n_saved):
    """SIGUSR1 with the snapshot path on `fs`; returns the save's figures.
    `n_saved` saves happened before in this process."""
    dirs.point_at(fs)
    before = vm.console.text()
    log_at = len(vm.log.text())
    os.kill(vm.proc.pid, signal.SIGUSR1)
    m = vm.wait_log(SAVED, n_saved + 1, sq.MIGRATE_TIMEOUT_S, f"waiting for save {n_saved + 1}")
    text = vm.log.text()[log_at:].decode(errors="replace")
    failed = SAVE_FAILED.search(text)
    if failed:
        raise BenchError(f"kvmrun: {failed.group(0)}")
    times, details = parse_timings(text, "save")
    # The guest runs on (then=continue): a tick after the save before the
    # next one.
    seen = len(vm.console.text())
    vm.console.wait(lambda chunks: sq.TICK.search(b"".join(c for _, c in chunks)[seen:]),
                    sq.QMP_TIMEOUT_S, "waiting for the guest to tick after the save")
    for need in ("pause", "memory file", "state file", "total pause->saved"):
        if need not in times:
            raise BenchError(f"save: no '{need}' in kvmrun's --snapshot-timing lines: "
                             f"{text[-600:]!r}")
    return {
        "times": times, "details": details,
        "saved_ms": float(m.group(1)), "paused_ms": float(m.group(2)),
        "state_bytes": os.stat(dirs.state(fs)).st_size,
        "memory_file_bytes": os.stat(dirs.memory(fs)).st_size,
        "memory_file_alloc": os.stat(dirs.memory(fs)).st_blocks * 512,
        "saved_tick": last_tick(before), "console_at_signal": len(before),
        "console": None,   # the whole transcript, once the process is gone
    }


# ---- restore ----------------------------------------------------------------

class NotAvailable(Exception):
    pass


def restore_once(kvmrun, state, memory, backend, saved, verify):
    """A fresh kvmrun restores `state` with `backend` and runs on. Returns
    its figures; checks that the ticks continue from the saved one."""
    vm = Kvmrun([kvmrun, "--restore", state, "--memory-file", memory, "--memory-backend",
                 backend, "--resume", "--snapshot-timing"])
    try:
        try:
            m = vm.wait_log(ENTERED, 1, RESTORE_TIMEOUT_S, f"restore ({backend})")
        except BenchError:
            status = vm.proc.poll()
            log = vm.log_text()
            if status == 2 and "--memory-backend" in log:
                raise NotAvailable(log.strip().splitlines()[-1]) from None
            raise
        t_first_out = vm.console.first_output_after(0, RESTORE_TIMEOUT_S)

        def first_tick(chunks):
            # The first whole line: the save may have cut one, whose rest
            # comes first here.
            t = sq.TICK.search(b"".join(c for _, c in chunks))
            if not t:
                return None
            # Arrival of the chunk that completed the line.
            total = 0
            for when, c in chunks:
                total += len(c)
                if total >= t.end():
                    return (int(t.group(1)), when, t.end())
            return None
        tick, t_tick, end = vm.console.wait(first_tick, RESTORE_TIMEOUT_S,
                                            "waiting for the restored guest's first tick")
        check_continuity(saved, vm.console.text()[:end], backend)
        verified = None
        if verify:
            verified = sq.check_memory(vm)
        status = vm.stop()
        log = vm.log_text()
        if status not in (0, 128 + signal.SIGTERM, -signal.SIGTERM):
            raise BenchError(f"restored kvmrun ({backend}) exited with status {status}: "
                             f"{log[-400:]!r}")
        times, details = parse_timings(log, "restore")
        if "total restore->ready" not in times:
            raise BenchError(f"restore: no 'total restore->ready' timing line: {log[-600:]!r}")
        return {
            "times": times, "details": details,
            "entered_ms": float(m.group(1)),
            "spawn_to_output_ms": t_first_out - vm.t_spawn,
            "spawn_to_tick_ms": t_tick - vm.t_spawn,
            "tick": tick, "verified_mib": verified,
            "uffd": [a or b for a, b in UFFD_STAT.findall(log)],
        }
    finally:
        vm.kill()


def check_continuity(saved, restored, backend):
    """The restored guest goes on exactly where the saved one was paused:
    the original, resumed after the same save (then=continue), printed the
    same bytes from that point, so the restored console's beginning (up to
    its first whole tick line; tick numbers never repeat) must appear in
    the original's transcript after what it had printed when SIGUSR1 was
    sent. Where the console reader lagged does not matter, as it would for
    a comparison of tick numbers."""
    at = saved["console"].find(restored, saved["console_at_signal"])
    if at < 0:
        raise BenchError(f"restored guest ({backend}) began its output with {restored[-40:]!r},"
                         f" which the original never printed after tick {saved['saved_tick']}: "
                         f"its state did not survive the round trip")


# Seconds between the original guest's exit and the first restore.
SETTLE_S = 3.0

# ---- the kernel's part ----------------------------------------------------

# kvmrun's --snapshot-timing step for its KVM_SET_USER_MEMORY_REGION calls.
SLOTS_STEP = "vm memory slots"

KVM_CREATE_VM = 0xAE01
KVM_SET_USER_MEMORY_REGION = 0x4020AE46   # _IOW(KVMIO, 0x46, struct kvm_userspace_memory_region)
MAP_PRIVATE, MAP_ANONYMOUS, MAP_NORESERVE = 0x02, 0x20, 0x4000
PROT_RW = 0x3
MMIO_HOLE_START = 0xD0000000              # src/layout.h LAYOUT_MMIO_HOLE_START


def slot_cost_once(libc, size):
    """One fresh VM with `size` bytes of RAM in kvmrun's slots: wall and CPU
    ms of the KVM_SET_USER_MEMORY_REGION calls."""
    addr = libc.mmap(None, size, PROT_RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
    if addr in (None, ctypes.c_void_p(-1).value):
        raise BenchError(f"mmap of {size >> 20} MiB: {os.strerror(ctypes.get_errno())}")
    kvm = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    vm = fcntl.ioctl(kvm, KVM_CREATE_VM, 0)
    # kvmrun's layout (src/layout.h): RAM below the device hole at
    # 3.25 GiB, the rest from 4 GiB.
    low = min(size, MMIO_HOLE_START)
    regions = [struct.pack("IIQQQ", 0, 0, 0, low, addr)]
    if size > low:
        regions.append(struct.pack("IIQQQ", 1, 0, 4 << 30, size - low, addr + low))
    t, c = time.perf_counter(), time.thread_time()
    for region in regions:
        fcntl.ioctl(vm, KVM_SET_USER_MEMORY_REGION, region)
    return (time.perf_counter() - t) * 1e3, (time.thread_time() - c) * 1e3


def kvm_slot_cost(memory_mib, reps=5):
    """What KVM_SET_USER_MEMORY_REGION costs for `memory_mib` MiB laid out
    in slots as kvmrun does, without kvmrun: the first VM of a fresh
    (forked) process each time, as a restore's is (a later VM in the same
    process reuses what the kernel freed and pays less). Median wall and
    CPU ms. Every VM a restore builds pays it; where KVM keeps per-page
    metadata for a slot (rmaps, on a host that shadows guest page tables),
    it grows with the slot, whatever the VMM does."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    walls, cpus = [], []
    for _ in range(reps):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            try:
                wall, cpu = slot_cost_once(libc, memory_mib * MIB)
                os.write(w, f"{wall} {cpu}".encode())
            finally:
                os._exit(0)
        os.close(w)
        with os.fdopen(r, "rb") as f:
            out = f.read().split()
        os.waitpid(pid, 0)
        if len(out) != 2:
            raise BenchError(f"the memory-slot measurement for {memory_mib} MiB failed")
        walls.append(float(out[0]))
        cpus.append(float(out[1]))
    return {"wall_ms": statistics.median(walls), "cpu_ms": statistics.median(cpus)}


# ---- one size ---------------------------------------------------------------

def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def measure_size(kvmrun, image, memory_mib, runs, restores_per_cell, fs_dirs, backends, tick_us,
                 verify, log):
    """kvmrun's saves (`runs` per file system, alternating) of one booted
    guest, then `restores_per_cell` restores per back-end and file system,
    round-robin, from the last save on each."""
    dirs = SnapshotDirs(fs_dirs)
    cmdline = sq.guest_cmdline(tick_us)
    saves = {fs: [] for fs in fs_dirs}
    restores = {}
    unavailable = {}
    try:
        log(f"  kvmrun, {memory_mib} MiB: booting and filling")
        vm = boot(kvmrun, image, memory_mib, dirs, cmdline)
        try:
            fill = FILLED.search(vm.console.text().decode(errors="replace"))
            n = 0
            for i in range(runs):
                for fs in fs_dirs:
                    s = save_once(vm, dirs, fs, n)
                    n += 1
                    saves[fs].append(s)
                    log(f"    save {i + 1}/{runs} ({fs}): pause -> saved "
                        f"{s['times']['total pause->saved'] / 1000:.1f} ms, state file "
                        f"{s['times']['state file'] / 1000:.2f} ms")
        finally:
            vm.stop()
        transcript = vm.console.text()
        for runs_on_fs in saves.values():
            for s in runs_on_fs:
                s["console"] = transcript
        # The original's exit frees its RAM and the disk save's pages are
        # still being written back: the first restore after it ran slower
        # in every step (state file read 1.3 ms instead of 0.18 at 4 GiB).
        # Wait, and take the restores round-robin so that whatever is left
        # falls on every back-end and file system alike.
        time.sleep(SETTLE_S)
        order = [(b, fs) for b in backends for fs in fs_dirs]
        for key in order:
            restores[key] = []
        for i in range(restores_per_cell):
            for backend, fs in order:
                if backend in unavailable:
                    continue
                saved = saves[fs][-1]
                # The whole RAM is checked once per size and back-end (it
                # takes seconds per GiB), after the timing.
                check = verify and i == 0 and fs == list(fs_dirs)[-1]
                try:
                    r = restore_once(kvmrun, dirs.state(fs), dirs.memory(fs), backend,
                                     saved, check)
                except NotAvailable as e:
                    unavailable[backend] = str(e)
                    log(f"    restore {backend}: not available in this build ({e})")
                    for f in fs_dirs:
                        restores.pop((backend, f), None)
                    continue
                restores[(backend, fs)].append(r)
                log(f"    restore {i + 1}/{restores_per_cell} ({backend}, {fs}): -> first KVM_RUN "
                    f"{r['entered_ms']:.2f} ms, spawn -> tick {r['spawn_to_tick_ms']:.1f} ms"
                    + (f", {r['verified_mib']} MiB checked" if r["verified_mib"] else ""))
    finally:
        dirs.remove()
    return {"memory_mib": memory_mib, "runs": runs, "restores_per_cell": restores_per_cell,
            "saves": saves, "restores": restores,
            "unavailable": unavailable,
            "fill": f"filled {fill.group(1)} MiB in {fill.group(2)} ms" if fill else ""}


# ---- report -----------------------------------------------------------------

def fmt(v, digits=1):
    return "-" if v is None else f"{v:.{digits}f}"


def component_order(runs_lists):
    order = []
    for runs in runs_lists:
        for r in runs:
            for k in r["times"]:
                if k not in order:
                    order.append(k)
    return order


def print_components(title, columns, runs_by_column):
    """One row per component, one column per (file system / back-end),
    medians in us."""
    order = component_order(runs_by_column.values())
    width = max([len(k) for k in order] + [len(title)]) + 2
    print(f"  {title:<{width}}" + "".join(f"{c:>16}" for c in columns))
    for k in order:
        cells = []
        for c in columns:
            cells.append(fmt(median([r["times"].get(k) for r in runs_by_column[c]])))
        details = {d for c in columns for r in runs_by_column[c] for d in [r["details"].get(k)] if d}
        note = f"   ({'; '.join(sorted(details))})" if len(details) == 1 else ""
        print(f"  {k:<{width}}" + "".join(f"{x:>16}" for x in cells) + note)


def size_name(mib):
    return sq.size_name(mib)


def report(res, qemu_res, fs_dirs):
    mib, runs = res["memory_mib"], res["runs"]
    name = size_name(mib)
    print(f"== {name}: {mib} MiB guest ({res['fill']}), medians of {runs} saves and "
          f"{res['restores_per_cell']} restores")
    fss = list(res["saves"])
    print_components("save, per component (us)", [f"{fs}" for fs in fss],
                     {fs: res["saves"][fs] for fs in fss})
    for fs in fss:
        s = res["saves"][fs]
        print(f"  save to {fs} ({fs_dirs[fs]}): pause -> saved "
              f"{fmt(median([r['times']['total pause->saved'] for r in s]) / 1000, 2)} ms, "
              f"state file {fmt(median([r['times']['state file'] for r in s]) / 1000, 3)} ms "
              f"({s[-1]['state_bytes']:,} bytes), memory file "
              f"{fmt(median([r['times']['memory file'] for r in s]) / 1000, 1)} ms "
              f"({s[-1]['memory_file_alloc'] / MIB:.0f} MiB allocated of "
              f"{s[-1]['memory_file_bytes'] / MIB:.0f}); runs, pause -> saved: "
              + ", ".join(fmt(r["times"]["total pause->saved"] / 1000) for r in s) + " ms")
    cols = list(res["restores"])
    if cols:
        labels = [f"{b}/{fs}" for b, fs in cols]
        print_components("restore, per component (us)", labels,
                         {f"{b}/{fs}": res["restores"][(b, fs)] for b, fs in cols})
        for (b, fs) in cols:
            rs = res["restores"][(b, fs)]
            print(f"  restore {b}, files on {fs}: -> first KVM_RUN "
                  f"{fmt(median([r['entered_ms'] for r in rs]), 2)} ms (kvmrun's clock, from "
                  f"machine_create), spawn -> first output "
                  f"{fmt(median([r['spawn_to_output_ms'] for r in rs]), 2)} ms, spawn -> first "
                  f"tick {fmt(median([r['spawn_to_tick_ms'] for r in rs]), 2)} ms; runs, -> "
                  f"first KVM_RUN: " + ", ".join(fmt(r["entered_ms"], 2) for r in rs) + " ms")
            less = [r["entered_ms"] - r["times"][SLOTS_STEP] / 1000 for r in rs
                    if SLOTS_STEP in r["times"]]
            if less:
                print(f"    less each restore's own memory-slot ioctls (\"{SLOTS_STEP}\"): "
                      f"{fmt(median(less), 2)} ms")
            for r in rs:
                if r["verified_mib"]:
                    print(f"    the guest checked its {r['verified_mib']} MiB after a restore: "
                          f"pattern intact")
            uffd = [r["uffd"] for r in rs if r["uffd"]]
            if uffd:
                for line in uffd[-1]:
                    print(f"    last run: uffd {line}")
        print("  every restore: the guest's ticks continue from the saved one")
    slot = res.get("kvm_slot")
    if slot:
        print(f"  the kernel's part, without kvmrun: KVM_SET_USER_MEMORY_REGION for {mib} MiB "
              f"(kvmrun's slots) in a bare VM takes {slot['wall_ms']:.2f} ms "
              f"({slot['cpu_ms']:.2f} ms CPU; median of 5)")
    for b, why in res["unavailable"].items():
        print(f"  restore {b}: not available in this build ({why})")
    if qemu_res:
        m = qemu_res["median"]
        print(f"  QEMU ({qemu_res['fill_line'].strip()}): save (stop -> completed, page cache) "
              f"{m['pause_to_saved_ms']:.1f} ms + fsync {m['fsync_ms']:.1f} ms; restore "
              f"spawn -> running {m['spawn_to_running_ms']:.1f} ms (migrate-incoming -> running "
              f"{m['incoming_to_running_ms']:.1f} ms); file {m['file_bytes'] / MIB:.0f} MiB; "
              f"medians of {qemu_res['runs']}")
    print()


def figures(res, qemu_res):
    """The headline numbers of one size, medians in ms."""
    out = {"save": {}, "state_file": {}, "restore": {}, "restore_spawn": {}, "qemu": None}
    for fs, s in res["saves"].items():
        out["save"][fs] = median([r["times"]["total pause->saved"] for r in s]) / 1000
        out["state_file"][fs] = median([r["times"]["state file"] for r in s]) / 1000
    out["restore_less_slots"] = {}
    for (b, fs), rs in res["restores"].items():
        out["restore"][(b, fs)] = median([r["entered_ms"] for r in rs])
        out["restore_spawn"][(b, fs)] = median([r["spawn_to_tick_ms"] for r in rs])
        # The same restores less their own KVM_SET_USER_MEMORY_REGION
        # calls (kvmrun times them: "vm memory slots"): what kvmrun does.
        less = [r["entered_ms"] - r["times"][SLOTS_STEP] / 1000 for r in rs
                if SLOTS_STEP in r["times"]]
        if less:
            out["restore_less_slots"][(b, fs)] = median(less)
    out["slot"] = res["kvm_slot"]["wall_ms"] if res.get("kvm_slot") else None
    if qemu_res:
        m = qemu_res["median"]
        out["qemu"] = {"save": m["pause_to_saved_ms"], "fsync": m["fsync_ms"],
                       "restore": m["spawn_to_running_ms"],
                       "incoming": m["incoming_to_running_ms"]}
    return out


def goals(all_figs, sizes, qemu_fs):
    lines = []
    if not all_figs:
        return lines
    backends = sorted({b for f in all_figs.values() for (b, _) in f["restore"]})
    for b in backends:
        if b not in LAZY_BACKENDS:
            continue
        for name in sizes:
            f = all_figs.get(name)
            if not f:
                continue
            vals = {fs: v for (bb, fs), v in f["restore"].items() if bb == b}
            if not vals:
                continue
            met = all(v <= GOAL_RESTORE_MS for v in vals.values())
            lines.append(startup.goal_line(
                met, f"restore -> running <= {GOAL_RESTORE_MS:g} ms, {b}, {name}: "
                + ", ".join(f"{fs} files {v:.2f} ms" for fs, v in vals.items())
                + " (kvmrun's clock)"))
        present = [n for n in sizes if n in all_figs and any(bb == b for bb, _ in all_figs[n]["restore"])]
        if len(present) >= 2:
            lo, hi = present[0], present[-1]
            for fs in {fs for (bb, fs) in all_figs[lo]["restore"] if bb == b}:
                a = all_figs[lo]["restore"].get((b, fs))
                z = all_figs[hi]["restore"].get((b, fs))
                if a is None or z is None:
                    continue
                lines.append(startup.goal_line(
                    z <= GOAL_FLAT_RATIO * a,
                    f"restore -> running flat, {b}, {fs} files: {hi} {z:.2f} ms <= "
                    f"{GOAL_FLAT_RATIO:g}x {lo} {a:.2f} ms ({z / a:.2f}x)"))
                la = all_figs[lo]["restore_less_slots"].get((b, fs))
                lz = all_figs[hi]["restore_less_slots"].get((b, fs))
                if la is not None and lz is not None:
                    lines.append(f"  (less each restore's own memory-slot ioctls, \"vm memory "
                                 f"slots\": {lo} {la:.2f} ms, {hi} {lz:.2f} ms, {lz / la:.2f}x)")
                sa, sz = all_figs[lo]["slot"], all_figs[hi]["slot"]
                if sa is not None and sz is not None:
                    lines.append(f"  (the memory slots alone in a bare VM: {lo} {sa:.2f} ms, "
                                 f"{hi} {sz:.2f} ms)")
    for name in sizes:
        f = all_figs.get(name)
        if not f:
            continue
        for fs, v in f["state_file"].items():
            lines.append(startup.goal_line(
                v <= GOAL_STATE_FILE_MS,
                f"state-file save <= {GOAL_STATE_FILE_MS:g} ms, {name}, {fs}: {v:.3f} ms"))
    f = all_figs.get(GOAL_VS_QEMU_SIZE)
    if f and f["qemu"]:
        for (b, fs), v in sorted(f["restore_spawn"].items()):
            if fs != qemu_fs and qemu_fs in {x for _, x in f["restore_spawn"]}:
                continue
            r = f["qemu"]["restore"] / v
            lines.append(startup.goal_line(
                r >= GOAL_VS_QEMU,
                f">= {GOAL_VS_QEMU:g}x faster than QEMU's restore at {GOAL_VS_QEMU_SIZE}, {b}: "
                f"spawn -> running {v:.1f} ms vs QEMU {f['qemu']['restore']:.1f} ms ({r:.0f}x)"))
    elif GOAL_VS_QEMU_SIZE in sizes:
        lines.append(f"goal: >= {GOAL_VS_QEMU:g}x faster than QEMU's restore at "
                     f"{GOAL_VS_QEMU_SIZE}: not checked (no QEMU figures)")
    return lines


def bench_lines(all_figs, sizes):
    out = []
    for name in sizes:
        f = all_figs.get(name)
        if not f:
            continue
        q = f["qemu"]
        for fs, v in f["save"].items():
            ref = f" ({v / q['save']:.3f}x of qemu)" if q else ""
            out.append(f"bench snapshot_save_{name}_{fs}: {v:.2f} ms{ref}")
        for fs, v in f["state_file"].items():
            out.append(f"bench snapshot_state_file_{name}_{fs}: {v:.3f} ms")
        for (b, fs), v in f["restore"].items():
            ref = f" ({v / q['restore']:.4f}x of qemu)" if q else ""
            out.append(f"bench snapshot_restore_{name}_{b}_{fs}: {v:.2f} ms{ref}")
        for (b, fs), v in f["restore_spawn"].items():
            ref = f" ({v / q['restore']:.4f}x of qemu)" if q else ""
            out.append(f"bench snapshot_restore_spawn_{name}_{b}_{fs}: {v:.2f} ms{ref}")
        if q:
            out.append(f"bench snapshot_qemu_save_{name}: {q['save']:.2f} ms")
            out.append(f"bench snapshot_qemu_restore_{name}: {q['restore']:.2f} ms")
    return out


# ---- main -------------------------------------------------------------------

def fs_type(path):
    """The file system type of the mount holding `path` (/proc/self/mounts:
    the longest mount point that is a prefix of its real path)."""
    real, best, kind = os.path.realpath(path), "", "?"
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                fields = line.split()
                if len(fields) < 3:
                    continue
                mnt = fields[1].replace("\\040", " ")
                inside = real == mnt or real.startswith(mnt.rstrip("/") + "/")
                if inside and len(mnt) >= len(best):
                    best, kind = mnt, fields[2]
    except OSError:
        pass
    return kind


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", default=os.path.join(root, "build"),
                    help="meson build directory (default: build)")
    ap.add_argument("--sizes", default="256m,1g,4g",
                    help="guest sizes, of " + ", ".join(sq.SIZES_MIB) + " (default: all)")
    ap.add_argument("--runs", type=int,
                    help="saves per file system (default: 3, and 2 for 4g)")
    ap.add_argument("--restores", type=int,
                    help=f"restores per back-end and file system (default: {DEFAULT_RESTORES}; "
                         "--smoke: 1)")
    ap.add_argument("--backends", default=",".join(BACKENDS),
                    help="restore memory back-ends (default: private,uffd)")
    ap.add_argument("--fs", default="disk,tmpfs",
                    help="where the snapshot files go: disk (--disk-dir), tmpfs (/dev/shm), "
                         "or both (default)")
    ap.add_argument("--disk-dir", default=tempfile.gettempdir(),
                    help="a directory on a disk file system (default: the temp dir)")
    ap.add_argument("--tick-us", type=int, default=sq.DEFAULT_TICK_US,
                    help=f"the guest's tick (default {sq.DEFAULT_TICK_US} us)")
    ap.add_argument("--no-verify", action="store_true",
                    help="skip the restored guest's check of its whole RAM")
    ap.add_argument("--no-qemu", action="store_true", help="leave QEMU out")
    ap.add_argument("--no-callgrind", action="store_true",
                    help="accepted for bench/run.sh (this benchmark counts no instructions)")
    ap.add_argument("--profile-dir", help="accepted for bench/run.sh (no profiles here)")
    ap.add_argument("--smoke", action="store_true",
                    help="256 MiB, one run, no goals: check that the benchmark works")
    args = ap.parse_args()
    if args.smoke:
        args.sizes, args.runs, args.restores = "256m", 1, 1
    sizes = [s.strip().lower() for s in args.sizes.split(",") if s.strip()]
    for s in sizes:
        if s not in sq.SIZES_MIB:
            ap.error(f"--sizes: unknown size {s!r} (one of {', '.join(sq.SIZES_MIB)})")
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    for b in backends:
        if b not in BACKENDS:
            ap.error(f"--backends: unknown back-end {b!r} (one of {', '.join(BACKENDS)})")
    fss = [f.strip() for f in args.fs.split(",") if f.strip()]
    for f in fss:
        if f not in ("disk", "tmpfs"):
            ap.error(f"--fs: unknown file system {f!r} (disk or tmpfs)")
    if not sizes or not backends or not fss:
        ap.error("--sizes, --backends and --fs need at least one value each")
    if args.runs is not None and args.runs < 1:
        ap.error("--runs must be at least 1")
    if args.restores is not None and args.restores < 1:
        ap.error("--restores must be at least 1")
    if args.tick_us < 1:
        ap.error("--tick-us must be at least 1")

    if not startup.kvm_usable():
        print("snapshot.py: /dev/kvm is not usable here: benchmark SKIPPED", file=sys.stderr)
        return SKIP_STATUS
    build = os.path.abspath(args.build_dir)
    sanitize = startup.build_options(build).get("b_sanitize", "none")
    if sanitize != "none" and not args.smoke:
        raise BenchError(f"{build} is built with b_sanitize={sanitize}: benchmark a build "
                         f"without sanitizers (e.g. the default build/)")
    kvmrun = os.path.join(build, "kvmrun")
    image = os.path.join(build, "guest", sq.GUEST_IMAGE)
    for path in (kvmrun, image):
        if not os.path.exists(path):
            raise BenchError(f"{path} is missing: build first (ninja -C {args.build_dir})")
    fs_dirs = {"disk": args.disk_dir, "tmpfs": TMPFS_DIR}
    fs_dirs = {f: fs_dirs[f] for f in fss}
    if "disk" in fs_dirs and fs_type(fs_dirs["disk"]) in ("tmpfs", "ramfs"):
        raise BenchError(f"--disk-dir {fs_dirs['disk']} is on {fs_type(fs_dirs['disk'])}, "
                         f"not a disk")
    qemu = None if args.no_qemu else shutil.which("qemu-system-x86_64")
    qemu_dir = fs_dirs.get("disk", args.disk_dir)
    qemu_fs = "disk" if "disk" in fs_dirs else fss[0]

    print(f"kvmrun snapshot benchmark, {datetime.datetime.now().isoformat(timespec='seconds')}")
    print(f"host: {startup.host_description()}, load average {exits.load_average()}, "
          f"MemAvailable {sq.mem_available_mib()} MiB")
    if os.cpu_count() and float(exits.load_average().split()[0]) > os.cpu_count():
        print("note: the machine is busy (load average above the CPU count): times include "
              "waits for a CPU, and spread from run to run")
    opts = startup.build_options(build)
    print(f"kvmrun {startup.source_revision(root)}, build {build} (buildtype "
          f"{opts.get('buildtype', '?')}, b_sanitize {sanitize})")
    print(f"guest: build/guest/{sq.GUEST_IMAGE} \"{sq.guest_cmdline(args.tick_us)}\", 1 vCPU; "
          f"kvmrun --snapshot-on-signal ...,then=continue --snapshot-timing, restores with "
          f"--resume; back-ends {', '.join(backends)}")
    print("files: " + "; ".join(f"{f} = {d} ({fs_type(d)})" for f, d in fs_dirs.items())
          + "; saves alternate between them, restores from the last save on each (in the "
          "page cache)")
    if qemu:
        version = subprocess.run([qemu, "--version"], capture_output=True,
                                 text=True).stdout.split("\n")[0]
        print(f"reference: {version}, -M {sq.QEMU_MACHINE}, migration to/from a file in "
              f"{qemu_dir} ({fs_type(qemu_dir)}), bench/snapshot_qemu.py")
    else:
        print("reference: QEMU left out" + ("" if args.no_qemu else
                                           " (qemu-system-x86_64 is not installed)"))
    print()

    all_figs, measured = {}, 0
    for s in sizes:
        mib = sq.SIZES_MIB[s]
        runs = args.runs or DEFAULT_RUNS[s]
        avail = sq.mem_available_mib()
        # The running guest, a memory file on tmpfs, the other in the page
        # cache, then QEMU's guest and file: plus slack.
        need = (2 + len(fs_dirs)) * mib + 1024
        if avail is not None and avail < need:
            print(f"== {s}: SKIPPED: needs ~{need} MiB available, MemAvailable is {avail} MiB\n")
            continue
        res = measure_size(kvmrun, image, mib, runs, args.restores or DEFAULT_RESTORES, fs_dirs,
                           backends, args.tick_us,
                           not args.no_verify, log=lambda line: print(line, flush=True))
        res["kvm_slot"] = kvm_slot_cost(mib)
        qres = None
        if qemu:
            qres = sq.measure_size(qemu, image, mib, runs, qemu_dir, args.tick_us,
                                   log=lambda line: print(line, flush=True))
        report(res, qres, fs_dirs)
        all_figs[s] = figures(res, qres)
        measured += 1

    print(f"== summary (load average now {exits.load_average()})")
    if not args.smoke:
        for line in goals(all_figs, sizes, qemu_fs):
            print(line)
    for line in bench_lines(all_figs, sizes):
        print(line)
    return 0 if measured == len(sizes) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print(f"snapshot.py: error: {e}", file=sys.stderr)
        sys.exit(1)
