"""Wiring the stick service from the config, as the app does, without hardware."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from kiosk.config import Config, load_config
from kiosk.core.bus import RecordingBus
from kiosk.core.errors import DeviceError
from kiosk.core.ports.usb import StickDevice
from kiosk.hw.mount import FuseFatMounter, HelperMounter
from kiosk.hw.usb import NoMounter, build_mounter, build_stick_service
from kiosk.library.store import SqlLibraryStore


def _config(tmp_path: Path, helper: str) -> Config:
    path = tmp_path / "config.toml"
    path.write_text(f'[usb]\nmount_helper = "{helper}"\nmount_root = "{tmp_path / "usb"}"\n')
    return load_config(tmp_path / "data", path)


@pytest.mark.parametrize(
    ("helper", "kind"), [("systemd", HelperMounter), ("fusefat", FuseFatMounter), ("none", NoMounter)]
)
def test_the_mount_helper_setting_picks_the_mounter(tmp_path: Path, helper: str, kind: type) -> None:
    assert isinstance(build_mounter(_config(tmp_path, helper)), kind)


def test_an_unknown_mount_helper_is_named(tmp_path: Path) -> None:
    with pytest.raises(DeviceError, match="sudo"):
        build_mounter(_config(tmp_path, "sudo"))


def test_none_refuses_to_mount_with_a_reason() -> None:
    with pytest.raises(DeviceError, match="switched off"):
        NoMounter().mount(StickDevice(name="sda1", devnode="/dev/sda1", fs_type="vfat"))


class SettingsJukebox:
    """The two things the service needs from the jukebox: its settings and a place to register eject."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.ejector: Callable[[], None] | None = None

    def settings(self) -> dict[str, object]:
        return {"import.mode": self.mode}

    def set_ejector(self, fn: Callable[[], None] | None) -> None:
        self.ejector = fn


def test_build_stick_service_registers_its_eject_and_reads_the_import_mode(tmp_path: Path) -> None:
    config = _config(tmp_path, "none")
    bus = RecordingBus()
    jukebox = SettingsJukebox("play-from-stick")
    with SqlLibraryStore(tmp_path / "lib.db", bus) as store:
        service = build_stick_service(config, bus, jukebox, store)
        assert jukebox.ejector == service.eject
        assert service._import_mode() == "play-from-stick"
        service.stop()  # never started: stopping is still safe
