#!/usr/bin/env python3
"""virtio-net over a TAP device, end to end.

In a network namespace of its own (netns_tap.py; gone when this process
exits), the script creates a TAP interface kvmtap0 (10.0.0.1/24, transmit
queue of 16 frames), forwards 10.0.1.0/24 back out of it to the guest's
MAC, and boots guest/tests/virtio_net.c (virtio_net.elf) under kvmrun
with --net tap=kvmtap0,mac=52:54:00:12:34:56. An AF_PACKET socket on the TAP
sees every frame both ways and sends the host's frames. The guest prints
"sync: ..." lines at the points where the host must act:

  flood ready       40 frames while the guest has no receive buffer
  flood need after  5 more once the guest has drained what was kept
  rx raw ready      3 frames of 60, 1000 and 1514 bytes
  tcp ready         a TCP connection to 10.0.0.2:7777 and 64 KiB of data

Checked here, from the host's side: the guest's raw frames arrived
intact; its NEEDS_CSUM UDP frame left the host (forwarded) with a correct
checksum; its GSO_TCPV4 frame entered as one frame and left as segments of
at most 1514 bytes with correct checksums. The guest checks the rest
(report() lines) and must end with no failure.

With --hostile the guest is a hostile driver instead
(guest/tests/virtio_net_hostile.c; a transmit header shorter than
virtio_net_hdr, a transmit frame of 80 KiB, receive buffers that are
read-only or shorter than the header): each malformed chain puts
the device in DEVICE_NEEDS_RESET (or the frame is dropped), kvmrun keeps
running, and after a reset the device sends frames the host receives.

With --snapshot the guest (its `snapshot` mode) is saved on SIGUSR1
(--snapshot-on-signal) while the device holds a host frame for lack of
receive buffers; a restore while another process holds the TAP must be
refused (exit 2, one line); the real restore re-opens the TAP by name,
delivers the held frame, re-applies the offloads, and frames flow both
ways (the guest's raw frames 20, before, and 21, after, reach the host).

    net_tap.py --kvmrun PATH --guest-dir DIR [--hostile | --snapshot]

Exit status: 0 pass, 1 fail, 77 skip (not root, no /dev/net/tun, no /dev/kvm).
"""

import argparse
import fcntl
import os
import re
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns_tap  # noqa: E402

SKIP = 77
TAP = "kvmtap0"
GUEST_MAC = "52:54:00:12:34:56"
ETH_P_ALL = 0x0003
ETH_TEST = 0x88b5
PACKET_OUTGOING = 4
TIMEOUT = 90.0


def pattern(seq, i):
    return (seq * 31 + i * 7 + 3) & 0xff


def test_frame(dst, src, seq, size):
    """An Ethernet frame of `size` bytes: EtherType 0x88b5, the sequence
    number, then the pattern (guest/lib/net_test.h, ETH_TEST)."""
    body = struct.pack(">I", seq) + bytes(pattern(seq, i) for i in range(4, size - 14))
    return dst + src + struct.pack(">H", ETH_TEST) + body


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f">{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return s


def l4_checksum_ok(frame):
    """IPv4 UDP/TCP frame: header and L4 checksums verify."""
    ip = frame[14:]
    ihl = (ip[0] & 15) * 4
    total = struct.unpack(">H", ip[2:4])[0]
    l4 = ip[ihl:total]
    pseudo = ip[12:20] + struct.pack(">BBH", 0, ip[9], len(l4))
    return csum(ip[:ihl]) == 0xffff and csum(pseudo + l4) == 0xffff


class Capture(threading.Thread):
    """Every frame on the TAP, with its direction, until stopped."""

    def __init__(self, sock):
        super().__init__(daemon=True)
        self.sock = sock
        self.frames = []
        self.stopping = False

    def run(self):
        self.sock.settimeout(0.2)
        while not self.stopping:
            try:
                data, addr = self.sock.recvfrom(70000)
            except socket.timeout:
                continue
            except OSError:
                return
            self.frames.append((addr[2], data))


def tcp_client(result):
    """Connect to the guest's hand-made listener and send 64 KiB."""
    data = bytes((i * 13 + 7) & 0xff for i in range(65536))
    try:
        s = socket.create_connection(("10.0.0.2", 7777), timeout=10)
        s.settimeout(5)
        try:
            s.sendall(data)
        except socket.timeout:
            pass   # the guest never acknowledges: the window fills up
        result["sock"] = s
        result["ok"] = True
    except OSError as e:
        result["error"] = str(e)


