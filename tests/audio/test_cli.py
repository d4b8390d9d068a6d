"""``kiosk play`` as a user runs it: a real process, a real ALSA device (file plugin capture)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from kiosk.core.events import PlayerError, PlayerState, event_from_json
from tests.audio.conftest import AlsaTap, MediaMaker, ffmpeg_decode


def kiosk_play(alsa: AlsaTap, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ALSA_CONFIG_PATH": str(alsa.conf), "KIOSK_DATA_DIR": str(tmp_path / "data")}
    env.pop("KIOSK_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "kiosk", "play", *args], env=env, capture_output=True, text=True, timeout=60,
    )


def test_play_files_in_order_with_json_events(alsa: AlsaTap, media: MediaMaker, tmp_path: Path) -> None:
    first, second = media.noise("flac", seconds=1.0, seed=21), media.noise("mp3", seconds=1.0, seed=22)
    result = kiosk_play(alsa, tmp_path, str(first), str(second), "--json")
    assert result.returncode == 0, result.stderr
    events = [event_from_json(line) for line in result.stdout.splitlines()]
    states = [e for e in events if isinstance(e, PlayerState)]
    assert [s.track_id for s in states if s.state == "playing"][:1] == [1]
    assert any(s.track_id == 2 and s.state == "playing" for s in states)
    assert states[-1].state == "stopped"
    want = np.concatenate([ffmpeg_decode(first), ffmpeg_decode(second)])
    assert np.array_equal(alsa.frames(), want)


def test_a_missing_file_is_reported_and_the_rest_plays(alsa: AlsaTap, media: MediaMaker, tmp_path: Path) -> None:
    """Tried: a file name that does not exist between two good files. Must survive: both good files,
    one error event, exit code 1."""
    good = media.noise("wav", seconds=0.5, seed=23)
    result = kiosk_play(alsa, tmp_path, str(good), str(tmp_path / "typo.flac"), str(good), "--json")
    assert result.returncode == 1
    errors = [e for e in map(event_from_json, result.stdout.splitlines()) if isinstance(e, PlayerError)]
    assert [(e.code, e.track_id) for e in errors] == [("missing-file", 2)]
    assert len(alsa.frames()) == 2 * len(ffmpeg_decode(good))


def test_progress_lines_without_json(alsa: AlsaTap, media: MediaMaker, tmp_path: Path) -> None:
    path = media.noise("ogg", seconds=1.0, seed=24)
    result = kiosk_play(alsa, tmp_path, str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"1/1 {path.name}  0:00 / 0:01"]


def test_no_sound_device_is_one_clear_line_and_exit_code_2(alsa: AlsaTap, media: MediaMaker, tmp_path: Path) -> None:
    path = media.noise("wav", seconds=0.5, seed=25)
    result = kiosk_play(alsa, tmp_path, str(path), "--device", "nosuchcard")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "kiosk play: cannot open the sound device 'nosuchcard': No such file or directory [nosuchcard]"
    ]
    assert "Traceback" not in result.stdout + result.stderr

    alsa.write(None, default_exists=False)  # no device at all behind 'default'
    result = kiosk_play(alsa, tmp_path, str(path))
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and "cannot open the sound device 'default'" in result.stderr
