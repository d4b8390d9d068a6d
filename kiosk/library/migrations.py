"""Schema versions of the library database and the steps that upgrade one to the next.

Each step is plain SQL frozen at the time it was written (never edit a released step; add a new one),
runs in its own transaction together with the bump of ``PRAGMA user_version``, and so either
completes or leaves the database exactly as it was. Before anything touches an existing file,
``check_database_file`` makes sure it is an SQLite file of ours and not from a newer jukebox.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Engine

from kiosk.core.errors import DatabaseError

log = logging.getLogger(__name__)

SQLITE_MAGIC = b"SQLite format 3\x00"
#: Written to the file header (offset 68) so a foreign SQLite file is never mistaken for ours: "Kios".
APPLICATION_ID = 0x4B696F73


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    sql: str

    def statements(self) -> list[str]:
        """The step's SQL split into single statements (trigger bodies hold semicolons of their own)."""
        out: list[str] = []
        pending = ""
        for line in self.sql.splitlines(keepends=True):
            pending += line
            if sqlite3.complete_statement(pending):
                out.append(pending.strip())
                pending = ""
        if pending.strip():
            raise ValueError(f"migration {self.version}: incomplete SQL statement: {pending.strip()[:80]}")
        return out


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "first schema: tracks, favorites, playlists, queue, settings",
        """
CREATE TABLE tracks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    artist TEXT NOT NULL DEFAULT '',
    album TEXT NOT NULL DEFAULT '',
    album_artist TEXT NOT NULL DEFAULT '',
    track_number INTEGER,
    track_total INTEGER,
    disc_number INTEGER,
    disc_total INTEGER,
    year INTEGER,
    genre TEXT NOT NULL DEFAULT '',
    duration_ms INTEGER NOT NULL DEFAULT 0,
    codec TEXT NOT NULL DEFAULT '',
    bitrate INTEGER,
    sample_rate INTEGER,
    channels INTEGER,
    replaygain_track_gain REAL,
    replaygain_track_peak REAL,
    replaygain_album_gain REAL,
    replaygain_album_peak REAL,
    file_size INTEGER NOT NULL DEFAULT 0,
    mtime_ns INTEGER NOT NULL DEFAULT 0,
    content_hash TEXT NOT NULL DEFAULT '',
    cover_id TEXT,
    source_path TEXT,
    added_at REAL NOT NULL DEFAULT 0,
    play_count INTEGER NOT NULL DEFAULT 0,
    last_played REAL
);
CREATE INDEX ix_tracks_content_hash ON tracks (content_hash);
CREATE INDEX ix_tracks_title ON tracks (title COLLATE NOCASE);
CREATE INDEX ix_tracks_artist ON tracks (artist COLLATE NOCASE, album COLLATE NOCASE, disc_number, track_number);
CREATE INDEX ix_tracks_album ON tracks (album COLLATE NOCASE, album_artist COLLATE NOCASE, disc_number, track_number);

CREATE TABLE favorites (
    track_id INTEGER PRIMARY KEY REFERENCES tracks (id) ON DELETE CASCADE,
    added_at REAL NOT NULL
);

CREATE TABLE playlists (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE playlist_items (
    playlist_id INTEGER NOT NULL REFERENCES playlists (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    track_id INTEGER NOT NULL REFERENCES tracks (id) ON DELETE CASCADE,
    PRIMARY KEY (playlist_id, position)
);
CREATE INDEX ix_playlist_items_track_id ON playlist_items (track_id);

CREATE TABLE queue_entries (
    position INTEGER PRIMARY KEY,
    entry_id INTEGER NOT NULL UNIQUE,
    track_id INTEGER NOT NULL REFERENCES tracks (id) ON DELETE CASCADE,
    unshuffled_position INTEGER
);
CREATE INDEX ix_queue_entries_track_id ON queue_entries (track_id);
CREATE TABLE queue_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    current_index INTEGER,
    current_entry_id INTEGER,
    shuffle BOOLEAN NOT NULL DEFAULT 0,
    repeat TEXT NOT NULL DEFAULT 'off' CHECK (repeat IN ('off', 'all', 'one')),
    revision INTEGER NOT NULL DEFAULT 0,
    position_ms INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
""",
    ),
    Migration(
        2,
        "full-text search over title, artist, album and album artist",
        # External content: the index holds no copy of the text; triggers keep it in step with tracks.
        # The update trigger fires only when a searched column changes, so play counts cost nothing.
        # Prefix indexes for 1-3 characters make the first letters typed cheap to match.
        """
CREATE VIRTUAL TABLE tracks_fts USING fts5 (
    title, artist, album, album_artist,
    content = 'tracks', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '1 2 3'
);
CREATE TRIGGER tracks_fts_after_insert AFTER INSERT ON tracks BEGIN
    INSERT INTO tracks_fts (rowid, title, artist, album, album_artist)
    VALUES (new.id, new.title, new.artist, new.album, new.album_artist);
END;
CREATE TRIGGER tracks_fts_after_delete AFTER DELETE ON tracks BEGIN
    INSERT INTO tracks_fts (tracks_fts, rowid, title, artist, album, album_artist)
    VALUES ('delete', old.id, old.title, old.artist, old.album, old.album_artist);
END;
CREATE TRIGGER tracks_fts_after_update AFTER UPDATE OF title, artist, album, album_artist ON tracks BEGIN
    INSERT INTO tracks_fts (tracks_fts, rowid, title, artist, album, album_artist)
    VALUES ('delete', old.id, old.title, old.artist, old.album, old.album_artist);
    INSERT INTO tracks_fts (rowid, title, artist, album, album_artist)
    VALUES (new.id, new.title, new.artist, new.album, new.album_artist);
END;
INSERT INTO tracks_fts (tracks_fts) VALUES ('rebuild');
""",
    ),
)

