"""A private network namespace with a TAP interface in it, for the
virtio-net test (tests/guest/net_tap.py) and benchmark (bench/net.py).

enter_private_netns() moves the calling process into a new network
namespace (unshare(CLONE_NEWNET)): nothing it creates there is visible to
the host's other processes, and the kernel deletes the namespace, with
every TAP and route in it, when the last process in it exits -- the
cleanup cannot be forgotten or skipped by a crash. Children (kvmrun, ip)
inherit it. Call it before starting any thread.
"""

import ctypes
import os
import shutil
import subprocess

CLONE_NEWNET = 0x40000000


def skip_reason():
    """None if the virtio-net tests can run here, else why not."""
    if os.geteuid() != 0:
        return "not root: a network namespace and a TAP device need CAP_SYS_ADMIN/CAP_NET_ADMIN"
    if not os.path.exists("/dev/net/tun"):
        return "/dev/net/tun is missing (no TUN/TAP driver)"
    if not shutil.which("ip"):
        return "the ip command (iproute2) is missing"
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
        os.close(fd)
    except OSError as e:
        return f"/dev/kvm is not usable: {e.strerror}"
    return None


def enter_private_netns():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare(CLONE_NEWNET): {os.strerror(err)}")
    ip("link", "set", "lo", "up")


def ip(*args):
    subprocess.run(["ip", *args], check=True, stdout=subprocess.DEVNULL)


def sysctl(path, value):
    # /proc/sys/net shows the namespace of the process that opens it.
    with open("/proc/sys/net/" + path, "w") as f:
        f.write(str(value))


def create_tap(name, address, txqueuelen=None):
    """A persistent TAP `name` with IPv4 `address` (CIDR), up, IPv6 off (no
    router solicitations or DAD frames to confuse a test guest). Returns
    its MAC address as 'xx:xx:xx:xx:xx:xx'."""
    ip("tuntap", "add", "dev", name, "mode", "tap")
    if txqueuelen is not None:
        ip("link", "set", "dev", name, "txqueuelen", str(txqueuelen))
    sysctl(f"ipv6/conf/{name}/disable_ipv6", 1)
    ip("addr", "add", address, "dev", name)
    ip("link", "set", "dev", name, "up")
    out = subprocess.run(["ip", "-o", "link", "show", "dev", name], check=True,
                         capture_output=True, text=True).stdout
    return out.split("link/ether ")[1].split()[0]


def mac_bytes(mac):
    return bytes(int(x, 16) for x in mac.split(":"))
