"""The sysfs backlight adapter against a directory laid out like /sys/class/backlight, and the policy
that turns screen.brightness and the idle state into backlight writes or the UI shade's opacity."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from kiosk.hw.backlight import POWER_OFF, POWER_ON, SysfsBacklight
from kiosk.ui.light import ScreenLight


def make_device(root: Path, name: str, max_brightness: int = 255, brightness: int = 255,
                bl_power: bool = True) -> Path:
    device = root / name
    device.mkdir(parents=True)
    (device / "max_brightness").write_text(f"{max_brightness}\n")
    (device / "brightness").write_text(f"{brightness}\n")
    (device / "actual_brightness").write_text(f"{brightness}\n")
    if bl_power:
        (device / "bl_power").write_text("0\n")
    return device


def read(device: Path, attribute: str) -> int:
    return int((device / attribute).read_text())


def test_finds_the_first_device_and_scales_percent_to_max_brightness(tmp_path: Path) -> None:
    make_device(tmp_path, "rpi_backlight", max_brightness=255)
    make_device(tmp_path, "10-0045", max_brightness=31)
    backlight = SysfsBacklight.find(tmp_path)
    assert backlight is not None and backlight.name == "10-0045"  # sorted by name: the same pick every boot
    device = tmp_path / "10-0045"
    assert backlight.set_percent(100) and read(device, "brightness") == 31
    assert backlight.set_percent(50) and read(device, "brightness") == 16  # round(15.5)
    assert backlight.set_percent(5) and read(device, "brightness") == 2
    assert backlight.brightness_percent() == pytest.approx(2 * 100 / 31)
    assert backlight.set_percent(1) and read(device, "brightness") == 1  # never dark while above 0 %
    assert backlight.set_power(False) and read(device, "bl_power") == POWER_OFF
    assert backlight.set_power(True) and read(device, "bl_power") == POWER_ON


def test_no_device_is_a_log_line_not_a_crash(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="kiosk.hw.backlight")
    assert SysfsBacklight.find(tmp_path / "missing") is None  # no /sys/class/backlight at all (a PC)
    assert SysfsBacklight.find(tmp_path) is None  # the class exists but holds no device (HDMI screen)
    assert sum("dimmed in software" in r.getMessage() for r in caplog.records) == 2


def test_a_broken_device_is_skipped_for_the_next(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    bad = make_device(tmp_path, "a-broken", max_brightness=0)
    (tmp_path / "b-nonsense").mkdir()
    (tmp_path / "b-nonsense" / "brightness").write_text("7\n")
    (tmp_path / "b-nonsense" / "max_brightness").write_text("lots\n")
    good = make_device(tmp_path, "c-panel", max_brightness=100, bl_power=False)
    backlight = SysfsBacklight.find(tmp_path)
    assert backlight is not None and backlight.device == good
    assert "a-broken" in caplog.text and "b-nonsense" in caplog.text
    assert read(bad, "brightness") == 255  # the unusable device was left as it was
    assert backlight.set_power(False)  # a panel without bl_power: brightness alone applies
    assert not (good / "bl_power").exists()


def test_unwritable_brightness_is_logged_once_and_answers_false(tmp_path: Path,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    """Tried: writing brightness where the attribute cannot be written (here a directory stands in for
    a file the user may not write, which even root cannot write to). Must survive: the process, the
    device's other attributes, and one clear warning instead of one per change."""
    device = make_device(tmp_path, "panel", max_brightness=100, brightness=80)
    (device / "brightness").unlink()
    (device / "brightness").mkdir()
    backlight = SysfsBacklight(device)
    assert not backlight.set_percent(30)
    assert not backlight.set_percent(40)
    assert read(device, "bl_power") == POWER_ON
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "cannot write backlight panel/brightness" in warnings[0]
    assert "90-kiosk-backlight.rules" in warnings[0]


class ShadeRecorder:
    """Stands in for the UI's black layer: the alphas it was given, newest last."""

    def __init__(self) -> None:
        self.alphas: list[float] = []

    def __call__(self, alpha: float) -> None:
        self.alphas.append(alpha)


def test_screen_light_drives_the_backlight_and_keeps_the_shade_clear(tmp_path: Path) -> None:
    device = make_device(tmp_path, "panel", max_brightness=200)
    settings = {"screen.brightness": 60}
    shade = ShadeRecorder()
    light = ScreenLight(SysfsBacklight.find(tmp_path), shade, lambda: settings["screen.brightness"])
    light.apply("awake")
    assert (read(device, "brightness"), read(device, "bl_power"), shade.alphas[-1]) == (120, POWER_ON, 0.0)
    light.apply("dim")
    assert (read(device, "brightness"), shade.alphas[-1]) == (42, 0.0)  # 35 % of 60 % of 200
    light.apply("asleep")
    assert (read(device, "bl_power"), shade.alphas[-1]) == (POWER_OFF, 1.0)
    settings["screen.brightness"] = 100
    light.apply()  # the setting changed while asleep: the light stays off
    assert read(device, "bl_power") == POWER_OFF
    light.apply("awake")
    assert (read(device, "brightness"), read(device, "bl_power"), shade.alphas[-1]) == (200, POWER_ON, 0.0)


def test_screen_light_without_a_backlight_uses_the_shade(tmp_path: Path) -> None:
    settings: dict[str, object] = {"screen.brightness": 100}
    shade = ShadeRecorder()
    light = ScreenLight(SysfsBacklight.find(tmp_path), shade, lambda: settings["screen.brightness"])
    light.apply("awake")
    assert shade.alphas[-1] == 0.0
    settings["screen.brightness"] = 40
    light.apply()
    assert shade.alphas[-1] == pytest.approx(0.6)
    light.apply("dim")
    assert shade.alphas[-1] == pytest.approx(1 - 0.4 * 0.35)
    light.apply("asleep")
    assert shade.alphas[-1] == 1.0
    settings["screen.brightness"] = None  # not loaded yet: full brightness, not a crash
    light.apply("awake")
    assert shade.alphas[-1] == 0.0


def test_an_unwritable_backlight_falls_back_to_the_shade(tmp_path: Path) -> None:
    device = make_device(tmp_path, "panel", max_brightness=100)
    (device / "brightness").unlink()
    (device / "brightness").mkdir()
    shade = ShadeRecorder()
    light = ScreenLight(SysfsBacklight(device), shade, lambda: 30)
    light.apply("awake")
    assert shade.alphas[-1] == pytest.approx(0.7)  # the owner's 30 % still shows
