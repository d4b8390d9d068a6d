"""The screen's backlight through sysfs (``/sys/class/backlight/*``).

The Pi's DSI displays (the 7" Touch Display and Touch Display 2) and most DSI/DPI panels expose a
kernel backlight device: ``brightness`` (0..``max_brightness``) and ``bl_power`` (0 on, 4 off).
HDMI screens expose none; then the UI's black shade stands in for the backlight
(``kiosk.ui.light.ScreenLight``, owned by the shell, decides which).
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)

SYSFS_BACKLIGHT = Path("/sys/class/backlight")

#: ``bl_power`` values (the kernel's FB_BLANK_UNBLANK and FB_BLANK_POWERDOWN).
POWER_ON = 0
POWER_OFF = 4


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
