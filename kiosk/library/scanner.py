"""The library scan as a pipeline of stages that know nothing of any screen.

1. ``take_inventory``: walk the tree with ``os.scandir`` and ``lstat`` only; never follows a symlink,
   never opens anything; notes what it refused and why.
2. ``compare``: size and mtime against ``store.file_stats_under(root)`` -> new, changed, unchanged, gone.
3. Tags are read (in worker processes) for new and changed files only; results are committed in batches.
4. Tracks whose files are gone are deleted, under the scanned root only, and only when the walk saw
   every folder (an unreadable folder never makes its tracks vanish).

Progress goes out as ``library:scan-progress`` (throttled, last one always sent) and the end as
``library:scan-complete``; the store publishes ``library:updated`` after each committed batch.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from kiosk.core.bus import EventBus
from kiosk.core.events import LibraryScanComplete, LibraryScanProgress
from kiosk.core.models import FileStat, TrackInfo
from kiosk.core.ports.library import LibraryStore
from kiosk.core.ports.usb import TagReader, TagRequest, TagResult
from kiosk.core.ratelimit import Throttle
from kiosk.library.covers import is_folder_cover_name
from kiosk.library.tags import AUDIO_SUFFIXES

log = logging.getLogger(__name__)

MAX_DEPTH = 24
MAX_REASONS = 20
#: Folders that operating systems leave on sticks; never music.
IGNORED_DIRS = frozenset({"system volume information", "$recycle.bin", "lost+found", "recycler"})

ScanStatus = Literal["completed", "aborted", "failed"]


@runtime_checkable
class PreparableTagReader(Protocol):
    """A tag reader that can start its workers ahead of the first ``read`` (``ProcessTagReader`` can)."""

    def prepare(self) -> None: ...


@dataclass(frozen=True, slots=True)
class FoundFile:
    path: str
    file_size: int
    mtime_ns: int
    folder_cover: str | None = None

    def request(self) -> TagRequest:
        return TagRequest(self.path, self.file_size, self.mtime_ns, self.folder_cover)


@dataclass(slots=True)
class Inventory:
    """What the walk found: audio files, what it refused (path, reason) and folders it could not read."""

    root: str
    files: list[FoundFile] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    unreadable_dirs: list[str] = field(default_factory=list)
    entries_seen: int = 0


def take_inventory(
    root: str | os.PathLike[str],
    *,
    allow_undecodable_names: bool = False,
    cancelled: Callable[[], bool] = lambda: False,
    on_entry: Callable[[int, int, str], None] | None = None,
    on_files: Callable[[list[FoundFile]], None] | None = None,
) -> Inventory:
    """Walks ``root`` with scandir and lstat; symlinks, FIFOs, devices and hidden files are refused, unopened.

    ``allow_undecodable_names``: keep files whose names are not UTF-8 (an import renames them from their
    tags); an in-place scan refuses them because their path could not be stored. ``on_entry`` hears the
    counts after each folder, ``on_files`` each folder's audio files. Each folder is taken in name order, so
    the walk's order is the same on every run (an import starts copying in it while the walk goes on).
    """
    root_str = os.fspath(root)
    inventory = Inventory(root=root_str)
    stack: list[tuple[str, int]] = [(root_str, 0)]
    while stack:
        if cancelled():
            break
        folder, depth = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=_entry_name)
        except OSError as exc:
            inventory.unreadable_dirs.append(folder)
            inventory.refused.append((folder, f"folder unreadable: {exc.strerror or exc}"))
            continue
        cover = None
        audio: list[tuple[os.DirEntry[str], os.stat_result]] = []
        folders: list[tuple[str, int]] = []
        for entry in entries:
            inventory.entries_seen += 1
            name = entry.name
            if name.startswith("."):
                continue  # hidden files, macOS "._" resource forks, trash folders
            if not allow_undecodable_names and not _is_utf8(name):
                inventory.refused.append((entry.path, "file name is not valid UTF-8"))
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError as exc:
                inventory.refused.append((entry.path, f"cannot stat: {exc.strerror or exc}"))
                continue
            mode = st.st_mode
            if stat.S_ISLNK(mode):
                inventory.refused.append((entry.path, "symbolic link (never followed)"))
            elif stat.S_ISDIR(mode):
                if name.lower() in IGNORED_DIRS:
                    continue
                if depth + 1 > MAX_DEPTH:
                    inventory.refused.append((entry.path, f"folder nested deeper than {MAX_DEPTH} levels"))
                    continue
                folders.append((entry.path, depth + 1))
            elif stat.S_ISREG(mode):
                suffix = os.path.splitext(name)[1].lower()
                if suffix in AUDIO_SUFFIXES:
                    audio.append((entry, st))
                elif cover is None and is_folder_cover_name(name):
                    cover = entry.path
            elif os.path.splitext(name)[1].lower() in AUDIO_SUFFIXES:
                inventory.refused.append((entry.path, "not a regular file (FIFO, socket or device; never opened)"))
        stack += reversed(folders)  # taken from the end: in name order
        found = [FoundFile(entry.path, st.st_size, st.st_mtime_ns, cover) for entry, st in audio]
        inventory.files += found
        if on_files is not None and found:
            on_files(found)
        if on_entry is not None:
            on_entry(inventory.entries_seen, len(inventory.files), folder)
    return inventory


def _entry_name(entry: os.DirEntry[str]) -> str:
    return entry.name


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass(slots=True)
class Comparison:
    new: list[FoundFile]
    changed: list[tuple[int, FoundFile]]
    unchanged: int
    gone: list[FileStat]


def _unchanged(found: FoundFile, row: FileStat | None) -> bool:
    """A no-change rescan's rule: the library's row has the file's size and mtime, so no tag is read."""
    return row is not None and row.file_size == found.file_size and row.mtime_ns == found.mtime_ns


