"""The core's command API on a real SQLite library: one owner for the queue, persisted, announced.

The player here is a plain recording fake of the ``Player`` port (the real engine has its own
tests); everything else is real: the store, the database file, the bus, the core thread.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, wait
from pathlib import Path
from typing import Any

import pytest

from kiosk.core.bus import RecordingBus
from kiosk.core.errors import InvalidRequestError, NotFoundError, SettingError
from kiosk.core.events import PlayerState, QueueStateChanged, QueueUpdated
from kiosk.core.jukebox import Jukebox
from kiosk.core.models import QueueSnapshot, Track, TrackInfo
from kiosk.core.ports.playback import PlaybackHost
from kiosk.core.queue import PlayQueue
from kiosk.library.store import SqlLibraryStore


class RecordingPlayer:
    """Implements the Player port by writing down what the core asked for."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.host: PlaybackHost | None = None

    def attach(self, host: PlaybackHost) -> None:
        self.host = host

    def play(self, track: Track, queue_index: int | None, start_ms: int = 0) -> None:
        self.calls.append(("play", track.id, queue_index, start_ms))

    def cue(self, track: Track | None, queue_index: int | None, start_ms: int = 0) -> None:
        self.calls.append(("cue", track.id if track else None, queue_index, start_ms))

    def pause(self) -> None:
        self.calls.append(("pause",))

    def resume(self) -> None:
        self.calls.append(("resume",))

    def stop(self) -> None:
        self.calls.append(("stop",))

    def seek(self, position_ms: int) -> None:
        self.calls.append(("seek", position_ms))

    def set_volume(self, percent: int) -> None:
        self.calls.append(("volume", percent))

    def set_muted(self, muted: bool) -> None:
        self.calls.append(("muted", muted))

    def set_replaygain(self, mode: str, preamp_db: float, prevent_clipping: bool) -> None:
        self.calls.append(("replaygain", mode, preamp_db, prevent_clipping))

    def close(self) -> None:
        self.calls.append(("close",))


def make_tracks(store: SqlLibraryStore, count: int) -> list[int]:
    infos = [
        TrackInfo(
            path=f"/music/{i:03d}.flac",
            title=f"Song {i}",
            artist=f"Artist {i % 3}",
            album="Album",
            duration_ms=180_000,
            file_size=1000 + i,
            mtime_ns=i,
            content_hash=f"h{i}",
        )
        for i in range(count)
    ]
    return store.add_tracks(infos)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "library.db"


@pytest.fixture
def store(db: Path, bus: RecordingBus) -> Iterator[SqlLibraryStore]:
    s = SqlLibraryStore.open(db, bus)
    yield s
    s.close()


@pytest.fixture
def tracks(store: SqlLibraryStore) -> list[int]:
    return make_tracks(store, 10)


@pytest.fixture
def player() -> RecordingPlayer:
    return RecordingPlayer()


@pytest.fixture
def jukebox(store: SqlLibraryStore, bus: RecordingBus, player: RecordingPlayer, tracks: list[int]) -> Iterator[Jukebox]:
    jb = Jukebox(store, bus, player)
    yield jb
    jb.close()


def done(future: Future[Any]) -> Any:
    return future.result(timeout=10)


def playing(bus: RecordingBus, track_id: int, position_ms: int = 0, index: int | None = 0) -> None:
    bus.publish(
        PlayerState(
            state="playing",
            track_id=track_id,
            position_ms=position_ms,
            duration_ms=180_000,
            queue_index=index,
            volume=40,
        )
    )


def test_a_restart_resumes_the_same_queue_at_the_same_track_and_position(
    db: Path, store: SqlLibraryStore, bus: RecordingBus, tracks: list[int]
) -> None:
    first = Jukebox(store, bus, RecordingPlayer())
    done(first.append(tracks[:5]))
    done(first.jump_to(3))
    done(first.set_repeat("all"))
    bus.publish(
        PlayerState(
            state="paused", track_id=tracks[3], position_ms=61_000, duration_ms=180_000, queue_index=3, volume=40
        )
    )
    first.close()
    store.close()

    reopened = SqlLibraryStore.open(db, RecordingBus())
    player = RecordingPlayer()
    second = Jukebox(reopened, RecordingBus(), player)
    try:
        snap = second.queue_snapshot()
        assert snap.track_ids == tuple(tracks[:5])
        assert snap.current_index == 3 and snap.repeat == "all"
        done(second.stop())  # the core thread has run its start-up by now
        assert ("cue", tracks[3], 3, 61_000) in player.calls
    finally:
        second.close()
        reopened.close()


