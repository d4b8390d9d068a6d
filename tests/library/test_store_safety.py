"""What keeps the library safe: connection settings, atomic writes even when the process dies half-way,
events only after the commit, many writers at once, and files that must be refused untouched."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from kiosk.core.bus import RecordingBus
from kiosk.core.errors import DatabaseError, KioskError
from kiosk.core.events import Event, FavoritesUpdated, LibraryUpdated, PlaylistsUpdated, SettingsUpdated
from kiosk.library.migrations import SCHEMA_VERSION
from kiosk.library.store import SqlLibraryStore
from tests.library.conftest import track_info

ROOT = Path(__file__).resolve().parents[2]


def test_every_connection_has_wal_full_sync_and_foreign_keys(store: SqlLibraryStore, db_path: Path) -> None:
    with store._engine.connect() as conn:  # the store's own pooled connection
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one() >= 1000
    raw = sqlite3.connect(db_path)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # stored in the file
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        raw.close()


def test_open_creates_the_folder_and_the_file(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "library.db"
    SqlLibraryStore.open(path, RecordingBus()).close()
    assert path.is_file()


# --- a process that dies in the middle of a write --------------------------------------------------

_DIE_MID_WRITE = """
import os, sys
from pathlib import Path
from sqlalchemy import event
from kiosk.core.bus import RecordingBus
from kiosk.library.store import SqlLibraryStore
from tests.library.conftest import track_info

store = SqlLibraryStore.open(Path(sys.argv[1]), RecordingBus())
what = sys.argv[2]
seen = []

def trace(statement):
    # SQLite calls this as each statement starts: dying at the start of one means the ones
    # before it really ran inside the open transaction.
    seen.append(statement)
    if what == "add" and sum(s.startswith("INSERT INTO tracks") for s in seen) == 3:
        os._exit(17)
    if what == "playlist" and statement.startswith("INSERT INTO playlist_items"):
        if any(s.startswith("DELETE FROM playlist_items") for s in seen):
            os._exit(17)

@event.listens_for(store._engine, "checkout")
def on_checkout(dbapi_connection, record, proxy):
    dbapi_connection.set_trace_callback(trace)

if what == "add":
    store.add_tracks([track_info(n) for n in range(1000, 4000)])  # several multi-row INSERTs
else:
    store.add_to_playlist(int(sys.argv[3]), [1, 2, 3], position=0)  # rewrites the items: DELETE, then INSERT
