"""'Add to playlist…' from a song's actions, with real touches: every playlist is reachable in a
scrolling list, and a new one can be named on the on-screen keyboard; the store says what happened."""

from __future__ import annotations

import pytest

from kiosk.ui.dialogs import PlaylistChoice


def _type(ui, text):
    for char in text:
        ui.tap(ui.find(action="key:space" if char == " " else f"key:{char}"))


def _open_chooser(ui, track):
    ui.root.ctx.show_track_actions(track)
    ui.wait_until(lambda: ui.find_all(action="add_to_playlist"), what="the song's actions")
    ui.tap(ui.find(action="add_to_playlist"))
    return ui.wait_until(lambda: ui.root.track_actions.chooser, what="the playlist chooser")


def _window_box(widget):
    x, y = widget.to_window(widget.x, widget.y)
    return x, y, x + widget.width, y + widget.height


def _visible_row(chooser, action):
    """The row showing ``action`` if it lies wholly inside the list's visible area, else None."""
    _left, bottom, _right, top = _window_box(chooser)
    for row in chooser.layout_manager.children:
        if isinstance(row, PlaylistChoice) and row.action == action:
            _x0, y0, _x1, y1 = _window_box(row)
            if y0 >= bottom - 1 and y1 <= top + 1:
                return row
    return None


def test_the_twentieth_playlist_is_reached_by_scrolling_and_a_tap_adds_the_song(make_ui) -> None:
    ui = make_ui(tracks=5)
    names = [f"Mix {i:02d}" for i in range(1, 21)]
    for name in names:
        ui.jukebox.create_playlist(name).result(10)
    playlists = ui.store.list_playlists()
    assert [p.name for p in playlists] == names
    last = playlists[-1]
    track = ui.store.get_track(ui.track_ids[2])
    chooser = _open_chooser(ui, track)
    ui.settle(0.2)
    assert len(chooser.data) == 20, "every playlist is listed, not the first few"
    assert _visible_row(chooser, f"playlist:{playlists[0].id}") is not None
    assert _visible_row(chooser, f"playlist:{last.id}") is None, "the 20th starts below the fold"
    rows = [r for r in chooser.layout_manager.children if isinstance(r, PlaylistChoice)]
    assert len(rows) < 20, "rows are recycled, not one widget per playlist"
    assert all(min(r.size) >= 56 for r in rows), "rows are finger-sized"

    # Flick up with a finger, as often as it takes (a few times on a small screen).
    left, bottom, right, top = _window_box(chooser)
    x = (left + right) / 2
    for _ in range(12):
        if _visible_row(chooser, f"playlist:{last.id}") is not None:
            break
        ui.drag((x, bottom + 20), (x, top - 20), hold=0.0, steps=6)
        ui.settle(0.4)
    row = _visible_row(chooser, f"playlist:{last.id}")
    assert row is not None, f"the 20th playlist never scrolled into view (scroll_y {chooser.scroll_y})"
    assert not any(p.track_count for p in ui.store.list_playlists()), "scrolling added nothing"
    ui.tap(row)
    ui.wait_until(lambda: ui.store.get_playlist(last.id).track_ids == (track.id,), what="the song in Mix 20")
    assert [p.track_count for p in ui.store.list_playlists()] == [0] * 19 + [1]
    ui.wait_until(lambda: ui.root.track_actions.view is None and not ui.find_all(cls=PlaylistChoice),
                  what="the chooser closed")


def _name_new_playlist(ui, track, name: str) -> None:
    """From the chooser: "+ New playlist…", the name typed on the on-screen keys, then ✓."""
    _open_chooser(ui, track)
    ui.tap(ui.find(action="new_playlist_with_track"))
    ui.wait_until(lambda: ui.find_all(action="key:✓"), what="the on-screen keyboard")
    _type(ui, name)
    ui.tap(ui.find(action="key:✓"))


