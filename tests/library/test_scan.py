"""The scanner against a real SQLite library and real files: what it adds, re-reads, skips and removes."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from mutagen.flac import FLAC

from kiosk.core.bus import RecordingBus
from kiosk.core.events import LibraryScanComplete, LibraryScanProgress, LibraryUpdated
from kiosk.core.ports.usb import TagRequest, TagResult
from kiosk.library.scanner import Scanner
from kiosk.library.store import SqlLibraryStore
from kiosk.library.tags import ProcessTagReader
from tests.media import FORMATS, ffmpeg_available, make_tone

pytestmark = pytest.mark.skipif(not ffmpeg_available(), reason="ffmpeg is needed to make audio files")


class CountingReader:
    """The real process reader, remembering which files it was asked to read and when it was told to start."""

    def __init__(self, inner: ProcessTagReader) -> None:
        self.inner, self.asked = inner, []  # type: ignore[var-annotated]
        self.prepared = 0

    def prepare(self) -> None:
        self.prepared += 1
        self.inner.prepare()

    def read(
        self, requests: Sequence[TagRequest], cancelled: Callable[[], bool] = lambda: False
    ) -> Iterator[TagResult]:
        self.asked.extend(r.path for r in requests)
        return self.inner.read(requests, cancelled)

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def reader(tmp_path: Path) -> Iterator[CountingReader]:
    counting = CountingReader(ProcessTagReader(tmp_path / "covers", workers=2))
    yield counting
    counting.close()


@pytest.fixture
def store(tmp_path: Path, bus: RecordingBus) -> Iterator[SqlLibraryStore]:
    with SqlLibraryStore(tmp_path / "library.db", bus) as s:
        yield s


def _music(root: Path, media_cache: Path) -> dict[str, Path]:
    files = {}
    for i, fmt in enumerate(sorted(FORMATS)):
        suffix = FORMATS[fmt][0]
        folder = root / ("Album A" if i % 2 else "Album B")
        folder.mkdir(parents=True, exist_ok=True)
        tags = {"title": f"Song {fmt}", "artist": "Band", "album": folder.name, "track": str(i + 1)}
        files[fmt] = make_tone(folder / f"{fmt}{suffix}", fmt, freq=300 + 20 * i, tags=tags, cache_dir=media_cache)
    return files


def test_first_scan_adds_every_format_and_reports(
    tmp_path: Path, media_cache: Path, store: SqlLibraryStore, bus: RecordingBus, reader: CountingReader
) -> None:
    root = tmp_path / "music"
    files = _music(root, media_cache)
    (root / "notes.txt").write_text("not music")
    result = Scanner(store, bus, reader).scan(root)
    assert (result.status, result.added, result.errors, result.removed) == ("completed", len(files), 0, 0)
    assert reader.prepared == 1  # the walk started the workers once, at the first new file
    assert bus.of_type(LibraryScanComplete) == [result]
    assert bus.events[-1] == result  # the completion is the last word
    tracks = store.list_tracks(limit=100)
    assert sorted(t.title for t in tracks) == sorted(f"Song {fmt}" for fmt in files)
    assert {t.path for t in tracks} == {str(p) for p in files.values()}
    updated_ids = [i for e in bus.of_type(LibraryUpdated) if e.action == "added" for i in e.track_ids]
    assert sorted(updated_ids) == sorted(t.id for t in tracks)
    progress = bus.of_type(LibraryScanProgress)
    assert progress[-1].total == len(files) and progress[-1].scanned == len(files)
    assert all(p.job_id == result.job_id for p in progress)


def test_a_no_change_rescan_reads_no_tags(
    tmp_path: Path, media_cache: Path, store: SqlLibraryStore, bus: RecordingBus, reader: CountingReader
) -> None:
    root = tmp_path / "music"
    files = _music(root, media_cache)
    Scanner(store, bus, reader).scan(root)
    reader.asked.clear()
    fresh = CountingReader(ProcessTagReader(tmp_path / "covers"))
    again = Scanner(store, bus, fresh).scan(root)
    assert (again.added, again.updated, again.removed, again.skipped) == (0, 0, 0, len(files))
    assert fresh.asked == [] and fresh.prepared == 0  # no tag read, not even a worker started
    assert fresh.inner._pool is None
    fresh.close()


def test_changed_files_are_reread_and_gone_files_removed_under_the_root_only(
    tmp_path: Path, media_cache: Path, store: SqlLibraryStore, bus: RecordingBus, reader: CountingReader
) -> None:
    root = tmp_path / "music"
    files = _music(root, media_cache)
    other = tmp_path / "elsewhere"
    other.mkdir()
    outside = make_tone(other / "outside.flac", "flac", freq=900, tags={"title": "Outside"}, cache_dir=media_cache)
    scanner = Scanner(store, bus, reader)
    scanner.scan(root)
    scanner.scan(other)
    before = {t.path: t for t in store.list_tracks(limit=100)}
    flac = FLAC(files["flac"])
    flac["title"] = "Renamed"
    flac.save()
    os.utime(files["flac"], ns=(1, before[str(files["flac"])].mtime_ns + 1_000_000_000))
    files["mp3"].unlink()
    reader.asked.clear()
    reader.prepared = 0
    result = scanner.scan(root)
    assert (result.added, result.updated, result.removed) == (0, 1, 1)
    assert reader.asked == [str(files["flac"])]
    assert reader.prepared == 1  # a changed file starts the workers too
    after = {t.path: t for t in store.list_tracks(limit=100)}
    assert after[str(files["flac"])].title == "Renamed"
    assert after[str(files["flac"])].id == before[str(files["flac"])].id  # same track, play counts kept
    assert str(files["mp3"]) not in after
    assert str(outside) in after  # another root's track is untouched


def test_a_missing_root_fails_without_deleting(
    tmp_path: Path, media_cache: Path, store: SqlLibraryStore, bus: RecordingBus, reader: CountingReader
) -> None:
    root = tmp_path / "music"
    _music(root, media_cache)
    Scanner(store, bus, reader).scan(root)
    count = store.count_tracks()
    root.rename(tmp_path / "moved")
    result = Scanner(store, bus, reader).scan(root)
    assert result.status == "failed" and result.removed == 0
    assert store.count_tracks() == count


def test_progress_is_throttled_and_the_final_state_always_sent(
    tmp_path: Path, media_cache: Path, store: SqlLibraryStore, bus: RecordingBus, reader: CountingReader
) -> None:
    """With a clock that never moves, only the first progress event and the flushed final one go out."""
    root = tmp_path / "music"
    files = _music(root, media_cache)
    Scanner(store, bus, reader, clock=lambda: 100.0).scan(root)
    progress = bus.of_type(LibraryScanProgress)
    assert len(progress) == 2
    assert progress[0].status == "inventory"
    assert (progress[-1].status, progress[-1].scanned, progress[-1].total) == ("finishing", len(files), len(files))


def test_batches_are_committed_as_they_come(
    tmp_path: Path, media_cache: Path, store: SqlLibraryStore, bus: RecordingBus, reader: CountingReader
) -> None:
    root = tmp_path / "music"
    files = _music(root, media_cache)
    Scanner(store, bus, reader, batch_size=2).scan(root)
    added = [e for e in bus.of_type(LibraryUpdated) if e.action == "added"]
    assert len(added) == (len(files) + 1) // 2
    assert sum(len(e.track_ids) for e in added) == len(files)
