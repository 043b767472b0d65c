#!/usr/bin/env python3
"""Snapshot tests (docs/snapshots.md): save a running guest on SIGUSR1,
restore it in a fresh kvmrun, and check it ends exactly as a run that was
never interrupted; and check that every damaged or mismatched file is
refused with one error line and exit status 2.

    snapshot.py --kvmrun PATH --guest-dir DIR --case NAME

Cases:
  cpu1      one vCPU, ymm/xmm state and a virtio-blk disk; restore --resume
  cpu3      three vCPUs passing a token by IPI; restore paused, then SIGUSR2
  refused   corrupted (a byte flipped in every section), truncated, other
            version, mismatched memory file / configuration / disk, and
            options that may not go with --restore: all exit 2, one line
  diff      diff snapshots (,diff): a full snapshot and two diffs taken by
            one process (then=continue), restored from the top of the
            chain; a full snapshot, a diff taken by the VM restored from
            it, and that diff restored on its moved base; diff files far
            smaller than the full one; a missing, foreign or corrupted
            base or diff refused
  uffd      the userfaultfd back-end's counters (faults, prefetched pages,
            fully resident), and a VM restored with uffd,prefetch=off saved
            again mid-run (pages never fetched must be in the new memory
            file) and restored: result, transcript and disk as uninterrupted
  async_pf  guest/tests/async_pf.c (fill=1) snapshotted, restored with
            uffd,prefetch=off,fault-delay-us=50000: with KVM's async page
            faults task B runs while task A waits for its pages; without
            them (the control, mode=block) it never does. 77 if the host KVM
            cannot deliver async PF for such memory (named)

The guest is guest/tests/snapshot_compute.c (async_pf: async_pf.c).
`--backend` picks the memory back-end the restores of cpu1, cpu3 and
refused use (private or uffd). Exit status: 0 pass, 1 fail, 77 skip (no
usable /dev/kvm, no userfaultfd, no async PF).
"""

import argparse
import os
import platform
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib

SKIP = 77
DISK_BYTES = 1 << 20
ROUNDS = 60
SNAP_AT_ROUND = 20           # SIGUSR1 once this round is on the console
HEADER = 64                  # state file header bytes
SECTION = 24                 # section header bytes
TIMEOUT = 60


class Failure(Exception):
    pass


class Skip(Exception):
    pass


def kvm_usable():
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC))
        return None
    except OSError as e:
        return f"/dev/kvm: {e.strerror}"


