"""The wiring in app.py that runs before the screen: demo library and the start-up scan, on real files."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import mutagen
import pytest

from kiosk.app import StartupScan, fill_demo_library
from kiosk.config import Config, load_config
from kiosk.core.bus import RecordingBus
from kiosk.core.events import LibraryScanComplete
from kiosk.library.store import SqlLibraryStore
from tests.media import make_tone


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.delenv("KIOSK_CONFIG", raising=False)
    return load_config(tmp_path / "data")


@pytest.fixture
def store(config: Config, bus: RecordingBus) -> Iterator[SqlLibraryStore]:
    s = SqlLibraryStore.open(config.database, bus)
    yield s
    s.close()


def test_an_empty_library_gets_playable_tagged_demo_tracks(config: Config, store: SqlLibraryStore) -> None:
    fill_demo_library(config, store)
    tracks = store.list_tracks(limit=10)
    assert len(tracks) == 5
    for track in tracks:
        audio = mutagen.File(track.path)
        assert audio is not None and abs(audio.info.length * 1000 - track.duration_ms) < 50
        assert audio["title"] == [track.title]
    fill_demo_library(config, store)  # a second start adds nothing more
    assert store.count_tracks() == 5


def test_no_demo_when_there_is_real_music_or_the_owner_said_no(
    config: Config, store: SqlLibraryStore, tmp_path: Path, media_cache: Path
) -> None:
    config.music_dir.mkdir(parents=True)
    make_tone(config.music_dir / "song.flac", "flac", cache_dir=media_cache)
    fill_demo_library(config, store)
    assert store.count_tracks() == 0
    shutil.rmtree(config.music_dir)
    (tmp_path / "c.toml").write_text("[library]\ndemo = false\n")
    no_demo = load_config(config.data_dir, tmp_path / "c.toml")
    fill_demo_library(no_demo, store)
    assert store.count_tracks() == 0


def test_the_start_up_scan_brings_the_music_folder_into_the_library(
    config: Config, store: SqlLibraryStore, bus: RecordingBus, media_cache: Path
) -> None:
    config.music_dir.mkdir(parents=True)
    make_tone(config.music_dir / "a.flac", "flac", tags={"title": "Alpha"}, cache_dir=media_cache)
    make_tone(config.music_dir / "b.mp3", "mp3", tags={"title": "Beta"}, cache_dir=media_cache)
    scan = StartupScan(config, store, bus)
    scan.start()
    deadline = time.monotonic() + 60
    while not bus.of_type(LibraryScanComplete) and time.monotonic() < deadline:
        time.sleep(0.05)
    scan.stop()
    assert sorted(t.title for t in store.list_tracks()) == ["Alpha", "Beta"]
    assert bus.of_type(LibraryScanComplete)[0].added == 2
