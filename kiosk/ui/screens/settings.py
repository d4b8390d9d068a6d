"""Settings an owner changes: volume limit and start-up volume, import mode, dimming and sleep,
ReplayGain, and the PIN that locks settings (and, if chosen, the whole screen).

Every control shows what the core holds (``jukebox.settings()``) and changes only by command;
the ``settings:updated`` event moves the control, whoever made the change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from kivy.metrics import dp, sp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.screenmanager import Screen
from kivy.uix.scrollview import ScrollView

from kiosk.core.events import SettingsUpdated, SettingValue
from kiosk.ui import theme
from kiosk.ui.context import UiContext
from kiosk.ui.futures import report_error, when_done
from kiosk.ui.widgets import DragSlider, Filled, Tappable, Text

log = logging.getLogger(__name__)

DIM_CHOICES: tuple[tuple[str, int], ...] = (("Never", 0), ("30 s", 30), ("1 min", 60), ("5 min", 300), ("15 min", 900))
SLEEP_CHOICES: tuple[tuple[str, int], ...] = (
    ("Never", 0), ("5 min", 300), ("15 min", 900), ("30 min", 1800), ("1 h", 3600),
)


class Choice(BoxLayout):
    """A row of buttons, one of them lit: the value the core holds."""

    def __init__(self, options: tuple[tuple[str, SettingValue], ...], on_pick: Callable[[SettingValue], None],
                 **kwargs: Any) -> None:
        super().__init__(spacing=dp(6), **kwargs)
        self.options = options
        self.buttons: list[Tappable] = []
        self.accent = list(theme.ACCENT_DEFAULT)
        for label, value in options:
            button = Tappable(text=label, action=f"choose:{value}", font_size=sp(theme.CAPTION + 2))
            button.bind(on_release=lambda _b, v=value: on_pick(v))
            self.buttons.append(button)
            self.add_widget(button)
        self.value: SettingValue = None

    def show(self, value: SettingValue) -> None:
        self.value = value
        for button, (_label, option) in zip(self.buttons, self.options, strict=True):
            button.bg_color = list(theme.tint(self.accent, 0.55, theme.SURFACE_RAISED) if option == value
                                   else theme.SURFACE_RAISED)


class SettingsScreen(Screen):
    def __init__(self, ctx: UiContext, **kwargs: Any) -> None:
        super().__init__(name="settings", **kwargs)
        self.ctx = ctx
        self.ask_pin: Callable[[str, Callable[[str], None]], None] = lambda title, done: None

        root = Filled(orientation="vertical", color=list(theme.BACKGROUND))
        self.scroll = scroll = ScrollView(do_scroll_x=False, bar_width=dp(6), scroll_type=["bars", "content"])
        self.grid = GridLayout(cols=1, size_hint_y=None, padding=dp(16), spacing=dp(10))
        self.grid.bind(minimum_height=self.grid.setter("height"))
        scroll.add_widget(self.grid)
        root.add_widget(scroll)
        self.add_widget(root)

        self.controls: dict[str, Any] = {}
        self.value_labels: dict[str, Text] = {}
        self._heading("Sound")
        self._slider("volume.max", "Volume limit")
        self._slider("volume.startup", "Volume at start")
        self._choice("replaygain.mode", "Even out loudness (ReplayGain)",
                     (("Off", "off"), ("Per song", "track"), ("Per album", "album")))
        self._choice("replaygain.prevent_clipping", "Prevent clipping", (("On", True), ("Off", False)))
        self._heading("USB stick")
        self._choice("import.mode", "When a stick is plugged in",
                     (("Copy music in", "copy"), ("Play from stick", "play-from-stick")))
        self._heading("Screen")
        self._choice("screen.dim_after_s", "Dim after", DIM_CHOICES)
        self._choice("screen.sleep_after_s", "Sleep after", SLEEP_CHOICES)
        self._heading("Lock")
        pin_row = BoxLayout(size_hint_y=None, height=dp(theme.TOUCH), spacing=dp(8))
        self.pin_state = Text()
        self.set_pin_button = Tappable(text="Set PIN", action="set_pin", size_hint_x=None, width=dp(150),
                                       on_release=lambda *_: self._ask_new_pin())
        self.remove_pin_button = Tappable(text="Remove PIN", action="remove_pin", size_hint_x=None, width=dp(150),
                                          on_release=lambda *_: self._set("lock.pin", ""))
        for widget in (self.pin_state, self.set_pin_button, self.remove_pin_button):
            pin_row.add_widget(widget)
        self.grid.add_widget(pin_row)
        self._choice("lock.whole_screen", "The PIN also locks the whole screen", (("No", False), ("Yes", True)))

        ctx.bridge.bind(on_settings_updated=self._on_setting)
        ctx.bind(accent=lambda *_: self.refresh())
        self.refresh()

    # --- building -------------------------------------------------------------------------------

    def _heading(self, text: str) -> None:
        self.grid.add_widget(Text(text=text, font_size=sp(theme.TITLE), bold=True, size_hint_y=None, height=dp(44),
                                  color=theme.TEXT_MUTED))

    def _label_row(self, key: str, label: str) -> None:
        row = BoxLayout(size_hint_y=None, height=dp(30))
        row.add_widget(Text(text=label))
        value = Text(halign="right", color=theme.TEXT_MUTED, size_hint_x=0.3)
        row.add_widget(value)
        self.value_labels[key] = value
        self.grid.add_widget(row)

    def _slider(self, key: str, label: str) -> None:
        self._label_row(key, label)
        slider = DragSlider(min=0, max=100, step=1)
        slider.bind(on_release_value=lambda _s, v, k=key: self._set(k, round(v)),
                    value=lambda s, v, k=key: self._show_value(k, int(v)) if s.dragging else None)
        self.controls[key] = slider
        self.grid.add_widget(slider)

    def _choice(self, key: str, label: str, options: tuple[tuple[str, SettingValue], ...]) -> None:
        self._label_row(key, label)
        choice = Choice(options, partial(self._set, key), size_hint_y=None, height=dp(theme.TOUCH))
        self.controls[key] = choice
        self.grid.add_widget(choice)

    # --- showing the core's values --------------------------------------------------------------

    def refresh(self) -> None:
        settings = self.ctx.jukebox.settings()
        for key in self.controls:
            self._show(key, settings.get(key))
        self._show_pin(settings.get("lock.pin"))

    def _on_setting(self, _bridge: Any, event: SettingsUpdated) -> None:
        if event.key in self.controls:
            self._show(event.key, event.value)
        if event.key == "lock.pin":
            self._show_pin(event.value)

    def _show(self, key: str, value: SettingValue) -> None:
        control = self.controls[key]
        if isinstance(control, DragSlider):
            control.accent = list(self.ctx.accent)
            control.push(float(value or 0))
            self._show_value(key, int(value or 0))
        else:
            control.accent = list(self.ctx.accent)
            control.show(value)
            self.value_labels[key].text = ""
            if key in ("screen.dim_after_s", "screen.sleep_after_s") and value not in [o for _l, o in control.options]:
                self.value_labels[key].text = f"{value} s"

    def _show_value(self, key: str, value: int) -> None:
        self.value_labels[key].text = f"{value} %"

    def _show_pin(self, pin: SettingValue) -> None:
        has_pin = bool(pin)
        self.pin_state.text = "Settings are locked with a PIN." if has_pin else "No PIN: anyone can change settings."
        self.set_pin_button.text = "Change PIN" if has_pin else "Set PIN"
        self.remove_pin_button.disabled = not has_pin
        self.controls["lock.whole_screen"].disabled = not has_pin

    # --- commands -------------------------------------------------------------------------------

    def _set(self, key: str, value: SettingValue) -> None:
        # On refusal the control snaps back to what the core holds, and the reason is shown.
        when_done(self.ctx.jukebox.set_setting(key, value), None, self._refused)

    def _refused(self, exc: BaseException) -> None:
        report_error(str(exc))
        self.refresh()

    def _ask_new_pin(self) -> None:
        self.ask_pin("New PIN (4 to 8 digits)", lambda pin: self._set("lock.pin", pin))
