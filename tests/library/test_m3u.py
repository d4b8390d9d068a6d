"""M3U8 import and export: the parser on its own, and round trips through the store."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kiosk.core.bus import RecordingBus
from kiosk.core.errors import InvalidRequestError
from kiosk.core.events import PlaylistsUpdated
from kiosk.library.m3u import M3UEntry, M3UItem, format_m3u8, parse_m3u8, resolve_location
from kiosk.library.store import SqlLibraryStore
from tests.library.conftest import track_info


def test_parse_extended_m3u_with_bom_crlf_and_comments() -> None:
    text = (
        "\ufeff#EXTM3U\r\n#PLAYLIST:Mix\r\n#EXTINF:213,Queen - Bohemian Rhapsody\r\n"
        "Queen/bo.mp3\r\n\r\n# note\r\nplain.flac\r\n"
    )
    assert parse_m3u8(text) == [
        M3UEntry("Queen/bo.mp3", 213.0, "Queen - Bohemian Rhapsody"),
        M3UEntry("plain.flac", None, None),
    ]


def test_parse_extinf_with_attributes_and_fractional_seconds() -> None:
    text = '#EXTINF:-1 tvg-id="x",Title, with comma\nhttp://radio.example/stream\n#EXTINF:12.5,T\na.mp3\n'
    assert parse_m3u8(text) == [
        M3UEntry("http://radio.example/stream", -1.0, "Title, with comma"),
        M3UEntry("a.mp3", 12.5, "T"),
    ]


@pytest.mark.parametrize(
    ("location", "base", "expected"),
    [
        ("/abs/a.mp3", None, "/abs/a.mp3"),
        ("/abs/x/../a.mp3", "/base", "/abs/a.mp3"),
        ("sub/a.mp3", "/base/dir", "/base/dir/sub/a.mp3"),
        ("../up.mp3", "/base/dir", "/base/up.mp3"),
        ("sub/a.mp3", None, None),
        ("Artist\\Album\\a.mp3", "/stick", "/stick/Artist/Album/a.mp3"),
        ("file:///music/with%20space.mp3", None, "/music/with space.mp3"),
        ("file://localhost/music/a.mp3", None, "/music/a.mp3"),
        ("file://otherhost/music/a.mp3", None, None),
        ("http://example.com/a.mp3", "/base", None),
    ],
)
def test_resolve_location(location: str, base: str | None, expected: str | None) -> None:
    assert resolve_location(location, base) == expected


def test_format_writes_extinf_and_keeps_each_entry_on_its_own_line() -> None:
    text = format_m3u8(
        "Mix",
        [
            M3UItem("/m/a.flac", 213_400, "Queen", "Bohemian Rhapsody"),
            M3UItem("/m/b.flac", 0, "", "No Artist"),
            M3UItem("/m/evil\nname.mp3", 1000, "A\nB", "T\r\n#EXTINF:1,x"),
        ],
    )
    lines = text.splitlines()
    assert lines[:6] == [
        "#EXTM3U", "#PLAYLIST:Mix",
        "#EXTINF:213,Queen - Bohemian Rhapsody", "/m/a.flac",
        "#EXTINF:-1,No Artist", "/m/b.flac",
    ]
    # A newline in a tag or a path must not forge an entry: the path becomes a file URL.
    assert lines[6].startswith("#EXTINF:1,A B - T") and lines[7] == "file:///m/evil%0Aname.mp3"
    assert len(lines) == 8
    assert [resolve_location(e.location, None) for e in parse_m3u8(text)] == [
        "/m/a.flac", "/m/b.flac", "/m/evil\nname.mp3",
    ]


def test_export_then_import_round_trips(store: SqlLibraryStore, bus: RecordingBus) -> None:
    ids = store.add_tracks([track_info(n, duration_ms=60_000 * n) for n in range(1, 4)])
    mix = store.create_playlist("Mix", [ids[2], ids[0], ids[2]])
    text = store.export_m3u8(mix.id)
    assert text.startswith("#EXTM3U\n")
    assert f"#EXTINF:180,Artist 3 - Song 3\n{track_info(3).path}\n" in text
    copy, unmatched = store.import_m3u8(text, "Mix copy")
    assert unmatched == []
    assert store.get_playlist(copy.id).track_ids == (ids[2], ids[0], ids[2])
    assert bus.of_type(PlaylistsUpdated)[-1] == PlaylistsUpdated("created", copy.id, (ids[2], ids[0], ids[2]))


def test_import_resolves_relative_paths_and_reports_unmatched(store: SqlLibraryStore) -> None:
    ids = store.add_tracks(
        [track_info(1, path="/stick/Music/a.mp3"), track_info(2, path="/stick/Music/sub/b.mp3")]
    )
    text = "#EXTM3U\na.mp3\nsub\\b.mp3\nmissing.mp3\nhttp://example.com/x.mp3\n../Music/a.mp3\n"
    playlist, unmatched = store.import_m3u8(text, "From stick", base_dir="/stick/Music")
    assert store.get_playlist(playlist.id).track_ids == (ids[0], ids[1], ids[0])
    assert unmatched == ["missing.mp3", "http://example.com/x.mp3"]


def test_import_refusals_write_nothing(
    store: SqlLibraryStore, bus: RecordingBus, db_dump: Callable[[], list[str]]
) -> None:
    store.create_playlist("Taken")
    bus.events.clear()
    before = db_dump()
    with pytest.raises(InvalidRequestError, match="already is a playlist"):
        store.import_m3u8("#EXTM3U\n/a.mp3\n", "TAKEN")
    with pytest.raises(InvalidRequestError, match="no entries"):
        store.import_m3u8("#EXTM3U\n# only comments\n", "New")
    assert db_dump() == before and bus.events == []