def compare(inventory: Inventory, known: Sequence[FileStat]) -> Comparison:
    """Sorts the inventory against the library by path, size and mtime."""
    by_path = {fs.path: fs for fs in known}
    new: list[FoundFile] = []
    changed: list[tuple[int, FoundFile]] = []
    unchanged = 0
    for found in inventory.files:
        stat_row = by_path.pop(found.path, None)
        if stat_row is None:
            new.append(found)
        elif _unchanged(found, stat_row):
            unchanged += 1
        else:
            changed.append((stat_row.track_id, found))
    blind = [d.rstrip(os.sep) + os.sep for d in inventory.unreadable_dirs]
    refused = {path for path, _ in inventory.refused}
    # A file we could not look at (unreadable folder, stat error) is not a file that is gone.
    gone = [fs for fs in by_path.values() if fs.path not in refused and not fs.path.startswith(tuple(blind))]
    return Comparison(new, changed, unchanged, gone)


@dataclass(slots=True)
class ScanTally:
    """Running totals of one job; turned into the events."""

    job_id: str
    root: str
    started: float
    status: str = "inventory"
    scanned: int = 0
    found: int = 0
    total: int | None = None
    added: int = 0
    updated: int = 0
    removed: int = 0
    skipped: int = 0
    errors: int = 0
    current_path: str | None = None
    error_reasons: list[str] = field(default_factory=list)
    skip_reasons: list[str] = field(default_factory=list)

    def relative(self, path: str) -> str:
        rel = os.path.relpath(path, self.root) if path.startswith(self.root) else path
        return rel.encode("utf-8", "surrogateescape").decode("utf-8", "replace")

    def error(self, path: str, reason: str) -> None:
        self.errors += 1
        if len(self.error_reasons) < MAX_REASONS:
            self.error_reasons.append(f"{self.relative(path)}: {reason}")

    def skip(self, path: str, reason: str | None = None) -> None:
        self.skipped += 1
        if reason is not None and len(self.skip_reasons) < MAX_REASONS:
            self.skip_reasons.append(f"{self.relative(path)}: {reason}")

    def progress(self) -> LibraryScanProgress:
        return LibraryScanProgress(
            job_id=self.job_id,
            status=self.status,
            scanned=self.scanned,
            found=self.found,
            errors=self.errors,
            current_path=self.relative(self.current_path) if self.current_path else None,
            total=self.total,
        )

    def complete(self, status: ScanStatus, clock: Callable[[], float]) -> LibraryScanComplete:
        return LibraryScanComplete(
            job_id=self.job_id,
            added=self.added,
            skipped=self.skipped,
            errors=self.errors,
            duration_ms=round((clock() - self.started) * 1000),
            updated=self.updated,
            removed=self.removed,
            status=status,
            error_reasons=tuple(self.error_reasons),
            skip_reasons=tuple(self.skip_reasons),
        )


class ScanJob:
    """Shared progress plumbing for the scan and the import: throttled progress, a cancel flag."""

    def __init__(
        self, bus: EventBus, root: str, job_id: str | None, cancel: threading.Event | None,
        progress_interval: float, clock: Callable[[], float],
    ) -> None:
        self.bus, self.clock = bus, clock
        self.cancel = cancel or threading.Event()
        job_id = job_id or uuid.uuid4().hex[:12]
        self.tally = ScanTally(job_id=job_id, root=root.rstrip(os.sep) + os.sep, started=clock())
        self._throttle: Throttle[LibraryScanProgress] = Throttle(bus.publish, progress_interval, clock)
        self._interval, self._quiet_until = progress_interval, float("-inf")

    def cancelled(self) -> bool:
        return self.cancel.is_set()

    def report(self) -> None:
        # Building the event costs more than a tag result; skip it while the throttle would hold it anyway
        # (``finish`` always sends the final state).
        now = self.clock()
        if now < self._quiet_until:
            return
        self._quiet_until = now + self._interval
        self._throttle.offer(self.tally.progress())

    def finish(self, status: ScanStatus) -> LibraryScanComplete:
        self.tally.status = "finishing"
        self.tally.current_path = None
        self._throttle.offer(self.tally.progress())
        self._throttle.flush()
        event = self.tally.complete(status, self.clock)
        self.bus.publish(event)
        log.info(
            "scan %s %s: %d added, %d updated, %d removed, %d skipped, %d errors in %d ms",
            event.job_id, status, event.added, event.updated, event.removed, event.skipped, event.errors,
            event.duration_ms,
        )
        return event


