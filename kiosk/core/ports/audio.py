"""The audio adapter's inner parts: a decoder, a sound output and a mixer.

The engine (``kiosk.audio.engine``) is built from these three, so a test can put a real ALSA
file-plugin output, a paced output or a software mixer in place without touching the engine.
Nothing here imports PyAV or ALSA.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, Protocol

from kiosk.core.errors import DeviceError, KioskError

#: Interleaved sample formats the engine can write (PyAV's names): 16/32-bit signed, 32-bit float.
SampleFormat = Literal["s16", "s32", "flt"]

BYTES_PER_SAMPLE: dict[str, int] = {"s16": 2, "s32": 4, "flt": 4}


@dataclass(frozen=True, slots=True)
class PcmFormat:
    """Interleaved PCM as written to the device."""

    rate: int
    channels: int = 2
    sample_format: SampleFormat = "s16"

    @property
    def frame_bytes(self) -> int:
        return self.channels * BYTES_PER_SAMPLE[self.sample_format]

    def frames_to_ms(self, frames: int) -> int:
        return frames * 1000 // self.rate

    def ms_to_frames(self, ms: int) -> int:
        return ms * self.rate // 1000


class DecodeError(KioskError):
    """A file that cannot be decoded (not audio, corrupt, unsupported codec)."""


class MissingFileError(DecodeError):
    """The file is gone (stick pulled, library out of date)."""


class OutputLostError(DeviceError):
    """The sound device stopped accepting audio (a USB DAC was pulled); reopen it later."""


class Decoder(Protocol):
    """One file decoded to the output's PCM format, from a start position to its end."""

    @property
    def duration_ms(self) -> int:
        """Length of the whole track, 0 when unknown."""

    def chunks(self) -> Iterator[bytes | memoryview]:
        """PCM in whole frames until the end of the track; raises ``DecodeError`` if it breaks."""

    def close(self) -> None: ...


class DecoderFactory(Protocol):
    def __call__(self, path: str, output: PcmFormat, start_ms: int = 0) -> Decoder:
        """Opens ``path``; raises ``MissingFileError`` or ``DecodeError``."""


class AudioOutput(Protocol):
    """A sound device that blocks on ``write`` while its buffer is full (ALSA's normal mode)."""

    @property
    def underruns(self) -> int:
        """Underruns recovered since the output was made."""

    def open(self, wanted: PcmFormat) -> PcmFormat:
        """Opens (or reopens) the device asking for ``wanted``; returns what the device accepted.
        Raises ``DeviceError`` when it cannot be opened."""

    def write(self, data: bytes | memoryview) -> None:
        """Writes whole frames, recovering underruns; raises ``OutputLostError`` if the device went away."""

    def delay_frames(self) -> int:
        """Frames written but not yet heard."""

    def drop(self) -> None:
        """Discards what is buffered, at once (next, seek, pause)."""

    def drain(self) -> None:
        """Waits until everything written has been played."""

    def close(self) -> None: ...


class Mixer(Protocol):
    """Turns a volume percentage into either a hardware setting or a gain for the samples."""

    @property
    def hardware(self) -> bool:
        """Whether a sound card's mixer element does the work."""

    def apply(self, percent: int, muted: bool) -> float:
        """Sets the volume; returns the gain the engine must still apply to the samples (1.0 when
        the hardware did it all)."""

    def close(self) -> None: ...
