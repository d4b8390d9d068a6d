"""The in-process event bus every part of the jukebox talks through.

Handlers run synchronously in the publisher's thread, so an event reaches every subscriber before
``publish`` returns and events from one thread arrive in the order they were published. Handlers
must therefore be quick; anything slow (the Kivy bridge, a JSON writer) hands the event on to its
own thread or loop. A failing handler is logged and never reaches the publisher.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from kiosk.core.events import Event

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)
Handler = Callable[[Any], None]


class Subscription:
    """Returned by ``subscribe``; call ``cancel()`` to stop receiving events."""

    __slots__ = ("_bus", "_handler", "_key")

    def __init__(self, bus: EventBus, key: type[Event] | None, handler: Handler) -> None:
        self._bus, self._key, self._handler = bus, key, handler

    def cancel(self) -> None:
        self._bus._remove(self._key, self._handler)


class EventBus:
    """Thread-safe publish/subscribe by event type.

    Subscriber lists are copied on write, so ``publish`` takes no lock and scales with threads.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_type: dict[type[Event], tuple[Handler, ...]] = {}
        self._all: tuple[Handler, ...] = ()

    def subscribe(self, event_type: type[E], handler: Callable[[E], None]) -> Subscription:
        with self._lock:
            self._by_type[event_type] = (*self._by_type.get(event_type, ()), handler)
        return Subscription(self, event_type, handler)

    def subscribe_all(self, handler: Callable[[Event], None]) -> Subscription:
        with self._lock:
            self._all = (*self._all, handler)
        return Subscription(self, None, handler)

    def _remove(self, key: type[Event] | None, handler: Handler) -> None:
        with self._lock:
            if key is None:
                self._all = tuple(h for h in self._all if h is not handler)
            else:
                self._by_type[key] = tuple(h for h in self._by_type.get(key, ()) if h is not handler)

    def publish(self, event: Event) -> None:
        for handler in self._by_type.get(type(event), ()):
            self._call(handler, event)
        for handler in self._all:
            self._call(handler, event)

    @staticmethod
    def _call(handler: Handler, event: Event) -> None:
        try:
            handler(event)
        except Exception:
            log.exception("event handler %r failed on %s", handler, event.name)


class RecordingBus(EventBus):
    """A bus that also keeps every event it published, for tests and the JSON CLI."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[Event] = []
        self._rec_lock = threading.Lock()

    def publish(self, event: Event) -> None:
        with self._rec_lock:
            self.events.append(event)
        super().publish(event)

    def of_type(self, event_type: type[E]) -> list[E]:
        with self._rec_lock:
            return [e for e in self.events if isinstance(e, event_type)]
