"""``SqlLibraryStore``: the library store of the core (``kiosk.core.ports.library``) on SQLite via sqlmodel.

Every call takes its own pooled connection, so any thread may call any method. Writes run in one
``BEGIN IMMEDIATE`` transaction each (a writer queues for the lock up front instead of failing half-way
when another writer got there first), validate inside it, and publish their event only after COMMIT;
bad input raises a ``KioskError`` before anything is written. Rows never leave this module: callers get
the frozen models of ``kiosk.core.models``.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import time
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields
from functools import lru_cache
from itertools import chain
from operator import attrgetter
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, get_args

from sqlalchemy import (
    URL,
    Connection,
    Engine,
    Row,
    Table,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    text,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from kiosk.core.bus import EventBus
from kiosk.core.errors import DatabaseError, InvalidRequestError, KioskError, NotFoundError
from kiosk.core.events import (
    Event,
    FavoritesUpdated,
    LibraryUpdated,
    PlaylistsUpdated,
    SettingsUpdated,
    SettingValue,
)
from kiosk.core.models import (
    REPEAT_MODES,
    AlbumSummary,
    ArtistSummary,
    FileHash,
    FileStat,
    Playlist,
    PlaylistDetail,
    QueueEntry,
    QueueSnapshot,
    Track,
    TrackInfo,
)
from kiosk.core.ports.library import LibraryStore, TrackOrder
from kiosk.core.settings import SETTINGS, defaults, spec_for
from kiosk.library.m3u import M3UItem, format_m3u8, parse_m3u8, resolve_location
from kiosk.library.migrations import check_database_file, migrate
from kiosk.library.tables import (
    TRACK_COLUMNS,
    FavoriteRow,
    PlaylistItemRow,
    PlaylistRow,
    QueueEntryRow,
    QueueStateRow,
    SettingRow,
    TrackRow,
)

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000
#: Page cache per connection (allocated as used). Small, because every pooled connection that reads a
#: 50,000-track library fills its own; the screen's queries are paged and indexed.
CACHE_KIB = 2_048
#: Page cache while a bulk insert runs: a 50,000-track library's indexes fit, so it does not spill
#: half-finished pages to the WAL. Given back when the insert ends.
BULK_CACHE_KIB = 16_384
#: Ids per ``IN (...)`` list: far below SQLite's 32,766 variables, large enough to be few statements.
IN_CHUNK = 5_000
MAX_PLAYLIST_NAME = 200
#: Words of a search query that are used; the rest would only narrow an already tiny result.
MAX_SEARCH_WORDS = 12
#: A query matching more tracks than this (a letter or two typed) ranks only this many of its matches,
#: the most recently added: ranking every match costs tens of ms at 50,000 tracks and says little.
RANK_CANDIDATES = 2_000
#: bm25 weights of title, artist, album, album artist: a hit in the title ranks first.
_BM25_WEIGHTS = "4.0, 2.0, 1.5, 1.0"

_TRACKS: Table = TrackRow.__table__  # type: ignore[attr-defined]
_ITEMS: Table = PlaylistItemRow.__table__  # type: ignore[attr-defined]
_QUEUE: Table = QueueEntryRow.__table__  # type: ignore[attr-defined]
_PLAYLISTS: Table = PlaylistRow.__table__  # type: ignore[attr-defined]
_SETTINGS: Table = SettingRow.__table__  # type: ignore[attr-defined]
_INFO_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(TrackInfo))
_ORDERS: tuple[str, ...] = get_args(TrackOrder)
_SEARCH_WORD = re.compile(r"[^\W_]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

assert set(TRACK_COLUMNS) == {f.name for f in fields(Track)}, "tracks table and Track model disagree"


# --- connection set-up ---------------------------------------------------------------------------


def _switch_to_wal(cursor: Any) -> None:
    """Switching an old file to WAL needs it to itself, and SQLite answers "locked" at once instead of
    waiting out busy_timeout; so while another store is busy with the same file, try again briefly."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    """Per-connection settings; WAL is stored in the file, the rest must be set on every connection."""
    dbapi_connection.isolation_level = None  # the driver must not BEGIN on its own: _on_begin does
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _switch_to_wal(cursor)
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    finally:
        cursor.close()


def _on_begin(conn: Connection) -> None:
    """Writers take the write lock at BEGIN, so a read-then-write transaction never deadlocks."""
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("kiosk_write") else "BEGIN")


def _make_engine(db_path: Path) -> Engine:
    engine = create_engine(
        URL.create("sqlite", database=str(db_path)),
        connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
        pool_size=8,
        max_overflow=8,
        pool_timeout=30,
    )
    event.listen(engine, "connect", _on_connect)
    event.listen(engine, "begin", _on_begin)
    return engine


# --- small helpers -------------------------------------------------------------------------------


def _chunks(items: Sequence[Any], size: int = IN_CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _track(row: Row[Any]) -> Track:
    return Track(**dict(zip(TRACK_COLUMNS, row, strict=True)))


_info_tuple = attrgetter(*_INFO_FIELDS)
_INSERT_COLUMNS = (*_INFO_FIELDS, "added_at", "play_count")


def _variable_limit() -> int:
    conn = sqlite3.connect(":memory:")
    try:
        return conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    finally:
        conn.close()


#: Rows per multi-row INSERT: about a thousand, within SQLite's limit on bound parameters.
_ROWS_PER_INSERT = max(1, min(1000, _variable_limit() // len(_INSERT_COLUMNS)))


@lru_cache(maxsize=4)
def _insert_sql(rows: int) -> str:
    placeholders = "(" + ", ".join("?" * len(_INSERT_COLUMNS)) + ")"
    return (
        f"INSERT INTO tracks ({', '.join(_INSERT_COLUMNS)}) VALUES "
        + ", ".join([placeholders] * rows)
        + " RETURNING id, path"
    )


def _info_values(info: TrackInfo) -> dict[str, Any]:
    return {name: getattr(info, name) for name in _INFO_FIELDS}


def _describe_ids(ids: Iterable[int]) -> str:
    ids = sorted(set(ids))
    shown = ", ".join(str(i) for i in ids[:10])
    return shown + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")


def _check_int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequestError(f"{what} must be a whole number, not {value!r}")
    return value


def _check_page(offset: int, limit: int) -> None:
    if _check_int(offset, "offset") < 0 or _check_int(limit, "limit") < 0:
        raise InvalidRequestError(f"offset and limit must not be negative (got offset={offset}, limit={limit})")


def _clean_playlist_name(name: object) -> str:
    if not isinstance(name, str):
        raise InvalidRequestError(f"a playlist name must be text, not {type(name).__name__}")
    cleaned = unicodedata.normalize("NFC", _CONTROL.sub(" ", name)).strip()
    if not cleaned:
        raise InvalidRequestError("a playlist needs a name")
    if len(cleaned) > MAX_PLAYLIST_NAME:
        raise InvalidRequestError(f"a playlist name may be at most {MAX_PLAYLIST_NAME} characters")
    return cleaned


def _name_key(name: str) -> str:
    """What makes two playlist names the same: case and Unicode normal form do not count."""
    return unicodedata.normalize("NFC", name.casefold())


def fts_query(user_text: str) -> str | None:
    """An FTS5 MATCH expression for what a user typed, or None when it holds no word at all.

    Every word becomes a quoted string with a prefix star, so nothing the user types is FTS syntax
    (quotes, ``*``, ``NEAR``, ``-``, ``AND``, parentheses, ``column:``) and every word matches as it is
    being typed. Words must all match (implicit AND).
    """
    words = _SEARCH_WORD.findall(unicodedata.normalize("NFKC", user_text))
    if not words:
        return None
    return " ".join('"{}"*'.format(word.replace('"', '""')) for word in words[:MAX_SEARCH_WORDS])


class SqlLibraryStore:
    """The jukebox library on one SQLite file; see ``kiosk.core.ports.library.LibraryStore``."""

    def __init__(self, db_path: Path, bus: EventBus) -> None:
        """Open (creating folder and file if missing) and upgrade the library at ``db_path``.

        Raises ``DatabaseError`` with a message fit for the screen when the file is not an SQLite
        library of ours or comes from a newer jukebox; such a file is left byte-for-byte untouched.
        """
        db_path = Path(db_path)
        check_database_file(db_path)
        try:
            db_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseError(f"cannot create the folder for the library database {db_path}: {exc}") from None
        engine = _make_engine(db_path)
        writer = engine.execution_options(kiosk_write=True)
        try:
            version = migrate(writer)
        except sa_exc.SQLAlchemyError as exc:
            engine.dispose()
            raise DatabaseError(f"the library database {db_path} cannot be opened: {_reason(exc)}") from exc
        except BaseException:
            engine.dispose()
            raise
        log.info("library database %s open at schema version %d", db_path, version)
        self._engine, self._writer, self._bus = engine, writer, bus
        self.db_path = db_path

    @classmethod
    def open(cls, db_path: Path, bus: EventBus) -> SqlLibraryStore:
        """The same as ``SqlLibraryStore(db_path, bus)``, spelled as what it does."""
        return cls(db_path, bus)

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> SqlLibraryStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    # --- transactions ----------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[Session]:
        """One write transaction: commits when the block ends, rolls everything back if it raises."""
        try:
            with Session(self._writer, expire_on_commit=False) as session, session.begin():
                yield session
        except KioskError:
            raise
        except sa_exc.IntegrityError as exc:
            raise InvalidRequestError(f"the library refused the change: {_reason(exc)}") from exc
        except sqlite3.IntegrityError as exc:  # from the driver's cursor (bulk insert)
            raise InvalidRequestError(f"the library refused the change: {exc}") from exc
        except (sa_exc.SQLAlchemyError, sqlite3.Error) as exc:
            raise DatabaseError(f"library database error: {_reason(exc)}") from exc

    @contextmanager
    def _read(self) -> Iterator[Session]:
        """One read transaction: every query in the block sees the same committed state."""
        try:
            with Session(self._engine) as session:
                yield session
        except KioskError:
            raise
        except sa_exc.SQLAlchemyError as exc:
            raise DatabaseError(f"library database error: {_reason(exc)}") from exc

    def _publish(self, event: Event) -> None:
        self._bus.publish(event)

    # --- tracks ----------------------------------------------------------------------------------

    def add_tracks(self, infos: Sequence[TrackInfo]) -> list[int]:
        """Insert in bulk; returns the new ids in the order given.

        Rows go in as multi-row ``INSERT ... VALUES (...), (...)`` statements of about a thousand rows:
        SQLite runs the full-text trigger's set-up once per statement, so row-at-a-time executemany
        would be several times slower (see tests/benchmarks/bench_store.py).
        """
        infos = list(infos)
        if not infos:
            return []
        paths = [info.path for info in infos]
        repeated = [path for path, n in Counter(paths).items() if n > 1]
        if repeated:
            raise InvalidRequestError(f"the file {repeated[0]!r} appears more than once in the tracks to add")
        extra = (time.time(), 0)  # added_at, play_count
        id_by_path: dict[str, int] = {}
        try:
            with self._write() as session:
                # The driver's own cursor, inside this session's transaction: tens of thousands of rows
                # skip SQLAlchemy's per-row result handling.
                cursor = session.connection().connection.cursor()
                cursor.execute(f"PRAGMA cache_size = -{BULK_CACHE_KIB}")
                try:
                    for chunk in _chunks(infos, _ROWS_PER_INSERT):
                        params = tuple(chain.from_iterable(_info_tuple(info) + extra for info in chunk))
                        # RETURNING order is not guaranteed, so ids are matched back by path.
                        cursor.execute(_insert_sql(len(chunk)), params)
                        id_by_path.update((path, track_id) for track_id, path in cursor.fetchall())
                finally:
                    cursor.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
                    cursor.close()
        except InvalidRequestError:  # the UNIQUE path constraint, most likely: say which file
            present = self._present_paths(paths)
            if present:
                raise InvalidRequestError(
                    f"{len(present)} of the files are already in the library, such as {sorted(present)[0]!r}"
                ) from None
            raise
        ids = [id_by_path[path] for path in paths]
        self._publish(LibraryUpdated("added", tuple(ids)))
        return ids

    def _present_paths(self, paths: Sequence[str]) -> set[str]:
        with self._read() as session:
            return self._paths_present(session, paths)

    def update_tracks(self, updates: Sequence[tuple[int, TrackInfo]]) -> None:
        """Replace file-derived fields; added_at, play count and last played are kept."""
        updates = list(updates)
        if not updates:
            return
        ids = [_check_int(track_id, "a track id") for track_id, _ in updates]
        if len(set(ids)) != len(ids):
            raise InvalidRequestError("a track appears more than once in one update")
        new_paths = [info.path for _, info in updates]
        if len(set(new_paths)) != len(new_paths):
            raise InvalidRequestError("two updated tracks cannot have the same path")
        with self._write() as session:
            self._require_tracks(session, ids)
            owner_of, updating = dict(zip(new_paths, ids, strict=True)), set(ids)
            for chunk in _chunks(new_paths):
                for other_id, path in session.execute(
                    select(_TRACKS.c.id, _TRACKS.c.path).where(_TRACKS.c.path.in_(chunk))
                ):
                    if other_id != owner_of[path] and other_id not in updating:
                        raise InvalidRequestError(f"track {other_id} already has the path {path!r}")
            session.execute(
                _TRACKS.update().where(_TRACKS.c.id == bindparam("track_id")),
                [{"track_id": track_id, **_info_values(info)} for track_id, info in updates],
            )
        self._publish(LibraryUpdated("modified", tuple(ids)))

    def delete_tracks(self, track_ids: Iterable[int]) -> None:
        """Remove tracks; their favorites, playlist and queue entries go with them (ON DELETE CASCADE)."""
        ids = list(dict.fromkeys(_check_int(i, "a track id") for i in track_ids))
        if not ids:
            return
        with self._write() as session:
            self._require_tracks(session, ids)
            for chunk in _chunks(ids):
                session.execute(delete(_TRACKS).where(_TRACKS.c.id.in_(chunk)))
        self._publish(LibraryUpdated("deleted", tuple(ids)))

    def get_track(self, track_id: int) -> Track:
        return self.get_tracks([track_id])[0]

    def get_tracks(self, track_ids: Sequence[int]) -> list[Track]:
        """In the order asked (repeats allowed); raises ``NotFoundError`` naming any unknown id."""
        ids = list(track_ids)
        wanted = list(dict.fromkeys(ids))
        found: dict[int, Track] = {}
        with self._read() as session:
            for chunk in _chunks(wanted):
                for row in session.execute(select(_TRACKS).where(_TRACKS.c.id.in_(chunk))):
                    track = _track(row)
                    found[track.id] = track
        missing = [i for i in wanted if i not in found]
        if missing:
            raise NotFoundError(f"no track with id {_describe_ids(missing)}")
        return [found[i] for i in ids]

    def existing_track_ids(self, track_ids: Iterable[int]) -> set[int]:
        with self._read() as session:
            return self._existing_ids(session, list(dict.fromkeys(track_ids)))

    def count_tracks(self) -> int:
        with self._read() as session:
            return int(session.execute(select(func.count()).select_from(_TRACKS)).scalar_one())

    def list_tracks(self, offset: int = 0, limit: int = 100, order: TrackOrder = "title") -> list[Track]:
        """A page of the library; "added" lists the newest first."""
        _check_page(offset, limit)
        c = _TRACKS.c
        orderings = {
            "title": (c.title.collate("NOCASE"), c.id),
            "artist": (c.artist.collate("NOCASE"), c.album.collate("NOCASE"), c.disc_number, c.track_number, c.id),
            "album": (c.album.collate("NOCASE"), c.album_artist.collate("NOCASE"), c.disc_number, c.track_number, c.id),
            "added": (c.id.desc(),),  # ids only grow (AUTOINCREMENT): newest first without an index
        }
        if order not in orderings:
            raise InvalidRequestError(f"unknown order {order!r}; use one of {', '.join(_ORDERS)}")
        with self._read() as session:
            rows = session.execute(select(_TRACKS).order_by(*orderings[order]).offset(offset).limit(limit))
            return [_track(row) for row in rows]

    def search(self, query: str, limit: int = 50, offset: int = 0) -> list[Track]:
        """Full-text search, best match first (bm25); every word matches as a prefix. No words: no results.

        When more than ``RANK_CANDIDATES`` tracks match, the most recently added of them are ranked;
        pages beyond those widen the window in whole steps, so pages within one step never overlap.
        """
        _check_page(offset, limit)
        match = fts_query(query)
        if match is None:
            return []
        columns = ", ".join(f"t.{name}" for name in TRACK_COLUMNS)
        with self._read() as session:
            # Matching in rowid order is cheap (prefix indexes) and stops after the candidates; bm25 is
            # computed for those alone, and only the page's winners are joined to their rows.
            statement = text(
                f"SELECT {columns} FROM ("
                "  SELECT id, score FROM ("
                f"    SELECT rowid AS id, bm25(tracks_fts, {_BM25_WEIGHTS}) AS score FROM tracks_fts"
                "     WHERE tracks_fts MATCH :match ORDER BY rowid DESC LIMIT :candidates"
                "  ) ORDER BY score, id LIMIT :limit OFFSET :offset"
                ") AS hits JOIN tracks AS t ON t.id = hits.id ORDER BY hits.score, hits.id"
            )
            candidates = RANK_CANDIDATES * -(-(offset + limit) // RANK_CANDIDATES)
            params = {"match": match, "candidates": candidates, "limit": limit, "offset": offset}
            rows = session.execute(statement, params)
            return [_track(row) for row in rows]

    def list_artists(self, offset: int = 0, limit: int = 200) -> list[ArtistSummary]:
        """Artists by album artist (or track artist where that is empty), A to Z, unknown last."""
        _check_page(offset, limit)
        statement = text(
            "SELECT name, COUNT(DISTINCT NULLIF(album, '')) AS albums, COUNT(*) AS tracks FROM "
            "(SELECT COALESCE(NULLIF(album_artist, ''), artist) AS name, album FROM tracks) "
            "GROUP BY name ORDER BY name = '', name COLLATE NOCASE, name LIMIT :limit OFFSET :offset"
        )
        with self._read() as session:
            rows = session.execute(statement, {"limit": limit, "offset": offset})
            return [ArtistSummary(name, int(albums), int(tracks)) for name, albums, tracks in rows]

    def list_albums(self, artist: str | None = None, offset: int = 0, limit: int = 200) -> list[AlbumSummary]:
        """Albums A to Z; for one artist (as ``list_artists`` names them), oldest first.

        Album and album artist are compared ignoring case, so "Live" and "LIVE" tagged on different
        tracks are one album; the A-to-Z list walks the album index and stops after the page.
        """
        _check_page(offset, limit)
        where = "g.album != ''"
        order = "g.album COLLATE NOCASE, g.album_artist COLLATE NOCASE"
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if artist is not None:
            where += " AND COALESCE(NULLIF(g.album_artist, ''), g.artist) = :artist"
            order = "MAX(g.year) IS NULL, MAX(g.year), " + order
            params["artist"] = artist
        statement = text(
            "SELECT g.album, g.album_artist, MAX(g.year), COUNT(*), MAX(g.cover_id),"
            "  (SELECT f.id FROM tracks AS f"
            "   WHERE f.album = g.album COLLATE NOCASE AND f.album_artist = g.album_artist COLLATE NOCASE"
            "   ORDER BY f.disc_number NULLS LAST, f.track_number NULLS LAST, f.id LIMIT 1)"
            f" FROM tracks AS g WHERE {where}"
            " GROUP BY g.album COLLATE NOCASE, g.album_artist COLLATE NOCASE"
            f" ORDER BY {order} LIMIT :limit OFFSET :offset"
        )
        with self._read() as session:
            return [
                AlbumSummary(album, album_artist, year, int(n), cover_id, int(first_id))
                for album, album_artist, year, n, cover_id, first_id in session.execute(statement, params)
            ]

    def album_tracks(self, album: str, album_artist: str) -> list[Track]:
        """In disc and track order (unnumbered tracks last); names compared ignoring case, as in ``list_albums``."""
        c = _TRACKS.c
        statement = (
            select(_TRACKS)
            .where(c.album.collate("NOCASE") == album, c.album_artist.collate("NOCASE") == album_artist)
            .order_by(c.disc_number.nulls_last(), c.track_number.nulls_last(), c.title.collate("NOCASE"), c.id)
        )
        with self._read() as session:
            return [_track(row) for row in session.execute(statement)]

    def file_stats_under(self, root: str) -> list[FileStat]:
        """Size and mtime of every track whose path lies under ``root`` (a range scan on the path index)."""
        root = root.rstrip("/")
        c = _TRACKS.c
        # Every path under root/ sorts between "root/" and "root0" ("0" follows "/" in byte order).
        statement = select(c.id, c.path, c.file_size, c.mtime_ns).where(c.path >= root + "/", c.path < root + "0")
        with self._read() as session:
            return [FileStat(*row) for row in session.execute(statement.order_by(c.path))]

    def file_sizes(self) -> set[int]:
        c = _TRACKS.c
        with self._read() as session:
            return set(session.scalars(select(c.file_size).distinct()))

    def files_of_sizes(self, sizes: Iterable[int]) -> list[FileHash]:
        wanted = sorted({_check_int(size, "a file size") for size in sizes})
        c = _TRACKS.c
        found: list[FileHash] = []
        with self._read() as session:
            for chunk in _chunks(wanted):
                statement = select(c.id, c.path, c.file_size, c.content_hash).where(c.file_size.in_(chunk))
                found += [FileHash(*row) for row in session.execute(statement)]
        return found

    def set_content_hashes(self, hashes: Iterable[tuple[int, str]]) -> None:
        values = [{"track_id": _check_int(track_id, "a track id"), "content_hash": str(h)} for track_id, h in hashes]
        if not values:
            return
        with self._write() as session:
            session.execute(_TRACKS.update().where(_TRACKS.c.id == bindparam("track_id")), values)

    def record_play(self, track_id: int, played_at: float) -> None:
        """Play count + 1 and last played (the full-text index is not touched: its trigger ignores these)."""
        track_id = _check_int(track_id, "a track id")
        c = _TRACKS.c
        with self._write() as session:
            result = session.execute(
                _TRACKS.update().where(c.id == track_id).values(play_count=c.play_count + 1, last_played=played_at)
            )
            if result.rowcount == 0:  # type: ignore[attr-defined]
                raise NotFoundError(f"no track with id {track_id}")
        self._publish(LibraryUpdated("modified", (track_id,)))

    def _existing_ids(self, session: Session, ids: Sequence[int]) -> set[int]:
        found: set[int] = set()
        for chunk in _chunks(ids):
            found.update(session.execute(select(_TRACKS.c.id).where(_TRACKS.c.id.in_(chunk))).scalars())
        return found

    def _require_tracks(self, session: Session, ids: Sequence[int]) -> None:
        wanted = list(dict.fromkeys(_check_int(i, "a track id") for i in ids))
        missing = set(wanted) - self._existing_ids(session, wanted)
        if missing:
            raise NotFoundError(f"no track with id {_describe_ids(missing)}")

    def _paths_present(self, session: Session, paths: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for chunk in _chunks(paths):
            found.update(session.execute(select(_TRACKS.c.path).where(_TRACKS.c.path.in_(chunk))).scalars())
        return found

    # --- favorites -------------------------------------------------------------------------------

    def add_favorite(self, track_id: int) -> bool:
        """Returns False (and publishes nothing) when it already was one."""
        with self._write() as session:
            self._require_tracks(session, [track_id])
            # Strictly increasing times keep "most recent first" exact even within one clock tick.
            latest = session.execute(select(func.max(FavoriteRow.added_at))).scalar_one()
            added_at = max(time.time(), (latest or 0.0) + 1e-6)
            result = session.execute(
                sqlite_insert(FavoriteRow)
                .values(track_id=track_id, added_at=added_at)
                .on_conflict_do_nothing(index_elements=["track_id"])
            )
            added = result.rowcount == 1  # type: ignore[attr-defined]
        if added:
            self._publish(FavoritesUpdated("added", track_id))
        return added

    def remove_favorite(self, track_id: int) -> bool:
        """Returns False (and publishes nothing) when it was not one."""
        with self._write() as session:
            self._require_tracks(session, [track_id])
            result = session.execute(delete(FavoriteRow).where(FavoriteRow.track_id == track_id))  # type: ignore[arg-type]
            removed = result.rowcount == 1  # type: ignore[attr-defined]
        if removed:
            self._publish(FavoritesUpdated("removed", track_id))
        return removed

    def is_favorite(self, track_id: int) -> bool:
        """False for a track that is not a favorite, and for an unknown one."""
        with self._read() as session:
            return session.get(FavoriteRow, track_id) is not None

    def list_favorites(self) -> list[Track]:
        """Most recently added first."""
        statement = (
            select(_TRACKS)
            .join(FavoriteRow, FavoriteRow.track_id == _TRACKS.c.id)  # type: ignore[arg-type]
            .order_by(FavoriteRow.added_at.desc())  # type: ignore[attr-defined]
        )
        with self._read() as session:
            return [_track(row) for row in session.execute(statement)]

    # --- playlists -------------------------------------------------------------------------------

    def create_playlist(self, name: str, track_ids: Sequence[int] = ()) -> Playlist:
        name = _clean_playlist_name(name)
        ids = list(track_ids)
        with self._write() as session:
            self._require_tracks(session, ids)
            playlist = self._insert_playlist(session, name, ids)
        self._publish(PlaylistsUpdated("created", playlist.id, tuple(ids)))
        return playlist

    def rename_playlist(self, playlist_id: int, name: str) -> Playlist:
        """A new name that differs only in case from the old one is fine; publishes nothing if unchanged."""
        name = _clean_playlist_name(name)
        with self._write() as session:
            row = self._playlist_row(session, playlist_id)
            if row.name == name:
                return self._playlist_model(session, row)
            self._require_free_name(session, name, except_id=playlist_id)
            row.name, row.name_key, row.updated_at = name, _name_key(name), time.time()
            session.add(row)
            session.flush()
            playlist = self._playlist_model(session, row)
        self._publish(PlaylistsUpdated("renamed", playlist_id, ()))
        return playlist

    def delete_playlist(self, playlist_id: int) -> None:
        with self._write() as session:
            session.delete(self._playlist_row(session, playlist_id))
        self._publish(PlaylistsUpdated("deleted", playlist_id, ()))

    def add_to_playlist(self, playlist_id: int, track_ids: Sequence[int], position: int | None = None) -> None:
        """Insert before ``position`` (0 to length), or append when it is None."""
        ids = list(track_ids)
        with self._write() as session:
            row = self._playlist_row(session, playlist_id)
            self._require_tracks(session, ids)
            if position is not None:
                current = self._item_track_ids(session, playlist_id)
                if not 0 <= _check_int(position, "a position") <= len(current):
                    raise InvalidRequestError(
                        f"position {position} is outside the playlist (0 to {len(current)} allowed)"
                    )
            if not ids:
                return
            if position is None:
                last = session.execute(
                    select(func.max(_ITEMS.c.position)).where(_ITEMS.c.playlist_id == playlist_id)
                ).scalar_one()
                start = -1 if last is None else last
                self._insert_items(session, playlist_id, ids, first_position=start + 1)
            else:
                self._rewrite_items(session, playlist_id, current[:position] + ids + current[position:])
            self._touch(session, row)
        self._publish(PlaylistsUpdated("tracks_added", playlist_id, tuple(ids)))

    def remove_from_playlist(self, playlist_id: int, positions: Sequence[int]) -> None:
        """Remove the entries at these positions (as they are before the removal)."""
        with self._write() as session:
            row = self._playlist_row(session, playlist_id)
            current = self._item_track_ids(session, playlist_id)
            doomed = sorted({_check_int(p, "a position") for p in positions})
            bad = [p for p in doomed if not 0 <= p < len(current)]
            if bad:
                raise InvalidRequestError(
                    f"position {bad[0]} is outside the playlist, which has {len(current)} entries"
                )
            if not doomed:
                return
            removed = tuple(current[p] for p in doomed)
            doomed_set = set(doomed)
            self._rewrite_items(session, playlist_id, [t for i, t in enumerate(current) if i not in doomed_set])
            self._touch(session, row)
        self._publish(PlaylistsUpdated("tracks_removed", playlist_id, removed))

    def move_in_playlist(self, playlist_id: int, from_position: int, to_position: int) -> None:
        """Move one entry so that it ends up at ``to_position``."""
        with self._write() as session:
            row = self._playlist_row(session, playlist_id)
            current = self._item_track_ids(session, playlist_id)
            for what, pos in (("from", from_position), ("to", to_position)):
                if not 0 <= _check_int(pos, "a position") < len(current):
                    raise InvalidRequestError(
                        f"{what} position {pos} is outside the playlist, which has {len(current)} entries"
                    )
            if from_position == to_position:
                return
            current.insert(to_position, current.pop(from_position))
            self._rewrite_items(session, playlist_id, current)
            self._touch(session, row)
        self._publish(PlaylistsUpdated("reordered", playlist_id, ()))

    def get_playlist(self, playlist_id: int) -> PlaylistDetail:
        with self._read() as session:
            row = self._playlist_row(session, playlist_id)
            ids = self._item_track_ids(session, playlist_id)
            return PlaylistDetail(self._playlist_model(session, row, len(ids)), tuple(ids))

    def list_playlists(self) -> list[Playlist]:
        """A to Z, ignoring case."""
        statement = text(
            "SELECT p.id, p.name, COUNT(i.position), p.created_at, p.updated_at FROM playlists AS p "
            "LEFT JOIN playlist_items AS i ON i.playlist_id = p.id GROUP BY p.id ORDER BY p.name_key, p.id"
        )
        with self._read() as session:
            return [Playlist(*row) for row in session.execute(statement)]

    def export_m3u8(self, playlist_id: int) -> str:
        """The playlist as M3U8 text with #EXTINF lines and absolute paths."""
        c = _TRACKS.c
        with self._read() as session:
            row = self._playlist_row(session, playlist_id)
            rows = session.execute(
                select(c.path, c.duration_ms, c.artist, c.title)
                .join(_ITEMS, _ITEMS.c.track_id == c.id)
                .where(_ITEMS.c.playlist_id == playlist_id)
                .order_by(_ITEMS.c.position)
            )
            items = [M3UItem(*r) for r in rows]
        return format_m3u8(row.name, items)

    def import_m3u8(self, text: str, name: str, base_dir: str | None = None) -> tuple[Playlist, list[str]]:
        """Creates a playlist from M3U8 text (entries matched to tracks by path; relative ones against
        ``base_dir``); returns it and the entries that matched no track, as written in the text."""
        name = _clean_playlist_name(name)
        entries = parse_m3u8(text)
        if not entries:
            raise InvalidRequestError("the playlist file lists no entries")
        resolved = [resolve_location(entry.location, base_dir) for entry in entries]
        wanted = list(dict.fromkeys(p for p in resolved if p is not None))
        with self._write() as session:
            id_by_path: dict[str, int] = {}
            for chunk in _chunks(wanted):
                id_by_path.update(
                    (path, track_id)
                    for track_id, path in session.execute(
                        select(_TRACKS.c.id, _TRACKS.c.path).where(_TRACKS.c.path.in_(chunk))
                    )
                )
            matched = [id_by_path[p] for p in resolved if p is not None and p in id_by_path]
            unmatched = [e.location for e, p in zip(entries, resolved, strict=True) if p is None or p not in id_by_path]
            playlist = self._insert_playlist(session, name, matched)
        self._publish(PlaylistsUpdated("created", playlist.id, tuple(matched)))
        return playlist, unmatched

    def _playlist_row(self, session: Session, playlist_id: int) -> PlaylistRow:
        row = session.get(PlaylistRow, _check_int(playlist_id, "a playlist id"))
        if row is None:
            raise NotFoundError(f"no playlist with id {playlist_id}")
        return row

    def _playlist_model(self, session: Session, row: PlaylistRow, count: int | None = None) -> Playlist:
        assert row.id is not None
        if count is None:
            count = int(
                session.execute(
                    select(func.count()).select_from(_ITEMS).where(_ITEMS.c.playlist_id == row.id)
                ).scalar_one()
            )
        return Playlist(row.id, row.name, count, row.created_at, row.updated_at)

    def _require_free_name(self, session: Session, name: str, except_id: int | None = None) -> None:
        other = session.execute(
            select(_PLAYLISTS.c.id, _PLAYLISTS.c.name).where(_PLAYLISTS.c.name_key == _name_key(name))
        ).first()
        if other is not None and other[0] != except_id:
            raise InvalidRequestError(f"there already is a playlist called {other[1]!r}")

    def _insert_playlist(self, session: Session, name: str, track_ids: Sequence[int]) -> Playlist:
        self._require_free_name(session, name)
        now = time.time()
        row = PlaylistRow(name=name, name_key=_name_key(name), created_at=now, updated_at=now)
        session.add(row)
        session.flush()
        assert row.id is not None
        self._insert_items(session, row.id, track_ids, first_position=0)
        return Playlist(row.id, name, len(track_ids), now, now)

    def _item_track_ids(self, session: Session, playlist_id: int) -> list[int]:
        return list(
            session.execute(
                select(_ITEMS.c.track_id).where(_ITEMS.c.playlist_id == playlist_id).order_by(_ITEMS.c.position)
            ).scalars()
        )

    def _insert_items(self, session: Session, playlist_id: int, track_ids: Sequence[int], first_position: int) -> None:
        if track_ids:
            session.execute(
                insert(_ITEMS),
                [
                    {"playlist_id": playlist_id, "position": first_position + i, "track_id": track_id}
                    for i, track_id in enumerate(track_ids)
                ],
            )

    def _rewrite_items(self, session: Session, playlist_id: int, track_ids: Sequence[int]) -> None:
        """Positions are renumbered 0..n-1 (tracks deleted from the library leave gaps until then)."""
        session.execute(delete(_ITEMS).where(_ITEMS.c.playlist_id == playlist_id))
        self._insert_items(session, playlist_id, track_ids, first_position=0)

    def _touch(self, session: Session, row: PlaylistRow) -> None:
        row.updated_at = time.time()
        session.add(row)

    # --- settings --------------------------------------------------------------------------------

    def get_setting(self, key: str) -> SettingValue:
        """The stored value, or the default when unset; unknown keys raise ``SettingError``."""
        spec = spec_for(key)
        with self._read() as session:
            row = session.get(SettingRow, key)
            return self._decode_setting(key, row.value) if row is not None else spec.default

    def all_settings(self) -> dict[str, SettingValue]:
        """Every known setting: stored values over the defaults."""
        values = defaults()
        with self._read() as session:
            for key, raw in session.execute(select(_SETTINGS.c.key, _SETTINGS.c.value)):
                if key in SETTINGS:
                    values[key] = self._decode_setting(key, raw)
        return values

    def set_setting(self, key: str, value: SettingValue) -> SettingValue:
        """Validates, stores and publishes ``settings:updated``; returns the previous value.

        Storing the value a setting already has publishes nothing.
        """
        spec = spec_for(key)
        value = spec.validate(value)
        with self._write() as session:
            row = session.get(SettingRow, key)
            previous = self._decode_setting(key, row.value) if row is not None else spec.default
            unchanged = previous == value and type(previous) is type(value)
            if not unchanged:
                session.merge(SettingRow(key=key, value=json.dumps(value)))
        if not unchanged:
            self._publish(SettingsUpdated(key, value, previous))
        return previous

    @staticmethod
    def _decode_setting(key: str, raw: str) -> SettingValue:
        """A stored value that no longer passes validation (an older rule, a hand edit) reads as the default."""
        spec = spec_for(key)
        try:
            return spec.validate(json.loads(raw))
        except (ValueError, KioskError) as exc:
            log.warning("setting %s holds an unusable value %r (%s); using the default", key, raw, exc)
            return spec.default

    # --- the queue -------------------------------------------------------------------------------

    def load_queue(self) -> QueueSnapshot:
        """The stored queue. If the current entry's track was deleted since, the entry at the same place
        (or the last one) becomes current."""
        q = _QUEUE.c
        with self._read() as session:
            rows = session.execute(select(q.entry_id, q.track_id, q.unshuffled_position).order_by(q.position)).all()
            state = session.get(QueueStateRow, 1)
        if state is None:
            return QueueSnapshot()
        entries = tuple(QueueEntry(entry_id, track_id) for entry_id, track_id, _ in rows)
        unshuffled = tuple(
            entry_id for entry_id, _, where in sorted((r for r in rows if r[2] is not None), key=lambda r: r[2])
        )
        current_index: int | None = None
        if entries:
            index_of = {e.entry_id: i for i, e in enumerate(entries)}
            if state.current_entry_id in index_of:
                current_index = index_of[state.current_entry_id]
            elif state.current_index is not None:
                current_index = min(state.current_index, len(entries) - 1)
        repeat = state.repeat if state.repeat in REPEAT_MODES else "off"
        return QueueSnapshot(
            entries=entries,
            unshuffled=unshuffled,
            current_index=current_index,
            shuffle=bool(state.shuffle),
            repeat=repeat,
            revision=state.revision,
            position_ms=state.position_ms,
        )

    def save_queue(self, snapshot: QueueSnapshot) -> None:
        """Replaces the stored queue in one transaction. Publishes nothing: the core announces it."""
        entries = snapshot.entries
        entry_ids = [_check_int(e.entry_id, "an entry id") for e in entries]
        if len(set(entry_ids)) != len(entry_ids):
            raise InvalidRequestError("two queue entries share an entry id")
        if snapshot.unshuffled and sorted(snapshot.unshuffled) != sorted(entry_ids):
            raise InvalidRequestError("the unshuffled order must list exactly the queue's entries")
        if snapshot.current_index is not None and not 0 <= snapshot.current_index < len(entries):
            raise InvalidRequestError(f"current index {snapshot.current_index} is outside the queue")
        if snapshot.repeat not in REPEAT_MODES:
            raise InvalidRequestError(f"unknown repeat mode {snapshot.repeat!r}")
        if snapshot.revision < 0 or snapshot.position_ms < 0:
            raise InvalidRequestError("revision and position must not be negative")
        unshuffled_at = {entry_id: i for i, entry_id in enumerate(snapshot.unshuffled)}
        current_entry = entries[snapshot.current_index].entry_id if snapshot.current_index is not None else None
        with self._write() as session:
            self._require_tracks(session, [e.track_id for e in entries])
            session.execute(delete(_QUEUE))
            if entries:
                session.execute(
                    insert(_QUEUE),
                    [
                        {
                            "position": i,
                            "entry_id": e.entry_id,
                            "track_id": e.track_id,
                            "unshuffled_position": unshuffled_at.get(e.entry_id),
                        }
                        for i, e in enumerate(entries)
                    ],
                )
            session.merge(
                QueueStateRow(
                    id=1,
                    current_index=snapshot.current_index,
                    current_entry_id=current_entry,
                    shuffle=snapshot.shuffle,
                    repeat=snapshot.repeat,
                    revision=snapshot.revision,
                    position_ms=snapshot.position_ms,
                )
            )

    def save_queue_position(self, position_ms: int) -> None:
        """Stores the play position so a restart resumes there (one small UPDATE)."""
        if _check_int(position_ms, "a position") < 0:
            raise InvalidRequestError("a play position must not be negative")
        with self._write() as session:
            session.execute(
                sqlite_insert(QueueStateRow)
                .values(id=1, position_ms=position_ms)
                .on_conflict_do_update(index_elements=["id"], set_={"position_ms": position_ms})
            )


def _reason(exc: Exception) -> str:
    return str(getattr(exc, "orig", None) or exc)


if TYPE_CHECKING:  # mypy checks that the class really implements the core's protocol
    _conforms: type[LibraryStore] = SqlLibraryStore
