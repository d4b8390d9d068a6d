"""Settings an owner changes: volume limit, start-up volume and step, import mode, brightness,
dimming and sleep, ReplayGain and its pre-amp, and the PIN that locks settings (and, if chosen,
the whole screen).

Every control shows what the core holds (``jukebox.settings()``) and changes only by command;
the ``settings:updated`` event moves the control, whoever made the change. Ranges come from the
core's setting specs, and the core alone decides what is allowed: a value it refuses is shown as
refused, and the control returns to what the core kept.
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
from kiosk.core.settings import spec_for
from kiosk.ui import theme
from kiosk.ui.context import UiContext
from kiosk.ui.futures import report_error, when_done
from kiosk.ui.widgets import DragSlider, Filled, Links, Tappable, Text

log = logging.getLogger(__name__)

DIM_CHOICES: tuple[tuple[str, int], ...] = (("Never", 0), ("30 s", 30), ("1 min", 60), ("5 min", 300), ("15 min", 900))
SLEEP_CHOICES: tuple[tuple[str, int], ...] = (
    ("Never", 0), ("5 min", 300), ("15 min", 900), ("30 min", 1800), ("1 h", 3600),
)


def percent(value: float) -> str:
    return f"{round(value)} %"


def decibels(value: float) -> str:
    """Signed, one decimal: "+1.5 dB", "0.0 dB", "-6.0 dB"."""
    return "0.0 dB" if round(value, 1) == 0 else f"{value:+.1f} dB"


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
        self.nudge_buttons: dict[str, tuple[Tappable, Tappable]] = {}
        self._formats: dict[str, Callable[[float], str]] = {}
        self._steps: dict[str, float] = {}
        self._asked: dict[str, SettingValue] = {}  # values sent and not yet answered: quick taps add up
        self._heading("Sound")
        self._slider("volume.max", "Volume limit")
        self._slider("volume.startup", "Volume at start")
        self._slider("volume.step", "Volume step (buttons and knob)")
        self._choice("replaygain.mode", "Even out loudness (ReplayGain)",
                     (("Off", "off"), ("Per song", "track"), ("Per album", "album")))
        self._slider("replaygain.preamp_db", "ReplayGain pre-amp", step=0.5, fmt=decibels)
        self._choice("replaygain.prevent_clipping", "Prevent clipping", (("On", True), ("Off", False)))
        self._heading("USB stick")
        self._choice("import.mode", "When a stick is plugged in",
                     (("Copy music in", "copy"), ("Play from stick", "play-from-stick")))
        self._heading("Screen")
        self._slider("screen.brightness", "Brightness")
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

        self.links = Links()
        self.links.bind(ctx.bridge, on_settings_updated=self._on_setting)
        self.links.bind(ctx, accent=lambda *_: self.refresh())
        self.refresh()

    def release(self) -> None:
        """The shell lets this screen go when it is left; the next visit shows the core's values afresh."""
        self.links.release()

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

    def _slider(self, key: str, label: str, *, step: float = 1, fmt: Callable[[float], str] = percent) -> None:
        """A slider over the core's range, with − and + for one step at a time (fingers are not precise)."""
        spec = spec_for(key)
        assert spec.minimum is not None and spec.maximum is not None, f"{key} has no range for a slider"
        self._label_row(key, label)
        self._formats[key], self._steps[key] = fmt, step
        row = BoxLayout(size_hint_y=None, height=dp(theme.TOUCH), spacing=dp(6))
        slider = DragSlider(min=spec.minimum, max=spec.maximum, step=step)
        slider.value_track = spec.minimum >= 0  # a fill from -15 dB would read as "more"; 0 dB sits mid-way
        slider.bind(on_release_value=lambda _s, v, k=key: self._set(k, self._typed(k, v)),
                    value=lambda s, v, k=key: self._show_value(k, v) if s.dragging else None)
        less = Tappable(text="−", action=f"less:{key}", font_name=theme.icon_font(), font_size=sp(theme.HEADLINE),
                        size_hint_x=None, width=dp(theme.TOUCH), on_release=lambda *_: self._nudge(key, -1))
        more = Tappable(text="+", action=f"more:{key}", font_name=theme.icon_font(), font_size=sp(theme.HEADLINE),
                        size_hint_x=None, width=dp(theme.TOUCH), on_release=lambda *_: self._nudge(key, +1))
        for widget in (less, slider, more):
            row.add_widget(widget)
        self.controls[key] = slider
        self.nudge_buttons[key] = (less, more)
        self.grid.add_widget(row)

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
            number = float(value) if isinstance(value, int | float) else 0.0
            control.push(number)
            self._show_value(key, number)
        else:
            control.accent = list(self.ctx.accent)
            control.show(value)
            self.value_labels[key].text = ""
            if key in ("screen.dim_after_s", "screen.sleep_after_s") and value not in [o for _l, o in control.options]:
                self.value_labels[key].text = f"{value} s"

    def _show_value(self, key: str, value: float) -> None:
        label = self.value_labels[key]
        label.text = self._formats[key](value)
        label.color = theme.TEXT_MUTED

    def _show_pin(self, pin: SettingValue) -> None:
        has_pin = bool(pin)
        self.pin_state.text = "Settings are locked with a PIN." if has_pin else "No PIN: anyone can change settings."
        self.set_pin_button.text = "Change PIN" if has_pin else "Set PIN"
        self.remove_pin_button.disabled = not has_pin
        self.controls["lock.whole_screen"].disabled = not has_pin

    # --- commands -------------------------------------------------------------------------------

    def _set(self, key: str, value: SettingValue) -> None:
        # On refusal the control snaps back to what the core holds, and the reason is shown.
        self._asked[key] = value
        when_done(self.ctx.jukebox.set_setting(key, value), lambda _previous: self._answered(key, value),
                  partial(self._refused, key, value))

    def _answered(self, key: str, value: SettingValue) -> None:
        if key in self._asked and self._asked[key] == value:
            del self._asked[key]

    def _refused(self, key: str, value: SettingValue, exc: BaseException) -> None:
        self._answered(key, value)
        report_error(str(exc))
        self.refresh()
        label = self.value_labels.get(key)
        if label is not None and key in self._formats:
            label.text = f"{label.text} · refused"
            label.color = theme.DANGER

    def _typed(self, key: str, value: float) -> SettingValue:
        """A slider's float as the setting's type, on its step (0.5 dB steps stay exact)."""
        if spec_for(key).type is int:
            return round(value)
        step = self._steps[key]
        return round(round(value / step) * step, 3)

    def _nudge(self, key: str, direction: int) -> None:
        """One step from what the core holds (or from the step just asked for, not answered yet);
        past the range the core refuses and says why."""
        current = self._asked[key] if key in self._asked else self.ctx.jukebox.settings().get(key)
        base = float(current) if isinstance(current, int | float) else 0.0
        self._set(key, self._typed(key, base + direction * self._steps[key]))

    def _ask_new_pin(self) -> None:
        self.ask_pin("New PIN (4 to 8 digits)", lambda pin: self._set("lock.pin", pin))
