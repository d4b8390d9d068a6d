"""The ALSA sound output (pyalsaaudio): format negotiation, underrun recovery, delay for positions.

pyalsaaudio sets the hardware parameters "near" what is asked and keeps going when the device
refuses one, so what the device really took is read back from ``info()`` and returned; the engine
then resamples to it. ``write`` returns ``-EPIPE`` on an underrun after re-preparing the stream,
having written nothing of that buffer, so the same buffer is written again.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import logging
import time
from collections.abc import Callable
from typing import Any

import alsaaudio

from kiosk.core.errors import DeviceError
from kiosk.core.ports.audio import OutputLostError, PcmFormat, SampleFormat

log = logging.getLogger(__name__)

_ALSA_FORMATS: dict[str, int] = {
    "s16": alsaaudio.PCM_FORMAT_S16_LE,
    "s32": alsaaudio.PCM_FORMAT_S32_LE,
    "flt": alsaaudio.PCM_FORMAT_FLOAT_LE,
}
_FROM_ALSA_NAME: dict[str, SampleFormat] = {"S16_LE": "s16", "S32_LE": "s32", "FLOAT_LE": "flt"}
#: Underruns in a row on one buffer before the device is taken for gone.
MAX_UNDERRUNS_PER_WRITE = 50

#: Opens a PCM; the same keywords as ``alsaaudio.PCM``. Tests wrap the real one to inject faults.
PcmOpener = Callable[..., Any]


class AlsaOutput:
    """An ALSA playback PCM in blocking mode, sized by period and buffer length in milliseconds.

    ``rate`` fixes the rate the device is opened at (the engine then resamples every track to it),
    for DACs that play one rate best; None opens at each track's own rate.
    """

    def __init__(
        self,
        device: str = "default",
        *,
        period_ms: int = 20,
        buffer_ms: int = 200,
        rate: int | None = None,
        open_pcm: PcmOpener = alsaaudio.PCM,
    ) -> None:
        self.device = device
        self._period_ms, self._buffer_ms, self._fixed_rate = period_ms, buffer_ms, rate
        self._open_pcm = open_pcm
        self._pcm: Any = None
        self._format: PcmFormat | None = None
        self._asked: tuple[int, int, str] | None = None
        self._buffer_frames = 0
        self._period_frames = 0
        self._underruns = 0

    @property
    def underruns(self) -> int:
        return self._underruns

    @property
    def format(self) -> PcmFormat | None:
        return self._format

    @property
    def period_frames(self) -> int:
        """The period the device accepted (0 while closed)."""
        return self._period_frames

    @property
    def buffer_frames(self) -> int:
        """The buffer the device accepted (0 while closed)."""
        return self._buffer_frames

    def open(self, wanted: PcmFormat) -> PcmFormat:
        """Opens the device near ``wanted`` (kept open when asked the same again).

        A wider sample format than 16 bits is a wish: a device that refuses it, or offers only a
        format the jukebox cannot write, is opened again at 16 bits. A device already open wider is
        kept for 16-bit audio, which it plays exactly.
        """
        rate = self._fixed_rate or wanted.rate
        asked = (rate, wanted.channels, wanted.sample_format)
        if self._pcm is not None and self._format is not None and self._asked is not None:
            # 16-bit audio plays exactly on a device opened wider: no reopening between such tracks.
            if self._asked == asked or (self._asked[:2] == asked[:2] and wanted.sample_format == "s16"):
                return self._format
            self.close()
        pcm, info, sample_format = self._open_pcm_as(rate, wanted.channels, wanted.sample_format)
        if sample_format is None and wanted.sample_format != "s16":
            log.info("%s does not take %s samples, using 16-bit", self.device, wanted.sample_format)
            pcm.close()
            pcm, info, sample_format = self._open_pcm_as(rate, wanted.channels, "s16")
        if sample_format is None:
            pcm.close()
            raise DeviceError(
                f"the sound device {self.device!r} plays only {info['format_name']} samples, "
                f"which the jukebox cannot produce; put a 'plug' device in front of it"
            )
        self._pcm, self._asked = pcm, asked
        self._format = PcmFormat(int(info["rate"]), int(info["channels"]), sample_format)
        self._buffer_frames = int(info["buffer_size"])
        self._period_frames = int(info["period_size"])
        log.info(
            "opened %s: %s Hz, %s ch, %s, period %s, buffer %s frames",
            self.device, info["rate"], info["channels"], info["format_name"], info["period_size"],
            info["buffer_size"],
        )
        return self._format

    def _open_pcm_as(
        self, rate: int, channels: int, sample_format: SampleFormat
    ) -> tuple[Any, Any, SampleFormat | None]:
        """The opened PCM, its ``info()`` and the sample format it took (None: one we cannot write)."""
        try:
            pcm = self._open_pcm(
                type=alsaaudio.PCM_PLAYBACK,
                mode=alsaaudio.PCM_NORMAL,
                device=self.device,
                rate=rate,
                channels=channels,
                format=_ALSA_FORMATS[sample_format],
                periodsize=max(16, rate * self._period_ms // 1000),
                periods=max(2, round(self._buffer_ms / self._period_ms)),
            )
        except alsaaudio.ALSAAudioError as exc:
            raise DeviceError(f"cannot open the sound device {self.device!r}: {exc}") from None
        info = pcm.info()
        return pcm, info, _FROM_ALSA_NAME.get(info["format_name"])

    def write(self, data: bytes | memoryview) -> None:
        if self._pcm is None or self._format is None:
            raise OutputLostError(f"the sound device {self.device!r} is not open")
        frame_bytes = self._format.frame_bytes
        view = memoryview(data)
        underruns_here = 0
        while view:
            try:
                result = self._pcm.write(view)
            except alsaaudio.ALSAAudioError as exc:
                raise OutputLostError(f"the sound device {self.device!r} stopped: {exc}") from None
            if result == -errno.EPIPE:
                # Underrun: the stream was re-prepared and nothing of this buffer was taken.
                self._underruns += 1
                underruns_here += 1
                log.warning("underrun on %s (%d so far)", self.device, self._underruns)
                if underruns_here > MAX_UNDERRUNS_PER_WRITE:
                    raise OutputLostError(f"the sound device {self.device!r} keeps underrunning")
                continue
            if result < 0:
                raise OutputLostError(f"the sound device {self.device!r} failed: error {-result}")
            if result == 0:
                time.sleep(0.001)  # nothing taken (EAGAIN): the device is busy
                continue
            view = view[result * frame_bytes :]

    def _avail(self) -> int | None:
        """What the device says its buffer takes now; None when closed, in error (xrun, suspended)."""
        if self._pcm is None:
            return None
        try:
            avail = int(self._pcm.avail())
        except alsaaudio.ALSAAudioError:
            return None
        return avail if avail >= 0 else None

    def room_frames(self) -> int:
        """Frames the device's buffer takes right now without a write blocking (0 after an xrun)."""
        avail = self._avail()
        return 0 if avail is None else min(avail, self._buffer_frames)

    def delay_frames(self) -> int:
        """Frames written but not heard yet; none after an error, since nothing queued will be heard."""
        avail = self._avail()
        return 0 if avail is None else max(0, self._buffer_frames - avail)

    def drop(self) -> None:
        if self._pcm is not None:
            try:
                self._pcm.drop()
            except alsaaudio.ALSAAudioError as exc:
                log.debug("drop on %s failed: %s", self.device, exc)

    def drain(self) -> None:
        if self._pcm is not None:
            try:
                self._pcm.drain()
            except alsaaudio.ALSAAudioError as exc:
                raise OutputLostError(f"the sound device {self.device!r} stopped: {exc}") from None

    def close(self) -> None:
        pcm, self._pcm, self._format, self._asked = self._pcm, None, None, None
        if pcm is not None:
            try:
                pcm.close()
            except alsaaudio.ALSAAudioError as exc:
                log.debug("closing %s failed: %s", self.device, exc)


_ERROR_HANDLER_TYPE = ctypes.CFUNCTYPE(
    None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p
)
_silent_handler: Any = None


def silence_alsa_lib_errors() -> None:
    """alsa-lib prints its own lines on stderr (``ALSA lib pcm.c:...``) besides returning an error;
    the reason already travels in our exceptions, so a command-line user sees one clear line."""
    global _silent_handler
    if _silent_handler is not None:
        return
    try:
        lib = ctypes.CDLL(ctypes.util.find_library("asound") or "libasound.so.2")
    except OSError:
        return
    _silent_handler = _ERROR_HANDLER_TYPE(lambda *args: None)
    lib.snd_lib_error_set_handler(_silent_handler)
