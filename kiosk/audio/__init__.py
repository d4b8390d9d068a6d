"""Playback: PyAV decoding straight to ALSA, gapless, with software or hardware volume.

``build_player(config, bus)`` is the one entry point the app needs; the parts (decoder, output,
mixer, engine) are exposed for tests and the ``kiosk play`` command.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from kiosk.core.bus import EventBus
from kiosk.core.ports.audio import PcmFormat
from kiosk.core.ports.playback import Player

if TYPE_CHECKING:
    from kiosk.config import Config

log = logging.getLogger(__name__)

__all__ = ["build_player"]


def build_player(config: Config, bus: EventBus, *, device: str | None = None, check_device: bool = True) -> Player:
    """The audio engine for ``config.audio`` (device, mixer_control, mixer_card_index, period_ms,
    buffer_ms). Raises ``DeviceError`` when the sound device cannot be opened at all.

    With ``check_device=False`` a missing device is not an error here: the player publishes
    ``player:error`` (device-missing) when asked to play and keeps trying, so a USB DAC plugged in
    after start-up is picked up.
    """
    from kiosk.audio.engine import AudioEngine
    from kiosk.audio.mixer import build_mixer
    from kiosk.audio.output import AlsaOutput

    audio = config.audio
    output = AlsaOutput(device or audio.device, period_ms=audio.period_ms, buffer_ms=audio.buffer_ms)
    if check_device:
        output.open(PcmFormat(44100))  # fails here, with a clear message, when there is no such device
        output.close()  # the player thread opens it again and owns it from then on
    mixer = build_mixer(audio.mixer_control, audio.mixer_card_index)
    log.info("audio on %s, %s volume", output.device, "hardware" if mixer.hardware else "software")
    return AudioEngine(bus, output, mixer, period_ms=audio.period_ms)