def test_commands_return_at_once_and_never_run_on_the_callers_thread(
    db: Path, bus: RecordingBus, tracks: list[int], store: SqlLibraryStore
) -> None:
    gate = threading.Event()
    caller = threading.get_ident()
    ran_on: list[int] = []

    class GatedStore(SqlLibraryStore):
        """The real store, whose queue writes wait for a gate: like a slow SD card."""

        def save_queue(self, snapshot: QueueSnapshot) -> None:
            ran_on.append(threading.get_ident())
            gate.wait(10)
            super().save_queue(snapshot)

    store.close()
    slow = GatedStore.open(db, bus)
    jb = Jukebox(slow, bus)
    try:
        first = jb.append(tracks[:2])
        second = jb.append(tracks[2:3])  # returns although the first is stuck on "disk"
        assert not first.done() and not second.done()
        gate.set()
        done(second)
        assert jb.queue_snapshot().track_ids == tuple(tracks[:3])
        assert ran_on and caller not in ran_on
    finally:
        gate.set()
        jb.close()
        slow.close()


def test_events_leave_only_after_the_change_is_committed(
    jukebox: Jukebox, bus: RecordingBus, store: SqlLibraryStore, tracks: list[int]
) -> None:
    seen_in_db: list[tuple[int, ...]] = []
    bus.subscribe(QueueUpdated, lambda e: seen_in_db.append(store.load_queue().track_ids))
    done(jukebox.append(tracks[:3]))
    done(jukebox.append(tracks[3:4]))
    assert seen_in_db == [tuple(tracks[:3]), tuple(tracks[:4])]


@pytest.mark.parametrize(
    ("command", "error"),
    [
        (lambda jb, t: jb.append([t[0], 999_999]), NotFoundError),
        (lambda jb, t: jb.insert_next([-1]), NotFoundError),
        (lambda jb, t: jb.remove([7]), InvalidRequestError),
        (lambda jb, t: jb.move(0, 9), InvalidRequestError),
        (lambda jb, t: jb.jump_to(-1), InvalidRequestError),
        (lambda jb, t: jb.set_repeat("sometimes"), InvalidRequestError),
        (lambda jb, t: jb.set_setting("volume.max", 150), SettingError),
        (lambda jb, t: jb.set_setting("volume.max", "loud"), SettingError),
        (lambda jb, t: jb.set_setting("no.such.key", 1), SettingError),
        (lambda jb, t: jb.play_playlist(12345), NotFoundError),
        (lambda jb, t: jb.seek(-5), InvalidRequestError),
    ],
)
def test_bad_requests_get_a_clear_error_and_change_nothing(
    jukebox: Jukebox, bus: RecordingBus, store: SqlLibraryStore, tracks: list[int], command: Any, error: type
) -> None:
    done(jukebox.append(tracks[:3]))
    before_db = store.load_queue()
    before_settings = store.all_settings()
    events_before = len(bus.events)
    with pytest.raises(error) as info:
        done(command(jukebox, tracks))
    assert str(info.value)  # a message a person can read
    assert store.load_queue() == before_db, "nothing may be written"
    assert store.all_settings() == before_settings
    assert jukebox.queue_snapshot().track_ids == before_db.track_ids
    assert len(bus.events) == events_before, "no event for a refused request"


def test_duplicate_playlist_name_is_refused(jukebox: Jukebox, store: SqlLibraryStore, tracks: list[int]) -> None:
    done(jukebox.create_playlist("Car", tracks[:2]))
    with pytest.raises(InvalidRequestError):
        done(jukebox.create_playlist("Car", tracks[2:3]))
    assert [p.name for p in store.list_playlists()] == ["Car"]


