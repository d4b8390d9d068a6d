"""Copying a stick's music into the library folder, so that no power cut or pulled stick leaves a mess.

Stages after the scan's inventory and tag reading: drop what the library already holds (same content
hash; only files that share their size with another are hashed for this), plan destination paths from
sanitised tags, check free space, then copy file by file into a temp file that is hashed while it is
written, fsynced and renamed into place. Rows are committed
only for files whose rename is durable (their folder fsynced first), so no row ever points at a
missing or half-copied file. Nothing is ever written to the stick: it is only opened for reading.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import shutil
import stat
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from kiosk.core.bus import EventBus
from kiosk.core.events import ImportState, LibraryScanComplete
from kiosk.core.models import FileHash, TrackInfo
from kiosk.core.ports.library import LibraryStore
from kiosk.core.ports.usb import TagReader
from kiosk.core.ratelimit import Throttle
from kiosk.library.scanner import ScanJob, ScanTally, inventory_with_progress
from kiosk.library.tags import clean_text, content_digest, content_hash_of

log = logging.getLogger(__name__)

COPY_CHUNK = 1024 * 1024
#: Room left free on the library disk after an import (the database and logs need some too).
DEFAULT_RESERVE_BYTES = 64 * 1024 * 1024
MAX_COMPONENT_BYTES = 120
TEMP_PREFIX = ".import-"
_FORBIDDEN = str.maketrans({c: "_" for c in '/\\:*?"<>|'})
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


class SourceGone(Exception):
    """The stick went away (pulled, or its mount died) in the middle of a copy."""


class DiskFull(Exception):
    """The library disk has no room for the next file."""


def safe_component(text: str, fallback: str, max_bytes: int = MAX_COMPONENT_BYTES) -> str:
    """One path component from a tag: no separators, no leading dots, no control characters, capped."""
    name = clean_text(text).translate(_FORBIDDEN).lstrip(". ").rstrip(". ")
    encoded = name.encode("utf-8")
    if len(encoded) > max_bytes:
        name = encoded[:max_bytes].decode("utf-8", "ignore").rstrip(". ")
    return name or fallback


def plan_destination(info: TrackInfo, music_dir: Path, taken: set[str]) -> Path:
    """``Artist/Album/NN Title.ext`` under ``music_dir``; a name already used gets " (2)", " (3)"..."""
    artist = safe_component(info.album_artist or info.artist, "Unknown artist")
    album = safe_component(info.album, "Unknown album")
    prefix = ""
    if info.track_number:
        prefix = f"{info.track_number:02d} "
        if info.disc_number and (info.disc_total or 1) > 1:
            prefix = f"{info.disc_number}-{prefix}"
    suffix = os.path.splitext(info.path)[1].lower()
    stem = safe_component(prefix + info.title, "Untitled")
    folder = music_dir / artist / album
    for n in range(1, 10000):
        name = f"{stem}{suffix}" if n == 1 else f"{stem} ({n}){suffix}"
        candidate = folder / name
        key = str(candidate).casefold()
        if key not in taken and not os.path.lexists(candidate):
            taken.add(key)
            return candidate
    raise OSError(errno.EEXIST, "no free file name", str(folder / stem))


@dataclass(slots=True)
class PlannedCopy:
    info: TrackInfo
    destination: Path


@dataclass(slots=True)
class TempCopy:
    """A whole, verified copy in its temp file, waiting to be made durable and renamed into place."""

    planned: PlannedCopy
    temp: Path
    stat: os.stat_result
    content_hash: str


def hash_file(path: str, cancelled: Callable[[], bool], buffer: bytearray | None = None) -> str:
    """The content hash of a regular file, read in chunks; raises ``SourceGone`` on a read error or a cancel."""
    try:
        fd = os.open(path, _READ_FLAGS)
    except OSError as exc:
        raise SourceGone(f"cannot open: {exc.strerror or exc}") from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise SourceGone("not a regular file")
        digest = content_digest()
        buffer = buffer if buffer is not None else bytearray(COPY_CHUNK)
        view = memoryview(buffer)
        while n := _read_into(fd, buffer, cancelled):
            digest.update(view[:n])
        return content_hash_of(digest)
    finally:
        with contextlib.suppress(OSError):  # closing a file on a dead FUSE mount fails too
            os.close(fd)


def _read_into(fd: int, buffer: bytearray, cancelled: Callable[[], bool]) -> int:
    if cancelled():
        raise SourceGone("import cancelled")
    try:
        return os.readv(fd, [buffer])
    except OSError as exc:
        raise SourceGone(f"read failed: {exc.strerror or exc}") from exc


def copy_to_temp(
    source: str,
    folder: Path,
    expected_hash: str,
    cancelled: Callable[[], bool],
    *,
    expected_size: int | None = None,
    buffer: bytearray | None = None,
    temp_name: str | None = None,
) -> tuple[Path, os.stat_result, str]:
    """Copies ``source`` into a new temp file in ``folder``, hashing as it goes; returns it, its stat and hash.

    Raises ``SourceGone`` on a read error or a cancel, ``DiskFull`` on ENOSPC/EDQUOT, ``ValueError`` when
    the content differs from what was scanned (``expected_hash`` when not empty, ``expected_size`` when
    given). The temp file never outlives a failure. Not yet durable: see ``copy_verified`` for one file,
    ``StickImporter`` for a batch made durable with one sync. ``buffer`` (reused across files by the
    importer) sets the chunk size; ``temp_name`` must be unused.
    """
    tmp = folder / (temp_name or f"{TEMP_PREFIX}{uuid.uuid4().hex}.part")
    try:
        src_fd = os.open(source, _READ_FLAGS)
    except OSError as exc:
        raise SourceGone(f"cannot open: {exc.strerror or exc}") from exc
    done = False
    try:
        if not stat.S_ISREG(os.fstat(src_fd).st_mode):
            raise ValueError("not a regular file")
        dst_fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        try:
            digest = content_digest()
            if buffer is None:
                buffer = bytearray(COPY_CHUNK)
            view = memoryview(buffer)
            while n := _read_into(src_fd, buffer, cancelled):
                digest.update(view[:n])
                _write_all(dst_fd, view[:n])
            copied = os.fstat(dst_fd)  # size and mtime are final: nothing writes to it again
        finally:
            os.close(dst_fd)
        content_hash = content_hash_of(digest)
        if (expected_hash and content_hash != expected_hash) or expected_size not in (None, copied.st_size):
            raise ValueError("the file changed between scan and copy")
        done = True
        return tmp, copied, content_hash
    finally:
        if not done:
            tmp.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # closing a file on a dead FUSE mount fails too
            os.close(src_fd)


def copy_verified(
    source: str, destination: Path, expected_hash: str, cancelled: Callable[[], bool]
) -> os.stat_result:
    """One file, durably: copy to a temp file, check the hash, fsync, rename, fsync the folder."""
    tmp, copied, _ = copy_to_temp(source, destination.parent, expected_hash, cancelled)
    try:
        fd = os.open(tmp, os.O_RDONLY | os.O_CLOEXEC)
        try:
            _fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, destination)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(destination.parent)
    return copied


_libc = ctypes.CDLL(None, use_errno=True)


def sync_filesystem(path: Path) -> None:
    """syncfs(2) on the file system holding ``path``: a batch of files durable with one journal commit."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        syncfs = getattr(_libc, "syncfs", None)
        if syncfs is None:
            os.sync()
        elif syncfs(fd) != 0:
            code = ctypes.get_errno()
            if code in (errno.ENOSPC, errno.EDQUOT):
                raise DiskFull("the library disk is full")
            raise OSError(code, os.strerror(code), str(path))
    finally:
        os.close(fd)


