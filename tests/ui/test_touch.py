"""Real touches on real widgets (through the window's input dispatch), against the real Jukebox and SQLite.

What must hold: each touch sends the command it shows, and what the screen then shows comes from
the core's answer, not from the widget's own guess.
"""

from __future__ import annotations

from kiosk.core.events import PlayerState
from kiosk.ui.screens.library import AlbumTile, SongRow
from kiosk.ui.screens.queue import QueueRow


def _playing(ui, ids, start=0):
    ui.jukebox.replace_and_play(ids, start).result(10)
    ui.wait_until(lambda: ui.root.now_playing.track is not None, what="a track on the now-playing screen")


def test_transport_buttons_send_their_commands(make_ui) -> None:
    ui = make_ui(tracks=10)
    _playing(ui, ui.track_ids[:5])
    now = ui.root.now_playing
    ui.tap(now.next_button)
    ui.wait_until(lambda: ui.jukebox.queue_snapshot().current_index == 1, what="next track")
    ui.wait_until(lambda: now.track is not None and now.track.id == ui.track_ids[1], what="next title shown")
    ui.tap(now.play_button)
    ui.wait_until(lambda: now.play_button.text == "▶", what="paused")
    assert ui.player.state == "paused"
    ui.tap(now.shuffle_button)
    ui.wait_until(lambda: now.shuffle_button.active, what="shuffle lit")
    assert ui.jukebox.queue_snapshot().shuffle
    ui.tap(now.repeat_button)
    ui.wait_until(lambda: ui.jukebox.queue_snapshot().repeat == "all", what="repeat all")
    ui.tap(now.heart_button)
    ui.wait_until(lambda: now.heart_button.text == "♥", what="heart filled")
    assert ui.store.is_favorite(ui.track_ids[1])


def test_dragging_the_seek_bar_seeks_once_on_release_and_events_do_not_fight_the_finger(make_ui) -> None:
    ui = make_ui(tracks=3)
    _playing(ui, ui.track_ids[:1])
    seek = ui.root.now_playing.seek
    duration = ui.store.get_track(ui.track_ids[0]).duration_ms
    ui.wait_until(lambda: seek.max == duration, what="seek bar spans the track")
    x0, y = seek.to_window(seek.x + seek.padding, seek.center_y)
    x1, _ = seek.to_window(seek.center_x, seek.center_y)
    touch = ui.touch_at(x0, y)
    touch.touch_down()
    ui.frames(1)
    touch.touch_move((x0 + x1) / 2, y)
    ui.frames(1)
    # The player reports its position meanwhile: the finger keeps the bar.
    ui.from_worker(lambda: ui.bus.publish(PlayerState(state="playing", track_id=ui.track_ids[0], position_ms=1000,
                                                      duration_ms=duration, queue_index=0, volume=40)))
    ui.frames(3)
    assert seek.value > duration * 0.2
    touch.touch_move(x1, y)
    ui.frames(1)
    touch.touch_up()
    ui.wait_until(lambda: any(c[0] == "seek" for c in ui.player.calls), what="a seek")
    seeks = [c[1] for c in ui.player.calls if c[0] == "seek"]
    assert len(seeks) == 1
    assert abs(seeks[0] - duration / 2) < duration * 0.05


def test_volume_buttons_step_by_the_setting_and_the_slider_follows_the_core(make_ui) -> None:
    ui = make_ui(tracks=3, settings={"volume.step": 5, "volume.startup": 40, "volume.max": 50})
    now = ui.root.now_playing
    ui.wait_until(lambda: now.volume.value == 40, what="start-up volume shown")
    ui.tap(now.volume_up)
    ui.wait_until(lambda: ui.jukebox.volume == 45, what="one step up")
    ui.tap(now.volume_up)
    ui.tap(now.volume_up)
    ui.wait_until(lambda: now.volume.value == 50, what="slider at the cap")
    ui.settle(0.2)
    assert ui.jukebox.volume == 50  # volume.max holds however often + is tapped


