"""The player engine end to end: real files, PyAV, and a real ALSA device (file plugin capture).

What is real and what is not, test by test: decoding and ALSA output are always real. The file
plugin has no clock (ten seconds "play" in milliseconds), so tests about positions use
``SpeakerOutput``: the real ALSA output plus a speaker position the test moves by hand. Faults a
file device cannot produce (an underrun, a write failing because a DAC was pulled) are injected by
wrapping the real ``alsaaudio.PCM``; reopening a device that has gone from the ALSA config fails
for real.
"""

from __future__ import annotations

import errno
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import alsaaudio
import numpy as np
import pytest

from kiosk.audio import build_player
from kiosk.audio.engine import AudioEngine
from kiosk.audio.mixer import SoftwareMixer, software_gain
from kiosk.audio.output import AlsaOutput
from kiosk.config import load_config
from kiosk.core.bus import RecordingBus
from kiosk.core.errors import DeviceError
from kiosk.core.events import PlayerError, PlayerState
from kiosk.core.models import Track
from kiosk.core.ports.audio import PcmFormat
from tests.audio.conftest import (
    RATE,
    AlsaTap,
    FakeClock,
    MediaMaker,
    QueueHost,
    ffmpeg_decode,
    make_track,
    wait_for_state,
    wait_until,
)
from tests.media import FORMATS

Frames = np.ndarray[Any, Any]


class SpeakerOutput:
    """The real ALSA output, plus a speaker the test moves: ``hear(n)`` plays n more frames.

    ``delay_frames`` is what was written and not yet heard, as a real device reports it. Writes do
    not block (the test decides what is heard), and ``runs`` records the frames written between
    drops, so a test knows which source frames the capture file holds.
    """

    def __init__(self, real: AlsaOutput) -> None:
        self.real = real
        self.written = 0
        self.heard = 0
        self.runs: list[int] = [0]
        self._lock = threading.Lock()
        self._format: PcmFormat | None = None

    @property
    def underruns(self) -> int:
        return self.real.underruns

    def open(self, wanted: PcmFormat) -> PcmFormat:
        self._format = self.real.open(wanted)
        return self._format

    def write(self, data: bytes | memoryview) -> None:
        assert self._format is not None
        self.real.write(data)
        with self._lock:
            frames = len(data) // self._format.frame_bytes
            self.written += frames
            self.runs[-1] += frames

    def delay_frames(self) -> int:
        with self._lock:
            return self.written - self.heard

    def hear(self, frames: int) -> None:
        with self._lock:
            self.heard = min(self.written, self.heard + frames)

    def drop(self) -> None:
        self.real.drop()
        with self._lock:
            self.written = self.heard = 0
            if self.runs[-1]:
                self.runs.append(0)

    def drain(self) -> None:
        self.real.drain()
        with self._lock:
            self.heard = self.written

    def close(self) -> None:
        self.real.close()


