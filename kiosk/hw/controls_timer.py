"""The controls' clock and timer: one thread wakes the buttons at their deadlines and drives the LEDs.

Deadlines are hints: a button's logic checks its own times when woken, so a stale or early wake-up
does nothing and nothing needs cancelling. ``ManualScheduler`` is the same interface on a clock
that only moves when told to, for tests and for checking press timing by hand.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger(__name__)

Callback = Callable[[], None]


class Scheduler(Protocol):
    def now(self) -> float: ...
    def call_at(self, when: float, fn: Callback) -> None: ...
    def call_soon(self, fn: Callback) -> None: ...
    def start(self) -> None: ...
    def close(self) -> None: ...


class _Heap:
    def __init__(self) -> None:
        self._items: list[tuple[float, int, Callback]] = []
        self._seq = itertools.count()

    def push(self, when: float, fn: Callback) -> None:
        heapq.heappush(self._items, (when, next(self._seq), fn))

    def peek(self) -> float | None:
        return self._items[0][0] if self._items else None

    def pop_due(self, now: float) -> list[Callback]:
        due = []
        while self._items and self._items[0][0] <= now:
            due.append(heapq.heappop(self._items)[2])
        return due


def _run(fn: Callback) -> None:
    try:
        fn()
    except Exception:
        log.exception("controls timer callback %r failed", fn)


class ThreadScheduler:
    """A daemon thread running callbacks at monotonic times; callers never wait for it."""

    def __init__(self, name: str = "kiosk-controls", clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._heap = _Heap()
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def now(self) -> float:
        return self._clock()

    def call_at(self, when: float, fn: Callback) -> None:
        with self._cond:
            wake = self._heap.peek()
            self._heap.push(when, fn)
            if wake is None or when < wake:
                self._cond.notify()

    def call_soon(self, fn: Callback) -> None:
        self.call_at(self._clock(), fn)

    def start(self) -> None:
        if not self._thread.is_alive() and not self._closed:
            self._thread.start()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._closed:
                    wake = self._heap.peek()
                    now = self._clock()
                    if wake is not None and wake <= now:
                        break
                    self._cond.wait(None if wake is None else wake - now)
                if self._closed:
                    return
                due = self._heap.pop_due(self._clock())
            for fn in due:
                _run(fn)


class ManualScheduler:
    """A clock that moves only on ``advance``; due callbacks run in the caller's thread, in time order."""

    def __init__(self, start: float = 1000.0) -> None:
        self._time = start
        self._heap = _Heap()
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._time

    def call_at(self, when: float, fn: Callback) -> None:
        with self._lock:
            self._heap.push(when, fn)

    def call_soon(self, fn: Callback) -> None:
        self.call_at(self._time, fn)

    def start(self) -> None:
        pass

    def close(self) -> None:
        pass

    def advance(self, seconds: float = 0.0) -> None:
        """Moves the clock on, running each due callback at its own time."""
        target = self._time + seconds
        while True:
            with self._lock:
                wake = self._heap.peek()
                if wake is None or wake > target:
                    break
                self._time = max(self._time, wake)
                due = self._heap.pop_due(self._time)
            for fn in due:
                _run(fn)
        self._time = target
