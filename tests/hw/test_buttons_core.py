"""The shipped button map on mock pins, driving the real Jukebox on a real SQLite library.

Pins are driven from their own thread (as lgpio delivers edges on a Pi); every effect is observed
through the core: its queue snapshot, its player state and the events on the bus. The player is a
plain fake of the Player port that announces its state as the real engine does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Literal

import pytest
from gpiozero.pins.mock import MockFactory

from kiosk.config import embedded_defaults
from kiosk.core.actions import ACTIONS, KEY_MAP, action_for_key, perform
from kiosk.core.bus import EventBus, RecordingBus
from kiosk.core.events import FavoritesUpdated, ImportState, LibraryScanComplete, PlayerState, QueueStateChanged
from kiosk.core.jukebox import Jukebox
from kiosk.core.models import Track, TrackInfo
from kiosk.core.ports.playback import PlaybackHost
from kiosk.hw.buttons import Controls, Press, build_controls
from kiosk.library.store import SqlLibraryStore
from tests.hw.test_buttons_gpio import detent, in_thread, join, wait_for


class EchoPlayer:
    """The Player port without sound: it does what it is told and announces it on the bus."""

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self.state: Literal["playing", "paused", "stopped"] = "stopped"
        self.track_id: int | None = None
        self.index: int | None = None
        self.volume = 0
        self.muted = False

    def _announce(self) -> None:
        self.bus.publish(
            PlayerState(self.state, self.track_id, 0, 180_000, self.index, self.volume, self.muted)
        )

    def attach(self, host: PlaybackHost) -> None:
        pass

    def play(self, track: Track, queue_index: int | None, start_ms: int = 0) -> None:
        self.state, self.track_id, self.index = "playing", track.id, queue_index
        self._announce()

    def cue(self, track: Track | None, queue_index: int | None, start_ms: int = 0) -> None:
        self.state = "paused" if track else "stopped"
        self.track_id, self.index = (track.id if track else None), queue_index
        self._announce()

    def pause(self) -> None:
        self.state = "paused"
        self._announce()

    def resume(self) -> None:
        self.state = "playing"
        self._announce()

    def stop(self) -> None:
        self.state = "stopped"
        self._announce()

    def seek(self, position_ms: int) -> None:
        pass

    def set_volume(self, percent: int) -> None:
        self.volume = percent
        self._announce()

    def set_muted(self, muted: bool) -> None:
        self.muted = muted
        self._announce()

    def set_replaygain(self, mode: str, preamp_db: float, prevent_clipping: bool) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.fixture
def store(tmp_path: Path, bus: RecordingBus) -> Iterator[SqlLibraryStore]:
    s = SqlLibraryStore.open(tmp_path / "library.db", bus)
    yield s
    s.close()


@pytest.fixture
def tracks(store: SqlLibraryStore) -> list[int]:
    return store.add_tracks(
        [
            TrackInfo(path=f"/music/{i:02d}.flac", title=f"Song {i}", artist="Band", album="Album",
                      duration_ms=180_000, file_size=1000 + i, mtime_ns=i, content_hash=f"h{i}")
            for i in range(6)
        ]
    )


@pytest.fixture
def jukebox(store: SqlLibraryStore, bus: RecordingBus, tracks: list[int]) -> Iterator[Jukebox]:
    jb = Jukebox(store, bus, EchoPlayer(bus))
    jb.replace_and_play(tracks, 0).result(timeout=10)
    wait_for(lambda: (s := jb.player_state()) is not None and s.state == "playing", what="playing")
    yield jb
    jb.close()


@pytest.fixture
def ejections(jukebox: Jukebox) -> list[float]:
    calls: list[float] = []
    jukebox.set_ejector(lambda: calls.append(time.monotonic()))
    return calls


@pytest.fixture
def presses() -> list[Press]:
    """Every press the ``controls`` fixture reported, in order."""
    return []


@pytest.fixture
def controls(factory: MockFactory, jukebox: Jukebox, bus: RecordingBus, presses: list[Press]) -> Iterator[Controls]:
    """The shipped default map ([buttons], [encoder], [leds] of the embedded config)."""
    c = build_controls(embedded_defaults(), jukebox, bus, pin_factory=factory)
    c.add_listener(presses.append)
    c.start()
    yield c
    c.close()


def press(factory: MockFactory, pin: int, until: Callable[[], bool] | None = None) -> None:
    """Presses ``pin`` from another thread: a 50 ms tap, or held until ``until()`` holds (a long press)."""
    mock = factory.pin(pin)

    def run() -> None:
        mock.drive_low()
        if until is None:
            time.sleep(0.05)
        else:
            wait_for(until, what=f"the hold on pin {pin}")
        mock.drive_high()
        time.sleep(0.05)  # the release settles (20 ms) before the next press

    join(in_thread(run))


def settled() -> None:
    """Anything extra (a double action) would show up in this window."""
    time.sleep(0.15)


def volume_step(jukebox: Jukebox) -> int:
    """The volume step setting (validated as an int when stored)."""
    step = jukebox.settings()["volume.step"]
    assert isinstance(step, int)
    return step


def test_next_and_previous_buttons_move_the_current_track_once_per_press(
    factory: MockFactory, controls: Controls, jukebox: Jukebox, bus: RecordingBus
) -> None:
    def at_track(index: int) -> Callable[[], bool]:
        return lambda: jukebox.queue_snapshot().current_index == index

    changes = len(bus.of_type(QueueStateChanged))
    for expected in (1, 2, 3):
        press(factory, 27)  # Next
        wait_for(at_track(expected), what=f"track {expected}")
    press(factory, 17)  # Previous
    wait_for(lambda: jukebox.queue_snapshot().current_index == 2, what="back one")
    settled()
    assert jukebox.queue_snapshot().current_index == 2
    assert [e.current_index for e in bus.of_type(QueueStateChanged)[changes:]] == [1, 2, 3, 2]
    state = jukebox.player_state()
    assert state is not None and state.queue_index == 2 and state.state == "playing"


def test_the_knob_push_pauses_and_plays_and_a_long_push_stops(
    factory: MockFactory, controls: Controls, jukebox: Jukebox, bus: RecordingBus, presses: list[Press]
) -> None:
    def state() -> str | None:
        s = jukebox.player_state()
        return None if s is None else s.state

    press(factory, 13)
    wait_for(lambda: state() == "paused", what="paused")
    press(factory, 13)
    wait_for(lambda: state() == "playing", what="playing again")
    press(factory, 13, until=lambda: state() == "stopped")  # held: the long action, while still held
    settled()
    assert state() == "stopped"
    assert [p.action for p in presses] == ["play_pause", "play_pause", "stop"]
    states = [e.state for e in bus.of_type(PlayerState)]
    assert states[states.index("playing") :][-4:] == ["playing", "paused", "playing", "stopped"]


def test_turning_the_knob_steps_the_volume_once_per_detent_both_ways(
    factory: MockFactory, controls: Controls, jukebox: Jukebox, presses: list[Press]
) -> None:
    start, step = jukebox.volume, volume_step(jukebox)

    def turn() -> None:
        for _ in range(4):
            detent(factory, clockwise=True)
        for _ in range(7):
            detent(factory, clockwise=False)

    join(in_thread(turn))
    expected = max(0, start + 4 * step - 7 * step)
    wait_for(lambda: jukebox.volume == expected, what=f"volume {expected}")
    wait_for(lambda: (s := jukebox.player_state()) is not None and s.volume == expected, what="the player's volume")
    settled()
    assert jukebox.volume == expected
    assert [p.kind for p in presses] == ["clockwise"] * 4 + ["counterclockwise"] * 7


def test_the_favorite_button_hearts_the_current_track_and_a_long_press_mutes(
    factory: MockFactory, controls: Controls, jukebox: Jukebox, store: SqlLibraryStore, bus: RecordingBus,
    tracks: list[int],
) -> None:
    press(factory, 23)
    wait_for(lambda: bool(bus.of_type(FavoritesUpdated)), what="the heart")
    press(factory, 23, until=lambda: (s := jukebox.player_state()) is not None and s.muted)
    settled()
    assert bus.of_type(FavoritesUpdated) == [FavoritesUpdated("added", tracks[0])]
    assert store.is_favorite(tracks[0])
    state = jukebox.player_state()
    assert state is not None and state.muted


def test_the_mode_button_shuffles_and_a_long_press_cycles_repeat(
    factory: MockFactory, controls: Controls, jukebox: Jukebox, presses: list[Press]
) -> None:
    press(factory, 24)
    wait_for(lambda: jukebox.queue_snapshot().shuffle, what="shuffle on")
    press(factory, 24, until=lambda: jukebox.queue_snapshot().repeat != "off")
    settled()
    snapshot = jukebox.queue_snapshot()
    assert snapshot.shuffle is True and snapshot.repeat == "all"
    assert [(p.kind, p.action) for p in presses] == [("short", "shuffle"), ("long", "repeat")]


def test_the_eject_button_asks_the_usb_service_once(
    factory: MockFactory, controls: Controls, ejections: list[float]
) -> None:
    press(factory, 25)
    wait_for(lambda: len(ejections) == 1, what="the eject")
    settled()
    assert len(ejections) == 1


def test_every_desktop_key_reaches_the_same_core_commands(
    jukebox: Jukebox, store: SqlLibraryStore, ejections: list[float], tracks: list[int]
) -> None:
    assert set(KEY_MAP.values()) == set(ACTIONS)  # every action can be tried on a laptop
    assert action_for_key("M") == "mute" and action_for_key("f13") is None
    volume, step = jukebox.volume, volume_step(jukebox)
    for key in ("right", "right", "left", "s", "r", "r", "up", "up", "down", "m", "f", "e", "spacebar", "x"):
        action = action_for_key(key)
        assert action is not None
        perform(jukebox, action, source=f"key {key}").result(timeout=10)
        if key == "spacebar":
            state = jukebox.player_state()
            assert state is not None and state.state == "paused"
    snapshot, state = jukebox.queue_snapshot(), jukebox.player_state()
    assert snapshot.current_track_id == tracks[1]  # two on, one back; shuffle keeps the current track
    assert snapshot.shuffle is True and snapshot.repeat == "one"
    assert jukebox.volume == volume + step
    assert state is not None and state.muted and state.state == "stopped"
    assert store.is_favorite(tracks[1]) and not store.is_favorite(tracks[0])
    assert len(ejections) == 1


def test_a_refused_command_is_logged_not_raised(jukebox: Jukebox, caplog: pytest.LogCaptureFixture) -> None:
    """A button pressed while the jukebox shuts down: the refusal goes to the log, not to gpiozero's thread."""
    jukebox.close()
    future: Future[Any] = perform(jukebox, "next", source="button 'Next'")
    with pytest.raises(Exception, match="shutting down"):
        future.result(timeout=10)
    assert any("button 'Next': next failed: the jukebox is shutting down" in r.getMessage() for r in caplog.records)


