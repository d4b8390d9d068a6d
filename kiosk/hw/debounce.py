"""One button's contact, read into exactly one action per physical press.

Mock pins ignore gpiozero's ``bounce_time`` and lgpio's kernel filter differs between Pi models, so
the filtering that matters is ours and pure: it is fed raw contact edges with their times and asked
what is due at a given time, so tests drive it with a fake clock and bursts of bounces.

- A closure counts as a press once the contact has stayed closed for ``ghost`` (shorter spikes are
  noise on long wires, not presses).
- A press counts as released once the contact has stayed open for ``debounce``; any closure inside
  that window is bounce of the same press, so a bouncing release can never become a second press.
- A button with a ``long`` action decides at release (short) or once held ``long_press`` (long);
  a ``repeat`` button acts on the press, then every ``repeat_interval`` after ``repeat_delay``.
"""

from __future__ import annotations

from dataclasses import dataclass

from kiosk.hw.controls_config import ButtonSpec, PressKind, Timing


@dataclass(frozen=True, slots=True)
class Fired:
    """An action the button has decided on; ``at`` is the (logical) time of the decision."""

    kind: PressKind
    action: str
    at: float


class ButtonLogic:
    """The debounce and press-type state machine of one button. Not thread-safe: its owner locks."""

    def __init__(self, spec: ButtonSpec, timing: Timing, initially_active: bool = False) -> None:
        self.spec = spec
        self.timing = timing
        # A button held (or stuck) when the jukebox starts counts as pressed already, without acting.
        self.pressed = initially_active
        self._raw = initially_active
        self._long_fired = initially_active
        self._pending_since: float | None = None  # raw edge that began a change not yet confirmed
        self._press_start = 0.0
        self._long_due: float | None = None
        self._long_deferred = False
        self._next_repeat: float | None = None

    # --- inputs ----------------------------------------------------------------------------------

    def edge(self, active: bool, now: float) -> list[Fired]:
        """The contact closed (``active``) or opened at ``now``; returns what is due by then."""
        out = self.poll(now)
        if active == self._raw:
            return out
        self._raw = active
        if active == self.pressed:
            # The change did not hold: a bounce inside a press, or a ghost spike between presses.
            self._pending_since = None
            if active and self._long_deferred:
                # The hold went on through a bounce that looked like a release at the long deadline.
                self._long_deferred = False
                self._long_fired = True
                out.extend(self._fire("long", self.spec.long, now))
        else:
            self._pending_since = now
        out.extend(self.poll(now))
        return out

    def poll(self, now: float) -> list[Fired]:
        """Settles everything due up to ``now``, in time order; calling it early does nothing."""
        out: list[Fired] = []
        while True:
            due = self._next_due()
            if due is None or due[0] > now:
                return out
            when, what = due
            if what == "confirm":
                out.extend(self._confirm(when))
            elif what == "long":
                self._long_due = None
                if self._pending_since is not None:  # a release is pending: decide when it settles
                    self._long_deferred = True
                else:
                    self._long_fired = True
                    out.extend(self._fire("long", self.spec.long, when))
            else:  # repeat
                assert self._next_repeat is not None
                self._next_repeat += self.timing.repeat_interval
                if self._pending_since is None:
                    out.extend(self._fire("repeat", self.spec.short, when))

    def next_deadline(self) -> float | None:
        """When ``poll`` next has something to do, for the owner's timer."""
        due = self._next_due()
        return None if due is None else due[0]

    # --- internals ---------------------------------------------------------------------------------

    def _next_due(self) -> tuple[float, str] | None:
        candidates: list[tuple[float, int, str]] = []
        if self._pending_since is not None:
            settle = self.timing.debounce if self.pressed else self.timing.ghost
            candidates.append((self._pending_since + settle, 0, "confirm"))
        if self.pressed and self._long_due is not None:
            candidates.append((self._long_due, 1, "long"))
        if self.pressed and self._next_repeat is not None:
            candidates.append((self._next_repeat, 2, "repeat"))
        if not candidates:
            return None
        when, _, what = min(candidates)
        return when, what

    def _confirm(self, when: float) -> list[Fired]:
        assert self._pending_since is not None
        edge_at, self._pending_since = self._pending_since, None
        spec = self.spec
        if not self.pressed:
            self.pressed = True
            self._press_start = edge_at
            self._long_fired = self._long_deferred = False
            if spec.long is not None:
                self._long_due = edge_at + self.timing.long_press
                return []  # short or long is known only at release or at the long deadline
            if spec.repeat:
                self._next_repeat = edge_at + self.timing.repeat_delay
            return self._fire("short", spec.short, when)
        self.pressed = False
        self._long_due = self._next_repeat = None
        self._long_deferred = False
        if spec.long is not None and not self._long_fired:
            return self._fire("short", spec.short, when)
        return []

    @staticmethod
    def _fire(kind: PressKind, action: str | None, when: float) -> list[Fired]:
        return [] if action is None else [Fired(kind, action, when)]
