"""The kiosk's frame: navigation, screens, messages, locks, dimming and sleep, keyboard shortcuts.

``KioskRoot`` is the whole jukebox UI as one widget, built around a ``UiContext``; the app only
puts it in a window, so tests drive exactly what runs on the appliance.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from typing import Any

from kivy.clock import Clock
from kivy.graphics import Color, Rectangle
from kivy.metrics import dp, sp
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.floatlayout import FloatLayout
from kivy.uix.screenmanager import NoTransition, Screen, ScreenManager
from kivy.uix.widget import Widget

from kiosk.core import actions
from kiosk.core.events import AppError, PlayerError, SettingsUpdated
from kiosk.ui import futures, theme
from kiosk.ui.context import UiContext
from kiosk.ui.dialogs import MessageView, PinPad, PinPrompt, TextPrompt, TrackActions
from kiosk.ui.futures import when_done
from kiosk.ui.light import Backlight, ScreenLight, ScreenState
from kiosk.ui.screens.importing import ImportScreen
from kiosk.ui.screens.library import LibraryScreen
from kiosk.ui.screens.nowplaying import NowPlayingScreen
from kiosk.ui.screens.playlists import PlaylistsScreen
from kiosk.ui.screens.queue import QueueScreen
from kiosk.ui.screens.settings import SettingsScreen
from kiosk.ui.widgets import Filled, RoundedPlate, Text, Toast, forget_recycled_views, stop_animations

log = logging.getLogger(__name__)

#: Every screen by name; ``KioskRoot.screen`` builds each on its first visit.
SCREENS: dict[str, Callable[[UiContext], Screen]] = {
    "now": NowPlayingScreen,
    "library": LibraryScreen,
    "queue": QueueScreen,
    "playlists": PlaylistsScreen,
    "import": ImportScreen,
    "settings": SettingsScreen,
}

#: Screens let go when left and built afresh on the next visit: each is several MB of widgets and
#: textures, and the peak memory is what the screens alive at once hold. The library stays (it empties
#: its lists itself when left), as do now playing and the import panel, which must hear a stick arrive.
#: The queue shows the core's queue and nothing of its own, so a fresh one shows the same.
RELEASED_WHEN_LEFT = frozenset({"playlists", "settings", "queue"})

NAV_ITEMS = (
    ("now", "♫", "Playing"),
    ("library", "▦", "Library"),
    ("queue", "≡", "Queue"),
    ("playlists", "♥", "Lists"),
    ("import", "⏏", "USB"),
    ("settings", "⚙", "Settings"),
)


class NavButton(ButtonBehavior, BoxLayout):
    """An icon over a caption; the current screen's is lit in the accent."""

    def __init__(self, name: str, symbol: str, caption: str, **kwargs: Any) -> None:
        super().__init__(orientation="vertical", padding=(0, dp(6)), **kwargs)
        self.name = name
        self.icon = Text(text=symbol, font_name=theme.icon_font(), font_size=sp(theme.HEADLINE), halign="center")
        self.caption = Text(text=caption, font_size=sp(theme.CAPTION), halign="center", size_hint_y=None,
                            height=dp(20))
        self.add_widget(self.icon)
        self.add_widget(self.caption)
        with self.canvas.before:
            self._bg = RoundedPlate(0)  # drawn only while lit
        self._bg_color: tuple[float, ...] = (0, 0, 0, 0)
        self.bind(pos=self._sync, size=self._sync)

    def _sync(self, *_: Any) -> None:
        self._bg.update(self.pos, self.size, self._bg_color)

    def light(self, on: bool, accent: list[float]) -> None:
        self.icon.color = accent if on else theme.TEXT_MUTED
        self.caption.color = accent if on else theme.TEXT_MUTED
        self._bg_color = theme.tint(accent, 0.18, theme.SURFACE) if on else (0, 0, 0, 0)
        self._sync()


