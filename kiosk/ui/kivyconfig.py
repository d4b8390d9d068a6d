"""Kivy settings for a kiosk, applied before the window exists (Kivy reads them when it opens one)."""

from __future__ import annotations

from kivy.config import Config


def configure_graphics() -> None:
    """No multisampling: on a software renderer it costs about 30 MB (measured by the UI benchmark) and
    on the Pi's GPU a framebuffer per sample; rounded shapes are antialiased by themselves instead
    (``SmoothRoundedRectangle``), so edges stay smooth."""
    Config.set("graphics", "multisamples", "0")


def configure_kivy(*, windowed: bool, show_cursor: bool = False, size: tuple[int, int] = (800, 480)) -> None:
    """Fullscreen without a cursor, Esc never quits, no Kivy settings panel, no mouse-emulated multitouch."""
    configure_graphics()
    Config.set("kivy", "exit_on_escape", "0")
    Config.set("kivy", "pause_on_minimize", "0")
    Config.set("kivy", "keyboard_mode", "system")
    Config.set("input", "mouse", "mouse,disable_multitouch")
    Config.set("graphics", "show_cursor", "1" if (show_cursor or windowed) else "0")
    Config.set("graphics", "fullscreen", "0" if windowed else "auto")
    Config.set("graphics", "borderless", "0" if windowed else "1")
    Config.set("graphics", "width", str(size[0]))
    Config.set("graphics", "height", str(size[1]))
    Config.set("graphics", "resizable", "1" if windowed else "0")
