"""What keeps the touch screen's memory flat as the library grows, checked on real windows and a real
SQLite library: screens built on their first visit, a song list that holds a screenful of views and a
few pages of songs whatever the count, albums read a page at a time, a cover cache bounded in bytes.

The figures themselves (MB per phase) are in tests/benchmarks/bench_ui.py; these tests check the
behaviour that makes them so, and that nothing a user sees is lost by it.
"""

from __future__ import annotations

import math

from kiosk.core.events import StickState
from kiosk.ui.covers import CoverCache, CoverCallback, covers_dir_resolver
from kiosk.ui.screens.library import ALBUM_PAGE, BLOCK, KEPT_PAGES, PAGE
from tests.ui.conftest import make_cover, track_infos


def _shown_rows(library) -> list:
    rows = [row for block in library.song_blocks() for row in block.rows if row.opacity]
    return sorted(rows, key=lambda row: row.index)


def _rows_filled(library) -> bool:
    rows = _shown_rows(library)
    return bool(rows) and all(row.title.text not in ("", "…") for row in rows)


def _at_most_a_screenful_of_views(library) -> int:
    songs = library.songs
    return math.ceil(songs.height / songs.item_height) + 1


def test_start_builds_now_playing_and_the_import_panel_only(make_ui) -> None:
    ui = make_ui(tracks=40)
    assert set(ui.root.screens.screen_names) == {"now", "import"}
    ui.tap(ui.root.nav_buttons["queue"])
    assert ui.root.screens.current == "queue"
    assert set(ui.root.screens.screen_names) == {"now", "import", "queue"}
    # The library was never visited: a stick arriving still brings the import panel forward.
    assert "library" not in ui.root.screens.screen_names
    ui.from_worker(lambda: ui.bus.publish(StickState(device="sda1", state="inserted", label="MUSIC")))
    ui.wait_until(lambda: ui.root.screens.current == "import", what="the import panel brought forward")


def test_the_song_list_keeps_a_screenful_of_views_and_shows_the_right_songs_at_both_ends(make_ui) -> None:
    count = 3_000
    ui = make_ui(tracks=count, covers=0)
    ui.root.go_to("library")
    library = ui.root.library
    library.show_tab("songs")
    ui.wait_until(lambda: library.source.count == count and _rows_filled(library), what="the first songs")
    first = _shown_rows(library)
    assert [row.title.text for row in first] == [t.title for t in ui.store.list_tracks(0, len(first), "title")]
    assert library.songs.count == math.ceil(count / BLOCK)
    assert len(library.songs.views) <= _at_most_a_screenful_of_views(library)

    library.songs.scroll_y = 0  # the far end of the list
    ui.wait_until(lambda: _shown_rows(library) and _shown_rows(library)[-1].index == count - 1
                  and _rows_filled(library), what="the last songs")
    last = _shown_rows(library)
    expected = ui.store.list_tracks(count - len(last), len(last), "title")
    assert [row.title.text for row in last] == [t.title for t in expected]
    assert len(library.songs.views) <= _at_most_a_screenful_of_views(library)


def test_far_jumps_keep_only_a_few_pages_of_songs_and_scrolling_back_asks_again(make_ui) -> None:
    count = 3_000  # 30 pages of songs
    assert count > PAGE * KEPT_PAGES  # the list does not fit in the pages kept, so dropping must happen
    ui = make_ui(tracks=count, covers=0)
    ui.root.go_to("library")
    library = ui.root.library
    library.show_tab("songs")
    ui.wait_until(lambda: library.source.count == count and _rows_filled(library), what="the first songs")
    for step in range(1, 21):  # twenty jumps spread over the list, each shown before the next
        library.songs.scroll_y = 1 - step / 20
        ui.wait_until(lambda: _rows_filled(library), what=f"the songs at jump {step}")
        assert library.source.pages_kept <= KEPT_PAGES
    asked = library.source.queries
    assert asked > KEPT_PAGES
    library.songs.scroll_y = 1  # back to the top: its page was dropped long ago and is read again
    ui.wait_until(lambda: _rows_filled(library) and _shown_rows(library)[0].index == 0, what="the top again")
    assert library.source.queries > asked
    top = _shown_rows(library)
    assert [row.title.text for row in top] == [t.title for t in ui.store.list_tracks(0, len(top), "title")]


