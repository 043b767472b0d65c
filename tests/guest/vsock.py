#!/usr/bin/env python3
"""virtio-vsock end to end: a test guest under kvmrun --vsock, and this
script as the host side of Firecracker's hybrid model (docs/virtio-vsock.md).

--case echo (guest/tests/virtio_vsock.c):
  - guest-initiated: an echo server listens on <uds>_5000; the guest sends
    256 KiB, which must arrive byte for byte, and gets it back; nothing
    listens on <uds>_5001 (the guest checks it gets RST);
  - host-initiated: once the guest says it listens on port 6000, connect to
    <uds> and write "CONNECT 6001\\n" (the guest refuses it: the connection
    must close without "OK"), then "CONNECT 6000\\n", expect "OK <port>\\n"
    with the port the guest saw, send 256 KiB, shut down writing, and read
    the echo back byte for byte until end of file;
  - before that, two host clients connect to <uds> and never finish a
    CONNECT line (one writes nothing, one "CONN"): kvmrun must close each
    (it reads end of file, no reply) once the deadline for the line has
    passed (docs/virtio-vsock.md) and not long after; the CONNECTs above
    are made only then, so they show the device still takes new ones.
    The echo server serves the guest only once they are connected, and
    the guest resets its device after that echo: a reset must not close
    host connections the guest has not heard of.
--case snapshot (guest/tests/virtio_vsock.c `snapshot`): the guest opens
  a connection to <uds>_5000 and waits on its event queue; kvmrun is saved
  there (--snapshot-on-signal) and exits, which closes that connection's
  host end; a restore while another process listens on <uds> must be
  refused (exit 2, one line); then the real restore sends TRANSPORT_RESET,
  and everything of --case echo works on new connections in the restored
  kvmrun, whose listening socket is <uds> again.
--case hostile (guest/tests/virtio_vsock_hostile.c): malformed packets; a
  sink on <uds>_5002 must see each connection the guest abuses closed with
  no byte delivered; a talker on <uds>_5003 sends TALK once the guest
  connects, which the guest receives through a header-only rx buffer (a
  CREDIT_UPDATE) and then a full one (the data), and then the guest resets
  the connection: the talker must see it close with no byte received.

Afterwards kvmrun must have exited 0 with the guest's summary clean, and
the socket file <uds> must be gone.

    vsock.py --kvmrun PATH --guest-dir DIR --case echo|hostile

Exit status: 0 pass, 1 fail, 77 skip (no usable /dev/kvm).
"""

import argparse
import os
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run_guest_test import SKIP, kvm_usable  # noqa: E402
from vsock_peers import (CID, RUN_TIMEOUT, EchoServer, HostClient, SilentClient,  # noqa: E402
                         Sink, SnapshotEcho, Talker, listen)


