"""Durable file copies for the import: hashed while they are written, temp file first, synced in batches.

Nothing here knows about sticks, tags or the library: a source file, a folder, a temp file, a hash.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

COPY_CHUNK = 1024 * 1024
TEMP_PREFIX = ".import-"
CHANGED_SINCE_SCAN = "the file changed between scan and copy"
#: What a copy that ran out of room reports, so the importer can tell a full disk from a bad file.
DISK_FULL = "the library disk is full"
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
            raise DiskFull(DISK_FULL) from exc
        raise


def content_digest(data: bytes = b"") -> Any:
    """The content hash: SHA-256 (hardware-accelerated on x86-64 and ARMv8.2+), 128 bits kept."""
    return hashlib.sha256(data)


def content_hash_of(digest: Any) -> str:
    return str(digest.hexdigest()[:32])


def staged_temp_path(staging: str, temp_prefix: str, source: str) -> str:
    """The temp file a copy of ``source`` goes to: fixed by the source path, so whoever waits for the copy can
    find it (and remove it) without being told, even when the process that made it was killed."""
    key = hashlib.blake2b(os.fsencode(source), digest_size=8).hexdigest()
    return os.path.join(staging, f"{temp_prefix}-{key}.part")


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


def create_new_file(path: str) -> int:
    """A new file at ``path`` open for writing; one that a killed copy left there is replaced."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    with full_disk_raises_disk_full():
        try:
            return os.open(path, flags, 0o644)
        except FileExistsError:
            os.unlink(path)
            return os.open(path, flags, 0o644)


def write_new_file(path: str, data: bytes) -> tuple[os.stat_result, str]:
    """``data`` into a new file at ``path``; returns its stat and content hash. Not yet durable; the file never
    outlives a failure (``DiskFull`` on ENOSPC/EDQUOT)."""
    fd = create_new_file(path)
    done = False
    try:
        _write_all(fd, memoryview(data))
        copied = os.fstat(fd)
        done = True
    finally:
        os.close(fd)
        if not done:
            with contextlib.suppress(OSError):
                os.unlink(path)
    return copied, content_hash_of(content_digest(data))


def copy_open_file(
    src_fd: int, path: str, cancelled: Callable[[], bool], buffer: bytearray
) -> tuple[os.stat_result, str]:
    """The rest of an open file into a new file at ``path``, hashed as it is written; returns its stat and
    content hash. Not yet durable; the new file never outlives a failure (``SourceGone`` on a read error or a
    cancel, ``DiskFull`` on ENOSPC/EDQUOT)."""
    dst_fd = create_new_file(path)
    done = False
    try:
        digest = content_digest()
        view = memoryview(buffer)
        while n := _read_into(src_fd, buffer, cancelled):
            digest.update(view[:n])
            _write_all(dst_fd, view[:n])
        copied = os.fstat(dst_fd)  # size and mtime are final: nothing writes to it again
        done = True
    finally:
        os.close(dst_fd)
        if not done:
            with contextlib.suppress(OSError):
                os.unlink(path)
    return copied, content_hash_of(digest)


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
