#!/usr/bin/env python3
"""kvmrun refuses bad input with one line on stderr, exit status 2, and no
output file left behind.

meson runs one case per test:  bad_input.py --kvmrun PATH --guest-dir DIR --case NAME
`--list` prints the case names. Exit status: 0 pass, 1 fail, 77 skip (a
case that needs /dev/kvm on a host without it)."""

import argparse
import fcntl
import os
import random
import socket
import struct
import subprocess
import sys
import tempfile

SKIP = 77


def kvm_usable():
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR))
        return True
    except OSError:
        return False


def synthetic_bzimage(setup_sects=4, version=0x020F, xloadflags=0x1, relocatable=1,
                      total=None, cmdline_size=255):
    """A bzImage with a valid-looking setup header and `total` bytes."""
    size = total if total is not None else (setup_sects + 1) * 512 + 4096
    img = bytearray(max(size, 0x260))
    img[0x1F1] = setup_sects
    img[0x200] = 0xEB                      # jmp: its offset gives the header's end
    img[0x201] = 0x268 - 0x202
    struct.pack_into("<H", img, 0x1FE, 0xAA55)
    img[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", img, 0x206, version)
    img[0x211] = 0x01                      # loadflags: LOADED_HIGH
    struct.pack_into("<I", img, 0x22C, 0x7FFFFFFF)  # initrd_addr_max
    struct.pack_into("<I", img, 0x230, 0x200000)    # kernel_alignment
    img[0x234] = relocatable
    struct.pack_into("<H", img, 0x236, xloadflags)
    struct.pack_into("<I", img, 0x238, cmdline_size)
    struct.pack_into("<I", img, 0x260, 0x400000)    # init_size
    return bytes(img[:size])


# name -> (needs_kvm, builder). A builder gets (tmpdir, guest_dir) and
# returns (argv after the binary, substring expected in the error line).
def cases():
    def hello(g):
        return os.path.join(g, "hello.elf")

    def write(tmp, name, data):
        path = os.path.join(tmp, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def truncated_elf(tmp, g):
        # Cut the image in the middle of its first loadable segment.
        data = open(hello(g), "rb").read()
        phoff, = struct.unpack_from("<Q", data, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
        for i in range(phnum):
            p_type, _, p_offset, _, _, p_filesz = struct.unpack_from("<IIQQQQ", data, phoff + i * phentsize)
            if p_type == 1 and p_filesz > 2:
                cut = p_offset + p_filesz // 2
                break
        return ["--kernel", write(tmp, "cut.elf", data[:cut])], "cut.elf"

    def multiboot_patched(tmp, g, flags_xor=0, checksum_add=0):
        # The guest library's Multiboot image with its header's flags or
        # checksum changed (the header is the first aligned 0x1BADB002).
        data = bytearray(open(os.path.join(g, "multiboot.elf"), "rb").read())
        off = next(o for o in range(0, 8192, 4)
                   if struct.unpack_from("<I", data, o)[0] == 0x1BADB002)
        flags = struct.unpack_from("<I", data, off + 4)[0] ^ flags_xor
        checksum = (checksum_add - 0x1BADB002 - flags) & 0xFFFFFFFF
        struct.pack_into("<II", data, off + 4, flags, checksum)
        return write(tmp, "mb.elf", bytes(data))

    def vsock_in_use(tmp, g):
        # Another process (another VM) listens on the path: not taken over.
        path = os.path.join(tmp, "busy.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)
        s.listen(1)
        held_locks.append(s)
        return ["--kernel", hello(g), "--vsock", "cid=3,uds=" + path], "in use"

    def locked_disk(tmp, g):
        # Another process (here: this one) holds the image's lock, as a
        # second VM on the same image would.
        path = write(tmp, "locked.img", b"\0" * 4096)
        fd = os.open(path, os.O_RDWR)
        fcntl.flock(fd, fcntl.LOCK_EX)
        held_locks.append(fd)
        return ["--kernel", hello(g), "--disk", path], "in use by another process"

    return {
        "unknown_option": (False, lambda t, g: (["--kernel", hello(g), "--frobnicate"], "--frobnicate")),
        "stray_argument": (False, lambda t, g: (["--kernel", hello(g), "extra"], "extra")),
        "no_kernel": (False, lambda t, g: ([], "--kernel")),
        "missing_kernel": (False, lambda t, g: (["--kernel", os.path.join(t, "nope")], "No such file")),
        "kernel_is_directory": (False, lambda t, g: (["--kernel", t], "not a regular file")),
        "empty_kernel": (False, lambda t, g: (["--kernel", write(t, "empty", b"")], "empty")),
        "garbage_kernel": (False, lambda t, g: (["--kernel", write(t, "junk", random.Random(1).randbytes(8192))],
                                                "unrecognised kernel image")),
        "truncated_elf": (False, truncated_elf),
        "truncated_bzimage": (False, lambda t, g: (["--kernel", write(t, "bz", synthetic_bzimage(total=1024))],
                                                   "bz")),
        "bzimage_protocol_too_old": (False, lambda t, g: (["--kernel", write(t, "bz", synthetic_bzimage(version=0x0204))],
                                                          "protocol")),
        "bzimage_not_64bit": (False, lambda t, g: (["--kernel", write(t, "bz", synthetic_bzimage(xloadflags=0))],
                                                   "64-bit")),
        "bzimage_cmdline_too_long": (False, lambda t, g: (["--kernel", write(t, "bz", synthetic_bzimage()),
                                                           "--cmdline", "x" * 300], "command line")),
        "multiboot_bad_checksum": (False, lambda t, g: (["--kernel", multiboot_patched(t, g, checksum_add=1)],
                                                        "checksum")),
        "multiboot_unknown_required_flag": (False, lambda t, g: (["--kernel", multiboot_patched(t, g, flags_xor=1 << 5)],
                                                                 "flags")),
        "multiboot_cmdline_too_long": (False, lambda t, g: (["--kernel", os.path.join(g, "multiboot.elf"),
                                                             "--cmdline", "z" * 65530], "command line")),
        "pvh_cmdline_too_long": (False, lambda t, g: (["--kernel", hello(g), "--cmdline", "y" * 70000],
                                                      "command line")),
        "missing_initrd": (False, lambda t, g: (["--kernel", hello(g), "--initrd", os.path.join(t, "nope")],
                                                "initrd")),
        "empty_initrd": (False, lambda t, g: (["--kernel", hello(g), "--initrd", write(t, "rd", b"")], "empty")),
        "initrd_too_large": (False, lambda t, g: (["--kernel", hello(g), "--memory", "16M",
                                                   "--initrd", write(t, "big", b"\0" * (20 << 20))], "initrd")),
        "memory_zero": (False, lambda t, g: (["--kernel", hello(g), "--memory", "0"], "--memory 0")),
        "memory_too_small": (False, lambda t, g: (["--kernel", hello(g), "--memory", "2M"], "at least")),
        "memory_garbage": (False, lambda t, g: (["--kernel", hello(g), "--memory", "lots"], "not a size")),
        "memory_beyond_host": (False, lambda t, g: (["--kernel", hello(g), "--memory", "64T"], "host")),
        "cpus_zero": (False, lambda t, g: (["--kernel", hello(g), "--cpus", "0"], "--cpus 0")),
        "cpus_too_many": (False, lambda t, g: (["--kernel", hello(g), "--cpus", "1000"], "at most")),
        "console_bad": (False, lambda t, g: (["--kernel", hello(g), "--console", "serial"], "--console")),
        "flag_with_value": (False, lambda t, g: (["--kernel", hello(g), "--debug-exit=1"], "takes no value")),
        "disk_missing": (False, lambda t, g: (["--kernel", hello(g), "--disk", os.path.join(t, "nope.img")],
                                              "nope.img: No such file")),
        "disk_is_directory": (False, lambda t, g: (["--kernel", hello(g), "--disk", t], "disk " + t)),
        "disk_char_device": (False, lambda t, g: (["--kernel", hello(g), "--disk", "/dev/null"],
                                                  "not a regular file or block device")),
        "disk_too_small": (False, lambda t, g: (["--kernel", hello(g), "--disk", write(t, "tiny.img", b"x" * 511)],
                                                "smaller than one 512-byte sector")),
        "disk_locked": (False, locked_disk),
        "disk_bad_option": (False, lambda t, g: (["--kernel", hello(g), "--disk", write(t, "d.img", b"\0" * 512) +
                                                  ",cache=none"], "cache=none")),
        "disk_too_many": (False, lambda t, g: (["--kernel", hello(g)] +
                                               [a for i in range(9) for a in ("--disk", f"d{i}.img")],
                                               "at most 8 disks")),
        "balloon_bad_option": (False, lambda t, g: (["--kernel", hello(g), "--balloon", "size=1M"],
                                                    "unknown option 'size=1M'")),
        "balloon_bad_target": (False, lambda t, g: (["--kernel", hello(g), "--balloon=target=lots"],
                                                    "target=lots: not a size")),
        "balloon_target_unaligned": (False, lambda t, g: (["--kernel", hello(g), "--balloon", "target=4097K"],
                                                          "multiple of 4 KiB")),
        "balloon_target_beyond_ram": (False, lambda t, g: (["--kernel", hello(g), "--memory", "64M",
                                                            "--balloon", "target=65M"],
                                                           "more than the guest's RAM")),
        "balloon_bad_stats": (False, lambda t, g: (["--kernel", hello(g), "--balloon", "stats=forever"],
                                                   "stats=forever: expected seconds")),
        "balloon_twice": (False, lambda t, g: (["--kernel", hello(g), "--balloon", "--balloon"],
                                               "--balloon given twice")),
        "vsock_reserved_cid": (False, lambda t, g: (["--kernel", hello(g), "--vsock",
                                                     "cid=2,uds=" + os.path.join(t, "v.sock")],
                                                    "cid=2: must be 3 to")),
        "vsock_no_uds": (False, lambda t, g: (["--kernel", hello(g), "--vsock", "cid=3"],
                                              "uds=PATH is required")),
        "vsock_path_too_long": (False, lambda t, g: (["--kernel", hello(g), "--vsock",
                                                      "cid=3,uds=/" + "x" * 100],
                                                     "longer than 96 bytes")),
        "vsock_uds_not_a_socket": (False, lambda t, g: (["--kernel", hello(g), "--vsock",
                                                         "cid=3,uds=" + write(t, "f", b"keep")],
                                                        "exists and is not a socket")),
        "vsock_uds_in_use": (False, vsock_in_use),
        "vsock_uds_no_dir": (False, lambda t, g: (["--kernel", hello(g), "--vsock",
                                                   "cid=3,uds=" + os.path.join(t, "no", "v.sock")],
                                                  "No such file or directory")),
        "net_no_tap": (False, lambda t, g: (["--kernel", hello(g), "--net", "mac=02:00:00:00:00:01"],
                                            "tap=NAME is required")),
        "net_bad_name": (False, lambda t, g: (["--kernel", hello(g), "--net", "tap=a/b"],
                                              "tap=a/b: not a valid interface name")),
        "net_bad_mac": (False, lambda t, g: (["--kernel", hello(g), "--net", "tap=t0,mac=02:00:00:00:00"],
                                             "mac=02:00:00:00:00: expected six hex bytes")),
        "net_multicast_mac": (False, lambda t, g: (["--kernel", hello(g), "--net",
                                                    "tap=t0,mac=01:00:5e:00:00:01"], "multicast")),
        "net_too_many": (False, lambda t, g: (["--kernel", hello(g)] +
                                              [a for i in range(5) for a in ("--net", f"tap=t{i}")],
                                              "at most 4 network devices")),
        # The loopback interface exists and is not a TAP: TUNSETIFF refuses
        # it (or /dev/net/tun is missing); either way nothing is created.
        "net_not_a_tap": (False, lambda t, g: (["--kernel", hello(g), "--net", "tap=lo"], "--net tap=lo")),
        # Snapshots (docs/snapshots.md; tests/guest/snapshot.py damages real ones).
        "restore_missing": (False, lambda t, g: (["--restore", os.path.join(t, "nope.snap")],
                                                 "nope.snap: No such file")),
        "restore_not_a_snapshot": (False, lambda t, g: (["--restore", hello(g)], "not a kvmrun snapshot")),
        "restore_with_kernel": (False, lambda t, g: (["--restore", "x.snap", "--kernel", hello(g)],
                                                     "--kernel cannot be given with --restore")),
        "restore_with_cpus": (False, lambda t, g: (["--restore", "x.snap", "--cpus", "2"],
                                                   "--cpus cannot be given with --restore")),
        "resume_without_restore": (False, lambda t, g: (["--kernel", hello(g), "--resume"],
                                                        "need --restore")),
        "memory_backend_bad": (False, lambda t, g: (["--restore", "x.snap", "--memory-backend", "disk"],
                                                    "expected private or uffd")),
        "memory_backend_uffd_bad_option": (False, lambda t, g: (["--restore", "x.snap", "--memory-backend",
                                                                "uffd,prefetch=maybe"], "'prefetch=maybe'")),
        "memory_backend_uffd_bad_delay": (False, lambda t, g: (["--restore", "x.snap", "--memory-backend",
                                                               "uffd,fault-delay-us=5ms"], "fault-delay-us=5ms")),
        "snapshot_bad_option": (False, lambda t, g: (["--kernel", hello(g), "--snapshot-on-signal",
                                                      "s,then=later"], "then=later")),
        "snapshot_same_files": (False, lambda t, g: (["--kernel", hello(g), "--snapshot-on-signal",
                                                      "s,mem=s"], "must differ")),
        "restore_with_vsock": (False, lambda t, g: (["--restore", "x.snap", "--vsock", "cid=3,uds=v"],
                                                    "--vsock cannot be given with --restore")),
        # A snapshot records the socket path absolute; it must still fit.
        "snapshot_vsock_path_long": (False, lambda t, g: (["--kernel", hello(g), "--vsock",
                                                           "cid=3,uds=" + "v" * 90,
                                                           "--snapshot-on-signal",
                                                           os.path.join(t, "s")],
                                                          "as an absolute path")),
        "snapshot_diff_value": (False, lambda t, g: (["--kernel", hello(g), "--snapshot-on-signal",
                                                      "s,diff=yes"], "expected mem=PATH, then=exit, then=continue or diff")),
        "base_memory_file_without_restore": (False, lambda t, g: (["--kernel", hello(g),
                                                                   "--base-memory-file", "b.mem"],
                                                                  "need --restore")),
        "snapshot_pci_testdev": (True, lambda t, g: (["--kernel", hello(g), "--pci-testdev",
                                                      "--snapshot-on-signal", os.path.join(t, "s")],
                                                     "no snapshot support")),
    }


# File descriptors holding locks for the "disk_locked" case, and the listening
# socket of "vsock_uds_in_use", until the case ends.
held_locks = []


def run_case(name, kvmrun, guest_dir):
    needs_kvm, build = cases()[name]
    if needs_kvm and not kvm_usable():
        msg = f"SKIP: {name}: /dev/kvm not available"
        print(msg)
        print(msg, file=sys.stderr)
        return SKIP
    with tempfile.TemporaryDirectory(prefix="kvmrun-bad-input-") as tmp:
        args, expect = build(tmp, guest_dir)
        console = os.path.join(tmp, "console.out")
        argv = [kvmrun] + args + ["--console", "file:" + console]
        if name == "console_bad":
            argv = [kvmrun] + args
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
        err = proc.stderr.decode(errors="replace")
        out = proc.stdout.decode(errors="replace")
        shown = " ".join(a if len(a) < 80 else a[:20] + "..." for a in argv)
        print(f"$ {shown}\nexit status {proc.returncode}\nstderr: {err!r}\nstdout: {out!r}")
        failures = []
        if proc.returncode != 2:
            failures.append(f"exit status {proc.returncode}, expected 2")
        lines = err.splitlines()
        if len(lines) != 1:
            failures.append(f"{len(lines)} lines on stderr, expected exactly 1")
        elif not lines[0].startswith("kvmrun: error: "):
            failures.append("the error line does not start with 'kvmrun: error: '")
        if expect not in err:
            failures.append(f"the error does not mention {expect!r}")
        if out:
            failures.append("unexpected output on stdout")
        if os.path.exists(console):
            failures.append("a console file was created for a refused configuration")
        for f in failures:
            print("FAIL: " + f)
        return 1 if failures else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kvmrun")
    ap.add_argument("--guest-dir")
    ap.add_argument("--case")
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args()
    if a.list:
        print("\n".join(cases()))
        return 0
    return run_case(a.case, a.kvmrun, a.guest_dir)


if __name__ == "__main__":
    sys.exit(main())