def read_text(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def watch(proc, client, timeout):
    """Everything `proc` prints until it exits; starts `client` once the
    guest says it listens. Returns (output, timed out)."""
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    out = bytearray()
    start = time.monotonic()
    timed_out = False
    while True:
        if time.monotonic() - start > timeout:
            timed_out = True
            proc.kill()
            break
        if not sel.select(timeout=0.5):
            continue
        chunk = os.read(proc.stdout.fileno(), 65536)
        if not chunk:
            break
        out += chunk
        if client and client.ident is None and b"vsock: listening on port 6000" in out:
            client.start()
    sel.close()
    return out.decode(errors="replace"), timed_out


def run_snapshot(args, tmp):
    uds = os.path.join(tmp, "v.sock")
    state = os.path.join(tmp, "vsock.snap")
    console = os.path.join(tmp, "pre.txt")
    echo = SnapshotEcho(uds + "_5000")
    echo.start()
    client = HostClient(uds)
    cmd = [args.kvmrun, "--kernel", os.path.join(args.guest_dir, "virtio_vsock.elf"),
           "--memory", "64M", "--console", "file:" + console, "--cmdline", f"cid={CID} snapshot",
           "--vsock", f"cid={CID},uds={uds}", "--snapshot-on-signal", state]
    print("$ " + " ".join(cmd), flush=True)
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    start = time.monotonic()
    pre = ""
    while "vsock: snapshot point" not in pre:
        if proc.poll() is not None or time.monotonic() - start > RUN_TIMEOUT:
            proc.kill()
            proc.wait()
            return [f"the guest never reached its snapshot point:\n{pre}"]
        time.sleep(0.01)
        pre = read_text(console)
    proc.send_signal(signal.SIGUSR1)
    _, err = proc.communicate(timeout=RUN_TIMEOUT)
    err = err.decode(errors="replace")
    pre = read_text(console)
    print(pre, end="")
    problems = []
    if proc.returncode != 0 or "snapshot: saved" not in err:
        return [f"save: exit {proc.returncode}: {err}"]
    if os.path.exists(uds):
        problems.append(f"{uds} still exists after the saved kvmrun exited")

    restore = [args.kvmrun, "--restore", state, "--resume", "--console", "stdio"]
    # Another process listens on the socket path: the restore is refused.
    squatter = listen(uds)
    p = subprocess.run(restore, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=RUN_TIMEOUT, text=True)
    squatter.close()
    os.unlink(uds)
    lines = p.stderr.splitlines()
    if p.returncode != 2 or len(lines) != 1 or "in use" not in lines[0]:
        problems.append(f"restore with {uds} in use: exit {p.returncode}, stderr {p.stderr!r}; "
                        "expected exit 2 and one line saying it is in use")
    else:
        print(f"PASS: restore with the socket path in use refused: {lines[0]}")

    print("$ " + " ".join(restore), flush=True)
    proc = subprocess.Popen(restore, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    post, timed_out = watch(proc, client, RUN_TIMEOUT)
    status = proc.wait(timeout=10)
    proc.stdout.close()
    print(post, end="" if post.endswith("\n") else "\n")
    text = pre + post
    if timed_out:
        problems.append(f"the restored kvmrun did not finish within {RUN_TIMEOUT:.0f} s")
    elif status != 0:
        problems.append(f"the restored kvmrun exited with {status}, expected 0")
    if not re.search(r"^SUMMARY: \d+ tests, 0 unexpected failures", text, re.MULTILINE) or \
            re.search(r"^FAIL:", text, re.MULTILINE):
        problems.append("the guest reported failures")
    if "PASS: virtio-vsock: snapshot: after: TRANSPORT_RESET" not in post:
        problems.append("the guest did not report TRANSPORT_RESET after the restore")
    if os.path.exists(uds):
        problems.append(f"{uds} still exists after the restored kvmrun exited")
    echo.join(5)
    problems += echo.problems()
    if client.ident is None:
        problems.append("the restored guest never said it listens on port 6000")
    else:
        client.join(10)
        problems += client.problems(post)
    return problems


def run(args, tmp):
    uds = os.path.join(tmp, "v.sock")
    image = "virtio_vsock.elf" if args.case == "echo" else "virtio_vsock_hostile.elf"
    echo = sink = client = talker = None
    silent = []
    if args.case == "echo":
        silent = [SilentClient(uds, b""), SilentClient(uds, b"CONN")]
        echo = EchoServer(uds + "_5000", wait_for=silent)
        echo.start()
        for t in silent:
            t.start()
        client = HostClient(uds, after=silent)
    else:
        sink = Sink(uds + "_5002")
        sink.start()
        talker = Talker(uds + "_5003")
        talker.start()
    cmd = [args.kvmrun, "--kernel", os.path.join(args.guest_dir, image), "--memory", "64M",
           "--console", "stdio", "--cmdline", f"cid={CID}", "--vsock", f"cid={CID},uds={uds}"]
    print("$ " + " ".join(cmd), flush=True)
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    out = bytearray()
    start = time.monotonic()
    timed_out = False
    while True:
        if time.monotonic() - start > RUN_TIMEOUT:
            timed_out = True
            proc.kill()
            break
        if not sel.select(timeout=0.5):
            continue
        chunk = os.read(proc.stdout.fileno(), 65536)
        if not chunk:
            break
        out += chunk
        if client and not client.is_alive() and client.ident is None and \
                b"vsock: listening on port 6000" in out:
            client.start()
    status = proc.wait(timeout=10)
    sel.close()
    proc.stdout.close()
    text = out.decode(errors="replace")
    print(text, end="" if text.endswith("\n") else "\n")
    problems = []
    if timed_out:
        problems.append(f"kvmrun did not finish within {RUN_TIMEOUT:.0f} s")
    elif status != 0:
        problems.append(f"kvmrun exited with {status}, expected 0")
    if not re.search(r"^SUMMARY: \d+ tests, 0 unexpected failures", text, re.MULTILINE) or \
            re.search(r"^FAIL:", text, re.MULTILINE):
        problems.append("the guest reported failures")
    if os.path.exists(uds):
        problems.append(f"{uds} still exists after kvmrun exited")
    if echo:
        echo.join(5)
        problems += echo.problems()
    for t in silent:
        t.join(5)
        problems += t.problems()
    if talker:
        talker.join(5)
        problems += talker.problems()
    if client:
        if client.ident is None:
            problems.append("the guest never said it listens on port 6000")
        else:
            client.join(10)
            problems += client.problems(text)
    if sink:
        sink.stop = True
        sink.join(5)
        print(f"sink: connections with bytes received: {sink.conns}")
        if len(sink.conns) < 2 or any(n != 0 for n in sink.conns):
            problems.append("the sink expected at least 2 connections closed with 0 bytes "
                            f"delivered, saw {sink.conns}")
    return problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kvmrun", required=True)
    ap.add_argument("--guest-dir", required=True)
    ap.add_argument("--case", choices=["echo", "hostile", "snapshot"], default="echo")
    args = ap.parse_args()
    why = kvm_usable()
    if why:
        msg = f"SKIP: /dev/kvm not available ({why}); vsock test {args.case} not run"
        print(msg)
        print(msg, file=sys.stderr)
        return SKIP
    with tempfile.TemporaryDirectory(prefix="kvmrun-vsock-") as tmp:
        problems = run_snapshot(args, tmp) if args.case == "snapshot" else run(args, tmp)
    for p in problems:
        print("FAIL: " + p)
    if not problems:
        print(f"PASS: vsock {args.case}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
