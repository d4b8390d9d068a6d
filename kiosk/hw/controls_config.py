"""Reads and checks the [buttons], [encoder] and [leds] config sections before any pin is touched.

Every problem is collected and reported at once, each naming the pin and what is wrong, so an owner
fixing a new box sees the whole list; nothing here imports gpiozero, so the check runs anywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from kiosk.core.actions import ACTIONS
from kiosk.core.errors import KioskError

#: GPIO numbers on the Pi's 40-pin header (BCM numbering).
HEADER_GPIOS = range(28)

#: Pins a sound HAT needs, by the kind of HAT named in ``[buttons] audio_hat``.
HAT_PINS: Mapping[str, Mapping[int, str]] = {
    "i2s-dac": {
        0: "the HAT's ID EEPROM (ID_SD)",
        1: "the HAT's ID EEPROM (ID_SC)",
        2: "I2C (SDA), the DAC's control bus",
        3: "I2C (SCL), the DAC's control bus",
        18: "I2S (bit clock)",
        19: "I2S (frame clock)",
        20: "I2S (data in)",
        21: "I2S (data out)",
    },
    "none": {},
}

PressKind = Literal["short", "long", "repeat", "clockwise", "counterclockwise"]
LED_ROLES = ("playing", "importing", "error")


class ControlsConfigError(KioskError):
    """The button, encoder or LED config cannot be used; ``problems`` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("buttons config: " + "; ".join(self.problems))


@dataclass(frozen=True, slots=True)
class Timing:
    """How a contact is read. All in seconds."""

    #: A contact closed for less than this is noise (a ghost press), not a press.
    ghost: float = 0.002
    #: A contact must stay open this long before a press counts as released; closures inside it are bounce.
    debounce: float = 0.020
    #: Held this long, a button with a ``long`` action does that instead of its short one.
    long_press: float = 0.8
    #: Hold-to-repeat: first repeat after this, then every ``repeat_interval``.
    repeat_delay: float = 0.4
    repeat_interval: float = 0.15


@dataclass(frozen=True, slots=True)
class ButtonSpec:
    pin: int
    name: str
    short: str | None = None
    long: str | None = None
    repeat: bool = False

    def describe(self) -> str:
        parts = [f"short={self.short}"] if self.short else []
        if self.long:
            parts.append(f"long={self.long}")
        if self.repeat:
            parts.append("repeat")
        return "; ".join(parts)


@dataclass(frozen=True, slots=True)
class EncoderSpec:
    a: int
    b: int
    clockwise: str
    counterclockwise: str
    button: ButtonSpec | None = None


@dataclass(frozen=True, slots=True)
class LedSpec:
    role: str
    pin: int
    active_high: bool = True


@dataclass(frozen=True, slots=True)
class ControlsConfig:
    """The checked controls: every pin used once, every action known, no pin the HAT needs."""

    buttons: tuple[ButtonSpec, ...] = ()
    encoder: EncoderSpec | None = None
    leds: tuple[LedSpec, ...] = ()
    timing: Timing = field(default_factory=Timing)
    audio_hat: str = "i2s-dac"
    #: Seconds the error LED stays lit after an error.
    error_hold: float = 10.0

    @property
    def all_buttons(self) -> tuple[ButtonSpec, ...]:
        """The buttons plus the encoder's push switch."""
        if self.encoder is not None and self.encoder.button is not None:
            return (*self.buttons, self.encoder.button)
        return self.buttons

    def pins_used(self) -> dict[int, str]:
        """Every claimed pin and what it is, for the wiring table and the CLI."""
        used = {b.pin: f"button {b.name!r}" for b in self.buttons}
        if self.encoder is not None:
            used[self.encoder.a] = "encoder A"
            used[self.encoder.b] = "encoder B"
            if self.encoder.button is not None:
                used[self.encoder.button.pin] = "encoder push switch"
        used.update({led.pin: f"LED {led.role!r}" for led in self.leds})
        return used

    def pins_by_led(self) -> dict[str, int]:
        return {led.role: led.pin for led in self.leds}

    @property
    def is_empty(self) -> bool:
        return not self.buttons and self.encoder is None and not self.leds


