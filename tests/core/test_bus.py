"""The core event bus: delivery by type, isolation of failing handlers, thread safety."""

from __future__ import annotations

import logging
import threading

import pytest

from kiosk.core.bus import EventBus
from kiosk.core.events import Event, FavoritesUpdated, LibraryUpdated
from kiosk.core.ratelimit import Throttle


def test_handlers_receive_only_their_type_and_all_handlers_receive_everything() -> None:
    bus = EventBus()
    favs: list[Event] = []
    everything: list[Event] = []
    bus.subscribe(FavoritesUpdated, favs.append)
    bus.subscribe_all(everything.append)
    a = FavoritesUpdated(action="added", track_id=1)
    b = LibraryUpdated(action="added", track_ids=(1,))
    bus.publish(a)
    bus.publish(b)
    assert favs == [a]
    assert everything == [a, b]


def test_a_failing_handler_is_logged_and_others_still_run(caplog: pytest.LogCaptureFixture) -> None:
    bus = EventBus()
    got: list[Event] = []

    def broken(event: Event) -> None:
        raise RuntimeError("handler bug")

    bus.subscribe(FavoritesUpdated, broken)
    bus.subscribe(FavoritesUpdated, got.append)
    event = FavoritesUpdated(action="added", track_id=1)
    with caplog.at_level(logging.ERROR):
        bus.publish(event)  # must not raise into the publisher
    assert got == [event]
    assert "handler bug" in caplog.text


def test_cancelled_subscription_receives_nothing_more() -> None:
    bus = EventBus()
    got: list[Event] = []
    sub = bus.subscribe(FavoritesUpdated, got.append)
    bus.publish(FavoritesUpdated(action="added", track_id=1))
    sub.cancel()
    bus.publish(FavoritesUpdated(action="added", track_id=2))
    assert [e.track_id for e in got] == [1]  # type: ignore[attr-defined]


def test_publishing_from_many_threads_delivers_every_event_in_per_thread_order() -> None:
    bus = EventBus()
    lock = threading.Lock()
    seen: dict[int, list[int]] = {}

    def record(event: FavoritesUpdated) -> None:
        thread, seq = divmod(event.track_id, 1_000_000)
        with lock:
            seen.setdefault(thread, []).append(seq)

    bus.subscribe(FavoritesUpdated, record)
    per_thread = 5_000

    def publish(thread: int) -> None:
        for seq in range(per_thread):
            bus.publish(FavoritesUpdated(action="added", track_id=thread * 1_000_000 + seq))

    threads = [threading.Thread(target=publish, args=(t,)) for t in range(4)]
    # Subscribing while others publish must be safe too.
    for t in threads:
        t.start()
    late: list[Event] = []
    bus.subscribe_all(late.append)
    for t in threads:
        t.join()
    assert sorted(seen) == [0, 1, 2, 3]
    for thread, seqs in seen.items():
        assert seqs == list(range(per_thread)), f"thread {thread} out of order or lost events"
    assert len(late) <= 4 * per_thread


def test_throttle_sends_at_most_one_per_interval_and_always_the_last() -> None:
    now = [0.0]
    sent: list[int] = []
    throttle: Throttle[int] = Throttle(sent.append, interval=0.25, clock=lambda: now[0])
    for i in range(100):  # 100 updates over one second
        throttle.offer(i)
        now[0] += 0.01
    throttle.flush()
    assert sent[0] == 0
    assert sent[-1] == 99
    assert len(sent) <= 6
    throttle.flush()  # nothing pending: nothing resent
    assert sent[-1] == 99 and sent.count(99) == 1


def test_throttle_says_when_an_offer_would_go_out_at_once() -> None:
    now = [0.0]
    sent: list[int] = []
    throttle: Throttle[int] = Throttle(sent.append, interval=0.25, clock=lambda: now[0])
    assert throttle.due()
    assert throttle.offer(1)
    now[0] = 0.1
    assert not throttle.due()
    assert not throttle.offer(2)  # kept, as due said
    now[0] = 0.25
    assert throttle.due()
    throttle.flush()  # a flush sends too, so the interval starts again
    assert sent == [1, 2] and not throttle.due()
