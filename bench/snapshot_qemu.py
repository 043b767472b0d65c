#!/usr/bin/env python3
"""QEMU reference for the snapshot benchmark (bench/README.md, "Snapshot
benchmark: QEMU reference"; issue 6 item 6).

Debian's qemu-system-x86 (-M microvm -accel kvm) runs build/guest/
snapshot_bench.elf, which writes a non-zero pattern over most of its RAM at
CPL 3 and then prints "tick N" every tick_us. For each guest size the
script measures QEMU's migration of the running guest to a file and back:

  save     `stop` -> `migrate` to the file -> the MIGRATION event
           "completed" (pause -> saved), and the file's size
  restore  a fresh QEMU with `-incoming defer`: spawn -> QMP ready ->
           `migrate-incoming` from the file -> "completed" (loaded) ->
           `cont` -> the RESUME event (running) -> the guest's first
           serial output

QEMU 7.2 has no file: migration URI, so the file travels as a descriptor
(QMP `getfd` with SCM_RIGHTS, then the fd: URI): QEMU reads and writes the
file itself, with no `cat` process and pipe in between. Migration
capabilities stay at their defaults (no compression, no multifd, no
mapped-ram) except `events`, which only adds QMP notifications; max-bandwidth is lifted (QEMU's default caps migration at
128 MiB/s; libvirt lifts it the same way for `virsh save`). QEMU sends a
zero page as a 9-byte header, so only the pages the guest filled are
written in full; the figures say how many of each.

Standard library only. measure_size() is the function the combined
snapshot benchmark calls; main() runs it standalone (--help). Exit status:
0 measured, 1 something could not be measured, 77 (skipped) without
/dev/kvm or without qemu-system-x86_64.
"""
import argparse
import datetime
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

# Helpers shared with the other benchmarks: host and build description,
# KVM check, load average.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import exits  # noqa: E402
import startup  # noqa: E402

BenchError = startup.BenchError

SKIP_STATUS = 77
GUEST_IMAGE = "snapshot_bench.elf"       # in build/guest
READY_LINE = "snapshot_bench: ready"
TICK = re.compile(rb"^tick (\d+)\n", re.M)
VERIFY_LINE = re.compile(rb"^snapshot_bench: verify: (\d+) MiB, (\d+) bad words "
                         rb"\(first at (0x[0-9a-f]+)\)$", re.M)
SIZES_MIB = {"256m": 256, "1g": 1024, "4g": 4096}
DEFAULT_RUNS = {"256m": 3, "1g": 3, "4g": 2}
DEFAULT_TICK_US = 1000
QEMU_MACHINE = "microvm"
UNLIMITED_BANDWIDTH = 1 << 50            # bytes/s: "no limit" for max-bandwidth
FILL_TIMEOUT_S_PER_GIB = 60              # the fill takes 8-20 s per GiB here
QMP_TIMEOUT_S = 60
MIGRATE_TIMEOUT_S = 600
MIB = 1 << 20


def now_ms():
    return time.monotonic_ns() / 1e6


def guest_cmdline(tick_us=DEFAULT_TICK_US, fill_mib=None):
    """The guest's command line; the same for kvmrun and QEMU."""
    words = [f"tick_us={tick_us}"]
    if fill_mib is not None:
        words.append(f"fill={fill_mib}")
    return " ".join(words)


def qemu_argv(qemu, image, memory_mib, qmp_path, cmdline, incoming=False):
    """QEMU's command line. The QMP socket is ours and QEMU connects to it
    (a client chardev), so neither side polls for the other to appear.
    The restoring QEMU has the same machine and devices plus -incoming."""
    argv = [qemu, "-M", QEMU_MACHINE, "-accel", "kvm", "-cpu", "host",
            "-m", f"{memory_mib}M", "-smp", "1", "-nodefaults", "-no-user-config",
            "-display", "none", "-serial", "stdio",
            "-chardev", f"socket,id=qmp,path={qmp_path}", "-mon", "chardev=qmp,mode=control",
            "-kernel", image, "-append", cmdline]
    if incoming:
        argv += ["-incoming", "defer"]
    return argv


# ---- QMP ------------------------------------------------------------------

