"""The named actions a button, a knob or a key can trigger, mapped onto the jukebox's commands.

One table serves every physical control: the GPIO buttons and the encoder (kiosk.hw.buttons) and the
desktop keyboard (the UI's shortcuts), so every control can be tried on a laptop without a Pi.
Every command returns a Future at once; ``perform`` never waits for the core.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol

log = logging.getLogger(__name__)


class Commands(Protocol):
    """The part of the Jukebox command API that the controls use."""

    def toggle_play(self) -> Future[Any]: ...
    def stop(self) -> Future[Any]: ...
    def next(self) -> Future[Any]: ...
    def previous(self) -> Future[Any]: ...
    def step_volume(self, steps: int) -> Future[Any]: ...
    def toggle_mute(self) -> Future[Any]: ...
    def toggle_shuffle(self) -> Future[Any]: ...
    def cycle_repeat(self) -> Future[Any]: ...
    def toggle_favorite_current(self) -> Future[Any]: ...
    def eject(self) -> Future[Any]: ...


@dataclass(frozen=True, slots=True)
class Action:
    """A control's job: its config name, a line for people, and the command it sends."""

    name: str
    doc: str
    send: Callable[[Commands], Future[Any]]
    #: Whether holding a button may repeat it (only volume makes sense).
    repeatable: bool = False


ACTIONS: Mapping[str, Action] = MappingProxyType(
    {
        a.name: a
        for a in (
            Action("play_pause", "Play, or pause what plays.", lambda c: c.toggle_play()),
            Action("stop", "Stop playing.", lambda c: c.stop()),
            Action("next", "Skip to the next track.", lambda c: c.next()),
            Action("previous", "Back to the previous track (or the start of this one).", lambda c: c.previous()),
            Action("volume_up", "One volume step louder.", lambda c: c.step_volume(1), repeatable=True),
            Action("volume_down", "One volume step quieter.", lambda c: c.step_volume(-1), repeatable=True),
            Action("mute", "Mute or unmute.", lambda c: c.toggle_mute()),
            Action("shuffle", "Shuffle on or off.", lambda c: c.toggle_shuffle()),
            Action("repeat", "Repeat: off, all, one.", lambda c: c.cycle_repeat()),
            Action("favorite", "Heart or un-heart the current track.", lambda c: c.toggle_favorite_current()),
            Action("eject", "Stop using the USB stick so it can be pulled out.", lambda c: c.eject()),
        )
    }
)

#: Desktop keyboard shortcuts, by Kivy's key names (``Keyboard.keycode_to_string``).
KEY_MAP: Mapping[str, str] = MappingProxyType(
    {
        "spacebar": "play_pause",
        "x": "stop",
        "right": "next",
        "left": "previous",
        "up": "volume_up",
        "down": "volume_down",
        "m": "mute",
        "s": "shuffle",
        "r": "repeat",
        "f": "favorite",
        "e": "eject",
    }
)


class UnknownActionError(KeyError):
    """An action name that is not in ``ACTIONS``."""


def action_named(name: str) -> Action:
    try:
        return ACTIONS[name]
    except KeyError:
        raise UnknownActionError(f"unknown action {name!r}; known: {', '.join(ACTIONS)}") from None


def action_for_key(key: str) -> str | None:
    """The action a desktop key triggers, or None; ``key`` is Kivy's name for it ('spacebar', 'm')."""
    return KEY_MAP.get(key.lower())


def perform(commands: Commands, name: str, source: str = "") -> Future[Any]:
    """Sends the action's command and returns its Future at once; a failure is logged, not raised.

    ``source`` says who asked ("button 17", "key m") for the log line.
    """
    future = action_named(name).send(commands)
    future.add_done_callback(lambda f: _log_failure(f, name, source))
    return future


def _log_failure(future: Future[Any], name: str, source: str) -> None:
    if future.cancelled():
        log.info("%s: %s was cancelled", source or "control", name)
        return
    exc = future.exception()
    if exc is not None:
        # A refused command (no next track, no stick to eject) is normal for a button; the core
        # has already said so on the bus if the screen should show it.
        log.warning("%s: %s failed: %s", source or "control", name, exc)
