"""Checking the [buttons], [encoder] and [leds] config: every mistake named by pin, before any pin is touched.

Each bad-config test says what was tried; what must survive is the same for all of them: no pin is
claimed (the mock factory has not even looked one up) and the error names the pin and the problem.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from kiosk.config import load_config
from kiosk.core.actions import ACTIONS
from kiosk.core.bus import RecordingBus
from kiosk.hw.buttons import build_controls
from kiosk.hw.controls_config import HAT_PINS, ControlsConfigError, controls_from_config, parse_controls

GOOD_BUTTONS = {"pins": {"17": {"short": "next"}}}


def problems_of(buttons: Any = None, encoder: Any = None, leds: Any = None) -> list[str]:
    """Parses the tables, expecting a ``ControlsConfigError``; also checks no pin gets claimed."""
    with pytest.raises(ControlsConfigError) as caught:
        parse_controls(buttons, encoder, leds)
    factory = MockFactory()
    with pytest.raises(ControlsConfigError):
        build_controls({"buttons": buttons, "encoder": encoder, "leds": leds}, None, RecordingBus(), factory)
    assert factory.pins == {}, "a pin was touched although the config was refused"
    return caught.value.problems


def test_the_shipped_defaults_are_a_valid_five_button_box_with_a_knob_and_three_leds() -> None:
    spec = controls_from_config(load_config(config_file=None))
    assert len(spec.buttons) == 5
    assert spec.encoder is not None and spec.encoder.button is not None
    assert {led.role for led in spec.leds} == {"playing", "importing", "error"}
    assert not set(spec.pins_used()) & set(HAT_PINS["i2s-dac"])  # a DAC HAT fits
    used_actions = {b.short for b in spec.all_buttons} | {b.long for b in spec.all_buttons}
    used_actions |= {spec.encoder.clockwise, spec.encoder.counterclockwise}
    assert used_actions - {None} == set(ACTIONS)  # every action is on some control


def test_an_unknown_action_is_named_with_its_pin() -> None:
    problems = problems_of({"pins": {"17": {"short": "nxt"}, "27": {"short": "next", "long": "explode"}}})
    assert problems[0].startswith("button on pin 17 short press: unknown action 'nxt' (known: play_pause")
    assert problems[1].startswith("button on pin 27 long press: unknown action 'explode'")


@pytest.mark.parametrize(
    ("buttons", "encoder", "leds", "expected"),
    [
        (
            {"pins": {"17": "next", "017": "previous"}}, None, None,
            "pin 17 is used twice: by button on pin 17 and by button on pin 017",
        ),
        (GOOD_BUTTONS, {"a": 17, "b": 6}, None, "pin 17 is used twice: by button on pin 17 and by encoder pin A"),
        (GOOD_BUTTONS, {"a": 5, "b": 6, "button": {"pin": 5, "short": "stop"}}, None, "pin 5 is used twice"),
        (GOOD_BUTTONS, None, {"playing": 12, "error": 12}, "pin 12 is used twice: by LED 'playing' and by LED 'error'"),
    ],
)
def test_a_pin_used_twice_is_refused(buttons: Any, encoder: Any, leds: Any, expected: str) -> None:
    assert any(p.startswith(expected) for p in problems_of(buttons, encoder, leds)), expected


@pytest.mark.parametrize(("pin", "need"), [(18, "I2S"), (19, "I2S"), (20, "I2S"), (21, "I2S"), (2, "I2C"), (3, "I2C")])
def test_pins_the_audio_hat_needs_are_refused(pin: int, need: str) -> None:
    problems = problems_of({"pins": {str(pin): "next"}})
    assert problems == [f"button on pin {pin}: pin {pin} is needed by the audio HAT for {HAT_PINS['i2s-dac'][pin]}"]
    assert need in problems[0]


def test_hat_pins_are_refused_for_the_knob_and_leds_too() -> None:
    problems = problems_of(GOOD_BUTTONS, {"a": 20, "b": 6}, {"error": 3})
    assert "encoder pin A: pin 20 is needed by the audio HAT for I2S (data in)" in problems
    assert "LED 'error': pin 3 is needed by the audio HAT for I2C (SCL), the DAC's control bus" in problems


def test_without_a_hat_the_i2s_pins_are_free_to_use() -> None:
    spec = parse_controls({"audio_hat": "none", "pins": {"18": "next", "2": "previous"}}, None, None)
    assert [b.pin for b in spec.buttons] == [18, 2]


@pytest.mark.parametrize(
    ("buttons", "expected"),
    [
        ({"pins": {"30": "next"}}, "button on pin 30: pin 30 is not a GPIO on the 40-pin header (BCM 0-27)"),
        ({"pins": {"GPIO17": "next"}}, "[buttons.pins] key 'GPIO17' is not a BCM pin number"),
        ({"pins": {"17": 5}}, "button on pin 17: expected an action name or a table"),
        ({"pins": {"17": {"short": "next", "lnog": "stop"}}}, "button on pin 17: unknown key 'lnog'"),
        ({"pins": {"17": {"name": "Next"}}}, "button on pin 17: give a short and/or a long action"),
        ({"pins": {"17": {"short": "next", "repeat": True}}}, "button on pin 17: next cannot repeat while held"),
        (
            {"pins": {"17": {"short": "volume_up", "long": "mute", "repeat": True}}},
            "button on pin 17: a button cannot both repeat while held and have a long-press action",
        ),
        ({"pins": {"17": "next"}, "debounce_ms": 5000}, "[buttons]: debounce_ms = 5000 is outside 0-500"),
        ({"pins": {"17": "next"}, "long_press_ms": "long"}, "[buttons]: long_press_ms must be a number"),
        ({"pins": {"17": "next"}, "audio_hat": "hifiberry"}, "[buttons] audio_hat = 'hifiberry' is not one of"),
        ({"pins": {"17": "next"}, "bounce_time": 1}, "[buttons]: unknown key 'bounce_time'"),
    ],
)
def test_malformed_button_entries_are_named(buttons: Any, expected: str) -> None:
    assert any(p.startswith(expected) for p in problems_of(buttons)), problems_of(buttons)


def test_encoder_and_led_mistakes_are_named() -> None:
    problems = problems_of(
        GOOD_BUTTONS, {"a": 5, "clockwise": "louder", "button": 13}, {"playing": True, "blinking": 4}
    )
    assert "[encoder] needs pin b (BCM number)" in problems
    assert any(p.startswith("encoder clockwise: unknown action 'louder'") for p in problems)
    assert any(p.startswith("[encoder] button must be a table with a pin") for p in problems)
    assert "LED 'playing': pin must be a BCM GPIO number, not True" in problems
    assert any(p.startswith("[leds]: unknown key 'blinking'") for p in problems)


def test_every_problem_is_reported_at_once_in_one_message() -> None:
    with pytest.raises(ControlsConfigError) as caught:
        parse_controls({"pins": {"17": "nxt", "18": "next"}}, {"a": 17, "b": 6}, {"error": 40})
    message = str(caught.value)
    assert message.startswith("buttons config: ")
    for fragment in ("unknown action 'nxt'", "pin 18 is needed by the audio HAT", "pin 17 is used twice", "pin 40"):
        assert fragment in message


def test_a_user_config_file_replaces_the_default_map_and_is_checked(tmp_path: Path) -> None:
    config_file = tmp_path / "config.toml"
    config_file.write_text('[buttons.pins]\n4 = "next"\n19 = { short = "stop" }\n', "utf-8")
    with pytest.raises(ControlsConfigError, match=r"button on pin 19: pin 19 is needed by the audio HAT for I2S"):
        controls_from_config(load_config(tmp_path, config_file))
    config_file.write_text('[buttons.pins]\n4 = "next"\n', "utf-8")
    spec = controls_from_config(load_config(tmp_path, config_file))
    assert [(b.pin, b.short) for b in spec.buttons] == [(4, "next")]
    assert spec.encoder is not None  # [encoder] was not given, so the default knob stays


def test_the_cli_prints_config_errors_cleanly(tmp_path: Path) -> None:
    """`kiosk buttons show` with a bad map: exit 2, one line naming the pin, no traceback; the file is untouched."""
    config_file = tmp_path / "config.toml"
    text = '[buttons.pins]\n17 = "next"\n27 = "jump"\n'
    config_file.write_text(text, "utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "kiosk", "--data-dir", str(tmp_path), "--config", str(config_file), "buttons", "show"],
        capture_output=True, text=True, timeout=60, env={**os.environ},
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("kiosk: buttons config: button on pin 27 short press: unknown action 'jump'")
    assert config_file.read_text("utf-8") == text
