"""Schema versions: an old database is upgraded in place without losing a row, each step is atomic,
and the tables the code queries match the schema the migrations build."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlmodel import SQLModel

from kiosk.core.bus import RecordingBus
from kiosk.core.errors import DatabaseError
from kiosk.core.models import QueueEntry, QueueSnapshot
from kiosk.library import migrations
from kiosk.library.migrations import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION, Migration
from kiosk.library.store import SqlLibraryStore
from tests.library.conftest import track_info

#: A released step must never change: databases in the field were built by exactly this SQL.
RELEASED = {
    1: "5a0f40a8147f07f891f1ed653a6046594fc882f06267fa41fa2e1514420edec9",
    2: "b57e9bc71c0a5ca6dc274f9b8f338227ad77518fbc13e6f14762a99e203172fb",
}

V1_ROWS = {
    "tracks": [
        "INSERT INTO tracks (id, path, title, artist, album, album_artist, track_number, year, duration_ms, "
        "content_hash, added_at, play_count, last_played) VALUES "
        "(1, '/music/a.flac', 'Déjà Vu', 'Beyoncé', 'B''Day', 'Beyoncé', 4, 2006, 240000, 'h1', 100.5, 7, 200.25), "
        "(2, '/music/b.mp3', 'Ace of Spades', 'Motörhead', 'Ace of Spades', 'Motörhead', 1, 1980, 169000, "
        "'h2', 101.0, 0, NULL), "
        "(5, '/music/c.ogg', 'Hello', 'Adele', '25', 'Adele', 1, 2015, 295000, 'h3', 102.0, 1, 150.0)"
    ],
    "favorites": ["INSERT INTO favorites VALUES (2, 110.0), (5, 111.0)"],
    "playlists": ["INSERT INTO playlists VALUES (3, 'Road Trip', 'road trip', 120.0, 121.0)"],
    "playlist_items": ["INSERT INTO playlist_items VALUES (3, 0, 5), (3, 1, 1), (3, 2, 5)"],
    "queue_entries": ["INSERT INTO queue_entries VALUES (0, 10, 2, 1), (1, 11, 1, 0)"],
    "queue_state": ["INSERT INTO queue_state VALUES (1, 1, 11, 1, 'all', 17, 4200)"],
    "settings": ["INSERT INTO settings VALUES ('volume.max', '70'), ('import.mode', '\"play-from-stick\"')"],
}


def _build_version_1(path: Path) -> None:
    """A database as the first release left it, written with plain sqlite3 (no code of the store)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN")
        for statement in MIGRATIONS[0].statements():
            conn.execute(statement)
        for inserts in V1_ROWS.values():
            for statement in inserts:
                conn.execute(statement)
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute("PRAGMA user_version = 1")
        conn.execute("COMMIT")
    finally:
        conn.close()


