"""Fixtures for the library store tests: a real SQLite file in a temporary folder and a RecordingBus."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kiosk.core.bus import RecordingBus
from kiosk.core.models import TrackInfo
from kiosk.library.store import SqlLibraryStore


def track_info(n: int, **fields: Any) -> TrackInfo:
    """A plausible track; ``fields`` override the generated ones."""
    values: dict[str, Any] = {
        "path": f"/music/Artist {n % 7}/Album {n % 3}/{n:03d} Song {n}.flac",
        "title": f"Song {n}",
        "artist": f"Artist {n % 7}",
        "album": f"Album {n % 3}",
        "album_artist": f"Artist {n % 7}",
        "track_number": n,
        "duration_ms": 180_000 + n,
        "file_size": 1_000_000 + n,
        "mtime_ns": 1_700_000_000_000_000_000 + n,
        "content_hash": f"hash-{n}",
    }
    values.update(fields)
    return TrackInfo(**values)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "library.db"


@pytest.fixture
def store(db_path: Path, bus: RecordingBus) -> Iterator[SqlLibraryStore]:
    library = SqlLibraryStore.open(db_path, bus)
    yield library
    library.close()


@pytest.fixture
def db_dump(db_path: Path) -> Callable[[], list[str]]:
    """Every row of every table as SQL, read through a separate connection: what is really committed."""

    def dump() -> list[str]:
        conn = sqlite3.connect(db_path)
        try:
            return list(conn.iterdump())
        finally:
            conn.close()

    return dump


@pytest.fixture
def tracks(store: SqlLibraryStore, bus: RecordingBus) -> list[int]:
    """Ten tracks in the library (the bus is cleared so tests see only their own events)."""
    ids = store.add_tracks([track_info(n) for n in range(10)])
    bus.events.clear()
    return ids
