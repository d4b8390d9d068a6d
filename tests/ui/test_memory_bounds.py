"""What keeps the touch screen's memory flat as the library grows, checked on real windows and a real
SQLite library: screens built on their first visit, a song list that holds a screenful of views and a
few pages of songs whatever the count, albums read a page at a time, a cover cache bounded in bytes.

The figures themselves (MB per phase) are in tests/benchmarks/bench_ui.py; these tests check the
behaviour that makes them so, and that nothing a user sees is lost by it.
"""

from __future__ import annotations

import math

from kiosk.core.events import StickState
from kiosk.ui.covers import CoverCache, covers_dir_resolver
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
    try:
        for cover_id in ids:
            cache.request(cover_id, thumb, lambda tex, _avg, c=cover_id: got.__setitem__(c, tex))
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
