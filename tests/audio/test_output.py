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


def test_a_wider_format_is_asked_for_and_then_kept_for_16_bit_audio(alsa: AlsaTap) -> None:
    """S32_LE is opened when asked (the plug device takes it); a later 16-bit wish keeps the device
    open at 32 bits rather than reopening it between tracks, and the bytes reach the device as written."""
    opened: list[int] = []

    def open_pcm(**kwargs: Any) -> Any:
        opened.append(kwargs["format"])
        return alsaaudio.PCM(**kwargs)

    out = AlsaOutput("default", open_pcm=open_pcm)
    assert out.open(PcmFormat(44100)) == PcmFormat(44100, 2, "s16")
    assert out.open(PcmFormat(44100, 2, "s32")) == PcmFormat(44100, 2, "s32")
    assert out.open(PcmFormat(44100)) == PcmFormat(44100, 2, "s32")
    assert opened == [alsaaudio.PCM_FORMAT_S16_LE, alsaaudio.PCM_FORMAT_S32_LE]
    data = (np.arange(-5000, 5000, dtype="<i4") << 8).tobytes()
    out.write(data)
    out.drain()
    out.close()
    assert alsa.capture.read_bytes() == data


def test_a_device_offering_only_a_format_we_cannot_write_is_tried_at_16_bits(alsa: AlsaTap) -> None:
    """A device that answers a 32-bit wish with S24_3LE (as some USB DACs do) is opened again asking
    for S16_LE; one that answers that with S24_3LE too is a clear DeviceError, and nothing stays open."""
    asked: list[int] = []
    made: list[Any] = []

    def s24_first(**kwargs: Any) -> Any:
        asked.append(kwargs["format"])
        fmt = alsaaudio.PCM_FORMAT_S24_3LE if len(asked) == 1 else kwargs["format"]
        made.append(alsaaudio.PCM(**{**kwargs, "format": fmt}))
        return made[-1]

    out = AlsaOutput("default", open_pcm=s24_first)
    assert out.open(PcmFormat(44100, 2, "s32")) == PcmFormat(44100, 2, "s16")
    assert asked == [alsaaudio.PCM_FORMAT_S32_LE, alsaaudio.PCM_FORMAT_S16_LE]
    out.close()

    def always_s24(**kwargs: Any) -> Any:
        made.append(alsaaudio.PCM(**{**kwargs, "format": alsaaudio.PCM_FORMAT_S24_3LE}))
        return made[-1]

    with pytest.raises(DeviceError, match="plays only S24_3LE samples"):
        AlsaOutput("default", open_pcm=always_s24).open(PcmFormat(44100, 2, "s32"))
    for pcm in made:  # every PCM opened on the way was closed again
        with pytest.raises(alsaaudio.ALSAAudioError):
            pcm.avail()  # (info() on a closed PCM crashes pyalsaaudio 0.11: it asks alsa-lib first)
