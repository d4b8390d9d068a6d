"""What the USB stick service needs from the outside world: a stick rule, a mounter and a tag reader.

The core names these shapes only; pyudev, mount helpers and mutagen worker pools live in adapters.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from kiosk.core.models import TrackInfo


@dataclass(frozen=True, slots=True)
class StickDevice:
    """A partition that may be a music stick, as udev described it when it appeared."""

    name: str  # kernel name such as "sda1": the only thing a mount path is built from
    devnode: str  # "/dev/sda1"
    fs_type: str = ""  # ID_FS_TYPE: "vfat", "exfat", ...
    label: str = ""  # ID_FS_LABEL, for display only
    uuid: str = ""


class StickRule(Protocol):
    """Decides from a partition's udev properties whether it is a stick to import from."""

    def __call__(self, properties: Mapping[str, str], /) -> bool: ...


class Mounter(Protocol):
    """Mounts a stick read-only (nosuid, nodev, noexec, nosymfollow) and unmounts it again."""

    def mount(self, device: StickDevice) -> Path:
        """Returns the mount path (made from ``device.name``); raises ``DeviceError`` when it cannot."""

    def unmount(self, device: StickDevice, mount_path: Path, *, lazy: bool = False) -> None:
        """``lazy`` detaches a mount whose device is already gone; raises ``DeviceError`` on failure."""


@dataclass(frozen=True, slots=True)
class TagRequest:
    """One file for the tag reader; size and mtime come from the inventory's stat."""

    path: str
    file_size: int
    mtime_ns: int
    folder_cover: str | None = None


@dataclass(frozen=True, slots=True)
class TagResult:
    """A file read: either ``info`` or ``error`` (a short reason) is set."""

    path: str
    info: TrackInfo | None = None
    error: str | None = None


class TagReader(Protocol):
    """Reads tags of untrusted files, each with a time limit; results arrive in any order."""

    def read(
        self, requests: Sequence[TagRequest], cancelled: Callable[[], bool] = lambda: False
    ) -> Iterator[TagResult]:
        """Yields one result per request until done or ``cancelled()`` turns true."""

    def close(self) -> None: ...


class CopyJob(Protocol):
    """Copies handed to a copying reader as they are found (the walk need not end first)."""

    def add(self, requests: Sequence[TagRequest]) -> None:
        """Hands these files to the workers now; their results come from ``results``."""

    def results(self, cancelled: Callable[[], bool] = lambda: False) -> Generator[TagResult, None, None]:
        """One result per file added, in any order, until all are in or ``cancelled()`` turns true; each
        info carries the copy's content hash, size and mtime."""

    def close(self) -> None:
        """Stops what is still under way: once it returns nothing writes in the staging folder any more."""


class CopyingTagReader(TagReader, Protocol):
    """A tag reader that can also copy each file as it reads it (the import's work, done where the tags are)."""

    def start_copying(self, staging: str, temp_prefix: str) -> CopyJob:
        """A copy job: each file added is copied into a temp file in ``staging`` (named from ``temp_prefix``
        and the file's path) and its tags are read from the same read."""