def uffd_usable():
    """None, or why this process cannot use userfaultfd for faults the
    kernel raises (KVM's): the syscall without UFFD_USER_MODE_ONLY."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.syscall(323, os.O_CLOEXEC)   # __NR_userfaultfd on x86-64
    if fd < 0:
        return f"userfaultfd: {os.strerror(ctypes.get_errno())}"
    os.close(fd)
    return None


def disk_pattern():
    """The fresh disk: byte o is (o * 7 + (o >> 9) * 13 + 1) & 0xff."""
    steps = bytes((7 * i) & 0xff for i in range(512))
    out = bytearray()
    for s in range(DISK_BYTES // 512):
        base = (s * 512 * 7 + s * 13 + 1) & 0xff
        out += bytes((b + base) & 0xff for b in steps)
    return bytes(out)


class Harness:
    def __init__(self, kvmrun, guest_dir, backend, work):
        self.kvmrun = kvmrun
        self.image = os.path.join(guest_dir, "snapshot_compute.elf")
        self.backend = backend
        self.work = work
        self.pattern = disk_pattern()

    def path(self, name):
        return os.path.join(self.work, name)

    def fresh_disk(self, name):
        with open(self.path(name), "wb") as f:
            f.write(self.pattern)
        return self.path(name)

    def boot_args(self, cpus, disk, console, extra=(), guest=""):
        return [self.kvmrun, "--kernel", self.image, "--cpus", str(cpus), "--memory", "64M",
                "--disk", disk, "--console", "file:" + console,
                "--cmdline", f"sectors={DISK_BYTES // 512} rounds={ROUNDS} {guest}".strip(),
                *extra]

    def run(self, args, expect):
        p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=TIMEOUT, text=True)
        if p.returncode != expect:
            raise Failure(f"{' '.join(args)}: exit {p.returncode}, expected {expect}\n"
                          f"stderr:\n{p.stderr}")
        check_clean(" ".join(args), p.stderr)
        return p

    def reference(self, cpus, guest=""):
        """An uninterrupted run: its transcript and final disk."""
        disk = self.fresh_disk(f"ref{cpus}.img")
        console = self.path(f"ref{cpus}.txt")
        self.run(self.boot_args(cpus, disk, console, guest=guest), 0)
        transcript = read(console)
        if f"result " not in transcript or "SUMMARY: 4 tests, 0 unexpected" not in transcript:
            raise Failure(f"reference run did not finish:\n{transcript}")
        return transcript, read_bytes(disk)

    def snapshot(self, cpus, tag, at_round=SNAP_AT_ROUND, guest=""):
        """Run until round `at_round` is on the console, SIGUSR1, and
        return (state, memory, disk, transcript so far)."""
        disk = self.fresh_disk(f"{tag}.img")
        console = self.path(f"{tag}-pre.txt")
        state = self.path(f"{tag}.snap")
        args = self.boot_args(cpus, disk, console,
                              ["--snapshot-on-signal", state, "--snapshot-timing"], guest)
        err = save_on_marker(args, console, f"round {at_round} ")
        pre = read(console)
        if "result " in pre:
            raise Failure("the guest finished before the snapshot: make it run longer")
        timing = [line for line in err.splitlines() if "total pause->saved" in line]
        print(f"{tag}: saved after round {at_round}: {timing[0] if timing else err.strip()}")
        return state, state + ".mem", disk, pre

    def restore(self, state, console, extra=(), paused=False, backend=None):
        args = [self.kvmrun, "--restore", state, "--console", "file:" + console,
                "--memory-backend", backend or self.backend, "--snapshot-timing", *extra]
        if not paused:
            return self.run(args + ["--resume"], 0).stderr
        p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            time.sleep(0.3)
            if p.poll() is not None:
                raise Failure(f"restored VM did not wait for SIGUSR2: {p.communicate()[1]}")
            # Paused: the guest has printed nothing yet.
            if read(console):
                raise Failure("a paused restore ran guest code")
            p.send_signal(signal.SIGUSR2)
            _, err = p.communicate(timeout=TIMEOUT)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        if p.returncode != 0:
            raise Failure(f"restore: exit {p.returncode}\n{err}")
        check_clean("restore", err)
        return err


def save_on_marker(args, console, marker):
    """Run kvmrun `args` (with --snapshot-on-signal) until `marker` is on
    the console, send SIGUSR1, and return its stderr once it has saved
    and exited."""
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + TIMEOUT
    try:
        while marker not in read(console):
            if p.poll() is not None or time.monotonic() > deadline:
                raise Failure(f"'{marker}' never came (exit {p.poll()}): {' '.join(args)}\n"
                              f"{p.communicate()[1] if p.poll() is not None else ''}")
            time.sleep(0.005)
        p.send_signal(signal.SIGUSR1)
        _, err = p.communicate(timeout=TIMEOUT)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    if p.returncode != 0 or "snapshot: saved" not in err:
        raise Failure(f"save: exit {p.returncode}\n{err}")
    check_clean("save", err)
    return err


def check_clean(what, err):
    """No sanitizer report (UBSan prints and carries on)."""
    if "runtime error:" in err or "Sanitizer" in err:
        raise Failure(f"{what}: sanitizer report:\n{err}")


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def check_same(what, got, want):
    if got != want:
        raise Failure(f"{what} differs from the uninterrupted run's\n--- got:\n{got}\n"
                      f"--- want:\n{want}")


def case_continue(h, cpus, paused):
    ref_text, ref_disk = h.reference(cpus)
    state, mem, disk, pre = h.snapshot(cpus, f"cpu{cpus}")
    post = h.path(f"cpu{cpus}-post.txt")
    err = h.restore(state, post, paused=paused)
    for line in err.splitlines():
        if "total restore->ready" in line or "entered the guest" in line:
            print(f"cpu{cpus}: {line}")
    check_same("the console transcript (before + after the snapshot)", pre + read(post), ref_text)
    if "kvmclock never went backwards" not in ref_text:
        raise Failure("the guest found no kvmclock to check")
    if read_bytes(disk) != ref_disk:
        raise Failure("the disk image differs from the uninterrupted run's")
    # Another snapshot, later in the run, restored from a memory file that
    # was moved: --memory-file overrides the path the state file records.
    state2, mem2, disk2, pre2 = h.snapshot(cpus, f"cpu{cpus}b", at_round=2 * SNAP_AT_ROUND)
    moved = h.path("moved.mem")
    os.rename(mem2, moved)
    post2 = h.path(f"cpu{cpus}b-post.txt")
    h.restore(state2, post2, ["--memory-file", moved])
    check_same("the transcript restored through --memory-file", pre2 + read(post2), ref_text)
    if read_bytes(disk2) != ref_disk:
        raise Failure("the disk image after the --memory-file restore differs")
    print(f"cpu{cpus}: result and transcript equal the uninterrupted run's "
          f"({len(ref_text.splitlines())} lines), disk equal")


# --- the userfaultfd back-end ---

UFFD_COUNTERS = re.compile(r"memory backend uffd: (\d+) faults served, (\d+) pages copied by "
                           r"faults, (\d+) zero-filled by faults, (\d+) pages prefetched")
UFFD_RESIDENT = re.compile(r"memory backend uffd: fully resident ([\d.]+) ms")


def uffd_counters(what, err):
    """(faults, pages copied by faults, pages prefetched, ms to resident
    or None) from the counters kvmrun prints at exit."""
    m = UFFD_COUNTERS.search(err)
    if not m:
        raise Failure(f"{what}: no uffd counters in stderr:\n{err}")
    r = UFFD_RESIDENT.search(err)
    return int(m[1]), int(m[2]), int(m[4]), float(r[1]) if r else None


def nonzero_pages(mem):
    """Indices of the RAM pages of memory file `mem` that are not zero."""
    data = read_bytes(mem)[4096:]
    zero = bytes(4096)
    return {i // 4096 for i in range(0, len(data), 4096) if data[i:i + 4096] != zero}


def case_uffd(h):
    ref_text, ref_disk = h.reference(1)
    # Default options: faults and the prefetcher; fully resident at exit.
    state, _, disk, pre = h.snapshot(1, "u")
    post = h.path("u-post.txt")
    err = h.restore(state, post, ["--resume", "--exit-stats"], backend="uffd")
    check_same("the transcript (uffd)", pre + read(post), ref_text)
    if read_bytes(disk) != ref_disk:
        raise Failure("the disk image (uffd) differs from the uninterrupted run's")
    faults, copied, prefetched, resident_ms = uffd_counters("uffd restore", err)
    for line in err.splitlines():
        if "memory backend uffd" in line or "entered the guest" in line:
            print(f"uffd: {line}")
    if faults + prefetched == 0 or resident_ms is None:
        raise Failure(f"uffd: expected faults or prefetched pages and full residency:\n{err}")
    # Faults only: most pages are still in the file when the restored VM
    # is saved again; the save must make them resident first.
    state2, mem2, disk2, pre2 = h.snapshot(1, "v")
    mid, state3 = h.path("v-mid.txt"), h.path("w.snap")
    args = [h.kvmrun, "--restore", state2, "--console", "file:" + mid, "--resume",
            "--memory-backend", "uffd,prefetch=off", "--snapshot-on-signal", state3,
            "--snapshot-timing"]
    err = save_on_marker(args, mid, f"round {SNAP_AT_ROUND + 10} ")
    faults, copied, prefetched, resident_ms = uffd_counters("prefetch=off restore", err)
    print(f"uffd: prefetch=off, saved again after round {SNAP_AT_ROUND + 10}: {faults} faults "
          f"({copied} pages copied) before the save, {prefetched} pages prefetched by the save, "
          f"resident: {resident_ms} ms")
    if faults == 0 or copied == 0 or prefetched == 0 or resident_ms is None:
        raise Failure(f"prefetch=off: expected faults, then pages prefetched for the save:\n{err}")
    before, after = nonzero_pages(mem2), nonzero_pages(state3 + ".mem")
    if not before <= after:
        raise Failure(f"{len(before - after)} pages holding data in the first memory file are "
                      f"zero in the one saved from the prefetch=off restore")
    post = h.path("w-post.txt")
    h.restore(state3, post, ["--resume"], backend="uffd")
    check_same("the transcript (restored, saved again, restored)",
               pre2 + read(mid) + read(post), ref_text)
    if read_bytes(disk2) != ref_disk:
        raise Failure("the disk image after restore, save, restore differs")
    print(f"uffd: {len(before)} data pages all in the second memory file; result, transcript "
          f"and disk equal the uninterrupted run's")


APF_REGION = "base=0x4000000 size=0x1000000 pages=16 stride=0x100000"
APF_BACKEND = "uffd,prefetch=off,fault-delay-us=50000"


def apf_run(h, mode):
    """Boot async_pf.elf (fill=1), snapshot it in its window, restore it
    with slow faults: (exit status, restored console, stderr)."""
    image = os.path.join(os.path.dirname(h.image), "async_pf.elf")
    pre, post = h.path(f"apf-{mode}-pre.txt"), h.path(f"apf-{mode}-post.txt")
    state = h.path(f"apf-{mode}.snap")
    save_on_marker([h.kvmrun, "--kernel", image, "--memory", "96M", "--console", "file:" + pre,
                    "--cmdline", f"{APF_REGION} mode={mode} fill=1 snapshot_wait_ms=1500",
                    "--snapshot-on-signal", state], pre, "async_pf: filled")
    p = subprocess.run([h.kvmrun, "--restore", state, "--console", "file:" + post, "--resume",
                        "--exit-stats", "--memory-backend", APF_BACKEND],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT, text=True)
    check_clean(f"restore ({mode})", p.stderr)
    text = read(post)
    for line in text.splitlines() + p.stderr.splitlines():
        if line.startswith(("apf:", "block:", "memory backend")) or "async_pf:" in line:
            print(f"async_pf {mode}: {line}")
    return p.returncode, text, p.stderr


def case_async_pf(h):
    # The control: without async PF each access holds the whole vCPU.
    status, text, err = apf_run(h, "block")
    if status != 0 or "PASS: async_pf: without async PF, task B never ran" not in text:
        raise Failure(f"control (mode=block): exit {status}\n{text}\n{err}")
    status, text, err = apf_run(h, "apf")
    host = f"host kernel {platform.release()}"
    if status == 20:
        why = next((l for l in text.splitlines() if l.startswith("apf: unavailable")), text)
        raise Skip(f"the guest cannot enable KVM async PF ({why.strip()}; {host})")
    if status == 21:
        raise Skip("KVM did not deliver 'page not present' (KVM_FEATURE_ASYNC_PF_INT) for "
                   f"userfaultfd-missing memory: it blocked the vCPU instead ({host})")
    if status != 0 or "PASS: async_pf: task B ran while task A waited" not in text:
        raise Failure(f"mode=apf: exit {status}\n{text}\n{err}")
    faults = uffd_counters("async_pf restore", err)[0]
    if faults < 16:
        raise Failure(f"expected at least 16 uffd faults (task A's pages), saw {faults}")
    print("async_pf: after a uffd restore, task B ran while task A waited for missing pages; "
          "without async PF it did not")


# --- refused files ---

def sections(data):
    """(offset, type, instance, length) of each section of a state file."""
    out, off = [], HEADER
    while off < len(data):
        typ, inst, _flags, _crc, length = struct.unpack_from("<IIIIQ", data, off)
        out.append((off, typ, inst, length))
        off += SECTION + length
    return out


def reseal_section(data, off):
    """Recompute the CRC of the section at `off` (after an edit)."""
    typ, inst, flags, _crc, length = struct.unpack_from("<IIIIQ", data, off)
    hdr = struct.pack("<IIIIQ", typ, inst, flags, 0, length)
    crc = zlib.crc32(hdr + bytes(data[off + SECTION:off + SECTION + length]))
    struct.pack_into("<I", data, off + 12, crc)


def reseal_header(data):
    struct.pack_into("<I", data, 60, zlib.crc32(bytes(data[:60])))


def fnv1a64(data):
    """The header's configuration fingerprint (format.c snap_fingerprint)."""
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
    return h