def test_a_tapped_song_can_be_queued_played_next_or_played_now(make_ui) -> None:
    ui = make_ui(tracks=30)
    _playing(ui, ui.track_ids[:2])
    ui.root.go_to("library")
    library = ui.root.library
    library.show_tab("songs")
    rows = ui.wait_until(lambda: [r for b in library.song_blocks() for r in b.rows
                                  if isinstance(r, SongRow) and r.title.text not in ("", "…")], what="song rows")
    top = min(rows, key=lambda r: r.index)  # the first row of the list
    assert top.index == 0
    first = ui.store.list_tracks(0, 1, "title")[0]
    assert top.title.text == first.title
    ui.tap(top)
    ui.wait_until(lambda: ui.find_all(action="add_to_queue"), what="the song's actions")
    ui.tap(ui.find(action="add_to_queue"))
    ui.wait_until(lambda: ui.jukebox.queue_snapshot().track_ids[-1] == first.id, what="appended")
    ui.tap(top)
    ui.wait_until(lambda: ui.find_all(action="play_next"), what="the song's actions")
    ui.tap(ui.find(action="play_next"))
    ui.wait_until(lambda: ui.jukebox.queue_snapshot().track_ids[1] == first.id, what="inserted after the current")
    ui.tap(top)
    ui.wait_until(lambda: ui.find_all(action="play_now"), what="the song's actions")
    ui.tap(ui.find(action="play_now"))
    ui.wait_until(lambda: ui.jukebox.queue_snapshot().current_track_id == first.id, what="playing now")
    assert ui.player.track.id == first.id
    assert not ui.find_all(action="play_now")  # the panel closed


def test_search_as_you_type_on_the_on_screen_keyboard(make_ui) -> None:
    ui = make_ui(tracks=200)
    ui.root.go_to("library")
    library = ui.root.library
    ui.tap(library.tab_buttons["search"])
    assert library.keyboard.parent is not None
    for char in "river":
        ui.tap(ui.find(action=f"key:{char}"))
    assert library.search_field.text == "river"
    expected = ui.store.search("river", 100)
    assert expected, "the generated library has songs named River"
    ui.wait_until(lambda: len(library.results.data) == len(expected), what="search results")
    assert [r["title"] for r in library.results.data] == [t.title for t in expected]
    ui.tap(ui.find(action="key:⌫"))
    assert library.search_field.text == "rive"
    ui.tap(ui.find(action="key:Clear"))
    ui.wait_until(lambda: library.results.data == [], what="results cleared with the field")


def test_album_grid_opens_an_album_and_plays_it(make_ui) -> None:
    ui = make_ui(tracks=40)
    ui.root.go_to("library")
    library = ui.root.library
    ui.tap(library.tab_buttons["albums"])
    tiles = ui.wait_until(lambda: [t for t in library.album_grid.children if isinstance(t, AlbumTile)],
                          what="album tiles")
    first = max(tiles, key=lambda t: (t.y, -t.x))
    album = first.album
    ui.tap(first)
    expected = [t.id for t in ui.store.album_tracks(album.album, album.album_artist)]
    ui.wait_until(lambda: library.album_track_ids == expected, what="the album's tracks")
    ui.tap(ui.find(action="play_album"))
    ui.wait_until(lambda: ui.jukebox.queue_snapshot().track_ids == tuple(expected), what="album queued")
    assert ui.player.state == "playing"


def _queue_rows(ui):
    ui.settle(0.3)  # covers and details land first; rows are recycled widgets
    return sorted((r for r in ui.root.queue.list.layout_manager.children if isinstance(r, QueueRow)),
                  key=lambda r: -r.y)


def test_queue_tap_jumps_and_the_current_entry_is_marked(make_ui) -> None:
    ui = make_ui(tracks=10)
    _playing(ui, ui.track_ids[:6])
    ui.root.go_to("queue")
    rows = ui.wait_until(lambda: len(_queue_rows(ui)) == 6 and _queue_rows(ui), what="queue rows")
    assert [r.current for r in rows] == [True, False, False, False, False, False]
    ui.tap(rows[3].title)
    ui.wait_until(lambda: ui.jukebox.queue_snapshot().current_index == 3, what="jumped to the 4th entry")
    ui.wait_until(lambda: [r.current for r in _queue_rows(ui)] == [False, False, False, True, False, False],
                  what="the mark moved with the core's event")


def test_queue_remove_by_button_and_by_swipe(make_ui) -> None:
    ui = make_ui(tracks=10)
    _playing(ui, ui.track_ids[:5])
    ui.root.go_to("queue")
    rows = ui.wait_until(lambda: len(_queue_rows(ui)) == 5 and _queue_rows(ui), what="queue rows")
    ui.tap(rows[4].remove_button)
    ui.wait_until(lambda: ui.jukebox.queue_snapshot().track_ids == tuple(ui.track_ids[:4]), what="5th removed")
    rows = ui.wait_until(lambda: len(_queue_rows(ui)) == 4 and _queue_rows(ui), what="4 rows")
    row = rows[2]
    start = row.title.to_window(*row.title.center)
    ui.drag(start, (start[0] + row.width * 0.5, start[1]))
    ui.wait_until(lambda: ui.jukebox.queue_snapshot().track_ids == (ui.track_ids[0], ui.track_ids[1],
                                                                     ui.track_ids[3]), what="3rd swiped away")
    # A short wobble is neither a swipe nor a removal.
    rows = ui.wait_until(lambda: len(_queue_rows(ui)) == 3 and _queue_rows(ui), what="3 rows")
    start = rows[1].title.to_window(*rows[1].title.center)
    ui.drag(start, (start[0] + 30, start[1] + 3))
    ui.settle(0.3)
    assert len(ui.jukebox.queue_snapshot().entries) == 3


