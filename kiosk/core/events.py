"""Every event the jukebox publishes, as frozen typed dataclasses.

The first seven events, their wire names, payload field names and action words are the product's
historical vocabulary and must not change. Fields after those are additions that make an event
complete; they always come last so the original payloads keep their shape.

Validation and the JSON schema come from pydantic, so the rules live in the type hints alone.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Annotated, Any, ClassVar, Literal

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError

__all__ = [
    "ALL_EVENTS",
    "AppError",
    "Event",
    "EventError",
    "FavoritesUpdated",
    "ImportState",
    "LibraryScanComplete",
    "LibraryScanProgress",
    "LibraryUpdated",
    "PlayerError",
    "PlayerState",
    "PlaylistsUpdated",
    "QueueStateChanged",
    "QueueUpdated",
    "SettingsUpdated",
    "StickState",
    "event_from_json",
    "event_from_wire",
    "event_type_for",
    "events_schema",
    "kivy_event_name",
]

#: A JSON scalar: what a setting can hold.
SettingValue = bool | int | float | str | None

_STRICT = ConfigDict(strict=True, extra="forbid")


class EventError(ValueError):
    """A payload that is not a valid event: unknown name, missing or mistyped field."""


def _doc(text: str) -> Any:
    return Field(description=text)


@dataclass(frozen=True, slots=True)
class Event:
    """Base of all events; subclasses set ``name`` to their wire name."""

    name: ClassVar[str] = ""
    __pydantic_config__: ClassVar[ConfigDict] = _STRICT

    def payload(self) -> dict[str, Any]:
        """The payload as plain JSON-ready values (tuples become lists)."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}

    def to_wire(self) -> dict[str, Any]:
        return {"event": self.name, "payload": self.payload()}

    def to_json(self) -> str:
        return json.dumps(self.to_wire(), ensure_ascii=False, separators=(",", ":"))


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


# --- The original vocabulary -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LibraryUpdated(Event):
    """Tracks were added, changed or removed; an empty ``track_ids`` means reload everything."""

    name: ClassVar[str] = "library:updated"
    action: Annotated[Literal["added", "modified", "deleted"], _doc("What happened to the tracks.")]
    track_ids: Annotated[tuple[int, ...], _doc("The tracks concerned; empty means reload all.")]


@dataclass(frozen=True, slots=True)
class QueueUpdated(Event):
    """The queue's contents changed."""

    name: ClassVar[str] = "queue:updated"
    action: Annotated[
        Literal["added", "removed", "cleared", "reordered", "shuffled"], _doc("What changed.")
    ]
    positions: Annotated[tuple[int, ...], _doc("Queue positions touched (after the change for adds).")]
    queue_length: Annotated[int, _doc("Number of entries in the queue after the change.")]
    current_index: Annotated[int | None, _doc("Index of the current entry after the change.")] = None
    revision: Annotated[int, _doc("Queue revision; grows with every change.")] = 0


@dataclass(frozen=True, slots=True)
class FavoritesUpdated(Event):
    """A track was added to or removed from the favorites."""

    name: ClassVar[str] = "favorites:updated"
    action: Annotated[Literal["added", "removed"], _doc("Whether the track became a favorite.")]
    track_id: Annotated[int, _doc("The track concerned.")]


@dataclass(frozen=True, slots=True)
class PlaylistsUpdated(Event):
    """A playlist was created, renamed, deleted or had its tracks changed."""

    name: ClassVar[str] = "playlists:updated"
    action: Annotated[
        Literal["created", "renamed", "deleted", "tracks_added", "tracks_removed", "reordered"],
        _doc("What happened to the playlist."),
    ]
    playlist_id: Annotated[int, _doc("The playlist concerned.")]
    track_ids: Annotated[tuple[int, ...], _doc("Tracks added or removed; empty otherwise.")]


@dataclass(frozen=True, slots=True)
class SettingsUpdated(Event):
    """A setting changed value."""

    name: ClassVar[str] = "settings:updated"
    key: Annotated[str, _doc("The setting's key, such as 'volume.max'.")]
    value: Annotated[SettingValue, _doc("The new value.")]
    previous_value: Annotated[SettingValue, _doc("The value before the change.")]


