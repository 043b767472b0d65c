#!/usr/bin/env python3
"""Snapshots of VMs with a virtio-balloon (docs/snapshots.md): save a guest
at a point where it waits for a console line, restore it in a new kvmrun,
send the line, and check the guest and the host agree that the device
came back as it was.

    snapshot_devices.py --kvmrun PATH --guest-dir DIR --case balloon

balloon   guest/tests/virtio_balloon.c `snapshot`: 16 MiB inflated and a
          stats buffer held when saved; after the restore num_pages and
          actual are the same, inflating and deflating go on, pages released
          before the save read zero, pages released after the restore read
          the snapshot's contents (not what the guest wrote since: the host
          dropped its copy), the device asks for statistics again, and --exit-stats
          counts 6144 pages in the balloon (which needs the saved bitmap).
          Before that, a state file whose balloon target was altered (its
          section's CRC fixed up) is refused: the fingerprint covers it.

(virtio-vsock: tests/guest/vsock.py --case snapshot; virtio-net:
tests/guest/net_tap.py --snapshot.)

Exit status: 0 pass, 1 fail, 77 skip (no usable /dev/kvm).
"""

import argparse
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run_guest_test import SKIP, kvm_usable  # noqa: E402

TIMEOUT = 60.0


class Failure(Exception):
    pass


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def check_clean(what, err):
    if "runtime error:" in err or "Sanitizer" in err:
        raise Failure(f"{what}: sanitizer report:\n{err}")


def save_at(args, marker, console, state):
    """Boot `args` with --snapshot-on-signal STATE, SIGUSR1 once `marker`
    is on the console, and expect the save to end kvmrun with status 0."""
    cmd = args + ["--console", "file:" + console, "--snapshot-on-signal", state]
    print("$ " + " ".join(cmd), flush=True)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + TIMEOUT
    try:
        while marker not in read(console):
            if p.poll() is not None or time.monotonic() > deadline:
                raise Failure(f"'{marker}' never came (exit {p.poll()}):\n{read(console)}")
            time.sleep(0.01)
        p.send_signal(signal.SIGUSR1)
        _, err = p.communicate(timeout=TIMEOUT)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    check_clean("save", err)
    if p.returncode != 0 or "snapshot: saved" not in err:
        raise Failure(f"save: exit {p.returncode}\n{err}")
    return read(console)


def restore_with_line(kvmrun, state, extra=()):
    """Restore STATE with the console on stdio, send one line, and return
    (exit status, stdout, stderr)."""
    cmd = [kvmrun, "--restore", state, "--resume", "--console", "stdio", *extra]
    print("$ " + " ".join(cmd), flush=True)
    p = subprocess.run(cmd, input="go\n", stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=TIMEOUT, text=True)
    check_clean("restore", p.stderr)
    return p.returncode, p.stdout, p.stderr


def guest_clean(transcript):
    return (re.search(r"^SUMMARY: \d+ tests, 0 unexpected failures", transcript, re.MULTILINE)
            and not re.search(r"^FAIL:", transcript, re.MULTILINE))


HEADER, SECTION = 64, 24


def altered_balloon_target(data):
    """The state file with the balloon's target in the MACHINE section
    changed and the section's CRC recomputed: only the header's
    configuration fingerprint can tell. The section ends with the balloon
    (target u64, stats u32, deflate-on-oom u8) and the vsock (enabled u8,
    cid u32, path: u32 length, empty here)."""
    data = bytearray(data)
    off = HEADER
    while True:
        typ, inst, flags, _crc, length = struct.unpack_from("<IIIIQ", data, off)
        if typ == 0x01:
            break
        off += SECTION + length
    at = off + SECTION + length - (4 + 4 + 1 + 1 + 4 + 8)
    target = struct.unpack_from("<Q", data, at)[0]
    struct.pack_into("<Q", data, at, target + 4096)
    hdr = struct.pack("<IIIIQ", typ, inst, flags, 0, length)
    crc = zlib.crc32(hdr + bytes(data[off + SECTION:off + SECTION + length]))
    struct.pack_into("<I", data, off + 12, crc)
    return bytes(data), target


def case_balloon(a, work):
    image = os.path.join(a.guest_dir, "virtio_balloon.elf")
    state = os.path.join(work, "balloon.snap")
    boot = [a.kvmrun, "--kernel", image, "--memory", "96M", "--balloon", "target=32M,stats=1",
            "--cmdline", "target_pages=8192 snapshot"]
    pre = save_at(boot, "balloon: snapshot point", os.path.join(work, "pre.txt"), state)
    problems = []
    # The balloon's options are part of the configuration's fingerprint.
    with open(state, "rb") as f:
        bad, target = altered_balloon_target(f.read())
    if target != 32 << 20:
        problems.append(f"the MACHINE section's balloon target reads {target}, expected 32 MiB")
    edited = os.path.join(work, "edited.snap")
    with open(edited, "wb") as f:
        f.write(bad)
    status, _, err = restore_with_line(a.kvmrun, edited)
    lines = err.splitlines()
    if status != 2 or len(lines) != 1 or "fingerprint" not in lines[0]:
        problems.append(f"a balloon target altered in the state file: exit {status}, {err!r}; "
                        "expected exit 2 and one line naming the fingerprint")
    else:
        print(f"PASS: balloon target altered: {lines[0]}")
    status, post, err = restore_with_line(a.kvmrun, state, ["--exit-stats"])
    print(pre + post, end="")
    print(err, end="")
    if status != 0:
        problems.append(f"the restored kvmrun exited with {status}")
    if not guest_clean(pre + post):
        problems.append("the guest reported failures")
    for want in (r"PASS: virtio-balloon: snapshot: after: num_pages 8192 and actual 4096 as before",
                 r"PASS: virtio-balloon: snapshot: after: the device asks for statistics \(it held",
                 r"PASS: virtio-balloon: snapshot: after: pages inflated after the restore read the snapshot's contents"):
        if not re.search(want, post):
            problems.append(f"missing after the restore: {want}")
    # The device's own count: 4096 saved + 4096 - 2 * 1024. Without the
    # saved bitmap the deflate of the first chunk would not count.
    want = r"virtio-balloon: target 8192 pages, actual 6144, in balloon 6144;"
    if not re.search(want, err):
        problems.append(f"--exit-stats does not say '{want}'")
    if not re.search(r"; 0 discard errors$", err, re.MULTILINE):
        problems.append("--exit-stats reports discard errors")
    if not re.search(r"virtio-balloon: stats: .*swap_in 55,", err):
        problems.append("the statistics refilled after the restore did not reach the host")
    return problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kvmrun", required=True)
    ap.add_argument("--guest-dir", required=True)
    ap.add_argument("--case", required=True, choices=["balloon"])
    a = ap.parse_args()
    why = kvm_usable()
    if why:
        msg = f"SKIP: /dev/kvm not available ({why}); device snapshot test {a.case} not run"
        print(msg)
        print(msg, file=sys.stderr)
        return SKIP
    work = tempfile.mkdtemp(prefix="kvmrun-snapdev-")
    try:
        problems = case_balloon(a, work)
    except (Failure, subprocess.TimeoutExpired) as e:
        problems = [str(e)]
    for p in problems:
        print(f"FAIL: {p}")
    if problems:
        print(f"(files kept in {work})")
        return 1
    shutil.rmtree(work)
    print(f"PASS: {a.case} snapshot")
    return 0


if __name__ == "__main__":
    sys.exit(main())
