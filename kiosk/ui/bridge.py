"""Brings bus events onto the Kivy main thread as ``on_<name>`` Kivy events.

Widgets ``bind(on_queue_updated=handler)`` on the one ``KivyEventBridge`` and receive
``handler(bridge, event)`` on the main thread, in the order the events were published. Kivy's
``Clock.schedule_once`` is thread-safe and runs callbacks in the order they were scheduled, so one
callback per event keeps the order without a queue of our own.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from kivy.clock import Clock
from kivy.event import EventDispatcher

from kiosk.core.bus import EventBus, Subscription
from kiosk.core.events import ALL_EVENTS, Event, kivy_event_name

log = logging.getLogger(__name__)


class KivyEventBridge(EventDispatcher):  # type: ignore[misc]
    """One Kivy event per bus event type: ``on_library_updated``, ``on_queue_updated``, ..."""

    _kivy_names = {cls: kivy_event_name(cls.name) for cls in ALL_EVENTS}

    def __init__(self, bus: EventBus, **kwargs: Any) -> None:
        for name in self._kivy_names.values():
            self.register_event_type(name)
        super().__init__(**kwargs)
        self._subscription: Subscription | None = bus.subscribe_all(self._from_any_thread)

    def _from_any_thread(self, event: Event) -> None:
        name = self._kivy_names.get(type(event))
        if name is None:
            log.warning("no Kivy event for %s", event.name)
            return
        Clock.schedule_once(partial(self._dispatch, name, event), 0)

    def _dispatch(self, name: str, event: Event, _dt: float) -> None:
        self.dispatch(name, event)

    def close(self) -> None:
        if self._subscription is not None:
            self._subscription.cancel()
            self._subscription = None


def _default_handler(self: KivyEventBridge, event: Event) -> None:
    """Kivy requires a default handler per registered event; it does nothing."""


for _name in KivyEventBridge._kivy_names.values():
    setattr(KivyEventBridge, _name, _default_handler)
