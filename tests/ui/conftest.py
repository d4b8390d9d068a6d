"""Real Kivy windows offscreen, a real SQLite library, the real Jukebox: the UI as it runs on the Pi.

tests/conftest.py sets the Kivy environment (offscreen SDL, own KIVY_HOME) before anything imports
kivy. One window serves the whole session (Kivy has one per process); each test gets a fresh
``KioskRoot`` in it, built around a fresh store and Jukebox, exactly as ``kiosk.ui.app`` builds it.
"""

from __future__ import annotations

import colorsys
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest

from kiosk.core.bus import RecordingBus
from kiosk.core.jukebox import Jukebox
from kiosk.core.models import TrackInfo
from kiosk.library.store import SqlLibraryStore

# Text fields probe for xclip/xsel and log tracebacks when absent; the tests need no clipboard.
os.environ.setdefault("KIVY_CLIPBOARD", "dummy")

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"

ARTISTS = ("Ada Lovelace Trio", "The Babbage Engines", "Grace & the Compilers", "Linus and the Kernels",
           "Margaret Hamilton Quartet", "Dennis Ritchie Band", "Ken Thompson Singers", "Barbara Liskov")
WORDS = ("Blue", "Morning", "Signal", "River", "Glass", "Echo", "Paper", "Summer", "Night", "Orbit", "Velvet",
         "Copper", "Silent", "Golden", "Electric", "Garden")


def make_cover(covers_dir: Path, index: int) -> str:
    """A small JPEG in one of several clear colours, stored the way the library stores covers."""
    from PIL import Image, ImageDraw

    covers_dir.mkdir(parents=True, exist_ok=True)
    hue = (index * 0.137) % 1.0
    r, g, b = (int(c * 255) for c in colorsys.hsv_to_rgb(hue, 0.55, 0.8))
    img = Image.new("RGB", (240, 240), (r, g, b))
    draw = ImageDraw.Draw(img)
    for i in range(6):
        shade = (max(0, r - 30 * i), max(0, g - 20 * i), min(255, b + 10 * i))
        draw.ellipse((20 + i * 14, 20 + i * 14, 220 - i * 14, 220 - i * 14), outline=shade, width=6)
    cover_id = f"cover{index:04d}"
    img.save(covers_dir / f"{cover_id}.jpg", quality=85)
    return cover_id


def track_infos(count: int, covers: list[str] | None = None, *, per_album: int = 10,
                start: int = 0) -> list[TrackInfo]:
    infos = []
    for i in range(start, start + count):
        album_no = i // per_album
        artist = ARTISTS[album_no % len(ARTISTS)]
        album = f"{WORDS[album_no % len(WORDS)]} {WORDS[(album_no * 7 + 3) % len(WORDS)]} {album_no}"
        title = f"{WORDS[i % len(WORDS)]} {WORDS[(i * 5 + 1) % len(WORDS)]} {i:05d}"
        infos.append(TrackInfo(
            path=f"/music/{artist}/{album}/{i:05d}.flac", title=title, artist=artist, album=album,
            album_artist=artist, track_number=i % per_album + 1, year=1990 + album_no % 30,
            duration_ms=150_000 + (i * 7919) % 180_000, codec="flac", file_size=1000 + i, mtime_ns=i,
            content_hash=f"hash{i:08d}", cover_id=covers[album_no % len(covers)] if covers else None,
        ))
    return infos


