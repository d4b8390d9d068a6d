"""Every event type, published from a worker thread, changes what the screen shows within a few frames.

Changes come from the real sources where the tests have them (store writes, Jukebox commands on
the core's thread) and are published by hand, from a thread, where the source is hardware
(player, USB stick, importer). Where a screen must ask the library (a new count, a new playlist
list), the answer comes back from the core's read pool, so those wait on a generous deadline.
"""

from __future__ import annotations

from kiosk.core.events import (
    AppError,
    ImportState,
    LibraryScanComplete,
    LibraryScanProgress,
    PlayerError,
    PlayerState,
    StickState,
)
from tests.ui.conftest import track_infos


def test_library_updated_from_a_worker_updates_the_song_list(make_ui) -> None:
    ui = make_ui(tracks=20)
    ui.root.go_to("library")
    library = ui.root.library

    def first_rows():
        return [row.title.text for block in library.song_blocks() if block.index == 0 for row in block.rows]

    ui.wait_until(lambda: library.source.count == 20 and "…" not in first_rows(), what="20 songs listed")
    before = first_rows()
    assert before == [t.title for t in ui.store.list_tracks(0, 10, "title")]
    added = track_infos(5, start=500)
    ui.from_worker(lambda: ui.store.add_tracks(added))
    ui.wait_until(lambda: library.source.count == 25 and "…" not in first_rows() and first_rows() != before,
                  what="25 songs after the worker added 5")
    assert first_rows() == [t.title for t in ui.store.list_tracks(0, 10, "title")]
    assert library.tab_buttons["songs"].text == "Songs (25)"


def test_queue_updated_by_a_command_on_the_core_thread_redraws_the_queue(make_ui) -> None:
    ui = make_ui(tracks=20)
    ui.root.go_to("queue")
    assert ui.root.queue.list.data == []
    ui.from_worker(lambda: ui.jukebox.append(ui.track_ids[:3]).result(10))
    assert ui.within_frames(lambda: len(ui.root.queue.list.data) == 3)
    assert [row["track_id"] for row in ui.root.queue.list.data] == ui.track_ids[:3]
    assert ui.root.queue.summary.text.startswith("3 tracks")


def test_queue_state_changed_lights_shuffle_and_repeat(make_ui) -> None:
    ui = make_ui(tracks=10)
    ui.jukebox.append(ui.track_ids).result(10)
    ui.settle(0.2)
    now = ui.root.now_playing
    assert not now.shuffle_button.active
    ui.from_worker(lambda: ui.jukebox.set_shuffle(True).result(10))
    assert ui.within_frames(lambda: now.shuffle_button.active)
    ui.from_worker(lambda: ui.jukebox.set_repeat("one").result(10))
    assert ui.within_frames(lambda: now.repeat_button.text == "↻¹")


def test_player_state_moves_the_seek_bar_and_the_play_button(make_ui) -> None:
    ui = make_ui(tracks=10)
    track = ui.store.get_track(ui.track_ids[4])
    now = ui.root.now_playing
    ui.from_worker(lambda: ui.bus.publish(PlayerState(
        state="playing", track_id=track.id, position_ms=61_000, duration_ms=200_000, queue_index=None, volume=33)))
    assert ui.within_frames(lambda: now.elapsed.text == "1:01")
    assert now.play_button.text == "▌▐"
    assert now.seek.value == 61_000 and now.seek.max == 200_000
    assert now.volume.value == 33
    ui.wait_until(lambda: now.title.text == track.title, what="the track's title")
    assert now.artist.text == track.artist


def test_favorites_updated_fills_the_heart(make_ui) -> None:
    ui = make_ui(tracks=10)
    ui.jukebox.replace_and_play([ui.track_ids[2]]).result(10)
    now = ui.root.now_playing
    ui.wait_until(lambda: now.track is not None and now.track.id == ui.track_ids[2], what="current track shown")
    ui.settle(0.2)
    assert now.heart_button.text == "♡"
    ui.from_worker(lambda: ui.store.add_favorite(ui.track_ids[2]))
    assert ui.within_frames(lambda: now.heart_button.text == "♥")
    ui.from_worker(lambda: ui.store.remove_favorite(ui.track_ids[2]))
    assert ui.within_frames(lambda: now.heart_button.text == "♡")


