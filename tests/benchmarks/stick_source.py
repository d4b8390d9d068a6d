"""A copy of a tree that reads like a freshly inserted USB stick, for the import benchmark: a read-only ext4
image on a loop device, mounted afresh for each run, its reads optionally throttled by the block I/O cgroup
of the processes that read it.

A local disk with a warm page cache hands out a tree faster than any stick, so there ``cp -r`` measures the
cost of creating files and the import the cost of reading tags. A stick is the other way round: it has
just been inserted, so nothing of it is cached, and its reads set the pace. The image is mounted again
before each run, and the loop device reads its backing file with direct I/O, so every read goes to the
disk (the host's page cache holds the image, which was just written). The throttle, for the processes put
in the cgroup (and their children: the tag workers), applies to every read, the walk's included. Needs
root, ``losetup``, ``mkfs.ext4 -d`` and a cgroup with a block I/O throttle (the v1 ``blkio`` controller or
the v2 ``io`` one); ``reason_unavailable`` says what is missing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

#: A USB 2 stick reads at about this many bytes a second (a Raspberry Pi 3 has only USB 2 ports).
USB2_STICK_BPS = 40 * 1024 * 1024
_CGROUP_V1 = Path("/sys/fs/cgroup/blkio")
_CGROUP_V2 = Path("/sys/fs/cgroup")
_NAME = "kiosk-bench-stick-source"


def reason_unavailable() -> str:
    """Why a stick image cannot be made here; empty when it can."""
    if os.geteuid() != 0:
        return "needs root (a loop device, a mount and a cgroup)"
    for tool in ("losetup", "mkfs.ext4", "mount", "umount"):
        if shutil.which(tool) is None:
            return f"needs {tool}"
    if not (_CGROUP_V1 / "blkio.throttle.read_bps_device").exists() and "io" not in _v2_controllers():
        return "needs a block I/O cgroup controller (v1 blkio or v2 io)"
    return ""


def _v2_controllers() -> set[str]:
    try:
        return set((_CGROUP_V2 / "cgroup.controllers").read_text().split())
    except OSError:
        return set()


class StickImage:
    """``tree`` on a loop-device image in ``work``, its reads throttled to ``read_bps`` for the processes
    started with ``enter_throttled_cgroup`` as their ``preexec_fn``. A context manager: it removes all it
    made."""

    def __init__(self, tree: Path, work: Path, read_bps: int = USB2_STICK_BPS) -> None:
        self._tree, self._work, self._read_bps = tree, work, read_bps
        self._image, self.mount_point = work / "stick.img", work / "stick"
        self._loop = ""
        self._cgroup: Path | None = None
        self._mounted = False

    def __enter__(self) -> StickImage:
        try:
            size = sum(p.stat().st_size for p in self._tree.rglob("*") if p.is_file())
            with open(self._image, "wb") as image:
                image.truncate(size * 3 // 2 + 64 * 1024 * 1024)  # room for the file system's own blocks
            subprocess.run(["mkfs.ext4", "-q", "-d", str(self._tree), str(self._image)], check=True)
            self._loop = subprocess.run(
                ["losetup", "--find", "--show", "--read-only", "--direct-io=on", str(self._image)],
                check=True, capture_output=True, text=True,
            ).stdout.strip()
            self.mount_point.mkdir()
            self._cgroup = self._make_cgroup()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _make_cgroup(self) -> Path:
        device = os.stat(self._loop).st_rdev
        key = f"{os.major(device)}:{os.minor(device)}"
        if (_CGROUP_V1 / "blkio.throttle.read_bps_device").exists():
            cgroup = _CGROUP_V1 / _NAME
            cgroup.mkdir(exist_ok=True)
            (cgroup / "blkio.throttle.read_bps_device").write_text(f"{key} {self._read_bps}")
            return cgroup
        (_CGROUP_V2 / "cgroup.subtree_control").write_text("+io")
        cgroup = _CGROUP_V2 / _NAME
        cgroup.mkdir(exist_ok=True)
        (cgroup / "io.max").write_text(f"{key} rbps={self._read_bps}")
        return cgroup

    def fresh_mount(self) -> Path:
        """The tree, mounted again (read-only): whatever an earlier run read is no longer cached."""
        if self._mounted:
            subprocess.run(["umount", str(self.mount_point)], check=True)
            self._mounted = False
        subprocess.run(["mount", "-o", "ro,noatime", self._loop, str(self.mount_point)], check=True)
        self._mounted = True
        return self.mount_point

    def enter_throttled_cgroup(self) -> None:
        """For ``subprocess``'s ``preexec_fn``: the new process (and all it starts) reads at the throttled pace."""
        assert self._cgroup is not None
        (self._cgroup / "cgroup.procs").write_text(str(os.getpid()))

    def __exit__(self, *exc: object) -> None:
        if self._mounted:
            subprocess.run(["umount", str(self.mount_point)], check=False)
            self._mounted = False
        if self._loop:
            subprocess.run(["losetup", "--detach", self._loop], check=False)
            self._loop = ""
        if self._cgroup is not None:
            with contextlib.suppress(OSError):  # refused while a process is in it; they have all ended here
                self._cgroup.rmdir()
            self._cgroup = None
        self._image.unlink(missing_ok=True)
        if self.mount_point.exists():
            self.mount_point.rmdir()
