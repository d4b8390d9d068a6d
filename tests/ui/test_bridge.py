"""Bus events reach bound Kivy handlers on the Kivy main thread, in publish order."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from kivy.clock import Clock

from kiosk.core.bus import EventBus
from kiosk.core.events import ALL_EVENTS, Event, FavoritesUpdated, kivy_event_name
from kiosk.ui.bridge import KivyEventBridge
from tests.core.test_events import SAMPLES


def _pump_until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        Clock.tick()
        time.sleep(0.001)


def test_every_event_type_has_a_kivy_event_and_arrives_on_the_main_thread() -> None:
    bus = EventBus()
    bridge = KivyEventBridge(bus)
    main = threading.get_ident()
    received: list[tuple[str, Event, int]] = []
    for cls in ALL_EVENTS:
        name = kivy_event_name(cls.name)
        bridge.bind(**{name: lambda _b, e, n=name: received.append((n, e, threading.get_ident()))})

    def publish_samples() -> None:
        for sample in SAMPLES:
            bus.publish(sample)

    worker = threading.Thread(target=publish_samples)
    worker.start()
    worker.join()
    _pump_until(lambda: len(received) == len(SAMPLES))
    bridge.close()
    assert [e for _, e, _ in received] == SAMPLES  # every event, in publish order
    assert all(n == kivy_event_name(e.name) for n, e, _ in received)
    assert {t for _, _, t in received} == {main}


def test_order_is_kept_across_many_events_from_several_threads() -> None:
    bus = EventBus()
    bridge = KivyEventBridge(bus)
    got: list[int] = []
    published: list[int] = []
    lock = threading.Lock()
    bridge.bind(on_favorites_updated=lambda _b, e: got.append(e.track_id))

    def publish(base: int) -> None:
        for i in range(500):
            with lock:  # the lock fixes one global publish order to compare against
                published.append(base + i)
                bus.publish(FavoritesUpdated(action="added", track_id=base + i))

    threads = [threading.Thread(target=publish, args=(t * 10_000,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    _pump_until(lambda: len(got) == len(published))
    bridge.close()
    assert got == published


def test_closed_bridge_stops_listening() -> None:
    bus = EventBus()
    bridge = KivyEventBridge(bus)
    got: list[Event] = []
    bridge.bind(on_favorites_updated=lambda _b, e: got.append(e))
    bridge.close()
    bus.publish(FavoritesUpdated(action="added", track_id=1))
    for _ in range(5):
        Clock.tick()
    assert got == []


def test_scan_progress_waiting_for_the_main_thread_is_replaced_by_newer_progress_in_order() -> None:
    from kiosk.core.events import LibraryScanComplete, LibraryScanProgress

    def progress(n: int) -> LibraryScanProgress:
        return LibraryScanProgress(job_id="j", status="reading", scanned=n, found=n, errors=0,
                                   current_path=f"{n}.flac", total=5000)

    bus = EventBus()
    bridge = KivyEventBridge(bus)
    received: list[Event] = []
    bridge.bind(on_library_scan_progress=lambda _b, e: received.append(e),
                on_library_scan_complete=lambda _b, e: received.append(e),
                on_favorites_updated=lambda _b, e: received.append(e))
    favorite = FavoritesUpdated(action="added", track_id=7)
    complete = LibraryScanComplete(job_id="j", added=3000, skipped=0, errors=0, duration_ms=900)

    def publish() -> None:  # a flood faster than the screen: the main loop does not run meanwhile
        for n in range(1, 2001):
            bus.publish(progress(n))
        bus.publish(favorite)  # something else in between: the progress before it is not replaced
        for n in range(2001, 3001):
            bus.publish(progress(n))
        bus.publish(complete)

    worker = threading.Thread(target=publish)
    worker.start()
    worker.join()
    _pump_until(lambda: complete in received)
    bridge.close()
    # The newest progress before each other event survives, nothing arrives out of order.
    assert received == [progress(2000), favorite, progress(3000), complete]