class Scanner:
    """Scans a folder in place into the library (the music folder, configured folders, a stick played from)."""

    def __init__(
        self,
        store: LibraryStore,
        bus: EventBus,
        reader: TagReader,
        *,
        batch_size: int = 500,
        progress_interval: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store, self._bus, self._reader = store, bus, reader
        self._batch_size, self._progress_interval, self._clock = batch_size, progress_interval, clock

    def scan(
        self, root: str | os.PathLike[str], *, job_id: str | None = None, cancel: threading.Event | None = None
    ) -> LibraryScanComplete:
        root_str = os.path.abspath(os.fspath(root))
        job = ScanJob(self._bus, root_str, job_id, cancel, self._progress_interval, self._clock)
        tally = job.tally
        try:
            if not os.path.isdir(root_str) or os.path.islink(root_str):
                tally.error(root_str, "not a folder")
                return job.finish("failed")
            known = self._store.file_stats_under(root_str)
            inventory = inventory_with_progress(job, root_str, on_files=self._start_reader_on_news(known))
            if job.cancelled():
                return job.finish("aborted")
            if root_str in inventory.unreadable_dirs:
                return job.finish("failed")
            comparison = compare(inventory, known)
            tally.skipped += comparison.unchanged
            tally.scanned, tally.total = comparison.unchanged, len(inventory.files)
            tally.status = "reading"
            job.report()
            changed_ids = {found.path: track_id for track_id, found in comparison.changed}
            requests = [f.request() for f in comparison.new] + [f.request() for _, f in comparison.changed]
            adds: list[TrackInfo] = []
            updates: list[tuple[int, TrackInfo]] = []
            for result in self._reader.read(requests, job.cancelled):
                self._count_result(tally, result)
                if result.info is not None:
                    if result.path in changed_ids:
                        updates.append((changed_ids[result.path], result.info))
                    else:
                        adds.append(result.info)
                if len(adds) + len(updates) >= self._batch_size:
                    self._commit(tally, adds, updates)
                    adds, updates = [], []
                job.report()
            self._commit(tally, adds, updates)
            if job.cancelled():
                return job.finish("aborted")
            if comparison.gone:
                self._store.delete_tracks([fs.track_id for fs in comparison.gone])
                tally.removed += len(comparison.gone)
            return job.finish("completed")
        except Exception as exc:
            log.exception("scan of %s failed", root_str)
            tally.error(root_str, f"scan failed: {exc}")
            return job.finish("failed")

    def _start_reader_on_news(self, known: Sequence[FileStat]) -> Callable[[list[FoundFile]], None] | None:
        """A walk callback that starts the reader's workers at the first new or changed file.

        They start during the rest of the walk instead of after it; a no-change rescan starts none.
        """
        if not isinstance(self._reader, PreparableTagReader):
            return None
        prepare = self._reader.prepare
        by_path = {fs.path: fs for fs in known}
        started = False

        def on_files(files: list[FoundFile]) -> None:
            nonlocal started
            if not started and any(not _unchanged(f, by_path.get(f.path)) for f in files):
                started = True
                prepare()

        return on_files

    def _count_result(self, tally: ScanTally, result: TagResult) -> None:
        tally.scanned += 1
        tally.current_path = result.path
        if result.error is not None:
            tally.error(result.path, result.error)

    def _commit(self, tally: ScanTally, adds: list[TrackInfo], updates: list[tuple[int, TrackInfo]]) -> None:
        if adds:
            self._store.add_tracks(adds)
            tally.added += len(adds)
        if updates:
            self._store.update_tracks(updates)
            tally.updated += len(updates)


def inventory_with_progress(
    job: ScanJob, root: str, *, allow_undecodable_names: bool = False,
    on_files: Callable[[list[FoundFile]], None] | None = None,
) -> Inventory:
    """The inventory stage with progress events and its refusals counted as skipped."""
    tally = job.tally

    def on_folder(seen: int, found: int, folder: str) -> None:
        tally.scanned, tally.found, tally.current_path = seen, found, folder
        job.report()

    job.report()
    inventory = take_inventory(
        root, allow_undecodable_names=allow_undecodable_names, cancelled=job.cancelled, on_entry=on_folder,
        on_files=on_files,
    )
    tally.scanned, tally.found = 0, len(inventory.files)
    for path, reason in inventory.refused:
        tally.skip(path, reason)
    return inventory