class _Checker:
    """Collects problems and the pins seen so far."""

    def __init__(self, reserved: Mapping[int, str]) -> None:
        self.problems: list[str] = []
        self.reserved = reserved
        self.owners: dict[int, str] = {}

    def fail(self, message: str) -> None:
        self.problems.append(message)

    def pin(self, value: Any, what: str) -> int | None:
        """Checks a pin number and claims it for ``what`` (on paper: nothing touches GPIO here)."""
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(f"{what}: pin must be a BCM GPIO number, not {value!r}")
            return None
        if value not in HEADER_GPIOS:
            self.fail(f"{what}: pin {value} is not a GPIO on the 40-pin header (BCM 0-27)")
            return None
        if value in self.reserved:
            self.fail(f"{what}: pin {value} is needed by the audio HAT for {self.reserved[value]}")
            return None
        if value in self.owners:
            self.fail(f"pin {value} is used twice: by {self.owners[value]} and by {what}")
            return None
        self.owners[value] = what
        return value

    def action(self, value: Any, what: str) -> str | None:
        if not isinstance(value, str) or value not in ACTIONS:
            self.fail(f"{what}: unknown action {value!r} (known: {', '.join(ACTIONS)})")
            return None
        return value

    def keys(self, table: Mapping[str, Any], allowed: set[str], what: str) -> None:
        for key in table:
            if key not in allowed:
                self.fail(f"{what}: unknown key {key!r} (allowed: {', '.join(sorted(allowed))})")

    def duration(self, table: Mapping[str, Any], key: str, default: float, low: float, high: float, what: str) -> float:
        """A ``*_ms`` / ``*_s`` number from ``table`` in seconds, or the default."""
        if key not in table:
            return default
        value = table[key]
        scale = 1000.0 if key.endswith("_ms") else 1.0
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(f"{what}: {key} must be a number, not {value!r}")
            return default
        if not low <= value / scale <= high:
            self.fail(f"{what}: {key} = {value} is outside {low * scale:g}-{high * scale:g}")
            return default
        return value / scale


_BUTTON_KEYS = {"name", "short", "long", "repeat"}


def _button(
    check: _Checker, pin_value: Any, entry: Any, what: str, default_name: str, allowed: set[str] = _BUTTON_KEYS
) -> ButtonSpec | None:
    if isinstance(entry, str):  # shorthand: 17 = "next"
        entry = {"short": entry}
    if not isinstance(entry, Mapping):
        check.fail(f"{what}: expected an action name or a table like {{ short = \"next\" }}, not {entry!r}")
        return None
    check.keys(entry, allowed, what)
    pin = check.pin(pin_value, what)
    short = check.action(entry["short"], f"{what} short press") if "short" in entry else None
    long = check.action(entry["long"], f"{what} long press") if "long" in entry else None
    repeat = entry.get("repeat", False)
    problems_before = len(check.problems)
    if not isinstance(repeat, bool):
        check.fail(f"{what}: repeat must be true or false, not {repeat!r}")
    elif "short" not in entry and "long" not in entry:
        check.fail(f"{what}: give a short and/or a long action")
    elif repeat and "long" in entry:
        check.fail(f"{what}: a button cannot both repeat while held and have a long-press action")
    elif repeat and short is not None and not ACTIONS[short].repeatable:
        check.fail(f"{what}: {short} cannot repeat while held (only volume_up and volume_down can)")
    elif repeat and "short" not in entry:
        check.fail(f"{what}: repeat needs a short action to repeat")
    name = entry.get("name", default_name)
    if not isinstance(name, str):
        check.fail(f"{what}: name must be text, not {name!r}")
        name = default_name
    if pin is None or len(check.problems) > problems_before:
        return None
    return ButtonSpec(pin=pin, name=name, short=short, long=long, repeat=bool(repeat))


