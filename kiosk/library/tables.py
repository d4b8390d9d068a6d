"""The library's database tables as sqlmodel models; rows never leave ``kiosk.library``.

The schema itself is created and upgraded by ``kiosk.library.migrations`` (explicit SQL, one step per
version); these models describe the current version for queries. A test checks that the two agree.
"""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class TrackRow(SQLModel, table=True):
    """One audio file in the library: every field of ``TrackInfo`` plus the library's own."""

    __tablename__ = "tracks"

    id: int | None = Field(default=None, primary_key=True)
    path: str = Field(unique=True)
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
    content_hash: str = Field(default="", index=True)
    cover_id: str | None = None
    source_path: str | None = None
    added_at: float = 0.0
    play_count: int = 0
    last_played: float | None = None


class FavoriteRow(SQLModel, table=True):
    __tablename__ = "favorites"

    track_id: int = Field(primary_key=True, foreign_key="tracks.id", ondelete="CASCADE")
    added_at: float


class PlaylistRow(SQLModel, table=True):
    __tablename__ = "playlists"

    id: int | None = Field(default=None, primary_key=True)
    name: str
    name_key: str = Field(unique=True)  # the name case-folded: what makes two names "the same"
    created_at: float
    updated_at: float


class PlaylistItemRow(SQLModel, table=True):
    """One place in a playlist; positions order the items and may have gaps after track deletions."""

    __tablename__ = "playlist_items"

    playlist_id: int = Field(primary_key=True, foreign_key="playlists.id", ondelete="CASCADE")
    position: int = Field(primary_key=True)
    track_id: int = Field(foreign_key="tracks.id", ondelete="CASCADE", index=True)


class QueueEntryRow(SQLModel, table=True):
    """One place in the persisted queue (play order), with its place in the unshuffled order."""

    __tablename__ = "queue_entries"

    position: int = Field(primary_key=True)
    entry_id: int = Field(unique=True)
    track_id: int = Field(foreign_key="tracks.id", ondelete="CASCADE", index=True)
    unshuffled_position: int | None = None


class QueueStateRow(SQLModel, table=True):
    """The single row holding the queue's current entry, modes, revision and play position."""

    __tablename__ = "queue_state"

    id: int = Field(default=1, primary_key=True)
    current_index: int | None = None
    current_entry_id: int | None = None
    shuffle: bool = False
    repeat: str = "off"
    revision: int = 0
    position_ms: int = 0


class SettingRow(SQLModel, table=True):
    __tablename__ = "settings"

    key: str = Field(primary_key=True)
    value: str  # JSON text


#: TrackInfo/Track fields stored as columns of ``tracks`` (all of them).
TRACK_COLUMNS: tuple[str, ...] = tuple(name for name in TrackRow.model_fields)
