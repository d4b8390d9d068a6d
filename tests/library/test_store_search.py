"""Full-text search: prefix matches as the user types, diacritics, ranking, paging, and hostile input."""

from __future__ import annotations

import pytest

from kiosk.core.errors import InvalidRequestError
from kiosk.library.store import SqlLibraryStore, fts_query
from tests.library.conftest import track_info


@pytest.fixture
def library(store: SqlLibraryStore) -> SqlLibraryStore:
    store.add_tracks(
        [
            track_info(1, title="Halo", artist="Beyoncé", album="I Am... Sasha Fierce", album_artist="Beyoncé"),
            track_info(2, title="Crazy in Love", artist="Beyoncé", album="Dangerously in Love", album_artist="Beyoncé"),
            track_info(3, title="Ace of Spades", artist="Motörhead", album="Ace of Spades", album_artist="Motörhead"),
            track_info(4, title="Déjà Vu", artist="Beyoncé", album="B'Day", album_artist="Beyoncé"),
            track_info(5, title="Love Song", artist="Adele", album="21", album_artist="Adele"),
            track_info(6, title="Hello", artist="Adele", album="25", album_artist="Adele"),
            track_info(7, title="Sonata", artist="Various", album="Classics", album_artist="NEAR Ensemble"),
            track_info(8, title="AC/DC Tribute", artist="Tribute Band", album="Back", album_artist="Tribute Band"),
        ]
    )
    return store


def titles(found: list) -> list[str]:
    return [t.title for t in found]


def test_every_word_matches_as_a_prefix_while_typing(library: SqlLibraryStore) -> None:
    assert titles(library.search("h")) and set(titles(library.search("h"))) >= {"Halo", "Hello"}
    assert set(titles(library.search("hel"))) == {"Hello"}
    assert set(titles(library.search("ade hel"))) == {"Hello"}  # all words must match, each as a prefix
    assert set(titles(library.search("love cra"))) == {"Crazy in Love"}
    assert library.search("zzz") == []


def test_search_covers_title_artist_album_and_album_artist(library: SqlLibraryStore) -> None:
    assert set(titles(library.search("fierce"))) == {"Halo"}  # album
    assert set(titles(library.search("adele"))) == {"Love Song", "Hello"}  # artist
    assert set(titles(library.search("ensemble"))) == {"Sonata"}  # album artist only
    assert library.search("flac") == []  # the path is not searched


def test_diacritics_and_case_do_not_matter(library: SqlLibraryStore) -> None:
    assert set(titles(library.search("beyonce"))) == {"Halo", "Crazy in Love", "Déjà Vu"}
    assert set(titles(library.search("BEYONCÉ"))) == {"Halo", "Crazy in Love", "Déjà Vu"}
    assert set(titles(library.search("deja"))) == {"Déjà Vu"}
    assert set(titles(library.search("motorh"))) == {"Ace of Spades"}
    assert set(titles(library.search("Mo\u0308torhead"))) == {"Ace of Spades"}  # o + combining diaeresis


def test_title_hits_rank_before_album_hits(store: SqlLibraryStore) -> None:
    # Added first, so id order alone would put the album hits first.
    store.add_tracks(
        [
            track_info(1, title="Intro", album="Dreamland", artist="X", album_artist="X"),
            track_info(2, title="Outro", album="Dreamland", artist="X", album_artist="X"),
            track_info(3, title="Dream On", album="Toys", artist="Y", album_artist="Y"),
        ]
    )
    assert titles(store.search("dream")) == ["Dream On", "Intro", "Outro"]


def test_limit_and_offset_page_through_results(store: SqlLibraryStore) -> None:
    store.add_tracks([track_info(n, title=f"Echo {n}", artist="Same", album="Same", album_artist="Same")
                      for n in range(30)])
    first, second = store.search("echo", limit=20), store.search("echo", limit=20, offset=20)
    assert len(first) == 20 and len(second) == 10
    assert not {t.id for t in first} & {t.id for t in second}
    with pytest.raises(InvalidRequestError):
        store.search("echo", limit=-5)


@pytest.mark.parametrize(
    "hostile",
    ['"', '""', "'", "*", "a*", "-", "-halo", "NEAR", "NEAR(halo hello)", "halo NEAR/2 hello", "(", ")",
     "(halo", "halo OR", "AND", "NOT halo", "title:halo", "^halo", "{title}: x", "+", ":", "\\", "%", "_",
     "' OR 1=1 --", "\x00", "🎵", "   ", ""],
)
def test_user_input_is_never_fts_syntax(library: SqlLibraryStore, hostile: str) -> None:
    # Tried: FTS5 and SQL syntax typed into the search box. Must survive: no error, plain word search.
    found = library.search(hostile)
    assert isinstance(found, list)


def test_operators_are_searched_as_words(library: SqlLibraryStore) -> None:
    assert set(titles(library.search("NEAR"))) == {"Sonata"}  # the album artist "NEAR Ensemble"
    assert set(titles(library.search("-halo"))) == {"Halo"}  # not a negation
    assert set(titles(library.search('"halo'))) == {"Halo"}
    assert set(titles(library.search("ac/dc"))) == {"AC/DC Tribute"}
    assert set(titles(library.search("b'day"))) == {"Déjà Vu"}
    assert library.search("*") == [] and library.search("") == []


def test_fts_query_quotes_every_word() -> None:
    assert fts_query('a "b" NEAR(c)') == '"a"* "b"* "NEAR"* "c"*'
    assert fts_query("--- ***") is None


def test_index_follows_updates_and_deletes(library: SqlLibraryStore) -> None:
    halo = library.search("halo")[0]
    library.update_tracks([(halo.id, track_info(1, path=halo.path, title="Sweet Dreams", artist="Beyoncé"))])
    assert library.search("halo") == []
    assert titles(library.search("sweet dre")) == ["Sweet Dreams"]
    library.record_play(halo.id, 1.0)  # touches no searched column
    assert titles(library.search("sweet")) == ["Sweet Dreams"]
    library.delete_tracks([halo.id])
    assert library.search("sweet") == []
    assert library.search("beyonce") and all(t.id != halo.id for t in library.search("beyonce"))


def test_a_broad_query_ranks_the_newest_matches_and_still_pages(
    store: SqlLibraryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("kiosk.library.store.RANK_CANDIDATES", 10)
    ids = store.add_tracks([track_info(n, title=f"Wave {n}", album="Sea", artist="X", album_artist="X")
                            for n in range(12)])
    newest_title_hit = store.add_tracks([track_info(99, title="Sea Shanty", album="Sea", artist="X", album_artist="X")])
    found = store.search("sea", limit=3)
    # Only the 10 newest of 13 matches are ranked; the one with "sea" in its title too ranks first among them.
    assert found[0].id == newest_title_hit[0]
    first, second = store.search("sea", limit=5), store.search("sea", limit=5, offset=5)
    assert len({t.id for t in first + second}) == 10
    assert {t.id for t in first + second} == {newest_title_hit[0], *ids[-9:]}
    # A deeper page widens the window, so paging never runs dry early.
    assert len(store.search("sea", limit=5, offset=10)) == 3