print("the write completed, which it must not")
"""


def _die_mid_write(db_path: Path, *args: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_DIE_MID_WRITE), str(db_path), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 17, result.stdout + result.stderr


def test_a_process_killed_mid_bulk_insert_leaves_nothing(db_path: Path, bus: RecordingBus) -> None:
    store = SqlLibraryStore.open(db_path, bus)
    ids = store.add_tracks([track_info(n) for n in range(5)])
    store.close()
    # Tried: a scan adding 3,000 tracks dies after two of its multi-row INSERT statements ran.
    # Must survive: the five tracks before it, whole, and nothing of the batch; indexes consistent.
    _die_mid_write(db_path, "add")
    store = SqlLibraryStore.open(db_path, bus)
    try:
        assert store.count_tracks() == 5
        assert [t.id for t in store.get_tracks(ids)] == ids
        assert len(store.search("song")) == 5
    finally:
        store.close()
    raw = sqlite3.connect(db_path)
    try:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        raw.execute("INSERT INTO tracks_fts (tracks_fts, rank) VALUES ('integrity-check', 1)")  # raises if out of step
    finally:
        raw.close()


def test_a_process_killed_mid_playlist_rewrite_leaves_the_playlist(db_path: Path, bus: RecordingBus) -> None:
    store = SqlLibraryStore.open(db_path, bus)
    ids = store.add_tracks([track_info(n) for n in range(5)])
    mix = store.create_playlist("Mix", [ids[4], ids[3]])
    store.close()
    # Tried: inserting at the front, which deletes and rewrites the items; the process dies after the DELETE.
    _die_mid_write(db_path, "playlist", str(mix.id))
    store = SqlLibraryStore.open(db_path, bus)
    try:
        assert store.get_playlist(mix.id).track_ids == (ids[4], ids[3])
    finally:
        store.close()


# --- events leave only after the commit ------------------------------------------------------------


def test_each_event_arrives_when_its_change_is_visible_to_other_connections(
    store: SqlLibraryStore, bus: RecordingBus, db_path: Path
) -> None:
    observed: list[tuple[str, bool]] = []

    def check(event: Event) -> None:
        # A separate connection sees only committed data.
        conn = sqlite3.connect(db_path)
        try:
            if isinstance(event, LibraryUpdated):
                found = conn.execute("SELECT COUNT(*) FROM tracks WHERE id = ?", (event.track_ids[0],)).fetchone()[0]
                observed.append((f"library {event.action}", found == (event.action != "deleted")))
            elif isinstance(event, FavoritesUpdated):
                found = conn.execute("SELECT COUNT(*) FROM favorites WHERE track_id = ?", (event.track_id,)).fetchone()
                observed.append((f"favorite {event.action}", found[0] == (event.action == "added")))
            elif isinstance(event, PlaylistsUpdated):
                items = conn.execute(
                    "SELECT COUNT(*) FROM playlist_items WHERE playlist_id = ?", (event.playlist_id,)
                ).fetchone()[0]
                observed.append((f"playlist {event.action}", items == {"created": 1, "tracks_added": 2}[event.action]))
            elif isinstance(event, SettingsUpdated):
                row = conn.execute("SELECT value FROM settings WHERE key = ?", (event.key,)).fetchone()
                observed.append(("setting", row == ("33",)))
        finally:
            conn.close()

    bus.subscribe_all(check)
    (tid,) = store.add_tracks([track_info(1)])
    store.add_favorite(tid)
    store.remove_favorite(tid)
    mix = store.create_playlist("Mix", [tid])
    store.add_to_playlist(mix.id, [tid])
    store.set_setting("volume.max", 33)
    store.delete_tracks([tid])
    assert observed == [
        ("library added", True),
        ("favorite added", True),
        ("favorite removed", True),
        ("playlist created", True),
        ("playlist tracks_added", True),
        ("setting", True),
        ("library deleted", True),
    ]


# --- many writers ----------------------------------------------------------------------------------


def test_concurrent_writers_from_threads_and_two_store_instances(db_path: Path) -> None:
    bus_a, bus_b = RecordingBus(), RecordingBus()
    first = SqlLibraryStore.open(db_path, bus_a)
    second = SqlLibraryStore.open(db_path, bus_b)  # another engine on the same file, like a second process
    shared = first.create_playlist("Everyone")
    errors: list[BaseException] = []
    threads_n, batches, per_batch = 6, 5, 20

    def worker(n: int) -> None:
        store = first if n % 2 else second
        try:
            for b in range(batches):
                base = 10_000 * n + 100 * b
                ids = store.add_tracks([track_info(base + i) for i in range(per_batch)])
                store.add_favorite(ids[0])
                store.add_to_playlist(shared.id, ids[:3])  # everyone appends to the same playlist
                store.set_setting("volume.step", 1 + (n + b) % 20)
                store.search("song")
            store.create_playlist(f"Mine {n}", ids)
        except BaseException as exc:  # every failure is reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    try:
        assert not any(t.is_alive() for t in threads)
        assert errors == []
        total = threads_n * batches * per_batch
        assert first.count_tracks() == total
        assert len(first.list_favorites()) == threads_n * batches
        shared_items = first.get_playlist(shared.id).track_ids
        assert len(shared_items) == threads_n * batches * 3 and len(set(shared_items)) == len(shared_items)
        assert len(first.list_playlists()) == threads_n + 1
        added = [e for bus in (bus_a, bus_b) for e in bus.of_type(LibraryUpdated)]
        assert sorted(i for e in added for i in e.track_ids) == sorted(t.id for t in first.list_tracks(limit=total))
    finally:
        first.close()
        second.close()


def test_opening_while_another_store_writes_and_checkpoints(db_path: Path) -> None:
    # Like the jukebox starting while a scan from the command line is adding tracks to the same file.
    writer = SqlLibraryStore.open(db_path, RecordingBus())
    stop = threading.Event()
    errors: list[BaseException] = []

    def keep_writing() -> None:
        n = 0
        try:
            while not stop.is_set():
                writer.add_tracks([track_info(100_000 + n + i) for i in range(200)])  # checkpoints as the WAL grows
                n += 200
        except BaseException as exc:  # every failure is reported by the assertion below
            errors.append(exc)

    thread = threading.Thread(target=keep_writing)
    thread.start()
    try:
        for _ in range(15):
            reader = SqlLibraryStore.open(db_path, RecordingBus())
            assert reader.count_tracks() >= 0
            reader.close()
    finally:
        stop.set()
        thread.join(timeout=60)
        writer.close()
    assert errors == []


# --- files that must be refused, untouched ---------------------------------------------------------


def _fingerprint(path: Path) -> tuple[bytes, int, list[str]]:
    return path.read_bytes(), path.stat().st_mtime_ns, sorted(os.listdir(path.parent))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"this is not a database\n" * 200, "not an SQLite database"),
        (b"\x00" * 10, "not an SQLite database"),
        (b"ID3\x04\x00" + os.urandom(5000), "not an SQLite database"),
        # The right magic with a damaged header (an impossible page size), and someone else's application id.
        (b"SQLite format 3\x00" + b"\x01\x03" + b"\x00" * 82 + b"\xff" * 4000, "cannot be read"),
        (b"SQLite format 3\x00" + b"\xff" * 4080, "another application"),
    ],
)
def test_a_file_that_is_not_sqlite_is_refused_untouched(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "library.db"
    path.write_bytes(content)
    before = _fingerprint(path)
    with pytest.raises(DatabaseError, match=message) as caught:
        SqlLibraryStore.open(path, RecordingBus())
    assert "untouched" in str(caught.value)
    assert _fingerprint(path) == before


def test_a_newer_schema_is_refused_untouched(db_path: Path) -> None:
    SqlLibraryStore.open(db_path, RecordingBus()).close()
    raw = sqlite3.connect(db_path)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.execute("CREATE TABLE from_the_future (x)")
    raw.commit()
    raw.close()
    before = _fingerprint(db_path)
    with pytest.raises(DatabaseError, match=f"schema version {SCHEMA_VERSION + 1}, newer") as caught:
        SqlLibraryStore.open(db_path, RecordingBus())
    assert "update the software" in str(caught.value)
    assert _fingerprint(db_path) == before


def test_another_applications_sqlite_file_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "library.db"
    raw = sqlite3.connect(path)
    raw.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    raw.execute("INSERT INTO customers (name) VALUES ('Ada')")
    raw.commit()
    raw.close()
    before = _fingerprint(path)
    with pytest.raises(DatabaseError, match="not a jukebox library"):
        SqlLibraryStore.open(path, RecordingBus())
    assert _fingerprint(path) == before


def test_a_folder_in_place_of_the_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "library.db").mkdir()
    with pytest.raises(DatabaseError, match="folder"):
        SqlLibraryStore.open(tmp_path / "library.db", RecordingBus())


def test_database_errors_are_kiosk_errors() -> None:
    assert issubclass(DatabaseError, KioskError)
