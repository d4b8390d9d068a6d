"""The udev watcher sees a real partition appear and disappear (a FAT32 image on a loop device)."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from pathlib import Path

from kiosk.core.ports.usb import StickDevice
from kiosk.hw.mount import usb_partition_rule
from kiosk.hw.usb import UdevStickWatcher
from tests.hw.conftest import LoopStick, make_stick_image


def _wait(condition: threading.Event, what: str) -> None:
    assert condition.wait(10), f"timed out waiting for {what}"


def test_watcher_reports_a_partition_added_and_removed(tmp_path: Path, loop_sticks: list[LoopStick]) -> None:
    stick = LoopStick(make_stick_image(tmp_path / "stick.img", {"song.txt": b"hello"}, label="PARTY"))
    loop_sticks.append(stick)
    stick.attach()
    added: list[StickDevice] = []
    removed: list[StickDevice] = []
    got_add, got_remove = threading.Event(), threading.Event()

    def on_added(device: StickDevice) -> None:
        added.append(device)
        got_add.set()

    def on_removed(device: StickDevice) -> None:
        if device.name == stick.partition_name:
            removed.append(device)
            got_remove.set()

    def this_loop_only(props: Mapping[str, str]) -> bool:  # loop devices carry no ID_BUS=usb
        return props.get("DEVNAME", "") == stick.partition

    watcher = UdevStickWatcher(on_added, on_removed, rule=this_loop_only)
    watcher.start()
    try:
        stick.plug()
        _wait(got_add, "the udev add event")
        stick.pull()
        _wait(got_remove, "the udev remove event")
    finally:
        watcher.stop()
    assert [d.name for d in added] == [stick.partition_name]
    assert added[0].devnode == stick.partition
    assert added[0].fs_type == "vfat" and added[0].label == "PARTY"
    assert [d.name for d in removed] == [stick.partition_name]


def test_the_default_rule_wants_a_usb_fat_partition(tmp_path: Path, loop_sticks: list[LoopStick]) -> None:
    """The Pi's rule refuses the loop partition (no ID_BUS=usb) and accepts the same properties on USB."""
    stick = LoopStick(make_stick_image(tmp_path / "stick.img", {"a.txt": b"x"}))
    loop_sticks.append(stick)
    stick.attach()
    stick.plug()
    import pyudev

    deadline = time.monotonic() + 10
    while True:
        device = pyudev.Devices.from_name(pyudev.Context(), "block", stick.partition_name)
        props = dict(device.properties)
        if props.get("ID_FS_TYPE") or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert props["ID_FS_TYPE"] == "vfat"
    assert not usb_partition_rule(props)
    assert usb_partition_rule({**props, "ID_BUS": "usb"})
    assert not usb_partition_rule({**props, "ID_BUS": "usb", "ID_FS_TYPE": "ext4"})
    assert not usb_partition_rule({**props, "ID_BUS": "usb", "DEVTYPE": "disk"})