@dataclass(frozen=True, slots=True)
class LibraryScanProgress(Event):
    """How far a scan has come; rate-limited at the source, the final state always sent."""

    name: ClassVar[str] = "library:scan-progress"
    job_id: Annotated[str, _doc("The scan job.")]
    status: Annotated[str, _doc("Phase: 'inventory', 'reading', 'importing', 'finishing'.")]
    scanned: Annotated[int, _doc("Files looked at so far.")]
    found: Annotated[int, _doc("Audio files found so far.")]
    errors: Annotated[int, _doc("Files that failed so far.")]
    current_path: Annotated[str | None, _doc("The file being worked on, relative to the root.")]
    total: Annotated[int | None, _doc("Files to work on, once the inventory is done.")] = None


@dataclass(frozen=True, slots=True)
class LibraryScanComplete(Event):
    """A scan finished, was aborted or failed."""

    name: ClassVar[str] = "library:scan-complete"
    job_id: Annotated[str, _doc("The scan job.")]
    added: Annotated[int, _doc("Tracks added to the library.")]
    skipped: Annotated[int, _doc("Files left alone (unchanged, duplicate, not audio).")]
    errors: Annotated[int, _doc("Files that could not be read.")]
    duration_ms: Annotated[int, _doc("Wall time of the scan.")]
    updated: Annotated[int, _doc("Tracks whose tags were read again.")] = 0
    removed: Annotated[int, _doc("Tracks removed because their file is gone.")] = 0
    status: Annotated[
        Literal["completed", "aborted", "failed"], _doc("How the scan ended.")
    ] = "completed"
    error_reasons: Annotated[
        tuple[str, ...], _doc("The first few errors, as 'path: reason'.")
    ] = ()
    skip_reasons: Annotated[
        tuple[str, ...], _doc("The first few files refused (symlink, FIFO, bad name...), as 'path: reason'.")
    ] = ()


# --- Additions the jukebox needs ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueueStateChanged(Event):
    """The current entry, shuffle or repeat changed."""

    name: ClassVar[str] = "queue:state-changed"
    current_index: Annotated[int | None, _doc("Index of the current entry, or None when empty.")]
    shuffle: Annotated[bool, _doc("Whether the queue is shuffled.")]
    repeat: Annotated[Literal["off", "all", "one"], _doc("Repeat mode.")]
    revision: Annotated[int, _doc("Queue revision after the change.")]


@dataclass(frozen=True, slots=True)
class PlayerState(Event):
    """What the player is doing; sent on every change and a few times a second while playing."""

    name: ClassVar[str] = "player:state"
    state: Annotated[Literal["playing", "paused", "stopped"], _doc("Transport state.")]
    track_id: Annotated[int | None, _doc("The track loaded, if any.")]
    position_ms: Annotated[int, _doc("Position heard so far (output delay taken off).")]
    duration_ms: Annotated[int, _doc("Length of the track, 0 when unknown.")]
    queue_index: Annotated[int | None, _doc("Queue index of the track.")]
    volume: Annotated[int, _doc("Volume 0-100 after the cap.")]
    muted: Annotated[bool, _doc("Whether output is muted.")] = False
    underruns: Annotated[int, _doc("Output underruns recovered since start-up (audio dropouts).")] = 0


@dataclass(frozen=True, slots=True)
class PlayerError(Event):
    """Playback hit a problem: an undecodable or missing file, a lost sound device."""

    name: ClassVar[str] = "player:error"
    code: Annotated[
        Literal["decode", "missing-file", "device-lost", "device-missing", "other"],
        _doc("Kind of problem."),
    ]
    message: Annotated[str, _doc("A sentence for the screen.")]
    track_id: Annotated[int | None, _doc("The track concerned, if any.")] = None


@dataclass(frozen=True, slots=True)
class StickState(Event):
    """A USB stick's life: inserted, mounted, busy, safe to remove, removed, or failed."""

    name: ClassVar[str] = "usb:stick-state"
    device: Annotated[str, _doc("Kernel device name, such as 'sda1'.")]
    state: Annotated[
        Literal["inserted", "mounted", "importing", "unmounting", "safe-to-remove", "removed", "error"],
        _doc("Where the stick is in its life."),
    ]
    label: Annotated[str, _doc("Volume label for display (never used for paths).")] = ""
    mount_path: Annotated[str | None, _doc("Where it is mounted, while it is.")] = None
    message: Annotated[str, _doc("A sentence for the screen, for errors especially.")] = ""