def test_playlists_updated_lists_a_playlist_made_elsewhere(make_ui) -> None:
    ui = make_ui(tracks=10)
    lists = ui.root.playlists
    ui.wait_until(lambda: len(lists.list.data) == 1, what="only Favorites listed")
    ui.from_worker(lambda: ui.store.create_playlist("Kitchen", ui.track_ids[:2]))
    ui.wait_until(lambda: [r["title"] for r in lists.list.data] == ["Favorites", "Kitchen"], what="Kitchen listed")
    assert lists.list.data[1]["subtitle"] == "2 songs"


def test_settings_updated_moves_the_setting_control(make_ui) -> None:
    ui = make_ui(tracks=5)
    settings = ui.root.settings
    assert settings.controls["volume.max"].value == 85
    ui.from_worker(lambda: ui.store.set_setting("volume.max", 55))
    assert ui.within_frames(lambda: settings.controls["volume.max"].value == 55)
    ui.from_worker(lambda: ui.store.set_setting("import.mode", "play-from-stick"))
    assert ui.within_frames(lambda: settings.controls["import.mode"].value == "play-from-stick")


def test_scan_progress_shows_the_import_panel_with_counts(make_ui) -> None:
    ui = make_ui(tracks=5)
    assert ui.root.screens.current == "now"
    ui.from_worker(lambda: ui.bus.publish(LibraryScanProgress(
        job_id="j1", status="reading", scanned=10, found=8, errors=1, current_path="Band/Album/01.flac", total=40)))
    panel = ui.root.importing
    assert ui.within_frames(lambda: panel.counts.text == "10 of 40 files · 8 songs")
    assert ui.root.screens.current == "import"
    assert panel.current.text == "Band/Album/01.flac"
    assert "1 file could not be read" in panel.errors.text
    assert panel.progress.value == 10 and panel.progress.max == 40


def test_scan_complete_and_stick_states_end_with_safe_to_remove(make_ui) -> None:
    ui = make_ui(tracks=5)
    panel = ui.root.importing
    for event in (
        StickState(device="sda1", state="inserted", label="MUSIC"),
        LibraryScanProgress(job_id="j2", status="reading", scanned=3, found=3, errors=0, current_path="a.mp3", total=3),
    ):
        ui.from_worker(lambda e=event: ui.bus.publish(e))
    ui.from_worker(lambda: ui.bus.publish(LibraryScanComplete(job_id="j2", added=3, skipped=1, errors=0,
                                                              duration_ms=900)))
    assert ui.within_frames(lambda: panel.counts.text == "3 songs added · 1 already there or not music")
    ui.from_worker(lambda: ui.bus.publish(StickState(device="sda1", state="safe-to-remove", label="MUSIC")))
    assert ui.within_frames(lambda: panel.headline.text.endswith("✓[/font] Safe to remove the stick"))
    assert panel.detail.text == "Stick “MUSIC”"


def test_import_state_shows_copy_progress_and_why_it_stopped(make_ui) -> None:
    ui = make_ui(tracks=5)
    panel = ui.root.importing
    ui.from_worker(lambda: ui.bus.publish(ImportState(
        job_id="j3", state="copying", files_done=3, files_total=12, bytes_done=3, bytes_total=12,
        current_path="x/y.flac")))
    assert ui.within_frames(lambda: panel.counts.text == "3 of 12 files")
    assert panel.headline.text.startswith("Copying music")
    ui.from_worker(lambda: ui.bus.publish(ImportState(
        job_id="j3", state="failed", files_done=5, files_total=12, bytes_done=5, bytes_total=12,
        message="The jukebox's disk is full.")))
    assert ui.within_frames(lambda: panel.headline.text == "Import stopped")
    assert panel.errors.text == "The jukebox's disk is full."


def test_player_error_and_app_error_are_shown(make_ui) -> None:
    ui = make_ui(tracks=5)
    ui.from_worker(lambda: ui.bus.publish(PlayerError(code="decode", message="Cannot play “x.mp3”: broken file")))
    assert ui.within_frames(lambda: ui.root.toast.text == "Cannot play “x.mp3”: broken file")
    assert ui.root.toast.opacity == 1
    ui.from_worker(lambda: ui.bus.publish(AppError(source="usb", message="USB stick support is off: no udev")))
    assert ui.within_frames(lambda: ui.root.toast.text == "USB stick support is off: no udev")
