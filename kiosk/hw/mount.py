"""Mounting sticks read-only, and the small privileged helper that does it for the unprivileged app.

Three mounters share one contract (``kiosk.core.ports.usb.Mounter``):

- ``HelperMounter``: what the app uses on the Pi. It sends one line, ``mount sda1`` or ``unmount sda1``,
  over the helper's Unix socket and reads one line back, ``ok /run/kiosk/usb/sda1`` or ``error <why>``.
- ``KernelMounter``: ``mount -t vfat|exfat -o ro,nosuid,nodev,noexec,nosymfollow``; needs root. The helper
  (``python -m kiosk.hw.mount serve``, socket-activated by systemd, see systemd/) runs it after checking
  the device itself: a partition on the USB bus with a FAT or exFAT file system, named like a kernel device.
- ``FuseFatMounter``: read-only FUSE mount with fusefat, for machines without a vfat driver (the tests).

Mount paths are always ``<mount_root>/<kernel name>``, never built from the volume label.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from kiosk.core.errors import DeviceError
from kiosk.core.ports.usb import Mounter, StickDevice

log = logging.getLogger(__name__)

ALLOWED_FS_TYPES = ("vfat", "exfat")
MOUNT_OPTIONS = ("ro", "nosuid", "nodev", "noexec", "nosymfollow")
#: Kernel names the helper accepts: sda1, sdb12, mmcblk0p1, loop3p1 (the latter only when allowed).
DEVICE_NAME = re.compile(r"(sd[a-z]{1,2}[0-9]{1,3}|mmcblk[0-9]{1,2}p[0-9]{1,3}|loop[0-9]{1,3}p[0-9]{1,3})")
DEFAULT_SOCKET = Path("/run/kiosk/usb-mount.sock")
MOUNT_ROOT = Path("/run/kiosk/usb")


def mount_path_for(mount_root: Path, device: StickDevice) -> Path:
    """``mount_root/<kernel name>``; refuses a name that is not a plain kernel device name."""
    if not DEVICE_NAME.fullmatch(device.name):
        raise DeviceError(f"refusing to mount {device.name!r}: not a kernel partition name")
    return mount_root / device.name


def _check_fs(device: StickDevice) -> None:
    if device.fs_type not in ALLOWED_FS_TYPES:
        raise DeviceError(f"{device.name}: file system {device.fs_type or 'unknown'!r} is not FAT or exFAT")


def _run(cmd: list[str], timeout: float = 30) -> None:
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DeviceError(f"{cmd[0]} failed: {exc}") from None
    if result.returncode != 0:
        raise DeviceError(f"{cmd[0]} failed: {(result.stderr or result.stdout).strip()[:300]}")


def _remove_mountpoint(path: Path) -> None:
    try:
        if not os.path.ismount(path):
            path.rmdir()
    except OSError as exc:
        log.debug("mount point %s left: %s", path, exc)


class KernelMounter:
    """The kernel's vfat/exfat driver through mount(8); root only (inside the helper on the Pi)."""

    def __init__(self, mount_root: Path = MOUNT_ROOT, owner: tuple[int, int] | None = None) -> None:
        self._root, self._owner = Path(mount_root), owner

    def mount(self, device: StickDevice) -> Path:
        _check_fs(device)
        target = mount_path_for(self._root, device)
        self._root.mkdir(parents=True, exist_ok=True, mode=0o755)
        target.mkdir(exist_ok=True, mode=0o755)
        options = [*MOUNT_OPTIONS, "fmask=0133", "dmask=0022", "iocharset=utf8" if device.fs_type == "vfat" else ""]
        if self._owner is not None:
            options += [f"uid={self._owner[0]}", f"gid={self._owner[1]}"]
        try:
            _run(["mount", "-t", device.fs_type, "-o", ",".join(o for o in options if o), device.devnode, str(target)])
        except DeviceError:
            _remove_mountpoint(target)
            raise
        return target

    def unmount(self, device: StickDevice, mount_path: Path, *, lazy: bool = False) -> None:
        target = mount_path_for(self._root, device)
        if Path(mount_path) != target:
            raise DeviceError(f"{mount_path} is not where {device.name} is mounted")
        if os.path.ismount(target):
            _run(["umount", *(["--lazy"] if lazy else []), str(target)])
        _remove_mountpoint(target)