SCHEMA_VERSION = MIGRATIONS[-1].version


def _read_header(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(100)
    except OSError as exc:
        raise DatabaseError(f"cannot read the library database {path}: {exc.strerror or exc}") from None


def check_database_file(path: Path) -> None:
    """Refuse, without changing a byte, a file that is not an SQLite library of ours or is too new.

    An absent or empty file is fine (it becomes a new library). Everything else is read through the
    header and a read-only connection, so the refused file is left exactly as it was.
    """
    if not path.exists() or path.stat().st_size == 0:
        return
    if path.is_dir():
        raise DatabaseError(f"the library database {path} is a folder, not a file")
    header = _read_header(path)
    if len(header) < 100 or not header.startswith(SQLITE_MAGIC):
        raise DatabaseError(
            f"{path} is not an SQLite database (it may be damaged or another kind of file); "
            "it was left untouched: move it away to start a new library"
        )
    # The header holds both numbers (offsets 60 and 68): a refusal needs no SQLite connection at all.
    _refuse_foreign_or_newer(path, int.from_bytes(header[60:64], "big"), int.from_bytes(header[68:72], "big"))
    # A WAL file (header byte 18 is 2) may be in use by another process right now, so it is read with
    # locks. A rollback-journal file (not ours yet, or a stranger's) is read as immutable: no locks and no
    # -wal/-shm files appear next to a file that may be refused.
    mode = "mode=ro" if header[18] == 2 else "mode=ro&immutable=1"
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?{mode}", uri=True)
        try:
            user_version = conn.execute("PRAGMA user_version").fetchone()[0]
            application_id = conn.execute("PRAGMA application_id").fetchone()[0]
            tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise DatabaseError(f"the library database {path} cannot be read: {exc}; it was left untouched") from None
    _refuse_foreign_or_newer(path, user_version, application_id)
    if user_version == 0 and any(not t.startswith("sqlite_") for t in tables):
        raise DatabaseError(
            f"{path} is an SQLite database with tables of its own ({', '.join(sorted(tables)[:5])}) "
            "but not a jukebox library; it was left untouched"
        )


def _refuse_foreign_or_newer(path: Path, user_version: int, application_id: int) -> None:
    if application_id not in (0, APPLICATION_ID):
        raise DatabaseError(
            f"{path} is an SQLite database of another application (id {application_id:#x}); it was left untouched"
        )
    if user_version > SCHEMA_VERSION:
        raise DatabaseError(
            f"the library database {path} has schema version {user_version}, newer than this jukebox "
            f"understands (up to {SCHEMA_VERSION}); update the software. The file was left untouched"
        )


def current_version(conn: Connection) -> int:
    return int(conn.exec_driver_sql("PRAGMA user_version").scalar_one())


def migrate(engine: Engine) -> int:
    """Run every step the database lacks, each in its own write transaction; returns the final version.

    ``engine`` must begin its transactions with ``BEGIN IMMEDIATE`` so that two processes opening
    the same file at once cannot both run a step.
    """
    with engine.connect() as conn:
        while True:
            with conn.begin():
                version = current_version(conn)
                if version > SCHEMA_VERSION:
                    raise DatabaseError(
                        f"the library database has schema version {version}, newer than this jukebox "
                        f"understands (up to {SCHEMA_VERSION}); update the software"
                    )
                if version == SCHEMA_VERSION:
                    return version
                step = MIGRATIONS[version]
                assert step.version == version + 1, "migrations must be numbered 1, 2, 3 ... in order"
                log.info("library database: migrating to version %d (%s)", step.version, step.description)
                for statement in step.statements():
                    conn.exec_driver_sql(statement)
                if version == 0:
                    conn.exec_driver_sql(f"PRAGMA application_id = {APPLICATION_ID}")
                conn.exec_driver_sql(f"PRAGMA user_version = {step.version}")