def test_albums_are_read_when_their_tab_is_shown_then_a_page_at_a_time_to_the_end(make_ui) -> None:
    ui = make_ui(tracks=0, covers=0)
    albums_total = ALBUM_PAGE * 2 + 30
    ui.store.add_tracks(track_infos(albums_total, per_album=1))  # one track per album
    ui.root.go_to("library")
    library = ui.root.library
    ui.settle(0.5)
    assert library.albums.data == []  # the songs tab is showing: no album was read
    library.show_tab("albums")
    ui.wait_until(lambda: len(library.albums.data) == ALBUM_PAGE, what="the first page of albums")
    ui.settle(0.5)
    assert len(library.albums.data) == ALBUM_PAGE  # the top of the grid needs no more
    for pages in (2, 3):
        library.albums.scroll_y = 0  # the end of what is there
        wanted = min(albums_total, ALBUM_PAGE * pages)
        ui.wait_until(lambda w=wanted: len(library.albums.data) == w, what=f"{wanted} albums")
    listed = [entry["album"].album for entry in library.albums.data]
    assert listed == [a.album for a in ui.store.list_albums(None, 0, albums_total)]


def test_the_cover_cache_stays_within_its_bytes_and_decodes_again_what_it_dropped(kivy_window, tmp_path) -> None:
    covers_dir = tmp_path / "covers"
    ids = [make_cover(covers_dir, i) for i in range(12)]
    thumb = 64
    budget = 3 * thumb * thumb * 4  # three thumbnails
    cache = CoverCache(covers_dir_resolver(covers_dir), max_bytes=budget)
    got: dict[str, object] = {}

    def keep_as(cover_id: str) -> CoverCallback:
        return lambda tex, _avg: got.__setitem__(cover_id, tex)

    try:
        for cover_id in ids:
            cache.request(cover_id, thumb, keep_as(cover_id))
        _wait(lambda: len(got) == len(ids))
        assert all(texture is not None for texture in got.values())  # every caller got its cover
        assert 0 < cache.cached_bytes <= budget
        assert cache.cached(ids[0], thumb) is None  # the oldest was dropped ...
        assert cache.cached(ids[-1], thumb) is not None  # ... the newest kept
        decoded = cache.decoded
        again: list[object] = []
        cache.request(ids[0], thumb, lambda tex, _avg: again.append(tex))
        _wait(lambda: again)
        assert again[0] is not None and cache.decoded == decoded + 1
        assert cache.cached_bytes <= budget
    finally:
        cache.close()


def _wait(predicate, timeout: float = 20.0) -> None:
    import time

    from kivy.base import EventLoop

    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for the covers"
        EventLoop.idle()
        time.sleep(0.005)


def _gone(ui, ref) -> bool:
    """Whether the object behind ``ref`` is freed within a few seconds (a scroll bar still fading out
    holds its list for a moment)."""
    import gc
    import time

    deadline = time.monotonic() + 5
    while ref() is not None and time.monotonic() < deadline:
        ui.settle(0.2)
        gc.collect()
    return ref() is None


def test_left_screens_let_go_of_their_widgets_and_come_back_as_they_were_left(make_ui) -> None:
    import weakref

    ui = make_ui(tracks=200, covers=0)
    root = ui.root
    root.go_to("library")
    library = root.library
    ui.tap(library.tab_buttons["search"])
    for char in "river":
        ui.tap(ui.find(action=f"key:{char}"))
    expected = ui.store.search("river", 100)
    ui.wait_until(lambda: len(library.results.data) == len(expected), what="search results")
    keys, results = weakref.ref(library.keyboard), weakref.ref(library.results)
    ui.tap(root.nav_buttons["playlists"])
    # The library, left, keeps its tabs but no keys and no rows; nothing (the window's keyboard, Kivy's
    # cache of rows) holds them.
    assert library.keyboard is None and library.results.data == []
    assert _gone(ui, keys) and _gone(ui, results)
    playlists = weakref.ref(root.playlists)
    ui.tap(root.nav_buttons["settings"])
    assert "playlists" not in root.screens.screen_names and _gone(ui, playlists)
    settings = weakref.ref(root.settings)
    ui.tap(root.nav_buttons["now"])
    assert "settings" not in root.screens.screen_names and _gone(ui, settings)

    ui.tap(root.nav_buttons["library"])  # back where it was left: the search, its results, the keys
    assert library.pages.current == "search" and library.search_field.text == "river"
    ui.wait_until(lambda: [r["title"] for r in library.results.data] == [t.title for t in expected],
                  what="the same results again")
    assert library.keyboard is not None and library.keyboard.parent is not None
    ui.tap(root.nav_buttons["settings"])  # a screen built again hears the core's events
    ui.from_worker(lambda: ui.jukebox.set_setting("volume.max", 70).result(10))
    ui.wait_until(lambda: root.settings.value_labels["volume.max"].text == "70 %", what="the new limit shown")