@dataclass(frozen=True, slots=True)
class ImportState(Event):
    """Progress of copying a stick's music into the library."""

    name: ClassVar[str] = "import:state"
    job_id: Annotated[str, _doc("The import job (same as its scan's job id).")]
    state: Annotated[
        Literal["started", "copying", "completed", "aborted", "failed"], _doc("Phase of the import.")
    ]
    files_done: Annotated[int, _doc("Files copied into the library so far.")]
    files_total: Annotated[
        int, _doc("Files to import; one that turns out to repeat another, or whose tags cannot be read, comes off.")
    ]
    bytes_done: Annotated[int, _doc("Bytes copied so far.")]
    bytes_total: Annotated[int, _doc("Bytes to copy; lowered like files_total.")]
    current_path: Annotated[str | None, _doc("The file being copied.")] = None
    message: Annotated[str, _doc("Why it stopped, when it did.")] = ""


@dataclass(frozen=True, slots=True)
class AppError(Event):
    """A problem the screen should show that belongs to no other event."""

    name: ClassVar[str] = "app:error"
    source: Annotated[str, _doc("Part of the system: 'library', 'audio', 'usb', 'buttons', ...")]
    message: Annotated[str, _doc("A sentence for the screen.")]


ALL_EVENTS: tuple[type[Event], ...] = (
    LibraryUpdated,
    QueueUpdated,
    FavoritesUpdated,
    PlaylistsUpdated,
    SettingsUpdated,
    LibraryScanProgress,
    LibraryScanComplete,
    QueueStateChanged,
    PlayerState,
    PlayerError,
    StickState,
    ImportState,
    AppError,
)

_BY_NAME: dict[str, type[Event]] = {cls.name: cls for cls in ALL_EVENTS}
_ADAPTERS: dict[type[Event], TypeAdapter[Any]] = {}


def _adapter(cls: type[Event]) -> TypeAdapter[Any]:
    """Built on first use: the appliance never parses events from the wire, and the validators of all
    13 events cost about 4 MB."""
    adapter = _ADAPTERS.get(cls)
    if adapter is None:
        adapter = _ADAPTERS[cls] = TypeAdapter(cls)
    return adapter


def kivy_event_name(wire_name: str) -> str:
    """``library:scan-progress`` -> ``on_library_scan_progress``."""
    return "on_" + wire_name.replace(":", "_").replace("-", "_")


def event_type_for(wire_name: str) -> type[Event]:
    try:
        return _BY_NAME[wire_name]
    except KeyError:
        raise EventError(f"unknown event {wire_name!r}; known: {', '.join(sorted(_BY_NAME))}") from None


def event_from_wire(message: Any) -> Event:
    """Build an event from ``{"event": name, "payload": {...}}`` as decoded from JSON."""
    if not isinstance(message, dict) or set(message) != {"event", "payload"}:
        raise EventError("an event message must be an object with exactly 'event' and 'payload'")
    name, payload = message["event"], message["payload"]
    if not isinstance(name, str):
        raise EventError("'event' must be a string")
    cls = event_type_for(name)
    if not isinstance(payload, dict):
        raise EventError(f"{name}: 'payload' must be an object")
    try:
        # JSON mode: arrays become tuples, but ints stay ints and strings stay strings (strict).
        return _adapter(cls).validate_json(json.dumps(payload))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'payload'}: {err['msg']}" for err in exc.errors()
        )
        raise EventError(f"{name}: invalid payload: {problems}") from None


def event_from_json(text: str | bytes) -> Event:
    try:
        message = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EventError(f"not JSON: {exc}") from None
    return event_from_wire(message)


def events_schema() -> list[dict[str, Any]]:
    """Every event's wire name, Kivy event name, doc and JSON schema of its payload."""
    out = []
    for cls in ALL_EVENTS:
        schema = _adapter(cls).json_schema()
        out.append(
            {
                "event": cls.name,
                "kivy_event": kivy_event_name(cls.name),
                "doc": (cls.__doc__ or "").strip(),
                "fields": [
                    {
                        "name": f.name,
                        "schema": schema["properties"][f.name],
                        "required": f.name in schema.get("required", []),
                    }
                    for f in fields(cls)
                ],
            }
        )
    return out


def as_dict(event: Event) -> dict[str, Any]:
    """The event's fields as a dict (tuples kept), for tests and logs."""
    return asdict(event)
