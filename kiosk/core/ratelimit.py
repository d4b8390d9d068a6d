"""Rate limiting for chatty events (position, scan progress): a few per second, never the last lost."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Throttle(Generic[T]):
    """Passes at most one item per ``interval`` seconds; ``flush`` always sends the latest.

    Call ``offer(item)`` for every update and ``flush()`` when the work ends so the final state is
    delivered even when it came inside the interval.
    """

    def __init__(
        self, send: Callable[[T], None], interval: float = 0.25, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._send, self._interval, self._clock = send, interval, clock
        self._last_sent = float("-inf")
        self._pending: T | None = None
        self._has_pending = False
        self._lock = threading.Lock()

    def due(self) -> bool:
        """Whether an ``offer`` now would send at once: lets a caller skip building an item that would wait."""
        with self._lock:
            return self._clock() - self._last_sent >= self._interval

    def offer(self, item: T) -> bool:
        """Send ``item`` now if the interval has passed, else keep it; returns whether it was sent."""
        with self._lock:
            now = self._clock()
            if now - self._last_sent < self._interval:
                self._pending, self._has_pending = item, True
                return False
            self._last_sent = now
            self._pending, self._has_pending = None, False
        self._send(item)
        return True

    def flush(self) -> None:
        with self._lock:
            if not self._has_pending:
                return
            item = self._pending
            self._pending, self._has_pending = None, False
            self._last_sent = self._clock()
        self._send(item)  # type: ignore[arg-type]
