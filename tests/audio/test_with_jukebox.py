"""The engine under the real core: Jukebox (queue, settings, volume cap) on a real SQLite library,
the real engine, and a real ALSA device capturing every frame."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from kiosk.audio.engine import AudioEngine
from kiosk.audio.mixer import SoftwareMixer, software_gain
from kiosk.audio.output import AlsaOutput
from kiosk.core.bus import RecordingBus
from kiosk.core.events import LibraryUpdated, PlayerState
from kiosk.core.jukebox import Jukebox
from kiosk.core.models import TrackInfo
from kiosk.library.store import SqlLibraryStore
from tests.audio.conftest import AlsaTap, MediaMaker, ffmpeg_decode, wait_until


@pytest.fixture
def store(tmp_path: Path, bus: RecordingBus) -> Iterator[SqlLibraryStore]:
    s = SqlLibraryStore.open(tmp_path / "library.db", bus)
    yield s
    s.close()


def add_files(store: SqlLibraryStore, paths: list[Path]) -> list[int]:
    return store.add_tracks([
        TrackInfo(path=str(p), title=p.stem, duration_ms=1000, sample_rate=44100, file_size=p.stat().st_size,
                  mtime_ns=p.stat().st_mtime_ns, content_hash=f"hash-{i}")
        for i, p in enumerate(paths)
    ])


def test_the_volume_cap_holds_in_the_samples_and_plays_are_counted(
    alsa: AlsaTap, media: MediaMaker, bus: RecordingBus, store: SqlLibraryStore
) -> None:
    """Tried: volume 100 with ``volume.max`` at 40. Must hold: the samples are scaled for 40, the
    queue plays through gapless, and each track heard gets its play counted."""
    paths = [media.noise("flac", seconds=1.0, seed=41, amplitude=0.5), media.noise("wav", seconds=1.0, seed=42)]
    ids = add_files(store, paths)
    engine = AudioEngine(bus, AlsaOutput("default"), SoftwareMixer())
    jukebox = Jukebox(store, bus, engine)
    try:
        jukebox.set_setting("volume.max", 40).result(timeout=10)
        assert jukebox.set_volume(100).result(timeout=10) == 40
        jukebox.replace_and_play(ids).result(timeout=10)

        def finished() -> bool:
            states = [s.state for s in bus.of_type(PlayerState)]
            return "playing" in states and states[-1] == "stopped"

        wait_until(finished, what="the queue played")
        wait_until(lambda: all(t.play_count == 1 for t in store.get_tracks(ids)), what="plays recorded")
    finally:
        jukebox.close()
        engine.close()
    source = np.concatenate([ffmpeg_decode(p) for p in paths]).astype(np.float64)
    got = alsa.frames().astype(np.float64)
    assert len(got) == len(source)
    assert np.abs(got - source * software_gain(40)).max() <= 0.51
    assert max(s.volume for s in bus.of_type(PlayerState)) == 40
    modified = [e for e in bus.of_type(LibraryUpdated) if e.action == "modified"]
    assert sorted(i for e in modified for i in e.track_ids) == sorted(ids)
