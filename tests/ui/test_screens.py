"""Every screen at 800x480 as a screenshot (artifacts/screenshots/), and layouts that hold at every size.

The layout check: on every screen at every size, each button outside a scrolling list lies wholly
inside the window and is big enough for a finger, and the navigation is complete.
"""

from __future__ import annotations

import pytest
from kivy.metrics import dp
from kivy.uix.scrollview import ScrollView

from kiosk.core.events import ImportState, LibraryScanProgress, StickState
from kiosk.ui.widgets import Tappable

SCREENS = ("now", "library", "queue", "playlists", "import", "settings")
SIZES = [(800, 480), (1024, 600), (1280, 720), (480, 800), (600, 1024)]


def _fill(ui):
    ui.jukebox.replace_and_play(ui.track_ids[:14], 3).result(10)
    ui.jukebox.set_favorite(ui.track_ids[3], True).result(10)
    ui.jukebox.set_favorite(ui.track_ids[5], True).result(10)
    ui.jukebox.create_playlist("Sunday morning", ui.track_ids[20:31]).result(10)
    ui.jukebox.create_playlist("Kitchen disco", ui.track_ids[40:52]).result(10)
    ui.from_worker(lambda: ui.bus.publish(__import__("kiosk.core.events", fromlist=["PlayerState"]).PlayerState(
        state="playing", track_id=ui.track_ids[3], position_ms=83_000, duration_ms=ui.store.get_track(
            ui.track_ids[3]).duration_ms, queue_index=3, volume=40)))
    ui.wait_until(lambda: ui.root.now_playing.cover.texture is not None, what="the cover")
    ui.settle(0.5)


def _buttons_outside_lists(widget, inside_scroll=False):
    if isinstance(widget, ScrollView):
        inside_scroll = True
    if isinstance(widget, Tappable) and not inside_scroll and widget.opacity > 0:
        yield widget
    for child in widget.children:
        yield from _buttons_outside_lists(child, inside_scroll)


def _check_layout(ui, size, screen):
    width, height = size
    for button in _buttons_outside_lists(ui.root):
        x, y = button.to_window(button.x, button.y)
        where = f"{screen} at {width}x{height}: {button.action or button.text!r}"
        assert x >= -1 and x + button.width <= width + 1, f"{where} sticks out sideways ({x}, {button.width})"
        assert y >= -1 and y + button.height <= height + 1, f"{where} sticks out vertically ({y}, {button.height})"
        assert min(button.size) >= dp(40), f"{where} is too small for a finger: {button.size}"
    for nav in ui.root.nav_buttons.values():
        x, y = nav.to_window(nav.x, nav.y)
        assert x >= -1 and y >= -1 and x + nav.width <= width + 1 and y + nav.height <= height + 1
        assert min(nav.size) >= dp(56)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_every_screen_lays_out_at_every_size(make_ui, size) -> None:
    ui = make_ui(tracks=120, size=size)
    _fill(ui)
    for screen in SCREENS:
        ui.root.go_to(screen)
        ui.settle(0.3)
        _check_layout(ui, size, screen)
    # No screenshots here: the offscreen framebuffer keeps the size the window was created with
    # (800x480), so pictures at other sizes come from a fresh process (see the test below).


def test_screenshots_of_every_screen_at_800x480(make_ui) -> None:
    ui = make_ui(tracks=300, covers=12)
    _fill(ui)
    root, library = ui.root, ui.root.library
    shots = []

    def shot(name):
        ui.settle(0.4)
        shots.append(ui.screenshot(name))

    shot("now-playing")
    root.go_to("library")
    library.show_tab("songs")
    shot("library-songs")
    library.show_tab("albums")
    ui.wait_until(lambda: library.album_grid.children and all(t.cover.texture is not None for t in
                                                                library.album_grid.children), what="album covers")
    shot("library-albums")
    library.show_tab("artists")
    shot("library-artists")
    library.show_tab("search")
    library.search_field.text = "summer"
    ui.wait_until(lambda: library.results.data, what="search results")
    shot("library-search")
    library.toggle_keyboard(False)
    shot("library-search-results")
    album = ui.store.list_albums(None, 0, 1)[0]
    library.open_album(album)
    ui.wait_until(lambda: library.album_track_ids, what="album tracks")
    shot("library-album")
    root.ctx.show_track_actions(ui.store.get_track(ui.track_ids[7]))
    shot("track-actions")
    root.track_actions.close()
    root.go_to("queue")
    shot("queue")
    root.go_to("playlists")
    ui.wait_until(lambda: len(root.playlists.list.data) == 3, what="playlists")
    root.playlists.select(ui.store.list_playlists()[1].id)
    ui.wait_until(lambda: len(root.playlists.tracks.data) == 11, what="playlist songs")
    shot("playlists")
    root.go_to("settings")
    shot("settings")
    root.go_to("now")
    for event in (
        StickState(device="sda1", state="inserted", label="PARTY MIX"),
        LibraryScanProgress(job_id="s1", status="reading", scanned=412, found=398, errors=2,
                            current_path="Soul Classics/Disc 2/07 - Move On Up.flac", total=1280),
    ):
        ui.from_worker(lambda e=event: ui.bus.publish(e))
    shot("import-scanning")
    ui.from_worker(lambda: ui.bus.publish(ImportState(
        job_id="s1", state="copying", files_done=530, files_total=1278, bytes_done=1, bytes_total=2,
        current_path="Soul Classics/Disc 1/03 - Respect.flac")))
    shot("import-copying")
    ui.from_worker(lambda: ui.bus.publish(StickState(device="sda1", state="safe-to-remove", label="PARTY MIX")))
    shot("import-safe-to-remove")
    ui.from_worker(lambda: ui.bus.publish(StickState(
        device="sda1", state="error", label="PARTY MIX", message="The stick was pulled out while music was copied.")))
    shot("import-stopped")
    root.go_to("now")
    root.lock_screen()
    shot("locked")
    root.unlock_screen()
    assert all(p.stat().st_size > 5000 for p in shots)  # real pictures, not empty frames


@pytest.mark.parametrize("size", [(480, 800), (1280, 720)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_screenshots_at_other_sizes_from_a_fresh_window(tmp_path, size) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    from tests.ui.conftest import ARTIFACTS

    env = {k: v for k, v in os.environ.items() if k != "KIVY_HOME"}
    env.update(KIVY_HOME=str(tmp_path / "kivy"), SDL_VIDEODRIVER="offscreen")
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-m", "tests.ui.shots", str(size[0]), str(size[1]), str(ARTIFACTS)],
                            cwd=root, env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    for screen in ("now", "library", "queue", "playlists", "settings", "import"):
        shot = ARTIFACTS / f"{screen}-{size[0]}x{size[1]}.png"
        assert shot.stat().st_size > 5000


def test_at_start_the_first_screen_is_lit_and_says_what_to_do(make_ui) -> None:
    ui = make_ui(tracks=5)
    now = ui.root.now_playing
    assert ui.root.screens.current == "now"
    assert ui.root.nav_buttons["now"].icon.color == ui.root.ctx.accent
    assert ui.root.nav_buttons["queue"].icon.color != ui.root.ctx.accent
    assert (now.title.text, now.artist.text) == ("Nothing playing", "Choose music in the library")
    assert now.heart_button.disabled