def _write_all(fd: int, data: memoryview) -> None:
    while data:
        try:
            written = os.write(fd, data)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DiskFull("the library disk is full") from exc
            raise
        data = data[written:]


def _fsync(fd: int) -> None:
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFull("the library disk is full") from exc
        raise


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class StickImporter:
    """Imports the music on a mounted stick into ``music_dir``, one job at a time.

    The caller's thread runs the job and owns its events; ``copy_threads`` threads copy and hash, and one
    more makes each batch durable and commits its rows while the next batch copies.
    """

    def __init__(
        self,
        store: LibraryStore,
        bus: EventBus,
        reader: TagReader,
        music_dir: Path,
        *,
        batch_size: int = 100,
        batch_bytes: int = 256 * 1024 * 1024,
        reserve_bytes: int = DEFAULT_RESERVE_BYTES,
        progress_interval: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
        copy_threads: int = 2,
    ) -> None:
        self._store, self._bus, self._reader = store, bus, reader
        self._copy_threads = max(1, copy_threads)
        self._music_dir = Path(music_dir)
        self._batch_size, self._batch_bytes, self._reserve = batch_size, batch_bytes, reserve_bytes
        self._progress_interval, self._clock = progress_interval, clock

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
        tally = job.tally
        import_events = _StateEvents(self._bus.publish, self._progress_interval, self._clock)
        files_total = bytes_total = files_done = bytes_done = 0

        def import_state(state: str, current: str | None = None, message: str = "") -> ImportState:
            return ImportState(
                job_id=tally.job_id, state=state,  # type: ignore[arg-type]
                files_done=files_done, files_total=files_total, bytes_done=bytes_done, bytes_total=bytes_total,
                current_path=tally.relative(current) if current else None, message=message,
            )

        def stop(status: str, message: str) -> LibraryScanComplete:
            import_events.offer(import_state(status, message=message))
            import_events.flush()
            return job.finish("completed" if status == "completed" else status)  # type: ignore[arg-type]

        try:
            inventory = inventory_with_progress(job, root_str, allow_undecodable_names=True)
            if job.cancelled() or not alive():
                return stop("aborted", "the stick was removed")
            tally.total = len(inventory.files)
            tally.status = "reading"
            job.report()
            infos: list[TrackInfo] = []
            for result in self._reader.read([f.request() for f in inventory.files], job.cancelled):
                tally.scanned += 1
                tally.current_path = result.path
                if result.info is not None:
                    infos.append(result.info)
                elif result.error is not None:
                    tally.error(result.path, result.error)
                job.report()
            if job.cancelled() or not alive():
                return stop("aborted", "the stick was removed")
            plan = self._plan(infos, job, alive)
            if plan is None:
                return stop("aborted", "the stick was removed" if not alive() else "import stopped")
            files_total, bytes_total = len(plan), sum(p.info.file_size for p in plan)
            import_events.offer(import_state("started"))
            free = shutil.disk_usage(_existing_parent(self._music_dir)).free
            if bytes_total + self._reserve > free:
                message = (
                    f"not enough space in the library: {bytes_total // 2**20} MB to copy, "
                    f"{max(free - self._reserve, 0) // 2**20} MB free"
                )
                tally.error(root_str, message)
                return stop("failed", message)
            tally.status = "importing"
            if self._music_dir.is_dir():
                sweep_temp_files(self._music_dir)
            pending: list[TempCopy] = []
            pending_bytes = 0
            outcome, message = "completed", ""
            settler = _BatchSettler(lambda batch: self._settle(batch, root_str, tally))
            copier = _ParallelCopier(self._copy_threads, job.cancelled, f"{TEMP_PREFIX}{tally.job_id}")
            try:
                for planned, copying in copier.copies(plan):
                    if import_events.due("copying"):  # building the event costs more than copying a small file
                        tally.current_path = planned.info.path
                        job.report()
                        import_events.offer(import_state("copying", planned.info.path))
                    if job.cancelled():
                        copier.discard(copying)
                        outcome = "aborted"
                        message = "the stick was removed" if not alive() else "import stopped"
                        break
                    try:
                        copy = copying.result()
                    except SourceGone as exc:
                        if job.cancelled() or not alive():
                            outcome = "aborted"
                            message = "the stick was removed" if not alive() else "import stopped"
                            break
                        tally.error(planned.info.path, str(exc))
                        continue
                    except DiskFull as exc:
                        outcome, message = "failed", str(exc)
                        tally.error(planned.info.path, message)
                        break
                    except ValueError as exc:
                        tally.error(planned.info.path, str(exc))
                        continue
                    except OSError as exc:
                        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                            outcome, message = "failed", "the library disk is full"
                            tally.error(planned.info.path, message)
                            break
                        tally.error(planned.info.path, f"copy failed: {exc.strerror or exc}")
                        continue
                    files_done += 1
                    bytes_done += planned.info.file_size
                    pending.append(copy)
                    pending_bytes += planned.info.file_size
                    if len(pending) >= self._batch_size or pending_bytes >= self._batch_bytes:
                        try:
                            settler.settle(pending)
                        except DiskFull as exc:  # from the batch before, which was still settling
                            outcome, message = "failed", str(exc)
                            tally.error(root_str, message)
                            break
                        pending, pending_bytes = [], 0
                try:
                    settler.settle(pending)  # whole copies made before a stop count too
                    pending = []
                    settler.wait()
                except DiskFull as exc:
                    if outcome != "failed":
                        outcome, message = "failed", str(exc)
                        tally.error(root_str, message)
            finally:
                copier.close()  # what was still in flight is stopped and its temp copies removed
                settler.close()
                for copy in pending:
                    copy.temp.unlink(missing_ok=True)
            return stop(outcome, message)
        except Exception as exc:
            log.exception("import from %s failed", root_str)
            tally.error(root_str, f"import failed: {exc}")
            return stop("failed", f"import failed: {exc}")

    def _plan(self, infos: list[TrackInfo], job: ScanJob, alive: Callable[[], bool]) -> list[PlannedCopy] | None:
        """Drops what the library already holds and the stick's own repeats, then names each destination.

        Only files of the same size can be the same, so only a file that shares its size with another on
        the stick or in the library is hashed before the copy (a library file scanned in place, never
        hashed, is hashed then too, and its hash kept). Every other file is hashed while it copies, so a
        stick with no repeats is read once. None when the stick went away or the job was stopped.
        """
        tally = job.tally
        sizes = Counter(info.file_size for info in infos)
        library = self._store.files_of_sizes(sizes)
        library_sizes = {twin.file_size for twin in library}
        suspects = [info.path for info in infos if sizes[info.file_size] > 1 or info.file_size in library_sizes]
        stick_hashes = self._hash_stick_files(suspects, job, alive)
        if stick_hashes is None:
            return None
        known = self._library_hashes(library, job.cancelled)
        seen: set[str] = set()
        taken: set[str] = set()
        plan = []
        for info in sorted(infos, key=lambda i: i.path):
            content_hash = stick_hashes.get(info.path, "")
            if content_hash is None:
                continue  # unreadable: already counted as an error
            if content_hash:
                if content_hash in known or content_hash in seen:
                    tally.skip(info.path)  # a duplicate: counted, not a problem worth a reason line
                    continue
                seen.add(content_hash)
                info = replace(info, content_hash=content_hash)
            plan.append(PlannedCopy(info, plan_destination(info, self._music_dir, taken)))
        return plan

    def _hash_stick_files(
        self, paths: list[str], job: ScanJob, alive: Callable[[], bool]
    ) -> dict[str, str | None] | None:
        """Content hashes of these stick files (None for a file that cannot be read, counted as an error),
        on the copy threads; None when the stick went away or the job was stopped."""
        hashes: dict[str, str | None] = {}
        with ThreadPoolExecutor(self._copy_threads, thread_name_prefix="import-hash") as executor:
            futures = [(path, executor.submit(hash_file, path, job.cancelled)) for path in paths]
            try:
                for path, future in futures:
                    try:
                        hashes[path] = future.result()
                    except SourceGone as exc:
                        if job.cancelled() or not alive():
                            return None
                        job.tally.error(path, str(exc))
                        hashes[path] = None
                    job.tally.current_path = path
                    job.report()
            finally:
                for _, future in futures:
                    future.cancel()
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

    @staticmethod
    def _library_info(copy: TempCopy, root: str) -> TrackInfo:
        source = copy.planned.info.path
        source = source[len(root) + 1 :] if source.startswith(root + os.sep) else os.path.relpath(source, root)
        source = source.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        return replace(
            copy.planned.info, path=str(copy.planned.destination), file_size=copy.stat.st_size,
            mtime_ns=copy.stat.st_mtime_ns, content_hash=copy.content_hash, source_path=clean_text(source, 1024),
        )

    def _settle(self, pending: list[TempCopy], root: str, tally: ScanTally) -> None:
        """Makes a batch of whole temp copies durable, renames them into place, then commits their rows.

        Two syncfs calls per batch (data, then the renames) instead of two fsyncs per file; a power cut
        before the second leaves at most temp files, which the next import sweeps away.
        """
        if not pending:
            return
        try:
            sync_filesystem(self._music_dir)
        except DiskFull:
            for copy in pending:
                copy.temp.unlink(missing_ok=True)
            raise
        infos = []
        for copy in pending:
            os.rename(copy.temp, copy.planned.destination)  # a rename keeps the size and mtime of the copy
            infos.append(self._library_info(copy, root))
        sync_filesystem(self._music_dir)
        self._store.add_tracks(infos)
        tally.added += len(infos)


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


