"""Rounded plates drawn as one instruction each, and nothing drawn that does not show: a button is one
rounded, antialiased plate that lights when pressed; an icon button at rest and a cover's placeholder under
its art draw no plate at all; a cover without art shows its plate and note. Checked on a real frame's pixels
(on a software renderer every instruction drawn costs about 64 KB for as long as it lives)."""

from __future__ import annotations

from typing import Any

import pytest

from kiosk.ui import theme
from kiosk.ui.widgets import CoverImage, IconButton, Tappable
from tests.ui.conftest import UiHarness
from tests.ui.pixels import Frame, near, vertex_instructions

PRESSED = theme.tint(theme.ACCENT_DEFAULT, 0.5, theme.SURFACE_RAISED)


@pytest.fixture
def place(kivy_window: Any) -> Any:
    """Puts widgets at fixed places in the window over a known background; takes them away after."""
    from kivy.graphics import Color, Rectangle

    placed: list[Any] = []
    with kivy_window.canvas.before:
        backdrop_color = Color(*theme.BACKGROUND)
        backdrop = Rectangle(pos=(0, 0), size=kivy_window.size)

    def put(widget: Any) -> Any:
        kivy_window.add_widget(widget)
        placed.append(widget)
        UiHarness.frames(2)
        return widget

    yield put
    for widget in placed:
        kivy_window.remove_widget(widget)
    kivy_window.canvas.before.remove(backdrop_color)
    kivy_window.canvas.before.remove(backdrop)


def _press(widget: Any) -> Any:
    from kivy.tests.common import UnitTestTouch

    touch = UnitTestTouch(*widget.to_window(*widget.center))
    touch.touch_down()
    UiHarness.frames(2)
    return touch


def test_a_button_is_one_rounded_antialiased_plate_that_lights_when_pressed(kivy_window, place, tmp_path) -> None:
    button = place(Tappable(text="Play", size_hint=(None, None), size=(160, 56), pos=(100, 100)))
    plate = vertex_instructions(button.canvas.before)
    assert [type(i).__name__ for i in plate] == ["Mesh"]  # SmoothRoundedRectangle drew two
    frame = Frame(kivy_window, tmp_path, "rest")
    assert near(frame.at(101, 128), theme.SURFACE_RAISED)  # the middle of its left edge
    assert near(frame.at(100, 100), theme.BACKGROUND, tolerance=12)  # its very corner is rounded off
    diagonal = [frame.at(100 + i, 100 + i) for i in range(8)]  # from the corner inwards, across the arc
    assert any(not near(p, theme.SURFACE_RAISED, 3) and not near(p, theme.BACKGROUND, 3) for p in diagonal), (
        f"no antialiased pixel on the rounded corner: {diagonal}")
    touch = _press(button)
    assert near(Frame(kivy_window, tmp_path, "pressed").at(101, 128), PRESSED)
    touch.touch_up()
    assert near(Frame(kivy_window, tmp_path, "released").at(101, 128), theme.SURFACE_RAISED)


def test_an_icon_button_at_rest_draws_no_plate_and_a_plate_while_pressed(kivy_window, place, tmp_path) -> None:
    heart = place(IconButton(text="♥", size_hint=(None, None), size=(56, 56), pos=(300, 100)))
    assert heart._plate.mesh.vertices == []  # nothing to draw: no GL buffer is filled
    assert near(Frame(kivy_window, tmp_path, "icon").at(302, 128), theme.BACKGROUND)
    touch = _press(heart)
    assert heart._plate.mesh.vertices
    assert near(Frame(kivy_window, tmp_path, "icon-pressed").at(302, 128), PRESSED)
    touch.touch_up()
    UiHarness.frames(2)
    assert heart._plate.mesh.vertices == []


def test_a_cover_shows_its_art_alone_and_a_missing_cover_its_plate_and_note(kivy_window, place, tmp_path) -> None:
    from kivy.graphics.texture import Texture

    art = Texture.create(size=(4, 4), colorfmt="rgb")
    art.blit_buffer(bytes((200, 40, 40)) * 16, colorfmt="rgb", bufferfmt="ubyte")
    cover = place(CoverImage(size_hint=(None, None), size=(160, 160), pos=(400, 100)))
    frame = Frame(kivy_window, tmp_path, "no-art")
    assert near(frame.at(402, 180), theme.SURFACE_RAISED)  # the plate
    note = frame.box(440, 140, 80, 80)
    assert any(near(p, theme.TEXT_MUTED, 24) for p in note), "the placeholder's note is not drawn"

    cover.texture = art
    frame = Frame(kivy_window, tmp_path, "art")
    assert near(frame.at(480, 180), (200 / 255, 40 / 255, 40 / 255))  # the art, where the note was
    assert cover._plate.mesh.vertices == [] and cover._note.vertices == []  # placeholder not drawn
    assert not any(near(p, theme.TEXT_MUTED, 24) for p in frame.box(440, 140, 80, 80))

    cover.texture = None  # a tile reused for an album without art: the placeholder is back
    assert any(near(p, theme.TEXT_MUTED, 24) for p in Frame(kivy_window, tmp_path, "again").box(440, 140, 80, 80))
