"""What every screen needs: the jukebox, the event bridge, covers, track details and the accent.

Screens get one ``UiContext`` instead of reaching for globals, so a test builds the same screens
around a real Jukebox and a real bus, exactly as the app does.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from functools import partial
from typing import Any

from kivy.event import EventDispatcher
from kivy.properties import ListProperty

from kiosk.core.events import LibraryUpdated
from kiosk.core.models import Track
from kiosk.ui import theme
from kiosk.ui.bridge import KivyEventBridge
from kiosk.ui.covers import CoverCache
from kiosk.ui.futures import when_done

log = logging.getLogger(__name__)


class TrackDetails:
    """Track details by id for display (queue rows, now playing), fetched in batches and kept.

    This holds no state of the queue, only what a track id looks like; library events drop the
    tracks they name so an edited tag shows up.
    """

    def __init__(self, jukebox: Any, capacity: int = 5000) -> None:
        self._jukebox = jukebox
        self._capacity = capacity
        self._tracks: OrderedDict[int, Track] = OrderedDict()
        self._pending: set[int] = set()
        self._waiters: list[tuple[set[int], Callable[[], None]]] = []

    def get(self, track_id: int | None) -> Track | None:
        if track_id is None:
            return None
        return self._tracks.get(track_id)

    def put(self, tracks: Iterable[Track]) -> None:
        for track in tracks:
            self._tracks[track.id] = track
            self._tracks.move_to_end(track.id)
        while len(self._tracks) > self._capacity:
            self._tracks.popitem(last=False)

    def ensure(self, track_ids: Sequence[int], then: Callable[[], None]) -> None:
        """Fetch what is missing; ``then()`` runs on the main thread once all asked are known."""
        missing = {t for t in track_ids if t not in self._tracks}
        if not missing:
            then()
            return
        self._waiters.append((missing, then))
        to_fetch = sorted(missing - self._pending)
        if not to_fetch:
            return
        self._pending.update(to_fetch)
        for start in range(0, len(to_fetch), 500):
            batch = to_fetch[start : start + 500]
            self._fetch(batch)

    def _arrived(self, batch: list[int], tracks: list[Track]) -> None:
        self._pending.difference_update(batch)
        self.put(tracks)
        self._wake(set(batch))

    def _failed(self, batch: list[int], exc: BaseException) -> None:
        # A track deleted meanwhile makes the batch fail: fetch the rest one by one.
        log.info("track details for %d ids failed (%s); retrying singly", len(batch), exc)
        self._pending.difference_update(batch)
        if len(batch) == 1:
            self._wake(set(batch))
            return
        for tid in batch:
            self._pending.add(tid)
            self._fetch([tid])

    def _fetch(self, batch: list[int]) -> None:
        when_done(
            self._jukebox.get_tracks(batch),
            partial(self._arrived, batch),
            partial(self._failed, batch),
        )

    def _wake(self, done: set[int]) -> None:
        still = []
        for wanted, then in self._waiters:
            wanted -= done
            if wanted:
                still.append((wanted, then))
            else:
                then()
        self._waiters = still

    def forget(self, event: LibraryUpdated) -> None:
        if not event.track_ids:
            self._tracks.clear()
        else:
            for tid in event.track_ids:
                self._tracks.pop(tid, None)


class JukeboxHandle:
    """The Jukebox as the screens see it; once the UI is closed, commands and reads no longer reach it.

    Kivy may still run a trigger or two scheduled before the window closed; after ``close()``
    those get a Future that never completes instead of calling into a core that is shutting down.
    """

    _IN_MEMORY = frozenset({"queue_snapshot", "settings", "player_state", "volume"})

    def __init__(self, jukebox: Any) -> None:
        self._jukebox = jukebox
        self.closed = False

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._jukebox, name)
        if self.closed and name not in self._IN_MEMORY and callable(attr):
            return lambda *args, **kwargs: Future()
        return attr


class UiContext(EventDispatcher):
    """Shared by all screens; ``accent`` follows the cover of the track playing."""

    accent = ListProperty(list(theme.ACCENT_DEFAULT))

    def __init__(self, jukebox: Any, bridge: KivyEventBridge, covers: CoverCache, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.jukebox: Any = JukeboxHandle(jukebox)
        self.bridge = bridge
        self.covers = covers
        self.tracks = TrackDetails(self.jukebox)
        bridge.bind(on_library_updated=lambda _b, event: self.tracks.forget(event))
        self.show_track_actions: Callable[[Track], None] = lambda track: None
        self.ask_text: Callable[[str, str, Callable[[str], None]], None] = lambda title, text, done: None
        self.go_to: Callable[[str], None] = lambda name: None

    def close(self) -> None:
        self.jukebox.closed = True
        self.covers.close()