class _ParallelCopier:
    """Copies on a few threads (hashing and the system calls let go of the GIL, and a disk or stick answers
    several requests at once), handing each result back in plan order. At most one file per thread is in
    flight, so a stop has little to undo: ``close`` stops those and removes their temp copies."""

    def __init__(self, threads: int, cancelled: Callable[[], bool], temp_prefix: str) -> None:
        self._threads, self._cancelled, self._temp_prefix = threads, cancelled, temp_prefix
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="import-copy")
        self._stopping = threading.Event()
        self._local = threading.local()
        self._made_dirs: set[Path] = set()
        self._in_flight: deque[tuple[PlannedCopy, Future[TempCopy]]] = deque()
        self._discarded: list[Future[TempCopy]] = []

    def copies(self, plan: Iterable[PlannedCopy]) -> Iterator[tuple[PlannedCopy, Future[TempCopy]]]:
        """Each planned copy with its copy under way (``result()`` waits for it), in plan order."""
        for n, planned in enumerate(plan):
            self._in_flight.append((planned, self._executor.submit(self._copy, planned, n)))
            if len(self._in_flight) >= self._threads:
                yield self._in_flight.popleft()
        while self._in_flight:
            yield self._in_flight.popleft()

    def discard(self, copying: Future[TempCopy]) -> None:
        """A copy handed out but not wanted: ``close`` removes its temp file."""
        self._discarded.append(copying)

    def close(self) -> None:
        self._stopping.set()
        for copying in self._discarded + [f for _, f in self._in_flight]:
            with contextlib.suppress(Exception):
                copying.result().temp.unlink(missing_ok=True)
        self._discarded.clear()
        self._in_flight.clear()
        self._executor.shutdown(wait=True)

    def _stopped(self) -> bool:
        return self._stopping.is_set() or self._cancelled()

    def _copy(self, planned: PlannedCopy, n: int) -> TempCopy:
        buffer = getattr(self._local, "buffer", None)
        if buffer is None:  # one per thread: a fresh megabyte per small file costs more than the copy
            buffer = self._local.buffer = bytearray(COPY_CHUNK)
        folder = planned.destination.parent
        if folder not in self._made_dirs:
            folder.mkdir(parents=True, exist_ok=True)  # made durable by the batch's syncfs
            self._made_dirs.add(folder)
        tmp, copied, content_hash = copy_to_temp(
            planned.info.path, folder, planned.info.content_hash, self._stopped, expected_size=planned.info.file_size,
            buffer=buffer, temp_name=f"{self._temp_prefix}-{n}.part",
        )
        return TempCopy(planned, tmp, copied, content_hash)


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
            copy.temp.unlink(missing_ok=True)  # those renamed into place are no longer there


def sweep_temp_files(music_dir: Path) -> int:
    """Removes temp copies a power cut left behind; returns how many."""
    count = 0
    for path in music_dir.rglob(f"{TEMP_PREFIX}*.part"):
        path.unlink(missing_ok=True)
        count += 1
    return count


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
