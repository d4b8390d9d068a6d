"""Copying a stick's music into the library folder, so that no power cut or pulled stick leaves a mess.

While the scan's inventory walks the stick, when everything on the stick would fit in the library, the files
are handed to the copies as they are found (see ``_CopiesDuringWalk``), except those of the size of a library
file; otherwise nothing is copied until the walk ends. After the walk:

- what the library already holds is dropped (same content hash; only files of the size of a library file
  are hashed for this), and free space is checked for what is left;
- the tag reader's worker processes copy each file into a temp file in the library folder, hashing it as
  they write, and read its tags from the same file: every file is read from the stick once, and the copies
  run on every core (see ``CopyThenRead``);
- this thread takes the results in path order: a repeat of a file before it on the stick is found by its
  hash and its copy removed; the others get their destination from the sanitised tags (in path order, so
  names are the same whatever order the workers finish in);
- batches of whole copies are made durable (syncfs), renamed into place and made durable again before
  their rows are committed, so no row ever points at a missing or half-copied file.

A file whose copy or tags fail is an error and its temp copy goes. A stop kills the workers and removes the
job's temp copies. Nothing is ever written to the stick: it is only opened for reading.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from kiosk.core.bus import EventBus
from kiosk.core.events import ImportState, LibraryScanComplete
from kiosk.core.models import FileHash, TrackInfo
from kiosk.core.ports.library import LibraryStore
from kiosk.core.ports.usb import CopyingTagReader, CopyJob, TagRequest, TagResult
from kiosk.core.ratelimit import Throttle
from kiosk.library.safecopy import (
    CHANGED_SINCE_SCAN,
    COPY_CHUNK,
    DISK_FULL,
    TEMP_PREFIX,
    DiskFull,
    SourceGone,
    full_disk_raises_disk_full,
    hash_file,
    staged_temp_path,
    sync_filesystem,
)
from kiosk.library.scanner import FoundFile, PreparableTagReader, ScanJob, ScanTally, inventory_with_progress
from kiosk.library.tags import clean_text

log = logging.getLogger(__name__)

#: Room left free on the library disk after an import (the database and logs need some too).
DEFAULT_RESERVE_BYTES = 64 * 1024 * 1024
MAX_COMPONENT_BYTES = 120
#: Files hashed before the copy go to the threads in runs of this many files or bytes (one file may be more).
HASH_RUN_FILES, HASH_RUN_BYTES = 32, 16 * 1024 * 1024
#: The walk hands its files to the copies in groups of about this many (a folder is never split).
WALK_HANDOVER_FILES = 256
_FORBIDDEN = str.maketrans({c: "_" for c in '/\\:*?"<>|'})


def safe_component(text: str, fallback: str, max_bytes: int = MAX_COMPONENT_BYTES) -> str:
    """One path component from a tag: no separators, no leading dots, no control characters, capped."""
    name = clean_text(text).translate(_FORBIDDEN).lstrip(". ").rstrip(". ")
    encoded = name.encode("utf-8")
    if len(encoded) > max_bytes:
        name = encoded[:max_bytes].decode("utf-8", "ignore").rstrip(". ")
    return name or fallback


def plan_destination(
    info: TrackInfo, music_dir: Path, taken: set[str], exists: Callable[[str], bool] = os.path.lexists
) -> str:
    """``Artist/Album/NN Title.ext`` under ``music_dir``; a name already used (in ``taken``, this job's, or
    by a file that ``exists``) gets " (2)", " (3)"..."""
    artist = safe_component(info.album_artist or info.artist, "Unknown artist")
    album = safe_component(info.album, "Unknown album")
    prefix = ""
    if info.track_number:
        prefix = f"{info.track_number:02d} "
        if info.disc_number and (info.disc_total or 1) > 1:
            prefix = f"{info.disc_number}-{prefix}"
    suffix = os.path.splitext(info.path)[1].lower()
    stem = safe_component(prefix + info.title, "Untitled")
    folder = os.path.join(music_dir, artist, album)
    for n in range(1, 10000):
        name = f"{stem}{suffix}" if n == 1 else f"{stem} ({n}){suffix}"
        candidate = os.path.join(folder, name)
        key = candidate.casefold()
        if key not in taken and not exists(candidate):
            taken.add(key)
            return candidate
    raise OSError(errno.EEXIST, "no free file name", os.path.join(folder, stem))


class _ExistingNames:
    """Whether a file is in the library already, by one listing per folder instead of one system call per
    file (the importing thread's system calls also cost it the GIL, which the settling thread holds often).
    Only this job adds files to these folders, and it plans every name it adds."""

    def __init__(self) -> None:
        self._folders: dict[str, frozenset[str]] = {}

    def __call__(self, path: str) -> bool:
        folder, name = os.path.split(path)
        names = self._folders.get(folder)
        if names is None:
            try:
                names = frozenset(os.listdir(folder))
            except FileNotFoundError:
                names = frozenset()
            self._folders[folder] = names
        return name in names


@dataclass(frozen=True, slots=True)
class Candidate:
    """A stick file to copy (not a duplicate), with its content hash when it was hashed before the copy."""

    found: FoundFile
    content_hash: str = ""

    @property
    def path(self) -> str:
        return self.found.path


@dataclass(slots=True)
class PlannedCopy:
    info: TrackInfo
    destination: str


@dataclass(slots=True)
class TempCopy:
    """A whole, verified copy in its temp file, named from its tags (its hash, size and mtime are in
    ``planned.info``), waiting to be made durable and renamed."""

    planned: PlannedCopy
    temp: str


class StickImporter:
    """Imports the music on a mounted stick into ``music_dir``, one job at a time.

    The caller's thread runs the job and owns its events. Beside it: the reader's worker processes, which
    copy and read tags, ``hash_threads`` threads that hash the few files checked before the copy, and one
    thread that makes each batch durable and commits its rows while the next batch copies.
    """

    def __init__(
        self,
        store: LibraryStore,
        bus: EventBus,
        reader: CopyingTagReader,
        music_dir: Path,
        *,
        batch_size: int = 1000,
        batch_bytes: int = 256 * 1024 * 1024,
        reserve_bytes: int = DEFAULT_RESERVE_BYTES,
        progress_interval: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
        hash_threads: int = 2,
        walk_handover_files: int = WALK_HANDOVER_FILES,
    ) -> None:
        self._store, self._bus, self._reader = store, bus, reader
        self._hash_threads = max(1, hash_threads)
        self._music_dir = Path(music_dir)
        self._music_str = str(self._music_dir)
        self._batch_size, self._batch_bytes, self._reserve = batch_size, batch_bytes, reserve_bytes
        self._progress_interval, self._clock = progress_interval, clock
        self._walk_handover_files = walk_handover_files
        #: Where the last job's time went (logged, and read by the benchmark).
        self.last_timings = ImportTimings()

    def import_from(
        self,
        root: str | os.PathLike[str],
        *,
        job_id: str | None = None,
        cancel: threading.Event | None = None,
        source_alive: Callable[[], bool] | None = None,
    ) -> LibraryScanComplete:
        """Copies new music from ``root``; returns (and publishes) the scan-complete event.

        ``source_alive`` tells a bad file from a stick that is gone; by default the root must still stat.
        """
        root_str = os.path.abspath(os.fspath(root))
        alive = source_alive or (lambda: _stat_ok(root_str))
        job = ScanJob(self._bus, root_str, job_id, cancel, self._progress_interval, self._clock)
        progress = _ImportProgress(job, _StateEvents(self._bus.publish, self._progress_interval, self._clock))
        timings = self.last_timings = ImportTimings()
        started = time.perf_counter()

        ended: list[str] = []

        def end(status: str, message: str) -> LibraryScanComplete:
            ended.append(status)
            timings.job_s = time.perf_counter() - started
            log.info("import %s: %s", job.tally.job_id, timings)
            return progress.stop(status, message)

        temp_prefix = f"{TEMP_PREFIX}{job.tally.job_id}"
        during_walk: _CopiesDuringWalk | None = None
        copies: CopyJob | None = None
        try:
            during_walk = self._copies_during_walk(root_str, temp_prefix)
            copies = during_walk.copies if during_walk is not None else None
            inventory = inventory_with_progress(
                job, root_str, allow_undecodable_names=True,
                on_files=during_walk.found if during_walk is not None else self._start_reader_early(),
            )
            timings.inventory_s = time.perf_counter() - started
            if job.cancelled() or not alive():
                return end("aborted", _why_stopped(alive))
            if during_walk is not None:
                during_walk.flush()
            files = sorted(inventory.files, key=lambda f: f.path)
            job.tally.total, job.tally.status = len(files), "reading"
            job.report()
            # When the whole stick fits, its own repeats can wait to be found as they copy; else they are
            # hashed first too, so that a stick whose new songs fit is never refused for its repeats.
            repeats_first = during_walk is None and bool(self._space_shortfall(sum(f.file_size for f in files)))
            with timings.measure("duplicates_s"):
                candidates = self._drop_duplicates(
                    files, job, alive, repeats_first=repeats_first,
                    library_sizes=during_walk.library_sizes if during_walk is not None else None,
                )
            if candidates is None:
                return end("aborted", _why_stopped(alive))
            progress.plan(candidates)
            # What the walk handed over was checked against the stick's used space; this is what is left.
            shortfall = self._space_shortfall(progress.bytes_total - (during_walk.bytes_sent if during_walk else 0))
            if shortfall:
                job.tally.error(root_str, shortfall)
                return end("failed", shortfall)
            if copies is None:
                copies = self._start_copies(temp_prefix)
            sent = during_walk.sent if during_walk is not None else frozenset()
            copies.add([c.found.request() for c in candidates if c.path not in sent])
            with timings.measure("copy_s"):
                outcome = self._copy_all(candidates, copies, job, progress, alive)
            return end(*outcome)
        except Exception as exc:
            log.exception("import from %s failed", root_str)
            job.tally.error(root_str, f"import failed: {exc}")
            return end("failed", f"import failed: {exc}")
        finally:
            if copies is not None:
                copies.close()  # on a stop, the workers are killed: nothing writes a temp copy after this
                removed = _remove_temp_files(self._music_dir, temp_prefix)  # never named, or not settled
                if removed and ended == ["completed"]:
                    log.warning("import %s left %d temp copies behind", job.tally.job_id, removed)

    def _copies_during_walk(self, root: str, temp_prefix: str) -> _CopiesDuringWalk | None:
        """Starts the copies for a walk that hands its files over as it finds them, when everything on the
        stick's file system fits on the library disk (so the walk's total need not be waited for); None
        when it may not fit, or the stick cannot say how full it is."""
        try:
            stick = os.statvfs(root)
        except OSError:
            return None
        used = (stick.f_blocks - stick.f_bfree) * stick.f_frsize
        if stick.f_blocks <= 0 or self._space_shortfall(used):
            return None
        library_sizes = self._store.file_sizes()
        return _CopiesDuringWalk(self._start_copies(temp_prefix), library_sizes, self._walk_handover_files)

    def _start_copies(self, temp_prefix: str) -> CopyJob:
        """The library folder made, a power cut's leftovers swept, and a copy job for this import."""
        self._music_dir.mkdir(parents=True, exist_ok=True)
        sweep_temp_files(self._music_dir)
        return self._reader.start_copying(str(self._music_dir), temp_prefix)

    def _start_reader_early(self) -> Callable[[list[FoundFile]], None] | None:
        """A walk callback that starts the tag reader's workers at the first audio files, during the walk."""
        if not isinstance(self._reader, PreparableTagReader):
            return None
        prepare = self._reader.prepare  # does nothing once started
        return lambda files: prepare()

    def _space_shortfall(self, bytes_total: int) -> str:
        """Why ``bytes_total`` does not fit on the library disk with the reserve left free; empty when it does."""
        free = shutil.disk_usage(_existing_parent(self._music_dir)).free
        if bytes_total + self._reserve <= free:
            return ""
        return (
            f"not enough space in the library: {bytes_total // 2**20} MB to copy, "
            f"{max(free - self._reserve, 0) // 2**20} MB free"
        )

    def _drop_duplicates(
        self, files: list[FoundFile], job: ScanJob, alive: Callable[[], bool], *, repeats_first: bool,
        library_sizes: set[int] | None = None,
    ) -> list[Candidate] | None:
        """The files to copy, in path order, without what the library already holds (same content hash).

        Only files of the same size can be the same, so only a file of the size of a library file is hashed
        before the copy (a library file scanned in place, never hashed, is hashed then too, and its hash
        kept): a stick imported again is read, never written. Every other file is hashed while it copies,
        so a stick is read once; a repeat of a file before it on the same stick is found then and its copy
        removed (see ``_named_copy``). With ``repeats_first``, files that share their size on the stick are
        hashed first too and their repeats dropped here. Of repeats, the first in path order is kept.
        ``library_sizes``, when known already (the walk's copies needed them), narrows the library query to the
        sizes both hold. None when the stick went away or the job was stopped.
        """
        tally = job.tally
        sizes = Counter(f.file_size for f in files)
        library = self._store.files_of_sizes(sizes if library_sizes is None else library_sizes.intersection(sizes))
        twin_sizes = {twin.file_size for twin in library}
        suspects = [f for f in files if f.file_size in twin_sizes or (repeats_first and sizes[f.file_size] > 1)]
        self.last_timings.shared_size = sum(1 for f in files if sizes[f.file_size] > 1 or f.file_size in twin_sizes)
        self.last_timings.hashed_first = len(suspects)
        stick_hashes = self._hash_stick_files(suspects, job, alive)
        if stick_hashes is None:
            return None
        known = self._library_hashes(library, job.cancelled)
        seen: set[str] = set()
        candidates = []
        for found in files:
            content_hash = stick_hashes.get(found.path, "")
            if content_hash is None:
                continue  # unreadable: already counted as an error
            if content_hash:
                if content_hash in known or content_hash in seen:
                    tally.skip(found.path)  # a duplicate: counted, not a problem worth a reason line
                    continue
                seen.add(content_hash)
            candidates.append(Candidate(found, content_hash))
        return candidates

    def _hash_stick_files(
        self, files: list[FoundFile], job: ScanJob, alive: Callable[[], bool]
    ) -> dict[str, str | None] | None:
        """Content hashes of these stick files (None for a file that cannot be read, counted as an error),
        on the copy threads; None when the stick went away or the job was stopped.

        Each task hashes a run of files with its thread's buffer: a task and a fresh buffer per small file
        cost more than hashing it.
        """
        hashes: dict[str, str | None] = {}
        buffers = threading.local()

        def hash_run(run: list[FoundFile]) -> list[str | SourceGone]:
            buffer = _thread_buffer(buffers)
            out: list[str | SourceGone] = []
            for found in run:
                try:
                    out.append(hash_file(found.path, job.cancelled, buffer))
                except SourceGone as exc:
                    out.append(exc)
            return out

        with ThreadPoolExecutor(self._hash_threads, thread_name_prefix="import-hash") as executor:
            runs = [(run, executor.submit(hash_run, run)) for run in _runs(files, HASH_RUN_FILES, HASH_RUN_BYTES)]
            try:
                for run, hashing in runs:
                    for found, outcome in zip(run, hashing.result(), strict=True):
                        if isinstance(outcome, SourceGone):
                            if job.cancelled() or not alive():
                                return None
                            job.tally.error(found.path, str(outcome))
                            hashes[found.path] = None
                        else:
                            hashes[found.path] = outcome
                    job.tally.current_path = run[-1].path
                    job.report()
            finally:
                for _, hashing in runs:
                    hashing.cancel()
        return hashes

    def _library_hashes(self, library: list[FileHash], cancelled: Callable[[], bool]) -> set[str]:
        """The hashes of these library files, hashing (and recording) those scanned in place and never hashed.

        A library file that cannot be read now is left out: nothing on the stick is skipped for its sake.
        """
        made: list[tuple[int, str]] = []
        for twin in library:
            if not twin.content_hash:
                with contextlib.suppress(SourceGone):
                    made.append((twin.track_id, hash_file(twin.path, cancelled)))
        self._store.set_content_hashes(made)
        return {twin.content_hash for twin in library if twin.content_hash} | {h for _, h in made}

    def _copy_all(
        self, candidates: list[Candidate], copies: CopyJob, job: ScanJob, progress: _ImportProgress,
        alive: Callable[[], bool],
    ) -> tuple[str, str]:
        """Takes the copies the workers make in path order and settles them batch by batch; returns how the
        job ended and why (empty when it completed)."""
        if not candidates:
            return "completed", ""
        tally = job.tally
        tally.status = "importing"
        stick = tally.root.rstrip(os.sep) or os.sep  # where a reason that is no one file's points
        progress.copying(candidates[0].path)  # before the first result: a change of state goes out at once
        results = copies.results(job.cancelled)
        in_order = _InPathOrder(results)
        kept = _Kept()
        batch: list[TempCopy] = []
        batch_bytes = 0
        outcome, message = "completed", ""
        settler = _BatchSettler(lambda settled: self._settle(settled, tally))
        try:
            for candidate in candidates:
                progress.copying(candidate.path)
                if job.cancelled():
                    outcome, message = "aborted", _why_stopped(alive)
                    break
                try:
                    copy = self._named_copy(candidate, in_order.result_for(candidate.path), job, progress, alive, kept)
                except _Stop as stop:
                    outcome, message = stop.outcome, stop.message
                    break
                if copy is None:
                    continue
                progress.copied(candidate.found.file_size)
                batch.append(copy)
                batch_bytes += candidate.found.file_size
                if settler.idle() or len(batch) >= self._batch_size or batch_bytes >= self._batch_bytes:
                    try:
                        settler.settle(batch)
                    except DiskFull as exc:  # from the batch before, which was still settling
                        outcome, message = "failed", str(exc)
                        tally.error(stick, message)
                        break
                    batch, batch_bytes = [], 0
            copies.close()  # on a stop, the workers are killed: nothing writes a temp copy after this
            try:
                settler.settle(batch)  # whole copies made before a stop count too
                batch = []
                settler.wait()
            except DiskFull as exc:
                if outcome != "failed":
                    outcome, message = "failed", str(exc)
                    tally.error(stick, message)
        finally:
            results.close()  # the copy job itself is closed by ``import_from``, before its temp files go
            settler.close()
        return outcome, message

    def _named_copy(
        self, candidate: Candidate, result: TagResult | None, job: ScanJob, progress: _ImportProgress,
        alive: Callable[[], bool], kept: _Kept,
    ) -> TempCopy | None:
        """One file's whole copy with its tags, given its destination; None when the file failed (counted as an
        error) or repeats a file kept before it (counted as skipped): its temp copy is gone then. Raises
        ``_Stop`` when the job must end (``result`` None: the reading was stopped).

        Files are taken in path order, so the first of repeats is the one kept, and names do not depend on
        the order the workers finish in.
        """
        path, size, tally = candidate.path, candidate.found.file_size, job.tally
        if result is None:
            raise _Stop("aborted", _why_stopped(alive))
        tally.scanned += 1
        temp = staged_temp_path(self._music_str, f"{TEMP_PREFIX}{tally.job_id}", path)
        info = result.info
        if info is None:
            _remove(temp)  # the worker removes it; one killed in the middle cannot
            reason = result.error or "no tags"
            if reason == DISK_FULL:
                tally.error(path, reason)
                raise _Stop("failed", reason)
            if job.cancelled() or not alive():
                raise _Stop("aborted", _why_stopped(alive))
            tally.error(path, reason)
            progress.drop(size)
            return None
        if candidate.content_hash and info.content_hash != candidate.content_hash:
            _remove(temp)  # hashed before the copy, and different now
            tally.error(path, CHANGED_SINCE_SCAN)
            progress.drop(size)
            return None
        if info.content_hash in kept.hashes:  # the same bytes as a file before it on this stick
            _remove(temp)
            tally.skip(path)
            progress.drop(size)
            return None
        kept.hashes.add(info.content_hash)
        destination = plan_destination(info, self._music_dir, kept.names, kept.existing)
        return TempCopy(PlannedCopy(info, destination), temp)

    def _library_info(self, copy: TempCopy, root: str) -> TrackInfo:
        source = copy.planned.info.path
        source = source[len(root) :] if source.startswith(root) else os.path.relpath(source, root)
        source = source.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        return replace(copy.planned.info, path=copy.planned.destination, source_path=clean_text(source, 1024))

    def _settle(self, pending: list[TempCopy], tally: ScanTally) -> None:
        """Makes a batch of whole temp copies durable, renames them into place, then commits their rows.

        The batch's folders are made first, so a full disk stops the batch before any rename. Two syncfs
        calls per batch (data and folders, then the renames) instead of fsyncs per file; a power cut before
        the second leaves at most temp files, which the next import sweeps away.
        """
        if not pending:
            return
        try:
            for folder in {os.path.dirname(copy.planned.destination) for copy in pending}:
                _make_folder(folder)
            sync_filesystem(self._music_dir)
        except DiskFull:
            for copy in pending:
                _remove(copy.temp)
            raise
        infos = []
        for copy in pending:
            os.rename(copy.temp, copy.planned.destination)  # a rename keeps the size and mtime of the copy
            infos.append(self._library_info(copy, tally.root))
        sync_filesystem(self._music_dir)
        self._store.add_tracks(infos)
        tally.added += len(infos)


