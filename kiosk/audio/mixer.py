"""Volume: the sound card's mixer element when it has one, software gain otherwise; ReplayGain.

The volume cap (the ``volume.max`` setting) is applied by the core before a percentage reaches
this module, so neither path can exceed it.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

#: Software volume follows a cubic curve: loudness feels even across the slider (50% is -18 dB).
VOLUME_CURVE_EXPONENT = 3


def software_gain(percent: int) -> float:
    """Linear gain for a volume percentage on the software path."""
    percent = max(0, min(100, percent))
    return (percent / 100.0) ** VOLUME_CURVE_EXPONENT


class SoftwareMixer:
    """No mixer on the card: the engine scales the samples."""

    hardware = False

    def apply(self, percent: int, muted: bool) -> float:
        return 0.0 if muted else software_gain(percent)

    def close(self) -> None:
        pass


class AlsaMixer:
    """A card's mixer element (such as 'PCM' or 'Master') set by percentage."""

    hardware = True

    def __init__(self, control: str, card_index: int = 0) -> None:
        import alsaaudio

        self._alsa: Any = alsaaudio
        self._mixer = alsaaudio.Mixer(control=control, cardindex=card_index)
        self._can_mute = bool(self._mixer.switchcap())
        self.control = control

    def apply(self, percent: int, muted: bool) -> float:
        self._mixer.setvolume(max(0, min(100, percent)))
        if self._can_mute:
            self._mixer.setmute(muted)
            return 1.0
        return 0.0 if muted else 1.0

    def close(self) -> None:
        self._mixer.close()


def build_mixer(control: str | None, card_index: int = 0) -> SoftwareMixer | AlsaMixer:
    """The configured mixer element if the card has it, else software gain (logged, not fatal)."""
    if not control:
        return SoftwareMixer()
    try:
        return AlsaMixer(control, card_index)
    except Exception as exc:  # alsaaudio.ALSAAudioError, or no card at all
        log.warning("mixer element %r on card %d is not usable (%s); using software volume", control, card_index, exc)
        return SoftwareMixer()


def replaygain_gain(
    mode: str,
    preamp_db: float,
    prevent_clipping: bool,
    *,
    track_gain: float | None,
    track_peak: float | None,
    album_gain: float | None,
    album_peak: float | None,
) -> float:
    """Linear gain for a track's ReplayGain tags; album mode falls back to the track's values.

    Tracks without tags are left alone (no preamp either): boosting an untagged loud track clips.
    """
    if mode not in ("track", "album"):
        return 1.0
    gain, peak = (album_gain, album_peak) if mode == "album" and album_gain is not None else (track_gain, track_peak)
    if gain is None:
        return 1.0
    linear = math.pow(10.0, (gain + preamp_db) / 20.0)
    if prevent_clipping and peak and peak > 0:
        linear = min(linear, 1.0 / peak)
    return linear


def scale_pcm(data: bytes | memoryview, sample_format: str, gain: float) -> bytes | memoryview:
    """Interleaved PCM multiplied by ``gain``, rounded and clipped; untouched at a gain of 1."""
    if gain == 1.0:
        return data
    if sample_format == "flt":
        floats = np.frombuffer(data, dtype="<f4") * np.float32(gain)
        return np.clip(floats, -1.0, 1.0).astype("<f4").tobytes()
    dtype, wide = ("<i2", "<f4") if sample_format == "s16" else ("<i4", "<f8")
    info = np.iinfo(dtype)
    samples: np.ndarray[Any, Any] = np.frombuffer(data, dtype=dtype).astype(wide)
    samples *= gain
    return np.clip(np.rint(samples), info.min, info.max).astype(dtype).tobytes()