def test_only_the_library_tab_on_screen_holds_its_rows_tiles_and_keys(make_ui) -> None:
    import weakref

    ui = make_ui(tracks=120, covers=4)
    ui.root.go_to("library")
    library = ui.root.library
    library.show_tab("albums")
    ui.wait_until(lambda: [t for t in library.album_grid.children if t.cover.texture is not None], what="covers")
    grid = weakref.ref(library.albums)
    library.show_tab("artists")
    ui.wait_until(lambda: library.artists.data, what="artists")
    assert library.albums.data == [] and _gone(ui, grid)  # the tiles and their covers went with the grid
    assert library.songs.views == []  # the song list keeps no rows while hidden
    artists = weakref.ref(library.artists)
    ui.tap(library.tab_buttons["search"])
    assert library.keyboard is not None and library.keyboard.parent is not None
    keyboard = weakref.ref(library.keyboard)
    assert library.artists.data == [] and _gone(ui, artists)
    ui.tap(library.tab_buttons["songs"])
    assert library.keyboard is None and _gone(ui, keyboard)
    ui.wait_until(lambda: _rows_filled(library), what="the songs shown again")
    assert [row.title.text for row in _shown_rows(library)][:3] == [t.title for t in ui.store.list_tracks(0, 3)]
    library.show_tab("albums")  # and the albums are read again when their tab comes back
    ui.wait_until(lambda: len(library.albums.data) == len(ui.store.list_albums(None, 0, 200)), what="albums again")


def test_a_drawn_label_keeps_its_texture_but_not_a_second_copy_of_its_pixels(kivy_window) -> None:
    from kivy.base import EventLoop

    from kiosk.ui.widgets import Tappable, Text

    label, button = Text(text="Blue Morning", size=(300, 40)), Tappable(text="[b]Play[/b]", size=(160, 56))
    for widget in (label, button):
        kivy_window.add_widget(widget)
    try:
        for _ in range(3):
            EventLoop.idle()
        for widget in (label, button):
            texture = widget.texture
            assert texture is not None and texture.width > 1
            assert any(texture.pixels[3::4]), "the text's pixels are in its texture"
            assert getattr(widget._label, "_surface", None) is None  # ... and nowhere else
    finally:
        for widget in (label, button):
            kivy_window.remove_widget(widget)


def test_the_queue_let_go_when_left_comes_back_with_the_cores_queue_and_hears_it_change(make_ui) -> None:
    import weakref

    ui = make_ui(tracks=30, covers=0)
    ui.from_worker(lambda: ui.jukebox.append(ui.track_ids[:12]).result(10))
    root = ui.root
    ui.tap(root.nav_buttons["queue"])
    ui.wait_until(lambda: len(root.queue.list.data) == 12, what="the queue")
    left = weakref.ref(root.queue)
    ui.tap(root.nav_buttons["now"])
    assert "queue" not in root.screens.screen_names and _gone(ui, left)
    # Changed while no queue screen exists: the next one shows the core's queue as it is now.
    ui.from_worker(lambda: ui.jukebox.append(ui.track_ids[12:15]).result(10))
    ui.tap(root.nav_buttons["queue"])
    queue = root.queue
    assert [row["track_id"] for row in queue.list.data] == ui.track_ids[:15]
    assert queue.summary.text.startswith("15 tracks")
    ui.from_worker(lambda: ui.jukebox.clear().result(10))  # and it hears the core again
    ui.wait_until(lambda: queue.list.data == [] and queue.empty.parent is not None, what="the emptied queue")