class Qmp:
    """A tiny QMP client (JSON lines over a Unix socket; QEMU's
    docs/interop/qmp-spec.txt): commands with replies matched by id, and
    asynchronous events kept with their arrival times."""

    def __init__(self, conn):
        self.sock = conn
        self.buf = b""
        self.events = []          # (arrival ms, event dict)
        self.next_id = 0
        greeting = self._read_message(QMP_TIMEOUT_S)
        if "QMP" not in greeting:
            raise BenchError(f"QMP: no greeting, got {greeting!r}")
        self.command("qmp_capabilities")

    def _read_message(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BenchError(f"QMP: no message within {timeout} s")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                raise BenchError("QMP: QEMU closed the monitor connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def _next(self, timeout):
        """The next message that is not an event (events are recorded)."""
        while True:
            msg = self._read_message(timeout)
            if "event" in msg:
                self.events.append((now_ms(), msg))
                continue
            return msg

    def command(self, name, fds=None, timeout=QMP_TIMEOUT_S, **arguments):
        """Run one command and return its "return" value; an "error" reply
        raises. `fds` travel with the command (SCM_RIGHTS), as `getfd`
        wants."""
        self.next_id += 1
        msg = {"execute": name, "id": self.next_id}
        if arguments:
            msg["arguments"] = arguments
        data = json.dumps(msg).encode() + b"\n"
        self.sock.settimeout(timeout)
        if fds:
            socket.send_fds(self.sock, [data], fds)
        else:
            self.sock.sendall(data)
        reply = self._next(timeout)
        if reply.get("id") != self.next_id:
            raise BenchError(f"QMP {name}: reply to another command: {reply!r}")
        if "error" in reply:
            raise BenchError(f"QMP {name}: {reply['error'].get('desc', reply['error'])}")
        return reply.get("return")

    def wait_any_event(self, timeout):
        """Read until one more event has arrived."""
        msg = self._read_message(timeout)
        if "event" not in msg:
            raise BenchError(f"QMP: unexpected reply {msg!r} while waiting for an event")
        self.events.append((now_ms(), msg))

    def wait_event(self, name, timeout):
        """Arrival time (ms) of the first event `name` seen so far or within
        `timeout` s."""
        deadline = time.monotonic() + timeout
        while True:
            for t, ev in self.events:
                if ev["event"] == name:
                    return t
            left = deadline - time.monotonic()
            if left <= 0:
                raise BenchError(f"QMP: no {name} event within {timeout} s")
            msg = self._read_message(left)
            if "event" in msg:
                self.events.append((now_ms(), msg))
            else:
                raise BenchError(f"QMP: unexpected reply {msg!r} while waiting for {name}")


# ---- one QEMU process -------------------------------------------------------

class Console:
    """The guest's serial output (QEMU's stdout), read by a thread that
    timestamps every chunk as it arrives."""

    def __init__(self, pipe):
        self.pipe = pipe
        self.chunks = []          # (arrival ms, bytes)
        self.cond = threading.Condition()
        self.closed = False
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        fd = self.pipe.fileno()
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:
                data = b""
            with self.cond:
                if not data:
                    self.closed = True
                    self.cond.notify_all()
                    return
                self.chunks.append((now_ms(), data))
                self.cond.notify_all()

    def text(self):
        with self.cond:
            return b"".join(c for _, c in self.chunks)

    def wait(self, predicate, timeout, what):
        """Wait until predicate(chunks) returns something true; return it."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                r = predicate(self.chunks)
                if r:
                    return r
                left = deadline - time.monotonic()
                if self.closed or left <= 0:
                    tail = b"".join(c for _, c in self.chunks)[-300:]
                    raise BenchError(f"{what}: {'QEMU exited' if self.closed else 'timed out'}"
                                     f"; console: {tail.decode(errors='replace')!r}")
                self.cond.wait(left)

    def wait_text(self, needle, timeout):
        return self.wait(lambda chunks: needle.encode() in b"".join(c for _, c in chunks),
                         timeout, f"waiting for {needle!r} on the guest's console")

    def first_output_after(self, count, timeout):
        """Arrival time of the first chunk beyond the first `count` chunks."""
        return self.wait(lambda chunks: chunks[count][0] if len(chunks) > count else None,
                         timeout, "waiting for the guest's first output")


class Qemu:
    """A QEMU process with its QMP connection and console reader."""

    def __init__(self, argv, listener, work):
        self.t_spawn = now_ms()
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=open(os.path.join(work, "qemu.stderr"), "wb"),
                                     close_fds=True)
        self.work = work
        self.console = Console(self.proc.stdout)
        listener.settimeout(QMP_TIMEOUT_S)
        try:
            conn, _ = listener.accept()
        except socket.timeout:
            self.kill()
            raise BenchError(f"QEMU did not connect to its QMP socket within {QMP_TIMEOUT_S} s:"
                             f" {self.stderr()}")
        self.qmp = Qmp(conn)
        self.t_qmp = now_ms()

    def stderr(self):
        try:
            with open(os.path.join(self.work, "qemu.stderr"), errors="replace") as f:
                return f.read().strip()[-400:]
        except OSError:
            return ""

    def quit(self):
        try:
            self.qmp.command("quit")
        except BenchError:
            pass
        try:
            self.proc.wait(timeout=QMP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill()
        self.qmp.sock.close()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def listen(path):
    if os.path.exists(path):
        os.unlink(path)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(1)
    return s


def pass_file(qmp, path, flags, name):
    """Hand QEMU an open descriptor of `path` named `name` (QMP getfd)."""
    fd = os.open(path, flags, 0o600)
    try:
        qmp.command("getfd", fds=[fd], fdname=name)
    finally:
        os.close(fd)  # QEMU holds its own copy now


# ---- save -----------------------------------------------------------------

def wait_migration(qmp, what):
    """Arrival time of the MIGRATION event that says "completed" (the
    `events` capability is on: it adds QMP notifications and changes
    nothing in the stream). Consumes the migration's events."""
    deadline = time.monotonic() + MIGRATE_TIMEOUT_S
    while True:
        for i, (t, ev) in enumerate(qmp.events):
            if ev["event"] != "MIGRATION":
                continue
            status = ev.get("data", {}).get("status")
            if status == "completed":
                del qmp.events[:i + 1]
                return t
            if status in ("failed", "cancelled"):
                info = qmp.command("query-migrate")
                raise BenchError(f"{what}: {status}: {info.get('error-desc', '')}")
        left = deadline - time.monotonic()
        if left <= 0:
            raise BenchError(f"{what}: not completed within {MIGRATE_TIMEOUT_S} s")
        qmp.wait_any_event(left)


def wait_status(qmp, status):
    deadline = time.monotonic() + QMP_TIMEOUT_S
    while qmp.command("query-status")["status"] != status:
        if time.monotonic() > deadline:
            raise BenchError(f"QEMU: not in state {status} within {QMP_TIMEOUT_S} s")
        time.sleep(0.001)


def enable_events(qmp):
    qmp.command("migrate-set-capabilities",
                capabilities=[{"capability": "events", "state": True}])


def save_once(qemu, path):
    """stop -> migrate to `path` -> completed, the guest paused throughout.
    Returns a dict of figures; leaves the guest paused (postmigrate)."""
    pass_file(qemu.qmp, path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, "snapshot")
    t0 = now_ms()
    qemu.qmp.command("stop")
    t_stopped = now_ms()
    qemu.qmp.command("migrate", uri="fd:snapshot")
    t1 = wait_migration(qemu.qmp, f"QEMU migration to {path}")
    # The event comes when the stream is complete; QEMU's own figures
    # (total-time) and the postmigrate state, which `cont` needs, come a
    # moment later from the migration thread's clean-up.
    wait_status(qemu.qmp, "postmigrate")
    info = qemu.qmp.command("query-migrate")
    # fsync is not part of pause -> saved (the file is in the page cache,
    # as kvmrun's is), but how long it takes is worth knowing.
    fd = os.open(path, os.O_RDONLY)
    try:
        t_sync = now_ms()
        os.fsync(fd)
        sync_ms = now_ms() - t_sync
    finally:
        os.close(fd)
    ram = info.get("ram", {})
    return {
        "pause_to_saved_ms": t1 - t0,
        "stop_ms": t_stopped - t0,
        "qemu_total_ms": info.get("total-time"),
        "fsync_ms": sync_ms,
        "file_bytes": os.stat(path).st_size,
        "normal_pages": ram.get("normal"),
        "zero_pages": ram.get("duplicate"),
        "page_size": ram.get("page-size", 4096),
    }


def boot_and_fill(qemu_bin, image, memory_mib, work, cmdline):
    """Boot the guest under QEMU and wait until it has filled its RAM and
    ticks. Returns the running Qemu."""
    sock = os.path.join(work, "qmp.sock")
    listener = listen(sock)
    try:
        q = Qemu(qemu_argv(qemu_bin, image, memory_mib, sock, cmdline), listener, work)
    finally:
        listener.close()
    try:
        timeout = 30 + FILL_TIMEOUT_S_PER_GIB * max(1, memory_mib // 1024)
        q.console.wait_text(READY_LINE, timeout)
        q.console.wait(lambda chunks: TICK.search(b"".join(c for _, c in chunks)),
                       QMP_TIMEOUT_S, "waiting for the guest's first tick")
        q.qmp.command("migrate-set-parameters", **{"max-bandwidth": UNLIMITED_BANDWIDTH})
        enable_events(q.qmp)
    except BaseException:
        q.kill()
        raise
    return q


# ---- restore --------------------------------------------------------------

def restore_once(qemu_bin, image, memory_mib, work, cmdline, path, saved_text):
    """A fresh QEMU loads `path` and runs on. Returns a dict of figures and
    checks that the guest's ticks continue where the saved ones stopped."""
    sock = os.path.join(work, "qmp.sock")
    listener = listen(sock)
    try:
        q = Qemu(qemu_argv(qemu_bin, image, memory_mib, sock, cmdline, incoming=True),
                 listener, work)
    finally:
        listener.close()
    try:
        early = len(q.console.chunks)  # firmware output before the load, if any
        pass_file(q.qmp, path, os.O_RDONLY, "snapshot")
        enable_events(q.qmp)
        t_in = now_ms()
        q.qmp.command("migrate-incoming", uri="fd:snapshot")
        t_loaded = wait_migration(q.qmp, f"QEMU migration from {path}")
        # The guest was paused when it was saved, and QEMU restores that
        # run state: it waits for `cont`, as after libvirt's restore.
        q.qmp.command("cont")
        t_run = q.qmp.wait_event("RESUME", QMP_TIMEOUT_S)
        t_out = q.console.first_output_after(early, QMP_TIMEOUT_S)
        check_continuity(saved_text, q)
        verified = check_memory(q)
        return {
            "verified_mib": verified,
            "spawn_to_qmp_ms": q.t_qmp - q.t_spawn,
            "incoming_to_loaded_ms": t_loaded - t_in,
            "incoming_to_running_ms": t_run - t_in,
            "spawn_to_running_ms": t_run - q.t_spawn,
            "running_to_output_ms": t_out - t_run,
            "spawn_to_output_ms": t_out - q.t_spawn,
        }
    finally:
        q.quit()


def check_continuity(saved_text, q):
    """The restored guest goes on from the saved state: its first whole
    tick line is the one after the last whole tick line before the save,
    or the one after that (the stop may cut a line, whose rest comes out
    after the restore)."""
    before = [int(m) for m in TICK.findall(saved_text)]
    if not before:
        raise BenchError("no tick from the guest before the save")

    def first_tick(chunks):
        text = b"".join(c for _, c in chunks)
        # The first line may be the rest of the one the stop cut.
        whole = text if saved_text.endswith(b"\n") else text.partition(b"\n")[2]
        m = TICK.search(whole)
        return int(m.group(1)) if m else None

    t = q.console.wait(first_tick, QMP_TIMEOUT_S, "waiting for the restored guest's tick")
    if not before[-1] < t <= before[-1] + 2:
        raise BenchError(f"restored guest printed tick {t} after tick {before[-1]}: its state "
                         f"did not survive the round trip; saved console ends "
                         f"{saved_text[-40:]!r}, restored console begins "
                         f"{q.console.text()[:40]!r}")


def check_memory(q):
    """After the timing: the restored guest checks every filled word
    ('v' on its console input) and must find the pattern intact."""
    q.proc.stdin.write(b"v")
    q.proc.stdin.flush()
    m = q.console.wait(lambda chunks: VERIFY_LINE.search(b"".join(c for _, c in chunks)),
                       MIGRATE_TIMEOUT_S, "waiting for the restored guest's memory check")
    if int(m.group(2)) != 0:
        raise BenchError(f"restored guest: {int(m.group(2))} words of {m.group(1).decode()} "
                         f"MiB lost the pattern (first at {m.group(3).decode()})")
    return int(m.group(1))


def drop_file_cache(path):
    """Drop `path`'s pages from the page cache (this file only)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


# ---- one size -------------------------------------------------------------

def median_of(runs, key):
    vals = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def measure_size(qemu_bin, image, memory_mib, runs, work_dir=None, tick_us=DEFAULT_TICK_US,
                 cold=False, log=None):
    """QEMU's save to and restore from a file of the running snapshot_bench
    guest with `memory_mib` MiB of RAM, `runs` times each (one boot and
    fill; `runs` saves of it, each followed by `cont`; then `runs`
    restores of the last file, each in a fresh QEMU). Files live in a
    temporary directory under `work_dir` that is removed afterwards.
    `cold` drops the file from the page cache before each restore.

    Returns {"memory_mib", "runs", "save": [per-run dicts], "restore":
    [...], "median": {figure: median over runs}, "fill_line"}: the
    figures are those of save_once() and restore_once(), times in ms."""
    log = log or (lambda s: None)
    work = tempfile.mkdtemp(prefix="kvmrun-bench-snapshot-qemu-", dir=work_dir)
    cmdline = guest_cmdline(tick_us)
    try:
        log(f"  {memory_mib} MiB: booting and filling")
        q = boot_and_fill(qemu_bin, image, memory_mib, work, cmdline)
        saves, path = [], None
        try:
            fill_line = next((ln for ln in q.console.text().decode(errors="replace")
                              .splitlines() if "filled" in ln), "")
            for i in range(runs):
                if path:
                    os.unlink(path)  # each save writes a new file, as kvmrun's does
                path = os.path.join(work, f"qemu-{memory_mib}m-{i}.mig")
                saves.append(save_once(q, path))
                saved_text = q.console.text()
                log(f"    save {i + 1}/{runs}: {saves[-1]['pause_to_saved_ms']:.1f} ms")
                if i + 1 < runs:
                    q.qmp.command("cont")
        finally:
            q.quit()
        restores = []
        for i in range(runs):
            if cold:
                drop_file_cache(path)
            restores.append(restore_once(qemu_bin, image, memory_mib, work, cmdline, path,
                                         saved_text))
            log(f"    restore {i + 1}/{runs}: "
                f"{restores[-1]['spawn_to_running_ms']:.1f} ms spawn -> running")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    med = {k: median_of(saves, k) for k in saves[0]}
    med.update({k: median_of(restores, k) for k in restores[0]})
    return {"memory_mib": memory_mib, "runs": runs, "save": saves, "restore": restores,
            "median": med, "fill_line": fill_line, "cold": cold}


# ---- standalone -------------------------------------------------------------

def size_name(memory_mib):
    return f"{memory_mib // 1024}g" if memory_mib % 1024 == 0 else f"{memory_mib}m"


def report(res):
    m, n, mib = res["median"], res["runs"], res["memory_mib"]
    name = size_name(mib)
    page = m["page_size"] or 4096
    print(f"== {name}: {mib} MiB guest ({res['fill_line'].strip()}), medians of {n}"
          + (", page cache of the file dropped before each restore" if res["cold"] else ""))
    print(f"  save:    stop -> completed {m['pause_to_saved_ms']:9.1f} ms   "
          f"(stop {m['stop_ms']:.1f} ms; QEMU's total-time {m['qemu_total_ms']} ms; "
          f"fsync afterwards {m['fsync_ms']:.1f} ms)")
    print(f"           file {m['file_bytes'] / MIB:9.1f} MiB: {int(m['normal_pages']):,} pages "
          f"written in full ({m['normal_pages'] * page / MIB:.1f} MiB), "
          f"{int(m['zero_pages']):,} zero pages as headers")
    print(f"  restore: spawn -> QMP ready {m['spawn_to_qmp_ms']:9.1f} ms")
    print(f"           migrate-incoming -> loaded {m['incoming_to_loaded_ms']:9.1f} ms, "
          f"-> running (after cont) {m['incoming_to_running_ms']:.1f} ms")
    print(f"           spawn -> running {m['spawn_to_running_ms']:9.1f} ms")
    print(f"           running -> guest output {m['running_to_output_ms']:9.1f} ms "
          f"(spawn -> output {m['spawn_to_output_ms']:.1f} ms)")
    print(f"  every restore: the guest's ticks continue from the saved one, and its "
          f"{m['verified_mib']:.0f} MiB of pattern check out ('v' on its console)")
    for what, runs, key in (("save, stop -> completed", res["save"], "pause_to_saved_ms"),
                             ("save, QEMU's total-time", res["save"], "qemu_total_ms"),
                             ("restore, spawn -> running", res["restore"], "spawn_to_running_ms"),
                             ("restore, migrate-incoming -> running", res["restore"],
                              "incoming_to_running_ms")):
        print(f"  runs, {what}: " + ", ".join(f"{r[key]:.1f}" for r in runs) + " ms")
    print()


def bench_lines(res):
    m, name = res["median"], size_name(res["memory_mib"])
    return [f"bench snapshot_qemu_save_{name}: {m['pause_to_saved_ms']:.2f} ms",
            f"bench snapshot_qemu_restore_{name}: {m['spawn_to_running_ms']:.2f} ms",
            f"bench snapshot_qemu_incoming_{name}: {m['incoming_to_running_ms']:.2f} ms",
            f"bench snapshot_qemu_file_{name}: {m['file_bytes'] / MIB:.1f} MiB"]


def mem_available_mib():
    try:
        return startup.read_kib_fields("/proc/meminfo", {"MemAvailable"})["MemAvailable"] // 1024
    except (OSError, KeyError):
        return None


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", default=os.path.join(root, "build"),
                    help="meson build directory (default: build)")
    ap.add_argument("--sizes", default="256m,1g,4g",
                    help="guest sizes, of " + ", ".join(SIZES_MIB) + " (default: all)")
    ap.add_argument("--runs", type=int,
                    help="saves and restores per size (default: 3, and 2 for 4g)")
    ap.add_argument("--tick-us", type=int, default=DEFAULT_TICK_US,
                    help=f"the guest's tick (default {DEFAULT_TICK_US} us)")
    ap.add_argument("--cold", action="store_true",
                    help="drop the file from the page cache before each restore")
    ap.add_argument("--dir", help="where the migration files go (default: the temp dir)")
    ap.add_argument("--smoke", action="store_true",
                    help="256 MiB, one run: check that the benchmark works")
    args = ap.parse_args()
    if args.smoke:
        args.sizes, args.runs = "256m", 1
    sizes = [s.strip().lower() for s in args.sizes.split(",") if s.strip()]
    for s in sizes:
        if s not in SIZES_MIB:
            ap.error(f"--sizes: unknown size {s!r} (one of {', '.join(SIZES_MIB)})")
    if args.runs is not None and args.runs < 1:
        ap.error("--runs must be at least 1")
    if args.tick_us < 1:
        ap.error("--tick-us must be at least 1")

    if not startup.kvm_usable():
        print("snapshot_qemu.py: /dev/kvm is not usable here: benchmark SKIPPED",
              file=sys.stderr)
        return SKIP_STATUS
    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        print("snapshot_qemu.py: qemu-system-x86_64 is not installed (scripts/install-deps.sh "
              "--bench), and this benchmark measures QEMU: SKIPPED", file=sys.stderr)
        return SKIP_STATUS
    build = os.path.abspath(args.build_dir)
    image = os.path.join(build, "guest", GUEST_IMAGE)
    if not os.path.exists(image):
        raise BenchError(f"{image} is missing: build first (ninja -C {args.build_dir})")

    version = subprocess.run([qemu, "--version"], capture_output=True,
                             text=True).stdout.split("\n")[0]
    print(f"QEMU snapshot reference, {datetime.datetime.now().isoformat(timespec='seconds')}")
    print(f"host: {startup.host_description()}, load average {exits.load_average()}, "
          f"MemAvailable {mem_available_mib()} MiB")
    print(f"kvmrun {startup.source_revision(root)}; reference: {version}")
    print(f"QEMU: -M {QEMU_MACHINE} -accel kvm -cpu host -smp 1 -nodefaults, serial on a "
          f"pipe, QMP on a Unix socket; migration to/from a file descriptor (getfd + fd:), "
          f"default capabilities, max-bandwidth unlimited")
    print(f"guest: build/guest/{GUEST_IMAGE} \"{guest_cmdline(args.tick_us)}\"; files in "
          f"{args.dir or tempfile.gettempdir()}, "
          f"{'dropped from' if args.cold else 'left in'} the page cache before restores")
    print()

    results = []
    for s in sizes:
        mib = SIZES_MIB[s]
        avail = mem_available_mib()
        # The saving QEMU (guest RAM), the file in the page cache, then the
        # restoring QEMU: two copies at a time, plus slack.
        if avail is not None and avail < 2 * mib + 1024:
            print(f"== {s}: SKIPPED: needs ~{2 * mib + 1024} MiB available, "
                  f"MemAvailable is {avail} MiB\n")
            continue
        runs = args.runs or DEFAULT_RUNS[s]
        res = measure_size(qemu, image, mib, runs, args.dir, args.tick_us, args.cold,
                           log=lambda line: print(line, flush=True))
        report(res)
        results.append(res)

    print(f"== summary (load average now {exits.load_average()})")
    for res in results:
        for line in bench_lines(res):
            print(line)
    return 0 if len(results) == len(sizes) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print(f"snapshot_qemu.py: error: {e}", file=sys.stderr)
        sys.exit(1)
