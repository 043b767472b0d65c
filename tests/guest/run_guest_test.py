#!/usr/bin/env python3
"""Run one guest test from tests.ini under kvmrun and check the result.

meson calls this once per INI section:

    run_guest_test.py --kvmrun PATH --guest-dir DIR --ini tests.ini --test NAME

Exit status: 0 pass, 1 fail, 77 skip (meson's SKIP: no usable /dev/kvm).
`--list` prints "name<TAB>timeout" per section for meson.build.
`--qemu PATH` runs the image under QEMU instead of kvmrun, to tell guest
bugs from VMM bugs (QEMU reports exit(code) as (code << 1) | 1; a triple
fault or reset, which ends QEMU with 0 under -no-reboot, is mapped to
kvmrun's crash status 4).
"""

import argparse
import codecs
import configparser
import errno
import os
import re
import selectors
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

SKIP = 77
DEFAULTS = {
    "cpus": "1",
    "memory": "64M",
    "cmdline": "",
    "initrd": "",
    "exit": "0",
    "output": "",
    "absent": "",
    "stdin": "",
    "stdin_after": "",
    "timeout": "20",
    "args": "",
    "disk": "",
    "disk_check": "",
}
KNOWN_KEYS = set(DEFAULTS) | {"file"}
KVMRUN_CRASH = 4


class TestError(Exception):
    """The INI section itself is wrong (not a test failure)."""


_SECTOR_STEPS = bytes((7 * i) & 0xff for i in range(512))


def _sector_bytes(sector, base_of):
    base = base_of(sector) & 0xff
    return _SECTOR_STEPS.translate(bytes((b + base) & 0xff for b in range(256)))


def _by_sectors(offset, length, sector_fn):
    first, last = offset >> 9, (offset + length + 511) >> 9
    data = b"".join(sector_fn(s) for s in range(first, last))
    return data[offset - (first << 9):offset - (first << 9) + length]


def disk_pattern(offset, length):
    """The bytes a fresh test disk holds at [offset, offset + length):
    byte o is (o * 7 + (o >> 9) * 13 + 1) & 0xff, so every sector differs
    and a read from the wrong place shows (guest/tests/virtio_blk.c)."""
    return _by_sectors(offset, length,
                       lambda s: _sector_bytes(s, lambda s: s * 512 * 7 + s * 13 + 1))


def disk_stamp(offset, length):
    """What virtio_blk.c writes: every byte of sector s is (s * 3 + 0x11)."""
    return _by_sectors(offset, length, lambda s: bytes([(s * 3 + 0x11) & 0xff]) * 512)


def parse_disk_size(text):
    m = re.fullmatch(r"(\d+)([KMG]?)", text.strip())
    if not m:
        raise ValueError(f"disk size {text!r}: expected a number with K, M or G")
    size = int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30}[m.group(2)]
    if size == 0 or size > (1 << 30):
        raise ValueError(f"disk size {text!r}: 1 byte to 1 GiB")
    return size


def parse_disk_offset(text):
    """Bytes, or sectors with an 's' suffix."""
    m = re.fullmatch(r"(\d+)(s?)", text)
    if not m:
        raise ValueError(f"{text!r}: expected bytes or Ns (sectors)")
    return int(m.group(1)) * (512 if m.group(2) else 1)


def parse_disks(text):
    """disk lines: SIZE[,--disk options], e.g. '1M' or '64K,ro,serial=x'."""
    disks = []
    for line in regex_list(text):
        size, _, opts = line.partition(",")
        disks.append((parse_disk_size(size), opts))
    return disks


def parse_disk_checks(text, nr_disks):
    """disk_check lines: DISK START LENGTH pattern|stamp|zero|fill:0xNN."""
    checks = []
    for line in regex_list(text):
        words = line.split()
        if len(words) != 4:
            raise ValueError(f"disk_check {line!r}: expected DISK START LENGTH WHAT")
        disk = int(words[0])
        if not 0 <= disk < nr_disks:
            raise ValueError(f"disk_check {line!r}: no disk {disk}")
        start, length = parse_disk_offset(words[1]), parse_disk_offset(words[2])
        what = words[3]
        if what not in ("pattern", "stamp", "zero") and not re.fullmatch(
                r"fill:0x[0-9a-fA-F]{1,2}", what):
            raise ValueError(f"disk_check {line!r}: WHAT is pattern, stamp, zero or fill:0xNN")
        checks.append((disk, start, length, what))
    return checks


def load_ini(path):
    # No interpolation: regexes and command lines may contain '%'.
    ini = configparser.ConfigParser(interpolation=None, default_section="__none__")
    with open(path, encoding="utf-8") as f:
        ini.read_file(f)
    return ini


