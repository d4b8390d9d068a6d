"""Real USB sticks for tests: partitioned FAT32 images on loop devices, real udev events, fusefat mounts.

Needs root, udevd (started here when it is not running, and stopped afterwards only then), losetup,
partx, sfdisk, mkfs.vfat, mtools and fusefat. Without them the tests skip, or fail under
KIOSK_REQUIRE_HW_TESTS=1. Every loop device and mount made here is removed, even when a test fails.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from tests.conftest import skip_or_fail

TOOLS = ("losetup", "partx", "sfdisk", "mkfs.vfat", "mcopy", "mmd", "fusefat", "fusermount", "udevadm")


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    """gpiozero's own mock pins; reset afterwards, or the next test finds its pins in use."""
    f = MockFactory()
    yield f
    f.reset()


def _run(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60).stdout.strip()


@pytest.fixture(scope="session")
def hw_ready() -> None:
    """Root and the tools; skips (or fails in CI) without them."""
    if os.geteuid() != 0:
        skip_or_fail("needs root for loop devices and mounts")
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        skip_or_fail(f"missing tools: {', '.join(missing)}")
    if not Path("/dev/fuse").exists():
        skip_or_fail("no /dev/fuse for fusefat")


@pytest.fixture(scope="session")
def udevd(hw_ready: None) -> Iterator[None]:
    """A running udevd; started here if needed and stopped at the end only if we started it."""
    started = False
    if subprocess.run(["udevadm", "control", "--ping"], capture_output=True).returncode != 0:
        candidates = ("/lib/systemd/systemd-udevd", "/usr/lib/systemd/systemd-udevd")
        daemon = next((d for d in candidates if Path(d).exists()), None)
        if daemon is None:
            skip_or_fail("systemd-udevd not installed")
        subprocess.run([daemon, "--daemon"], check=True, timeout=30)
        started = True
        deadline = time.monotonic() + 10
        while subprocess.run(["udevadm", "control", "--ping"], capture_output=True).returncode != 0:
            if time.monotonic() > deadline:
                skip_or_fail("udevd did not come up")
            time.sleep(0.1)
    yield
    if started:
        subprocess.run(["udevadm", "control", "--exit"], capture_output=True, timeout=30)


def make_stick_image(path: Path, files: dict[str, Path | bytes], *, label: str = "MUSIC", size_mb: int = 64) -> Path:
    """A partitioned FAT32 image filled with mtools (no mount needed); keys are paths on the stick."""
    with open(path, "wb") as f:
        f.truncate(size_mb * 1024 * 1024)
    subprocess.run(["sfdisk", "-q", str(path)], input="type=c\n", text=True, check=True, timeout=30)
    _run("mkfs.vfat", "-F", "32", "-n", label, "--offset", "2048", str(path))
    image = f"{path}@@1M"
    made: set[str] = set()
    env = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}
    for name, content in sorted(files.items()):
        parts = name.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if folder not in made:
                subprocess.run(["mmd", "-i", image, f"::/{folder}"], check=True, env=env, capture_output=True)
                made.add(folder)
        source = content if isinstance(content, Path) else None
        if source is None:
            source = path.parent / f".stick-src-{len(made)}-{abs(hash(name))}"
            source.write_bytes(content)  # type: ignore[arg-type]
        subprocess.run(["mcopy", "-i", image, str(source), f"::/{name}"], check=True, env=env, capture_output=True)
    return path


@dataclass
class LoopStick:
    """A stick image attached read-only to a loop device; ``plug()`` adds its partition (udev 'add')."""

    image: Path
    loop: str = ""
    plugged: bool = False

    @property
    def partition_name(self) -> str:
        return Path(self.loop).name + "p1"

    @property
    def partition(self) -> str:
        return self.loop + "p1"

    def attach(self) -> None:
        self.loop = _run("losetup", "--find", "--show", "--read-only", str(self.image))

    def plug(self) -> None:
        _run("partx", "-a", self.loop)
        self.plugged = True
        deadline = time.monotonic() + 10
        while not Path(self.partition).exists():
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.partition} did not appear")
            time.sleep(0.05)

    def pull(self) -> None:
        """Removes the partition, as the kernel does when a stick is pulled (udev 'remove')."""
        if self.plugged:
            deadline = time.monotonic() + 10
            while True:
                result = subprocess.run(["partx", "-d", self.loop], capture_output=True, text=True)
                if result.returncode == 0 or not Path(self.partition).exists():
                    break
                if time.monotonic() > deadline:  # still held open (a mount not yet gone)
                    raise AssertionError(f"partx -d {self.loop}: {result.stderr}")
                time.sleep(0.1)
            self.plugged = False

    def detach(self) -> None:
        self.pull_quietly()
        if self.loop and Path(self.partition).exists():  # partx -d refused: delete it by number
            subprocess.run(["delpart", self.loop, "1"], capture_output=True)
        if self.loop:
            subprocess.run(["losetup", "-d", self.loop], capture_output=True)
            self.loop = ""

    def pull_quietly(self) -> None:
        with contextlib.suppress(AssertionError):
            self.pull()


@pytest.fixture
def loop_sticks(udevd: None) -> Iterator[list[LoopStick]]:
    """Collects sticks a test attaches, and detaches all of them afterwards."""
    sticks: list[LoopStick] = []
    yield sticks
    for stick in sticks:
        stick.detach()


def unmount_all_under(root: Path) -> None:
    """Cleans up FUSE mounts a failed test left below ``root``."""
    for line in Path("/proc/mounts").read_text().splitlines():
        target = line.split()[1].replace("\\040", " ")
        if target.startswith(str(root)):
            subprocess.run(["fusermount", "-uz", target], capture_output=True)
            subprocess.run(["umount", "-l", target], capture_output=True)
