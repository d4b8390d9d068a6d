"""`kiosk buttons show` and `kiosk buttons test`, run as the real command in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from gpiozero import Device

from kiosk.core.bus import RecordingBus
from kiosk.hw.buttons import GpioUnavailableError, build_controls


def kiosk(tmp_path: Path, *args: str, stdin: str = "", without_gpio: bool = False) -> subprocess.CompletedProcess[str]:
    """Runs the command with the embedded defaults only (an empty config file)."""
    env = dict(os.environ)
    if without_gpio:
        env.pop("GPIOZERO_PIN_FACTORY", None)  # as on a desktop: gpiozero finds no pin factory
    else:
        env["GPIOZERO_PIN_FACTORY"] = "mock"  # gpiozero's default factory becomes mock pins
    empty = tmp_path / "empty.toml"
    empty.write_text("", "utf-8")
    command = [sys.executable, "-m", "kiosk", "--data-dir", str(tmp_path), "--config", str(empty), *args]
    return subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=120, env=env)


def test_buttons_test_on_a_machine_without_gpio_says_so_and_exits_2(tmp_path: Path) -> None:
    result = kiosk(tmp_path, "buttons", "test", without_gpio=True)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("kiosk: no GPIO on this machine, so buttons, knob and LEDs are off")
    assert "kiosk buttons test --mock" in result.stderr
    assert "Traceback" not in result.stderr and "PinFactoryFallback" not in result.stderr


def test_build_controls_without_gpio_raises_a_kiosk_error_the_app_can_log(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GPIOZERO_PIN_FACTORY", raising=False)
    monkeypatch.setattr(Device, "pin_factory", None)
    if os.path.exists("/proc/device-tree/model"):
        pytest.skip("this machine may have real GPIO")
    with pytest.raises(GpioUnavailableError, match="no GPIO on this machine"):
        build_controls({"buttons": {"pins": {"17": "next"}}}, None, RecordingBus())


def test_buttons_test_with_mock_pins_prints_each_press_as_it_happens(tmp_path: Path) -> None:
    script = "\n".join(
        [
            "press 17",  # Previous
            "bounce 27",  # Next, with contact chatter: still one press
            "press 24",  # Mode: short = shuffle
            "hold 24 1.2",  # Mode: long = repeat
            "turn cw 2",
            "turn ccw",
            "press 13",  # knob push: play/pause
            "press 99",  # no such button: a hint, and the session goes on
            "press 25",  # Eject
            "quit",
        ]
    )
    result = kiosk(tmp_path, "buttons", "test", "--mock", stdin=script + "\n")
    assert result.returncode == 0, result.stderr
    presses = [line for line in result.stdout.splitlines() if line.startswith("pin ")]
    assert [line.split()[1:4] for line in presses] == [
        ["17", "short", "previous"],
        ["27", "short", "next"],
        ["24", "short", "shuffle"],
        ["24", "long", "repeat"],
        ["5/6", "clockwise", "volume_up"],
        ["5/6", "clockwise", "volume_up"],
        ["5/6", "counterclockwise", "volume_down"],
        ["13", "short", "play_pause"],
        ["25", "short", "eject"],
    ]
    assert presses[0] == "pin 17     short             previous     (button 'Previous')"
    assert "? no button on pin 99 (buttons: 13, 17, 23, 24, 25, 27)" in result.stdout
    assert result.stdout.startswith("listening on mock pins:\n  BCM 5/6    knob (A/B)")


def test_buttons_show_prints_the_checked_map(tmp_path: Path) -> None:
    result = kiosk(tmp_path, "buttons", "show")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "audio HAT pins kept free: i2s-dac"
    assert "  BCM 23     button 'Favorite'      short=favorite; long=mute" in lines
    assert "  BCM 13     knob push switch       short=play_pause; long=stop" in lines
    assert len(lines) == 1 + 10  # five buttons, the knob's A/B and switch, three LEDs


def test_buttons_test_on_the_default_pin_factory_flashes_the_leds_and_listens(tmp_path: Path) -> None:
    """The non-mock path: gpiozero's default factory (mock pins here, via GPIOZERO_PIN_FACTORY; lgpio on a Pi)."""
    result = kiosk(tmp_path, "buttons", "test", "--leds", "--seconds", "0.2")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "listening on GPIO pins:"
    assert [line for line in lines if line.startswith("LED ")] == [
        "LED 'playing' on pin 12: on for a second",
        "LED 'importing' on pin 16: on for a second",
        "LED 'error' on pin 26: on for a second",
    ]
    assert lines[-1] == "press the buttons and turn the knob; Ctrl-C ends"
