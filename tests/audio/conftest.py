"""Real parts for the playback tests: an ALSA file-plugin device per test, generated audio files,
references decoded by the ffmpeg command (an independent decoder), and a plain queue host.

alsa-lib re-reads its configuration when ``ALSA_CONFIG_PATH`` or the file changes, so every test
gets its own ``asound.conf`` in its temporary folder.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kiosk.core.bus import RecordingBus
from kiosk.core.events import PlayerState
from kiosk.core.models import Track
from tests.media import FORMATS

if shutil.which("ffmpeg") is None:  # pragma: no cover - ffmpeg is a system requirement of the tests
    pytest.skip("ffmpeg is needed to make test media", allow_module_level=True)

RATE = 44100


class AlsaTap:
    """An ``asound.conf`` whose devices write every frame played into files (ALSA's ``file`` plugin).

    ``default`` is a ``plug`` in front of the tap, as on a Pi; ``fixed48`` is a ``plug`` whose
    slave runs at 48 kHz only; ``rawtap`` is the tap without any conversion in front.
    """

    def __init__(self, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.folder = folder
        self.conf = folder / "asound.conf"
        self.capture = folder / "capture.raw"
        self.write(self.capture)
        monkeypatch.setenv("ALSA_CONFIG_PATH", str(self.conf))

    def write(self, capture: Path | None, *, default_exists: bool = True) -> None:
        """(Re)writes the config; ``default_exists=False`` makes ``default`` vanish, as a pulled DAC."""
        lines = ["</usr/share/alsa/alsa.conf>"]
        if capture is not None:
            self.capture = capture
            lines.append(f'pcm.tap {{ type file slave.pcm "null" file "{capture}" format "raw" }}')
            lines.append('pcm.rawtap { type plug slave.pcm "tap" }')
            lines.append('pcm.fixed48 { type plug slave { pcm "tap" rate 48000 } }')
            if default_exists:
                lines.append('pcm.!default { type plug slave.pcm "tap" }')
        if not default_exists:
            lines.append("pcm.!default { type hw card 97 }")  # no such card: opening fails for real
        # alsa-lib notices a changed config by inode and mtime in whole seconds: replace the file,
        # so a rewrite within the same second is seen too.
        fresh = self.conf.with_suffix(".new")
        fresh.write_text("\n".join(lines) + "\n")
        os.replace(fresh, self.conf)

    def frames(self, capture: Path | None = None, channels: int = 2, dtype: str = "<i2") -> np.ndarray[Any, Any]:
        data = (capture or self.capture).read_bytes()
        return np.frombuffer(data, dtype=dtype).reshape(-1, channels)


@pytest.fixture
def alsa(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AlsaTap:
    return AlsaTap(tmp_path, monkeypatch)


#: Encoder arguments for the bit depth of lossless files (ffmpeg would pick 24 bits for FLAC and ALAC
#: made from its float test sources).
_DEPTH_ARGS = {
    ("flac", 16): ["-sample_fmt", "s16"], ("flac", 24): ["-sample_fmt", "s32"],
    ("alac", 16): ["-sample_fmt", "s16p"], ("alac", 24): ["-sample_fmt", "s32p"],
    ("wav", 24): ["-c:a", "pcm_s24le"], ("aiff", 24): ["-c:a", "pcm_s24be"],
}


class MediaMaker:
    """Pink-noise files (a sine repeats, so misaligned audio could still compare equal); lossless ones
    16-bit unless ``bits=24`` is asked for."""

    def __init__(self, cache: Path) -> None:
        self.cache = cache

    def noise(
        self, fmt: str, seconds: float = 2.0, seed: int = 1, rate: int = RATE, amplitude: float = 0.3, bits: int = 16
    ) -> Path:
        return self._make(fmt, f"anoisesrc=d={seconds}:c=pink:r={rate}:a={amplitude}:seed={seed}", rate, bits)

    def chirp(self, fmt: str, seconds: float = 3.0, rate: int = RATE) -> Path:
        """Rising tones: never repeats, yet holds no noise for AAC to replace with random noise (PNS)."""
        expr = "0.3*sin(2*PI*(200+300*t)*t)|0.3*sin(2*PI*(350+250*t)*t)"
        return self._make(fmt, f"aevalsrc='{expr}':s={rate}:d={seconds}", rate)

    def _make(self, fmt: str, source: str, rate: int, bits: int = 16) -> Path:
        suffix, codec = FORMATS[fmt]
        codec = [*codec, *_DEPTH_ARGS.get((fmt, bits), [])]
        key = hashlib.sha1(repr((fmt, source, codec)).encode()).hexdigest()[:16]
        path = self.cache / f"{fmt}-{key}{suffix}"
        if not path.exists():
            out_rate = 48000 if fmt == "opus" else rate
            cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", source,
                   "-ac", "2", "-ar", str(out_rate), *codec, str(path) + ".part" + suffix]
            subprocess.run(cmd, check=True)
            Path(str(path) + ".part" + suffix).rename(path)
        return path


@pytest.fixture(scope="session")
def media(media_cache: Path) -> MediaMaker:
    return MediaMaker(media_cache)


def ffmpeg_decode(path: Path, rate: int = RATE, channels: int = 2, bits: int = 16) -> np.ndarray[Any, Any]:
    """The file as the ffmpeg command decodes it: interleaved s16 frames (or s32 with ``bits=32``)."""
    out = subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(path), "-f", f"s{bits}le", "-ac", str(channels),
         "-ar", str(rate), "-"],
        check=True, capture_output=True,
    ).stdout
    return np.frombuffer(out, dtype=f"<i{bits // 8}").reshape(-1, channels)


def make_track(track_id: int, path: Path, **fields: Any) -> Track:
    return Track(id=track_id, path=str(path), title=path.stem, sample_rate=fields.pop("sample_rate", RATE), **fields)


class QueueHost:
    """The core's side of the playback port as a plain list: plays ``tracks`` in order, once."""

    def __init__(self, tracks: Sequence[Track]) -> None:
        self.tracks = list(tracks)
        self.index = 0
        self.ended: list[int] = []
        self.heard: list[int] = []
        self._lock = threading.Lock()

    def track_ended(self, track_id: int) -> tuple[Track, int] | None:
        with self._lock:
            self.ended.append(track_id)
            if self.index + 1 >= len(self.tracks):
                return None
            self.index += 1
            return self.tracks[self.index], self.index

    def track_heard(self, track_id: int) -> None:
        with self._lock:
            self.heard.append(track_id)


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what}")


def wait_for_state(bus: RecordingBus, state: str, after: int = 0, timeout: float = 10.0) -> PlayerState:
    """The first ``PlayerState`` in ``state`` published after the first ``after`` states."""
    found: list[PlayerState] = []

    def seen() -> bool:
        found[:] = [s for s in bus.of_type(PlayerState)[after:] if s.state == state]
        return bool(found)

    wait_until(seen, timeout, f"player state {state!r}")
    return found[0]


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
