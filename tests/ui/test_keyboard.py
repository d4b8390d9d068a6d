"""The on-screen keyboard, drawn as a whole: every key shows its label on a rounded plate, a pressed or
lit key shows the accent, shift changes what the letter keys show and type, and the 44 keys cost the
renderer three meshes instead of three GL instructions each. Checked on the pixels of a real frame."""

from __future__ import annotations

from typing import Any

import pytest

from kiosk.ui import theme
from kiosk.ui.keyboard import LIT, OnScreenKeyboard, make_text_input
from tests.ui.conftest import UiHarness
from tests.ui.pixels import Frame, vertex_instructions
from tests.ui.pixels import near as _near


def _key_box(frame: Frame, key: Any) -> list[tuple[int, int, int]]:
    """The key's plate without its rounded corners."""
    x, y = key.to_window(key.x, key.y)
    r = theme.RADIUS
    return frame.box(x + r, y + 2, key.width - 2 * r, key.height - 4)



@pytest.fixture
def keyboard(kivy_window: Any) -> Any:
    field = make_text_input()
    board = OnScreenKeyboard(field, size_hint=(None, None), size=(760, 300), pos=(20, 20))
    kivy_window.add_widget(board)
    UiHarness.frames(3)
    yield board
    kivy_window.remove_widget(board)


def test_every_key_shows_its_label_on_a_rounded_plate(kivy_window, keyboard, tmp_path) -> None:
    frame = Frame(kivy_window, tmp_path, "keys")
    for key in keyboard.keys:
        plate = LIT if key.lit else theme.SURFACE_RAISED
        pixels = _key_box(frame, key)
        on_plate = sum(_near(p, plate) for p in pixels)
        text = sum(min(p) > 200 for p in pixels)  # the label, in the theme's near-white text colour
        assert on_plate > len(pixels) / 2, f"{key.text!r}: its plate is not drawn"
        assert text >= 2, f"{key.text!r}: its label is not drawn"
        x, y = key.to_window(key.x, key.y)
        # Rounded: the key's very corner is the window behind it, the middle of its left edge is plate.
        assert not _near(frame.at(x, y), plate), f"{key.text!r}: a square corner"
        assert _near(frame.at(x + 1, y + key.height / 2), plate, tolerance=12), f"{key.text!r}: no plate at its edge"


def test_all_keys_are_three_meshes_and_no_key_draws_anything_itself(keyboard) -> None:
    drawn = vertex_instructions(keyboard.canvas)
    assert len(keyboard.keys) == 44
    assert sorted(type(item).__name__ for item in drawn) == ["Mesh", "Mesh", "Mesh"]


def test_a_key_under_a_finger_lights_up_and_types_when_lifted(kivy_window, keyboard, tmp_path) -> None:
    key = next(k for k in keyboard.keys if k.text == "g")
    x, y = key.to_window(*key.center)
    edge = key.to_window(key.x + 3, key.center_y)
    from kivy.tests.common import UnitTestTouch

    touch = UnitTestTouch(x, y)
    touch.touch_down()
    assert _near(Frame(kivy_window, tmp_path, "down").at(*edge), LIT)
    assert keyboard.target.text == ""  # nothing typed while the finger is still down
    touch.touch_up()
    assert _near(Frame(kivy_window, tmp_path, "up").at(*edge), theme.SURFACE_RAISED)
    assert keyboard.target.text == "g"


def test_shift_shows_and_types_one_capital_then_goes_back(kivy_window, keyboard, tmp_path) -> None:
    key_r = next(k for k in keyboard.keys if k.text == "r")
    lower = _key_box(Frame(kivy_window, tmp_path, "lower"), key_r)
    _tap(keyboard, "⇧")
    assert keyboard.shift_key.lit and key_r.text == "R"
    frame = Frame(kivy_window, tmp_path, "upper")
    assert _key_box(frame, key_r) != lower, "the key still shows the small letter"
    assert _near(frame.at(*keyboard.shift_key.to_window(keyboard.shift_key.x + 3, keyboard.shift_key.center_y)), LIT)
    _tap(keyboard, "R")
    _tap(keyboard, "i")
    assert keyboard.target.text == "Ri"
    assert not keyboard.shift_key.lit and key_r.text == "r"
    assert _key_box(Frame(kivy_window, tmp_path, "lower-again"), key_r) == lower


def _tap(keyboard: Any, label: str) -> None:
    from kivy.tests.common import UnitTestTouch

    key = next(k for k in keyboard.keys if k.text == label)
    touch = UnitTestTouch(*key.to_window(*key.center))
    touch.touch_down()
    UiHarness.frames(1)
    touch.touch_up()
    UiHarness.frames(2)
