"""The jukebox's non-GL stack runs with writable+executable memory refused, as kiosk.service sets it.

kiosk.service has ``MemoryDenyWriteExecute=yes``. systemd enforces it with a seccomp filter; the kernel's
own ``prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN)`` (Linux 6.3+) refuses the same mappings (W+X at once,
or gaining X later) and needs no service manager, so a child process sets it and then does the work the
jukebox does outside the GPU driver: decode audio with PyAV, write to an ALSA PCM, open the udev netlink
monitor, use SQLite through sqlmodel, numpy, Pillow, a ctypes callback, and a pebble worker process.
A dependency that needs a JIT (or old-style libffi trampolines) fails here before it fails on a Pi.

Not covered: Mesa. On the Pi the v3d driver compiles shaders for the GPU and needs no W+X memory;
Mesa's software renderer here (llvmpipe) does JIT, and crashes under this policy, which is why the
unit's comment says to turn the setting off on a box without the GPU driver.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import skip_or_fail

REPO = Path(__file__).resolve().parents[2]

CHILD = r"""
import ctypes, errno, mmap, sys

libc = ctypes.CDLL(None, use_errno=True)
PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1
if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
    print("unsupported", ctypes.get_errno())
    sys.exit(77)

# The policy is on: a writable and executable mapping is refused.
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    print("W+X mapping was allowed")
    sys.exit(1)
except PermissionError:
    print("wx-refused")

import io, sqlite3
import numpy as np
import av, alsaaudio, pyudev, mutagen, PIL.Image, pebble
from sqlmodel import SQLModel, create_engine, text
from kiosk.cli import build_parser

build_parser()  # imports every subcommand module: library, audio, hw

# PyAV: encode one second of a sine to FLAC in memory and decode it again.
buffer = io.BytesIO()
with av.open(buffer, "w", format="flac") as out:
    stream = out.add_stream("flac", rate=44100)
    stream.layout = "stereo"
    samples = (np.sin(np.arange(44100) * 2 * np.pi * 440 / 44100) * 20000).astype(np.int16)
    frame = av.AudioFrame.from_ndarray(np.vstack([samples, samples]).reshape(1, -1), format="s16", layout="stereo")
    frame.sample_rate = 44100
    for packet in stream.encode(frame):
        out.mux(packet)
    for packet in stream.encode(None):
        out.mux(packet)
buffer.seek(0)
with av.open(buffer) as src:
    decoded = sum(f.samples for f in src.decode(audio=0))
assert decoded == 44100, decoded

pcm = alsaaudio.PCM(device="null")
pcm.write(samples.tobytes())
monitor = pyudev.Monitor.from_netlink(pyudev.Context())
engine = create_engine("sqlite://")
with engine.connect() as conn:
    assert conn.execute(text("select 1")).scalar() == 1
PIL.Image.new("RGB", (600, 600)).resize((120, 120))
callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int)(lambda x: x + 1)
assert callback(41) == 42
with pebble.ProcessPool(max_workers=1) as pool:
    assert pool.schedule(abs, args=(-3,)).result(timeout=60) == 3
print("stack-ok")
"""


def test_stack_runs_with_write_execute_memory_refused(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO), KIVY_HOME=str(tmp_path / "kivy"))
    result = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=120, env=env)
    if result.returncode == 77:
        skip_or_fail(f"kernel without PR_SET_MDWE (Linux 6.3+): {result.stdout.strip()}")
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert result.stdout.split() == ["wx-refused", "stack-ok"]
