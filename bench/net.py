#!/usr/bin/env python3
"""kvmrun virtio-net benchmark (bench/README.md, "virtio-net benchmark").

Throughput over a TAP device, guest -> host and host -> guest, against a
reference measured in the same run: the same frames moved through a second
TAP by a plain host process (bench/net_helper.c) instead of kvmrun and its
guest. The reference is the ceiling for a TAP back-end: kvmrun does the
same read/write system calls on the same kind of fd, so the ratio is what
the guest, the virtqueues and kvmrun's event loop cost on top.

  net_tx_1514   the guest (guest/tests/net_bench.c bench=tx, CPL 3,
                ring kept full) sends 1514-byte frames; reference: a host
                process write()s the same frames to a TAP
  net_tx_tso    the same with 64 KiB GSO_TCPV4 frames (NEEDS_CSUM)
  net_rx_1514   a host process sends 1514-byte frames into the TAP's queue
                through an AF_PACKET socket; the guest (bench=rx) receives
                them through mergeable buffers; reference: a host process
                read()s them from a TAP. The sender is faster than either
                receiver: frames the TAP's queue (1000) cannot hold are
                dropped by the kernel, and throughput counts what arrived.

All of it in a network namespace of its own (tests/guest/netns_tap.py),
gone when this script exits. Each figure is the median of --runs runs.
Ends with `bench net: ...`. Skips (77) without root, /dev/net/tun or
/dev/kvm.

    bench/net.py [--build-dir build] [--runs N] [--smoke]
"""
import argparse
import os
import re
import selectors
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "guest"))
import netns_tap  # noqa: E402

SKIP = 77
GUEST_MAC = "52:54:00:12:34:56"
RESULT = re.compile(r"frames=(\d+) bytes=(\d+)")


