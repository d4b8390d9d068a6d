"""Brings bus events onto the Kivy main thread as ``on_<name>`` Kivy events.

Widgets ``bind(on_queue_updated=handler)`` on the one ``KivyEventBridge`` and receive
``handler(bridge, event)`` on the main thread, in the order the events were published. Kivy's
``Clock.schedule_once`` is thread-safe and runs callbacks in the order they were scheduled, so one
callback per event keeps the order without a queue of our own.

Scan progress says where a scan stands, and the newest says it all: while one still waits for the main
thread and nothing was scheduled after it, a newer one takes its place instead of queueing behind it.
A publisher faster than the screen (the benchmark's unthrottled flood) then costs one waiting event,
not a backlog of thousands; the order of everything delivered is unchanged.
"""

from __future__ import annotations

import logging
import threading
from functools import partial
from typing import Any

from kivy.clock import Clock
from kivy.event import EventDispatcher

from kiosk.core.bus import EventBus, Subscription
from kiosk.core.events import ALL_EVENTS, Event, LibraryScanProgress, kivy_event_name

log = logging.getLogger(__name__)

#: Events that state where something stands: a newer one replaces one still waiting (see above).
LATEST_ONLY: frozenset[type[Event]] = frozenset({LibraryScanProgress})


class KivyEventBridge(EventDispatcher):
    """One Kivy event per bus event type: ``on_library_updated``, ``on_queue_updated``, ..."""

    _kivy_names = {cls: kivy_event_name(cls.name) for cls in ALL_EVENTS}

    def __init__(self, bus: EventBus, **kwargs: Any) -> None:
        for name in self._kivy_names.values():
            self.register_event_type(name)
        super().__init__(**kwargs)
        self._lock = threading.Lock()
        self._last: list[Any] | None = None  # [name, event] scheduled most recently, while it waits
        self._subscription: Subscription | None = bus.subscribe_all(self._from_any_thread)

    def _from_any_thread(self, event: Event) -> None:
        kind = type(event)
        name = self._kivy_names.get(kind)
        if name is None:
            log.warning("no Kivy event for %s", event.name)
            return
        with self._lock:  # scheduling under the lock keeps the slots in the Clock's order
            last = self._last
            if kind in LATEST_ONLY and last is not None and type(last[1]) is kind:
                last[1] = event  # still waiting, nothing after it: the newer state replaces it
                return
            slot = self._last = [name, event]
            Clock.schedule_once(partial(self._dispatch, slot), 0)

    def _dispatch(self, slot: list[Any], _dt: float) -> None:
        with self._lock:
            name, event = slot
            if self._last is slot:
                self._last = None
        self.dispatch(name, event)

    def close(self) -> None:
        if self._subscription is not None:
            self._subscription.cancel()
            self._subscription = None


def _default_handler(self: KivyEventBridge, event: Event) -> None:
    """Kivy requires a default handler per registered event; it does nothing."""


for _name in KivyEventBridge._kivy_names.values():
    setattr(KivyEventBridge, _name, _default_handler)
