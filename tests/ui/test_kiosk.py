"""Kiosk behaviour: dimming and sleep, the waking touch, PIN locks, keys, messages, the app entry point."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from kiosk.core.events import LibraryScanProgress
from kiosk.ui.app import BLOCKED_KEYS, KioskApp, build_root
from kiosk.ui.dialogs import MessageView
from kiosk.ui.light import ScreenState
from tests.ui.conftest import track_infos


def _playing(ui, ids):
    ui.jukebox.replace_and_play(ids, 0).result(10)
    ui.wait_until(lambda: ui.root.now_playing.track is not None, what="a track shown")


def test_idle_dims_then_sleeps_and_the_waking_touch_does_nothing_else(make_ui) -> None:
    ui = make_ui(tracks=5, settings={"screen.dim_after_s": 30, "screen.sleep_after_s": 300})
    _playing(ui, ui.track_ids[:3])
    states: list[ScreenState] = []
    root = ui.root
    root.on_screen_state = states.append
    next_button = root.now_playing.next_button
    ui.clock_now += 29
    root.check_idle()
    assert root.screen_state == "awake"
    ui.clock_now += 2
    root.check_idle()
    assert root.screen_state == "dim" and root.shade._color.a > 0.5
    ui.tap(next_button)  # wakes the screen, and must not skip the song
    ui.settle(0.3)
    assert root.screen_state == "awake" and root.shade._color.a == 0
    assert ui.jukebox.queue_snapshot().current_index == 0
    ui.clock_now += 301
    root.check_idle()
    assert root.screen_state == "asleep" and root.shade._color.a == 1
    ui.tap(next_button)
    ui.settle(0.3)
    assert root.screen_state == "awake"
    assert ui.jukebox.queue_snapshot().current_index == 0
    ui.tap(next_button)  # awake now: this one counts
    ui.wait_until(lambda: ui.jukebox.queue_snapshot().current_index == 1, what="next after waking")
    assert states == ["dim", "awake", "asleep", "awake"]


def test_a_dialog_open_when_the_screen_dims_is_dimmed_too_and_the_waking_tap_on_it_does_nothing_else(make_ui) -> None:
    """Dialogs open on the window above the jukebox's screens. Tried: the song's actions left open until
    the screen dims, then a tap on "Add to queue". Must hold: the shade lies over the dialog, the tap only
    wakes the screen (the queue is unchanged, the dialog stays open), and the next tap counts."""
    from kivy.core.window import Window

    ui = make_ui(tracks=5, settings={"screen.dim_after_s": 30, "screen.sleep_after_s": 300})
    _playing(ui, ui.track_ids[:2])
    root = ui.root
    root.track_actions.open(ui.store.get_tracks([ui.track_ids[3]])[0])
    add = ui.wait_until(lambda: ui.find_all(action="add_to_queue"), what="the song's actions")[0]
    ui.clock_now += 31
    root.check_idle()
    ui.frames(2)
    assert root.screen_state == "dim"
    assert Window.children[0] is root.shade and root.shade._color.a > 0.5  # on top of the open dialog
    assert root.shade.size == list(Window.size)
    ui.tap(add)
    ui.settle(0.3)
    assert root.screen_state == "awake" and root.shade._color.a == 0
    assert root.shade.parent is root  # back in its place under any later dialog
    assert ui.jukebox.queue_snapshot().track_ids == tuple(ui.track_ids[:2])
    assert ui.find_all(action="add_to_queue"), "the waking tap closed the dialog"
    ui.tap(ui.find(action="add_to_queue"))
    ui.wait_until(lambda: ui.jukebox.queue_snapshot().track_ids[-1] == ui.track_ids[3], what="appended once awake")


def test_a_finger_busy_in_a_dialog_keeps_the_screen_awake(make_ui) -> None:
    """Touches on a dialog never reached the screens under it, so the idle timer ran on while someone
    typed. Tried: a tap inside the song's actions 25 s into a 30 s dim time, then 10 s more. Must hold:
    the screen is still awake, because the tap counted as activity."""
    ui = make_ui(tracks=5, settings={"screen.dim_after_s": 30, "screen.sleep_after_s": 300})
    root = ui.root
    root.track_actions.open(ui.store.get_tracks([ui.track_ids[0]])[0])
    ui.wait_until(lambda: ui.find_all(action="add_to_queue"), what="the song's actions")
    ui.clock_now += 25
    title = ui.find_all(text=ui.store.get_tracks([ui.track_ids[0]])[0].title)[0]  # the dialog's title: inert
    ui.tap(title)
    ui.clock_now += 10
    root.check_idle()
    assert root.screen_state == "awake"
    ui.clock_now += 31
    root.check_idle()
    assert root.screen_state == "dim"


def test_never_dims_when_the_settings_say_never(make_ui) -> None:
    ui = make_ui(tracks=2, settings={"screen.dim_after_s": 0, "screen.sleep_after_s": 0})
    ui.clock_now += 100_000
    ui.root.check_idle()
    assert ui.root.screen_state == "awake"


def _enter_pin(ui, digits):
    for digit in digits:
        ui.tap(ui.find(action=f"pin:{digit}"))
    ui.tap(ui.find(action="pin:✓"))


def test_pin_guards_the_settings_screen(make_ui) -> None:
    ui = make_ui(tracks=2, settings={"lock.pin": "2468"})
    root = ui.root
    ui.tap(root.nav_buttons["settings"])
    assert root.screens.current == "now", "settings must not open without the PIN"
    _enter_pin(ui, "1111")
    assert root.screens.current == "now"
    assert root.pin_prompt.pad.title.text == "Wrong PIN, try again"
    _enter_pin(ui, "2468")
    assert root.screens.current == "settings"
    ui.tap(root.nav_buttons["queue"])
    ui.tap(root.nav_buttons["settings"])
    assert root.screens.current == "queue", "leaving settings locks them again"
    ui.tap(ui.find(action="cancel"))


def test_a_pin_set_on_screen_is_stored_and_can_be_removed(make_ui) -> None:
    ui = make_ui(tracks=2)
    ui.root.go_to("settings")
    settings = ui.root.settings
    ui.root.settings.scroll.scroll_to(settings.set_pin_button, animate=False)
    ui.tap(settings.set_pin_button)
    _enter_pin(ui, "12")  # too short: refused, nothing stored
    assert ui.store.get_setting("lock.pin") == ""
    _enter_pin(ui, "9753")
    ui.wait_until(lambda: ui.store.get_setting("lock.pin") == "9753", what="PIN stored")
    ui.wait_until(lambda: settings.set_pin_button.text == "Change PIN", what="settings show a PIN is set")
    ui.tap(settings.remove_pin_button)
    ui.wait_until(lambda: ui.store.get_setting("lock.pin") == "", what="PIN removed")


def test_whole_screen_lock_blocks_every_touch_until_the_pin(make_ui) -> None:
    ui = make_ui(tracks=5, settings={"lock.pin": "4321", "lock.whole_screen": True})
    _playing(ui, ui.track_ids[:3])
    root = ui.root
    assert root.lock_layer is not None
    ui.tap(root.now_playing.next_button)  # under the lock: nothing happens
    ui.settle(0.3)
    assert ui.jukebox.queue_snapshot().current_index == 0
    _enter_pin(ui, "4321")
    assert root.lock_layer is None
    ui.tap(root.now_playing.next_button)
    ui.wait_until(lambda: ui.jukebox.queue_snapshot().current_index == 1, what="next once unlocked")
    ui.clock_now += 10_000  # asleep, so it locks again
    root.check_idle()
    assert root.lock_layer is not None


def test_keys_run_the_named_actions(make_ui) -> None:
    ui = make_ui(tracks=5)
    _playing(ui, ui.track_ids[:3])
    assert ui.root.on_key("right")
    ui.wait_until(lambda: ui.jukebox.queue_snapshot().current_index == 1, what="next by key")
    assert ui.root.on_key("s")
    ui.wait_until(lambda: ui.jukebox.queue_snapshot().shuffle, what="shuffle by key")
    assert not ui.root.on_key("q")  # unmapped keys are left alone


def test_escape_f1_and_close_requests_do_not_quit_the_kiosk() -> None:
    app = KioskApp(None, None, None, windowed=False)
    for key in (27, 282):
        assert key in BLOCKED_KEYS
        assert app._on_keyboard(None, key, 0, None, []) is True
    assert app._on_request_close(source="keyboard") is True
    assert app._on_request_close() is True  # Alt+F4 arrives as a close request
    assert app.open_settings() is False
    windowed = KioskApp(None, None, None, windowed=True)
    assert windowed._on_request_close() is False  # a developer's window closes normally


def test_empty_library_shows_the_usb_message_until_music_arrives(make_ui) -> None:
    ui = make_ui(tracks=0, covers=0)
    ui.wait_until(lambda: ui.root.empty_message.parent is not None, what="the empty-library message")
    assert "USB stick" in ui.root.empty_message.text.text
    ui.screenshot("empty-library-800x480")
    ui.from_worker(lambda: ui.store.add_tracks(track_infos(3)))
    ui.wait_until(lambda: ui.root.empty_message.parent is None, what="message gone once tracks exist")


def test_a_message_alone_fills_the_screen(kivy_window, tmp_path) -> None:
    from tests.ui.conftest import UiHarness

    view = build_root(None, None, None, "No sound device found. Check the DAC's cable.")
    assert isinstance(view, MessageView)
    kivy_window.add_widget(view)
    try:
        UiHarness.frames(3)
        assert view.size == list(kivy_window.size) or tuple(view.size) == tuple(kivy_window.size)
        assert view.text.text == "No sound device found. Check the DAC's cable."
        from kivy.core.window import Window

        from tests.ui.conftest import ARTIFACTS

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        Path(Window.screenshot(name=str(ARTIFACTS / "message-800x480.png"))).replace(ARTIFACTS / "message-800x480.png")
    finally:
        kivy_window.remove_widget(view)


def test_scan_progress_at_full_rate_redraws_at_most_once_a_frame(make_ui) -> None:
    ui = make_ui(tracks=3)
    panel = ui.root.importing
    ui.frames(2)
    before = panel.renders
    count = 3000

    def flood():
        for i in range(1, count + 1):
            ui.bus.publish(LibraryScanProgress(job_id="flood", status="reading", scanned=i, found=i, errors=0,
                                               current_path=f"f/{i}.mp3", total=count))

    ui.from_worker(flood)
    frames = 0
    while panel.counts.text != f"{count:,} of {count:,} files · {count:,} songs":
        ui.frames(1)
        frames += 1
        assert frames < 500, "the final state never showed"
    assert panel.renders - before <= frames  # never more than one redraw per frame
    assert panel.renders - before < count / 10


def test_run_ui_runs_the_app_feeds_the_heartbeat_and_returns(tmp_path) -> None:
    """The real entry point in a fresh process (one Kivy window per process): a message screen, fullscreen."""
    script = textwrap.dedent("""
        import os, sys
        from kivy.app import App
        import kiosk.ui as ui
        beats = []
        def beat():
            beats.append(1)
            if len(beats) == 3:
                App.get_running_app().stop()
        code = ui.run_ui(None, None, None, heartbeat=beat, message="The database cannot be opened: disk error")
        from kivy.core.window import Window
        print("RESULT", code, len(beats), Window.show_cursor)
    """)
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("KIVY_")}
    env.update(SDL_VIDEODRIVER="offscreen", KIVY_HOME=str(tmp_path / "kivy"), PYTHONPATH=str(Path.cwd()))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "RESULT 0 3 False" in result.stdout, result.stdout + result.stderr[-3000:]
