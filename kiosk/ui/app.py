"""The Kivy App: a window around ``KioskRoot`` (or around one full-screen message), kiosk-proof.

Esc, F1 and Alt+F4 neither quit nor open Kivy's settings on the appliance: Esc is disabled in the
config, the settings panel is switched off, and a close request is refused unless running windowed
for development. The heartbeat for the systemd watchdog is called from the Kivy loop, so a hung UI
stops feeding it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.core.window import Window
from kivy.uix.widget import Widget

from kiosk.ui.bridge import KivyEventBridge
from kiosk.ui.context import UiContext
from kiosk.ui.covers import CoverCache, covers_dir_resolver
from kiosk.ui.dialogs import MessageView
from kiosk.ui.light import Backlight
from kiosk.ui.shell import KioskRoot

log = logging.getLogger(__name__)

#: Kivy key codes the kiosk swallows whatever else is bound: Esc, F1 (Kivy settings), F4 (with Alt).
BLOCKED_KEYS = {27, 282, 285}


def build_root(config: Any, jukebox: Any, bridge: KivyEventBridge | None, message: str | None = None,
               backlight: Backlight | None = None) -> Widget:
    """The window's content: the jukebox UI, or only a message when the jukebox cannot run.
    ``backlight`` is the screen's kernel backlight, None for a screen without one (dimmed in software)."""
    if message is not None or jukebox is None or bridge is None:
        return MessageView("The jukebox cannot start", message or "Something is missing.", symbol="✕")
    covers_dir = getattr(config, "covers_dir", None)
    covers = CoverCache(covers_dir_resolver(covers_dir))
    ctx = UiContext(jukebox, bridge, covers)
    root = KioskRoot(ctx)
    root.use_backlight(backlight)
    return root


class KioskApp(App):
    title = "Jukebox"
    use_kivy_settings = False

    def __init__(self, config: Any, jukebox: Any, bus: Any, *, windowed: bool = False,
                 heartbeat: Callable[[], None] | None = None, message: str | None = None,
                 backlight: Backlight | None = None) -> None:
        super().__init__()
        self.kiosk_config = config
        self.jukebox = jukebox
        self.bus = bus
        self.windowed = windowed
        self.heartbeat = heartbeat
        self.message = message
        self.backlight = backlight
        self.bridge: KivyEventBridge | None = None
        self.kiosk_root: Widget | None = None

    def build(self) -> Widget:
        if self.message is None and self.bus is not None:
            self.bridge = KivyEventBridge(self.bus)
        root = build_root(self.kiosk_config, self.jukebox, self.bridge, self.message, self.backlight)
        self.kiosk_root = root
        Window.clearcolor = (0, 0, 0, 1)
        screen = getattr(self.kiosk_config, "screen", None)
        Window.show_cursor = bool(self.windowed or (screen is not None and screen.show_cursor))
        Window.bind(on_keyboard=self._on_keyboard, on_request_close=self._on_request_close)
        if self.heartbeat is not None:
            Clock.schedule_interval(lambda _dt: self._beat(), 1.0)
        return root

    def _beat(self) -> None:
        assert self.heartbeat is not None
        try:
            self.heartbeat()
        except Exception:
            log.exception("heartbeat failed")

    def _on_keyboard(self, _window: Any, key: int, _scancode: int, _codepoint: str | None,
                     modifiers: list[str]) -> bool:
        if key in BLOCKED_KEYS:
            return True
        root = self.kiosk_root
        if isinstance(root, KioskRoot):
            name = Window._system_keyboard.keycode_to_string(key)
            return root.on_key(name)
        return False

    def _on_request_close(self, *_: Any, **kwargs: Any) -> bool:
        """True refuses: on the appliance nothing but the service manager ends the jukebox."""
        if self.windowed and kwargs.get("source") != "keyboard":
            return False
        log.info("close request refused (kiosk mode)")
        return True

    def open_settings(self, *_: Any) -> bool:
        return False  # F1 and the menu key must never open Kivy's settings panel

    def on_stop(self) -> None:
        if isinstance(self.kiosk_root, KioskRoot):
            self.kiosk_root.close()
        if self.bridge is not None:
            self.bridge.close()
