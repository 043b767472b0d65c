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
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run_guest_test import SKIP, kvm_usable  # noqa: E402

TOTAL = 256 * 1024
CID = 7
RUN_TIMEOUT = 120.0
SOCKET_TIMEOUT = 60.0
# src/virtio/vsock_conn.h VSOCK_CONNECT_TIMEOUT_MS: a host client's
# CONNECT line must be complete this long after its connect.
CONNECT_DEADLINE = 5.0
DEADLINE_MARGIN = 3.0
# guest/tests/virtio_vsock_hostile.c TALK: what the talker sends.
TALK = b"header-only rx buffer: this waits for the next buffer\n"


def pattern(seed, start, n):
    """guest/tests/virtio_vsock.c's pattern(): byte i of a stream."""
    return bytes(((i * 7 + (i >> 8) * 13 + seed) & 0xFF) for i in range(start, start + n))


def listen(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(8)
    s.settimeout(SOCKET_TIMEOUT)
    return s


def first_difference(got, want):
    for i, (a, b) in enumerate(zip(got, want)):
        if a != b:
            return i
    return min(len(got), len(want))


class EchoServer(threading.Thread):
    """<uds>_5000: receive the guest's pattern, check it, send it back."""

    def __init__(self, path, wait_for=()):
        super().__init__(daemon=True)
        self.sock = listen(path)
        self.wait_for = wait_for   # SilentClients that must be connected first
        self.received = bytearray()
        self.eof = False
        self.error = None

    def run(self):
        try:
            conn, _ = self.sock.accept()
            conn.settimeout(SOCKET_TIMEOUT)
            for t in self.wait_for:
                t.connected.wait(SOCKET_TIMEOUT)
            with conn:
                while True:
                    data = conn.recv(65536)
                    if not data:
                        self.eof = True
                        break
                    self.received += data
                    conn.sendall(data)
        except OSError as e:
            self.error = f"echo server: {e}"

    def problems(self):
        want = pattern(0x5A, 0, TOTAL)
        if self.error:
            return [self.error]
        if bytes(self.received) != want:
            return [f"guest-initiated: host received {len(self.received)} bytes, differing "
                    f"from the pattern at offset {first_difference(self.received, want)}"]
        return [] if self.eof else ["guest-initiated: no end of file after the data"]


class SnapshotEcho(EchoServer):
    """<uds>_5000 for --case snapshot: the first connection (made before
    the snapshot, closed when the saved kvmrun exits) carries 1000 bytes
    of pattern 0x33; the second (after the restore) is --case echo's."""

    def run(self):
        try:
            for n in range(2):
                conn, _ = self.sock.accept()
                conn.settimeout(SOCKET_TIMEOUT)
                got = bytearray()
                with conn:
                    while True:
                        data = conn.recv(65536)
                        if not data:
                            break
                        got += data
                        conn.sendall(data)
                if n == 0:
                    self.first = bytes(got)
                else:
                    self.received, self.eof = got, True
        except OSError as e:
            self.error = f"echo server: {e}"

    def problems(self):
        out = []
        if getattr(self, "first", None) != pattern(0x33, 0, 1000):
            out.append("the connection before the snapshot did not carry the 1000 bytes")
        return out + super().problems()


class Sink(threading.Thread):
    """<uds>_5002: accept connections, count what arrives on each until EOF."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.sock = listen(path)
        self.sock.settimeout(1.0)
        self.conns = []            # bytes received per connection, None if no EOF
        self.stop = False

    def run(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            conn.settimeout(SOCKET_TIMEOUT)
            n = 0
            try:
                with conn:
                    while True:
                        data = conn.recv(65536)
                        if not data:
                            break
                        n += len(data)
                self.conns.append(n)
            except OSError:
                self.conns.append(None)


class Talker(threading.Thread):
    """<uds>_5003: send TALK to the one connection, then count what comes
    back until end of file."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.sock = listen(path)
        self.received = None       # bytes received before end of file
        self.error = None

    def run(self):
        try:
            conn, _ = self.sock.accept()
            conn.settimeout(SOCKET_TIMEOUT)
            with conn:
                conn.sendall(TALK)
                n = 0
                while True:
                    data = conn.recv(65536)
                    if not data:
                        break
                    n += len(data)
                self.received = n
        except OSError as e:
            self.error = f"talker: {e}"

    def problems(self):
        if self.error:
            return [self.error]
        if self.received != 0:
            return [f"talker: the guest's connection should close with no byte sent, "
                    f"saw {self.received}"]
        return []


class SilentClient(threading.Thread):
    """Connects to <uds> as soon as kvmrun listens and writes `first`, never a
    whole CONNECT line; kvmrun must close the connection without a reply
    once the deadline for the line has passed."""

    def __init__(self, uds, first):
        super().__init__(daemon=True)
        self.uds = uds
        self.first = first
        self.connected = threading.Event()
        self.reply = None
        self.elapsed = None
        self.error = None

    def run(self):
        give_up = time.monotonic() + RUN_TIMEOUT
        try:
            while True:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    s.connect(self.uds)
                    break
                except (FileNotFoundError, ConnectionRefusedError):
                    s.close()   # not bound yet, or bound and not yet listening
                    if time.monotonic() > give_up:
                        raise
                    time.sleep(0.01)
            start = time.monotonic()
            with s:
                s.settimeout(CONNECT_DEADLINE + DEADLINE_MARGIN + SOCKET_TIMEOUT)
                s.sendall(self.first)
                self.connected.set()
                reply = bytearray()
                while True:
                    data = s.recv(100)
                    if not data:
                        break
                    reply += data
                self.elapsed = time.monotonic() - start
                self.reply = bytes(reply)
        except OSError as e:
            self.error = f"silent client writing {self.first!r}: {e}"

    def problems(self):
        if self.error:
            return [self.error]
        what = f"a host client that wrote {self.first!r} and no more"
        if self.reply != b"":
            return [f"{what}: got {self.reply!r}, expected end of file without a reply"]
        # The deadline runs from kvmrun's accept, which follows the connect.
        if not CONNECT_DEADLINE - 0.1 <= self.elapsed <= CONNECT_DEADLINE + DEADLINE_MARGIN:
            return [f"{what}: closed after {self.elapsed:.2f} s, expected "
                    f"{CONNECT_DEADLINE:.0f} s (+{DEADLINE_MARGIN:.0f} s at most)"]
        print(f"PASS: {what}: closed after {self.elapsed:.2f} s")
        return []


class HostClient(threading.Thread):
    """The host-initiated connections, once the guest listens (and once the
    threads in `after` are done)."""

    def __init__(self, uds, after=()):
        super().__init__(daemon=True)
        self.uds = uds
        self.after = after
        self.refused_reply = None
        self.ok_line = None
        self.echo = bytearray()
        self.error = None

    def connect(self, port):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(SOCKET_TIMEOUT)
        s.connect(self.uds)
        s.sendall(f"CONNECT {port}\n".encode())
        return s

    def read_line(self, s):
        line = bytearray()
        while not line.endswith(b"\n"):
            b = s.recv(1)     # byte by byte: what follows the line is data
            if not b:
                break
            line += b
        return bytes(line)

    def run(self):
        for t in self.after:
            t.join()
        try:
            with self.connect(6001) as s:
                reply = bytearray()
                while True:
                    data = s.recv(100)
                    if not data:
                        break
                    reply += data
                self.refused_reply = bytes(reply)
            with self.connect(6000) as s:
                self.ok_line = self.read_line(s)
                sender = threading.Thread(target=self.send_all, args=(s,), daemon=True)
                sender.start()
                while True:
                    data = s.recv(65536)
                    if not data:
                        break
                    self.echo += data
                sender.join(SOCKET_TIMEOUT)
        except OSError as e:
            self.error = f"host-initiated: {e}"

    def send_all(self, s):
        try:
            s.sendall(pattern(0xA5, 0, TOTAL))
            s.shutdown(socket.SHUT_WR)
        except OSError as e:
            self.error = f"host-initiated send: {e}"

    def problems(self, output):
        if self.error:
            return [self.error]
        out = []
        if self.refused_reply != b"":
            out.append(f"CONNECT 6001 (nobody listens): got {self.refused_reply!r}, expected the "
                       "connection closed without a reply")
        m = re.fullmatch(rb"OK (\d+)\n", self.ok_line or b"")
        if not m:
            out.append(f"CONNECT 6000: reply {self.ok_line!r}, expected 'OK <port>\\n'")
        else:
            g = re.search(r"REQUEST from host port (\d+)", output)
            if not g or g.group(1) != m.group(1).decode():
                out.append(f"OK {m.group(1).decode()} does not name the host port the guest saw "
                           f"({g.group(1) if g else 'none'})")
        want = pattern(0xA5, 0, TOTAL)
        if bytes(self.echo) != want:
            out.append(f"host-initiated: echo of {len(self.echo)} bytes differs from what was "
                       f"sent at offset {first_difference(self.echo, want)}")
        return out


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