def parse_controls(
    buttons: Mapping[str, Any] | None, encoder: Mapping[str, Any] | None, leds: Mapping[str, Any] | None
) -> ControlsConfig:
    """Checks the three raw TOML tables; raises ``ControlsConfigError`` listing every problem."""
    buttons = dict(buttons or {})
    encoder = dict(encoder or {})
    leds = dict(leds or {})
    problems: list[str] = []

    hat = buttons.get("audio_hat", "i2s-dac")
    if hat not in HAT_PINS:
        problems.append(f"[buttons] audio_hat = {hat!r} is not one of {', '.join(HAT_PINS)}")
        hat = "i2s-dac"  # check the pins against the stricter rule meanwhile
    check = _Checker(HAT_PINS[hat])
    check.problems.extend(problems)

    check.keys(
        buttons,
        {"audio_hat", "ghost_ms", "debounce_ms", "long_press_ms", "repeat_delay_ms", "repeat_interval_ms", "pins"},
        "[buttons]",
    )
    defaults = Timing()
    timing = Timing(
        ghost=check.duration(buttons, "ghost_ms", defaults.ghost, 0.0, 0.2, "[buttons]"),
        debounce=check.duration(buttons, "debounce_ms", defaults.debounce, 0.0, 0.5, "[buttons]"),
        long_press=check.duration(buttons, "long_press_ms", defaults.long_press, 0.2, 10.0, "[buttons]"),
        repeat_delay=check.duration(buttons, "repeat_delay_ms", defaults.repeat_delay, 0.05, 5.0, "[buttons]"),
        repeat_interval=check.duration(buttons, "repeat_interval_ms", defaults.repeat_interval, 0.02, 5.0, "[buttons]"),
    )

    button_specs: list[ButtonSpec] = []
    pins_table = buttons.get("pins", {})
    if not isinstance(pins_table, Mapping):
        check.fail(f"[buttons.pins] must be a table of BCM pin = action, not {pins_table!r}")
        pins_table = {}
    for key, entry in pins_table.items():
        what = f"button on pin {key}"
        if not str(key).strip().isdigit():
            check.fail(f"[buttons.pins] key {key!r} is not a BCM pin number")
            continue
        spec = _button(check, int(key), entry, what, default_name=f"GPIO{int(key)}")
        if spec is not None:
            button_specs.append(spec)

    encoder_spec: EncoderSpec | None = None
    if encoder and encoder.get("enabled", True) is not False:
        check.keys(encoder, {"enabled", "a", "b", "clockwise", "counterclockwise", "button"}, "[encoder]")
        a = check.pin(encoder.get("a"), "encoder pin A") if "a" in encoder else None
        b = check.pin(encoder.get("b"), "encoder pin B") if "b" in encoder else None
        for side in ("a", "b"):
            if side not in encoder:
                check.fail(f"[encoder] needs pin {side} (BCM number)")
        cw = check.action(encoder.get("clockwise", "volume_up"), "encoder clockwise")
        ccw = check.action(encoder.get("counterclockwise", "volume_down"), "encoder counterclockwise")
        push: ButtonSpec | None = None
        if "button" in encoder:
            entry = encoder["button"]
            if isinstance(entry, Mapping) and "pin" in entry:
                push = _button(
                    check, entry["pin"], entry, f"encoder push switch on pin {entry['pin']}", "Knob",
                    allowed=_BUTTON_KEYS | {"pin"},
                )
            else:
                check.fail('[encoder] button must be a table with a pin, like { pin = 13, short = "play_pause" }')
        if a is not None and b is not None and cw is not None and ccw is not None:
            encoder_spec = EncoderSpec(a=a, b=b, clockwise=cw, counterclockwise=ccw, button=push)

    led_specs: list[LedSpec] = []
    check.keys(leds, {*LED_ROLES, "active_high", "error_hold_s"}, "[leds]")
    active_high = leds.get("active_high", True)
    if not isinstance(active_high, bool):
        check.fail(f"[leds] active_high must be true or false, not {active_high!r}")
        active_high = True
    error_hold = check.duration(leds, "error_hold_s", 10.0, 0.5, 3600.0, "[leds]")
    for role in LED_ROLES:
        if role in leds:
            pin = check.pin(leds[role], f"LED {role!r}")
            if pin is not None:
                led_specs.append(LedSpec(role=role, pin=pin, active_high=active_high))

    if check.problems:
        raise ControlsConfigError(check.problems)
    return ControlsConfig(
        buttons=tuple(button_specs),
        encoder=encoder_spec,
        leds=tuple(led_specs),
        timing=timing,
        audio_hat=hat,
        error_hold=error_hold,
    )


def controls_from_config(config: Any) -> ControlsConfig:
    """From a ``kiosk.config.Config`` (its raw TOML) or a plain mapping of the whole TOML."""
    raw: Mapping[str, Any] = getattr(config, "raw", config) or {}
    return parse_controls(raw.get("buttons"), raw.get("encoder"), raw.get("leds"))