class Shade(Widget):
    """A black layer over everything: dims the screen, or blanks it when asleep."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        with self.canvas:
            self._color = Color(0, 0, 0, 0)
            self._rect = Rectangle()
        self.bind(pos=self._sync, size=self._sync)

    def _sync(self, *_: Any) -> None:
        self._rect.pos, self._rect.size = self.pos, self.size

    def set_alpha(self, alpha: float) -> None:
        self._color.a = alpha


class LockLayer(Filled):
    """Covers the whole screen; nothing under it gets a touch."""

    def on_touch_down(self, touch: Any) -> bool:
        super().on_touch_down(touch)
        return True

    def on_touch_move(self, touch: Any) -> bool:
        super().on_touch_move(touch)
        return True

    def on_touch_up(self, touch: Any) -> bool:
        super().on_touch_up(touch)
        return True


class KioskRoot(FloatLayout):
    """The jukebox UI. ``clock`` is injectable so tests can make time pass for dimming and sleep."""

    def __init__(self, ctx: UiContext, *, clock: Callable[[], float] = time.monotonic, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ctx = ctx
        self.clock = clock
        self.screen_state: ScreenState = "awake"
        self.on_screen_state: Callable[[ScreenState], None] = lambda state: None  # observers (tests) follow this
        self.last_activity = clock()
        self._swallowed: set[Any] = set()  # uids of touches that woke the screen: they do nothing else
        self._guarded_window: Any = None  # the window whose touches pass _guard_touch_* first
        self.settings_unlocked = False
        self.library_empty = False

        self.track_actions = TrackActions(ctx)
        self.text_prompt = TextPrompt()
        self.pin_prompt = PinPrompt()
        ctx.show_track_actions = self.track_actions.open
        ctx.ask_text = self.text_prompt.open
        ctx.go_to = self.go_to

        self.frame = BoxLayout()
        self.nav = Filled(color=list(theme.SURFACE))
        self.nav_buttons: dict[str, NavButton] = {}
        for name, symbol, caption in NAV_ITEMS:
            button = NavButton(name, symbol, caption)
            button.bind(on_release=lambda b: self.go_to(b.name))
            self.nav_buttons[name] = button
            self.nav.add_widget(button)
        self.screens = ScreenManager(transition=NoTransition())
        self._built: dict[str, Screen] = {}
        self._left_states: dict[str, Any] = {}  # what a let-go screen restores on its next visit
        self._showing = ""
        # Now playing is the first thing seen and the import panel must hear a stick arrive; the other
        # screens are built on their first visit (the library alone is tens of MB with 50,000 tracks).
        self.screen("now")
        self.screen("import").on_attention = self._bring_import_forward
        self.add_widget(self.frame)

        self.empty_message = MessageView(
            "Your jukebox is empty", "Plug in a USB stick with music. It is added by itself.", symbol="⏏"
        )
        self.lock_layer: LockLayer | None = None
        self.toast = Toast(pos_hint={"center_x": 0.5, "y": 0.03})
        self.add_widget(self.toast)
        futures.error_sink = self.toast.show
        self.shade = Shade()
        self.add_widget(self.shade)
        # Brightness and the idle state reach the display through one policy: the shade until
        # ``use_backlight`` hands it the screen's kernel backlight.
        self.light = ScreenLight(None, self.shade.set_alpha, lambda: ctx.jukebox.settings().get("screen.brightness"))

        self.bind(size=self._relayout)
        ctx.bind(accent=lambda *_: self._light_nav())
        self.screens.bind(current=lambda *_: self._screen_changed())
        self._check_empty_trigger = Clock.create_trigger(self.check_empty, 0.5)
        bridge = ctx.bridge
        bridge.bind(on_library_updated=lambda *_: self._check_empty_trigger(),
                    on_player_error=self._on_player_error, on_app_error=self._on_app_error,
                    on_settings_updated=self._on_setting)
        self._idle_event = Clock.schedule_interval(lambda _dt: self.check_idle(), 0.5)
        self._relayout()
        self.go_to("now")
        self._light_nav()  # "now" is already the first screen: no change event lights it
        self.check_empty()
        if self._whole_screen_locked():
            self.lock_screen()

    # --- layout ---------------------------------------------------------------------------------

    def _relayout(self, *_: Any) -> None:
        landscape = self.width >= self.height
        self.frame.clear_widgets()
        if landscape:
            self.frame.orientation = "horizontal"
            self.nav.orientation = "vertical"
            self.nav.size_hint = (None, 1)
            self.nav.width = dp(theme.NAV_RAIL)
            self.frame.add_widget(self.nav)
            self.frame.add_widget(self.screens)
        else:
            self.frame.orientation = "vertical"
            self.nav.orientation = "horizontal"
            self.nav.size_hint = (1, None)
            self.nav.height = dp(theme.NAV_BAR)
            self.frame.add_widget(self.screens)
            self.frame.add_widget(self.nav)

    def _light_nav(self) -> None:
        for name, button in self.nav_buttons.items():
            button.light(name == self.screens.current, self.ctx.accent)

    # --- navigation and the settings lock -------------------------------------------------------

    def screen(self, name: str) -> Screen:
        """The screen called ``name``, built and added to the screen manager on first use."""
        built = self._built.get(name)
        if built is None:
            built = SCREENS[name](self.ctx)
            if isinstance(built, SettingsScreen):
                built.ask_pin = lambda title, done: self.pin_prompt.open(title, self._valid_new_pin, done)
            self._built[name] = built
            self.screens.add_widget(built)
            if name in self._left_states:
                built.restore(self._left_states.pop(name))
            log.debug("built the %s screen", name)
        return built

    def release(self, name: str) -> None:
        """Lets a screen that is not showing go: it unbinds from the core's events, leaves the screen
        manager, and its widgets and textures are freed (the next visit builds it again)."""
        screen = self._built.get(name)
        if screen is None or self.screens.current == name:
            return
        transition = self.screens.transition
        if transition.is_active:  # the switch away is still running: let it finish first
            Clock.schedule_once(lambda _dt: self.release(name), 0)
            return
        if transition.screen_out is screen:  # it would keep the screen alive until the next switch
            self.screens.transition = NoTransition()
        del self._built[name]
        state = screen.release()
        if state is not None:
            self._left_states[name] = state
        self.screens.remove_widget(screen)
        forget_recycled_views()  # rows Kivy keeps for reuse still point at the screen through their data
        stop_animations(screen)  # a running animation (a scroll bar fading) holds its widget
        # Kivy widgets hold reference cycles: collect them now, and once more when the last scroll bar
        # timer of the screen has run, so the next screen reuses their memory instead of adding its own.
        gc.collect()
        Clock.schedule_once(lambda _dt: gc.collect(), 1.5)
        log.debug("let the %s screen go", name)

    @property
    def now_playing(self) -> NowPlayingScreen:
        return self.screen("now")

    @property
    def library(self) -> LibraryScreen:
        return self.screen("library")

    @property
    def queue(self) -> QueueScreen:
        return self.screen("queue")

    @property
    def playlists(self) -> PlaylistsScreen:
        return self.screen("playlists")

    @property
    def importing(self) -> ImportScreen:
        return self.screen("import")

    @property
    def settings(self) -> SettingsScreen:
        return self.screen("settings")

    def go_to(self, name: str) -> None:
        if name == "settings" and self._pin() and not self.settings_unlocked:
            self.pin_prompt.open("PIN for settings", self._pin_matches, lambda _pin: self._unlock_settings())
            return
        self.screen(name)
        self.screens.current = name

    def _unlock_settings(self) -> None:
        self.settings_unlocked = True
        self.screen("settings")
        self.screens.current = "settings"

    def _screen_changed(self) -> None:
        left, self._showing = self._showing, self.screens.current
        if self.screens.current != "settings":
            self.settings_unlocked = False
        self._light_nav()
        if left in RELEASED_WHEN_LEFT and left != self._showing:
            Clock.schedule_once(lambda _dt: self.release(left), 0)  # once the switch is complete

    def _pin(self) -> str:
        return str(self.ctx.jukebox.settings().get("lock.pin") or "")

    def _pin_matches(self, digits: str) -> bool:
        return bool(self._pin()) and digits == self._pin()

    @staticmethod
    def _valid_new_pin(digits: str) -> bool:
        return 4 <= len(digits) <= 8

    def _whole_screen_locked(self) -> bool:
        return bool(self._pin()) and bool(self.ctx.jukebox.settings().get("lock.whole_screen"))

    def lock_screen(self) -> None:
        """Covers everything with a PIN pad (for small children); the right PIN lifts it."""
        if self.lock_layer is not None:
            return
        layer = LockLayer(orientation="vertical", color=list(theme.BACKGROUND), padding=dp(10))
        pad = PinPad("Locked. Enter the PIN", size_hint_x=None, pos_hint={"center_x": 0.5})
        layer.bind(size=lambda _l, size: setattr(pad, "width", min(size[0], size[1] * 0.9)))

        def entered(pad: PinPad, digits: str) -> None:
            if self._pin_matches(digits) or not self._pin():
                self.unlock_screen()
            else:
                pad.wrong()

        pad.bind(on_pin=entered)
        layer.add_widget(pad)
        self.lock_layer = layer
        self.add_widget(layer, index=2)  # under the toast and the shade

    def unlock_screen(self) -> None:
        if self.lock_layer is not None:
            self.remove_widget(self.lock_layer)
            self.lock_layer = None

    def use_backlight(self, backlight: Backlight | None) -> None:
        """Brightness and sleep go to the screen's kernel backlight from now on (None: the shade)."""
        self.light.backlight = backlight
        self.light.apply(self.screen_state)

    def _on_setting(self, _bridge: Any, event: SettingsUpdated) -> None:
        if event.key == "screen.brightness":
            self.light.apply()
        if event.key in ("lock.pin", "lock.whole_screen") and not self._whole_screen_locked():
            self.unlock_screen()

    # --- messages -------------------------------------------------------------------------------

    def check_empty(self, *_: Any) -> None:
        when_done(self.ctx.jukebox.count_tracks(), self._count_known)

    def _count_known(self, count: int) -> None:
        empty = count == 0 and not self.ctx.jukebox.queue_snapshot().entries
        self.show_empty(empty and not self.importing.busy)

    def show_empty(self, empty: bool) -> None:
        self.library_empty = empty
        shown = self.empty_message.parent is not None
        if empty and not shown:
            self.add_widget(self.empty_message, index=2)
        elif not empty and shown:
            self.remove_widget(self.empty_message)

    def _bring_import_forward(self) -> None:
        self.show_empty(False)
        if self.lock_layer is None and self.screens.current != "settings":
            self.screens.current = "import"

    def _on_player_error(self, _bridge: Any, event: PlayerError) -> None:
        self.toast.show(event.message)

    def _on_app_error(self, _bridge: Any, event: AppError) -> None:
        self.toast.show(event.message)

    # --- idle: dim, then sleep; the waking touch does nothing else ------------------------------

    def _setting_seconds(self, key: str) -> int:
        value = self.ctx.jukebox.settings().get(key)
        return int(value) if isinstance(value, int | float) else 0

    def check_idle(self) -> None:
        idle = self.clock() - self.last_activity
        sleep_after = self._setting_seconds("screen.sleep_after_s")
        dim_after = self._setting_seconds("screen.dim_after_s")
        if sleep_after and idle >= sleep_after:
            self._set_screen_state("asleep")
        elif dim_after and idle >= dim_after:
            self._set_screen_state("dim")

    def _set_screen_state(self, state: ScreenState) -> None:
        if state == self.screen_state:
            return
        self.screen_state = state
        self.light.apply(state)
        if state == "awake":
            self._lower_shade()
        else:
            self._raise_shade()
        if state == "asleep":
            self.track_actions.close()
            self.text_prompt.close()
            self.pin_prompt.close()
            if self._whole_screen_locked():
                self.lock_screen()
        self.on_screen_state(state)

    def wake(self) -> None:
        self.last_activity = self.clock()
        self._set_screen_state("awake")

    # Every touch passes the window's guard before any widget, dialogs on top of this root included:
    # while the screen is dim or asleep, the waking touch goes nowhere else, and a finger busy in a
    # dialog counts as activity, so the screen does not dim under it.

    def on_parent(self, _widget: Any, parent: Any) -> None:
        guards = (("on_touch_down", self._guard_touch_down), ("on_touch_move", self._guard_touch_move),
                  ("on_touch_up", self._guard_touch_up))
        if self._guarded_window is not None:
            for event, guard in guards:
                self._guarded_window.funbind(event, guard)
        self._guarded_window = parent.get_root_window() if parent is not None else None
        if self._guarded_window is not None:
            for event, guard in guards:
                self._guarded_window.fbind(event, guard)

    def _guard_touch_down(self, _window: Any, touch: Any) -> bool:
        if self.screen_state != "awake":
            self._swallowed.add(touch.uid)
            self.wake()
            return True
        self.last_activity = self.clock()
        return False

    def _guard_touch_move(self, _window: Any, touch: Any) -> bool:
        if touch.uid in self._swallowed:
            return True
        self.last_activity = self.clock()
        return False

    def _guard_touch_up(self, _window: Any, touch: Any) -> bool:
        if touch.uid in self._swallowed:
            self._swallowed.discard(touch.uid)
            return True
        return False

    def _raise_shade(self) -> None:
        """Puts the shade on top of the window, over any dialog open on this root, while dim or asleep."""
        window = self._guarded_window
        if window is None or (window.children and window.children[0] is self.shade):
            return
        if self.shade.parent is not None:
            self.shade.parent.remove_widget(self.shade)
        window.add_widget(self.shade)

    def _lower_shade(self) -> None:
        if self.shade.parent is not self:
            if self.shade.parent is not None:
                self.shade.parent.remove_widget(self.shade)
            self.add_widget(self.shade)

    # --- keys -----------------------------------------------------------------------------------

    def on_key(self, key_name: str) -> bool:
        """A desktop key: wakes the screen, then runs the action mapped to it (kiosk.core.actions)."""
        if self.screen_state != "awake":
            self.wake()
            return True
        self.last_activity = self.clock()
        if self.lock_layer is not None:
            return True
        action = actions.action_for_key(key_name)
        if action is None:
            return False
        actions.perform(self.ctx.jukebox, action, source=f"key {key_name}")
        return True

    def close(self) -> None:
        """Stops timers and cuts the screens off from the core (the app is ending)."""
        self._idle_event.cancel()
        self.ctx.close()
        if futures.error_sink == self.toast.show:
            futures.error_sink = None
