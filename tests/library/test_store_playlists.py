"""Favorites and playlists: every change publishes its event after the commit; bad input writes nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kiosk.core.bus import RecordingBus
from kiosk.core.errors import InvalidRequestError, NotFoundError
from kiosk.core.events import FavoritesUpdated, PlaylistsUpdated
from kiosk.library.store import SqlLibraryStore

# --- favorites -------------------------------------------------------------------------------------


def test_favorites_add_remove_list(store: SqlLibraryStore, bus: RecordingBus, tracks: list[int]) -> None:
    assert store.add_favorite(tracks[2]) is True
    assert store.add_favorite(tracks[5]) is True
    assert store.add_favorite(tracks[0]) is True
    assert [t.id for t in store.list_favorites()] == [tracks[0], tracks[5], tracks[2]]  # newest first
    assert store.is_favorite(tracks[5]) and not store.is_favorite(tracks[1]) and not store.is_favorite(999)
    assert store.remove_favorite(tracks[5]) is True
    assert [t.id for t in store.list_favorites()] == [tracks[0], tracks[2]]
    assert bus.events == [
        FavoritesUpdated("added", tracks[2]),
        FavoritesUpdated("added", tracks[5]),
        FavoritesUpdated("added", tracks[0]),
        FavoritesUpdated("removed", tracks[5]),
    ]


def test_favorite_twice_or_unfavorite_twice_publishes_nothing(
    store: SqlLibraryStore, bus: RecordingBus, tracks: list[int]
) -> None:
    store.add_favorite(tracks[1])
    bus.events.clear()
    assert store.add_favorite(tracks[1]) is False
    assert store.remove_favorite(tracks[3]) is False
    assert bus.events == []


def test_favorite_of_unknown_track_writes_nothing(
    store: SqlLibraryStore, bus: RecordingBus, tracks: list[int], db_dump: Callable[[], list[str]]
) -> None:
    before = db_dump()
    with pytest.raises(NotFoundError, match="12345"):
        store.add_favorite(12345)
    with pytest.raises(NotFoundError, match="12345"):
        store.remove_favorite(12345)
    assert db_dump() == before and bus.events == []


# --- playlists -------------------------------------------------------------------------------------


def test_create_rename_delete(store: SqlLibraryStore, bus: RecordingBus, tracks: list[int]) -> None:
    mix = store.create_playlist("  Road Trip ", [tracks[1], tracks[2], tracks[1]])
    assert (mix.name, mix.track_count) == ("Road Trip", 3)
    empty = store.create_playlist("Empty")
    assert [p.name for p in store.list_playlists()] == ["Empty", "Road Trip"]
    renamed = store.rename_playlist(mix.id, "Night Drive")
    assert (renamed.id, renamed.name, renamed.track_count) == (mix.id, "Night Drive", 3)
    assert store.get_playlist(mix.id).track_ids == (tracks[1], tracks[2], tracks[1])
    store.delete_playlist(empty.id)
    assert [p.name for p in store.list_playlists()] == ["Night Drive"]
    assert bus.events == [
        PlaylistsUpdated("created", mix.id, (tracks[1], tracks[2], tracks[1])),
        PlaylistsUpdated("created", empty.id, ()),
        PlaylistsUpdated("renamed", mix.id, ()),
        PlaylistsUpdated("deleted", empty.id, ()),
    ]


def test_a_playlist_may_change_the_case_of_its_own_name(store: SqlLibraryStore, bus: RecordingBus) -> None:
    mix = store.create_playlist("road trip")
    assert store.rename_playlist(mix.id, "Road Trip").name == "Road Trip"
    bus.events.clear()
    store.rename_playlist(mix.id, "Road Trip")  # unchanged: nothing to announce
    assert bus.events == []


@pytest.mark.parametrize("taken", ["Road Trip", "ROAD TRIP", "road trip ", "Road\tTrip"])
def test_duplicate_names_are_refused_whatever_their_case(
    store: SqlLibraryStore, bus: RecordingBus, db_dump: Callable[[], list[str]], taken: str
) -> None:
    store.create_playlist("Road Trip")
    other = store.create_playlist("Other")
    bus.events.clear()
    before = db_dump()
    # Tried: a new playlist, and a rename, onto a name already taken. Must survive: both playlists as they were.
    with pytest.raises(InvalidRequestError, match="already is a playlist called 'Road Trip'"):
        store.create_playlist(taken)
    with pytest.raises(InvalidRequestError, match="already is a playlist"):
        store.rename_playlist(other.id, taken)
    assert db_dump() == before and bus.events == []


def test_unicode_case_folding_counts_as_the_same_name(store: SqlLibraryStore) -> None:
    store.create_playlist("Straße")
    with pytest.raises(InvalidRequestError):
        store.create_playlist("STRASSE")
    store.create_playlist("Ärger")
    with pytest.raises(InvalidRequestError):
        store.create_playlist("A\u0308RGER")  # decomposed Ä


@pytest.mark.parametrize("bad_name", ["", "   ", "\n\t", "x" * 201, None, 42])
def test_bad_names_are_refused(store: SqlLibraryStore, bus: RecordingBus, bad_name: object) -> None:
    with pytest.raises(InvalidRequestError):
        store.create_playlist(bad_name)  # type: ignore[arg-type]
    assert store.list_playlists() == [] and bus.events == []


def test_create_with_an_unknown_track_writes_nothing(
    store: SqlLibraryStore, bus: RecordingBus, tracks: list[int], db_dump: Callable[[], list[str]]
) -> None:
    before = db_dump()
    with pytest.raises(NotFoundError, match="888"):
        store.create_playlist("Mix", [tracks[0], 888])
    assert db_dump() == before and bus.events == []


def test_add_append_and_insert_at_a_position(store: SqlLibraryStore, bus: RecordingBus, tracks: list[int]) -> None:
    mix = store.create_playlist("Mix", [tracks[0], tracks[1]])
    store.add_to_playlist(mix.id, [tracks[2], tracks[3]])
    store.add_to_playlist(mix.id, [tracks[9]], position=0)
    store.add_to_playlist(mix.id, [tracks[8]], position=3)
    store.add_to_playlist(mix.id, [tracks[7]], position=6)  # position == length: the end
    detail = store.get_playlist(mix.id)
    assert detail.track_ids == (tracks[9], tracks[0], tracks[1], tracks[8], tracks[2], tracks[3], tracks[7])
    assert detail.playlist.track_count == 7
    assert bus.of_type(PlaylistsUpdated)[1:] == [
        PlaylistsUpdated("tracks_added", mix.id, (tracks[2], tracks[3])),
        PlaylistsUpdated("tracks_added", mix.id, (tracks[9],)),
        PlaylistsUpdated("tracks_added", mix.id, (tracks[8],)),
        PlaylistsUpdated("tracks_added", mix.id, (tracks[7],)),
    ]


def test_add_with_one_unknown_track_among_good_ones_writes_nothing(
    store: SqlLibraryStore, bus: RecordingBus, tracks: list[int], db_dump: Callable[[], list[str]]
) -> None:
    mix = store.create_playlist("Mix", [tracks[0]])
    bus.events.clear()
    before = db_dump()
    # Tried: three good tracks and one unknown id, appended and inserted. Must survive: the playlist as it was.
    with pytest.raises(NotFoundError, match="424242"):
        store.add_to_playlist(mix.id, [tracks[1], tracks[2], 424242, tracks[3]])
    with pytest.raises(NotFoundError, match="424242"):
        store.add_to_playlist(mix.id, [tracks[1], 424242], position=0)
    assert db_dump() == before and bus.events == []
    assert store.get_playlist(mix.id).track_ids == (tracks[0],)


def test_bad_positions_and_unknown_playlists_write_nothing(
    store: SqlLibraryStore, bus: RecordingBus, tracks: list[int], db_dump: Callable[[], list[str]]
) -> None:
    mix = store.create_playlist("Mix", [tracks[0], tracks[1], tracks[2]])
    bus.events.clear()
    before = db_dump()
    attempts = [
        (InvalidRequestError, lambda: store.add_to_playlist(mix.id, [tracks[4]], position=4)),
        (InvalidRequestError, lambda: store.add_to_playlist(mix.id, [tracks[4]], position=-1)),
        (InvalidRequestError, lambda: store.remove_from_playlist(mix.id, [0, 3])),
        (InvalidRequestError, lambda: store.remove_from_playlist(mix.id, [-1])),
        (InvalidRequestError, lambda: store.move_in_playlist(mix.id, 0, 3)),
        (InvalidRequestError, lambda: store.move_in_playlist(mix.id, 5, 0)),
        (InvalidRequestError, lambda: store.move_in_playlist(mix.id, True, 0)),
        (NotFoundError, lambda: store.add_to_playlist(999, [tracks[0]])),
        (NotFoundError, lambda: store.remove_from_playlist(999, [0])),
        (NotFoundError, lambda: store.move_in_playlist(999, 0, 1)),
        (NotFoundError, lambda: store.rename_playlist(999, "New")),
        (NotFoundError, lambda: store.delete_playlist(999)),
        (NotFoundError, lambda: store.get_playlist(999)),
        (NotFoundError, lambda: store.export_m3u8(999)),
    ]
    for error, attempt in attempts:
        with pytest.raises(error):
            attempt()
    assert db_dump() == before and bus.events == []


def test_remove_and_move(store: SqlLibraryStore, bus: RecordingBus, tracks: list[int]) -> None:
    a, b, c, d, e = tracks[:5]
    mix = store.create_playlist("Mix", [a, b, c, d, e, b])
    bus.events.clear()
    store.remove_from_playlist(mix.id, [5, 1, 1])  # positions before the removal; repeats count once
    assert store.get_playlist(mix.id).track_ids == (a, c, d, e)
    store.move_in_playlist(mix.id, 0, 3)
    assert store.get_playlist(mix.id).track_ids == (c, d, e, a)
    store.move_in_playlist(mix.id, 3, 1)
    assert store.get_playlist(mix.id).track_ids == (c, a, d, e)
    store.move_in_playlist(mix.id, 2, 2)  # no change, no event
    store.remove_from_playlist(mix.id, [])
    assert bus.events == [
        PlaylistsUpdated("tracks_removed", mix.id, (b, b)),
        PlaylistsUpdated("reordered", mix.id, ()),
        PlaylistsUpdated("reordered", mix.id, ()),
    ]


def test_deleting_a_playlist_leaves_the_tracks(store: SqlLibraryStore, tracks: list[int]) -> None:
    mix = store.create_playlist("Mix", tracks)
    store.delete_playlist(mix.id)
    assert store.count_tracks() == 10
    with pytest.raises(NotFoundError):
        store.get_playlist(mix.id)
