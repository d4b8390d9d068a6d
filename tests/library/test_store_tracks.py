"""Tracks in the library store: bulk add, read back, browse, update, delete, and their events."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from kiosk.core.bus import RecordingBus
from kiosk.core.errors import InvalidRequestError, NotFoundError
from kiosk.core.events import LibraryUpdated
from kiosk.core.models import Track, TrackInfo
from kiosk.library.store import SqlLibraryStore
from tests.library.conftest import track_info


def test_add_tracks_returns_ids_in_order_and_stores_every_field(store: SqlLibraryStore, bus: RecordingBus) -> None:
    full = TrackInfo(
        path="/music/a.flac", title="Title", artist="Artist", album="Album", album_artist="Band",
        track_number=3, track_total=12, disc_number=1, disc_total=2, year=1999, genre="Rock",
        duration_ms=123_456, codec="flac", bitrate=900_000, sample_rate=44_100, channels=2,
        replaygain_track_gain=-6.5, replaygain_track_peak=0.98, replaygain_album_gain=-7.25,
        replaygain_album_peak=0.99, file_size=12_345_678, mtime_ns=1_700_000_000_123_456_789,
        content_hash="abc123", cover_id="cover-1", source_path="/media/stick/a.flac",
    )
    ids = store.add_tracks([track_info(1), full, track_info(2)])
    assert len(set(ids)) == 3
    got = store.get_track(ids[1])
    assert TrackInfo(**{f.name: getattr(got, f.name) for f in dataclasses.fields(TrackInfo)}) == full
    assert got.id == ids[1] and got.play_count == 0 and got.last_played is None and got.added_at > 0
    assert [t.title for t in store.get_tracks(ids)] == ["Song 1", "Title", "Song 2"]
    assert bus.of_type(LibraryUpdated) == [LibraryUpdated("added", tuple(ids))]


def test_add_nothing_is_a_no_op(store: SqlLibraryStore, bus: RecordingBus) -> None:
    assert store.add_tracks([]) == []
    assert bus.events == []


def test_add_tracks_bulk_ids_match_paths(store: SqlLibraryStore) -> None:
    # More rows than one multi-row INSERT batch holds, so ids come back from several statements.
    infos = [track_info(n) for n in range(2_500)]
    ids = store.add_tracks(infos)
    assert store.count_tracks() == 2_500
    assert [t.path for t in store.get_tracks(ids)] == [i.path for i in infos]


def test_adding_a_path_already_in_the_library_writes_nothing(
    store: SqlLibraryStore, bus: RecordingBus, tracks: list[int], db_dump: Callable[[], list[str]]
) -> None:
    # Tried: a batch of new files with one that is already in the library. Must survive: the library as it was.
    before = db_dump()
    batch = [track_info(100), track_info(3), track_info(101)]
    with pytest.raises(InvalidRequestError, match="already in the library"):
        store.add_tracks(batch)
    assert db_dump() == before
    assert bus.events == []


def test_adding_the_same_path_twice_in_one_batch_writes_nothing(
    store: SqlLibraryStore, bus: RecordingBus, db_dump: Callable[[], list[str]]
) -> None:
    before = db_dump()
    with pytest.raises(InvalidRequestError, match="more than once"):
        store.add_tracks([track_info(1), track_info(2), track_info(1)])
    assert db_dump() == before and store.count_tracks() == 0
    assert bus.events == []


def test_a_row_the_database_refuses_half_way_through_a_batch_writes_nothing(
    store: SqlLibraryStore, bus: RecordingBus, tracks: list[int], db_dump: Callable[[], list[str]]
) -> None:
    # Tried: 2,500 tracks (three multi-row INSERTs) whose last one has no title, which the schema refuses.
    # Must survive: the library as it was, none of the 2,499 good tracks.
    before = db_dump()
    batch = [track_info(n) for n in range(100, 2_599)] + [track_info(9_999, title=None)]
    with pytest.raises(InvalidRequestError, match="NOT NULL"):
        store.add_tracks(batch)
    assert db_dump() == before and store.count_tracks() == 10
    assert bus.events == []


def test_get_tracks_keeps_order_and_repeats_and_names_unknown_ids(store: SqlLibraryStore, tracks: list[int]) -> None:
    asked = [tracks[3], tracks[0], tracks[3]]
    assert [t.id for t in store.get_tracks(asked)] == asked
    with pytest.raises(NotFoundError, match="9999"):
        store.get_tracks([tracks[0], 9999])
    with pytest.raises(NotFoundError, match="4242"):
        store.get_track(4242)
    assert store.existing_track_ids([tracks[1], 9999, tracks[2]]) == {tracks[1], tracks[2]}


def test_list_tracks_orders_and_pages(store: SqlLibraryStore) -> None:
    store.add_tracks(
        [
            track_info(1, title="beta", artist="Zed", album="A"),
            track_info(2, title="Alpha", artist="amy", album="C"),
            track_info(3, title="gamma", artist="Bob", album="b"),
        ]
    )
    assert [t.title for t in store.list_tracks(order="title")] == ["Alpha", "beta", "gamma"]
    assert [t.artist for t in store.list_tracks(order="artist")] == ["amy", "Bob", "Zed"]
    assert [t.album for t in store.list_tracks(order="album")] == ["A", "b", "C"]
    assert [t.title for t in store.list_tracks(order="added")] == ["gamma", "Alpha", "beta"]
    assert [t.title for t in store.list_tracks(offset=1, limit=1)] == ["beta"]
    with pytest.raises(InvalidRequestError, match="unknown order"):
        store.list_tracks(order="size")  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError, match="negative"):
        store.list_tracks(offset=-1)


def test_browse_artists_albums_and_album_tracks(store: SqlLibraryStore) -> None:
    store.add_tracks(
        [
            track_info(1, artist="Solo", album_artist="", album="First", year=1990, track_number=2),
            track_info(2, artist="Solo", album_artist="", album="First", year=1990, track_number=1),
            track_info(3, artist="Guest", album_artist="Band", album="Live", year=2001, disc_number=2, track_number=1),
            track_info(4, artist="Band", album_artist="Band", album="Live", year=2001, disc_number=1, track_number=5),
            track_info(5, artist="Band", album_artist="Band", album="Early", year=1980, cover_id="c5"),
            track_info(6, artist="", album_artist="", album="", title="Untagged"),
        ]
    )
    artists = store.list_artists()
    assert [(a.name, a.album_count, a.track_count) for a in artists] == [("Band", 2, 3), ("Solo", 1, 2), ("", 0, 1)]
    albums = store.list_albums()
    assert [(a.album, a.album_artist, a.track_count) for a in albums] == [
        ("Early", "Band", 1), ("First", "", 2), ("Live", "Band", 2),
    ]
    band_albums = store.list_albums(artist="Band")
    assert [(a.album, a.year, a.cover_id) for a in band_albums] == [("Early", 1980, "c5"), ("Live", 2001, None)]
    live = store.album_tracks("Live", "Band")
    assert [(t.disc_number, t.track_number) for t in live] == [(1, 5), (2, 1)]
    assert band_albums[1].first_track_id == live[0].id
    assert [t.track_number for t in store.album_tracks("First", "")] == [1, 2]


def test_albums_tagged_in_different_case_are_one_album(store: SqlLibraryStore) -> None:
    ids = store.add_tracks(
        [
            track_info(1, album="Live at Home", album_artist="The Band", track_number=2),
            track_info(2, album="LIVE AT HOME", album_artist="the band", track_number=1),
        ]
    )
    (album,) = store.list_albums()
    assert album.track_count == 2 and album.first_track_id == ids[1]
    assert [t.id for t in store.album_tracks(album.album, album.album_artist)] == [ids[1], ids[0]]


def test_update_tracks_replaces_file_fields_and_keeps_play_counts(
    store: SqlLibraryStore, bus: RecordingBus, tracks: list[int]
) -> None:
    store.record_play(tracks[0], 1234.5)
    new = track_info(0, title="Retagged", path="/music/moved.flac", year=2020)
    store.update_tracks([(tracks[0], new)])
    got = store.get_track(tracks[0])
    assert (got.title, got.path, got.year) == ("Retagged", "/music/moved.flac", 2020)
    assert (got.play_count, got.last_played) == (1, 1234.5)
    assert bus.of_type(LibraryUpdated)[-1] == LibraryUpdated("modified", (tracks[0],))


def test_update_unknown_track_or_taken_path_writes_nothing(
    store: SqlLibraryStore, bus: RecordingBus, tracks: list[int], db_dump: Callable[[], list[str]]
) -> None:
    before = db_dump()
    # Tried: one good update with an unknown id; and moving a track onto another's path. Must survive: all rows.
    with pytest.raises(NotFoundError, match="777"):
        store.update_tracks([(tracks[0], track_info(0, title="X")), (777, track_info(777))])
    with pytest.raises(InvalidRequestError, match="already has the path"):
        store.update_tracks([(tracks[0], track_info(0, path=track_info(1).path))])
    assert db_dump() == before
    assert bus.events == []


def test_delete_tracks_cascades_and_publishes(store: SqlLibraryStore, bus: RecordingBus, tracks: list[int]) -> None:
    store.add_favorite(tracks[1])
    playlist = store.create_playlist("Mix", [tracks[0], tracks[1], tracks[2], tracks[1]])
    bus.events.clear()
    store.delete_tracks([tracks[1], tracks[5]])
    assert store.count_tracks() == 8
    assert not store.is_favorite(tracks[1])
    assert store.get_playlist(playlist.id).track_ids == (tracks[0], tracks[2])
    assert store.get_playlist(playlist.id).playlist.track_count == 2
    assert bus.events == [LibraryUpdated("deleted", (tracks[1], tracks[5]))]
    # Positions stay usable after the gaps the cascade left.
    store.move_in_playlist(playlist.id, 1, 0)
    assert store.get_playlist(playlist.id).track_ids == (tracks[2], tracks[0])


def test_delete_with_an_unknown_id_deletes_nothing(
    store: SqlLibraryStore, bus: RecordingBus, tracks: list[int], db_dump: Callable[[], list[str]]
) -> None:
    before = db_dump()
    with pytest.raises(NotFoundError, match="31337"):
        store.delete_tracks([tracks[0], 31337])
    assert db_dump() == before and store.count_tracks() == 10
    assert bus.events == []


def test_file_stats_under_a_folder(store: SqlLibraryStore) -> None:
    ids = store.add_tracks(
        [
            track_info(1, path="/media/stick/a.mp3", file_size=10, mtime_ns=20),
            track_info(2, path="/media/stick/sub/b.mp3"),
            track_info(3, path="/media/stick2/c.mp3"),  # a sibling whose name starts the same
            track_info(4, path="/media/stickX.mp3"),
        ]
    )
    stats = store.file_stats_under("/media/stick/")
    assert [s.path for s in stats] == ["/media/stick/a.mp3", "/media/stick/sub/b.mp3"]
    assert (stats[0].track_id, stats[0].file_size, stats[0].mtime_ns) == (ids[0], 10, 20)
    assert len(store.file_stats_under("/")) == 4


def test_files_of_sizes_finds_every_file_of_those_sizes_with_its_hash(
    store: SqlLibraryStore, tracks: list[int]
) -> None:
    twin = store.add_tracks([track_info(20, file_size=1_000_001, content_hash="")])[0]
    found = store.files_of_sizes([1_000_001, 1_000_009, 5])
    assert sorted((f.track_id, f.file_size, f.content_hash) for f in found) == [
        (tracks[1], 1_000_001, "hash-1"), (tracks[9], 1_000_009, "hash-9"), (twin, 1_000_001, ""),
    ]
    assert store.files_of_sizes([]) == []
    with pytest.raises(InvalidRequestError):
        store.files_of_sizes(["12"])  # type: ignore[list-item]


def test_set_content_hashes_keeps_them_and_publishes_nothing(
    store: SqlLibraryStore, bus: RecordingBus, tracks: list[int]
) -> None:
    """A hash made later (a file scanned in place, hashed when an import needed it) is stored as is."""
    store.set_content_hashes([(tracks[0], "later-0"), (tracks[3], "later-3")])
    assert [store.get_track(tracks[i]).content_hash for i in (0, 3, 4)] == ["later-0", "later-3", "hash-4"]
    assert store.search("Song")  # the full-text index is untouched and still answers
    assert bus.events == []


def test_record_play(store: SqlLibraryStore, bus: RecordingBus, tracks: list[int]) -> None:
    store.record_play(tracks[2], 100.0)
    store.record_play(tracks[2], 200.0)
    got: Track = store.get_track(tracks[2])
    assert (got.play_count, got.last_played) == (2, 200.0)
    assert bus.events == [LibraryUpdated("modified", (tracks[2],))] * 2
    with pytest.raises(NotFoundError):
        store.record_play(5555, 1.0)
    assert len(bus.events) == 2


def test_the_store_has_every_method_of_the_protocol_with_the_same_parameters() -> None:
    import inspect

    from kiosk.core.ports.library import LibraryStore

    for name, member in vars(LibraryStore).items():
        if name.startswith("_") or not callable(member):
            continue
        expected = inspect.signature(member)
        actual = inspect.signature(getattr(SqlLibraryStore, name))
        assert list(actual.parameters) == list(expected.parameters), name
        for parameter in expected.parameters.values():
            assert actual.parameters[parameter.name].default == parameter.default, f"{name}({parameter.name})"
