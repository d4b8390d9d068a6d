"""The event vocabulary: names, fields, JSON round trips and rejection of bad payloads."""

from __future__ import annotations

import dataclasses
import json

import pytest

from kiosk.core import events as ev

# The product's historical contract: these names and fields must never change.
ORIGINAL = {
    "library:updated": ("on_library_updated", ["action", "track_ids"]),
    "queue:updated": ("on_queue_updated", ["action", "positions", "queue_length"]),
    "favorites:updated": ("on_favorites_updated", ["action", "track_id"]),
    "playlists:updated": ("on_playlists_updated", ["action", "playlist_id", "track_ids"]),
    "settings:updated": ("on_settings_updated", ["key", "value", "previous_value"]),
    "library:scan-progress": (
        "on_library_scan_progress",
        ["job_id", "status", "scanned", "found", "errors", "current_path"],
    ),
    "library:scan-complete": ("on_library_scan_complete", ["job_id", "added", "skipped", "errors", "duration_ms"]),
}

ACTIONS = {
    "library:updated": {"added", "modified", "deleted"},
    "queue:updated": {"added", "removed", "cleared", "reordered", "shuffled"},
    "favorites:updated": {"added", "removed"},
    "playlists:updated": {"created", "renamed", "deleted", "tracks_added", "tracks_removed", "reordered"},
}

SAMPLES: list[ev.Event] = [
    ev.LibraryUpdated(action="added", track_ids=(1, 2, 3)),
    ev.LibraryUpdated(action="deleted", track_ids=()),
    ev.QueueUpdated(action="reordered", positions=(2, 3), queue_length=5, current_index=3, revision=9),
    ev.FavoritesUpdated(action="removed", track_id=7),
    ev.PlaylistsUpdated(action="tracks_added", playlist_id=2, track_ids=(4, 4)),
    ev.SettingsUpdated(key="volume.max", value=70, previous_value=85),
    ev.SettingsUpdated(key="replaygain.preamp_db", value=-3.5, previous_value=None),
    ev.LibraryScanProgress(
        job_id="j1", status="reading", scanned=10, found=8, errors=1, current_path="a/b.mp3", total=40
    ),
    ev.LibraryScanComplete(job_id="j1", added=7, skipped=1, errors=1, duration_ms=1234, error_reasons=("x: bad",)),
    ev.QueueStateChanged(current_index=None, shuffle=True, repeat="all", revision=3),
    ev.PlayerState(state="playing", track_id=3, position_ms=1500, duration_ms=200_000, queue_index=0, volume=40),
    ev.PlayerError(code="decode", message="Cannot play song.mp3", track_id=3),
    ev.StickState(device="sda1", state="safe-to-remove", label="MUSIC"),
    ev.ImportState(job_id="j1", state="copying", files_done=1, files_total=9, bytes_done=10, bytes_total=90),
    ev.AppError(source="library", message="disk full"),
]


def test_every_event_type_has_a_sample() -> None:
    assert {type(s) for s in SAMPLES} == set(ev.ALL_EVENTS)


@pytest.mark.parametrize("wire_name", sorted(ORIGINAL))
def test_original_events_keep_their_names_and_fields_first(wire_name: str) -> None:
    cls = ev.event_type_for(wire_name)
    kivy_name, original_fields = ORIGINAL[wire_name]
    assert ev.kivy_event_name(wire_name) == kivy_name
    names = [f.name for f in dataclasses.fields(cls)]
    assert names[: len(original_fields)] == original_fields


@pytest.mark.parametrize("wire_name", sorted(ACTIONS))
def test_original_action_words_are_accepted_and_nothing_else(wire_name: str) -> None:
    schema = next(s for s in ev.events_schema() if s["event"] == wire_name)
    action = next(f for f in schema["fields"] if f["name"] == "action")
    assert set(action["schema"]["enum"]) == ACTIONS[wire_name]


def test_queue_state_changed_has_the_fields_the_issue_names() -> None:
    names = [f.name for f in dataclasses.fields(ev.QueueStateChanged)]
    assert names == ["current_index", "shuffle", "repeat", "revision"]


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: e.name)
def test_json_round_trip(event: ev.Event) -> None:
    text = event.to_json()
    wire = json.loads(text)
    assert wire["event"] == event.name
    assert set(wire) == {"event", "payload"}
    assert ev.event_from_json(text) == event


def test_events_are_frozen_and_slotted() -> None:
    event = SAMPLES[0]
    assert isinstance(event, ev.LibraryUpdated)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.action = "deleted"  # type: ignore[misc]  # read-only on purpose: the assignment must raise
    assert not hasattr(event, "__dict__")


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ('{"event": "nope", "payload": {}}', "unknown event 'nope'"),
        ('{"event": "favorites:updated"}', "exactly 'event' and 'payload'"),
        ('{"event": "favorites:updated", "payload": []}', "'payload' must be an object"),
        ('{"event": "favorites:updated", "payload": {"action": "added"}}', "track_id"),
        ('{"event": "favorites:updated", "payload": {"action": "added", "track_id": "7"}}', "track_id"),
        ('{"event": "favorites:updated", "payload": {"action": "liked", "track_id": 7}}', "action"),
        ('{"event": "favorites:updated", "payload": {"action": "added", "track_id": 7, "x": 1}}', "x"),
        (
            '{"event": "queue:updated", "payload": {"action": "added", "positions": [1, "2"], "queue_length": 3}}',
            "positions",
        ),
        ("not json", "not JSON"),
        ('["favorites:updated", {}]', "exactly 'event' and 'payload'"),
    ],
)
def test_malformed_payloads_are_rejected_with_a_clear_error(text: str, complaint: str) -> None:
    with pytest.raises(ev.EventError) as info:
        ev.event_from_json(text)
    assert complaint in str(info.value)


def test_schema_lists_every_event_with_typed_fields() -> None:
    schema = ev.events_schema()
    assert [s["event"] for s in schema] == [cls.name for cls in ev.ALL_EVENTS]
    for entry in schema:
        assert entry["kivy_event"].startswith("on_")
        for f in entry["fields"]:
            assert f["schema"].get("description"), f"{entry['event']}.{f['name']} has no doc line"
            assert "type" in f["schema"] or "anyOf" in f["schema"] or "enum" in f["schema"]
