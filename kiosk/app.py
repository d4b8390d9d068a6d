"""The one place that builds and wires the jukebox: store, core, player, USB sticks, buttons, screen.

Each part that can be missing on a given machine (a sound device, GPIO, udev, a screen) is started
on its own, and its absence becomes a clear message instead of a traceback: the screen shows it
full-screen when there is a screen, the terminal when there is not.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from kiosk.config import Config
from kiosk.core.bus import EventBus
from kiosk.core.errors import DatabaseError, DeviceError, KioskError
from kiosk.core.events import AppError
from kiosk.core.jukebox import Jukebox
from kiosk.core.ports.library import LibraryStore
from kiosk.core.ports.playback import Player

log = logging.getLogger(__name__)


NO_SCREEN_MESSAGE = (
    "kiosk: no screen found (no DISPLAY, WAYLAND_DISPLAY or console KMS device). On a desktop, run it\n"
    "kiosk: inside your graphical session; on the Pi, the kiosk service draws on the console."
)


def find_screen() -> str | None:
    """How the jukebox can draw here: a named SDL driver, an X or Wayland display, or the Pi's KMS."""
    if os.environ.get("SDL_VIDEODRIVER"):
        return f"SDL video driver {os.environ['SDL_VIDEODRIVER']}"
    if os.environ.get("WAYLAND_DISPLAY"):
        return "Wayland display"
    if os.environ.get("DISPLAY"):
        return f"X display {os.environ['DISPLAY']}"
    if any(Path("/dev/dri").glob("card*")) and sys.stdin is not None and sys.stdin.isatty():
        os.environ["SDL_VIDEODRIVER"] = "kmsdrm"
        return "the console through KMS/DRM"
    return None


def open_store(config: Config, bus: EventBus) -> LibraryStore:
    from kiosk.library.store import SqlLibraryStore

    return SqlLibraryStore.open(config.database, bus)


def fill_demo_library(config: Config, store: LibraryStore) -> None:
    """An empty library with the demo allowed gets a few generated tunes, so there is music at once."""
    if not config.library.demo or store.count_tracks() > 0:
        return
    if config.music_dir.is_dir() and any(config.music_dir.iterdir()):
        return  # real music is there; the start-up scan brings it in
    from kiosk.library.demo import make_demo_library

    infos = make_demo_library(config.data_dir / "demo")
    store.add_tracks(infos)
    log.info("added %d demo tracks", len(infos))


def build_player(config: Config, bus: EventBus) -> Player:
    from kiosk.audio import build_player as build
    from kiosk.audio.output import silence_alsa_lib_errors

    silence_alsa_lib_errors()  # our own message says what went wrong, once

    return build(config, bus)


def _optional(name: str, bus: EventBus, start: Callable[[], Any]) -> Any:
    """Starts a part the jukebox can live without; its failure is logged and shown, never fatal.

    A machine that simply lacks the hardware (no GPIO on a desktop) is not an error worth a
    message on the screen: it is logged only.
    """
    from kiosk.hw.buttons import GpioUnavailableError

    try:
        return start()
    except GpioUnavailableError as exc:
        log.info("%s: %s", name, exc)
        return None
    except (KioskError, OSError, ImportError) as exc:
        log.warning("%s unavailable: %s", name, exc)
        bus.publish(AppError(source=name, message=f"{name}: {exc}"))
        return None


def run_jukebox(config: Config, *, windowed: bool = False) -> int:
    """Starts everything, runs the screen until it closes, then shuts down in order."""
    from kiosk import service

    screen = find_screen()
    bus = EventBus()
    try:
        store = open_store(config, bus)
    except DatabaseError as exc:
        return _fail(config, screen, windowed, f"The music library cannot be opened. {exc}")
    with ExitStack() as stack:
        stack.callback(store.close)
        fill_demo_library(config, store)
        try:
            player: Player | None = build_player(config, bus)
        except DeviceError as exc:
            return _fail(config, screen, windowed, f"No sound device found. {exc}")
        jukebox = Jukebox(store, bus, player)
        stack.callback(jukebox.close)
        if config.usb.enabled:
            usb = _optional("usb", bus, lambda: _start_usb(config, bus, jukebox, store))
            if usb is not None:
                stack.callback(usb.stop)
        rescan = StartupScan(config, store, bus)
        rescan.start()
        stack.callback(rescan.stop)
        controls = _optional("buttons", bus, lambda: _start_controls(config, jukebox, bus))
        if controls is not None:
            stack.callback(controls.close)
        if screen is None:
            print(NO_SCREEN_MESSAGE, file=sys.stderr)
            return 2
        watchdog = service.Watchdog()
        service.install_stop_handler(_stop_kivy)
        from kiosk.hw.backlight import SysfsBacklight
        from kiosk.ui import run_ui

        backlight = SysfsBacklight.find()
        ready = False

        def heartbeat() -> None:
            # The first beat comes from the running Kivy loop: only now can the screen be touched.
            nonlocal ready
            if not ready:
                ready = True
                service.notify_ready("Playing")
            watchdog.beat()

        try:
            return run_ui(config, jukebox, bus, windowed=windowed, heartbeat=heartbeat, backlight=backlight)
        finally:
            service.notify_stopping()
    return 0


class StartupScan:
    """Brings the library up to date with the music folder and the configured folders, in the background.

    Files added, changed or deleted while the jukebox was off (or by hand) show up without a stick;
    a no-change rescan reads no tags, so this costs little on an ordinary start.
    """

    def __init__(self, config: Config, store: LibraryStore, bus: EventBus) -> None:
        self._folders = [p for p in (config.music_dir, *config.library.scan_dirs) if p.is_dir()]
        self._config, self._store, self._bus = config, store, bus
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._folders:
            self._thread = threading.Thread(target=self._run, name="startup-scan", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        from kiosk.library.scanner import Scanner
        from kiosk.library.tags import ProcessTagReader

        reader = ProcessTagReader(self._config.covers_dir)
        try:
            scanner = Scanner(self._store, self._bus, reader)
            for folder in self._folders:
                if self._cancel.is_set():
                    break
                result = scanner.scan(folder, cancel=self._cancel)
                log.info("start-up scan of %s: %s, %d added, %d removed", folder, result.status, result.added,
                         result.removed)
        except Exception:
            log.exception("start-up scan failed")
        finally:
            reader.close()

    def stop(self) -> None:
        self._cancel.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


def _start_usb(config: Config, bus: EventBus, jukebox: Jukebox, store: LibraryStore) -> Any:
    from kiosk.hw.usb import build_stick_service

    svc = build_stick_service(config, bus, jukebox, store)
    svc.start()
    return svc


def _start_controls(config: Config, jukebox: Jukebox, bus: EventBus) -> Any:
    from kiosk.hw.buttons import build_controls

    controls = build_controls(config, jukebox, bus)
    controls.start()
    return controls


def _stop_kivy() -> None:
    """systemd stops the jukebox with SIGTERM: leave the Kivy loop so everything closes in order."""
    from kivy.app import App

    app = App.get_running_app()
    if app is not None:
        app.stop()
    else:
        raise SystemExit(0)


def _fail(config: Config, screen: str | None, windowed: bool, message: str) -> int:
    """Shows a problem that stops the jukebox: full-screen when there is a screen, else on the terminal."""
    print(f"kiosk: {message}", file=sys.stderr)  # stderr reaches the journal on the Pi too
    if screen is None:
        print(NO_SCREEN_MESSAGE, file=sys.stderr)
        return 2
    from kiosk.ui import run_ui

    run_ui(config, None, None, windowed=windowed, message=message)
    return 2
