"""The touch screen: a fullscreen Kivy UI that is a view of the core and a source of its commands.

Kivy reads environment variables when it is first imported, so the ones that are right for the
appliance are set here, before anything imports kivy (only when the caller has not set them):

- ``KIVY_NO_ARGS``: the ``kiosk`` command owns ``sys.argv``; Kivy must not parse it.
- ``KIVY_LOG_MODE=PYTHON``: Kivy logs through the standard ``logging`` tree the CLI configures,
  instead of replacing the root handlers (so journald sees one format, and Kivy's own console
  handler is never installed; ``KIVY_NO_CONSOLELOG`` is therefore not needed).
- ``KIVY_NO_FILELOG``: no log files in ``~/.kivy/logs`` wearing out the SD card; journald keeps logs.

Nothing under ``kiosk.ui`` except ``run_ui``'s body imports kivy at import time of this module.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

# KIVY_CLIPBOARD=sdl2: Kivy otherwise probes xclip/xsel at the first text field and logs tracebacks
# where they are missing (always, on the Pi's console).
for _name, _value in (
    ("KIVY_NO_ARGS", "1"), ("KIVY_LOG_MODE", "PYTHON"), ("KIVY_NO_FILELOG", "1"), ("KIVY_CLIPBOARD", "sdl2"),
):
    os.environ.setdefault(_name, _value)

if TYPE_CHECKING:
    from kiosk.core.bus import EventBus
    from kiosk.ui.light import Backlight

__all__ = ["run_ui"]


def run_ui(
    config: Any,
    jukebox: Any,
    bus: EventBus | None,
    *,
    windowed: bool = False,
    heartbeat: Callable[[], None] | None = None,
    message: str | None = None,
    backlight: Backlight | None = None,
) -> int:
    """Run the Kivy app until the window closes; returns the exit status.

    ``config`` is a ``kiosk.config.Config`` (screen.fullscreen, screen.show_cursor, covers_dir are
    read). With ``message`` the screen shows only that message (no sound device, no database), and
    ``jukebox``/``bus`` may be None. ``heartbeat`` is called about once a second from the Kivy loop.
    ``backlight`` is the screen's kernel backlight, or None to dim in software.
    """
    from kiosk.ui.kivyconfig import configure_kivy

    screen = getattr(config, "screen", None)
    fullscreen = screen.fullscreen if screen is not None else True
    configure_kivy(windowed=windowed or not fullscreen, show_cursor=bool(screen and screen.show_cursor))
    from kiosk.ui.app import KioskApp

    app = KioskApp(config, jukebox, bus, windowed=windowed, heartbeat=heartbeat, message=message,
                   backlight=backlight)
    app.run()
    return 0
