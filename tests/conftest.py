"""Shared test set-up: Kivy runs offscreen with its own home, and common fixtures.

Kivy reads these variables at import time, so they are set before any test module imports kivy.
``KIVY_NO_*`` variables act when merely present, so only the ones wanted are set.
"""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("KIVY_NO_ARGS", "1")
os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
os.environ.setdefault("KIVY_NO_FILELOG", "1")
os.environ.setdefault("KIVY_HOME", tempfile.mkdtemp(prefix="kivy-home-"))
os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")
os.environ.setdefault("KIVY_CLIPBOARD", "dummy")
os.environ.setdefault("GPIOZERO_PIN_FACTORY", "mock")

from pathlib import Path
from typing import NoReturn

import pytest

from kiosk.core.bus import RecordingBus

REQUIRE_HW = os.environ.get("KIOSK_REQUIRE_HW_TESTS") == "1"


def skip_or_fail(reason: str) -> NoReturn:
    """Skips a test whose prerequisite is missing, but fails it in CI where it must run."""
    if REQUIRE_HW:
        pytest.fail(f"required test prerequisite missing: {reason}")
    pytest.skip(reason)


@pytest.fixture
def bus() -> RecordingBus:
    return RecordingBus()


@pytest.fixture(scope="session")
def media_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Generated audio files are encoded once per session and copied from here."""
    return tmp_path_factory.mktemp("media-cache")
