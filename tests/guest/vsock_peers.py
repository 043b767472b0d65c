"""The host side of tests/guest/vsock.py: the Unix-socket peers kvmrun's
virtio-vsock bridges the test guests to (docs/virtio-vsock.md), each a
thread that records what it saw and reports problems()."""

import re
import socket
import threading
import time

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
