#!/usr/bin/env python3
"""virtio-blk durability: what the guest was told is flushed survives SIGKILL.

The guest (guest/tests/virtio_blk.c in `flushloop` mode) writes one sector
per round, flushes, and only when the flush has completed prints
"flushed N". The host kills kvmrun with SIGKILL as soon as it reads the
line for a randomly chosen round, then checks the image file: every round
the guest announced must be there (the last 63 of them, which occupy
distinct sectors). Repeated --runs times (default 50), alternating the
io_uring and synchronous back-ends, each with a fresh image.

A SIGKILL loses nothing the kernel already has, so this checks kvmrun's
side of the contract: a flush completes only after every write that
completed before it reached the host kernel and fdatasync returned. It
cannot simulate a host power loss.

    blk_durability.py --kvmrun PATH --guest-dir DIR [--runs N] [--seed S]

Exit status: 0 pass, 1 fail, 77 skip (no usable /dev/kvm).
"""

import argparse
import os
import random
import re
import selectors
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run_guest_test import Disks, SKIP, kvm_usable  # noqa: E402

SECTORS = 2048
LOOP_FIRST = 256           # guest/tests/virtio_blk.c: round r -> sector 256 + r % 64
LOOP_SECTORS = 64
RUN_TIMEOUT = 20.0


def run_once(args, rng, io_mode):
    """One boot, killed after a random round. Returns (problems, round, seconds)."""
    kill_after = rng.randint(1, 40)
    disks = Disks([(SECTORS * 512, f"io={io_mode}")])
    cmd = [args.kvmrun, "--kernel", os.path.join(args.guest_dir, "virtio_blk.elf"),
           "--memory", "64M", "--console", "stdio",
           "--cmdline", f"sectors={SECTORS} flushloop"] + disks.args()
    start = time.monotonic()
    problems = []
    announced = 0
    out = b""
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    try:
        while announced < kill_after:
            if time.monotonic() - start > RUN_TIMEOUT:
                problems.append(f"timed out waiting for 'flushed {kill_after}'")
                break
            if not sel.select(timeout=0.5):
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                problems.append(f"kvmrun ended before 'flushed {kill_after}'")
                break
            out += chunk
            # Only whole lines: a partial "flushed 1" may be "flushed 12".
            for m in re.finditer(rb"^flushed (\d+)\r?\n", out, re.MULTILINE):
                announced = max(announced, int(m.group(1)))
        # Kill at once, while the guest is writing its next round.
        proc.send_signal(signal.SIGKILL)
        status = proc.wait(timeout=10)
        if not problems and status != -signal.SIGKILL:
            problems.append(f"kvmrun exited with {status} before the kill")
        if b"FAIL:" in out:
            problems.append("the guest reported a failure")
        # Every announced round whose sector no later round may have
        # rewritten: the last 63 (round announced + 1 may be under way).
        with open(disks.paths[0], "rb") as f:
            for r in range(max(1, announced - LOOP_SECTORS + 2), announced + 1):
                sector = LOOP_FIRST + r % LOOP_SECTORS
                f.seek(sector * 512)
                got = f.read(512)
                if got != bytes([r & 0xff]) * 512:
                    problems.append(f"round {r} (sector {sector}) lost after 'flushed "
                                    f"{announced}': holds {got[:4].hex()}...")
                    break
        problems += disks.check([(0, 0, LOOP_FIRST * 512, "pattern"),
                                 (0, (LOOP_FIRST + LOOP_SECTORS) * 512,
                                  (SECTORS - LOOP_FIRST - LOOP_SECTORS) * 512, "pattern")])
    finally:
        sel.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        disks.remove()
    if problems:
        sys.stdout.write(out.decode(errors="replace")[-2000:])
    return problems, announced, time.monotonic() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kvmrun", required=True)
    ap.add_argument("--guest-dir", required=True)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()

    why = kvm_usable()
    if why:
        msg = f"SKIP: /dev/kvm not available ({why}); durability test not run"
        print(msg)
        print(f"*** {msg} ***", file=sys.stderr)
        return SKIP
    seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    rng = random.Random(seed)
    print(f"seed {seed} (rerun with --seed {seed})")
    rounds = 0
    times = []
    for i in range(args.runs):
        io_mode = "uring" if i % 2 == 0 else "sync"
        problems, announced, seconds = run_once(args, rng, io_mode)
        times.append(seconds)
        if problems:
            for p in problems:
                print(f"FAIL: run {i + 1} (io={io_mode}): {p}")
            return 1
        rounds += announced
        print(f"run {i + 1:2}: io={io_mode:5} killed after 'flushed {announced}' "
              f"({seconds:.2f} s): every flushed round on disk")
    times.sort()
    print(f"PASS: {args.runs} runs, {rounds} flushed rounds checked, none lost "
          f"(median run {times[len(times) // 2]:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
