"""Bring a core Future's result back onto the Kivy main thread, never blocking it.

Every command and read of the Jukebox returns a ``concurrent.futures.Future``. Widgets hand it to
``when_done``; the callback then runs in the Kivy loop (``Clock.schedule_once`` is thread-safe),
so widgets are only ever touched from the main thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from kivy.clock import Clock

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Called on the main thread with a sentence when a command fails; the app shows it as a toast.
error_sink: Callable[[str], None] | None = None


def report_error(text: str) -> None:
    log.warning("%s", text)
    if error_sink is not None:
        error_sink(text)


def when_done(
    future: Future[T] | None,
    on_result: Callable[[T], Any] | None = None,
    on_error: Callable[[BaseException], Any] | None = None,
) -> None:
    """Run ``on_result(value)`` or ``on_error(exc)`` on the Kivy main thread once ``future`` is done.

    Without ``on_error`` a failure is shown to the user through ``error_sink``: a command that was
    refused (a bad PIN length, a playlist name taken) must say so, not vanish.
    """
    if future is None:
        return

    def deliver(_dt: float, fut: Future[T] = future) -> None:
        try:
            value = fut.result()
        except BaseException as exc:  # the command's own error, raised in the core's thread
            if on_error is not None:
                on_error(exc)
            else:
                report_error(str(exc) or type(exc).__name__)
            return
        if on_result is not None:
            on_result(value)

    future.add_done_callback(lambda _f: Clock.schedule_once(deliver, 0))


class Coalesce:
    """Runs ``fn`` at once for a lone change, and at most once per ``interval`` during a burst.

    A single edit shows up on the next frame; a scan adding thousands of tracks reloads the
    screen once a second instead of once per batch.
    """

    def __init__(self, fn: Callable[[], Any], interval: float) -> None:
        self._fn = fn
        self._interval = interval
        self._last = -1e9
        self._trigger = Clock.create_trigger(lambda _dt: self._run(), interval)

    def __call__(self, *_: Any) -> None:
        if self._trigger.is_triggered:
            return
        if Clock.get_boottime() - self._last >= self._interval:
            Clock.schedule_once(lambda _dt: self._run(), 0)
            self._last = Clock.get_boottime()
        else:
            self._trigger()

    def _run(self) -> None:
        self._last = Clock.get_boottime()
        self._fn()


class LatestOnly:
    """Hands out tickets so that only the newest request's answer is used (search as you type)."""

    def __init__(self) -> None:
        self._ticket = 0

    def next(self) -> int:
        self._ticket += 1
        return self._ticket

    def is_current(self, ticket: int) -> bool:
        return ticket == self._ticket
