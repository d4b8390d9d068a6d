"""The playback engine as the core drives it, and the core as the engine calls back into it.

The core owns the queue; the engine owns the sound device and the decoder. The core tells the
engine what to play; when a track's audio has all been decoded the engine asks the core what
follows (``PlaybackHost.track_ended``), so the next track can be written back to back (gapless).
"""

from __future__ import annotations

from typing import Protocol

from kiosk.core.models import Track


class Player(Protocol):
    """Every method returns at once; the engine's own thread does the work and publishes
    ``player:state`` / ``player:error`` on the bus."""

    def attach(self, host: PlaybackHost) -> None:
        """Called once by the core before any other command."""

    def play(self, track: Track, queue_index: int | None, start_ms: int = 0) -> None:
        """Drop whatever plays and play ``track`` from ``start_ms``."""

    def cue(self, track: Track | None, queue_index: int | None, start_ms: int = 0) -> None:
        """Load ``track`` paused at ``start_ms`` (None unloads); used at start-up and when stopped."""

    def pause(self) -> None: ...
    def resume(self) -> None:
        """Continue the cued or paused track."""

    def stop(self) -> None: ...
    def seek(self, position_ms: int) -> None: ...
    def set_volume(self, percent: int) -> None:
        """0-100, already capped by the core."""

    def set_muted(self, muted: bool) -> None: ...
    def set_replaygain(self, mode: str, preamp_db: float, prevent_clipping: bool) -> None: ...
    def close(self) -> None:
        """Stop, close the device, end the thread."""


class PlaybackHost(Protocol):
    """Implemented by the core's ``Jukebox``; the engine calls it from its own thread."""

    def track_ended(self, track_id: int) -> tuple[Track, int] | None:
        """``track_id`` has been fully decoded: advance the queue (repeat and shuffle applied)
        and return the next track and its queue index to write straight after it, or None
        to stop. Returns None too when the queue moved on meanwhile (a command will follow)."""

    def track_heard(self, track_id: int) -> None:
        """The track has been heard past half its length or four minutes: count a play."""