def regex_list(text):
    return [line.strip() for line in text.splitlines() if line.strip()]


def read_section(ini, name):
    if not ini.has_section(name):
        raise TestError(f"no section [{name}] in the INI file")
    sec = ini[name]
    unknown = set(sec.keys()) - KNOWN_KEYS
    if unknown:
        raise TestError(f"[{name}]: unknown keys {sorted(unknown)}")
    if "file" not in sec:
        raise TestError(f"[{name}]: 'file' is required")
    t = dict(DEFAULTS)
    t.update(sec)
    try:
        t["cpus"] = int(t["cpus"])
        t["exit"] = int(t["exit"])
        t["timeout"] = float(t["timeout"])
    except ValueError as e:
        raise TestError(f"[{name}]: {e}") from e
    try:
        t["disk"] = parse_disks(t["disk"])
        t["disk_check"] = parse_disk_checks(t["disk_check"], len(t["disk"]))
    except ValueError as e:
        raise TestError(f"[{name}]: {e}") from e
    t["output"] = regex_list(t["output"])
    t["absent"] = regex_list(t["absent"])
    t["stdin"] = codecs.decode(t["stdin"], "unicode_escape")
    for rx in t["output"] + t["absent"] + ([t["stdin_after"]] if t["stdin_after"] else []):
        try:
            re.compile(rx)
        except re.error as e:
            raise TestError(f"[{name}]: bad regex {rx!r}: {e}") from e
    return t


def kvm_usable():
    """None if /dev/kvm opens read-write, else the reason it does not."""
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError as e:
        return f"{e.strerror} (errno {errno.errorcode.get(e.errno, e.errno)})"
    os.close(fd)
    return None


class Disks:
    """Test disk images in a private temporary directory, next to a
    sentinel file: afterwards the sentinel must be unchanged and no file
    added or resized, so a guest cannot reach beyond its images."""

    def __init__(self, specs):
        self.dir = tempfile.mkdtemp(prefix="kvmrun-disks-")
        self.paths = []
        self.sizes = []
        self.options = []
        self.sentinel = os.urandom(4096)
        with open(os.path.join(self.dir, "sentinel"), "wb") as f:
            f.write(self.sentinel)
        for i, (size, opts) in enumerate(specs):
            path = os.path.join(self.dir, f"disk{i}.img")
            with open(path, "wb") as f:
                f.write(disk_pattern(0, size))
            self.paths.append(path)
            self.sizes.append(size)
            self.options.append(opts)
        self.listing = sorted(os.listdir(self.dir))

    def args(self):
        out = []
        for path, opts in zip(self.paths, self.options):
            out += ["--disk", path + ("," + opts if opts else "")]
        return out

    def check(self, checks):
        problems = []
        if sorted(os.listdir(self.dir)) != self.listing:
            problems.append(f"files in the disk directory changed: {sorted(os.listdir(self.dir))}")
        with open(os.path.join(self.dir, "sentinel"), "rb") as f:
            if f.read() != self.sentinel:
                problems.append("the sentinel file next to the images changed")
        for path, size in zip(self.paths, self.sizes):
            if os.path.getsize(path) != size:
                problems.append(f"{os.path.basename(path)}: size {os.path.getsize(path)}, was {size}")
        for disk, start, length, what in checks:
            with open(self.paths[disk], "rb") as f:
                f.seek(start)
                got = f.read(length)
            if what == "pattern":
                want = disk_pattern(start, length)
            elif what == "stamp":
                want = disk_stamp(start, length)
            elif what == "zero":
                want = bytes(length)
            else:
                want = bytes([int(what[5:], 16)]) * length
            if got != want:
                bad = next((i for i in range(min(len(got), len(want))) if got[i] != want[i]),
                           min(len(got), len(want)))
                problems.append(f"disk {disk} [{start}, +{length}) is not {what}: byte "
                                f"{start + bad} is {got[bad:bad + 1].hex() or 'missing'}, "
                                f"expected {want[bad:bad + 1].hex()}")
        return problems

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def build_command(args, t, image, cmdline, initrd):
    if args.qemu:
        return [
            args.qemu, "-accel", "kvm", "-M", "microvm,rtc=on", "-cpu", "host",
            "-smp", str(t["cpus"]), "-m", t["memory"], "-nographic", "-nodefaults",
            "-no-reboot", "-serial", "stdio",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
            "-kernel", image, "-append", cmdline,
        ] + (["-initrd", initrd] if initrd else [])
    return [
        args.kvmrun, "--kernel", image, "--cpus", str(t["cpus"]),
        "--memory", t["memory"], "--cmdline", cmdline, "--console", "stdio",
    ] + (["--initrd", initrd] if initrd else []) + shlex.split(t["args"])


