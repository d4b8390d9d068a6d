"""Frozen models the rest of the jukebox sees; database rows never leave the library adapter."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

RepeatMode = Literal["off", "all", "one"]
REPEAT_MODES: tuple[RepeatMode, ...] = ("off", "all", "one")


@dataclass(frozen=True, slots=True, kw_only=True)
class TrackInfo:
    """What a scan learns from one audio file: where it is, its tags and its audio properties."""

    path: str
    title: str
    artist: str = ""
    album: str = ""
    album_artist: str = ""
    track_number: int | None = None
    track_total: int | None = None
    disc_number: int | None = None
    disc_total: int | None = None
    year: int | None = None
    genre: str = ""
    duration_ms: int = 0
    codec: str = ""
    bitrate: int | None = None
    sample_rate: int | None = None
    channels: int | None = None
    replaygain_track_gain: float | None = None
    replaygain_track_peak: float | None = None
    replaygain_album_gain: float | None = None
    replaygain_album_peak: float | None = None
    file_size: int = 0
    mtime_ns: int = 0
    content_hash: str = ""
    cover_id: str | None = None
    source_path: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Track(TrackInfo):
    """A track in the library."""

    id: int
    added_at: float = 0.0
    play_count: int = 0
    last_played: float | None = None

    @property
    def display_artist(self) -> str:
        return self.artist or self.album_artist or "Unknown artist"


@dataclass(frozen=True, slots=True)
class FileStat:
    """What the library holds about a file, for the scanner's size-and-mtime comparison."""

    track_id: int
    path: str
    file_size: int
    mtime_ns: int


@dataclass(frozen=True, slots=True)
class FileHash:
    """A library file and its content hash ("" until an import needed it), for skipping duplicates."""

    track_id: int
    path: str
    file_size: int
    content_hash: str


@dataclass(frozen=True, slots=True)
class Playlist:
    id: int
    name: str
    track_count: int
    created_at: float = 0.0
    updated_at: float = 0.0


@dataclass(frozen=True, slots=True)
class PlaylistDetail:
    """A playlist with its tracks in order (a track may appear more than once)."""

    playlist: Playlist
    track_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ArtistSummary:
    name: str
    album_count: int
    track_count: int


@dataclass(frozen=True, slots=True)
class AlbumSummary:
    album: str
    album_artist: str
    year: int | None
    track_count: int
    cover_id: str | None
    first_track_id: int


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """One place in the queue; ``entry_id`` tells apart two entries of the same track."""

    entry_id: int
    track_id: int


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    """The whole queue as persisted: play order, the unshuffled order, the current entry, modes."""

    entries: tuple[QueueEntry, ...] = ()
    unshuffled: tuple[int, ...] = ()  # entry ids in the order to restore when shuffle goes off
    current_index: int | None = None
    shuffle: bool = False
    repeat: RepeatMode = "off"
    revision: int = 0
    position_ms: int = 0

    @property
    def track_ids(self) -> tuple[int, ...]:
        return tuple(e.track_id for e in self.entries)

    @property
    def current_track_id(self) -> int | None:
        if self.current_index is None:
            return None
        return self.entries[self.current_index].track_id


@dataclass(frozen=True, slots=True)
class ScanCounts:
    """Totals of a scan, for its completion event."""

    added: int = 0
    updated: int = 0
    removed: int = 0
    skipped: int = 0
    errors: int = 0
    error_reasons: tuple[str, ...] = field(default=())
