"""The settings an owner changes from the screen: typed keys, defaults and validation.

Settings live in the library database (they change at run time and must survive a power cut);
the TOML config file holds what is set up once (sound device, buttons, paths).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from kiosk.core.errors import SettingError
from kiosk.core.events import SettingValue


@dataclass(frozen=True, slots=True)
class SettingSpec:
    key: str
    type: type
    default: SettingValue
    doc: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None
    check: Callable[[SettingValue], str | None] | None = None

    def validate(self, value: object) -> SettingValue:
        """Returns the value to store, or raises ``SettingError`` saying what is wrong."""
        if self.type is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if type(value) is not self.type:
            raise SettingError(
                f"setting {self.key!r} takes a {self.type.__name__}, not {type(value).__name__} {value!r}"
            )
        assert isinstance(value, bool | int | float | str)
        if self.choices is not None and value not in self.choices:
            raise SettingError(f"setting {self.key!r} must be one of {', '.join(self.choices)}; got {value!r}")
        if isinstance(value, int | float) and not isinstance(value, bool):
            if self.minimum is not None and value < self.minimum:
                raise SettingError(f"setting {self.key!r} must be at least {self.minimum:g}; got {value!r}")
            if self.maximum is not None and value > self.maximum:
                raise SettingError(f"setting {self.key!r} must be at most {self.maximum:g}; got {value!r}")
        if self.check is not None and (problem := self.check(value)):
            raise SettingError(f"setting {self.key!r}: {problem}")
        return value


def _pin_check(value: SettingValue) -> str | None:
    if value == "" or (isinstance(value, str) and re.fullmatch(r"\d{4,8}", value)):
        return None
    return "a PIN is 4 to 8 digits, or empty for none"


SETTINGS: dict[str, SettingSpec] = {
    s.key: s
    for s in (
        SettingSpec("volume.max", int, 85, "Loudest volume anything may set (0-100).", 0, 100),
        SettingSpec("volume.startup", int, 40, "Volume at power on; capped by volume.max.", 0, 100),
        SettingSpec("volume.step", int, 5, "How much one volume press or knob detent changes.", 1, 25),
        SettingSpec(
            "import.mode", str, "copy", "Copy a stick's music in, or play it from the stick.",
            choices=("copy", "play-from-stick"),
        ),
        SettingSpec("screen.dim_after_s", int, 60, "Idle seconds before the screen dims; 0 never.", 0, 86400),
        SettingSpec("screen.sleep_after_s", int, 300, "Idle seconds before the screen sleeps; 0 never.", 0, 86400),
        SettingSpec("screen.brightness", int, 100, "Brightness when awake (percent).", 5, 100),
        SettingSpec(
            "replaygain.mode", str, "off", "Loudness levelling from tags.", choices=("off", "track", "album")
        ),
        SettingSpec("replaygain.preamp_db", float, 0.0, "Extra gain applied with ReplayGain.", -15.0, 15.0),
        SettingSpec("replaygain.prevent_clipping", bool, True, "Lower the gain where peaks would clip."),
        SettingSpec("lock.pin", str, "", "PIN that guards settings; empty for none.", check=_pin_check),
        SettingSpec("lock.whole_screen", bool, False, "The PIN also locks the whole screen."),
    )
}


def spec_for(key: str) -> SettingSpec:
    try:
        return SETTINGS[key]
    except KeyError:
        raise SettingError(f"unknown setting {key!r}; known: {', '.join(sorted(SETTINGS))}") from None


def validate_setting(key: str, value: object) -> SettingValue:
    return spec_for(key).validate(value)


def defaults() -> dict[str, SettingValue]:
    return {k: s.default for k, s in SETTINGS.items()}
