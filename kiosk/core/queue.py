"""The play queue's rules: pure logic with no I/O, owned and persisted by the ``Jukebox``.

Each operation validates first and changes nothing when it raises, so a bad request leaves the
queue exactly as it was. An operation returns the changes it made (as events to publish once the
new state is committed); an operation that changes nothing returns no events and keeps the revision.

Shuffle reorders the entries themselves (the current entry moves to the top, the rest are
shuffled) and remembers the order to restore; entries added while shuffled are remembered in that
order too, so turning shuffle off puts everything back where the listener expects it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from kiosk.core.errors import InvalidRequestError
from kiosk.core.events import QueueStateChanged, QueueUpdated
from kiosk.core.models import REPEAT_MODES, QueueEntry, QueueSnapshot, RepeatMode

QueueEvent = QueueUpdated | QueueStateChanged


@dataclass
class PlayQueue:
    """Mutable queue state; the ``Jukebox`` works on a copy and swaps it in after the commit."""

    entries: list[QueueEntry] = field(default_factory=list)
    unshuffled: list[int] = field(default_factory=list)
    current: int | None = None
    shuffle: bool = False
    repeat: RepeatMode = "off"
    revision: int = 0
    rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    # --- conversion ---------------------------------------------------------------------------

    @classmethod
    def from_snapshot(cls, snap: QueueSnapshot, rng: random.Random | None = None) -> PlayQueue:
        current = snap.current_index
        if current is not None and not 0 <= current < len(snap.entries):
            current = 0 if snap.entries else None
        unshuffled = list(snap.unshuffled) if snap.shuffle else []
        if snap.shuffle and sorted(unshuffled) != sorted(e.entry_id for e in snap.entries):
            unshuffled = [e.entry_id for e in snap.entries]  # damaged record: keep today's order
        return cls(
            entries=list(snap.entries),
            unshuffled=unshuffled,
            current=current,
            shuffle=snap.shuffle,
            repeat=snap.repeat,
            revision=snap.revision,
            rng=rng or random.Random(),
        )

    def snapshot(self, position_ms: int = 0) -> QueueSnapshot:
        return QueueSnapshot(
            entries=tuple(self.entries),
            unshuffled=tuple(self.unshuffled) if self.shuffle else (),
            current_index=self.current,
            shuffle=self.shuffle,
            repeat=self.repeat,
            revision=self.revision,
            position_ms=position_ms,
        )

    def copy(self) -> PlayQueue:
        return type(self)(
            entries=list(self.entries),
            unshuffled=list(self.unshuffled),
            current=self.current,
            shuffle=self.shuffle,
            repeat=self.repeat,
            revision=self.revision,
            rng=self.rng,
        )

    # --- reading ------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def current_entry(self) -> QueueEntry | None:
        return None if self.current is None else self.entries[self.current]

    def index_after(self, index: int | None, *, natural: bool) -> int | None:
        """The index that follows ``index``: repeat-one only applies when a track ends by itself."""
        if not self.entries:
            return None
        if index is None:
            return 0
        if natural and self.repeat == "one":
            return index
        if index + 1 < len(self.entries):
            return index + 1
        return 0 if self.repeat != "off" else None  # repeat-one: a person pressing "next" wraps too

    # --- operations ---------------------------------------------------------------------------

    def _next_entry_id(self) -> int:
        return max((e.entry_id for e in self.entries), default=0) + 1

    def _new_entries(self, track_ids: Sequence[int]) -> list[QueueEntry]:
        if not track_ids:
            raise InvalidRequestError("no tracks given")
        first = self._next_entry_id()
        return [QueueEntry(first + i, int(t)) for i, t in enumerate(track_ids)]

    def _updated(self, action: str, positions: Sequence[int]) -> QueueUpdated:
        self.revision += 1
        return QueueUpdated(
            action=action,  # type: ignore[arg-type]
            positions=tuple(positions),
            queue_length=len(self.entries),
            current_index=self.current,
            revision=self.revision,
        )

    def _state_changed(self) -> QueueStateChanged:
        self.revision += 1
        return QueueStateChanged(
            current_index=self.current, shuffle=self.shuffle, repeat=self.repeat, revision=self.revision
        )

    def _check_position(self, position: int, *, allow_end: bool = False) -> None:
        upper = len(self.entries) + (1 if allow_end else 0)
        if not isinstance(position, int) or isinstance(position, bool) or not 0 <= position < upper:
            raise InvalidRequestError(
                f"queue position {position!r} is out of range (the queue has {len(self.entries)} entries)"
            )

    def append(self, track_ids: Sequence[int]) -> list[QueueEvent]:
        new = self._new_entries(track_ids)
        start = len(self.entries)
        self.entries.extend(new)
        if self.shuffle:
            self.unshuffled.extend(e.entry_id for e in new)
        events: list[QueueEvent] = [self._updated("added", range(start, start + len(new)))]
        if self.current is None:
            self.current = start
            events.append(self._state_changed())
        return events

    def insert_next(self, track_ids: Sequence[int]) -> list[QueueEvent]:
        if self.current is None:
            return self.append(track_ids)
        new = self._new_entries(track_ids)
        at = self.current + 1
        self.entries[at:at] = new
        if self.shuffle:
            current_id = self.entries[self.current].entry_id
            u_at = self.unshuffled.index(current_id) + 1
            self.unshuffled[u_at:u_at] = [e.entry_id for e in new]
        return [self._updated("added", range(at, at + len(new)))]

    def play_now(self, track_ids: Sequence[int]) -> list[QueueEvent]:
        """Insert after the current entry and make the first of them current."""
        events = self.insert_next(track_ids)
        first_added = events[0].positions[0]  # type: ignore[union-attr]
        if self.current != first_added:
            self.current = first_added
            events.append(self._state_changed())
        return events

    def replace(self, track_ids: Sequence[int], start_index: int = 0) -> list[QueueEvent]:
        if not 0 <= start_index < len(track_ids):
            raise InvalidRequestError(f"start index {start_index} is outside the {len(track_ids)} tracks given")
        new = self._new_entries(track_ids)
        events: list[QueueEvent] = []
        if self.entries:
            events += self.clear()
        self.entries = new
        if self.shuffle:
            self.unshuffled = [e.entry_id for e in new]
        self.current = start_index
        events.append(self._updated("added", range(len(new))))
        events.append(self._state_changed())
        return events

    def remove(self, positions: Sequence[int]) -> list[QueueEvent]:
        if not positions:
            raise InvalidRequestError("no queue positions given")
        for p in positions:
            self._check_position(p)
        if len(set(positions)) != len(positions):
            raise InvalidRequestError(f"queue positions {list(positions)} name an entry twice")
        doomed = set(positions)
        removed_ids = {self.entries[p].entry_id for p in doomed}
        old_current = self.current
        self.entries = [e for i, e in enumerate(self.entries) if i not in doomed]
        if self.shuffle:
            self.unshuffled = [i for i in self.unshuffled if i not in removed_ids]
        current_changed = False
        if old_current is not None:
            before = sum(1 for p in doomed if p < old_current)
            if old_current in doomed:
                current_changed = True
                new_index = old_current - before
                self.current = (
                    None if not self.entries else new_index if new_index < len(self.entries) else None
                )
                if self.current is None and self.entries and self.repeat == "all":
                    self.current = 0
            else:
                self.current = old_current - before
        events: list[QueueEvent] = [self._updated("removed", sorted(doomed))]
        if current_changed:
            events.append(self._state_changed())
        return events

    def move(self, from_position: int, to_position: int) -> list[QueueEvent]:
        self._check_position(from_position)
        self._check_position(to_position)
        if from_position == to_position:
            return []
        current_id = self.current_entry.entry_id if self.current_entry else None
        entry = self.entries.pop(from_position)
        self.entries.insert(to_position, entry)
        if current_id is not None:
            self.current = next(i for i, e in enumerate(self.entries) if e.entry_id == current_id)
        low, high = sorted((from_position, to_position))
        return [self._updated("reordered", range(low, high + 1))]

    def clear(self) -> list[QueueEvent]:
        if not self.entries:
            return []
        count = len(self.entries)
        had_current = self.current is not None
        self.entries, self.unshuffled, self.current = [], [], None
        events: list[QueueEvent] = [self._updated("cleared", range(count))]
        if had_current:
            events.append(self._state_changed())
        return events

    def jump_to(self, index: int) -> list[QueueEvent]:
        self._check_position(index)
        if index == self.current:
            return []
        self.current = index
        return [self._state_changed()]

    def step(self, *, forward: bool, natural: bool = False) -> list[QueueEvent]:
        """Move to the next or previous entry; returns no events at either end without repeat."""
        if not self.entries:
            return []
        if forward:
            target = self.index_after(self.current, natural=natural)
        elif self.current is None:
            target = 0
        elif self.current > 0:
            target = self.current - 1
        else:
            target = len(self.entries) - 1 if self.repeat != "off" else None
        if target is None or target == self.current:
            return []
        self.current = target
        return [self._state_changed()]

    def set_shuffle(self, on: bool) -> list[QueueEvent]:
        if on == self.shuffle:
            return []
        if on:
            self.unshuffled = [e.entry_id for e in self.entries]
            current = self.current_entry
            rest = [e for e in self.entries if e is not current]
            self.rng.shuffle(rest)
            self.entries = ([current] if current else []) + rest
            self.current = 0 if current else None
        else:
            by_id = {e.entry_id: e for e in self.entries}
            current = self.current_entry
            self.entries = [by_id[i] for i in self.unshuffled]
            self.unshuffled = []
            if current is not None:
                self.current = self.entries.index(current)
        self.shuffle = on
        events: list[QueueEvent] = []
        if self.entries:
            events.append(self._updated("shuffled", range(len(self.entries))))
        events.append(self._state_changed())
        return events

    def set_repeat(self, mode: str) -> list[QueueEvent]:
        if mode not in REPEAT_MODES:
            raise InvalidRequestError(f"repeat mode must be one of {', '.join(REPEAT_MODES)}; got {mode!r}")
        if mode == self.repeat:
            return []
        self.repeat = mode
        return [self._state_changed()]

    def drop_tracks(self, track_ids: set[int]) -> list[QueueEvent]:
        """Remove every entry of tracks that left the library."""
        positions = [i for i, e in enumerate(self.entries) if e.track_id in track_ids]
        return self.remove(positions) if positions else []