def expect_refused(h, what, args, want=None):
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT,
                       text=True)
    lines = p.stderr.splitlines()
    if p.returncode != 2 or len(lines) != 1 or not lines[0].startswith("kvmrun: error: "):
        raise Failure(f"{what}: exit {p.returncode}, expected 2 with one error line; "
                      f"stderr:\n{p.stderr}")
    if want and want not in lines[0]:
        raise Failure(f"{what}: the error does not say '{want}': {lines[0]}")
    return lines[0]


def restore_args(h, state, extra=()):
    return [h.kvmrun, "--restore", state, "--console", "none", "--resume",
            "--memory-backend", h.backend, *extra]


def case_refused(h):
    state, mem, disk, _ = h.snapshot(1, "bad")
    good = read_bytes(state)
    bad = h.path("bad-edit.snap")
    n = 0

    def try_state(what, data, want=None, extra=()):
        nonlocal n
        with open(bad, "wb") as f:
            f.write(data)
        line = expect_refused(h, what, restore_args(h, bad, extra), want)
        n += 1
        return line

    secs = sections(good)
    # A byte flipped in every section (its payload, or its header when empty).
    for off, typ, inst, length in secs:
        data = bytearray(good)
        at = off + SECTION + length // 2 if length else off + 4
        data[at] ^= 0x40
        try_state(f"section type 0x{typ:x}[{inst}] corrupted", bytes(data))
    # ... and in the header.
    data = bytearray(good)
    data[20] ^= 1
    try_state("header corrupted", bytes(data), "header checksum")
    # Truncated at several lengths.
    for length in (0, 5, 63, 64, 100, len(good) // 2, len(good) - SECTION, len(good) - 1):
        try_state(f"truncated to {length} bytes", good[:length])
    # Another format version, with a header CRC that matches.
    data = bytearray(good)
    other = struct.unpack_from("<I", data, 8)[0] + 1
    struct.pack_into("<I", data, 8, other)
    reseal_header(data)
    try_state(f"format version {other}", bytes(data), f"version {other}")
    # An unknown mandatory section before END, properly sealed.
    end_off = secs[-1][0]
    extra = bytearray(struct.pack("<IIIIQ", 0x7ff, 0, 0, 0, 4) + b"abcd")
    reseal_section(extra, 0)
    try_state("unknown mandatory section", good[:end_off] + bytes(extra) + good[end_off:],
              "unknown and mandatory")
    # The configuration altered (16 MiB more RAM), its section resealed:
    # the header's fingerprint no longer matches.
    data = bytearray(good)
    moff = next(off for off, typ, _, _ in secs if typ == 0x01)
    size = struct.unpack_from("<Q", data, moff + SECTION)[0]
    struct.pack_into("<Q", data, moff + SECTION, size + (16 << 20))
    reseal_section(data, moff)
    try_state("configuration altered", bytes(data), "fingerprint")

    # Memory files: wrong size, another snapshot's, missing, not one.
    wrong = h.path("wrong.mem")
    shutil.copyfile(mem, wrong)
    with open(wrong, "r+b") as f:
        f.truncate(os.path.getsize(mem) - 4096)
    expect_refused(h, "memory file truncated", restore_args(h, state, ["--memory-file", wrong]),
                   "bytes, expected")
    shutil.copyfile(mem, wrong)
    with open(wrong, "r+b") as f:
        hdr = bytearray(f.read(64))
        struct.pack_into("<Q", hdr, 24, struct.unpack_from("<Q", hdr, 24)[0] ^ 1)
        crc_at = 8 + 4 + 4 + 8 + 8 + 8 + 8 + 4
        struct.pack_into("<I", hdr, crc_at, zlib.crc32(bytes(hdr[:crc_at])))
        f.seek(0)
        f.write(hdr)
    expect_refused(h, "memory file of another snapshot",
                   restore_args(h, state, ["--memory-file", wrong]), "another snapshot")
    expect_refused(h, "memory file missing",
                   restore_args(h, state, ["--memory-file", h.path("none.mem")]))
    expect_refused(h, "memory file is the state file",
                   restore_args(h, state, ["--memory-file", state]), "not a kvmrun memory file")
    # Files another user could have written (docs/snapshots.md, Trust).
    shared = h.path("shared.snap")
    shutil.copyfile(state, shared)
    os.chmod(shared, 0o664)
    expect_refused(h, "state file writable by group", restore_args(h, shared), "writable by group")
    shutil.copyfile(mem, wrong)
    os.chmod(wrong, 0o606)
    expect_refused(h, "memory file writable by others",
                   restore_args(h, state, ["--memory-file", wrong]), "writable by others")
    if os.geteuid() == 0:
        theirs = h.path("theirs.snap")
        shutil.copyfile(state, theirs)
        os.chown(theirs, 65534, 65534)
        expect_refused(h, "state file of another user", restore_args(h, theirs),
                       "owned by uid 65534")
    # A recorded disk size of 0 (what stat says of a block device), the
    # file otherwise consistent: refused.
    data = bytearray(good)
    at = moff + SECTION + 8 + 4 + 4
    at += 4 + struct.unpack_from("<I", data, at)[0]          # the command line
    assert struct.unpack_from("<I", data, at)[0] == 1        # one disk
    at += 4
    at += 4 + struct.unpack_from("<I", data, at)[0] + 3      # path, ro, cache, io
    at += 4 + struct.unpack_from("<I", data, at)[0]          # serial
    struct.pack_into("<Q", data, at, 0)
    reseal_section(data, moff)
    mlen = struct.unpack_from("<Q", data, moff + 16)[0]
    struct.pack_into("<Q", data, 48, fnv1a64(bytes(data[moff + SECTION:moff + SECTION + mlen])))
    reseal_header(data)
    try_state("disk recorded as 0 bytes", bytes(data), "machine configuration")
    # The disk: resized, then gone.
    saved_disk = read_bytes(disk)
    with open(disk, "ab") as f:
        f.write(b"\0" * 512)
    expect_refused(h, "disk resized", restore_args(h, state), "it was")
    os.unlink(disk)
    expect_refused(h, "disk missing", restore_args(h, state), disk)
    with open(disk, "wb") as f:
        f.write(saved_disk)
    # Not a state file at all, and missing.
    expect_refused(h, "state file is a disk image", restore_args(h, disk), "not a kvmrun snapshot")
    expect_refused(h, "state file missing", restore_args(h, h.path("none.snap")))
    # Options that describe the machine may not go with --restore.
    for opt in (["--cpus", "2"], ["--memory", "128M"], ["--disk", disk], ["--rng"],
                ["--kernel", h.image], ["--net", "tap=kvmtap9"], ["--balloon", "target=1M"],
                ["--vsock", f"cid=3,uds={h.path('v.sock')}"]):
        expect_refused(h, f"--restore with {opt[0]}", restore_args(h, state, opt),
                       "cannot be given with --restore")
    expect_refused(h, "--resume without --restore", [h.kvmrun, "--kernel", h.image, "--resume"],
                   "need --restore")
    # A device without snapshot support: refused when the VM starts.
    expect_refused(h, "--snapshot-on-signal with --pci-testdev",
                   [h.kvmrun, "--kernel", h.image, "--pci-testdev", "--console", "none",
                    "--snapshot-on-signal", h.path("x.snap")], "no snapshot support")
    # And the untouched files still restore.
    post = h.path("bad-post.txt")
    h.restore(state, post)
    if "result " not in read(post):
        raise Failure("the untouched snapshot did not restore after the refusals")
    print(f"refused: {n} damaged state files and every mismatch refused with exit 2")


# --- diff snapshots ---

BALLAST = "ballast=16"       # 16 MiB the guest fills once: the full snapshot's bulk
SERIES_AT = (10, 25, 40)     # rounds after which the one process saves (full, diff, diff)


def wait_for(what, cond, p, deadline):
    while not cond():
        if p.poll() is not None or time.monotonic() > deadline:
            raise Failure(f"{what} never came (exit {p.poll()})")
        time.sleep(0.005)


def disk_after_round(h, r, disk):
    """Make `disk` what an uninterrupted run leaves once rounds 0..r have
    written their sectors. Round r writes sector r % 64 before it reads
    any, so this is also the disk at any moment inside round r."""
    with open(disk, "wb") as f:
        f.write(h.pattern)
    args = h.boot_args(1, disk, h.path(f"upto{r}.txt"), guest=BALLAST)
    args[args.index("--cmdline") + 1] = f"sectors={DISK_BYTES // 512} rounds={r + 1} {BALLAST}"
    h.run(args, 0)


def series_save(h):
    """One process, then=continue,diff: SIGUSR1 after each round of
    SERIES_AT. Returns the state files and the transcript when killed."""
    disk = h.fresh_disk("series.img")
    console, errf, state = h.path("series-pre.txt"), h.path("series.err"), h.path("series.snap")
    args = h.boot_args(1, disk, console, ["--snapshot-on-signal", state + ",then=continue,diff",
                                          "--snapshot-timing"], guest=BALLAST)
    states = [state] + [f"{state}.{i}" for i in range(1, len(SERIES_AT))]
    with open(errf, "w") as err:
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + TIMEOUT
    try:
        for at, name in zip(SERIES_AT, states):
            wait_for(f"round {at}", lambda: f"round {at} " in read(console), p, deadline)
            p.send_signal(signal.SIGUSR1)
            wait_for(f"the save of {name}", lambda: f"snapshot: saved {name} and" in read(errf),
                     p, deadline)
    finally:
        p.kill()
        p.wait()
    err = read(errf)
    check_clean("series save", err)
    if "error" in err:
        raise Failure(f"series save:\n{err}")
    for line in err.splitlines():
        if "total pause->saved" in line or "save diff file" in line or "a diff of" in line:
            print(f"diff: series: {line.split('kvmrun: ')[-1]}")
    return states, disk, read(console)


def check_sizes(full_mem, diffs):
    """Each diff holds the few pages its rounds changed; the full file
    all 16+ MiB the guest filled."""
    full = os.stat(full_mem).st_blocks * 512
    for d in diffs:
        size = os.path.getsize(d)
        print(f"diff: {os.path.basename(d)} is {size // 1024} KiB; the full "
              f"{os.path.basename(full_mem)} holds {full // 1024} KiB")
        if size * 20 > full:
            raise Failure(f"{d}: {size} bytes, not much smaller than the full file's {full}")


def restored_diff(h, state, tag, at_round):
    """Restore `state`, and have the restored VM save a diff (then=exit)
    once round `at_round` is on its console."""
    console, new = h.path(f"{tag}-pre.txt"), h.path(f"{tag}.snap")
    args = [h.kvmrun, "--restore", state, "--console", "file:" + console, "--resume",
            "--memory-backend", h.backend, "--snapshot-timing",
            "--snapshot-on-signal", new + ",diff"]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(f"round {at_round}", lambda: f"round {at_round} " in read(console), p,
                 time.monotonic() + TIMEOUT)
        p.send_signal(signal.SIGUSR1)
        _, err = p.communicate(timeout=TIMEOUT)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    if p.returncode != 0 or "a diff of" not in err:
        raise Failure(f"restored VM's diff save: exit {p.returncode}\n{err}")
    check_clean("restored VM's diff save", err)
    return new, read(console)


def case_diff(h):
    ref_text, ref_disk = h.reference(1, guest=BALLAST)
    if "ballast " not in ref_text:
        raise Failure("the reference run printed no ballast checksum")

    # 1. A full snapshot and two diffs from one process, restored from the
    # top of the chain. That process ran on after its last save and wrote
    # its disk: a first restore tells the round the guest resumes in, and
    # the real one gets the disk as it was then.
    states, disk, killed = series_save(h)
    mems = [states[0] + ".mem"] + [s + ".mem" for s in states[1:]]
    check_sizes(mems[0], mems[1:])
    post = h.path("series-post.txt")
    h.restore(states[-1], post)
    first = int(read(post).split("round ", 1)[1].split()[0])
    disk_after_round(h, first, disk)
    err = h.restore(states[-1], post)
    for line in err.splitlines():
        if "memory diffs" in line or "total restore->ready" in line:
            print(f"diff: series restore: {line.split('kvmrun: ')[-1]}")
    got = read(post)
    cut = len(ref_text) - len(got)
    check_same("the transcript restored from the chain (the killed run's up to the save, then "
               "the restored one's)", killed[:cut] + got, ref_text)
    if f"round {SERIES_AT[-1]} " not in ref_text[:cut]:
        raise Failure(f"the restored guest resumed before round {SERIES_AT[-1]}")
    if read_bytes(disk) != ref_disk:
        raise Failure("the disk after the restore from the chain differs")

    # 2. A full snapshot; the VM restored from it saves a diff; that diff
    # restored on its base, which moved. Every transcript byte accounted for.
    state1, mem1, disk1, pre1 = h.snapshot(1, "base", at_round=10, guest=BALLAST)
    state2, pre2 = restored_diff(h, state1, "top", at_round=30)
    mem2 = state2 + ".mem"
    check_sizes(mem1, [mem2])
    moved = h.path("base-moved.mem")
    os.rename(mem1, moved)
    post2 = h.path("top-post.txt")
    h.restore(state2, post2, ["--base-memory-file", moved])
    check_same("the transcript of full + diff + restore", pre1 + pre2 + read(post2), ref_text)
    if read_bytes(disk1) != ref_disk:
        raise Failure("the disk after the base + diff restore differs")
    print(f"diff: both chains end as the uninterrupted run "
          f"({len(ref_text.splitlines())} lines, ballast checksum and disk equal)")

    diff_refusals(h, states, mems, state1, moved, state2, mem2)


def diff_refusals(h, states, mems, full_state, full_mem, diff_state, diff_mem):
    def refused(what, state, extra, want):
        expect_refused(h, what, restore_args(h, state, extra), want)

    refused("diff whose base is missing", diff_state, [],
            "the full snapshot this diff builds on")
    refused("diff on another snapshot's full memory file", diff_state,
            ["--base-memory-file", mems[0]], "another snapshot")
    refused("a full memory file as the diff", states[1], ["--memory-file", mems[0]],
            "not a kvmrun diff memory file")
    refused("the next diff in place of this one", states[1], ["--memory-file", mems[2]],
            "another snapshot")
    refused("--base-memory-file for a full snapshot", full_state,
            ["--base-memory-file", full_mem, "--memory-file", full_mem], "not a diff")
    # The chain's middle replaced by the top: each diff names its base.
    middle = read_bytes(mems[1])
    shutil.copyfile(mems[2], mems[1])
    refused("a chain whose middle diff was replaced", states[2], [], "another snapshot")
    with open(mems[1], "wb") as f:
        f.write(middle)
    # A diff memory file damaged: header, extent table, data, length.
    good = read_bytes(diff_mem)
    bad = h.path("bad-diff.mem")
    table_bytes = struct.unpack_from("<Q", good, 40)[0] * 16
    data_at = struct.unpack_from("<Q", good, 48)[0]
    for what, at, want in (("header", 20, "header checksum"),
                           ("extent table", 4096 + table_bytes // 2, "extent table checksum"),
                           ("data", data_at + (len(good) - data_at) // 2, "data checksum")):
        data = bytearray(good)
        data[at] ^= 0x10
        with open(bad, "wb") as f:
            f.write(data)
        refused(f"diff memory file with its {what} corrupted", diff_state,
                ["--base-memory-file", full_mem, "--memory-file", bad], want)
    with open(bad, "wb") as f:
        f.write(good[:-4096])
    refused("diff memory file truncated", diff_state,
            ["--base-memory-file", full_mem, "--memory-file", bad], "truncated")
    # A restored VM whose first diff would replace its own base.
    expect_refused(h, "a restored VM's diff named over its base",
                   restore_args(h, states[2], ["--snapshot-on-signal", states[0] + ",diff"]),
                   "builds on")
    # And the untouched chain still restores.
    post = h.path("after-refusals.txt")
    h.restore(diff_state, post, ["--base-memory-file", full_mem])
    if "result " not in read(post):
        raise Failure("the untouched diff did not restore after the refusals")
    print("diff: missing, foreign, replaced and corrupted bases and diffs refused with exit 2")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kvmrun", required=True)
    ap.add_argument("--guest-dir", required=True)
    ap.add_argument("--case", required=True,
                    choices=["cpu1", "cpu3", "refused", "diff", "uffd", "async_pf"])
    ap.add_argument("--backend", default="private")
    args = ap.parse_args()

    reason = kvm_usable()
    if not reason and (args.backend.startswith("uffd") or args.case in ("uffd", "async_pf")):
        reason = uffd_usable()
    if reason:
        print(f"SKIP: {reason}: these snapshot tests cannot run", file=sys.stderr)
        return SKIP
    os.umask(0o022)   # files we write must not be group/other-writable (Trust)
    work = tempfile.mkdtemp(prefix="kvmrun-snapshot-")
    h = Harness(args.kvmrun, args.guest_dir, args.backend, work)
    try:
        if args.case == "cpu1":
            case_continue(h, 1, paused=False)
        elif args.case == "cpu3":
            case_continue(h, 3, paused=True)
        elif args.case == "diff":
            case_diff(h)
        elif args.case == "uffd":
            case_uffd(h)
        elif args.case == "async_pf":
            case_async_pf(h)
        else:
            case_refused(h)
    except Skip as e:
        print(f"SKIP: {e}", file=sys.stderr)
        print(f"SKIP: {e}")
        shutil.rmtree(work)
        return SKIP
    except (Failure, subprocess.TimeoutExpired) as e:
        print(f"FAIL: {e}", file=sys.stderr)
        print(f"(files kept in {work})", file=sys.stderr)
        return 1
    shutil.rmtree(work)
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