class StatePlayer:
    """A plain fake of the Player port (no sound): it writes down commands and publishes
    ``player:state`` on the bus from the core's thread the way the audio engine does."""

    def __init__(self, bus: RecordingBus) -> None:
        self.bus = bus
        self.calls: list[tuple[Any, ...]] = []
        self.track: Any = None
        self.index: int | None = None
        self.state: Literal["playing", "paused", "stopped"] = "stopped"
        self.position = 0
        self.volume = 0
        self.muted = False

    def publish(self) -> None:
        from kiosk.core.events import PlayerState

        self.bus.publish(PlayerState(
            state=self.state, track_id=self.track.id if self.track else None, position_ms=self.position,
            duration_ms=self.track.duration_ms if self.track else 0, queue_index=self.index, volume=self.volume,
            muted=self.muted,
        ))

    def attach(self, host: Any) -> None:
        self.host = host

    def play(self, track: Any, queue_index: int | None, start_ms: int = 0) -> None:
        self.calls.append(("play", track.id, queue_index, start_ms))
        self.track, self.index, self.position, self.state = track, queue_index, start_ms, "playing"
        self.publish()

    def cue(self, track: Any, queue_index: int | None, start_ms: int = 0) -> None:
        self.calls.append(("cue", track.id if track else None, queue_index, start_ms))
        self.track, self.index, self.position = track, queue_index, start_ms
        self.state = "paused" if track else "stopped"
        self.publish()

    def pause(self) -> None:
        self.calls.append(("pause",))
        self.state = "paused"
        self.publish()

    def resume(self) -> None:
        self.calls.append(("resume",))
        self.state = "playing"
        self.publish()

    def stop(self) -> None:
        self.calls.append(("stop",))
        self.state = "stopped"
        self.publish()

    def seek(self, position_ms: int) -> None:
        self.calls.append(("seek", position_ms))
        self.position = position_ms
        self.publish()

    def set_volume(self, percent: int) -> None:
        self.calls.append(("volume", percent))
        self.volume = percent
        self.publish()

    def set_muted(self, muted: bool) -> None:
        self.calls.append(("muted", muted))
        self.muted = muted
        self.publish()

    def set_replaygain(self, mode: str, preamp_db: float, prevent_clipping: bool) -> None:
        self.calls.append(("replaygain", mode, preamp_db, prevent_clipping))

    def close(self) -> None:
        self.calls.append(("close",))


@dataclass
class UiHarness:
    """Everything a UI test touches: the real store, Jukebox, bus and the root widget in the window."""

    store: SqlLibraryStore
    jukebox: Jukebox
    bus: RecordingBus
    covers_dir: Path
    player: StatePlayer | None = None
    root: Any = None
    ctx: Any = None
    bridge: Any = None
    track_ids: list[int] = field(default_factory=list)
    clock_now: float = 1000.0

    def clock(self) -> float:
        return self.clock_now

    # --- frames and waiting ---------------------------------------------------------------------

    @staticmethod
    def frames(count: int = 1) -> None:
        from kivy.base import EventLoop

        for _ in range(count):
            EventLoop.idle()

    def wait_until(self, predicate: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
        """Runs frames until ``predicate()`` is true; the core's threads answer meanwhile."""
        deadline = time.monotonic() + timeout
        while True:
            self.frames(1)
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
            time.sleep(0.005)

    def within_frames(self, predicate: Callable[[], Any], frames: int = 5) -> bool:
        """Whether ``predicate()`` becomes true within a few frames (no waiting on other threads)."""
        for _ in range(frames):
            self.frames(1)
            if predicate():
                return True
        return False

    @staticmethod
    def from_worker(fn: Callable[[], Any]) -> Any:
        """Runs ``fn`` on another thread, as a button, the importer or the player would, and waits for it."""
        import threading

        result: list[Any] = []
        errors: list[BaseException] = []

        def run() -> None:
            try:
                result.append(fn())
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=run)
        thread.start()
        thread.join(10)
        if errors:
            raise errors[0]
        return result[0] if result else None

    def settle(self, seconds: float = 0.3) -> None:
        """Runs frames for a while so pending futures and triggers land."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.frames(1)
            time.sleep(0.005)

    # --- real touches ---------------------------------------------------------------------------

    def touch_at(self, x: float, y: float) -> Any:
        from kivy.tests.common import UnitTestTouch

        return UnitTestTouch(x, y)

    def tap(self, widget: Any, *, hold: float = 0.0) -> None:
        """A finger down and up on the widget's centre, through the window like a real touch."""
        self.frames(2)  # a screen just switched to is laid out on the next frame
        x, y = widget.to_window(*widget.center)
        touch = self.touch_at(x, y)
        touch.touch_down()
        self.frames(1)
        if hold:
            self.settle(hold)
        touch.touch_up()
        self.frames(2)

    def drag(self, start: tuple[float, float], end: tuple[float, float], *, steps: int = 8,
             hold: float = 0.1) -> None:
        """Down, a pause (ScrollView hands a still finger to the widget under it), moves, up."""
        touch = self.touch_at(*start)
        touch.touch_down()
        self.settle(hold)
        for i in range(1, steps + 1):
            touch.touch_move(start[0] + (end[0] - start[0]) * i / steps, start[1] + (end[1] - start[1]) * i / steps)
            self.frames(1)
        touch.touch_up()
        self.frames(2)

    @staticmethod
    def find_all(action: str | None = None, text: str | None = None, cls: type | None = None) -> list[Any]:
        """Widgets on screen now (the window's tree, modals included) matching ``action``/``text``/``cls``."""
        from kivy.core.window import Window

        found = []
        stack = list(Window.children)
        while stack:
            widget = stack.pop()
            stack.extend(widget.children)
            if action is not None and getattr(widget, "action", None) != action:
                continue
            if text is not None and getattr(widget, "text", None) != text:
                continue
            if cls is not None and not isinstance(widget, cls):
                continue
            found.append(widget)
        return found

    def find(self, action: str | None = None, text: str | None = None, cls: type | None = None) -> Any:
        matches = self.find_all(action, text, cls)
        assert len(matches) == 1, f"expected one widget for action={action!r} text={text!r}, found {len(matches)}"
        return matches[0]

    def screenshot(self, name: str) -> Path:
        from kivy.core.window import Window

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.frames(3)
        written = Window.screenshot(name=str(ARTIFACTS / f"{name}.png"))
        target = ARTIFACTS / f"{name}.png"
        os.replace(written, target)
        return target