def test_volume_never_exceeds_the_cap_and_a_lower_cap_applies_at_once(
    jukebox: Jukebox, player: RecordingPlayer, bus: RecordingBus
) -> None:
    assert done(jukebox.set_volume(100)) == 85  # the default cap
    assert done(jukebox.step_volume(3)) == 85
    done(jukebox.set_setting("volume.max", 50))
    done(jukebox.stop())  # the cap reaction is queued behind the setting; wait for it
    assert jukebox.volume == 50
    assert player.calls[-2] == ("volume", 50)
    assert done(jukebox.step_volume(-2)) == 40


def test_next_while_playing_plays_and_while_paused_cues(
    jukebox: Jukebox, player: RecordingPlayer, bus: RecordingBus, tracks: list[int]
) -> None:
    done(jukebox.append(tracks[:3]))
    playing(bus, tracks[0])
    done(jukebox.next())
    assert player.calls[-1] == ("play", tracks[1], 1, 0)
    bus.publish(PlayerState(state="paused", track_id=tracks[1], position_ms=0, duration_ms=1, queue_index=1, volume=1))
    done(jukebox.next())
    assert player.calls[-1] == ("cue", tracks[2], 2, 0)
    assert done(jukebox.next()) is False  # past the end, repeat off: stops
    assert player.calls[-1] == ("stop",)


def test_previous_restarts_a_track_that_has_played_for_a_while(
    jukebox: Jukebox, player: RecordingPlayer, bus: RecordingBus, tracks: list[int]
) -> None:
    done(jukebox.append(tracks[:3]))
    done(jukebox.jump_to(1))
    playing(bus, tracks[1], position_ms=10_000, index=1)
    done(jukebox.previous())
    assert player.calls[-1] == ("seek", 0) and jukebox.queue_snapshot().current_index == 1
    playing(bus, tracks[1], position_ms=1_000, index=1)
    done(jukebox.previous())
    assert jukebox.queue_snapshot().current_index == 0
    assert player.calls[-1] == ("play", tracks[0], 0, 0)


def test_track_end_advances_the_queue_with_repeat_rules(
    jukebox: Jukebox, player: RecordingPlayer, bus: RecordingBus, tracks: list[int]
) -> None:
    done(jukebox.append(tracks[:2]))
    following = jukebox.track_ended(tracks[0])
    assert following is not None and following[0].id == tracks[1] and following[1] == 1
    assert jukebox.queue_snapshot().current_index == 1
    assert jukebox.track_ended(tracks[1]) is None  # end of queue, repeat off
    assert jukebox.track_ended(tracks[0]) is None  # not the current track: the queue moved on
    done(jukebox.set_repeat("one"))
    again = jukebox.track_ended(tracks[1])
    assert again is not None and again[0].id == tracks[1]
    done(jukebox.set_repeat("all"))
    wrapped = jukebox.track_ended(tracks[1])
    assert wrapped is not None and wrapped[1] == 0


def test_a_heard_track_counts_a_play(jukebox: Jukebox, store: SqlLibraryStore, tracks: list[int]) -> None:
    jukebox.track_heard(tracks[4])
    done(jukebox.stop())
    assert store.get_track(tracks[4]).play_count == 1


def test_tracks_deleted_from_the_library_leave_the_queue(
    jukebox: Jukebox, store: SqlLibraryStore, bus: RecordingBus, tracks: list[int]
) -> None:
    done(jukebox.append([tracks[0], tracks[1], tracks[0], tracks[2]]))
    store.delete_tracks([tracks[0]])
    done(jukebox.stop())
    done(jukebox.stop())  # the reaction was queued by the deletion event; let it run
    assert jukebox.queue_snapshot().track_ids == (tracks[1], tracks[2])
    assert store.load_queue().track_ids == (tracks[1], tracks[2])