def test_queue_reorder_by_dragging_the_handle(make_ui) -> None:
    ui = make_ui(tracks=10)
    _playing(ui, ui.track_ids[:5])
    ui.root.go_to("queue")
    rows = ui.wait_until(lambda: len(_queue_rows(ui)) == 5 and _queue_rows(ui), what="queue rows")
    start = rows[0].handle.to_window(*rows[0].handle.center)
    end = rows[3].handle.to_window(*rows[3].handle.center)
    ui.drag(start, end, hold=0.0)
    expected = (ui.track_ids[1], ui.track_ids[2], ui.track_ids[3], ui.track_ids[0], ui.track_ids[4])
    ui.wait_until(lambda: ui.jukebox.queue_snapshot().track_ids == expected, what="first entry moved to 4th")
    ui.wait_until(lambda: [r.track_id for r in _queue_rows(ui)] == list(expected), what="rows follow the core")
    assert ui.jukebox.queue_snapshot().current_index == 3  # the playing entry moved with its place


def test_clear_takes_two_taps(make_ui) -> None:
    ui = make_ui(tracks=10)
    _playing(ui, ui.track_ids[:3])
    ui.root.go_to("queue")
    clear = ui.root.queue.clear_button
    ui.tap(clear)
    ui.settle(0.2)
    assert len(ui.jukebox.queue_snapshot().entries) == 3 and clear.text == "Tap again"
    ui.tap(clear)
    ui.wait_until(lambda: not ui.jukebox.queue_snapshot().entries, what="queue cleared")
    ui.wait_until(lambda: ui.root.queue.empty.parent is not None, what="the empty-queue note")


def _type(ui, text):
    for char in text:
        key = "key:space" if char == " " else f"key:{char}"
        ui.tap(ui.find(action=key))


def test_playlists_create_rename_add_current_and_delete(make_ui) -> None:
    ui = make_ui(tracks=10)
    _playing(ui, ui.track_ids[:3], start=1)
    ui.root.go_to("playlists")
    lists = ui.root.playlists
    ui.tap(lists.new_button)
    _type(ui, "party")
    ui.tap(ui.find(action="key:✓"))
    ui.wait_until(lambda: [p.name for p in ui.store.list_playlists()] == ["party"], what="playlist created")
    pid = ui.store.list_playlists()[0].id
    ui.wait_until(lambda: lists.selected == pid and lists.title.text == "party", what="new playlist selected")
    ui.tap(lists.add_current_button)
    ui.wait_until(lambda: ui.store.get_playlist(pid).track_ids == (ui.track_ids[1],), what="current added")
    ui.wait_until(lambda: [r["title"] for r in lists.tracks.data] == [ui.store.get_track(ui.track_ids[1]).title],
                  what="the playlist's songs shown")
    ui.tap(lists.rename_button)
    ui.tap(ui.find(action="key:Clear"))
    _type(ui, "disco")
    ui.tap(ui.find(action="key:✓"))
    ui.wait_until(lambda: ui.store.get_playlist(pid).playlist.name == "disco", what="renamed")
    ui.wait_until(lambda: lists.title.text == "disco", what="new name shown")
    ui.tap(lists.delete_button)
    ui.settle(0.1)
    assert ui.store.list_playlists(), "one tap only arms the delete"
    ui.tap(lists.delete_button)
    ui.wait_until(lambda: not ui.store.list_playlists(), what="deleted")
    ui.wait_until(lambda: lists.selected == -1 and lists.title.text == "Favorites", what="back to favorites")


def test_settings_choices_change_the_stored_setting(make_ui) -> None:
    ui = make_ui(tracks=3)
    ui.root.go_to("settings")
    scroll = ui.root.settings.scroll
    ui.tap(ui.find(action="choose:album"))
    ui.wait_until(lambda: ui.store.get_setting("replaygain.mode") == "album", what="replaygain album")
    scroll.scroll_to(ui.find(action="choose:play-from-stick"), animate=False)
    ui.tap(ui.find(action="choose:play-from-stick"))
    ui.wait_until(lambda: ui.store.get_setting("import.mode") == "play-from-stick", what="import mode")
    choice = ui.root.settings.controls["screen.dim_after_s"]
    scroll.scroll_to(choice, animate=False)
    ui.tap(choice.buttons[1])  # 30 s
    ui.wait_until(lambda: ui.store.get_setting("screen.dim_after_s") == 30, what="dim after 30 s")