def test_new_playlist_from_the_chooser_is_named_on_the_keyboard_and_holds_the_song(make_ui) -> None:
    ui = make_ui(tracks=5)
    ui.jukebox.create_playlist("Kitchen").result(10)
    track = ui.store.get_track(ui.track_ids[1])
    _name_new_playlist(ui, track, "road trip")
    ui.wait_until(lambda: len(ui.store.list_playlists()) == 2, what="the new playlist")
    created = next(p for p in ui.store.list_playlists() if p.name == "road trip")
    assert ui.store.get_playlist(created.id).track_ids == (track.id,)
    ui.wait_until(lambda: not ui.find_all(action="key:✓"), what="the keyboard closed")


def test_a_taken_name_is_refused_and_the_existing_playlist_keeps_its_songs(make_ui) -> None:
    ui = make_ui(tracks=5)
    kitchen = ui.jukebox.create_playlist("kitchen", ui.track_ids[:2]).result(10)
    track = ui.store.get_track(ui.track_ids[3])
    # Tried: a new playlist named like an existing one. Must survive: one "kitchen" with its two songs,
    # the new song added nowhere, and the refusal said on screen.
    _name_new_playlist(ui, track, "kitchen")
    ui.wait_until(lambda: ui.root.toast.opacity == 1 and ui.root.toast.text, what="the refusal shown")
    assert "kitchen" in ui.root.toast.text.lower()
    assert [(p.name, p.track_count) for p in ui.store.list_playlists()] == [("kitchen", 2)]
    assert ui.store.get_playlist(kitchen.id).track_ids == tuple(ui.track_ids[:2])


def test_with_no_playlists_the_chooser_offers_to_make_one(make_ui) -> None:
    ui = make_ui(tracks=3)
    _open_chooser(ui, ui.store.get_track(ui.track_ids[0]))
    assert ui.find_all(text="No playlists yet: make the first one.")
    assert ui.find(action="new_playlist_with_track")
    ui.tap(ui.find(action="cancel"))
    ui.wait_until(lambda: not ui.find_all(action="new_playlist_with_track"), what="closed")
    assert ui.store.list_playlists() == []


def test_screenshot_of_the_playlist_chooser(make_ui) -> None:
    ui = make_ui(tracks=40)
    for i, name in enumerate(("Sunday morning", "Kitchen disco", "Road trip", "Bedtime", "Garden party",
                              "Workout", "Rainy day", "Party mix")):
        ui.jukebox.create_playlist(name, ui.track_ids[i * 3:i * 3 + i + 1]).result(10)
    _open_chooser(ui, ui.store.get_track(ui.track_ids[7]))
    ui.settle(0.3)
    shot = ui.screenshot("track-actions-playlists")
    assert shot.stat().st_size > 5000


@pytest.mark.parametrize("size", [(800, 480), (480, 800), (1024, 600), (1280, 720)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_chooser_fits_every_screen_with_finger_sized_rows(make_ui, size) -> None:
    from kivy.metrics import dp

    width, height = size
    ui = make_ui(tracks=5, size=size)
    for i in range(12):
        ui.jukebox.create_playlist(f"A playlist with a rather long name number {i:02d}").result(10)
    chooser = _open_chooser(ui, ui.store.get_track(ui.track_ids[0]))
    ui.settle(0.3)
    for widget in [ui.find(action="new_playlist_with_track"), ui.find(action="cancel"), chooser]:
        x0, y0, x1, y1 = _window_box(widget)
        assert x0 >= -1 and y0 >= -1 and x1 <= width + 1 and y1 <= height + 1, f"{widget} sticks out at {size}"
    for button in (ui.find(action="new_playlist_with_track"), ui.find(action="cancel")):
        assert min(button.size) >= dp(40)
    shown = [r for r in chooser.layout_manager.children if isinstance(r, PlaylistChoice)
             and _visible_row(chooser, r.action) is not None]
    assert len(shown) >= 2, f"only {len(shown)} whole rows visible at {size}"
    assert all(r.height >= dp(56) for r in shown)
