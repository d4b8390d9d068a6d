"""The ALSA output on a real alsa-lib device (the file plugin writes every frame into a file)."""

from __future__ import annotations

import errno
from typing import Any

import alsaaudio
import numpy as np
import pytest

from kiosk.audio.output import AlsaOutput
from kiosk.core.errors import DeviceError
from kiosk.core.ports.audio import OutputLostError, PcmFormat
from tests.audio.conftest import AlsaTap


class UnderrunOncePcm:
    """The real ``alsaaudio.PCM`` except that one write reports an underrun the way pyalsaaudio does
    (it returns ``-EPIPE`` after re-preparing the stream; nothing of that buffer was taken)."""

    def __init__(self, at_write: int, **kwargs: Any) -> None:
        self.real = alsaaudio.PCM(**kwargs)
        self.writes = 0
        self.at_write = at_write

    def write(self, data: Any) -> int:
        self.writes += 1
        if self.writes == self.at_write:
            return -errno.EPIPE
        return int(self.real.write(data))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_bytes_written_reach_the_device_unchanged_with_the_configured_buffer(alsa: AlsaTap) -> None:
    out = AlsaOutput("default", period_ms=20, buffer_ms=200)
    fmt = out.open(PcmFormat(44100))
    assert fmt == PcmFormat(44100, 2, "s16")
    assert out.period_frames == 882
    data = np.arange(-5000, 5000, dtype="<i2").tobytes()
    out.write(data)
    out.write(memoryview(data)[:400])
    out.drain()
    assert out.delay_frames() == 0
    out.close()
    assert alsa.capture.read_bytes() == data + data[:400]


def test_an_underrun_is_recovered_by_writing_the_same_buffer_again(alsa: AlsaTap) -> None:
    opened: list[UnderrunOncePcm] = []

    def open_pcm(**kwargs: Any) -> UnderrunOncePcm:
        opened.append(UnderrunOncePcm(at_write=2, **kwargs))
        return opened[-1]

    out = AlsaOutput("default", open_pcm=open_pcm)
    out.open(PcmFormat(44100))
    chunks = [np.full(882 * 2, value, dtype="<i2").tobytes() for value in (1, 2, 3)]
    for chunk in chunks:
        out.write(chunk)
    out.close()
    assert out.underruns == 1
    assert opened[0].writes == 4  # the second buffer was written twice
    assert alsa.capture.read_bytes() == b"".join(chunks)  # and heard once, in order


def test_a_device_that_does_not_exist_is_a_clear_device_error(alsa: AlsaTap) -> None:
    out = AlsaOutput("nosuchdevice")
    with pytest.raises(DeviceError, match="cannot open the sound device 'nosuchdevice'"):
        out.open(PcmFormat(44100))
    with pytest.raises(OutputLostError):
        out.write(b"\0\0\0\0")


def test_the_device_rate_is_what_the_device_accepted(alsa: AlsaTap) -> None:
    """A plug whose slave runs at 48 kHz converts by itself when asked for 44.1 kHz; asked for a
    fixed 48 kHz (``rate=``), the output opens at 48 kHz and says so, so the engine resamples."""
    converting = AlsaOutput("fixed48")
    assert converting.open(PcmFormat(44100)).rate == 44100
    converting.close()
    fixed = AlsaOutput("fixed48", rate=48000)
    assert fixed.open(PcmFormat(44100)).rate == 48000
    fixed.close()


def test_reopening_at_the_same_rate_keeps_the_device_open(alsa: AlsaTap) -> None:
    calls: list[dict[str, Any]] = []

    def open_pcm(**kwargs: Any) -> Any:
        calls.append(kwargs)
        return alsaaudio.PCM(**kwargs)

    out = AlsaOutput("default", open_pcm=open_pcm)
    out.open(PcmFormat(44100))
    out.open(PcmFormat(44100))
    assert len(calls) == 1
    out.open(PcmFormat(48000))
    assert [c["rate"] for c in calls] == [44100, 48000]
    out.close()
