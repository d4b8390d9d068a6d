"""provision.sh --boot-only: the cmdline.txt and config.txt edits the image build and the install both make.

Runs the real script on copies of Raspberry Pi OS's boot files; no root and no chroot needed.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROVISION = REPO / "image" / "provision.sh"
PI_CMDLINE = (
    "console=serial0,115200 console=tty1 root=PARTUUID=1234abcd-02 rootfstype=ext4 fsck.repair=yes rootwait "
    "quiet init=/usr/lib/raspberrypi-sys-mods/firstboot\n"
)
PI_CONFIG = (
    "# For more options and information see\ndtparam=audio=on\ndtoverlay=vc4-kms-v3d\nmax_framebuffers=2\n"
    "[cm4]\notg_mode=1\n"
)


def boot_only(boot: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(PROVISION), "--boot-only", str(boot), *extra], capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def boot(tmp_path: Path) -> Path:
    (tmp_path / "cmdline.txt").write_text(PI_CMDLINE)
    (tmp_path / "config.txt").write_text(PI_CONFIG)
    return tmp_path


def test_quiet_locked_boot_and_the_pis_own_arguments_kept(boot: Path) -> None:
    result = boot_only(boot)
    assert result.returncode == 0, result.stderr
    cmdline = (boot / "cmdline.txt").read_text()
    assert cmdline.count("\n") == 1 and cmdline.endswith("\n"), "cmdline.txt must stay a single line"
    words = cmdline.split()
    pis_own: tuple[str, ...] = ("root=PARTUUID=1234abcd-02", "rootfstype=ext4", "rootwait")
    pis_own += ("init=/usr/lib/raspberrypi-sys-mods/firstboot",)
    for kept in pis_own:
        assert kept in words
    assert not [w for w in words if w.startswith(("console=serial0", "console=tty1"))]
    for added in ("console=tty3", "consoleblank=0", "loglevel=3", "logo.nologo", "vt.global_cursor_default=0"):
        assert words.count(added) == 1, added
    assert words.count("quiet") == 1 and words.count("fsck.repair=yes") == 1  # present before: not doubled
    config = (boot / "config.txt").read_text()
    assert config.startswith(PI_CONFIG)  # the Pi's settings, including its [cm4] section, untouched
    block = config[len(PI_CONFIG):]
    assert block.splitlines()[:2] == ["# kiosk begin (written by the jukebox's provision.sh)", "[all]"]
    assert "disable_splash=1" in block and "auto_initramfs=1" in block


def test_running_twice_changes_nothing(boot: Path) -> None:
    assert boot_only(boot).returncode == 0
    once = ((boot / "cmdline.txt").read_text(), (boot / "config.txt").read_text())
    assert boot_only(boot).returncode == 0
    assert ((boot / "cmdline.txt").read_text(), (boot / "config.txt").read_text()) == once


def test_no_lockdown_keeps_the_consoles(boot: Path) -> None:
    assert boot_only(boot, "--no-lockdown").returncode == 0
    words = (boot / "cmdline.txt").read_text().split()
    assert "console=serial0,115200" in words and "console=tty1" in words and "console=tty3" not in words
    assert "consoleblank=0" in words


def test_missing_cmdline_is_a_clear_error(tmp_path: Path) -> None:
    """Pointed at the wrong folder it says so and creates nothing there."""
    result = boot_only(tmp_path)
    assert result.returncode != 0
    assert f"no cmdline.txt in {tmp_path}" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_unknown_option_is_refused_before_anything_changes(boot: Path) -> None:
    result = subprocess.run(["bash", str(PROVISION), "--frobnicate"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "unknown option --frobnicate" in result.stderr
    assert (boot / "cmdline.txt").read_text() == PI_CMDLINE


def test_read_only_root_without_a_data_partition_is_refused(tmp_path: Path) -> None:
    """--read-only-root alone would keep the library in RAM; the script stops before changing anything."""
    result = subprocess.run(["bash", str(PROVISION), "--read-only-root", "--boot-dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--read-only-root needs a data partition" in result.stderr
    assert list(tmp_path.iterdir()) == []
