"""The screen's backlight through sysfs (``/sys/class/backlight/*``), and the policy that applies
``screen.brightness`` and the screen's idle state (awake, dim, asleep) to it.

The Pi's DSI displays (the 7" Touch Display and Touch Display 2) and most DSI/DPI panels expose a
kernel backlight device: ``brightness`` (0..``max_brightness``) and ``bl_power`` (0 on, 4 off).
HDMI screens expose none; then the UI's black shade stands in for the backlight (``ScreenLight``
is told where to send the shade's opacity). Nothing here imports Kivy: the UI hands in a callback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)

SYSFS_BACKLIGHT = Path("/sys/class/backlight")

#: ``bl_power`` values (the kernel's FB_BLANK_UNBLANK and FB_BLANK_POWERDOWN).
POWER_ON = 0
POWER_OFF = 4

ScreenState = Literal["awake", "dim", "asleep"]

#: How much light is left while dimmed, as a fraction of the owner's brightness.
DIM_FRACTION = 0.35


class SysfsBacklight:
    """One kernel backlight device. Writes that fail are logged once, clearly, and answer False."""

    def __init__(self, device: Path) -> None:
        self.device = device
        self.name = device.name
        self.max_brightness = int((device / "max_brightness").read_text().strip())
        if self.max_brightness <= 0:
            raise ValueError(f"backlight {self.name}: max_brightness is {self.max_brightness}")
        self._warned: set[str] = set()

    @classmethod
    def find(cls, root: Path = SYSFS_BACKLIGHT) -> SysfsBacklight | None:
        """The first usable backlight device under ``root`` (sorted by name), or None with a log line why."""
        try:
            devices = sorted(p for p in root.iterdir() if (p / "brightness").exists())
        except OSError as exc:
            log.info("no backlight device (%s: %s); the screen is dimmed in software", root, exc.strerror or exc)
            return None
        for device in devices:
            try:
                backlight = cls(device)
            except (OSError, ValueError) as exc:
                log.warning("backlight %s is unusable (%s); trying the next one", device.name, exc)
                continue
            log.info("backlight %s (max_brightness %d)", backlight.name, backlight.max_brightness)
            return backlight
        log.info("no backlight device under %s; the screen is dimmed in software", root)
        return None

    def level_for(self, percent: float) -> int:
        """The raw level for a percentage; anything above 0 % stays at least 1, so the screen never goes dark."""
        percent = min(100.0, max(0.0, percent))
        if percent == 0:
            return 0
        return max(1, round(self.max_brightness * percent / 100))

    def brightness_percent(self) -> float | None:
        """What the device holds now, in percent (None if it cannot be read)."""
        try:
            return int((self.device / "brightness").read_text().strip()) * 100 / self.max_brightness
        except (OSError, ValueError) as exc:
            self._warn_once("read", f"cannot read backlight {self.name}/brightness: {exc}")
            return None

    def set_percent(self, percent: float) -> bool:
        return self._write("brightness", self.level_for(percent))

    def set_power(self, on: bool) -> bool:
        """``bl_power``; a device without it (some panels) counts as done: brightness alone then applies."""
        if not (self.device / "bl_power").exists():
            return True
        return self._write("bl_power", POWER_ON if on else POWER_OFF)

    def _write(self, attribute: str, value: int) -> bool:
        try:
            (self.device / attribute).write_text(f"{value}\n")
        except OSError as exc:
            self._warn_once(attribute, (
                f"cannot write backlight {self.name}/{attribute} ({exc.strerror or exc}); is the udev rule "
                "90-kiosk-backlight.rules installed and the user in the video group?"
            ))
            return False
        self._warned.discard(attribute)
        return True

    def _warn_once(self, what: str, message: str) -> None:
        if what not in self._warned:
            self._warned.add(what)
            log.warning("%s", message)


class ScreenLight:
    """Applies brightness and the idle state: to the backlight, or as the shade's opacity without one.

    ``shade(alpha)`` sets the UI's black layer (0 clear, 1 black). With a backlight the shade stays
    clear while awake or dim (the light itself dims) and black while asleep; a backlight that
    cannot be written is treated like none, so the owner's setting still shows.
    """

    def __init__(self, backlight: SysfsBacklight | None, shade: Callable[[float], None],
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