def run(cmd, t):
    """Run cmd; returns (status or None on timeout, output text, seconds)."""
    start = time.monotonic()
    deadline = start + t["timeout"]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    out = bytearray()
    pending_stdin = t["stdin"].encode()
    after = re.compile(t["stdin_after"], re.MULTILINE) if t["stdin_after"] else None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    timed_out = False
    try:
        while True:
            if pending_stdin and (after is None or
                                  after.search(out.decode(errors="replace"))):
                try:
                    proc.stdin.write(pending_stdin)
                    proc.stdin.flush()
                except BrokenPipeError:
                    pass
                pending_stdin = b""
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            if not sel.select(timeout=min(left, 0.5)):
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            out += chunk
        if timed_out:
            proc.kill()
        # stdin stays open until the end: a VMM may treat EOF on its
        # console input as a reason to act.
        status = proc.wait(timeout=10)
    finally:
        sel.close()
        for f in (proc.stdin, proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return (None if timed_out else status), out.decode(errors="replace"), \
        time.monotonic() - start


def qemu_status(status):
    if status is None:
        return None
    if status & 1:
        return status >> 1
    return KVMRUN_CRASH if status == 0 else status


def check(t, status, output):
    problems = []
    if status is None:
        problems.append(f"timed out after {t['timeout']:g} s")
    elif status != t["exit"]:
        problems.append(f"exit status {status}, expected {t['exit']}")
    for rx in t["output"]:
        if not re.search(rx, output, re.MULTILINE):
            problems.append(f"output does not match {rx!r}")
    for rx in t["absent"]:
        m = re.search(rx, output, re.MULTILINE)
        if m:
            problems.append(f"output matches forbidden {rx!r}: {m.group(0)!r}")
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ini", required=True)
    ap.add_argument("--list", action="store_true",
                    help="print 'name<TAB>timeout' for every section")
    ap.add_argument("--test")
    ap.add_argument("--kvmrun")
    ap.add_argument("--qemu", help="run under this QEMU binary instead of kvmrun")
    ap.add_argument("--guest-dir")
    args = ap.parse_args()

    try:
        ini = load_ini(args.ini)
        if args.list:
            for name in ini.sections():
                print(f"{name}\t{read_section(ini, name)['timeout']:g}")
            return 0
        if not args.test or not args.guest_dir or not (args.kvmrun or args.qemu):
            ap.error("--test, --guest-dir and --kvmrun (or --qemu) are required")
        t = read_section(ini, args.test)
    except (OSError, configparser.Error, TestError) as e:
        print(f"run_guest_test: {args.ini}: {e}", file=sys.stderr)
        return 1

    why = kvm_usable()
    if why:
        msg = f"SKIP: /dev/kvm not available ({why}); guest test {args.test} not run"
        print(msg)
        print(f"*** {msg} ***", file=sys.stderr)
        return SKIP

    image = os.path.join(args.guest_dir, t["file"])
    if not os.path.isfile(image):
        print(f"FAIL: guest image {image} does not exist")
        return 1
    # initrd paths are relative to the INI file's directory (tests/guest/).
    initrd = ""
    if t["initrd"]:
        initrd = os.path.join(os.path.dirname(os.path.abspath(args.ini)), t["initrd"])
        if not os.path.isfile(initrd):
            print(f"FAIL: initrd {initrd} does not exist")
            return 1
    cmdline = t["cmdline"].replace("{epoch}", str(int(time.time()))) \
                          .replace("{cpus}", str(t["cpus"])) \
                          .replace("{kernel}", image)
    if t["disk"] and args.qemu:
        print(f"SKIP: {args.test}: disk tests find kvmrun's virtio-mmio windows, not QEMU's")
        return SKIP
    disks = Disks(t["disk"]) if t["disk"] else None
    try:
        cmd = build_command(args, t, image, cmdline, initrd) + (disks.args() if disks else [])
        status, output, seconds = run(cmd, t)
        if args.qemu:
            status = qemu_status(status)
        problems = check(t, status, output)
        if disks:
            problems += disks.check(t["disk_check"])
    finally:
        if disks:
            disks.remove()

    print("$ " + " ".join(f"'{c}'" if (" " in c or not c) else c for c in cmd))
    print(f"--- console output ({seconds:.2f} s, exit status {status}) ---")
    print(output, end="" if output.endswith("\n") or not output else "\n")
    print("--- end of output ---")
    if problems:
        for p in problems:
            print(f"FAIL: {args.test}: {p}")
        return 1
    print(f"PASS: {args.test} ({seconds:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
