"""An on-screen keyboard with keys a finger can hit; it types into one TextInput.

Kivy's VKeyboard is built for tablets with a docked system keyboard; this one is plain widgets
in our own look, sized from the space it is given, and works the same with a USB keyboard present.

Every key is a widget of its own (``KeyCap``: where a finger lands, what it types, found by tests as
``key:<label>``), but the keys draw nothing themselves: the keyboard draws all of them with three meshes,
the plates of the keys at rest, the plates lit in the accent (pressed, shift on, ✓), and every label
from one sheet of glyphs. Drawn as buttons (a rounded plate, its antialiased edge and a label each),
44 keys are 132 GL instructions, and a software renderer (Mesa's llvmpipe) keeps about 64 KB for each
instruction drawn: 8 MB for a keyboard. The plates' corners are antialiased by their texture, a corner
rendered once, so the keys look as before.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kivy.clock import Clock
from kivy.core.text.markup import MarkupLabel
from kivy.graphics import Color, Mesh
from kivy.metrics import dp, sp
from kivy.properties import BooleanProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.textinput import TextInput
from kivy.uix.widget import Widget
from kivy.utils import escape_markup

from kiosk.ui import theme
from kiosk.ui.widgets import add_plate, corner_texture

ROWS = ("1234567890", "qwertyuiop", "asdfghjkl'", "zxcvbnm-.")
SHIFT, BACKSPACE, ENTER, CLEAR, SPACE = "⇧", "⌫", "✓", "Clear", "space"
ICON_LABELS = frozenset({SHIFT, BACKSPACE, ENTER})
LIT = theme.tint(theme.ACCENT_DEFAULT, 0.5, theme.SURFACE_RAISED)  # pressed keys, shift on, ✓: as Tappable


class KeyCap(ButtonBehavior, Widget):
    """One key: its place, its label (``text``) and whether it is lit; its keyboard draws it."""

    text = StringProperty("")
    action = StringProperty("")  # "key:<label>" (the label it was made with), for tests and logs
    lit = BooleanProperty(False)


class GlyphSheet:
    """Every label of the keyboard drawn once, by Kivy's own text renderer, into one texture.

    One markup label holds every label as a ``[ref]``; the refs' boxes say where each one is.
    ``cells[label]`` is ``(u0, v0, u1, v1, width, height)``: its corners in the texture (v0 at its
    bottom) and its size in pixels. Every box is a line of text high, as a Kivy label's texture is, so
    labels centred on their keys share one baseline.
    """

    LINE = 16

    def __init__(self, labels: Iterable[str], font_size: float) -> None:
        unique = list(dict.fromkeys(labels))
        icon_font = theme.icon_font()
        refs = [
            f"[ref={i}]" + (f"[font={icon_font}]{escape_markup(label)}[/font]" if label in ICON_LABELS
                            else escape_markup(label)) + "[/ref]"
            for i, label in enumerate(unique)
        ]
        # Two spaces apart (linear filtering never reads a neighbour), a line every LINE labels (a texture
        # a few hundred pixels wide, well inside any GPU's limit).
        markup = "\n".join("  ".join(refs[i:i + self.LINE]) for i in range(0, len(refs), self.LINE))
        self.label = MarkupLabel(text=markup, font_size=font_size, markup=True)
        self.label.refresh()
        self.texture = self.label.texture
        self.texture.bind()  # the text is drawn when its texture is first used, and the refs are found then
        width, height = self.texture.size
        self.cells: dict[str, tuple[float, float, float, float, int, int]] = {}
        for ref, boxes in self.label.refs.items():
            x1, top, x2, bottom = boxes[0]  # from the texture's top-left; a label's texture is stored top row first
            self.cells[unique[int(ref)]] = (x1 / width, bottom / height, x2 / width, top / height,
                                            int(x2 - x1), int(bottom - top))


class OnScreenKeyboard(BoxLayout):
    """``target`` receives the text; ``on_enter`` fires for the ✓ key."""

    __events__ = ("on_enter",)

    def __init__(self, target: TextInput | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("orientation", "vertical")
        kwargs.setdefault("spacing", dp(6))
        kwargs.setdefault("padding", dp(6))
        super().__init__(**kwargs)
        self.target = target
        self.shifted = False
        self.keys: list[KeyCap] = []
        self.letter_keys: list[KeyCap] = []
        self._draw_trigger = Clock.create_trigger(self._draw, -1)  # once, before the next frame
        for index, row in enumerate(ROWS):
            line = BoxLayout(spacing=dp(6))
            if index == 3:
                self.shift_key = self._key(SHIFT, self._toggle_shift, line, size_hint_x=1.5)
            for char in row:
                self.letter_keys.append(self._key(char, self._type_char, line))
            if index == 3:
                self._key(BACKSPACE, self._backspace, line, size_hint_x=1.5)
            self.add_widget(line)
        bottom = BoxLayout(spacing=dp(6))
        self._key(CLEAR, self._clear, bottom, size_hint_x=1.5)
        self._key(SPACE, self._space, bottom, size_hint_x=5)
        self.enter_key = self._key(ENTER, self._enter, bottom, size_hint_x=1.5)
        self.enter_key.lit = True
        self.add_widget(bottom)

        labels = [key.text for key in self.keys] + [key.text.upper() for key in self.letter_keys]
        self.glyphs = GlyphSheet(labels, sp(theme.TITLE))
        self.radius = round(dp(theme.RADIUS))
        with self.canvas.before:
            Color(*theme.SURFACE_RAISED)
            self._plates = Mesh(mode="triangles", texture=corner_texture(self.radius))
            Color(*LIT)
            self._lit_plates = Mesh(mode="triangles", texture=self._plates.texture)
            Color(*theme.TEXT)
            self._labels = Mesh(mode="triangles", texture=self.glyphs.texture)
        self.bind(pos=self._draw_trigger, size=self._draw_trigger)

    def _key(self, label: str, handler: Any, row: BoxLayout, **kwargs: Any) -> KeyCap:
        key = KeyCap(text=label, action=f"key:{label}", **kwargs)
        key.size_hint_min = (dp(30), dp(40))
        key.bind(on_release=lambda k: handler(k.text))
        key.bind(pos=self._draw_trigger, size=self._draw_trigger, state=self._draw_trigger, lit=self._draw_trigger,
                 text=self._draw_trigger)
        row.add_widget(key)
        self.keys.append(key)
        return key

    def _draw(self, *_: Any) -> None:
        """Every key's plate and label, from where the layout has put the keys now."""
        plates: tuple[list[float], list[int]] = ([], [])
        lit: tuple[list[float], list[int]] = ([], [])
        labels: tuple[list[float], list[int]] = ([], [])
        for key in self.keys:
            vertices, indices = lit if key.lit or key.state == "down" else plates
            add_plate(vertices, indices, key.x, key.y, key.width, key.height, self.radius)
            cell = self.glyphs.cells.get(key.text)
            if cell is None:
                continue
            u0, v0, u1, v1, width, height = cell
            x, y = int(key.center_x - width / 2), int(key.center_y - height / 2)  # whole pixels: crisp
            first = len(labels[0]) // 4
            labels[0].extend((x, y, u0, v0, x + width, y, u1, v0, x + width, y + height, u1, v1,
                              x, y + height, u0, v1))
            labels[1].extend((first, first + 1, first + 2, first + 2, first + 3, first))
        for mesh, (vertices, indices) in ((self._plates, plates), (self._lit_plates, lit), (self._labels, labels)):
            mesh.vertices, mesh.indices = vertices, indices

    def type_text(self, text: str) -> None:
        if self.target is not None:
            self.target.insert_text(text)

    def _type_char(self, char: str) -> None:
        self.type_text(char)
        if self.shifted:
            self._toggle_shift("")

    def _space(self, _label: str) -> None:
        self.type_text(" ")

    def _backspace(self, _label: str) -> None:
        if self.target is not None:
            self.target.do_backspace()

    def _clear(self, _label: str) -> None:
        if self.target is not None:
            self.target.text = ""

    def _toggle_shift(self, _label: str) -> None:
        self.shifted = not self.shifted
        for key in self.letter_keys:
            key.text = key.text.upper() if self.shifted else key.text.lower()
        self.shift_key.lit = self.shifted

    def _enter(self, _label: str) -> None:
        self.dispatch("on_enter")

    def on_enter(self) -> None:
        pass


def make_text_input(**kwargs: Any) -> TextInput:
    """A single-line field in our look that never asks for Kivy's own virtual keyboard."""
    field = TextInput(
        multiline=False,
        write_tab=False,
        font_size=sp(theme.TITLE),
        background_normal="",
        background_active="",
        background_color=theme.SURFACE_RAISED,
        foreground_color=theme.TEXT,
        cursor_color=theme.ACCENT_DEFAULT,
        hint_text_color=theme.TEXT_MUTED,
        padding=(dp(14), dp(12)),
        size_hint_y=None,
        height=dp(theme.TOUCH),
        keyboard_mode="managed",
        **kwargs,
    )
    return field