def test_toggle_favorite_of_the_current_track(jukebox: Jukebox, store: SqlLibraryStore, tracks: list[int]) -> None:
    assert done(jukebox.toggle_favorite_current()) is None  # nothing current: nothing to do
    done(jukebox.append(tracks[:2]))
    assert done(jukebox.toggle_favorite_current()) is True
    assert store.is_favorite(tracks[0])
    assert done(jukebox.toggle_favorite_current()) is False
    assert not store.is_favorite(tracks[0])


def test_play_on_an_unstarted_queue_plays_the_first_entry_and_resumes_a_paused_one(
    jukebox: Jukebox, player: RecordingPlayer, bus: RecordingBus, tracks: list[int]
) -> None:
    done(jukebox.append(tracks[:2]))
    done(jukebox.play())
    assert player.calls[-1] == ("play", tracks[0], 0, 0)
    bus.publish(PlayerState(state="paused", track_id=tracks[0], position_ms=5, duration_ms=9, queue_index=0, volume=1))
    done(jukebox.toggle_play())
    done(jukebox.stop())
    assert ("resume",) in player.calls


# --- several threads at once -----------------------------------------------------------------

OPS = ["append", "insert_next", "remove", "move", "jump_to", "step", "set_shuffle", "set_repeat", "clear"]


class LoggedQueue(PlayQueue):
    """The real queue rules, writing down each change they make, on the thread that makes it."""

    log: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
    depth = 0  # operations call each other (insert_next -> append): log only the outermost

    def __getattribute__(self, name: str) -> Any:
        attr = super().__getattribute__(name)
        if name not in OPS:
            return attr

        def logged(*args: Any, **kwargs: Any) -> Any:
            LoggedQueue.depth += 1
            try:
                events = attr(*args, **kwargs)
            finally:
                LoggedQueue.depth -= 1
            if events and LoggedQueue.depth == 0:
                LoggedQueue.log.append((name, args, kwargs))
            return events

        return logged


def test_commands_from_many_threads_are_applied_one_at_a_time_and_everyone_agrees(
    db: Path, store: SqlLibraryStore, bus: RecordingBus, tracks: list[int]
) -> None:
    """Four threads (a button, the touch screen, the importer...) fire random commands at once.

    The core applies them one at a time: replaying the changes in the order the core made them on
    a fresh queue gives exactly the core's final queue, the database holds the same, and
    revisions only grow.
    """
    seed = 7
    LoggedQueue.log = []
    jb = Jukebox(store, bus, queue=LoggedQueue(rng=random.Random(seed)))

    def fire(rng: random.Random) -> list[Future[Any]]:
        futures: list[Future[Any]] = []
        length = 12  # positions may be out of range: those are refused and change nothing
        for _ in range(60):
            commands: list[Callable[[], Future[Any]]] = [
                lambda: jb.append(rng.sample(tracks, rng.randint(1, 3))),
                lambda: jb.insert_next(rng.sample(tracks, rng.randint(1, 3))),
                lambda: jb.remove([rng.randrange(length)]),
                lambda: jb.move(rng.randrange(length), rng.randrange(length)),
                lambda: jb.jump_to(rng.randrange(length)),
                jb.next,
                jb.previous,
                lambda: jb.set_shuffle(rng.random() < 0.5),
                lambda: jb.set_repeat(rng.choice(["off", "all", "one"])),
                jb.clear,
            ]
            futures.append(rng.choice(commands)())
        return futures

    all_futures: list[Future[Any]] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        fs = fire(random.Random(n))
        with lock:
            all_futures.extend(fs)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wait(all_futures, timeout=60)
    jb.close()

    assert len(LoggedQueue.log) > 50, "the random commands should mostly change something"
    replay = PlayQueue(rng=random.Random(seed))
    for name, args, kwargs in LoggedQueue.log:
        getattr(replay, name)(*args, **kwargs)
    final = jb.queue_snapshot()
    assert replay.snapshot(final.position_ms) == final
    assert store.load_queue() == final
    revisions = [e.revision for e in bus.events if isinstance(e, QueueUpdated | QueueStateChanged)]
    assert revisions == sorted(revisions) and len(set(revisions)) == len(revisions)
    assert revisions[-1] == final.revision