def set_window_size(size: tuple[int, int]) -> None:
    from kivy.core.window import Window

    Window.size = size
    UiHarness.frames(2)


@pytest.fixture(scope="session")
def kivy_window() -> Any:
    from kivy.base import EventLoop
    from kivy.config import Config

    from kiosk.ui.kivyconfig import configure_graphics

    Config.set("input", "mouse", "")  # no real mouse provider offscreen: touches come from the tests
    configure_graphics()  # the appliance's graphics settings, so screenshots show what the Pi shows
    EventLoop.ensure_window()
    window = EventLoop.window
    window.size = (800, 480)
    return window


@pytest.fixture
def store(tmp_path: Path, bus: RecordingBus) -> Iterator[SqlLibraryStore]:
    opened = SqlLibraryStore.open(tmp_path / "library.db", bus)
    yield opened
    opened.close()


def build_ui(harness: UiHarness) -> None:
    from kiosk.ui.bridge import KivyEventBridge
    from kiosk.ui.context import UiContext
    from kiosk.ui.covers import CoverCache, covers_dir_resolver
    from kiosk.ui.shell import KioskRoot

    harness.bridge = KivyEventBridge(harness.bus)
    harness.ctx = UiContext(harness.jukebox, harness.bridge, CoverCache(covers_dir_resolver(harness.covers_dir)))
    harness.root = KioskRoot(harness.ctx, clock=harness.clock)


@pytest.fixture
def make_ui(kivy_window: Any, store: SqlLibraryStore, bus: RecordingBus,
            tmp_path: Path) -> Iterator[Callable[..., UiHarness]]:
    """``make_ui(tracks=40, settings={...})`` fills the library, then builds the UI in the window."""
    made: list[UiHarness] = []

    def make(tracks: int = 40, *, covers: int = 6, settings: dict[str, Any] | None = None,
             size: tuple[int, int] = (800, 480), player: bool = True) -> UiHarness:
        covers_dir = tmp_path / "covers"
        cover_ids = [make_cover(covers_dir, i) for i in range(covers)] if covers else []
        ids = store.add_tracks(track_infos(tracks, cover_ids)) if tracks else []
        for key, value in (settings or {}).items():
            store.set_setting(key, value)
        fake_player = StatePlayer(bus) if player else None
        jukebox = Jukebox(store, bus, fake_player)
        harness = UiHarness(store=store, jukebox=jukebox, bus=bus, covers_dir=covers_dir, track_ids=ids,
                            player=fake_player)
        set_window_size(size)
        build_ui(harness)
        kivy_window.add_widget(harness.root)
        made.append(harness)
        harness.settle(0.3)
        return harness

    yield make
    for harness in made:
        harness.root.track_actions.close()
        harness.root.text_prompt.close()
        harness.root.pin_prompt.close()
        kivy_window.remove_widget(harness.root)
        harness.root.close()
        harness.bridge.close()
        harness.jukebox.close()
    for child in list(kivy_window.children):
        kivy_window.remove_widget(child)
