"""The library store as the core and the adapters use it (implemented by ``SqlLibraryStore``).

Every write is one transaction and publishes its event on the bus after the commit; every method
is safe to call from any thread. Unknown ids raise ``NotFoundError``, bad requests
``InvalidRequestError``, and in both cases nothing is written and nothing is published.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal, Protocol

from kiosk.core.events import SettingValue
from kiosk.core.models import (
    AlbumSummary,
    ArtistSummary,
    FileHash,
    FileStat,
    Playlist,
    PlaylistDetail,
    QueueSnapshot,
    Track,
    TrackInfo,
)

TrackOrder = Literal["title", "artist", "album", "added"]


class LibraryStore(Protocol):
    # --- tracks -------------------------------------------------------------------------------
    def add_tracks(self, infos: Sequence[TrackInfo]) -> list[int]:
        """Insert in bulk; returns the new ids in order. Publishes ``library:updated`` added."""

    def update_tracks(self, updates: Sequence[tuple[int, TrackInfo]]) -> None:
        """Replace file-derived fields (play counts kept). Publishes ``library:updated`` modified."""

    def delete_tracks(self, track_ids: Iterable[int]) -> None:
        """Remove tracks and their favorites/playlist entries. Publishes ``library:updated`` deleted."""

    def get_track(self, track_id: int) -> Track: ...
    def get_tracks(self, track_ids: Sequence[int]) -> list[Track]:
        """In the order asked; raises ``NotFoundError`` naming any unknown id."""

    def existing_track_ids(self, track_ids: Iterable[int]) -> set[int]: ...
    def count_tracks(self) -> int: ...
    def list_tracks(self, offset: int = 0, limit: int = 100, order: TrackOrder = "title") -> list[Track]: ...
    def search(self, query: str, limit: int = 50, offset: int = 0) -> list[Track]:
        """Full-text search over title, artist, album and album artist; the last word matches as a prefix."""

    def list_artists(self, offset: int = 0, limit: int = 200) -> list[ArtistSummary]: ...
    def list_albums(self, artist: str | None = None, offset: int = 0, limit: int = 200) -> list[AlbumSummary]: ...
    def album_tracks(self, album: str, album_artist: str) -> list[Track]:
        """In disc and track order."""

    def file_stats_under(self, root: str) -> list[FileStat]:
        """Size and mtime of every track whose path lies under ``root`` (for the scanner's inventory)."""

    def file_sizes(self) -> set[int]:
        """The sizes of the library's files: a file of any other size cannot repeat one of them."""

    def files_of_sizes(self, sizes: Iterable[int]) -> list[FileHash]:
        """Every track whose file has one of these sizes, with its hash: only those can be a new file's twin."""

    def set_content_hashes(self, hashes: Iterable[tuple[int, str]]) -> None:
        """Records (track id, content hash) pairs made after the scan. Publishes nothing: no screen shows them."""

    def record_play(self, track_id: int, played_at: float) -> None:
        """Play count + 1 and last played. Publishes ``library:updated`` modified."""

    # --- favorites ----------------------------------------------------------------------------
    def add_favorite(self, track_id: int) -> bool:
        """Returns False (and publishes nothing) when it already was one."""

    def remove_favorite(self, track_id: int) -> bool: ...
    def is_favorite(self, track_id: int) -> bool: ...
    def list_favorites(self) -> list[Track]:
        """Most recently added first."""

    # --- playlists ----------------------------------------------------------------------------
    def create_playlist(self, name: str, track_ids: Sequence[int] = ()) -> Playlist: ...
    def rename_playlist(self, playlist_id: int, name: str) -> Playlist: ...
    def delete_playlist(self, playlist_id: int) -> None: ...
    def add_to_playlist(self, playlist_id: int, track_ids: Sequence[int], position: int | None = None) -> None: ...
    def remove_from_playlist(self, playlist_id: int, positions: Sequence[int]) -> None: ...
    def move_in_playlist(self, playlist_id: int, from_position: int, to_position: int) -> None: ...
    def get_playlist(self, playlist_id: int) -> PlaylistDetail: ...
    def list_playlists(self) -> list[Playlist]: ...
    def export_m3u8(self, playlist_id: int) -> str:
        """The playlist as M3U8 text with #EXTINF lines."""

    def import_m3u8(self, text: str, name: str, base_dir: str | None = None) -> tuple[Playlist, list[str]]:
        """Creates a playlist from M3U8 text; returns it and the entries that matched no track."""

    # --- settings -----------------------------------------------------------------------------
    def get_setting(self, key: str) -> SettingValue: ...
    def all_settings(self) -> dict[str, SettingValue]: ...
    def set_setting(self, key: str, value: SettingValue) -> SettingValue:
        """Validates, stores, publishes ``settings:updated`` with the previous value; returns it."""

    # --- the queue (owned by the core, stored here) ------------------------------------------
    def load_queue(self) -> QueueSnapshot: ...
    def save_queue(self, snapshot: QueueSnapshot) -> None:
        """Replaces the stored queue in one transaction. Publishes nothing: the core announces it."""

    def save_queue_position(self, position_ms: int) -> None:
        """Stores the play position so a restart resumes there (cheap, called every few seconds)."""

    def close(self) -> None: ...
