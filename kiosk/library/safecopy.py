"""Durable file copies for the import: hashed while they are written, temp file first, synced in batches.

Nothing here knows about sticks, tags or the library: a source file, a folder, a temp file, a hash.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import stat
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from kiosk.library.tags import content_digest, content_hash_of

COPY_CHUNK = 1024 * 1024
TEMP_PREFIX = ".import-"
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


class SourceGone(Exception):
    """The stick went away (pulled, or its mount died) in the middle of a copy."""


class DiskFull(Exception):
    """The library disk has no room for the next file."""


@contextlib.contextmanager
def full_disk_raises_disk_full() -> Iterator[None]:
    """ENOSPC or EDQUOT from a write, a create, a sync or a new folder inside becomes ``DiskFull``."""
    try:
        yield
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFull("the library disk is full") from exc
        raise


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
        with full_disk_raises_disk_full():
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
            with full_disk_raises_disk_full():
                raise OSError(code, os.strerror(code), str(path))
    finally:
        os.close(fd)


def _write_all(fd: int, data: memoryview) -> None:
    with full_disk_raises_disk_full():
        while data:
            data = data[os.write(fd, data) :]


def _fsync(fd: int) -> None:
    with full_disk_raises_disk_full():
        os.fsync(fd)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