# --- a press while a stick is being imported -------------------------------------------------------


def test_presses_during_a_real_import_reach_the_core_while_the_import_is_mid_copy(
    tmp_path: Path, media_cache: Path, factory: MockFactory, controls: Controls, jukebox: Jukebox,
    store: SqlLibraryStore, bus: RecordingBus, tracks: list[int], presses: list[Press],
) -> None:
    from kiosk.library.importer import StickImporter
    from kiosk.library.tags import ProcessTagReader
    from tests.media import ffmpeg_available, make_tone

    if not ffmpeg_available():
        pytest.skip("ffmpeg is needed to make the stick's music")
    stick = tmp_path / "stick"
    stick.mkdir()
    for i in range(12):
        make_tone(stick / f"{i:02d}.flac", "flac", seconds=0.5, freq=220 + 20 * i,
                  tags={"title": f"Imported {i}", "artist": "Stick", "album": "Copied", "track": str(i + 1)},
                  cache_dir=media_cache)

    # The importer publishes on its own thread; this subscriber holds it mid-copy (after the first
    # batch is committed) until the presses are through, so they certainly land during the import.
    mid_copy, let_go = threading.Event(), threading.Event()

    def hold_mid_copy(event: ImportState) -> None:
        if event.state == "copying" and event.files_done >= 6 and not mid_copy.is_set():
            mid_copy.set()
            let_go.wait(timeout=60)

    bus.subscribe(ImportState, hold_mid_copy)
    reader = ProcessTagReader(tmp_path / "covers", workers=1)
    results: list[LibraryScanComplete] = []
    importer = StickImporter(store, bus, reader, tmp_path / "music", batch_size=4, progress_interval=0)
    thread = threading.Thread(target=lambda: results.append(importer.import_from(stick)), name="importer")
    thread.start()
    try:
        assert mid_copy.wait(timeout=60), "the import never reached its copy phase"
        assert controls.leds is not None
        wait_for(lambda: controls.leds is not None and controls.leds.wanted("importing") == "blink")
        # A first batch settles (sync, rename, rows) on the importer's helper thread while later files copy;
        # the rest cannot settle while the importer is held here.
        wait_for(lambda: store.count_tracks() > len(tracks), what="a first batch committed")
        assert store.count_tracks() <= len(tracks) + 6

        press(factory, 27)  # Next
        wait_for(lambda: jukebox.queue_snapshot().current_index == 1, what="next during the import")
        press(factory, 24)  # Mode: shuffle
        wait_for(lambda: jukebox.queue_snapshot().shuffle, what="shuffle during the import")
        quieter = jukebox.volume - volume_step(jukebox)
        join(in_thread(lambda: detent(factory, clockwise=False)))
        wait_for(lambda: (s := jukebox.player_state()) is not None and s.volume == quieter, what="volume, importing")
        assert thread.is_alive() and not results  # all answered while the import was still running
    finally:
        let_go.set()
        thread.join(timeout=60)
        reader.close()
    assert results and results[0].status == "completed" and results[0].added == 12
    assert store.count_tracks() == len(tracks) + 12
    wait_for(lambda: controls.leds is not None and controls.leds.wanted("importing") == "off", what="LED off")
    settled()
    assert [p.action for p in presses] == ["next", "shuffle", "volume_down"]