def host_checks(frames, guest_mac):
    problems = []
    incoming = [f for t, f in frames if t != PACKET_OUTGOING]
    outgoing = [f for t, f in frames if t == PACKET_OUTGOING]

    # The guest's three raw frames, broadcast, intact.
    raw = {}
    for f in incoming:
        if f[6:12] == guest_mac and f[12:14] == struct.pack(">H", ETH_TEST):
            raw[struct.unpack(">I", f[14:18])[0]] = f
    for seq, size in enumerate((60, 1000, 1514)):
        want = test_frame(b"\xff" * 6, guest_mac, seq, size)
        if raw.get(seq) != want:
            problems.append(f"guest raw frame {seq} ({size} bytes) missing or damaged")
        else:
            print(f"host: PASS: guest raw frame {seq} ({size} bytes) arrived intact")

    def ipv4(f, proto, dport):
        return (len(f) > 38 and f[12:14] == b"\x08\x00" and f[23] == proto and
                struct.unpack(">H", f[36:38])[0] == dport)

    udp = [f for f in outgoing if ipv4(f, 17, 5000)]
    if len(udp) == 1 and l4_checksum_ok(udp[0]):
        print("host: PASS: the guest's NEEDS_CSUM UDP frame left the host with a correct checksum")
    else:
        problems.append(f"forwarded UDP frame: {len(udp)} seen, checksum ok: "
                        f"{bool(udp) and l4_checksum_ok(udp[0])}")

    tso_in = [f for f in incoming if ipv4(f, 6, 5001)]
    segs = [f for f in outgoing if ipv4(f, 6, 5001)]
    if len(tso_in) == 1 and len(tso_in[0]) > 1514:
        print(f"host: PASS: the guest's TSO frame entered the host whole ({len(tso_in[0])} bytes)")
    else:
        problems.append(f"TSO frame from the guest: {[len(f) for f in tso_in]} bytes")
    if len(segs) >= 3 and all(len(f) <= 1514 and l4_checksum_ok(f) for f in segs):
        print(f"host: PASS: the host kernel segmented it into {len(segs)} frames "
              f"({', '.join(str(len(f)) for f in segs)} bytes), checksums correct")
    else:
        problems.append(f"TSO segments leaving the host: {[len(f) for f in segs]} bytes, "
                        f"checksums ok: {[l4_checksum_ok(f) for f in segs]}")
    return problems


def hostile_checks(frames, guest_mac):
    got = {struct.unpack(">I", f[14:18])[0] for t, f in frames
           if t != PACKET_OUTGOING and f[6:12] == guest_mac and f[12:14] == b"\x88\xb5"}
    problems = []
    for seq in (100, 101, 102):
        if seq in got:
            print(f"host: PASS: frame {seq} from the hostile guest arrived")
        else:
            problems.append(f"frame {seq} from the guest after its hostile chains is missing")
    return problems


TUNSETIFF = 0x400454ca
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
IFF_VNET_HDR = 0x4000


def hold_tap(name):
    """Attach to TAP `name` as kvmrun would: a second attach is EBUSY."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI | IFF_VNET_HDR))
    return fd


class Console:
    """A kvmrun's stdout, read as it comes, echoed to ours."""

    def __init__(self, proc):
        self.proc = proc
        self.sel = selectors.DefaultSelector()
        self.sel.register(proc.stdout, selectors.EVENT_READ)
        self.out = b""

    def wait_for(self, line, deadline):
        """True once `line` (a 'sync: ...' word) was printed."""
        pat = re.compile(rb"^sync: " + re.escape(line.encode()) + rb"\r?\n", re.MULTILINE)
        while not pat.search(self.out):
            if time.monotonic() > deadline or not self.read_some():
                return False
        return True

    def read_some(self):
        if self.sel.select(timeout=0.5):
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                return False
            sys.stdout.write(chunk.decode(errors="replace"))
            sys.stdout.flush()
            self.out += chunk
        return True

    def rest(self, deadline):
        while time.monotonic() < deadline and self.read_some():
            pass
        self.sel.close()
        return self.out


