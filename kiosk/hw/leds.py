"""Status LEDs driven from bus events: playing (steady), importing (blinking), error (lit a while).

Bus handlers run in the publisher's thread (the player, the importer), so they only work out what
each LED should show and hand the pin writes to the controls' timer thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Literal, Protocol

from kiosk.core.bus import EventBus, Subscription
from kiosk.core.events import AppError, ImportState, PlayerError, PlayerState, StickState
from kiosk.hw.controls_timer import Scheduler

log = logging.getLogger(__name__)

LedMode = Literal["off", "on", "blink"]

#: Half a blink period while importing, in seconds.
BLINK_S = 0.3


class LedDevice(Protocol):
    """The gpiozero ``LED`` methods used here."""

    def on(self) -> None: ...
    def off(self) -> None: ...
    def blink(
        self, on_time: float = ..., off_time: float = ..., n: int | None = ..., background: bool = ...
    ) -> None: ...


class StatusLeds:
    """Keeps each configured LED in the mode the latest events call for."""

    def __init__(self, leds: dict[str, LedDevice], scheduler: Scheduler, error_hold: float = 10.0) -> None:
        self._leds = leds
        self._scheduler = scheduler
        self._error_hold = error_hold
        self._wanted: dict[str, LedMode] = dict.fromkeys(leds, "off")
        self._shown: dict[str, LedMode] = {}
        self._error_generation = 0
        self._lock = threading.Lock()  # events arrive from the player, importer and USB threads at once
        self._subscriptions: list[Subscription] = []

    def attach(self, bus: EventBus) -> None:
        handlers: list[tuple[type, Callable[..., None]]] = [
            (PlayerState, self._on_player_state),
            (ImportState, self._on_import_state),
            (StickState, self._on_stick_state),
            (PlayerError, self._on_error),
            (AppError, self._on_error),
        ]
        self._subscriptions = [bus.subscribe(event_type, handler) for event_type, handler in handlers]
        self._scheduler.call_soon(self._apply)

    def detach(self) -> None:
        for subscription in self._subscriptions:
            subscription.cancel()
        self._subscriptions = []

    def wanted(self, role: str) -> LedMode:
        return self._wanted.get(role, "off")

    # --- bus handlers (publisher's thread) -------------------------------------------------------

    def _on_player_state(self, event: PlayerState) -> None:
        self._want("playing", "on" if event.state == "playing" else "off")

    def _on_import_state(self, event: ImportState) -> None:
        running = event.state in ("started", "copying")
        self._want("importing", "blink" if running else "off")
        if event.state == "failed":
            self._flag_error()

    def _on_stick_state(self, event: StickState) -> None:
        if event.state in ("removed", "safe-to-remove", "error"):
            self._want("importing", "off")
        if event.state == "error":
            self._flag_error()

    def _on_error(self, event: PlayerError | AppError) -> None:
        self._flag_error()

    # --- state ---------------------------------------------------------------------------------------

    def _want(self, role: str, mode: LedMode) -> None:
        with self._lock:
            if role not in self._leds or self._wanted.get(role) == mode:
                return  # player state arrives several times a second; only changes cost a pin write
            self._wanted[role] = mode
        self._scheduler.call_soon(self._apply)

    def _flag_error(self) -> None:
        if "error" not in self._leds:
            return
        with self._lock:
            self._error_generation += 1
            generation = self._error_generation
        self._want("error", "on")
        self._scheduler.call_at(self._scheduler.now() + self._error_hold, lambda: self._error_expired(generation))

    def _error_expired(self, generation: int) -> None:
        if generation == self._error_generation:  # a later error restarts the hold
            self._want("error", "off")

    def _apply(self) -> None:
        """Timer thread: writes the pins whose mode changed."""
        with self._lock:
            wanted = list(self._wanted.items())
        for role, mode in wanted:
            if self._shown.get(role) == mode:
                continue
            led = self._leds[role]
            try:
                if mode == "on":
                    led.on()
                elif mode == "blink":
                    led.blink(on_time=BLINK_S, off_time=BLINK_S, n=None, background=True)
                else:
                    led.off()
            except Exception:
                log.exception("LED %r could not be set %s", role, mode)
                continue
            self._shown[role] = mode