@dataclass(slots=True)
class ImportTimings:
    """Seconds spent in each stage of one import. Tag reading overlaps the duplicate check and the copy,
    so the stages add up to more than the job."""

    inventory_s: float = 0.0
    duplicates_s: float = 0.0  # hashing ``hashed_first`` files before the copy to drop what the library holds
    shared_size: int = 0  # files that share their size with another on the stick or in the library
    hashed_first: int = 0
    copy_s: float = 0.0  # copies and tags in the workers, from the first to the last batch settled
    job_s: float = 0.0

    @contextlib.contextmanager
    def measure(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            setattr(self, stage, time.perf_counter() - started)

    def __str__(self) -> str:
        return (
            f"{self.job_s:.2f} s: inventory {self.inventory_s:.2f} s, duplicate check {self.duplicates_s:.2f} s "
            f"({self.hashed_first} of {self.shared_size} files of a shared size hashed first), copy and tags "
            f"{self.copy_s:.2f} s"
        )


@dataclass(slots=True)
class _Kept:
    """What the job has kept so far, in path order: destination names taken and the content copied."""

    names: set[str] = field(default_factory=set)
    hashes: set[str] = field(default_factory=set)
    existing: _ExistingNames = field(default_factory=_ExistingNames)


class _Stop(Exception):
    """The job ends here: ``outcome`` is "aborted" or "failed", ``message`` says why."""

    def __init__(self, outcome: str, message: str) -> None:
        super().__init__(message)
        self.outcome, self.message = outcome, message


class _ImportProgress:
    """The import's counts and its ``import:state`` events, beside the scan's progress events."""

    def __init__(self, job: ScanJob, events: _StateEvents) -> None:
        self._job, self._events = job, events
        self.files_total = self.bytes_total = self.files_done = self.bytes_done = 0

    def _state(self, state: str, current: str | None = None, message: str = "") -> ImportState:
        tally = self._job.tally
        return ImportState(
            job_id=tally.job_id, state=state,  # type: ignore[arg-type]
            files_done=self.files_done, files_total=self.files_total,
            bytes_done=self.bytes_done, bytes_total=self.bytes_total,
            current_path=tally.relative(current) if current else None, message=message,
        )

    def plan(self, candidates: list[Candidate]) -> None:
        """The totals are known (a file that repeats another or whose tags fail comes off them later)."""
        self.files_total = len(candidates)
        self.bytes_total = sum(c.found.file_size for c in candidates)
        self._events.offer(self._state("started"))

    def copying(self, path: str) -> None:
        if self._events.due("copying"):  # building the events costs more than copying a small file
            self._job.tally.current_path = path
            self._job.report()
            self._events.offer(self._state("copying", path))

    def copied(self, size: int) -> None:
        self.files_done += 1
        self.bytes_done += size

    def drop(self, size: int) -> None:
        """A file that will not be imported after all: its tags could not be read, or it repeats another."""
        self.files_total -= 1
        self.bytes_total -= size

    def stop(self, status: str, message: str) -> LibraryScanComplete:
        self._events.offer(self._state(status, message=message))
        self._events.flush()
        return self._job.finish("completed" if status == "completed" else status)  # type: ignore[arg-type]


class _CopiesDuringWalk:
    """The walk's files handed to the copy job as it finds them, so the copies overlap the walk (on a stick,
    the walk's reads are slow as well). A file of the size of a library file could repeat it: it waits for
    the duplicate check after the walk, so that a stick imported again is only read."""

    def __init__(self, copies: CopyJob, library_sizes: set[int], handover_files: int) -> None:
        self.copies, self.library_sizes, self._handover_files = copies, library_sizes, handover_files
        self.sent: set[str] = set()
        self.bytes_sent = 0
        self._waiting: list[TagRequest] = []

    def found(self, files: list[FoundFile]) -> None:
        for found in files:
            if found.file_size not in self.library_sizes:
                self._waiting.append(found.request())
                self.sent.add(found.path)
        if len(self._waiting) >= self._handover_files:
            self.flush()

    def flush(self) -> None:
        if self._waiting:
            self.copies.add(self._waiting)
            self.bytes_sent += sum(r.file_size for r in self._waiting)
            self._waiting = []


class _InPathOrder:
    """The workers' results (in any order) handed out by path, as the importer asks for them in path order."""

    def __init__(self, results: Iterator[TagResult]) -> None:
        self._results = results
        self._arrived: dict[str, TagResult] = {}

    def result_for(self, path: str) -> TagResult | None:
        """Waits for the result of ``path``; None when the reading ended first (it was stopped)."""
        while path not in self._arrived:
            result = next(self._results, None)
            if result is None:
                return None
            self._arrived[result.path] = result
        return self._arrived.pop(path)


class _StateEvents:
    """Import states for the bus: a change of state goes out at once, progress within a state is throttled.

    A plain throttle would let a quick ``started`` hide the ``copying`` that follows it, so a screen (or
    anyone waiting for the copy to begin) could miss that a copy ever ran.
    """

    def __init__(self, send: Callable[[ImportState], None], interval: float, clock: Callable[[], float]) -> None:
        self._send, self._interval, self._clock = send, interval, clock
        self._state = ""
        self._throttle: Throttle[ImportState] = Throttle(send, interval, clock)

    def due(self, state: str) -> bool:
        """Whether an event in ``state`` would go out now, so that it is worth building."""
        return state != self._state or self._throttle.due()

    def offer(self, event: ImportState) -> None:
        if event.state != self._state:
            self._throttle.flush()  # the last progress of the state before goes out first
            self._throttle = Throttle(self._send, self._interval, self._clock)  # a new one sends at once
            self._state = event.state
        self._throttle.offer(event)

    def flush(self) -> None:
        self._throttle.flush()


def _runs(files: list[FoundFile], max_files: int, max_bytes: int) -> Iterator[list[FoundFile]]:
    """``files`` in order, cut into runs of at most ``max_files`` files and (unless one file is more) ``max_bytes``."""
    run: list[FoundFile] = []
    run_bytes = 0
    for found in files:
        if run and (len(run) >= max_files or run_bytes + found.file_size > max_bytes):
            yield run
            run, run_bytes = [], 0
        run.append(found)
        run_bytes += found.file_size
    if run:
        yield run


def _thread_buffer(local: threading.local) -> bytearray:
    """This thread's copy buffer: a fresh megabyte per small file costs more than the copy."""
    buffer = getattr(local, "buffer", None)
    if buffer is None:
        buffer = local.buffer = bytearray(COPY_CHUNK)
    return buffer


class _BatchSettler:
    """Settles one batch at a time on a helper thread while the next batch copies: the syncs wait on the
    disk, the copies on the CPU. Each batch's rows still follow its own syncs, so no row ever points at a
    file that is not durable, and at most one batch is in flight."""

    def __init__(self, settle: Callable[[list[TempCopy]], None]) -> None:
        self._settle = settle
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-settle")
        self._in_flight: Future[None] | None = None
        self._batch: list[TempCopy] = []

    def settle(self, batch: list[TempCopy]) -> None:
        """Hands ``batch`` over once the one before has settled; raises what settling that one raised."""
        self.wait()
        if batch:
            self._batch = batch
            self._in_flight = self._executor.submit(self._settle, batch)

    def idle(self) -> bool:
        """Whether the batch before has settled: a batch handed over now starts at once (a group commit, so
        batches grow to what the disk's syncs take, up to the importer's limits)."""
        return self._in_flight is None or self._in_flight.done()

    def wait(self) -> None:
        future, self._in_flight = self._in_flight, None
        if future is not None:
            future.result()

    def close(self) -> None:
        """Lets a batch in flight end (even after an error elsewhere), then removes its leftover temp files."""
        with contextlib.suppress(Exception):
            self.wait()
        self._executor.shutdown(wait=True)
        for copy in self._batch:
            _remove(copy.temp)  # those renamed into place are no longer there


def sweep_temp_files(music_dir: Path) -> int:
    """Removes temp copies a power cut left behind; returns how many. Temp copies are only ever made in the
    library folder itself, so a library of any size costs one folder listing."""
    return _remove_temp_files(music_dir, TEMP_PREFIX)


def _remove_temp_files(music_dir: Path, temp_prefix: str) -> int:
    """Removes a job's temp copies (they sit in the library folder itself); returns how many."""
    count = 0
    with os.scandir(music_dir) as entries:
        for entry in entries:
            if entry.name.startswith(temp_prefix) and entry.name.endswith(".part"):
                Path(entry.path).unlink(missing_ok=True)
                count += 1
    return count


def _why_stopped(alive: Callable[[], bool]) -> str:
    return "the stick was removed" if not alive() else "import stopped"


def _make_folder(folder: str) -> None:
    """A destination folder (and its parents); made durable by the batch's syncfs."""
    with full_disk_raises_disk_full():
        os.makedirs(folder, exist_ok=True)


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _stat_ok(path: str) -> bool:
    try:
        os.stat(path)
        os.listdir(path)
    except OSError:
        return False
    return True


def _existing_parent(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path
