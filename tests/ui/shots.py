"""Screenshots of every screen at one window size, in a fresh process (``python -m tests.ui.shots W H DIR``).

Kivy's offscreen framebuffer keeps the size the window was created with, so each size needs its
own process with the size configured before the window opens. Used by test_screens.py.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path


def main(width: int, height: int, out_dir: Path) -> int:
    os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")
    os.environ.setdefault("KIVY_CLIPBOARD", "dummy")
    from kivy.config import Config

    Config.set("graphics", "width", str(width))
    Config.set("graphics", "height", str(height))
    Config.set("input", "mouse", "")
    from kivy.base import EventLoop

    EventLoop.ensure_window()
    window = EventLoop.window
    from kiosk.core.bus import RecordingBus
    from kiosk.core.events import LibraryScanProgress, PlayerState, StickState
    from kiosk.core.jukebox import Jukebox
    from kiosk.library.store import SqlLibraryStore
    from tests.ui.conftest import StatePlayer, UiHarness, build_ui, make_cover, track_infos

    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        bus = RecordingBus()
        store = SqlLibraryStore.open(Path(tmp) / "library.db", bus)
        covers = [make_cover(Path(tmp) / "covers", i) for i in range(12)]
        ids = store.add_tracks(track_infos(300, covers))
        jukebox = Jukebox(store, bus, StatePlayer(bus))
        ui = UiHarness(store=store, jukebox=jukebox, bus=bus, covers_dir=Path(tmp) / "covers", track_ids=ids)
        build_ui(ui)
        window.add_widget(ui.root)
        jukebox.replace_and_play(ids[:14], 3).result(10)
        jukebox.set_favorite(ids[3], True).result(10)
        jukebox.create_playlist("Sunday morning", ids[20:31]).result(10)
        bus.publish(PlayerState(state="playing", track_id=ids[3], position_ms=83_000,
                                duration_ms=store.get_track(ids[3]).duration_ms, queue_index=3, volume=40))
        ui.wait_until(lambda: ui.root.now_playing.cover.texture is not None, what="cover")
        for screen in ("now", "library", "queue", "playlists", "settings"):
            ui.root.go_to(screen)
            if screen == "library":
                ui.root.library.show_tab("albums")
            ui.settle(0.6)
            written = window.screenshot(name=str(out_dir / f"{screen}-{width}x{height}.png"))
            os.replace(written, out_dir / f"{screen}-{width}x{height}.png")
        ui.root.go_to("now")
        bus.publish(StickState(device="sda1", state="inserted", label="PARTY MIX"))
        bus.publish(LibraryScanProgress(job_id="s", status="reading", scanned=412, found=398, errors=0,
                                        current_path="Soul Classics/Disc 2/07 - Move On Up.flac", total=1280))
        ui.settle(0.6)
        written = window.screenshot(name=str(out_dir / f"import-{width}x{height}.png"))
        os.replace(written, out_dir / f"import-{width}x{height}.png")
        ui.root.close()
        jukebox.close()
        store.close()
    time.sleep(0.1)
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])))
