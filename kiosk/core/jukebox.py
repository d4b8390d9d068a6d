"""The command API that the screen, the buttons and the USB importer all call.

The core owns the queue, its current entry, shuffle and repeat (the product's old design split
them between UI and backend and the two disagreed). Every command returns a ``Future`` at once and
runs in order on the core's single thread, so commands from a button and a touch at the same moment
are simply applied one after the other, persisted, and then announced: everyone agrees.
Reads run on a small pool of their own so a slow query never holds up a command.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from kiosk.core.bus import EventBus
from kiosk.core.errors import InvalidRequestError, NotFoundError
from kiosk.core.events import Event, LibraryUpdated, PlayerState, SettingsUpdated, SettingValue
from kiosk.core.models import (
    REPEAT_MODES,
    AlbumSummary,
    ArtistSummary,
    Playlist,
    PlaylistDetail,
    QueueSnapshot,
    Track,
)
from kiosk.core.ports.library import LibraryStore, TrackOrder
from kiosk.core.ports.playback import Player
from kiosk.core.queue import PlayQueue, QueueEvent

log = logging.getLogger(__name__)

T = TypeVar("T")

#: ``previous`` restarts the track instead when it has played longer than this.
RESTART_THRESHOLD_MS = 3000
#: How often the play position is written down, so a power cut resumes close to where it was.
POSITION_SAVE_INTERVAL_S = 5.0


class Jukebox:
    """Thread-safe commands (``Future`` results) and never-blocking reads of the jukebox's state."""

    def __init__(
        self,
        store: LibraryStore,
        bus: EventBus,
        player: Player | None = None,
        *,
        clock: Callable[[], float] = time.time,
        queue: PlayQueue | None = None,
    ) -> None:
        self._store, self._bus, self._player, self._clock = store, bus, player, clock
        self._core = ThreadPoolExecutor(max_workers=1, thread_name_prefix="core")
        self._reads = ThreadPoolExecutor(max_workers=2, thread_name_prefix="core-read")
        stored = store.load_queue()
        self._queue = queue if queue is not None else PlayQueue.from_snapshot(stored)
        self._snapshot: QueueSnapshot = self._queue.snapshot(stored.position_ms)
        self._settings: dict[str, SettingValue] = store.all_settings()
        self._player_state: PlayerState | None = None
        self._volume = min(int(self._settings["volume.startup"]), int(self._settings["volume.max"]))  # type: ignore[arg-type]
        self._muted = False
        self._last_position_save = 0.0
        self._ejector: Callable[[], None] | None = None
        self._closed = threading.Event()
        self._subscriptions = [
            bus.subscribe(PlayerState, self._on_player_state),
            bus.subscribe(SettingsUpdated, self._on_settings_updated),
            bus.subscribe(LibraryUpdated, self._on_library_updated),
        ]
        if player is not None:
            player.attach(self)
            self._submit("start-up", self._start_player)

    # --- plumbing -----------------------------------------------------------------------------

    def _submit(self, name: str, fn: Callable[..., T], *args: Any) -> Future[T]:
        if self._closed.is_set():
            future: Future[T] = Future()
            future.set_exception(InvalidRequestError("the jukebox is shutting down"))
            return future
        future = self._core.submit(fn, *args)
        future.add_done_callback(lambda f: self._log_failure(name, f))
        return future

    def _read(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        return self._reads.submit(fn, *args)

    @staticmethod
    def _log_failure(name: str, future: Future[Any]) -> None:
        if not future.cancelled() and (exc := future.exception()) is not None:
            log.warning("command %s refused: %s", name, exc)

    def _publish(self, events: Sequence[Event]) -> None:
        for event in events:
            self._bus.publish(event)

    def _change_queue(self, op: Callable[[PlayQueue], list[QueueEvent]]) -> list[QueueEvent]:
        """Apply ``op`` to a copy, persist it, swap it in, then publish: bad requests change nothing."""
        draft = self._queue.copy()
        events = op(draft)
        if not events:
            return []
        snapshot = draft.snapshot(self._snapshot.position_ms)
        self._store.save_queue(snapshot)
        self._queue, self._snapshot = draft, snapshot
        self._publish(events)
        return events

    def _track_at(self, index: int | None) -> Track | None:
        if index is None:
            return None
        return self._store.get_track(self._queue.entries[index].track_id)

    def _check_tracks(self, track_ids: Sequence[int]) -> list[int]:
        ids = [int(t) for t in track_ids]
        missing = set(ids) - self._store.existing_track_ids(ids)
        if missing:
            raise NotFoundError(f"unknown track id(s): {', '.join(map(str, sorted(missing)))}")
        return ids

    @property
    def _playing(self) -> bool:
        return self._player_state is not None and self._player_state.state == "playing"

    def _follow_current(self, *, play: bool | None = None) -> None:
        """Tell the player about the current entry after it changed (play it, or cue it)."""
        if self._player is None:
            return
        track = self._track_at(self._queue.current)
        should_play = self._playing if play is None else play
        if track is None:
            self._player.stop()
            self._player.cue(None, None)
        elif should_play:
            self._player.play(track, self._queue.current)
        else:
            self._player.cue(track, self._queue.current)

    def _start_player(self) -> None:
        assert self._player is not None
        self._player.set_volume(self._volume)
        self._apply_replaygain()
        track = self._track_at(self._queue.current)
        if track is not None:
            self._player.cue(track, self._queue.current, self._snapshot.position_ms)

    def _apply_replaygain(self) -> None:
        if self._player is not None:
            s = self._settings
            self._player.set_replaygain(
                str(s["replaygain.mode"]), float(s["replaygain.preamp_db"]),  # type: ignore[arg-type]
                bool(s["replaygain.prevent_clipping"]),
            )

    # --- in-memory reads (never block) --------------------------------------------------------

    def queue_snapshot(self) -> QueueSnapshot:
        return self._snapshot

    def settings(self) -> dict[str, SettingValue]:
        return dict(self._settings)

    def player_state(self) -> PlayerState | None:
        return self._player_state

    @property
    def volume(self) -> int:
        return self._volume

    # --- queue commands -----------------------------------------------------------------------

    def append(self, track_ids: Sequence[int]) -> Future[list[QueueEvent]]:
        return self._submit("append", lambda: self._change_queue(lambda q: q.append(self._check_tracks(track_ids))))

    def insert_next(self, track_ids: Sequence[int]) -> Future[list[QueueEvent]]:
        return self._submit(
            "insert_next", lambda: self._change_queue(lambda q: q.insert_next(self._check_tracks(track_ids)))
        )

    def play_now(self, track_ids: Sequence[int]) -> Future[None]:
        def run() -> None:
            ids = self._check_tracks(track_ids)
            self._change_queue(lambda q: q.play_now(ids))
            self._follow_current(play=True)

        return self._submit("play_now", run)

    def replace_and_play(self, track_ids: Sequence[int], start_index: int = 0) -> Future[None]:
        def run() -> None:
            ids = self._check_tracks(track_ids)
            self._change_queue(lambda q: q.replace(ids, start_index))
            self._follow_current(play=True)

        return self._submit("replace_and_play", run)

    def remove(self, positions: Sequence[int]) -> Future[None]:
        def run() -> None:
            before = self._queue.current_entry
            self._change_queue(lambda q: q.remove(list(positions)))
            if self._queue.current_entry != before:
                self._follow_current()

        return self._submit("remove", run)

    def move(self, from_position: int, to_position: int) -> Future[list[QueueEvent]]:
        return self._submit("move", lambda: self._change_queue(lambda q: q.move(from_position, to_position)))

    def clear(self) -> Future[None]:
        def run() -> None:
            if self._change_queue(lambda q: q.clear()):
                self._follow_current(play=False)

        return self._submit("clear", run)

    def jump_to(self, index: int) -> Future[None]:
        def run() -> None:
            self._change_queue(lambda q: q.jump_to(index))
            self._follow_current(play=True)

        return self._submit("jump_to", run)

    def next(self) -> Future[bool]:
        def run() -> bool:
            if self._change_queue(lambda q: q.step(forward=True)):
                self._follow_current()
                return True
            if self._player is not None and self._queue.entries:
                self._player.stop()  # "next" past the end with repeat off: stop, as MPD does
            return False

        return self._submit("next", run)

    def previous(self) -> Future[bool]:
        def run() -> bool:
            state = self._player_state
            if self._player is not None and state is not None and state.position_ms > RESTART_THRESHOLD_MS:
                self._player.seek(0)
                return False
            if self._change_queue(lambda q: q.step(forward=False)):
                self._follow_current()
                return True
            if self._player is not None and self._queue.current is not None:
                self._player.seek(0)
            return False

        return self._submit("previous", run)

    def set_shuffle(self, on: bool) -> Future[list[QueueEvent]]:
        return self._submit("set_shuffle", lambda: self._change_queue(lambda q: q.set_shuffle(bool(on))))

    def toggle_shuffle(self) -> Future[list[QueueEvent]]:
        return self._submit("toggle_shuffle", lambda: self._change_queue(lambda q: q.set_shuffle(not q.shuffle)))

    def set_repeat(self, mode: str) -> Future[list[QueueEvent]]:
        return self._submit("set_repeat", lambda: self._change_queue(lambda q: q.set_repeat(mode)))

    def cycle_repeat(self) -> Future[list[QueueEvent]]:
        def op(q: PlayQueue) -> list[QueueEvent]:
            return q.set_repeat(REPEAT_MODES[(REPEAT_MODES.index(q.repeat) + 1) % len(REPEAT_MODES)])

        return self._submit("cycle_repeat", lambda: self._change_queue(op))

    # --- player commands ----------------------------------------------------------------------

    def play(self) -> Future[None]:
        def run() -> None:
            if self._queue.current is None:
                if not self._change_queue(lambda q: q.step(forward=True)):
                    return
                self._follow_current(play=True)
                return
            state = self._player_state
            if self._player is None:
                return
            current = self._queue.current_entry
            if state is not None and current is not None and state.track_id == current.track_id:
                self._player.resume()
            else:
                self._follow_current(play=True)

        return self._submit("play", run)

    def pause(self) -> Future[None]:
        return self._submit("pause", lambda: self._player.pause() if self._player else None)

    def toggle_play(self) -> Future[None]:
        def run() -> None:
            if self._playing:
                assert self._player is not None
                self._player.pause()
            else:
                self.play()

        return self._submit("toggle_play", run)

    def stop(self) -> Future[None]:
        return self._submit("stop", lambda: self._player.stop() if self._player else None)

    def seek(self, position_ms: int) -> Future[None]:
        def run() -> None:
            if position_ms < 0:
                raise InvalidRequestError(f"cannot seek to a negative position ({position_ms} ms)")
            if self._player is not None:
                self._player.seek(int(position_ms))

        return self._submit("seek", run)

    def _set_volume(self, percent: int) -> int:
        cap = int(self._settings["volume.max"])  # type: ignore[arg-type]
        self._volume = max(0, min(int(percent), cap))
        if self._player is not None:
            self._player.set_volume(self._volume)
        return self._volume

    def set_volume(self, percent: int) -> Future[int]:
        """Sets the volume, never above the ``volume.max`` setting; returns what was set."""
        return self._submit("set_volume", self._set_volume, percent)

    def step_volume(self, steps: int) -> Future[int]:
        return self._submit(
            "step_volume", lambda: self._set_volume(self._volume + steps * int(self._settings["volume.step"]))  # type: ignore[arg-type]
        )

    def toggle_mute(self) -> Future[bool]:
        def run() -> bool:
            self._muted = not self._muted
            if self._player is not None:
                self._player.set_muted(self._muted)
            return self._muted

        return self._submit("toggle_mute", run)

    # --- library commands ---------------------------------------------------------------------

    def set_favorite(self, track_id: int, on: bool) -> Future[bool]:
        op = self._store.add_favorite if on else self._store.remove_favorite
        return self._submit("set_favorite", op, track_id)

    def toggle_favorite_current(self) -> Future[bool | None]:
        """Toggles the heart on the current track; returns whether it is now a favorite."""

        def run() -> bool | None:
            entry = self._queue.current_entry
            if entry is None:
                return None
            on = not self._store.is_favorite(entry.track_id)
            (self._store.add_favorite if on else self._store.remove_favorite)(entry.track_id)
            return on

        return self._submit("toggle_favorite_current", run)

    def create_playlist(self, name: str, track_ids: Sequence[int] = ()) -> Future[Playlist]:
        return self._submit("create_playlist", self._store.create_playlist, name, list(track_ids))

    def rename_playlist(self, playlist_id: int, name: str) -> Future[Playlist]:
        return self._submit("rename_playlist", self._store.rename_playlist, playlist_id, name)

    def delete_playlist(self, playlist_id: int) -> Future[None]:
        return self._submit("delete_playlist", self._store.delete_playlist, playlist_id)

    def add_to_playlist(self, playlist_id: int, track_ids: Sequence[int]) -> Future[None]:
        return self._submit("add_to_playlist", self._store.add_to_playlist, playlist_id, list(track_ids))

    def remove_from_playlist(self, playlist_id: int, positions: Sequence[int]) -> Future[None]:
        return self._submit("remove_from_playlist", self._store.remove_from_playlist, playlist_id, list(positions))

    def move_in_playlist(self, playlist_id: int, from_position: int, to_position: int) -> Future[None]:
        return self._submit("move_in_playlist", self._store.move_in_playlist, playlist_id, from_position, to_position)

    def play_playlist(self, playlist_id: int, start_index: int = 0) -> Future[None]:
        def run() -> None:
            detail = self._store.get_playlist(playlist_id)
            if not detail.track_ids:
                raise InvalidRequestError(f"playlist {detail.playlist.name!r} is empty")
            self._change_queue(lambda q: q.replace(detail.track_ids, start_index))
            self._follow_current(play=True)

        return self._submit("play_playlist", run)

    def set_setting(self, key: str, value: SettingValue) -> Future[SettingValue]:
        return self._submit("set_setting", self._store.set_setting, key, value)

    def set_ejector(self, ejector: Callable[[], None] | None) -> None:
        """The USB service registers how to eject the stick (the core knows no hardware)."""
        self._ejector = ejector

    def eject(self) -> Future[bool]:
        def run() -> bool:
            if self._ejector is None:
                return False
            self._ejector()
            return True

        return self._submit("eject", run)

    # --- reads (pool) -------------------------------------------------------------------------

    def search(self, query: str, limit: int = 50) -> Future[list[Track]]:
        return self._read(self._store.search, query, limit)

    def list_tracks(self, offset: int = 0, limit: int = 100, order: TrackOrder = "title") -> Future[list[Track]]:
        return self._read(self._store.list_tracks, offset, limit, order)

    def count_tracks(self) -> Future[int]:
        return self._read(self._store.count_tracks)

    def list_artists(self, offset: int = 0, limit: int = 200) -> Future[list[ArtistSummary]]:
        return self._read(self._store.list_artists, offset, limit)

    def list_albums(self, artist: str | None = None, offset: int = 0, limit: int = 200) -> Future[list[AlbumSummary]]:
        return self._read(self._store.list_albums, artist, offset, limit)

    def album_tracks(self, album: str, album_artist: str) -> Future[list[Track]]:
        return self._read(self._store.album_tracks, album, album_artist)

    def list_favorites(self) -> Future[list[Track]]:
        return self._read(self._store.list_favorites)

    def is_favorite(self, track_id: int) -> Future[bool]:
        return self._read(self._store.is_favorite, track_id)

    def list_playlists(self) -> Future[list[Playlist]]:
        return self._read(self._store.list_playlists)

    def get_playlist(self, playlist_id: int) -> Future[PlaylistDetail]:
        return self._read(self._store.get_playlist, playlist_id)

    def get_tracks(self, track_ids: Sequence[int]) -> Future[list[Track]]:
        return self._read(self._store.get_tracks, list(track_ids))

    # --- PlaybackHost: called by the player's thread ------------------------------------------

    def track_ended(self, track_id: int) -> tuple[Track, int] | None:
        def run() -> tuple[Track, int] | None:
            entry = self._queue.current_entry
            if entry is None or entry.track_id != track_id:
                return None  # the queue moved on meanwhile; the command that moved it tells the player
            following = self._queue.index_after(self._queue.current, natural=True)
            if following is None:
                return None
            self._change_queue(lambda q: q.step(forward=True, natural=True))
            track = self._track_at(following)
            assert track is not None
            return track, following

        try:
            return self._submit("track_ended", run).result(timeout=5)
        except Exception:
            log.exception("could not advance the queue after track %s", track_id)
            return None

    def track_heard(self, track_id: int) -> None:
        self._submit("track_heard", self._store.record_play, track_id, self._clock())

    # --- reactions to events ------------------------------------------------------------------

    def _on_player_state(self, event: PlayerState) -> None:
        self._player_state = event
        now = time.monotonic()
        if event.state != "playing" or now - self._last_position_save >= POSITION_SAVE_INTERVAL_S:
            self._last_position_save = now
            self._submit("save_position", self._save_position, event.position_ms)

    def _save_position(self, position_ms: int) -> None:
        if position_ms != self._snapshot.position_ms:
            self._store.save_queue_position(position_ms)
            self._snapshot = self._queue.snapshot(position_ms)

    def _on_settings_updated(self, event: SettingsUpdated) -> None:
        self._settings[event.key] = event.value
        if event.key == "volume.max" and self._volume > int(event.value):  # type: ignore[arg-type]
            self._submit("cap_volume", self._set_volume, self._volume)
        elif event.key.startswith("replaygain."):
            self._submit("replaygain", self._apply_replaygain)

    def _on_library_updated(self, event: LibraryUpdated) -> None:
        if event.action != "deleted" or not event.track_ids:
            return
        gone = set(event.track_ids)

        def run() -> None:
            before = self._queue.current_entry
            self._change_queue(lambda q: q.drop_tracks(gone))
            if self._queue.current_entry != before:
                self._follow_current()

        self._submit("drop_deleted_tracks", run)

    # --- shutdown -----------------------------------------------------------------------------

    def close(self) -> None:
        """Saves the position, stops the player and the core threads; idempotent."""
        if self._closed.is_set():
            return
        state = self._player_state
        if state is not None:
            self._submit("save_position", self._save_position, state.position_ms)
        self._closed.set()
        for sub in self._subscriptions:
            sub.cancel()
        self._core.shutdown(wait=True)
        self._reads.shutdown(wait=True)
        if self._player is not None:
            self._player.close()
