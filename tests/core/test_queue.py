"""The queue's rules, checked case by case and against a simple model with random operations."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from kiosk.core.errors import InvalidRequestError
from kiosk.core.events import QueueStateChanged, QueueUpdated
from kiosk.core.models import QueueEntry
from kiosk.core.queue import PlayQueue, QueueEvent


def tracks(q: PlayQueue) -> list[int]:
    return [e.track_id for e in q.entries]


def current_track(q: PlayQueue) -> int | None:
    return q.current_entry.track_id if q.current_entry else None


def test_append_to_an_empty_queue_makes_the_first_new_entry_current() -> None:
    q = PlayQueue()
    events = q.append([10, 11])
    assert tracks(q) == [10, 11] and q.current == 0
    assert isinstance(events[0], QueueUpdated) and events[0].action == "added"
    assert events[0].positions == (0, 1) and events[0].queue_length == 2
    assert isinstance(events[1], QueueStateChanged) and events[1].current_index == 0
    assert [e.revision for e in events] == [1, 2]


def test_insert_next_goes_right_after_the_current_entry() -> None:
    q = PlayQueue()
    q.append([1, 2, 3])
    q.jump_to(1)
    q.insert_next([9])
    assert tracks(q) == [1, 2, 9, 3] and current_track(q) == 2


def test_removing_entries_before_the_current_one_keeps_the_same_track_current() -> None:
    q = PlayQueue()
    q.append([1, 2, 3, 4])
    q.jump_to(2)
    events = q.remove([0, 1])
    assert tracks(q) == [3, 4] and current_track(q) == 3 and q.current == 0
    assert len(events) == 1 and events[0].action == "removed"  # type: ignore[union-attr]


def test_removing_the_current_entry_makes_the_following_one_current() -> None:
    q = PlayQueue()
    q.append([1, 2, 3])
    q.jump_to(1)
    q.remove([1])
    assert current_track(q) == 3


def test_move_keeps_the_current_track_current() -> None:
    q = PlayQueue()
    q.append([1, 2, 3, 4])
    q.jump_to(1)
    events = q.move(1, 3)
    assert tracks(q) == [1, 3, 4, 2] and current_track(q) == 2
    assert events[0].positions == (1, 2, 3)  # type: ignore[union-attr]


def test_shuffle_keeps_the_current_track_and_unshuffle_restores_the_order() -> None:
    q = PlayQueue(rng=random.Random(4))
    q.append(list(range(1, 21)))
    q.jump_to(7)
    q.set_shuffle(True)
    assert current_track(q) == 8 and q.current == 0
    assert sorted(tracks(q)) == list(range(1, 21)) and tracks(q) != list(range(1, 21))
    q.append([99])
    q.set_shuffle(False)
    assert tracks(q) == [*range(1, 21), 99] and current_track(q) == 8


def test_next_and_previous_respect_repeat() -> None:
    q = PlayQueue()
    q.append([1, 2])
    q.jump_to(1)
    assert q.step(forward=True) == []  # end of the queue, repeat off: nothing moves
    q.set_repeat("all")
    q.step(forward=True)
    assert q.current == 0
    q.step(forward=False)
    assert q.current == 1
    q.set_repeat("one")
    assert q.step(forward=True, natural=True) == []  # a track that ends by itself repeats
    q.step(forward=True)  # "next" pressed by a person moves on even with repeat one
    assert q.current == 0


@pytest.mark.parametrize(
    "bad",
    [
        lambda q: q.remove([5]),
        lambda q: q.remove([0, 0]),
        lambda q: q.remove([]),
        lambda q: q.move(0, 3),
        lambda q: q.move(-1, 0),
        lambda q: q.jump_to(3),
        lambda q: q.set_repeat("twice"),
        lambda q: q.append([]),
        lambda q: q.replace([1, 2], 2),
    ],
)
def test_bad_requests_raise_and_change_nothing(bad) -> None:
    q = PlayQueue()
    q.append([1, 2, 3])
    before = q.snapshot()
    with pytest.raises(InvalidRequestError):
        bad(q)
    assert q.snapshot() == before


def test_drop_tracks_removes_every_entry_of_a_deleted_track() -> None:
    q = PlayQueue()
    q.append([1, 2, 1, 3])
    q.drop_tracks({1})
    assert tracks(q) == [2, 3]


def test_snapshot_round_trip_preserves_everything() -> None:
    q = PlayQueue(rng=random.Random(1))
    q.append([5, 6, 7, 8])
    q.jump_to(2)
    q.set_shuffle(True)
    q.set_repeat("all")
    again = PlayQueue.from_snapshot(q.snapshot(1234))
    assert again.snapshot(1234) == q.snapshot(1234)


# --- the model -------------------------------------------------------------------------------


class QueueModel(RuleBasedStateMachine):
    """Random operation sequences against a plain model of what each operation must do."""

    def __init__(self) -> None:
        super().__init__()
        self.q = PlayQueue(rng=random.Random(0))
        self.entries: list[QueueEntry] = []  # the model's view: same entry ids the queue assigns
        self.unshuffled: list[int] = []
        self.current_id: int | None = None
        self.shuffle = False
        self.repeat = "off"
        self.last_revision = 0

    # helpers
    def _new(self, track_ids: list[int]) -> list[QueueEntry]:
        first = max((e.entry_id for e in self.entries), default=0) + 1
        return [QueueEntry(first + i, t) for i, t in enumerate(track_ids)]

    def _index(self) -> int | None:
        if self.current_id is None:
            return None
        return next(i for i, e in enumerate(self.entries) if e.entry_id == self.current_id)

    def _check_events(self, events: list[QueueEvent]) -> None:
        for e in events:
            assert e.revision > self.last_revision, "revision must only grow"
            self.last_revision = e.revision
            if isinstance(e, QueueUpdated):
                assert e.queue_length >= 0
                assert all(p >= 0 for p in e.positions)
        if events:
            final = events[-1]
            assert final.current_index == self.q.current

    # rules
    @rule(ids=st.lists(st.integers(1, 50), min_size=1, max_size=4))
    def append(self, ids: list[int]) -> None:
        new = self._new(ids)
        self.entries += new
        if self.shuffle:
            self.unshuffled += [e.entry_id for e in new]
        if self.current_id is None:
            self.current_id = new[0].entry_id
        self._check_events(self.q.append(ids))

    @rule(ids=st.lists(st.integers(1, 50), min_size=1, max_size=3), now=st.booleans())
    def insert_next(self, ids: list[int], now: bool) -> None:
        new = self._new(ids)
        i = self._index()
        if i is None:
            self.entries += new
            if self.shuffle:
                self.unshuffled += [e.entry_id for e in new]
        else:
            self.entries[i + 1 : i + 1] = new
            if self.shuffle:
                u = self.unshuffled.index(self.current_id) + 1  # type: ignore[arg-type]
                self.unshuffled[u:u] = [e.entry_id for e in new]
        if now or self.current_id is None:
            self.current_id = new[0].entry_id
        self._check_events(self.q.play_now(ids) if now else self.q.insert_next(ids))

    @precondition(lambda self: self.entries)
    @rule(data=st.data())
    def remove(self, data: st.DataObject) -> None:
        positions = data.draw(st.sets(st.integers(0, len(self.entries) - 1), min_size=1))
        i = self._index()
        removed = {self.entries[p].entry_id for p in positions}
        kept = [e for e in self.entries if e.entry_id not in removed]
        if self.current_id in removed:
            assert i is not None
            new_i = i - sum(1 for p in positions if p < i)
            if new_i < len(kept):
                self.current_id = kept[new_i].entry_id
            elif kept and self.repeat == "all":
                self.current_id = kept[0].entry_id
            else:
                self.current_id = None
        self.entries = kept
        self.unshuffled = [u for u in self.unshuffled if u not in removed]
        self._check_events(self.q.remove(sorted(positions)))

    @precondition(lambda self: self.entries)
    @rule(data=st.data())
    def move(self, data: st.DataObject) -> None:
        a = data.draw(st.integers(0, len(self.entries) - 1))
        b = data.draw(st.integers(0, len(self.entries) - 1))
        self.entries.insert(b, self.entries.pop(a))
        self._check_events(self.q.move(a, b))

    @rule()
    def clear(self) -> None:
        self.entries, self.unshuffled, self.current_id = [], [], None
        self._check_events(self.q.clear())

    @precondition(lambda self: self.entries)
    @rule(data=st.data())
    def jump(self, data: st.DataObject) -> None:
        i = data.draw(st.integers(0, len(self.entries) - 1))
        self.current_id = self.entries[i].entry_id
        self._check_events(self.q.jump_to(i))

    @rule(forward=st.booleans(), natural=st.booleans())
    def step(self, forward: bool, natural: bool) -> None:
        i = self._index()
        n = len(self.entries)
        target: int | None
        if not n:
            target = None
        elif i is None:
            target = 0
        elif forward:
            if natural and self.repeat == "one":
                target = i
            elif i + 1 < n:
                target = i + 1
            else:
                target = 0 if self.repeat != "off" else i
        else:
            target = i - 1 if i > 0 else (n - 1 if self.repeat != "off" else i)
        if target is not None:
            self.current_id = self.entries[target].entry_id
        self._check_events(self.q.step(forward=forward, natural=natural and forward))

    @rule(on=st.booleans())
    def shuffle_mode(self, on: bool) -> None:
        events = self.q.set_shuffle(on)
        if on and not self.shuffle:
            self.unshuffled = [e.entry_id for e in self.entries]
            assert sorted(self.q.entries, key=lambda e: e.entry_id) == sorted(self.entries, key=lambda e: e.entry_id)
            if self.current_id is not None:
                assert self.q.current == 0
            self.entries = list(self.q.entries)  # the model cannot predict the random order: adopt it
        elif not on and self.shuffle:
            by_id = {e.entry_id: e for e in self.entries}
            self.entries = [by_id[u] for u in self.unshuffled]
            self.unshuffled = []
        self.shuffle = on
        self._check_events(events)

    @rule(mode=st.sampled_from(["off", "all", "one"]))
    def repeat_mode(self, mode: str) -> None:
        self.repeat = mode
        self._check_events(self.q.set_repeat(mode))

    @invariant()
    def agrees_with_model(self) -> None:
        assert self.q.entries == self.entries
        current = self.q.current_entry
        assert (current.entry_id if current else None) == self.current_id, "current track changed unasked"
        assert self.q.shuffle == self.shuffle and self.q.repeat == self.repeat
        if self.q.current is not None:
            assert 0 <= self.q.current < len(self.q.entries)
        assert len({e.entry_id for e in self.q.entries}) == len(self.q.entries)


QueueModel.TestCase.settings = settings(
    max_examples=300, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
test_queue_against_model = QueueModel.TestCase
