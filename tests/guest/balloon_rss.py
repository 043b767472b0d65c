#!/usr/bin/env python3
"""virtio-balloon, seen from the host: inflating really gives memory back.

The guest (guest/tests/virtio_balloon.c with `handshake`) fills 32 MiB,
says "balloon: touched" and waits for a console line; inflates those pages,
says "balloon: inflated" and waits again; deflates and reads them back as
zeros, says "balloon: deflated". At each stop this script measures
kvmrun's memory from outside:

  - the guest-RAM memfd's allocated size (st_blocks of /proc/PID/fd/N for
    the "memfd:kvmrun-guest-ram" link): what the host really spends;
  - RssShmem of /proc/PID/status: the shared-memory pages mapped in kvmrun.

Both must drop by at least 31 MiB between "touched" and "inflated" (32 MiB
were inflated; a little slack for pages the guest or the device touch
meanwhile). After the deflate, the guest's reads fault the pages back in,
so the numbers grow again; that is printed, not checked.

    balloon_rss.py --kvmrun PATH --guest-dir DIR

Exit status: 0 pass, 1 fail, 77 skip (no usable /dev/kvm).
"""

import argparse
import os
import re
import selectors
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run_guest_test import SKIP, kvm_usable  # noqa: E402

MIB = 1 << 20
MIN_DROP = 31 * MIB
TIMEOUT = 30.0


def memfd_bytes(pid):
    """Allocated bytes of kvmrun's guest-RAM memfd."""
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if target.startswith("/memfd:kvmrun-guest-ram"):
            return os.stat(os.path.join(fd_dir, fd)).st_blocks * 512
    raise RuntimeError("no memfd:kvmrun-guest-ram among kvmrun's file descriptors")


def rss_shmem(pid):
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        m = re.search(r"^RssShmem:\s+(\d+) kB", f.read(), re.MULTILINE)
    if not m:
        raise RuntimeError(f"no RssShmem in /proc/{pid}/status")
    return int(m.group(1)) * 1024


class Guest:
    def __init__(self, cmd):
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        self.out = b""
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.proc.stdout, selectors.EVENT_READ)
        self.deadline = time.monotonic() + TIMEOUT

    def wait_for(self, line):
        want = re.compile(rb"^" + re.escape(line.encode()) + rb"\r?$", re.MULTILINE)
        while not want.search(self.out):
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"timed out waiting for {line!r}")
            if not self.sel.select(timeout=min(left, 0.5)):
                continue
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                raise RuntimeError(f"kvmrun ended before {line!r}")
            self.out += chunk

    def go(self):
        self.proc.stdin.write(b"go\n")
        self.proc.stdin.flush()

    def finish(self):
        """Read until kvmrun closes its output; its exit status (None on timeout)."""
        while time.monotonic() < self.deadline:
            if not self.sel.select(timeout=0.5):
                continue
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                break
            self.out += chunk
        try:
            return self.proc.wait(timeout=max(self.deadline - time.monotonic(), 1))
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.sel.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kvmrun", required=True)
    ap.add_argument("--guest-dir", required=True)
    args = ap.parse_args()

    why = kvm_usable()
    if why:
        msg = f"SKIP: /dev/kvm not available ({why}); balloon_rss not run"
        print(msg)
        print(f"*** {msg} ***", file=sys.stderr)
        return SKIP

    cmd = [args.kvmrun, "--kernel", os.path.join(args.guest_dir, "virtio_balloon.elf"),
           "--memory", "96M", "--console", "stdio", "--cmdline", "target_pages=8192 handshake",
           "--balloon", "target=32M,stats=1"]
    print("$ " + " ".join(cmd))
    problems = []
    guest = Guest(cmd)
    try:
        samples = {}
        for stop in ("touched", "inflated", "deflated"):
            guest.wait_for(f"balloon: {stop}")
            samples[stop] = (memfd_bytes(guest.proc.pid), rss_shmem(guest.proc.pid))
            print(f"{stop:>9}: memfd {samples[stop][0] / MIB:7.1f} MiB allocated, "
                  f"RssShmem {samples[stop][1] / MIB:7.1f} MiB")
            guest.go()
        status = guest.finish()
    except (OSError, RuntimeError) as e:
        problems.append(str(e))
        status = None
    finally:
        guest.kill()

    output = guest.out.decode(errors="replace")
    print("--- console output ---")
    print(output, end="" if output.endswith("\n") else "\n")
    print("--- end of output ---")
    if not problems:
        (m0, r0), (m1, r1) = samples["touched"], samples["inflated"]
        if m0 - m1 < MIN_DROP:
            problems.append(f"the RAM memfd shrank by {(m0 - m1) / MIB:.1f} MiB on inflate, "
                            f"expected at least {MIN_DROP / MIB:.0f}")
        if r0 - r1 < MIN_DROP:
            problems.append(f"RssShmem shrank by {(r0 - r1) / MIB:.1f} MiB on inflate, "
                            f"expected at least {MIN_DROP / MIB:.0f}")
        if status != 0:
            problems.append(f"exit status {status}, expected 0")
        if re.search(r"^FAIL:", output, re.MULTILINE):
            problems.append("the guest reported a failure")
    if problems:
        for p in problems:
            print(f"FAIL: balloon_rss: {p}")
        return 1
    (m0, r0), (m1, r1) = samples["touched"], samples["inflated"]
    print(f"PASS: balloon_rss: inflating 32 MiB freed {(m0 - m1) / MIB:.1f} MiB of the RAM memfd "
          f"and {(r0 - r1) / MIB:.1f} MiB of RssShmem")
    return 0


if __name__ == "__main__":
    sys.exit(main())
