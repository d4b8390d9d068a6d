"""The jukebox's run-time work passes the sandbox kiosk.service puts it in: memory and system call rules.

systemd itself is not PID 1 here, so each rule is applied with the kernel feature systemd uses for it,
in a child process that then does the jukebox's work (tests/appliance/sandbox_workload.py):

- ``MemoryDenyWriteExecute=yes``: systemd uses a seccomp filter; the kernel's ``PR_SET_MDWE`` refuses the
  same mappings (W+X at once, or gaining X later). PyAV, ALSA, udev, SQLite, numpy, Pillow, ctypes
  callbacks and pebble workers must work under it. Mesa is left out: on the Pi the v3d driver compiles
  shaders for the GPU and needs no W+X memory, while the software renderer here (llvmpipe) JITs and
  crashes under this rule, which is why the unit says to turn it off on a box without the GPU driver.
- ``SystemCallFilter=`` with ``SystemCallErrorNumber=EPERM``: the unit's own lines are read, the syscall
  groups expanded with ``systemd-analyze syscall-filter``, and the resulting allow list loaded with
  libseccomp; then the same work plus a real Kivy window (offscreen, Mesa's software GL) must succeed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import skip_or_fail

REPO = Path(__file__).resolve().parents[2]
WORKLOAD = Path(__file__).with_name("sandbox_workload.py")


def run_workload(tmp_path: Path, *args: str) -> list[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO), KIVY_HOME=str(tmp_path / "kivy"), KIVY_NO_ARGS="1",
               KIVY_LOG_MODE="PYTHON", KIVY_NO_FILELOG="1", SDL_VIDEODRIVER="offscreen")
    result = subprocess.run([sys.executable, str(WORKLOAD), *args], capture_output=True, text=True, timeout=180,
                            env=env, cwd=tmp_path)
    if result.returncode == 77:
        skip_or_fail(f"kernel or library feature missing: {result.stdout.strip()}")
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    return result.stdout.split()


def test_work_runs_with_write_execute_memory_refused(tmp_path: Path) -> None:
    assert run_workload(tmp_path, "mdwe") == ["wx-refused", "stack-ok"]


def syscall_groups() -> dict[str, list[str]]:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        skip_or_fail("systemd-analyze is missing (apt-get install systemd)")
    assert analyze is not None
    out = subprocess.run([analyze, "syscall-filter"], capture_output=True, text=True, timeout=60).stdout
    groups: dict[str, list[str]] = {}
    current = None
    for line in out.splitlines():
        if line.startswith("@"):
            current = line.split()[0]
            groups[current] = []
        elif current and line.strip() and not line.strip().startswith("#"):
            groups[current].append(line.strip())
    return groups


def expand(names: list[str], groups: dict[str, list[str]]) -> set[str]:
    out: set[str] = set()
    for name in names:
        out |= expand(groups[name], groups) if name.startswith("@") else {name}
    return out


def unit_syscall_allow_list(groups: dict[str, list[str]]) -> set[str]:
    """kiosk.service's SystemCallFilter= lines, applied in order as systemd does."""
    lines = re.findall(r"^SystemCallFilter=(.*)$", (REPO / "systemd" / "kiosk.service").read_text(), re.M)
    assert lines and not lines[0].startswith("~"), "the unit must start from an allow list"
    allowed: set[str] = set()
    for line in lines:
        if line.startswith("~"):
            allowed -= expand(line[1:].split(), groups)
        else:
            allowed |= expand(line.split(), groups)
    return allowed


def test_work_and_a_kivy_window_run_under_the_units_syscall_filter(tmp_path: Path) -> None:
    groups = syscall_groups()
    allowed = unit_syscall_allow_list(groups)
    assert "sched_setaffinity" not in allowed and "read" in allowed  # the unit's shape, as parsed
    names = tmp_path / "allowed-syscalls.txt"
    names.write_text("\n".join(sorted(allowed)))
    assert run_workload(tmp_path, "seccomp", str(names)) == ["filter-on", "stack-ok", "kivy-ok"]
