"""image/rootfs/usr/local/lib/kiosk/grow-data grows a real, mounted ext4 data partition to the end of its disk.

The disk is a loop device holding a small MBR image laid out like the jukebox image: a boot partition,
then the data partition last with free space behind it, as on a freshly flashed card.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import skip_or_fail

REPO = Path(__file__).resolve().parents[2]
GROW_DATA = REPO / "image" / "rootfs" / "usr" / "local" / "lib" / "kiosk" / "grow-data"

pytestmark = pytest.mark.needs_root


def run(*cmd: str | Path) -> str:
    return subprocess.run([str(c) for c in cmd], check=True, capture_output=True, text=True, timeout=60).stdout


@pytest.fixture
def card(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A 96 MiB 'card': 8 MiB boot, 24 MiB ext4 data partition (mounted), 64 MiB free at the end."""
    if os.geteuid() != 0:
        skip_or_fail("needs root for loop devices and mounts")
    for tool in ("growpart", "resize2fs", "sfdisk", "losetup", "mkfs.ext4"):
        if shutil.which(tool) is None:
            skip_or_fail(f"{tool} is missing (apt-get install cloud-guest-utils e2fsprogs fdisk mount)")
    image = tmp_path / "card.img"
    subprocess.run(["truncate", "-s", "96M", str(image)], check=True)
    subprocess.run(["sfdisk", "-q", str(image)], input="start=1M,size=8M,type=c\nstart=9M,size=24M,type=83\n",
                   text=True, check=True)
    device = run("losetup", "--find", "--show", image).strip()
    mountpoint = tmp_path / "kiosk"
    mountpoint.mkdir()
    mounted = False
    try:
        run("partx", "-a", device)  # partition nodes, as the kernel makes them for a real card
        partition = f"{device}p2"
        run("mkfs.ext4", "-q", "-L", "KIOSKDATA", partition)
        run("mount", partition, mountpoint)
        mounted = True
        (mountpoint / "library.db").write_text("the owner's library survives")
        yield device, mountpoint
    finally:
        if mounted:
            subprocess.run(["umount", str(mountpoint)], check=False)
        subprocess.run(["partx", "-d", device], check=False)
        subprocess.run(["losetup", "-d", device], check=False)


def fs_size(mountpoint: Path) -> int:
    stat = os.statvfs(mountpoint)
    return stat.f_blocks * stat.f_frsize


def partition_sectors(device: str) -> int:
    return int(Path(f"/sys/class/block/{Path(device).name}p2/size").read_text())


def can_resize_mounted_ext4() -> bool:
    """Growing a mounted ext4 takes CAP_SYS_RESOURCE, which root on a Pi has and some build containers lack."""
    cap_eff = int(next(line for line in Path("/proc/self/status").read_text().splitlines()
                       if line.startswith("CapEff:")).split()[1], 16)
    return bool(cap_eff & (1 << 24))


def test_grows_partition_and_file_system_once(card: tuple[str, Path]) -> None:
    device, mountpoint = card
    if not can_resize_mounted_ext4():
        pytest.skip("no CAP_SYS_RESOURCE here: the kernel refuses to grow a mounted ext4 (see the next test)")
    before_fs, before_part = fs_size(mountpoint), partition_sectors(device)
    out = run(GROW_DATA, mountpoint)
    assert "fills the card" in out
    after_part = partition_sectors(device)
    assert after_part > before_part * 3  # 24 MiB -> about 87 MiB
    assert fs_size(mountpoint) > before_fs * 3
    assert (mountpoint / ".partition-grown").exists()
    assert (mountpoint / "library.db").read_text() == "the owner's library survives"
    # Run again (the unit's condition would stop it, but the script itself must be harmless too).
    run(GROW_DATA, mountpoint)
    assert partition_sectors(device) == after_part


def test_partition_grows_and_a_refused_resize_is_retried_next_boot(card: tuple[str, Path]) -> None:
    """The partition is grown first; if growing the file system then fails, no marker is left, so the
    unit's condition lets the next boot try again, and the library is untouched. Where the kernel allows
    the resize (CAP_SYS_RESOURCE) it is made to fail by mounting the file system read-only."""
    device, mountpoint = card
    if can_resize_mounted_ext4():
        run("mount", "-o", "remount,ro", mountpoint)
    before_part = partition_sectors(device)
    result = subprocess.run([str(GROW_DATA), str(mountpoint)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert partition_sectors(device) > before_part * 3
    assert not (mountpoint / ".partition-grown").exists()
    assert (mountpoint / "library.db").read_text() == "the owner's library survives"


def test_not_a_mount_point_changes_nothing(tmp_path: Path) -> None:
    """Pointed at a plain folder (no data partition, e.g. installed on an existing Pi), it does nothing."""
    if shutil.which("findmnt") is None:
        skip_or_fail("findmnt is missing (apt-get install util-linux)")
    folder = tmp_path / "plain"
    folder.mkdir()
    out = run(GROW_DATA, folder)
    assert "not a mount point" in out
    assert not (folder / ".partition-grown").exists()
