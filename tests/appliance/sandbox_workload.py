"""What the jukebox does at run time, done once inside a sandbox; run as a script by the sandbox tests.

    python sandbox_workload.py mdwe              # writable+executable memory refused (prctl PR_SET_MDWE)
    python sandbox_workload.py seccomp FILE      # only the system calls named in FILE allowed, others EPERM

Prints one word per finished step; exits 77 when the kernel lacks the feature. The sandbox is set up
first, in this process, and then everything below runs under it, as in kiosk.service.
"""

from __future__ import annotations

import ctypes
import errno
import io
import mmap
import os
import sys
from pathlib import Path

PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1
SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_ACT_ERRNO = 0x00050000
SCMP_FLTATR_CTL_NNP = 3


def refuse_write_execute() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
        print("unsupported", ctypes.get_errno())
        sys.exit(77)
    try:
        mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    except PermissionError:
        print("wx-refused")
    else:
        print("W+X mapping was allowed")
        sys.exit(1)


def allow_only(names: list[str]) -> None:
    """A seccomp filter like systemd's SystemCallFilter= with SystemCallErrorNumber=EPERM."""
    try:
        lib = ctypes.CDLL("libseccomp.so.2")
    except OSError as exc:
        print("unsupported", exc)
        sys.exit(77)
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint]
    lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    ctx = lib.seccomp_init(SCMP_ACT_ERRNO | errno.EPERM)
    for name in names:
        number = lib.seccomp_syscall_resolve_name(name.encode())
        if number >= 0:  # not every listed call exists on this architecture
            assert lib.seccomp_rule_add(ctx, SCMP_ACT_ALLOW, number, 0) == 0, name
    assert lib.seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1) == 0
    assert lib.seccomp_load(ctx) == 0
    try:
        os.sched_setaffinity(0, {0})  # @resources: filtered out by the unit
    except PermissionError:
        print("filter-on")
    else:
        print("sched_setaffinity was allowed")
        sys.exit(1)


def audio_and_library() -> None:
    """Decode with PyAV, play to ALSA, watch udev, SQLite, covers, a callback and a worker process."""
    import alsaaudio
    import av
    import numpy as np
    import pebble
    import PIL.Image
    import pyudev
    from sqlmodel import create_engine, text

    from kiosk.cli import build_parser

    build_parser()  # imports every subcommand module: library, audio, hw
    buffer = io.BytesIO()
    samples = (np.sin(np.arange(44100) * 2 * np.pi * 440 / 44100) * 20000).astype(np.int16)
    with av.open(buffer, "w", format="flac") as out:
        stream = out.add_stream("flac", rate=44100)
        stream.layout = "stereo"
        interleaved = np.vstack([samples, samples]).T.reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(interleaved, format="s16", layout="stereo")
        frame.sample_rate = 44100
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    buffer.seek(0)
    with av.open(buffer, "r") as src:
        decoded = sum(f.samples for f in src.decode(audio=0))
    assert decoded == 44100, decoded
    alsaaudio.PCM(device="null").write(samples.tobytes())
    pyudev.Monitor.from_netlink(pyudev.Context())
    with create_engine("sqlite://").connect() as conn:
        assert conn.execute(text("select 1")).scalar() == 1
    PIL.Image.new("RGB", (600, 600)).resize((120, 120))
    callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int)(lambda x: x + 1)
    assert callback(41) == 42
    with pebble.ProcessPool(max_workers=1) as pool:
        assert pool.schedule(abs, args=(-3,)).result(timeout=60) == 3
    print("stack-ok")


def kivy_window() -> None:
    """A real Kivy window (offscreen here, KMS on the Pi) that draws a few frames and stops."""
    from kivy.app import App
    from kivy.clock import Clock
    from kivy.uix.label import Label

    class Probe(App):
        def build(self) -> Label:
            Clock.schedule_once(lambda dt: self.stop(), 0.5)
            return Label(text="jukebox")

    Probe().run()
    print("kivy-ok")


def main() -> None:
    mode = sys.argv[1]
    if mode == "mdwe":
        refuse_write_execute()
        audio_and_library()
    elif mode == "seccomp":
        allow_only(Path(sys.argv[2]).read_text().split())
        audio_and_library()
        kivy_window()
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
