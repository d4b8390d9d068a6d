"""An on-screen keyboard with keys a finger can hit; it types into one TextInput.

Kivy's VKeyboard is built for tablets with a docked system keyboard; this one is plain widgets
in our own look, sized from the space it is given, and works the same with a USB keyboard present.
"""

from __future__ import annotations

from typing import Any

from kivy.metrics import dp, sp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.textinput import TextInput

from kiosk.ui import theme
from kiosk.ui.widgets import Tappable

ROWS = ("1234567890", "qwertyuiop", "asdfghjkl'", "zxcvbnm-.")


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
        self.letter_keys: list[Tappable] = []
        for index, row in enumerate(ROWS):
            line = BoxLayout(spacing=dp(6))
            if index == 3:
                self.shift_key = self._key("⇧", self._toggle_shift, font_name=theme.icon_font(), size_hint_x=1.5)
                line.add_widget(self.shift_key)
            for char in row:
                key = self._key(char, self._type_char)
                self.letter_keys.append(key)
                line.add_widget(key)
            if index == 3:
                line.add_widget(self._key("⌫", self._backspace, font_name=theme.icon_font(), size_hint_x=1.5))
            self.add_widget(line)
        bottom = BoxLayout(spacing=dp(6))
        bottom.add_widget(self._key("Clear", self._clear, size_hint_x=1.5))
        bottom.add_widget(self._key("space", self._space, size_hint_x=5))
        self.enter_key = self._key("✓", self._enter, font_name=theme.icon_font(), size_hint_x=1.5)
        self.enter_key.bg_color = list(theme.tint(theme.ACCENT_DEFAULT, 0.5, theme.SURFACE_RAISED))
        bottom.add_widget(self.enter_key)
        self.add_widget(bottom)

    def _key(self, label: str, handler: Any, **kwargs: Any) -> Tappable:
        key = Tappable(text=label, action=f"key:{label}", font_size=sp(theme.TITLE), **kwargs)
        key.size_hint_min = (dp(30), dp(40))
        key.bind(on_release=lambda k: handler(k.text))
        return key

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
        self.shift_key.bg_color = list(
            theme.tint(theme.ACCENT_DEFAULT, 0.5, theme.SURFACE_RAISED) if self.shifted else theme.SURFACE_RAISED
        )

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
