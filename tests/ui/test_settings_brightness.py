"""screen.brightness from the settings screen to the light: the sysfs backlight when the screen has one
(a tmp directory laid out like /sys/class/backlight), the UI's shade when it has none. Real touches on
an offscreen window, the real Jukebox and SQLite store, the real KioskRoot with its idle timer."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.hw.backlight import POWER_OFF, POWER_ON, SysfsBacklight
from kiosk.ui.light import ScreenLight
from tests.hw.test_backlight import make_device, read


def wire_screen_light(ui, backlight: SysfsBacklight | None) -> ScreenLight:
    """What build_root does, here with the backlight the test chose."""
    ui.root.use_backlight(backlight)
    return ui.root.light


def _tap_less_brightness(ui) -> None:
    settings = ui.root.settings
    less, _more = settings.nudge_buttons["screen.brightness"]
    settings.scroll.scroll_to(less, animate=False)
    ui.frames(3)
    ui.tap(less)


def test_without_a_backlight_the_shade_dims_to_the_setting(make_ui, tmp_path: Path) -> None:
    ui = make_ui(tracks=3, settings={"screen.brightness": 60, "screen.dim_after_s": 30, "screen.sleep_after_s": 300})
    light = wire_screen_light(ui, SysfsBacklight.find(tmp_path))  # an HDMI screen: no backlight device
    shade = ui.root.shade._color
    assert light.backlight is None
    assert shade.a == pytest.approx(0.4)
    ui.root.go_to("settings")
    _tap_less_brightness(ui)
    ui.wait_until(lambda: ui.store.get_setting("screen.brightness") == 59, what="one step darker stored")
    ui.wait_until(lambda: shade.a == pytest.approx(0.41), what="the shade follows the setting")
    ui.clock_now += 31  # idle past dim_after_s: the shell's idle timer dims
    ui.wait_until(lambda: ui.root.screen_state == "dim", what="dimmed")
    assert shade.a == pytest.approx(1 - 0.59 * 0.35)
    ui.clock_now += 300
    ui.wait_until(lambda: ui.root.screen_state == "asleep", what="asleep")
    assert shade.a == 1.0
    ui.tap(ui.root)  # the waking touch
    ui.wait_until(lambda: ui.root.screen_state == "awake", what="awake")
    assert shade.a == pytest.approx(0.41)
    # Elsewhere (a remote, a script) sets it: the shade follows the event alone.
    ui.from_worker(lambda: ui.jukebox.set_setting("screen.brightness", 100).result(10))
    assert ui.within_frames(lambda: shade.a == 0.0, frames=8)


def test_with_a_backlight_the_device_follows_and_sleep_powers_it_off(make_ui, tmp_path: Path) -> None:
    device = make_device(tmp_path, "10-0045", max_brightness=31, brightness=31)
    ui = make_ui(tracks=3, settings={"screen.brightness": 50, "screen.dim_after_s": 30, "screen.sleep_after_s": 300})
    light = wire_screen_light(ui, SysfsBacklight.find(tmp_path))
    shade = ui.root.shade._color
    assert light.backlight is not None
    assert (read(device, "brightness"), read(device, "bl_power"), shade.a) == (16, POWER_ON, 0.0)
    ui.root.go_to("settings")
    _tap_less_brightness(ui)
    ui.wait_until(lambda: ui.store.get_setting("screen.brightness") == 49, what="one step darker stored")
    ui.wait_until(lambda: read(device, "brightness") == 15, what="the device follows (49 % of 31)")
    assert shade.a == 0.0  # the light itself dims: no shade on top
    ui.clock_now += 31
    ui.wait_until(lambda: ui.root.screen_state == "dim", what="dimmed")
    assert read(device, "brightness") == 5 and shade.a == 0.0  # 35 % of 49 % of 31
    ui.clock_now += 300
    ui.wait_until(lambda: ui.root.screen_state == "asleep", what="asleep")
    assert read(device, "bl_power") == POWER_OFF
    ui.tap(ui.root)
    ui.wait_until(lambda: ui.root.screen_state == "awake", what="awake")
    assert (read(device, "brightness"), read(device, "bl_power"), shade.a) == (15, POWER_ON, 0.0)