def _rows(path: Path, table: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
    finally:
        conn.close()


def _version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def test_released_migrations_are_never_edited() -> None:
    for step in MIGRATIONS:
        if step.version in RELEASED:
            assert hashlib.sha256(step.sql.encode()).hexdigest() == RELEASED[step.version], (
                f"migration {step.version} was edited; add a new step instead"
            )
    assert [m.version for m in MIGRATIONS] == list(range(1, SCHEMA_VERSION + 1))


def test_a_version_1_database_is_upgraded_in_place_with_every_row_kept(tmp_path: Path) -> None:
    path = tmp_path / "library.db"
    _build_version_1(path)
    before = {table: _rows(path, table) for table in V1_ROWS}
    assert _version(path) == 1

    store = SqlLibraryStore.open(path, RecordingBus())
    try:
        assert _version(path) == SCHEMA_VERSION
        assert {table: _rows(path, table) for table in V1_ROWS} == before
        # The rows read back through the store as they were written.
        deja = store.get_track(1)
        assert (deja.title, deja.artist, deja.play_count, deja.last_played) == ("Déjà Vu", "Beyoncé", 7, 200.25)
        assert [t.id for t in store.list_favorites()] == [5, 2]
        assert store.get_playlist(3).track_ids == (5, 1, 5)
        assert store.load_queue() == QueueSnapshot(
            entries=(QueueEntry(10, 2), QueueEntry(11, 1)), unshuffled=(11, 10), current_index=1,
            shuffle=True, repeat="all", revision=17, position_ms=4200,
        )
        assert store.get_setting("volume.max") == 70 and store.get_setting("import.mode") == "play-from-stick"
        # Version 2 indexed the rows that were already there ...
        assert [t.id for t in store.search("motorh")] == [2]
        assert [t.id for t in store.search("deja vu")] == [1]
        # ... and keeps new ones in step.
        (new_id,) = store.add_tracks([track_info(1, title="Fresh Start")])
        assert new_id > 5 and [t.id for t in store.search("fresh")] == [new_id]
    finally:
        store.close()


def test_opening_an_up_to_date_database_runs_nothing(db_path: Path) -> None:
    SqlLibraryStore.open(db_path, RecordingBus()).close()
    schema = _rows(db_path, "sqlite_master")
    SqlLibraryStore.open(db_path, RecordingBus()).close()
    assert _rows(db_path, "sqlite_master") == schema and _version(db_path) == SCHEMA_VERSION


def test_a_step_that_fails_half_way_leaves_the_previous_version(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqlLibraryStore.open(db_path, RecordingBus())
    store.add_tracks([track_info(1)])
    store.close()
    broken_sql = "CREATE TABLE half_done (x);\nINSERT INTO no_such_table VALUES (1);\n"
    broken = Migration(SCHEMA_VERSION + 1, "broken", broken_sql)
    monkeypatch.setattr(migrations, "MIGRATIONS", (*MIGRATIONS, broken))
    monkeypatch.setattr(migrations, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    # Tried: an upgrade whose second statement fails. Must survive: the old version, its rows, no half table.
    with pytest.raises(DatabaseError, match="no such table"):
        SqlLibraryStore.open(db_path, RecordingBus())
    assert _version(db_path) == SCHEMA_VERSION
    assert not [r for r in _rows(db_path, "sqlite_master") if r[1] == "half_done"]
    assert len(_rows(db_path, "tracks")) == 1


def test_a_later_step_upgrades_an_existing_library(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    SqlLibraryStore.open(db_path, RecordingBus()).close()
    extra = Migration(SCHEMA_VERSION + 1, "index genres", "CREATE INDEX ix_tracks_genre ON tracks (genre);\n")
    monkeypatch.setattr(migrations, "MIGRATIONS", (*MIGRATIONS, extra))
    monkeypatch.setattr(migrations, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    SqlLibraryStore.open(db_path, RecordingBus()).close()
    assert _version(db_path) == SCHEMA_VERSION + 1
    assert [r for r in _rows(db_path, "sqlite_master") if r[1] == "ix_tracks_genre"]


def test_two_stores_opening_an_old_file_at_once_migrate_it_once(tmp_path: Path) -> None:
    path = tmp_path / "library.db"
    _build_version_1(path)
    errors: list[BaseException] = []
    opened: list[SqlLibraryStore] = []

    def open_it() -> None:
        try:
            opened.append(SqlLibraryStore.open(path, RecordingBus()))
        except BaseException as exc:  # every failure is reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for store in opened:
        store.close()
    assert errors == [] and len(opened) == 4
    assert _version(path) == SCHEMA_VERSION and len(_rows(path, "tracks")) == 3


def test_the_table_models_match_the_migrated_schema(db_path: Path) -> None:
    SqlLibraryStore.open(db_path, RecordingBus()).close()
    conn = sqlite3.connect(db_path)
    try:
        for table in SQLModel.metadata.sorted_tables:
            if table.name not in V1_ROWS:
                continue  # another part's table, if any
            columns = {row[1]: row for row in conn.execute(f"PRAGMA table_info({table.name})")}
            assert set(columns) == {c.name for c in table.columns}, table.name
            for column in table.columns:
                assert bool(columns[column.name][5]) == column.primary_key, f"{table.name}.{column.name}"
        cascades = {
            (table, row[2], row[6])
            for table in ("favorites", "playlist_items", "queue_entries")
            for row in conn.execute(f"PRAGMA foreign_key_list({table})")
        }
        assert cascades == {
            ("favorites", "tracks", "CASCADE"),
            ("playlist_items", "tracks", "CASCADE"),
            ("playlist_items", "playlists", "CASCADE"),
            ("queue_entries", "tracks", "CASCADE"),
        }
        unique = {
            (table, conn.execute(f"PRAGMA index_info({row[1]})").fetchone()[2])
            for table in ("tracks", "playlists")
            for row in conn.execute(f"PRAGMA index_list({table})")
            if row[2] and row[3] == "u"
        }
        assert unique == {("tracks", "path"), ("playlists", "name_key")}
    finally:
        conn.close()
    assert set(V1_ROWS) <= {t.name for t in SQLModel.metadata.sorted_tables}
