"""The policy that applies ``screen.brightness`` and the screen's idle state (awake, dim, asleep) to the
display: a kernel backlight when the screen has one (``kiosk.hw.backlight``), the UI's black shade when
it has none. Nothing here imports Kivy: the shell hands in the shade's setter."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, Protocol

ScreenState = Literal["awake", "dim", "asleep"]

#: How much light is left while dimmed, as a fraction of the owner's brightness.
DIM_FRACTION = 0.35


class Backlight(Protocol):
    """What the policy needs of a backlight device (``kiosk.hw.backlight.SysfsBacklight``)."""

    def set_percent(self, percent: float) -> bool: ...

    def set_power(self, on: bool) -> bool: ...


class ScreenLight:
    """Applies brightness and the idle state: to the backlight, or as the shade's opacity without one.

    ``shade(alpha)`` sets the UI's black layer (0 clear, 1 black). With a backlight the shade stays
    clear while awake or dim (the light itself dims) and black while asleep; a backlight that
    cannot be written is treated like none, so the owner's setting still shows.
    """

    def __init__(self, backlight: Backlight | None, shade: Callable[[float], None],
                 brightness: Callable[[], object]) -> None:
        self.backlight = backlight
        self._shade = shade
        self._brightness = brightness
        self.state: ScreenState = "awake"

    def percent(self) -> int:
        value = self._brightness()
        return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 100

    def apply(self, state: ScreenState | None = None) -> None:
        """Call with each new screen state, and with no argument when ``screen.brightness`` changed."""
        if state is not None:
            self.state = state
        percent = self.percent()
        light = {"awake": percent, "dim": percent * DIM_FRACTION, "asleep": 0.0}[self.state]
        if self.backlight is not None and self._apply_backlight(light):
            self._shade(1.0 if self.state == "asleep" else 0.0)
        else:
            self._shade(min(1.0, max(0.0, 1.0 - light / 100)))

    def _apply_backlight(self, light: float) -> bool:
        assert self.backlight is not None
        if self.state == "asleep":
            return self.backlight.set_power(False)
        return self.backlight.set_percent(light) and self.backlight.set_power(True)
