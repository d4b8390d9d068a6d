"""The ``kiosk`` command as a user runs it: real processes, real output, clear messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from kiosk import __version__
from kiosk.core.events import ALL_EVENTS


def kiosk(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kiosk", *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def test_version() -> None:
    result = kiosk("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"kiosk {__version__}"


def test_events_schema_prints_every_event_as_json() -> None:
    result = kiosk("events", "schema")
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    assert [e["event"] for e in schema] == [cls.name for cls in ALL_EVENTS]
    queue = next(e for e in schema if e["event"] == "queue:updated")
    assert [f["name"] for f in queue["fields"]][:3] == ["action", "positions", "queue_length"]


def test_a_bad_config_gives_one_clear_line_not_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "config.toml"
    bad.write_text("[audio]\nperiod_ms = -3\n")
    result = kiosk("--data-dir", str(tmp_path), "--config", str(bad), "events", "schema")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "audio.period_ms" in result.stderr


def test_starting_without_a_screen_or_sound_device_says_so_clearly(tmp_path: Path) -> None:
    """A bare server: no DISPLAY, no console, ALSA configured with no usable device."""
    asound = tmp_path / "asound.conf"
    asound.write_text("pcm.!default { type hw card 7 }\nctl.!default { type hw card 7 }\n")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER")}
    env.update(KIOSK_DATA_DIR=str(tmp_path / "data"), ALSA_CONFIG_PATH=str(asound))
    result = subprocess.run(
        [sys.executable, "-m", "kiosk"], capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "No sound device found" in result.stderr
    assert "no screen found" in result.stderr
    # The library was still created, with its demo tracks, so a later start with a screen has music.
    assert (tmp_path / "data" / "library.db").exists()