def run_snapshot(args):
    import tempfile
    host_mac = netns_tap.create_tap(TAP, "10.0.0.1/24")
    hmac = netns_tap.mac_bytes(host_mac)
    gmac = netns_tap.mac_bytes(GUEST_MAC)
    netns_tap.sysctl("ipv4/ip_forward", 1)
    for conf in ("all", TAP):
        netns_tap.sysctl(f"ipv4/conf/{conf}/send_redirects", 0)
        netns_tap.sysctl(f"ipv4/conf/{conf}/rp_filter", 0)
    netns_tap.ip("route", "add", "10.0.1.0/24", "dev", TAP)
    for addr in ("10.0.1.2", "10.0.0.2"):
        netns_tap.ip("neigh", "add", addr, "lladdr", GUEST_MAC, "dev", TAP, "nud", "permanent")
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.bind((TAP, 0))
    tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    tx.bind((TAP, 0))
    capture = Capture(sock)
    capture.start()
    work = tempfile.mkdtemp(prefix="kvmrun-netsnap-")
    state = os.path.join(work, "net.snap")
    problems = []

    cmd = [args.kvmrun, "--kernel", os.path.join(args.guest_dir, "virtio_net.elf"),
           "--memory", "64M", "--net", f"tap={TAP},mac={GUEST_MAC}",
           "--cmdline", f"mac={GUEST_MAC} hostmac={host_mac} snapshot",
           "--snapshot-on-signal", state]
    print("host: " + " ".join(cmd), flush=True)
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    con = Console(proc)
    deadline = time.monotonic() + TIMEOUT
    if con.wait_for("hold ready", deadline):
        tx.send(test_frame(gmac, hmac, 3001, 200))
        time.sleep(0.3)   # the device reads it and holds it: no buffer
        proc.stdin.write(b"hold sent\n")
        proc.stdin.flush()
    if con.wait_for("snapshot point", deadline):
        proc.send_signal(signal.SIGUSR1)
    else:
        proc.kill()
        problems.append("the guest never reached its snapshot point")
    pre = con.rest(deadline).decode(errors="replace")
    if proc.wait(timeout=10) != 0 or "snapshot: saved" not in pre:
        problems.append(f"save: exit {proc.returncode}")
    if problems:
        return problems

    restore = [args.kvmrun, "--restore", state, "--resume", "--console", "stdio"]
    # The TAP held by another process: the restore cannot attach to it.
    fd = hold_tap(TAP)
    p = subprocess.run(restore, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=TIMEOUT, text=True)
    os.close(fd)
    lines = p.stderr.splitlines()
    if p.returncode != 2 or len(lines) != 1 or not lines[0].startswith("kvmrun: error: ") or \
            TAP not in lines[0]:
        problems.append(f"restore with {TAP} busy: exit {p.returncode}, stderr {p.stderr!r}; "
                        "expected exit 2 and one error line naming the TAP")
    else:
        print(f"host: PASS: restore with the TAP busy refused: {lines[0]}")

    print("host: " + " ".join(restore), flush=True)
    proc = subprocess.Popen(restore, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    proc.stdin.write(b"go\n")
    proc.stdin.flush()
    con = Console(proc)
    deadline = time.monotonic() + TIMEOUT
    if con.wait_for("rx after ready", deadline):
        tx.send(test_frame(gmac, hmac, 3002, 1514))
    post = con.rest(deadline)
    try:
        status = proc.wait(timeout=max(deadline - time.monotonic(), 1))
    except subprocess.TimeoutExpired:
        proc.kill()
        status = proc.wait()
        problems.append(f"the restored kvmrun did not finish within {TIMEOUT:.0f} s")
    time.sleep(0.2)
    capture.stopping = True
    capture.join()

    got = {struct.unpack(">I", f[14:18])[0] for t, f in capture.frames
           if t != PACKET_OUTGOING and f[6:12] == gmac and f[12:14] == b"\x88\xb5"}
    for seq, when in ((20, "before the snapshot"), (21, "after the restore")):
        if seq in got:
            print(f"host: PASS: the guest's raw frame {seq} ({when}) reached the host")
        else:
            problems.append(f"the guest's raw frame {seq} ({when}) never reached the host")
    if status != 0:
        problems.append(f"the restored kvmrun exited with status {status}")
    text = pre.encode() + post
    if not re.search(rb"^SUMMARY: \d+ tests, 0 unexpected failures", text, re.MULTILINE) or \
            re.search(rb"^FAIL:", text, re.MULTILINE):
        problems.append("the guest reported failures (see FAIL: lines above)")
    for want in (rb"PASS: virtio-net: snapshot: after: the frame held when saved arrives",
                 rb"PASS: virtio-net: snapshot: after: forwarded back still NEEDS_CSUM"):
        if not re.search(want, post):
            problems.append(f"missing after the restore: {want.decode()}")
    if not problems:
        import shutil
        shutil.rmtree(work)
    return problems


def run(args):
    host_mac = netns_tap.create_tap(TAP, "10.0.0.1/24", txqueuelen=16)
    hmac = netns_tap.mac_bytes(host_mac)
    gmac = netns_tap.mac_bytes(GUEST_MAC)
    # Frames the guest sends to 10.0.1.2 come back to it, forwarded.
    netns_tap.sysctl("ipv4/ip_forward", 1)
    for conf in ("all", TAP):
        netns_tap.sysctl(f"ipv4/conf/{conf}/send_redirects", 0)
        netns_tap.sysctl(f"ipv4/conf/{conf}/rp_filter", 0)
    netns_tap.ip("route", "add", "10.0.1.0/24", "dev", TAP)
    for addr in ("10.0.1.2", "10.0.0.2"):
        netns_tap.ip("neigh", "add", addr, "lladdr", GUEST_MAC, "dev", TAP, "nud", "permanent")

    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.bind((TAP, 0))
    tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    tx.bind((TAP, 0))
    capture = Capture(sock)
    capture.start()

    image = "virtio_net_hostile.elf" if args.hostile else "virtio_net.elf"
    cmd = [args.kvmrun, "--kernel", os.path.join(args.guest_dir, image),
           "--memory", "64M", "--net", f"tap={TAP},mac={GUEST_MAC}",
           "--cmdline", f"mac={GUEST_MAC} hostmac={host_mac}" + (" hostile" if args.hostile else "")]
    print("host: " + " ".join(cmd), flush=True)
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    out, seen, tcp = b"", set(), {}
    start = time.monotonic()
    while time.monotonic() - start < TIMEOUT:
        if sel.select(timeout=0.5):
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            sys.stdout.write(chunk.decode(errors="replace"))
            sys.stdout.flush()
            out += chunk
        for m in re.finditer(rb"^sync: ([a-z0-9 ]+)\r?\n", out, re.MULTILINE):
            what = m.group(1).decode()
            if what in seen:
                continue
            seen.add(what)
            if what == "flood ready":
                for seq in range(40):
                    tx.send(test_frame(gmac, hmac, seq, 100))
                time.sleep(0.3)
                proc.stdin.write(b"flood sent\n")
                proc.stdin.flush()
            elif what == "flood need after":
                for seq in range(1000, 1005):
                    tx.send(test_frame(gmac, hmac, seq, 100))
                proc.stdin.write(b"after sent\n")
                proc.stdin.flush()
            elif what == "rx raw ready":
                for seq, size in zip((2000, 2001, 2002), (60, 1000, 1514)):
                    tx.send(test_frame(gmac, hmac, seq, size))
            elif what in ("hostile rx ready", "hostile rx2 ready"):
                tx.send(test_frame(gmac, hmac, 7, 100))
            elif what == "tcp ready":
                threading.Thread(target=tcp_client, args=(tcp,), daemon=True).start()
    else:
        proc.kill()
        print(f"host: FAIL: timed out after {TIMEOUT:.0f} s")
    status = proc.wait(timeout=10)
    time.sleep(0.2)
    capture.stopping = True
    capture.join()
    if "sock" in tcp:
        tcp["sock"].setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        tcp["sock"].close()

    if args.hostile:
        problems = hostile_checks(capture.frames, gmac)
    else:
        problems = host_checks(capture.frames, gmac)
    if status != 0:
        problems.append(f"kvmrun exited with status {status}")
    if not re.search(rb"^SUMMARY: \d+ tests, 0 unexpected failures", out, re.MULTILINE):
        problems.append("the guest reported failures (see FAIL: lines above)")
    wanted = (rb"PASS: virtio-net: hostile: still serving at the end",) if args.hostile else (
        rb"PASS: virtio-net: flood: receive resumes after the TAP and the queue were full",
                 rb"PASS: virtio-net: tcp: host data arrives as TSO frames",
        rb"PASS: virtio-net: config: mac 52:54:00:12:34:56")
    for want in wanted:
        if not re.search(want, out):
            problems.append(f"missing from the guest's output: {want.decode()}")
    if tcp.get("error"):
        problems.append(f"TCP connection to the guest: {tcp['error']}")
    for p in problems:
        print(f"host: FAIL: {p}")
    return 1 if problems else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kvmrun", required=True)
    ap.add_argument("--guest-dir", required=True)
    ap.add_argument("--hostile", action="store_true", help="run the hostile-driver guest")
    ap.add_argument("--snapshot", action="store_true", help="save and restore the guest")
    args = ap.parse_args()
    why = netns_tap.skip_reason()
    if why:
        print(f"SKIP: virtio-net TAP test: {why}", file=sys.stderr)
        return SKIP
    netns_tap.enter_private_netns()
    if args.snapshot:
        problems = run_snapshot(args)
        for p in problems:
            print(f"host: FAIL: {p}")
        return 1 if problems else 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
