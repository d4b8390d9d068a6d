"""``kiosk scan`` as a user runs it: a real process, a real database file, JSON lines out."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kiosk.core.events import event_from_wire
from tests.media import ffmpeg_available, make_tone

pytestmark = pytest.mark.skipif(not ffmpeg_available(), reason="ffmpeg is needed to make audio files")


def _kiosk(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kiosk", "--data-dir", str(tmp_path / "data"), "scan", *args],
        capture_output=True, text=True, timeout=120,
    )


def test_scan_json_prints_one_event_per_line_ending_with_scan_complete(tmp_path: Path, media_cache: Path) -> None:
    music = tmp_path / "music"
    music.mkdir()
    for i, fmt in enumerate(("mp3", "flac", "ogg")):
        make_tone(music / f"s{i}.{fmt}", fmt, tags={"title": f"T{i}"}, cache_dir=media_cache)
    (music / "broken.mp3").write_bytes(b"\0" * 1000)
    db = tmp_path / "lib.db"
    result = _kiosk(tmp_path, str(music), "--db", str(db), "--json")
    assert result.returncode == 0, result.stderr
    events = [event_from_wire(json.loads(line)) for line in result.stdout.splitlines()]
    assert events[-1].name == "library:scan-complete"
    complete = events[-1].payload()
    assert (complete["added"], complete["errors"], complete["status"]) == (3, 1, "completed")
    assert any(e.name == "library:updated" for e in events)
    assert any(e.name == "library:scan-progress" and e.payload()["total"] == 4 for e in events)
    assert db.is_file()
    again = _kiosk(tmp_path, str(music), "--db", str(db), "--json")
    last = json.loads(again.stdout.splitlines()[-1])["payload"]
    assert (last["added"], last["skipped"]) == (0, 3)


def test_scan_copy_to_imports_like_a_stick(tmp_path: Path, media_cache: Path) -> None:
    stick = tmp_path / "stick"
    stick.mkdir()
    make_tone(stick / "x.flac", "flac", tags={"title": "Copied", "artist": "A", "album": "B"}, cache_dir=media_cache)
    target = tmp_path / "library-music"
    result = _kiosk(tmp_path, str(stick), "--db", str(tmp_path / "lib.db"), "--copy-to", str(target))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["added"], summary["status"]) == (1, "completed")
    assert (target / "A" / "B" / "Copied.flac").is_file()
    assert (stick / "x.flac").is_file()


def test_scan_of_a_missing_folder_fails_with_status_1(tmp_path: Path) -> None:
    result = _kiosk(tmp_path, str(tmp_path / "nowhere"), "--db", str(tmp_path / "lib.db"), "--json")
    assert result.returncode == 1
    assert json.loads(result.stdout.splitlines()[-1])["payload"]["status"] == "failed"
