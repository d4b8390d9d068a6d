"""Reading and writing M3U8 playlists (extended M3U in UTF-8), independent of the database.

Readers are lenient (a stranger's stick carries playlists from every player there is: Windows
separators, ``file://`` URLs, a byte-order mark, CRLF); the writer emits plain ``#EXTM3U`` with
``#EXTINF:seconds,Artist - Title`` lines that every player reads.
"""

from __future__ import annotations

import logging
import os.path
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

log = logging.getLogger(__name__)

_EXTINF = re.compile(r"#EXTINF:\s*(-?\d+(?:\.\d+)?)\s*(?:[^,]*)?,(.*)", re.IGNORECASE)
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]+://")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class M3UEntry:
    """One entry as written in the file, with its #EXTINF information when there was one."""

    location: str
    duration_s: float | None = None
    title: str | None = None


@dataclass(frozen=True, slots=True)
class M3UItem:
    """What the writer needs to know about one track."""

    path: str
    duration_ms: int
    artist: str
    title: str


def parse_m3u8(text: str) -> list[M3UEntry]:
    """The entries of an M3U/M3U8 text in order; comments and blank lines are skipped."""
    entries: list[M3UEntry] = []
    duration: float | None = None
    title: str | None = None
    for raw in text.removeprefix("\ufeff").splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            if match := _EXTINF.match(line):
                duration, title = float(match.group(1)), match.group(2).strip() or None
            continue
        entries.append(M3UEntry(line, duration, title))
        duration, title = None, None
    return entries


def resolve_location(location: str, base_dir: str | None) -> str | None:
    """The absolute, normalised local path an entry names, or None (a web URL, or relative with no base)."""
    if _URL.match(location):
        parts = urlsplit(location)
        if parts.scheme.lower() != "file" or parts.netloc not in ("", "localhost"):
            return None
        location = unquote(parts.path)
    elif "\\" in location and "/" not in location:
        location = location.replace("\\", "/")  # written on Windows: Artist\Album\song.mp3
    if not location.startswith("/"):
        if base_dir is None:
            return None
        location = os.path.join(base_dir, location)
    return os.path.normpath(location)


def _one_line(text: str) -> str:
    return _CONTROL.sub(" ", text).strip()


def format_m3u8(name: str, items: Iterable[M3UItem]) -> str:
    """M3U8 text for the items; a path that cannot stand on a line of its own is written as a file URL."""
    lines = ["#EXTM3U", f"#PLAYLIST:{_one_line(name)}"]
    for item in items:
        seconds = round(item.duration_ms / 1000) if item.duration_ms > 0 else -1
        label = _one_line(f"{item.artist} - {item.title}" if item.artist else item.title)
        location = item.path
        if _CONTROL.search(location) or location != location.strip():
            location = "file://" + quote(location)
        lines.append(f"#EXTINF:{seconds},{label}")
        lines.append(location)
    return "\n".join(lines) + "\n"