class ScriptedPcm:
    """The real ``alsaaudio.PCM``, with faults injected into ``write`` on cue."""

    def __init__(self, script: PcmScript, **kwargs: Any) -> None:
        self.real = alsaaudio.PCM(**kwargs)
        self.script = script

    def write(self, data: Any) -> int:
        return self.script.write(self.real, data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


class PcmScript:
    """Counts frames written through real PCMs; can report one underrun or "unplug" the device."""

    def __init__(self, *, underrun_at: int | None = None, unplug_at: int | None = None,
                 on_unplug: Callable[[], None] | None = None) -> None:
        self.frames = 0
        self.underrun_at, self.unplug_at, self.on_unplug = underrun_at, unplug_at, on_unplug
        self.unplugged = False
        self.frames_at_unplug = 0
        self.opens: list[str] = []  # "ok" or the real ALSA error of each attempt
        self.drains = 0

    def open_pcm(self, **kwargs: Any) -> Any:
        try:
            pcm = ScriptedPcm(self, **kwargs)
        except alsaaudio.ALSAAudioError as exc:
            self.opens.append(str(exc))
            raise
        self.opens.append("ok")
        self.unplugged = False
        return pcm

    def write(self, real: Any, data: Any) -> int:
        if self.unplugged:
            raise alsaaudio.ALSAAudioError("No such device [default]")
        if self.unplug_at is not None and self.frames >= self.unplug_at:
            self.unplug_at = None
            self.unplugged = True
            self.frames_at_unplug = self.frames
            if self.on_unplug is not None:
                self.on_unplug()
            raise alsaaudio.ALSAAudioError("No such device [default]")
        if self.underrun_at is not None and self.frames >= self.underrun_at:
            self.underrun_at = None
            return -errno.EPIPE  # as pyalsaaudio reports an underrun: re-prepared, nothing taken
        written = int(real.write(data))
        self.frames += max(0, written)
        return written


@pytest.fixture
def engines() -> Iterator[list[AudioEngine]]:
    made: list[AudioEngine] = []
    yield made
    for engine in made:
        engine.close()


def start_engine(engines: list[AudioEngine], bus: RecordingBus, output: Any = None, **kwargs: Any) -> AudioEngine:
    engine = AudioEngine(bus, output or AlsaOutput("default"), kwargs.pop("mixer", SoftwareMixer()), **kwargs)
    engines.append(engine)
    return engine


def play_all(engine: AudioEngine, bus: RecordingBus, tracks: list[Track]) -> QueueHost:
    """Plays ``tracks`` in order through ``engine`` and waits until it has stopped at the end."""
    host = QueueHost(tracks)
    engine.attach(host)
    before = len(bus.of_type(PlayerState))
    engine.play(tracks[0], 0)

    def stopped_after_playing() -> bool:
        states = [s.state for s in bus.of_type(PlayerState)[before:]]
        return "playing" in states and "stopped" in states[states.index("playing") :]

    wait_until(stopped_after_playing, what="played to the end")
    return host


def assert_same_audio(got: Frames, want: Frames, exact: bool) -> None:
    assert len(got) == len(want), f"{len(got)} frames captured, {len(want)} expected"
    if exact:
        assert np.array_equal(got, want)
    else:
        assert np.abs(got.astype(int) - want.astype(int)).max() <= 1


def reference(path: Path, fmt: str) -> Frames:
    frames = ffmpeg_decode(path)
    if fmt == "m4a":
        with_padding = len(frames)
        frames = frames[: _exact_length(path)]  # the ffmpeg command keeps AAC's end padding
        assert len(frames) < with_padding
    return frames


def _exact_length(path: Path) -> int:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        assert stream.duration is not None and stream.time_base is not None
        return int(stream.duration * stream.time_base * RATE)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_format_plays_through_to_the_device(
    fmt: str, alsa: AlsaTap, media: MediaMaker, bus: RecordingBus, engines: list[AudioEngine]
) -> None:
    path = media.noise(fmt, seconds=1.5)
    engine = start_engine(engines, bus)
    play_all(engine, bus, [make_track(1, path)])
    assert_same_audio(alsa.frames(), reference(path, fmt), exact=fmt in ("flac", "wav", "aiff", "alac", "mp3"))
    assert not bus.of_type(PlayerError)


def test_tracks_in_a_row_are_written_back_to_back_without_a_gap(
    alsa: AlsaTap, media: MediaMaker, bus: RecordingBus, engines: list[AudioEngine]
) -> None:
    """FLAC, then MP3, AAC and WAV: the capture is the four decodes joined, not one sample more or
    less (AAC's padding cut), the device opened once and drained once, at the very end."""
    fmts = ["flac", "mp3", "m4a", "wav"]
    paths = [media.noise(fmt, seconds=1.0 + i * 0.25, seed=i + 2) for i, fmt in enumerate(fmts)]
    script = PcmScript()
    output = AlsaOutput("default", open_pcm=script.open_pcm)
    original_drain = output.drain

    def counting_drain() -> None:
        script.drains += 1
        original_drain()

    output.drain = counting_drain  # type: ignore[method-assign]
    engine = start_engine(engines, bus, output)
    tracks = [make_track(i + 1, p) for i, p in enumerate(paths)]
    host = play_all(engine, bus, tracks)
    want = [reference(p, f) for p, f in zip(paths, fmts, strict=True)]
    got = alsa.frames()
    assert len(got) == sum(len(w) for w in want)
    start = 0
    for fmt, w in zip(fmts, want, strict=True):
        assert_same_audio(got[start : start + len(w)], w, exact=fmt != "m4a")
        start += len(w)
    assert script.opens == ["ok"] and script.drains == 1
    assert host.ended == [1, 2, 3, 4]
    assert next(s.track_id for s in bus.of_type(PlayerState) if s.state == "playing") == 1


def test_software_volume_and_mute_are_in_the_samples(
    alsa: AlsaTap, media: MediaMaker, bus: RecordingBus, engines: list[AudioEngine]
) -> None:
    path = media.noise("flac", seconds=1.0, amplitude=0.5)
    source = ffmpeg_decode(path).astype(np.float64)
    engine = start_engine(engines, bus)
    engine.set_volume(50)
    play_all(engine, bus, [make_track(1, path)])
    half = alsa.frames().astype(np.float64)
    assert software_gain(50) == pytest.approx(0.125)
    assert np.abs(half - source * 0.125).max() <= 0.51  # rounded to the nearest step, nothing more
    assert bus.of_type(PlayerState)[-1].volume == 50

    engine.set_muted(True)
    play_all(engine, bus, [make_track(1, path)])  # the device stays open: the capture grows
    muted = alsa.frames()[len(source) :]
    assert len(muted) == len(source) and not muted.any()
    assert bus.of_type(PlayerState)[-1].muted is True


@pytest.mark.parametrize(
    ("mode", "preamp", "prevent_clipping", "expected_db_or_gain"),
    [
        ("off", 0.0, True, 1.0),
        ("track", 0.0, True, 10 ** (-6 / 20)),
        ("track", 3.0, True, 10 ** (-3 / 20)),
        ("album", 0.0, True, 10 ** (-9 / 20)),
        ("album", 12.0, True, 10 ** (3 / 20)),
        ("album", 15.0, True, 1 / 0.6),  # +6 dB would lift the album's peak of 0.6 past full scale
        ("album", 15.0, False, 10 ** (6 / 20)),
    ],
)
def test_replaygain_scales_each_track_with_preamp_and_clipping_prevention(
    mode: str, preamp: float, prevent_clipping: bool, expected_db_or_gain: float,
    alsa: AlsaTap, media: MediaMaker, bus: RecordingBus, engines: list[AudioEngine],
) -> None:
    path = media.noise("flac", seconds=0.5, amplitude=0.05)
    source = ffmpeg_decode(path).astype(np.float64)
    track = make_track(1, path, replaygain_track_gain=-6.0, replaygain_track_peak=0.5,
                       replaygain_album_gain=-9.0, replaygain_album_peak=0.6)
    engine = start_engine(engines, bus)
    engine.set_replaygain(mode, preamp, prevent_clipping)
    play_all(engine, bus, [track])
    got = alsa.frames().astype(np.float64)
    assert np.abs(got - source * expected_db_or_gain).max() <= 0.51


def test_a_broken_and_a_missing_file_in_the_queue_are_skipped(
    tmp_path: Path, alsa: AlsaTap, media: MediaMaker, bus: RecordingBus, engines: list[AudioEngine]
) -> None:
    """Tried: a queue of a good FLAC, a file of garbage, a file that is gone, a good WAV.
    Must survive: both good tracks, back to back; one error event each for the bad ones."""
    good1, good2 = media.noise("flac", seconds=1.0, seed=3), media.noise("wav", seconds=1.0, seed=4)
    garbage = tmp_path / "garbage.flac"
    garbage.write_bytes(b"fLaC" + bytes(range(256)) * 40)
    tracks = [make_track(1, good1), make_track(2, garbage), make_track(3, tmp_path / "gone.mp3"), make_track(4, good2)]
    engine = start_engine(engines, bus)
    host = play_all(engine, bus, tracks)
    want = np.concatenate([ffmpeg_decode(good1), ffmpeg_decode(good2)])
    assert_same_audio(alsa.frames(), want, exact=True)
    errors = bus.of_type(PlayerError)
    assert [(e.code, e.track_id) for e in errors] == [("decode", 2), ("missing-file", 3)]
    assert host.ended == [1, 2, 3, 4]
    assert engine._thread.is_alive()


def test_a_broken_first_track_moves_on_to_the_next(
    tmp_path: Path, alsa: AlsaTap, media: MediaMaker, bus: RecordingBus, engines: list[AudioEngine]
) -> None:
    good = media.noise("flac", seconds=0.5, seed=5)
    engine = start_engine(engines, bus)
    play_all(engine, bus, [make_track(1, tmp_path / "missing.flac"), make_track(2, good)])
    assert_same_audio(alsa.frames(), ffmpeg_decode(good), exact=True)
    assert [e.code for e in bus.of_type(PlayerError)] == ["missing-file"]
    assert any(s.track_id == 2 for s in bus.of_type(PlayerState))


def test_an_underrun_while_playing_loses_and_repeats_nothing(
    alsa: AlsaTap, media: MediaMaker, bus: RecordingBus, engines: list[AudioEngine]
) -> None:
    path = media.noise("flac", seconds=1.0, seed=6)
    script = PcmScript(underrun_at=RATE // 2)
    engine = start_engine(engines, bus, AlsaOutput("default", open_pcm=script.open_pcm))
    play_all(engine, bus, [make_track(1, path)])
    assert engine.underruns == 1
    assert bus.of_type(PlayerState)[-1].underruns == 1  # the count reaches the screen's diagnostics
    assert_same_audio(alsa.frames(), ffmpeg_decode(path), exact=True)


def test_a_device_that_vanishes_is_reopened_and_playback_resumes_where_it_was_heard(
    alsa: AlsaTap, media: MediaMaker, bus: RecordingBus, engines: list[AudioEngine]
) -> None:
    """One second in, the DAC is "pulled": the write fails (injected) and ``default`` disappears
    from the ALSA config, so reopening fails for real until the test puts it back."""
    path = media.noise("flac", seconds=2.0, seed=7)
    first_capture = alsa.capture
    script = PcmScript(unplug_at=RATE, on_unplug=lambda: alsa.write(None, default_exists=False))
    engine = start_engine(engines, bus, AlsaOutput("default", open_pcm=script.open_pcm), reopen_delays_s=(0.02, 0.05))
    host = QueueHost([make_track(1, path)])
    engine.attach(host)
    engine.play(host.tracks[0], 0)

    wait_until(lambda: len(script.opens) >= 4, what="several attempts to reopen the device")
    lost = bus.of_type(PlayerError)
    assert [e.code for e in lost] == ["device-lost"] and lost[0].track_id == 1
    assert all(result != "ok" for result in script.opens[1:])  # the real ALSA open failed meanwhile

    second_capture = alsa.folder / "after.raw"
    before = len(bus.of_type(PlayerState))
    alsa.write(second_capture)  # the DAC is back
    wait_for_state(bus, "stopped", after=before)

    source = ffmpeg_decode(path)
    cut = script.frames_at_unplug
    assert RATE <= cut < RATE + RATE // 5  # the write that failed was the first past one second (200 ms buffer)
    assert_same_audio(alsa.frames(first_capture), source[:cut], exact=True)
    resumed_at = (cut * 1000 // RATE) * RATE // 1000  # positions are whole milliseconds
    assert cut - resumed_at <= RATE // 1000  # at most a millisecond is heard twice
    assert_same_audio(alsa.frames(second_capture), source[resumed_at:], exact=True)
    assert len(bus.of_type(PlayerError)) == 1  # one event for the loss, not one per attempt


def test_the_position_is_what_the_speaker_has_played(
    alsa: AlsaTap, media: MediaMaker, bus: RecordingBus, engines: list[AudioEngine]
) -> None:
    """Positions come from frames heard (written minus the device's delay), published at most
    every 0.25 s of the injected clock, and the next track is announced when it is heard, not
    when it is decoded. A play is counted once the track was heard past half."""
    first, second = media.noise("flac", seconds=2.0, seed=8), media.noise("wav", seconds=1.0, seed=9)
    clock = FakeClock()
    speaker = SpeakerOutput(AlsaOutput("default"))
    engine = start_engine(engines, bus, speaker, clock=clock, state_interval_s=0.25)
    host = QueueHost([make_track(1, first, duration_ms=2000), make_track(2, second, duration_ms=1000)])
    engine.attach(host)
    engine.play(host.tracks[0], 0)
    # Both tracks are decoded and written (and the core asked what follows each) long before heard.
    wait_until(lambda: speaker.written == 3 * RATE and host.ended == [1, 2], what="both tracks written")
    states = bus.of_type(PlayerState)
    assert [(s.state, s.track_id, s.position_ms) for s in states] == [("playing", 1, 0)]

    def published(track_id: int, position_ms: int) -> Callable[[], bool]:
        return lambda: any(s.track_id == track_id and s.position_ms == position_ms for s in bus.of_type(PlayerState))

    speaker.hear(RATE // 2)  # the clock stands still: heard, but not yet published
    time.sleep(0.05)
    assert len(bus.of_type(PlayerState)) == 1
    clock.advance(0.3)
    wait_until(published(1, 500), what="position 500 ms")
    speaker.hear(RATE // 4)
    clock.advance(0.1)  # inside the 0.25 s interval since the last one: still 500 ms on screen
    time.sleep(0.05)
    assert not any(s.position_ms == 750 for s in bus.of_type(PlayerState))
    clock.advance(0.2)
    wait_until(published(1, 750), what="position 750 ms")
    assert host.heard == []
    speaker.hear(RATE // 4 + 1)  # 1000 ms and a frame: past half of track 1
    clock.advance(0.3)
    wait_until(lambda: host.heard == [1], what="track 1 counted as heard")
    speaker.hear(RATE + RATE // 5)  # 200 ms into track 2: announced at once, no clock needed
    wait_until(published(2, 200), what="track 2 at 200 ms")
    state = next(s for s in bus.of_type(PlayerState) if s.track_id == 2)
    assert (state.state, state.queue_index, state.duration_ms) == ("playing", 1, 1000)
    speaker.hear(RATE)
    wait_for_state(bus, "stopped")
    assert host.heard == [1, 2]
    positions = [s.position_ms for s in bus.of_type(PlayerState) if s.track_id == 1 and s.state == "playing"]
    assert positions == sorted(positions)


def test_pause_resume_and_seek_continue_from_what_was_heard(
    alsa: AlsaTap, media: MediaMaker, bus: RecordingBus, engines: list[AudioEngine]
) -> None:
    path = media.noise("flac", seconds=3.0, seed=10)
    source = ffmpeg_decode(path)
    clock = FakeClock()
    speaker = SpeakerOutput(AlsaOutput("default"))
    engine = start_engine(engines, bus, speaker, clock=clock)
    host = QueueHost([make_track(1, path, duration_ms=3000)])
    engine.attach(host)
    engine.play(host.tracks[0], 0)
    wait_until(lambda: speaker.written == 3 * RATE, what="the track written")
    speaker.hear(RATE)  # one second heard, two more sit in the "buffer"

    engine.pause()
    paused = wait_for_state(bus, "paused")
    assert (paused.track_id, paused.position_ms) == (1, 1000)
    engine.resume()
    wait_until(lambda: len(speaker.runs) == 2 and speaker.written == 2 * RATE, what="the rest written")
    speaker.hear(RATE // 2)  # now at 1.5 s

    engine.seek(2500)
    wait_until(lambda: len(speaker.runs) == 3 and speaker.written == RATE // 2, what="the last half second")
    speaker.hear(RATE // 2)
    wait_for_state(bus, "stopped")
    runs = speaker.runs
    want = np.concatenate([source[: runs[0]], source[RATE : RATE + runs[1]], source[int(2.5 * RATE) :]])
    assert_same_audio(alsa.frames(), want, exact=True)
    assert host.heard == [1]  # heard past half once, counted once despite pause and seek


def test_a_cued_track_starts_at_its_cued_or_sought_position(
    alsa: AlsaTap, media: MediaMaker, bus: RecordingBus, engines: list[AudioEngine]
) -> None:
    path = media.noise("flac", seconds=2.0, seed=11)
    engine = start_engine(engines, bus)
    host = QueueHost([make_track(1, path)])
    engine.attach(host)
    engine.cue(host.tracks[0], 0, 500)
    cued = wait_for_state(bus, "stopped")
    assert (cued.track_id, cued.position_ms) == (1, 500)
    engine.seek(1234)
    wait_until(lambda: bus.of_type(PlayerState)[-1].position_ms == 1234, what="the sought position")
    before = len(bus.of_type(PlayerState))
    engine.resume()
    wait_for_state(bus, "stopped", after=before + 1)
    assert_same_audio(alsa.frames(), ffmpeg_decode(path)[1234 * RATE // 1000 :], exact=True)


def test_a_device_that_only_takes_48khz_gets_resampled_audio(
    alsa: AlsaTap, media: MediaMaker, bus: RecordingBus, engines: list[AudioEngine]
) -> None:
    """Asked for 44.1 kHz, the "device" answers 48 kHz (the opener passes rate=48000 to the real
    ALSA device, as ``set_rate_near`` does on a card that has only that rate); the engine reads the
    rate back and PyAV's resampler converts."""
    asked: list[int] = []

    def only_48k(**kwargs: Any) -> Any:
        asked.append(kwargs["rate"])
        return alsaaudio.PCM(**{**kwargs, "rate": 48000})

    path = media.noise("flac", seconds=1.0, seed=12)
    engine = start_engine(engines, bus, AlsaOutput("rawtap", open_pcm=only_48k))
    play_all(engine, bus, [make_track(1, path)])
    assert asked == [44100]
    got, want = alsa.frames(), ffmpeg_decode(path, rate=48000)
    assert abs(len(got) - 48000) <= 1
    n = min(len(got), len(want))
    assert np.abs(got[:n].astype(int) - want[:n].astype(int)).max() <= 2


def test_build_player_plays_with_the_configured_device(
    tmp_path: Path, alsa: AlsaTap, media: MediaMaker, bus: RecordingBus
) -> None:
    config_file = tmp_path / "config.toml"
    config_file.write_text('[audio]\ndevice = "fixed48"\nperiod_ms = 10\nbuffer_ms = 100\nmixer_control = "Master"\n')
    config = load_config(tmp_path, config_file)
    player = build_player(config, bus)
    try:
        path = media.noise("wav", seconds=0.5, seed=13)
        assert isinstance(player, AudioEngine)
        play_all(player, bus, [make_track(1, path)])
        output = player.output
        assert isinstance(output, AlsaOutput)
        assert (output.device, output.period_frames, output.buffer_frames) == ("fixed48", 441, 4410)
    finally:
        player.close()
    # the plug converts 44.1 kHz to the slave's 48 kHz; no mixer here, so software volume is used
    assert abs(len(alsa.frames()) - 24000) <= 2


def test_build_player_without_a_sound_device_is_a_clear_error(tmp_path: Path, alsa: AlsaTap, bus: RecordingBus) -> None:
    config_file = tmp_path / "config.toml"
    config_file.write_text('[audio]\ndevice = "nosuchcard"\n')
    with pytest.raises(DeviceError, match="cannot open the sound device 'nosuchcard'"):
        build_player(load_config(tmp_path, config_file), bus)


def test_close_ends_the_thread(alsa: AlsaTap, media: MediaMaker, bus: RecordingBus) -> None:
    engine = AudioEngine(bus, AlsaOutput("default"), SoftwareMixer())
    engine.play(make_track(1, media.noise("flac", seconds=0.5)), 0)
    engine.close()
    assert not engine._thread.is_alive()
    engine.stop()  # a command after close is ignored, not an error


def test_a_track_at_another_rate_or_in_mono_joins_without_reopening_the_device(
    alsa: AlsaTap, media: MediaMaker, bus: RecordingBus, engines: list[AudioEngine]
) -> None:
    """A 44.1 kHz FLAC, then a 48 kHz Opus, then a mono WAV: the device stays open at 44.1 kHz (no
    gap), the Opus is resampled to it, and the mono track comes out on both channels."""
    import subprocess

    flac, opus = media.noise("flac", seconds=1.0, seed=51), media.noise("opus", seconds=1.0, seed=52)
    mono = alsa.folder / "mono.wav"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(media.noise("wav", seconds=0.5, seed=53)),
                    "-ac", "1", str(mono)], check=True)
    script = PcmScript()
    engine = start_engine(engines, bus, AlsaOutput("default", open_pcm=script.open_pcm))
    tracks = [make_track(1, flac), make_track(2, opus, sample_rate=48000), make_track(3, mono)]
    play_all(engine, bus, tracks)
    assert script.opens == ["ok"]
    got = alsa.frames()
    want_flac, want_opus = ffmpeg_decode(flac), ffmpeg_decode(opus)
    assert_same_audio(got[: len(want_flac)], want_flac, exact=True)
    opus_part = got[len(want_flac) : len(want_flac) + len(want_opus)]
    assert np.abs(opus_part.astype(int) - want_opus.astype(int)).max() <= 2
    mono_part = got[len(want_flac) + len(want_opus) :]
    mono_source = ffmpeg_decode(mono, channels=1)[:, 0]
    assert len(mono_part) == len(mono_source)
    # Both sides carry the mono channel at full level.
    assert np.array_equal(mono_part[:, 0], mono_source) and np.array_equal(mono_part[:, 1], mono_source)


def test_next_while_playing_drops_the_buffer_and_starts_the_new_track(
    alsa: AlsaTap, media: MediaMaker, bus: RecordingBus, engines: list[AudioEngine]
) -> None:
    first, second = media.noise("flac", seconds=2.0, seed=54), media.noise("wav", seconds=1.0, seed=55)
    speaker = SpeakerOutput(AlsaOutput("default"))
    engine = start_engine(engines, bus, speaker, clock=FakeClock())
    host = QueueHost([make_track(1, first), make_track(2, second)])
    engine.attach(host)
    engine.play(host.tracks[0], 0)
    wait_until(lambda: speaker.written == 3 * RATE, what="both written ahead")
    speaker.hear(RATE // 2)
    engine.play(host.tracks[1], 1)  # "next": the core moved its queue and says what plays now
    wait_until(lambda: len(speaker.runs) == 2 and speaker.written == RATE, what="the new track written")
    state = wait_for_state(bus, "playing", after=1)
    assert (state.track_id, state.queue_index, state.position_ms) == (2, 1, 0)
    speaker.hear(RATE)
    wait_for_state(bus, "stopped")
    # Both tracks had been written ahead (3 s); what the speaker had not heard was dropped, and the
    # second track then started again from its first sample.
    assert speaker.runs[:2] == [3 * RATE, RATE]
    both = np.concatenate([ffmpeg_decode(first), ffmpeg_decode(second)])
    assert_same_audio(alsa.frames(), np.concatenate([both, ffmpeg_decode(second)]), exact=True)
    assert host.heard == [2]  # the first was left at 0.5 s of 2 s: not counted


def test_a_failing_core_does_not_end_the_player_thread(
    alsa: AlsaTap, media: MediaMaker, bus: RecordingBus, engines: list[AudioEngine]
) -> None:
    class BrokenHost:
        def track_ended(self, track_id: int) -> tuple[Track, int] | None:
            raise RuntimeError("the database is locked")

        def track_heard(self, track_id: int) -> None:
            raise RuntimeError("the database is locked")

    path = media.noise("wav", seconds=0.5, seed=56)
    engine = start_engine(engines, bus)
    engine.attach(BrokenHost())
    engine.play(make_track(1, path), 0)
    wait_for_state(bus, "stopped", after=1)
    assert engine._thread.is_alive()
    assert_same_audio(alsa.frames(), ffmpeg_decode(path), exact=True)


def test_quick_presses_of_next_open_only_the_last_track(
    alsa: AlsaTap, media: MediaMaker, bus: RecordingBus, engines: list[AudioEngine]
) -> None:
    """While the player thread is busy opening a file, four more "next" commands arrive; only the
    last of them is opened (the real decoder, counted and held up on the first open)."""
    from kiosk.audio.decoder import open_decoder

    opened: list[str] = []
    busy = threading.Event()
    release = threading.Event()

    def counting_decoder(path: str, output: PcmFormat, start_ms: int = 0) -> Any:
        opened.append(Path(path).name)
        if len(opened) == 1:
            busy.set()
            release.wait(10)
        return open_decoder(path, output, start_ms)

    paths = [media.noise("wav", seconds=0.3, seed=60 + i) for i in range(5)]
    tracks = [make_track(i + 1, p) for i, p in enumerate(paths)]
    engine = start_engine(engines, bus, decoder_factory=counting_decoder)
    engine.attach(QueueHost([]))
    engine.play(tracks[0], 0)
    assert busy.wait(10)
    for index, track in enumerate(tracks[1:], start=1):
        engine.play(track, index)
    release.set()
    wait_until(lambda: any(s.track_id == 5 and s.state == "stopped" for s in bus.of_type(PlayerState)), what="the end")
    assert opened == [paths[0].name, paths[4].name]
    assert_same_audio(alsa.frames()[-len(ffmpeg_decode(paths[4])) :], ffmpeg_decode(paths[4]), exact=True)


def _empty_config(folder: Path) -> Path:
    path = folder / "empty.toml"
    path.write_text("")
    return path


def test_a_player_built_without_its_device_finds_it_when_it_is_plugged_in(
    tmp_path: Path, alsa: AlsaTap, media: MediaMaker, bus: RecordingBus
) -> None:
    """Started before the DAC is there (``check_device=False``): a play reports device-missing,
    retries with backoff, and plays once the device exists (real ALSA opens throughout)."""
    alsa.write(None, default_exists=False)
    config = load_config(tmp_path, _empty_config(tmp_path))  # defaults: device "default"
    player = build_player(config, bus, check_device=False)
    try:
        path = media.noise("wav", seconds=0.5, seed=70)
        player.attach(QueueHost([make_track(1, path)]))
        player.play(make_track(1, path), 0)
        wait_until(lambda: bool(bus.of_type(PlayerError)), what="an error event")
        assert [e.code for e in bus.of_type(PlayerError)] == ["device-missing"]
        alsa.write(alsa.folder / "plugged.raw")
        wait_for_state(bus, "stopped", after=1)
    finally:
        player.close()
    assert_same_audio(alsa.frames(), ffmpeg_decode(path), exact=True)


class FullBufferPcm:
    """The real ``alsaaudio.PCM``, except that ``avail`` says the buffer is full (as a sound card's is
    while it plays) from the ``full_from``-th write until ``full_until`` frames went out; every
    write's size is recorded."""

    def __init__(self, writes: list[int], full_from: int, full_until: int, **kwargs: Any) -> None:
        self.real = alsaaudio.PCM(**kwargs)
        self.writes, self.full_from, self.full_until = writes, full_from, full_until

    def avail(self) -> int:
        if len(self.writes) >= self.full_from and sum(self.writes) < self.full_until:
            return 0
        return int(self.real.avail())

    def write(self, data: Any) -> int:
        self.writes.append(len(data) // 4)
        return int(self.real.write(data))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


@pytest.mark.parametrize("fmt", ["mp3", "flac"])
def test_a_full_buffer_gets_one_period_per_write_and_an_empty_one_gets_whole_chunks(
    fmt: str, alsa: AlsaTap, media: MediaMaker, bus: RecordingBus, engines: list[AudioEngine]
) -> None:
    """How long a command waits for the player thread is how long one write blocks. While the
    device has room, whole decoded chunks go out at once (nothing blocks); while it reports a full
    buffer, each write is one period (20 ms), which ALSA takes as soon as a period has played."""
    writes: list[int] = []
    path = media.noise(fmt, seconds=2.0, seed=80)
    output = AlsaOutput("default", open_pcm=lambda **kw: FullBufferPcm(writes, 2, RATE, **kw))
    engine = start_engine(engines, bus, output, period_ms=20)
    play_all(engine, bus, [make_track(1, path)])
    period = RATE * 20 // 1000
    full = [i for i in range(len(writes)) if i >= 2 and sum(writes[:i]) < RATE]
    assert all(size > period for size in writes[:2])  # room in the buffer: a chunk in one write
    assert len(full) >= (RATE - sum(writes[:2])) // period and all(writes[i] <= period for i in full)
    assert sum(writes[i] == period for i in full) >= len(full) * 2 // 3  # mostly whole periods (chunk ends)
    after = writes[full[-1] + 1 :]
    assert max(after) > period  # room again: whole chunks
    assert_same_audio(alsa.frames(), ffmpeg_decode(path), exact=True)


LOSSLESS_24 = ["flac", "wav", "alac", "aiff"]


@pytest.mark.parametrize("fmt", LOSSLESS_24)
def test_a_24_bit_source_plays_bit_exact_in_32_bit_samples(
    fmt: str, alsa: AlsaTap, media: MediaMaker, bus: RecordingBus, engines: list[AudioEngine]
) -> None:
    """A 24-bit file opens the device with 32-bit samples (the plug in front of the file plugin takes
    S32_LE): the capture is the ffmpeg command's 32-bit decode bit for bit, and the bits below the
    top 16 are really there (a 16-bit output cuts them off)."""
    path = media.noise(fmt, seconds=1.0, seed=90, bits=24)
    output = AlsaOutput("default")
    engine = start_engine(engines, bus, output)
    play_all(engine, bus, [make_track(1, path)])
    assert output.format == PcmFormat(RATE, 2, "s32")
    got = alsa.frames(dtype="<i4")
    assert_same_audio(got, ffmpeg_decode(path, bits=32), exact=True)
    assert np.count_nonzero(got & 0xFF00) > got.size // 2  # detail below the 16-bit cut
    assert not np.any(got & 0xFF)  # 24 bits, left-justified: nothing was invented below them


def test_a_device_without_32_bit_samples_plays_a_24_bit_source_at_16_bits(
    alsa: AlsaTap, media: MediaMaker, bus: RecordingBus, engines: list[AudioEngine]
) -> None:
    """Asked for S32_LE, the "device" answers S16_LE (the opener passes S16_LE to the real ALSA
    device, as ``set_format`` failing leaves it on a 16-bit card); the engine reads the format back
    and the samples are cut to 16 bits exactly as the ffmpeg command cuts them."""
    asked: list[int] = []

    def only_16_bit(**kwargs: Any) -> Any:
        asked.append(kwargs["format"])
        return alsaaudio.PCM(**{**kwargs, "format": alsaaudio.PCM_FORMAT_S16_LE})

    path = media.noise("flac", seconds=1.0, seed=91, bits=24)
    output = AlsaOutput("rawtap", open_pcm=only_16_bit)
    engine = start_engine(engines, bus, output)
    play_all(engine, bus, [make_track(1, path)])
    assert asked == [alsaaudio.PCM_FORMAT_S32_LE]
    assert output.format == PcmFormat(RATE, 2, "s16")
    assert_same_audio(alsa.frames(), ffmpeg_decode(path), exact=True)


def test_a_16_bit_track_after_a_24_bit_one_joins_without_a_gap_in_32_bit_samples(
    alsa: AlsaTap, media: MediaMaker, bus: RecordingBus, engines: list[AudioEngine]
) -> None:
    """24-bit FLAC, then 16-bit FLAC and MP3: the device stays open at 32 bits (16-bit audio plays
    exactly there, the MP3's float decode keeps more than 16 bits), so the joins have no gap and
    every sample of each is in the capture."""
    paths = [media.noise("flac", seconds=1.0, seed=92, bits=24), media.noise("flac", seconds=0.5, seed=93),
             media.noise("mp3", seconds=0.5, seed=94)]
    script = PcmScript()
    engine = start_engine(engines, bus, AlsaOutput("default", open_pcm=script.open_pcm))
    play_all(engine, bus, [make_track(i + 1, p) for i, p in enumerate(paths)])
    assert script.opens == ["ok"]
    got = alsa.frames(dtype="<i4")
    want = [ffmpeg_decode(p, bits=32) for p in paths]
    assert len(got) == sum(len(w) for w in want)
    assert_same_audio(got[: len(want[0])], want[0], exact=True)
    assert_same_audio(got[len(want[0]) : len(want[0]) + len(want[1])], want[1], exact=True)
    # The MP3's float decode is converted straight to 32 bits, as the ffmpeg command converts it.
    assert_same_audio(got[len(want[0]) + len(want[1]) :], want[2], exact=True)


class QueuedPcm:
    """The real ``alsaaudio.PCM`` (file plugin: it takes audio at once) whose ``avail`` reports a
    buffer still holding ``queued`` frames, as a sound card's does while it plays them; a negative
    ``queued`` makes it answer ``-EPIPE``, as ALSA does after an underrun."""

    def __init__(self, **kwargs: Any) -> None:
        self.real = alsaaudio.PCM(**kwargs)
        self.buffer = int(self.real.info()["buffer_size"])
        self.queued = 0
        self.written = 0

    def avail(self) -> int:
        return -errno.EPIPE if self.queued < 0 else self.buffer - self.queued

    def write(self, data: Any) -> int:
        written = int(self.real.write(data))
        self.written += max(0, written)
        return written

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_the_position_is_what_was_written_less_what_the_device_says_it_still_holds(
    alsa: AlsaTap, media: MediaMaker, bus: RecordingBus, engines: list[AudioEngine]
) -> None:
    """The real ALSA output asks the device (``avail``: free space, so buffer minus free is what is
    queued and not yet heard; pyalsaaudio 0.11 has no ``delay``). With 100 ms still queued after the
    whole 2 s track went out, the screen says 1.9 s, not 2 s; the track ends only when the device
    has played it out. An ``-EPIPE`` answer (underrun: the buffer ran dry) means everything was heard."""
    pcms: list[QueuedPcm] = []

    def open_pcm(**kwargs: Any) -> QueuedPcm:
        pcms.append(QueuedPcm(**kwargs))
        pcms[-1].queued = RATE // 10
        return pcms[-1]

    path = media.noise("flac", seconds=2.0, seed=95)
    clock = FakeClock()
    engine = start_engine(engines, bus, AlsaOutput("default", open_pcm=open_pcm), clock=clock)
    engine.attach(QueueHost([make_track(1, path, duration_ms=2000)]))
    engine.play(make_track(1, path, duration_ms=2000), 0)
    wait_until(lambda: bool(pcms) and pcms[-1].written == 2 * RATE, what="the track written")

    def published(position_ms: int) -> Callable[[], bool]:
        return lambda: any(s.position_ms == position_ms for s in bus.of_type(PlayerState))

    clock.advance(0.3)
    wait_until(published(1900), what="position 1900 ms")
    assert not any(s.position_ms > 1900 for s in bus.of_type(PlayerState))
    assert bus.of_type(PlayerState)[-1].state == "playing"  # still queued: not at the end yet
    pcms[-1].queued = RATE // 20
    clock.advance(0.3)
    wait_until(published(1950), what="position 1950 ms")
    pcms[-1].queued = -1  # an underrun: the device played everything out
    wait_for_state(bus, "stopped")
    assert_same_audio(alsa.frames(), ffmpeg_decode(path), exact=True)


def test_the_file_is_probed_for_its_bit_depth_only_when_the_library_does_not_say_it_is_lossy(
    alsa: AlsaTap, media: MediaMaker, bus: RecordingBus, engines: list[AudioEngine]
) -> None:
    """Opening a file to learn its bit depth costs time on every "next"; a track the library knows
    as AAC (or MP3, Vorbis, Opus, WMA) is never probed, and plays at 16 bits."""
    from kiosk.audio.decoder import has_wide_samples

    probed: list[str] = []

    def counting_probe(path: str) -> bool:
        probed.append(Path(path).name)
        return has_wide_samples(path)

    aac, flac = media.noise("m4a", seconds=0.5, seed=96), media.noise("flac", seconds=0.5, seed=97, bits=24)
    output = AlsaOutput("default")
    engine = start_engine(engines, bus, output, wide_samples=counting_probe)
    play_all(engine, bus, [make_track(1, aac, codec="aac")])
    assert probed == [] and output.format == PcmFormat(RATE, 2, "s16")
    play_all(engine, bus, [make_track(2, flac, codec="flac")])
    assert probed == [flac.name] and output.format == PcmFormat(RATE, 2, "s32")