class FuseFatMounter:
    """Read-only FAT through fusefat (no kernel vfat driver needed); the fusefat process is ours to stop."""

    def __init__(self, mount_root: Path, *, timeout: float = 10.0) -> None:
        self._root, self._timeout = Path(mount_root), timeout
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def mount(self, device: StickDevice) -> Path:
        if device.fs_type != "vfat":
            raise DeviceError(f"{device.name}: fusefat mounts FAT only, not {device.fs_type or 'unknown'!r}")
        if shutil.which("fusefat") is None:
            raise DeviceError("fusefat is not installed")
        target = mount_path_for(self._root, device)
        target.mkdir(parents=True, exist_ok=True)
        options = ",".join(o for o in MOUNT_OPTIONS if o != "nosymfollow")  # FAT has no symlinks; FUSE lacks it
        # fusefat logs every operation; a pipe nobody reads would fill up and freeze the mount.
        process = subprocess.Popen(
            ["fusefat", "-f", "-o", options, device.devnode, str(target)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + self._timeout
        while not os.path.ismount(target):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                code = process.wait()
                _remove_mountpoint(target)
                raise DeviceError(f"fusefat could not mount {device.devnode} (exit code {code})")
            time.sleep(0.02)
        self.processes[device.name] = process
        return target

    def unmount(self, device: StickDevice, mount_path: Path, *, lazy: bool = False) -> None:
        target = mount_path_for(self._root, device)
        if Path(mount_path) != target:
            raise DeviceError(f"{mount_path} is not where {device.name} is mounted")
        if os.path.ismount(target):
            _run(["fusermount", "-u", *(["-z"] if lazy else []), str(target)])
        process = self.processes.pop(device.name, None)
        if process is not None:
            try:
                process.wait(timeout=self._timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        _remove_mountpoint(target)


class HelperMounter:
    """The app's side of the privileged helper: one request line, one answer line, over a Unix socket."""

    def __init__(self, socket_path: Path = DEFAULT_SOCKET, *, timeout: float = 30.0) -> None:
        self._socket_path, self._timeout = Path(socket_path), timeout

    def _ask(self, request: str) -> str:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(self._timeout)
                sock.connect(str(self._socket_path))
                sock.sendall(request.encode("ascii") + b"\n")
                sock.shutdown(socket.SHUT_WR)
                answer = b""
                while chunk := sock.recv(4096):
                    answer += chunk
                    if len(answer) > 4096:
                        break
        except OSError as exc:
            raise DeviceError(f"the mount helper at {self._socket_path} is not reachable: {exc}") from None
        text = answer.decode("utf-8", "replace").strip()
        if text.startswith("ok"):
            return text[2:].strip()
        raise DeviceError(text.removeprefix("error").strip() or "the mount helper gave no answer")

    def mount(self, device: StickDevice) -> Path:
        if not DEVICE_NAME.fullmatch(device.name):
            raise DeviceError(f"refusing to mount {device.name!r}: not a kernel partition name")
        return Path(self._ask(f"mount {device.name}"))

    def unmount(self, device: StickDevice, mount_path: Path, *, lazy: bool = False) -> None:
        self._ask(f"{'unmount-lazy' if lazy else 'unmount'} {device.name}")


# --- the privileged side ---------------------------------------------------------------------------

PropertiesLookup = Callable[[str], Mapping[str, str] | None]


def udev_properties(name: str) -> Mapping[str, str] | None:
    """The udev database's properties of block device ``name``, or None when there is none."""
    import pyudev

    try:
        device = pyudev.Devices.from_name(pyudev.Context(), "block", name)
    except pyudev.DeviceNotFoundError:
        return None
    return dict(device.properties)


def usb_partition_rule(properties: Mapping[str, str]) -> bool:
    """A partition on the USB bus holding FAT or exFAT: the only thing the appliance mounts."""
    return (
        properties.get("ID_BUS") == "usb"
        and properties.get("DEVTYPE") == "partition"
        and properties.get("ID_FS_TYPE") in ALLOWED_FS_TYPES
    )


def handle_request(
    line: str,
    mounter: Mounter,
    *,
    mount_root: Path = MOUNT_ROOT,
    lookup: PropertiesLookup = udev_properties,
    rule: Callable[[Mapping[str, str]], bool] = usb_partition_rule,
) -> str:
    """The helper's whole interface: ``mount NAME``, ``unmount NAME``, ``unmount-lazy NAME``.

    The client is not trusted: the name must be a kernel partition name and the helper looks the
    device up in udev itself; everything else about the mount (options, place) is fixed here.
    """
    parts = line.strip().split()
    if len(parts) != 2 or parts[0] not in ("mount", "unmount", "unmount-lazy"):
        return "error expected 'mount NAME', 'unmount NAME' or 'unmount-lazy NAME'"
    verb, name = parts
    if not DEVICE_NAME.fullmatch(name):
        return f"error {name[:40]!r} is not a partition name"
    properties = lookup(name)
    if verb == "mount":
        if properties is None or not rule(properties):
            return f"error {name} is not a USB partition with a FAT or exFAT file system"
        device = StickDevice(
            name=name, devnode=f"/dev/{name}", fs_type=properties.get("ID_FS_TYPE", ""),
            label=properties.get("ID_FS_LABEL", ""),
        )
        try:
            return f"ok {mounter.mount(device)}"
        except DeviceError as exc:
            return f"error {exc}"
    device = StickDevice(name=name, devnode=f"/dev/{name}")
    try:
        mounter.unmount(device, mount_path_for(mount_root, device), lazy=verb == "unmount-lazy")
    except DeviceError as exc:
        return f"error {exc}"
    return "ok"


def main(argv: list[str] | None = None) -> int:
    """``python -m kiosk.hw.mount serve``: answer one request on stdin/stdout (systemd Accept=yes socket)."""
    parser = argparse.ArgumentParser(prog="kiosk-usb-mount")
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("--mount-root", type=Path, default=MOUNT_ROOT)
    parser.add_argument("--owner", default="", help="user:group that owns the files of a mounted stick")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    owner = None
    if args.owner:
        import grp
        import pwd

        user, _, group = args.owner.partition(":")
        owner = (pwd.getpwnam(user).pw_uid, grp.getgrnam(group or user).gr_gid)
    line = sys.stdin.readline(256)
    answer = handle_request(line, KernelMounter(args.mount_root, owner), mount_root=args.mount_root)
    log.info("%s -> %s", line.strip()[:80], answer)
    sys.stdout.write(answer + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
