"""The player: one thread owns the sound output and the decoder; commands in, events out.

Commands are put on a queue and return at once. The thread writes what the device takes, at most a
period once its buffer is full, looking at the queue between writes, so "next" is heard within about
one period plus the time to open the next file. When a track's audio is all decoded the thread asks
the core what follows and writes it straight after (gapless: no drain, no silence). What has been
*heard* is what was written minus what still sits in the device's buffer, so positions, the current
track and play counts follow the speaker, not the decoder.

Pause, seek and recovery from a lost device all restart decoding at the heard position, which works
on every device (not all ALSA devices can pause) and loses nothing audible.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from kiosk.audio.decoder import has_wide_samples, open_decoder
from kiosk.audio.mixer import replaygain_gain, scale_pcm
from kiosk.core.bus import EventBus
from kiosk.core.errors import DeviceError
from kiosk.core.events import PlayerError, PlayerState
from kiosk.core.models import Track
from kiosk.core.ports.audio import (
    AudioOutput,
    DecodeError,
    Decoder,
    DecoderFactory,
    MissingFileError,
    Mixer,
    OutputLostError,
    PcmFormat,
    SampleFormat,
)
from kiosk.core.ports.playback import PlaybackHost

log = logging.getLogger(__name__)

State = Literal["playing", "paused", "stopped"]

#: A track counts as played once heard past half its length or this long.
HEARD_AFTER_MS = 4 * 60 * 1000
#: Broken files skipped in a row before the player gives up and stops (a queue of only broken files).
MAX_SKIPS = 25
#: Waits between attempts to reopen a lost device (the last one repeats).
REOPEN_DELAYS_S = (0.25, 0.5, 1.0, 2.0, 4.0)
#: Commands made moot by a later one in the same batch (see ``_take_commands``).
_SUPERSEDED = frozenset({"play", "cue", "seek"})
_SUPERSEDING = frozenset({"play", "cue", "stop", "close"})
#: Periods written between looks at the heard position (track changes are announced this promptly).
PUBLISH_EVERY_WRITES = 3
#: The library's codec names (``Track.codec``) of lossy formats: never more than 16 bits worth keeping.
LOSSY_CODECS = frozenset({"mp3", "aac", "vorbis", "opus", "wma"})
#: The format asked of the device when a track does not say its rate.
DEFAULT_RATE = 44100


@dataclass(slots=True)
class _Segment:
    """A stretch of one track in the written stream: where it starts and at which track position."""

    track: Track
    queue_index: int | None
    start_frame: int
    offset_ms: int
    duration_ms: int
    play_id: int


class AudioEngine:
    """Implements the core's ``Player`` port on top of an ``AudioOutput``, a ``Mixer`` and a decoder."""

    def __init__(
        self,
        bus: EventBus,
        output: AudioOutput,
        mixer: Mixer,
        *,
        decoder_factory: DecoderFactory = open_decoder,
        wide_samples: Callable[[str], bool] = has_wide_samples,
        clock: Callable[[], float] = time.monotonic,
        state_interval_s: float = 0.25,
        reopen_delays_s: Sequence[float] = REOPEN_DELAYS_S,
        period_ms: int = 20,
        channels: int = 2,
    ) -> None:
        self._bus, self._out, self._mixer = bus, output, mixer
        self._open_decoder, self._clock, self._wide_samples = decoder_factory, clock, wide_samples
        self._state_interval, self._reopen_delays = state_interval_s, tuple(reopen_delays_s) or (1.0,)
        self._period_ms, self._channels = period_ms, channels
        self._host: PlaybackHost | None = None
        self._commands: queue.SimpleQueue[tuple[str, tuple[Any, ...]]] = queue.SimpleQueue()
        self._closing = False

        # Everything below belongs to the player thread.
        self._state: State = "stopped"
        self._track: Track | None = None  # the track heard (or loaded, when not playing)
        self._index: int | None = None
        self._position_ms = 0  # the position when not playing
        self._duration_ms = 0  # of self._track, once known
        self._play_id = 0
        self._next_play_id = 1
        self._heard_reported: set[int] = set()
        self._format: PcmFormat | None = None
        self._decoder: Decoder | None = None
        self._chunks: Iterator[bytes | memoryview] | None = None
        self._writes = 0
        self._decoder_track: Track | None = None
        self._decoder_gain = 1.0
        self._pending: memoryview | None = None
        self._piece_bytes = 0
        self._written = 0
        self._segments: list[_Segment] = []
        self._ending = False
        self._lost = False
        self._lost_step = 0
        self._retry_at = 0.0
        self._volume = 100
        self._muted = False
        self._residual_gain = 1.0
        self._replaygain: tuple[str, float, bool] = ("off", 0.0, True)
        self._last_published: PlayerState | None = None
        self._last_publish_time = float("-inf")

        room = getattr(output, "room_frames", None)
        self._room: Callable[[], int] | None = room if callable(room) else None
        self._period_frames = 0

        self._thread = threading.Thread(target=self._run, name="player", daemon=True)
        self._thread.start()

    # --- the Player port (any thread; never blocks) --------------------------------------------

    def attach(self, host: PlaybackHost) -> None:
        self._host = host

    def play(self, track: Track, queue_index: int | None, start_ms: int = 0) -> None:
        self._commands.put(("play", (track, queue_index, start_ms)))

    def cue(self, track: Track | None, queue_index: int | None, start_ms: int = 0) -> None:
        self._commands.put(("cue", (track, queue_index, start_ms)))

    def pause(self) -> None:
        self._commands.put(("pause", ()))

    def resume(self) -> None:
        self._commands.put(("resume", ()))

    def stop(self) -> None:
        self._commands.put(("stop", ()))

    def seek(self, position_ms: int) -> None:
        self._commands.put(("seek", (position_ms,)))

    def set_volume(self, percent: int) -> None:
        self._commands.put(("set_volume", (percent,)))

    def set_muted(self, muted: bool) -> None:
        self._commands.put(("set_muted", (muted,)))

    def set_replaygain(self, mode: str, preamp_db: float, prevent_clipping: bool) -> None:
        self._commands.put(("set_replaygain", (mode, preamp_db, prevent_clipping)))

    def close(self) -> None:
        """Stops, closes the device and ends the thread (waits for it, up to a few seconds)."""
        self._commands.put(("close", ()))
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)

    @property
    def underruns(self) -> int:
        return self._out.underruns

    @property
    def output(self) -> AudioOutput:
        """The sound output (owned by the player thread: read, don't drive)."""
        return self._out

    # --- the player thread ---------------------------------------------------------------------

    def _run(self) -> None:
        while not self._closing:
            try:
                self._run_once()
            except Exception:
                # A bug must cost the current track at most, never the player.
                log.exception("the player thread hit an error; stopping playback")
                self._error("other", "Playback stopped after an internal error.")
                self._reset_stream()
                self._state = "stopped"
                self._publish(force=True)
        self._reset_stream()
        self._out.close()
        try:
            self._mixer.close()
        except Exception:
            log.debug("closing the mixer failed", exc_info=True)

    def _run_once(self) -> None:
        if self._state == "playing" and not self._lost:
            self._take_commands(timeout=None)
            if self._state == "playing" and not self._lost and not self._closing:
                self._step()
        elif self._state == "playing" and self._lost:
            self._take_commands(timeout=max(0.0, self._retry_at - time.monotonic()), block=True)
            if self._state == "playing" and self._lost and time.monotonic() >= self._retry_at:
                self._reopen()
        else:
            self._take_commands(timeout=None, block=True)

    def _take_commands(self, timeout: float | None, block: bool = False) -> None:
        """Runs queued commands; with ``block`` waits up to ``timeout`` (None: forever) for the first.

        A play, cue or seek followed in the same batch by another play, cue or stop is skipped: five
        quick presses of "next" open one file, not five.
        """
        if not block and self._commands.empty():
            return  # the common case between two periods: no exception raised and caught
        try:
            batch = [self._commands.get(timeout=timeout) if block else self._commands.get_nowait()]
        except queue.Empty:
            return
        while True:
            try:
                batch.append(self._commands.get_nowait())
            except queue.Empty:
                break
        for position, (name, args) in enumerate(batch):
            if name in _SUPERSEDED and any(later in _SUPERSEDING for later, _ in batch[position + 1 :]):
                continue
            self._dispatch(name, args)
            if self._closing:
                return

    def _dispatch(self, name: str, args: tuple[Any, ...]) -> None:
        log.debug("command %s%r", name, args)
        if name == "close":
            self._closing = True
            self._state = "stopped"
            return
        getattr(self, "_do_" + name)(*args)

    # --- commands, on the player thread --------------------------------------------------------

    def _do_play(self, track: Track, queue_index: int | None, start_ms: int) -> None:
        self._start(track, queue_index, max(0, start_ms), self._new_play_id())

    def _do_cue(self, track: Track | None, queue_index: int | None, start_ms: int) -> None:
        self._reset_stream()
        self._lost = False
        self._track, self._index, self._position_ms = track, queue_index, max(0, start_ms)
        self._duration_ms = track.duration_ms if track is not None else 0
        self._play_id = self._new_play_id()
        self._state = "stopped" if track is None or self._state == "stopped" else "paused"
        self._publish(force=True)

    def _do_pause(self) -> None:
        if self._state != "playing":
            return
        self._hold_heard_position()
        self._state = "paused"
        self._publish(force=True)

    def _do_resume(self) -> None:
        if self._state == "playing" or self._track is None:
            return
        self._start(self._track, self._index, self._position_ms, self._play_id)

    def _do_stop(self) -> None:
        if self._state == "playing":
            self._hold_heard_position()
        self._reset_stream()
        self._lost = False
        self._position_ms = 0
        self._state = "stopped"
        self._publish(force=True)

    def _do_seek(self, position_ms: int) -> None:
        position_ms = max(0, position_ms)
        if self._state == "playing" and not self._lost:
            self._hold_heard_position()
            if self._track is not None:
                self._start(self._track, self._index, position_ms, self._play_id)
        else:
            self._position_ms = position_ms
            self._publish(force=True)

    def _do_set_volume(self, percent: int) -> None:
        self._volume = max(0, min(100, int(percent)))
        self._apply_volume()

    def _do_set_muted(self, muted: bool) -> None:
        self._muted = bool(muted)
        self._apply_volume()

    def _do_set_replaygain(self, mode: str, preamp_db: float, prevent_clipping: bool) -> None:
        self._replaygain = (mode, float(preamp_db), bool(prevent_clipping))
        self._decoder_gain = self._gain_for(self._decoder_track)

    def _apply_volume(self) -> None:
        try:
            self._residual_gain = self._mixer.apply(self._volume, self._muted)
        except Exception as exc:  # a mixer that vanished with its card
            log.warning("setting the volume failed: %s", exc)
        self._decoder_gain = self._gain_for(self._decoder_track)
        self._publish(force=True)

    # --- playing -------------------------------------------------------------------------------

    def _new_play_id(self) -> int:
        play_id, self._next_play_id = self._next_play_id, self._next_play_id + 1
        return play_id

    def _start(self, track: Track, queue_index: int | None, start_ms: int, play_id: int) -> None:
        """Drops what plays and starts ``track`` at ``start_ms`` (skipping to the next if it is broken)."""
        self._reset_stream()
        if track is not self._track:
            self._duration_ms = track.duration_ms
        self._track, self._index, self._position_ms, self._play_id = track, queue_index, start_ms, play_id
        self._state = "playing"
        if not self._ensure_output(track):
            self._publish(force=True)
            return
        if not self._begin_track(track, queue_index, start_ms, play_id) and not self._advance(track):
            self._state = "stopped"
            self._position_ms = 0
        self._publish(force=True)

    def _ensure_output(self, track: Track) -> bool:
        """Opens the device for ``track`` (32-bit samples for a source with more than 16 bits, when the
        device takes them). Tracks that follow without a break play in the format opened here."""
        lossy = track.codec in LOSSY_CODECS  # known from the library: no need to open the file
        sample_format: SampleFormat = "s32" if not lossy and self._wide_samples(track.path) else "s16"
        wanted = PcmFormat(track.sample_rate or DEFAULT_RATE, self._channels, sample_format)
        try:
            self._format = self._out.open(wanted)
            self._period_frames = max(1, self._format.ms_to_frames(self._period_ms))
        except DeviceError as exc:
            self._device_lost(str(exc), first_open=not self._lost)
            return False
        if self._lost:
            log.info("the sound device is back")
        self._lost, self._lost_step = False, 0
        return True

    def _begin_track(self, track: Track, queue_index: int | None, start_ms: int, play_id: int) -> bool:
        """Opens ``track``'s decoder and marks where it starts in the stream; False if it cannot be read."""
        assert self._format is not None
        try:
            decoder = self._open_decoder(track.path, self._format, start_ms)
        except MissingFileError as exc:
            self._error("missing-file", str(exc), track.id)
            return False
        except DecodeError as exc:
            self._error("decode", str(exc), track.id)
            return False
        self._decoder, self._chunks, self._decoder_track = decoder, iter(decoder.chunks()), track
        self._decoder_gain = self._gain_for(track)
        duration = track.duration_ms or decoder.duration_ms
        self._segments.append(_Segment(track, queue_index, self._written, start_ms, duration, play_id))
        return True

    def _advance(self, finished: Track) -> bool:
        """Asks the core what follows ``finished`` and opens it, skipping broken files; False: the end."""
        for _ in range(MAX_SKIPS):
            following = self._ask_what_follows(finished)
            if following is None:
                return False
            track, index = following
            if self._begin_track(track, index, 0, self._new_play_id()):
                return True
            finished = track
        self._error("other", f"Stopped after {MAX_SKIPS} tracks in a row could not be played.")
        return False

    def _ask_what_follows(self, finished: Track) -> tuple[Track, int] | None:
        if self._host is None:
            return None
        try:
            return self._host.track_ended(finished.id)
        except Exception:  # the core's failure must not end the player thread
            log.exception("asking what follows track %s failed", finished.id)
            return None

    def _step(self) -> None:
        """Writes one piece of audio (or waits a moment for the end of the last track to be heard).

        A command waits for the thread at most as long as one write blocks. With an output that says
        how much its buffer takes now (``room_frames``), a write is as much as fits, or one period
        when the buffer is full: on a sound card that is one write per period, each waiting at most a
        period; on a device that never fills it is one write per decoded chunk. Other outputs get the
        chunk in equal pieces of at most 1.5 periods.
        """
        assert self._format is not None
        if self._pending is None:
            if self._ending:
                self._wait_for_end()
                return
            chunk = self._next_chunk()
            if chunk is None:
                return
            self._pending = memoryview(chunk)
            if self._room is None:
                frames = len(self._pending) // self._format.frame_bytes
                longest = max(1, self._format.ms_to_frames(self._period_ms) * 3 // 2)
                pieces = -(-frames // longest)
                self._piece_bytes = -(-frames // pieces) * self._format.frame_bytes
        if self._room is not None:
            # As much as fits without waiting; when the buffer is full, one period (waits at most a period).
            size = max(self._room(), self._period_frames) * self._format.frame_bytes
        else:
            size = self._piece_bytes
        piece, rest = self._pending[:size], self._pending[size:]
        try:
            self._out.write(piece)
        except OutputLostError as exc:
            self._hold_heard_position()
            self._device_lost(str(exc), first_open=False)
            self._publish(force=True)
            return
        self._pending = rest if len(rest) else None
        self._written += len(piece) // self._format.frame_bytes
        self._writes += 1
        if self._writes % PUBLISH_EVERY_WRITES == 0:
            self._publish()

    def _next_chunk(self) -> bytes | memoryview | None:
        assert self._format is not None
        while self._chunks is not None:
            try:
                chunk = next(self._chunks, None)
            except DecodeError as exc:
                self._error("decode", str(exc), self._decoder_track.id if self._decoder_track else None)
                chunk = None
            if chunk:
                return scale_pcm(chunk, self._format.sample_format, self._decoder_gain)
            finished = self._decoder_track
            self._close_decoder()
            if finished is None or not self._advance(finished):
                self._ending = True
                return None
        return None

    def _wait_for_end(self) -> None:
        """All audio is written: let the buffer play out while still taking commands, then stop."""
        assert self._format is not None
        if self._out.delay_frames() > self._format.ms_to_frames(self._period_ms):
            self._publish()
            self._take_commands(timeout=self._period_ms / 2000, block=True)
            return
        try:
            self._out.drain()
        except OutputLostError as exc:
            log.info("the device went away while draining: %s", exc)
        last = self._segments[-1] if self._segments else None
        self._publish()  # reports the last track heard to its end
        if last is not None:
            self._report_heard(last, last.duration_ms)
            self._track, self._index, self._play_id = last.track, last.queue_index, last.play_id
        self._reset_stream()
        self._state, self._position_ms = "stopped", 0
        self._publish(force=True)

    def _hold_heard_position(self) -> None:
        """Stops the stream, remembering which track and position have been heard."""
        segment, position = self._heard()
        if segment is not None:
            self._track, self._index, self._play_id = segment.track, segment.queue_index, segment.play_id
            self._position_ms = position
        self._reset_stream()

    def _reset_stream(self) -> None:
        self._out.drop()
        self._close_decoder()
        self._pending = None
        self._written = 0
        self._segments.clear()
        self._ending = False

    def _close_decoder(self) -> None:
        decoder, self._decoder, self._chunks, self._decoder_track = self._decoder, None, None, None
        if decoder is not None:
            decoder.close()

    def _gain_for(self, track: Track | None) -> float:
        gain = self._residual_gain
        if track is not None:
            mode, preamp, prevent_clipping = self._replaygain
            gain *= replaygain_gain(
                mode, preamp, prevent_clipping,
                track_gain=track.replaygain_track_gain, track_peak=track.replaygain_track_peak,
                album_gain=track.replaygain_album_gain, album_peak=track.replaygain_album_peak,
            )
        return gain

    # --- a lost device -------------------------------------------------------------------------

    def _device_lost(self, message: str, *, first_open: bool) -> None:
        was_lost = self._lost
        self._out.close()
        self._format = None
        self._lost = True
        delay = self._reopen_delays[min(self._lost_step, len(self._reopen_delays) - 1)]
        self._lost_step += 1
        self._retry_at = time.monotonic() + delay
        if not was_lost:
            log.warning("sound device unavailable: %s", message)
            code: Literal["device-missing", "device-lost"] = "device-missing" if first_open else "device-lost"
            what = "cannot be found" if first_open else "was disconnected"
            self._error(
                code, f"The sound device {what}; playing resumes when it is back. ({message})",
                self._track.id if self._track else None,
            )

    def _reopen(self) -> None:
        if self._track is None:
            self._lost = False
            self._state = "stopped"
            return
        self._start(self._track, self._index, self._position_ms, self._play_id)

    # --- what has been heard, and telling everyone ---------------------------------------------

    def _heard(self) -> tuple[_Segment | None, int]:
        if not self._segments or self._format is None:
            return None, self._position_ms
        heard_frames = max(0, self._written - self._out.delay_frames())
        current = self._segments[0]
        for segment in self._segments[1:]:
            if segment.start_frame <= heard_frames:
                current = segment
        position = current.offset_ms + self._format.frames_to_ms(max(0, heard_frames - current.start_frame))
        return current, position

    def _report_heard(self, segment: _Segment, position_ms: int) -> None:
        if segment.play_id in self._heard_reported or self._host is None:
            return
        threshold = min(segment.duration_ms // 2, HEARD_AFTER_MS) if segment.duration_ms else HEARD_AFTER_MS
        if position_ms >= threshold:
            self._heard_reported.add(segment.play_id)
            if len(self._heard_reported) > 64:
                self._heard_reported = {p for p in self._heard_reported if p >= segment.play_id - 16}
            try:
                self._host.track_heard(segment.track.id)
            except Exception:
                log.exception("recording a play of track %s failed", segment.track.id)

    def _publish(self, force: bool = False) -> None:
        position = self._position_ms
        if self._state == "playing" and self._segments:
            segment, position = self._heard()
            assert segment is not None
            while self._segments[0] is not segment:  # tracks heard to their end (gapless changes)
                passed = self._segments.pop(0)
                self._report_heard(passed, passed.duration_ms)
                force = True
            if segment.track is not self._track:
                self._track, self._index, self._play_id = segment.track, segment.queue_index, segment.play_id
                force = True
            self._report_heard(segment, position)
        track = self._track
        now = self._clock()
        last = self._last_published
        changed = last is None or (last.state, last.track_id, last.queue_index, last.underruns) != (
            self._state, track.id if track else None, self._index, self._out.underruns,
        )
        if not force and not changed and now - self._last_publish_time < self._state_interval:
            return  # nothing a listener must hear of yet (checked before building the event)
        if self._segments and self._segments[0].track is track:
            self._duration_ms = self._segments[0].duration_ms
        duration = (track.duration_ms or self._duration_ms) if track is not None else 0
        state = PlayerState(
            state=self._state,
            track_id=track.id if track else None,
            position_ms=position,
            duration_ms=duration,
            queue_index=self._index,
            volume=self._volume,
            muted=self._muted,
            underruns=self._out.underruns,
        )
        if not force and not changed and state == last:
            return
        self._last_published, self._last_publish_time = state, now
        self._bus.publish(state)

    def _error(self, code: Literal["decode", "missing-file", "device-lost", "device-missing", "other"],
               message: str, track_id: int | None = None) -> None:
        log.warning("player error (%s): %s", code, message)
        self._bus.publish(PlayerError(code=code, message=message, track_id=track_id))
