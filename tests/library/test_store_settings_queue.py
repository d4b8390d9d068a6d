"""Settings (typed, defaults, validation, previous value in the event) and the persisted queue."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from kiosk.core.bus import RecordingBus
from kiosk.core.errors import InvalidRequestError, NotFoundError, SettingError
from kiosk.core.events import SettingsUpdated
from kiosk.core.models import QueueEntry, QueueSnapshot
from kiosk.core.settings import defaults
from kiosk.library.store import SqlLibraryStore

# --- settings --------------------------------------------------------------------------------------


def test_unset_settings_read_as_their_defaults(store: SqlLibraryStore) -> None:
    assert store.all_settings() == defaults()
    assert store.get_setting("volume.max") == 85


def test_set_setting_stores_publishes_previous_and_survives_reopen(
    db_path: Path, store: SqlLibraryStore, bus: RecordingBus
) -> None:
    assert store.set_setting("volume.max", 70) == 85
    assert store.set_setting("volume.max", 60) == 70
    assert store.set_setting("replaygain.preamp_db", 3) == 0.0  # an int is fine for a float setting
    assert store.set_setting("lock.whole_screen", True) is False
    assert bus.events == [
        SettingsUpdated("volume.max", 70, 85),
        SettingsUpdated("volume.max", 60, 70),
        SettingsUpdated("replaygain.preamp_db", 3.0, 0.0),
        SettingsUpdated("lock.whole_screen", True, False),
    ]
    store.close()
    reopened = SqlLibraryStore.open(db_path, RecordingBus())
    try:
        values = reopened.all_settings()
        assert values["volume.max"] == 60 and values["lock.whole_screen"] is True
        assert values["replaygain.preamp_db"] == 3.0 and isinstance(values["replaygain.preamp_db"], float)
    finally:
        reopened.close()


def test_setting_the_same_value_again_publishes_nothing(store: SqlLibraryStore, bus: RecordingBus) -> None:
    store.set_setting("import.mode", "play-from-stick")
    bus.events.clear()
    assert store.set_setting("import.mode", "play-from-stick") == "play-from-stick"
    assert bus.events == []


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("volume.max", 101),
        ("volume.max", -1),
        ("volume.max", "50"),
        ("volume.max", True),
        ("volume.max", 50.5),
        ("import.mode", "move"),
        ("lock.pin", "12"),
        ("lock.pin", "abcd"),
        ("lock.whole_screen", 1),
        ("no.such.key", 1),
    ],
)
def test_invalid_settings_write_nothing(
    store: SqlLibraryStore, bus: RecordingBus, db_dump: Callable[[], list[str]], key: str, value: object
) -> None:
    store.set_setting("volume.max", 50)
    bus.events.clear()
    before = db_dump()
    # Tried: a wrong type, an out-of-range value or an unknown key. Must survive: the stored settings.
    with pytest.raises(SettingError):
        store.set_setting(key, value)  # type: ignore[arg-type]
    assert db_dump() == before and bus.events == []
    assert store.get_setting("volume.max") == 50


def test_unknown_key_on_read_is_a_setting_error(store: SqlLibraryStore) -> None:
    with pytest.raises(SettingError, match="unknown setting"):
        store.get_setting("volume.maximum")


def test_a_stored_value_that_no_longer_validates_reads_as_the_default(
    db_path: Path, store: SqlLibraryStore
) -> None:
    conn = sqlite3.connect(db_path)
    with conn:
        conn.execute("INSERT INTO settings VALUES ('volume.max', '500'), ('screen.brightness', 'nonsense')")
        conn.execute("INSERT INTO settings (key, value) VALUES ('retired.key', '1')")
    conn.close()
    assert store.get_setting("volume.max") == 85
    assert store.all_settings() == defaults()


# --- the queue -------------------------------------------------------------------------------------


def test_an_empty_library_has_an_empty_queue(store: SqlLibraryStore) -> None:
    assert store.load_queue() == QueueSnapshot()


def test_queue_round_trips_exactly_across_a_reopen(db_path: Path, store: SqlLibraryStore, tracks: list[int]) -> None:
    snapshot = QueueSnapshot(
        entries=(
            QueueEntry(11, tracks[3]), QueueEntry(4, tracks[0]), QueueEntry(27, tracks[3]), QueueEntry(5, tracks[9]),
        ),
        unshuffled=(4, 5, 11, 27),
        current_index=2,
        shuffle=True,
        repeat="one",
        revision=41,
        position_ms=73_250,
    )
    store.save_queue(snapshot)
    assert store.load_queue() == snapshot
    store.save_queue_position(80_000)
    store.close()
    reopened = SqlLibraryStore.open(db_path, RecordingBus())
    try:
        loaded = reopened.load_queue()
        assert loaded == dataclasses.replace(snapshot, position_ms=80_000)
        unshuffled_off = QueueSnapshot(entries=loaded.entries[:2], current_index=None, repeat="all", revision=42)
        reopened.save_queue(unshuffled_off)
        assert reopened.load_queue() == unshuffled_off
    finally:
        reopened.close()


def test_save_queue_publishes_nothing(store: SqlLibraryStore, bus: RecordingBus, tracks: list[int]) -> None:
    store.save_queue(QueueSnapshot(entries=(QueueEntry(1, tracks[0]),), current_index=0, revision=1))
    store.save_queue_position(10)
    assert bus.events == []


def test_position_is_kept_before_any_queue_was_saved(store: SqlLibraryStore) -> None:
    store.save_queue_position(1234)
    assert store.load_queue().position_ms == 1234


@pytest.mark.parametrize(
    "bad",
    [
        "unknown track",
        "repeated entry id",
        "unshuffled not a permutation",
        "index past the end",
        "negative index",
        "bad repeat",
        "negative revision",
    ],
)
def test_invalid_queue_writes_nothing(
    store: SqlLibraryStore, tracks: list[int], db_dump: Callable[[], list[str]], bad: str
) -> None:
    good = QueueSnapshot(entries=(QueueEntry(1, tracks[0]), QueueEntry(2, tracks[1])), current_index=1, revision=3)
    store.save_queue(good)
    before = db_dump()
    entries = good.entries
    snapshot = {
        "unknown track": QueueSnapshot(entries=(*entries, QueueEntry(3, 9999)), current_index=0),
        "repeated entry id": QueueSnapshot(entries=(*entries, QueueEntry(2, tracks[2]))),
        "unshuffled not a permutation": QueueSnapshot(entries=entries, unshuffled=(1, 7), shuffle=True),
        "index past the end": QueueSnapshot(entries=entries, current_index=2),
        "negative index": QueueSnapshot(entries=entries, current_index=-1),
        "bad repeat": QueueSnapshot(entries=entries, repeat="sometimes"),  # type: ignore[arg-type]
        "negative revision": QueueSnapshot(entries=entries, revision=-1),
    }[bad]
    # Tried: saving a queue that cannot be right. Must survive: the queue saved before.
    with pytest.raises((InvalidRequestError, NotFoundError)):
        store.save_queue(snapshot)
    assert db_dump() == before
    assert store.load_queue() == good


def test_deleting_a_queued_track_keeps_the_current_entry(store: SqlLibraryStore, tracks: list[int]) -> None:
    # The core reconciles its own copy on library:updated deleted; what a restart finds must still hold together.
    store.save_queue(
        QueueSnapshot(
            entries=(QueueEntry(1, tracks[0]), QueueEntry(2, tracks[1]), QueueEntry(3, tracks[2])),
            unshuffled=(3, 1, 2),
            current_index=2,
            shuffle=True,
        )
    )
    store.delete_tracks([tracks[0]])
    loaded = store.load_queue()
    assert loaded.entries == (QueueEntry(2, tracks[1]), QueueEntry(3, tracks[2]))
    assert loaded.unshuffled == (3, 2) and loaded.current_index == 1 and loaded.current_track_id == tracks[2]
    store.delete_tracks([tracks[2]])  # the current one: the entry now in its place (or the last) is current
    assert store.load_queue().current_index == 0
    store.delete_tracks([tracks[1]])
    assert store.load_queue().entries == () and store.load_queue().current_index is None