class Guest:
    """kvmrun running the bench guest; lines read with a deadline."""

    def __init__(self, build, tap, cmdline):
        self.proc = subprocess.Popen(
            [os.path.join(build, "kvmrun"), "--kernel", os.path.join(build, "guest", "net_bench.elf"),
             "--memory", "64M", "--net", f"tap={tap},mac={GUEST_MAC}",
             "--cmdline", f"mac={GUEST_MAC} {cmdline}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.proc.stdout, selectors.EVENT_READ)
        self.buf = b""

    def wait_for(self, pattern, timeout=120):
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern.encode())
        while time.monotonic() < deadline:
            m = rx.search(self.buf)
            if m:
                self.buf = self.buf[m.end():]
                return time.monotonic(), m
            if self.sel.select(timeout=0.2):
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                self.buf += chunk
        self.proc.kill()
        raise RuntimeError(f"guest: no '{pattern}' (output: {self.buf[-500:]!r})")

    def finish(self):
        status = self.proc.wait(timeout=30)
        if status != 0:
            raise RuntimeError(f"kvmrun exited with {status}: {self.buf[-500:]!r}")


def guest_tx(build, count, size):
    g = Guest(build, "tap0", f"bench=tx count={count} size={size}")
    t0, _ = g.wait_for(r"sync: bench tx start\r?\n")
    t1, m = g.wait_for(r"sync: bench tx done frames=(\d+) bytes=(\d+)\r?\n")
    g.finish()
    return int(m.group(2)), t1 - t0


def host_tx(helper, count, size):
    out = subprocess.run([helper, "write", "tap1", str(count), str(size)], check=True,
                         capture_output=True, text=True).stdout
    m = re.search(r"bytes=(\d+) ns=(\d+)", out)
    return int(m.group(1)), int(m.group(2)) / 1e9


def guest_rx(build, helper, count):
    g = Guest(build, "tap0", "bench=rx")
    g.wait_for(r"sync: bench rx ready\r?\n")
    t0 = time.monotonic()
    sender = subprocess.Popen([helper, "send", "tap0", GUEST_MAC, str(count), "1514"],
                              stdout=subprocess.DEVNULL)
    t1, m = g.wait_for(r"sync: bench rx done frames=(\d+) bytes=(\d+)\r?\n")
    sender.kill()
    sender.wait()
    g.finish()
    return int(m.group(1)), int(m.group(2)), t1 - t0


def host_rx(helper, count):
    reader = subprocess.Popen([helper, "read", "tap1", str(count)], stdout=subprocess.PIPE, text=True)
    time.sleep(0.2)   # attached before the first frame, or the TAP drops it
    t0 = time.monotonic()
    sender = subprocess.Popen([helper, "send", "tap1", "02:00:00:00:00:77", str(count), "1514"],
                              stdout=subprocess.DEVNULL)
    out = reader.communicate(timeout=120)[0]
    t1 = time.monotonic()
    sender.kill()
    sender.wait()
    m = RESULT.search(out)
    return int(m.group(1)), int(m.group(2)), t1 - t0


def mbps(nbytes, seconds):
    return nbytes / seconds / 1e6 if seconds > 0 else 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--smoke", action="store_true", help="tiny counts, one run: a check, not a measurement")
    # Options bench/run.sh passes to every benchmark; nothing to do here.
    ap.add_argument("--no-qemu", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--no-callgrind", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--profile-dir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    build = os.path.abspath(args.build_dir)
    helper = os.path.join(build, "bench", "net_helper")
    why = netns_tap.skip_reason()
    if why:
        print(f"SKIP: virtio-net benchmark: {why}", file=sys.stderr)
        return SKIP
    netns_tap.enter_private_netns()
    for tap in ("tap0", "tap1"):
        netns_tap.create_tap(tap, "10.9.%d.1/24" % int(tap[-1]), txqueuelen=1000)

    runs = 1 if args.smoke else args.runs
    n1514, ntso, nrx = (2000, 200, 2000) if args.smoke else (200000, 20000, 200000)
    print(f"virtio-net over TAP, {runs} run(s) each, median; reference: the same frames through "
          "a second TAP by a host process (bench/net_helper.c)")
    results = {}
    for name, count, size in (("net_tx_1514", n1514, 1514), ("net_tx_tso", ntso, 65549)):
        kv, ref = [], []
        for _ in range(runs):
            b, s = guest_tx(build, count, size)
            kv.append(mbps(b, s))
            b, s = host_tx(helper, count, size)
            ref.append(mbps(b, s))
        results[name] = (statistics.median(kv), statistics.median(ref))
        print(f"  {name}: {count} frames of {size} bytes, guest -> host: kvmrun "
              f"{results[name][0]:.0f} MB/s, host process {results[name][1]:.0f} MB/s "
              f"(runs: {', '.join(f'{x:.0f}' for x in kv)} / {', '.join(f'{x:.0f}' for x in ref)})")
    kv, ref, got = [], [], []
    for _ in range(runs):
        frames, b, s = guest_rx(build, helper, nrx)
        kv.append(mbps(b, s))
        got.append(frames)
        frames_ref, b, s = host_rx(helper, nrx)
        ref.append(mbps(b, s))
    results["net_rx_1514"] = (statistics.median(kv), statistics.median(ref))
    print(f"  net_rx_1514: {nrx} frames of 1514 bytes sent, host -> guest: kvmrun "
          f"{results['net_rx_1514'][0]:.0f} MB/s (guest received {statistics.median(got):.0f} frames), "
          f"host process {results['net_rx_1514'][1]:.0f} MB/s (received {frames_ref})")
    for name, (k, r) in results.items():
        print(f"bench {name}: {k:.0f} MB/s ({k / r if r else 0:.2f}x of a host process on a TAP)")
    summary = ", ".join(f"{n[4:]} {k:.0f} MB/s ({k / r if r else 0:.2f}x)" for n, (k, r) in results.items())
    print(f"bench net: {summary}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (RuntimeError, subprocess.SubprocessError) as e:
        print(f"bench net: error: {e}", file=sys.stderr)
        sys.exit(1)
