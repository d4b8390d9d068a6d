"""USB sticks: a pyudev watcher on its own thread, and the service that mounts, imports and lets go.

``UdevStickWatcher`` only reports partitions coming and going (the "is this a stick" rule is injected,
so loop devices stand in for sticks in tests). ``StickService`` owns one worker thread that does the
slow work for one stick at a time: mount read-only, copy the music in (or scan it in place when the
``import.mode`` setting says play-from-stick), unmount, and say it is safe to remove. A stick pulled
mid-import cancels its job at once from the udev thread; the job stops within a chunk of copying.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from kiosk.core.bus import EventBus
from kiosk.core.errors import DeviceError
from kiosk.core.events import StickState
from kiosk.core.ports.library import LibraryStore
from kiosk.core.ports.usb import CopyingTagReader, Mounter, StickDevice, StickRule
from kiosk.hw.mount import FuseFatMounter, HelperMounter, KernelMounter, usb_partition_rule
from kiosk.library.importer import StickImporter
from kiosk.library.scanner import PreparableTagReader, Scanner
from kiosk.library.tags import ProcessTagReader

log = logging.getLogger(__name__)

StickCallback = Callable[[StickDevice], None]


def stick_device(properties: Mapping[str, str], sys_name: str) -> StickDevice:
    return StickDevice(
        name=sys_name,
        devnode=properties.get("DEVNAME", f"/dev/{sys_name}"),
        fs_type=properties.get("ID_FS_TYPE", ""),
        label=properties.get("ID_FS_LABEL", ""),
        uuid=properties.get("ID_FS_UUID", ""),
    )


class UdevStickWatcher:
    """Watches block partitions with a pyudev ``MonitorObserver`` thread; reports sticks added and removed.

    Partitions already present at start are reported as added, so a stick left in over a reboot imports.
    Removals are reported for every partition; the service ignores the ones it never took.
    """

    def __init__(
        self, on_added: StickCallback, on_removed: StickCallback, rule: StickRule = usb_partition_rule
    ) -> None:
        self._on_added, self._on_removed, self._rule = on_added, on_removed, rule
        self._observer: Any = None

    def start(self) -> None:
        import pyudev

        context = pyudev.Context()
        monitor = pyudev.Monitor.from_netlink(context)
        monitor.filter_by(subsystem="block", device_type="partition")
        self._observer = pyudev.MonitorObserver(monitor, callback=self._handle, name="udev-watcher")
        self._observer.daemon = True
        self._observer.start()
        for device in context.list_devices(subsystem="block", DEVTYPE="partition"):
            properties = dict(device.properties)
            if self._rule(properties):
                self._on_added(stick_device(properties, device.sys_name))

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.send_stop()
            self._observer.join(timeout=5)
            self._observer = None

    def _handle(self, device: Any) -> None:
        try:
            properties = dict(device.properties)
            if device.action == "add" and self._rule(properties):
                self._on_added(stick_device(properties, device.sys_name))
            elif device.action == "remove":
                self._on_removed(stick_device(properties, device.sys_name))
        except Exception:
            log.exception("udev event for %s not handled", getattr(device, "sys_name", "?"))


@dataclass(slots=True)
class _Stick:
    device: StickDevice
    cancel: threading.Event = field(default_factory=threading.Event)
    removed: threading.Event = field(default_factory=threading.Event)
    mount_path: Path | None = None
    played_from: bool = False  # mounted and scanned in place (play-from-stick)


Command = tuple[Literal["add", "remove", "eject", "stop"], StickDevice | None]


class StickService:
    """Mounts, imports and releases sticks, one at a time, on its own thread; every step is a ``StickState``."""

    def __init__(
        self,
        bus: EventBus,
        store: LibraryStore,
        mounter: Mounter,
        reader: CopyingTagReader,
        music_dir: Path,
        *,
        import_mode: Callable[[], str] = lambda: "copy",
        rule: StickRule = usb_partition_rule,
        watcher_factory: Callable[[StickCallback, StickCallback, StickRule], Any] = UdevStickWatcher,
        importer: StickImporter | None = None,
        scanner: Scanner | None = None,
    ) -> None:
        self._bus, self._store, self._mounter, self._reader = bus, store, mounter, reader
        self._import_mode = import_mode
        self._importer = importer or StickImporter(store, bus, reader, music_dir)
        self._scanner = scanner or Scanner(store, bus, reader)
        self._watcher = watcher_factory(self._added, self._removed, rule)
        self._commands: queue.Queue[Command] = queue.Queue()
        self._sticks: dict[str, _Stick] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    # --- any thread ----------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="stick-importer", daemon=True)
        self._thread.start()
        self._watcher.start()

    def stop(self) -> None:
        """Stops watching, cancels a running job, unmounts what is mounted."""
        self._watcher.stop()
        with self._lock:
            for stick in self._sticks.values():
                stick.cancel.set()
        self._commands.put(("stop", None))
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self._reader.close()

    def eject(self) -> None:
        """Stop whatever the sticks are doing, unmount them, and say they are safe to remove."""
        with self._lock:
            for stick in self._sticks.values():
                stick.cancel.set()
        self._commands.put(("eject", None))

    def _added(self, device: StickDevice) -> None:
        self._commands.put(("add", device))

    def _removed(self, device: StickDevice) -> None:
        with self._lock:
            stick = self._sticks.get(device.name)
            if stick is None:
                return
            stick.removed.set()
            stick.cancel.set()  # the running copy notices within one chunk
        self._commands.put(("remove", device))

    # --- the worker thread ---------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            command, device = self._commands.get()
            try:
                if command == "stop":
                    self._release_all(publish=False)
                    return
                if command == "add" and device is not None:
                    self._handle_added(device)
                elif command == "remove" and device is not None:
                    self._handle_removed(device)
                elif command == "eject":
                    self._release_all(publish=True)
            except Exception:
                log.exception("stick %s: %s failed", device.name if device else "-", command)

    def _state(self, stick: _Stick, state: str, message: str = "") -> None:
        self._bus.publish(
            StickState(
                device=stick.device.name, state=state, label=stick.device.label,  # type: ignore[arg-type]
                mount_path=str(stick.mount_path) if stick.mount_path else None, message=message,
            )
        )

    def _handle_added(self, device: StickDevice) -> None:
        with self._lock:
            if device.name in self._sticks:
                return  # udev told us twice (start-up listing racing the monitor)
            stick = self._sticks[device.name] = _Stick(device)
        self._state(stick, "inserted")
        if isinstance(self._reader, PreparableTagReader):
            # The tag workers start while the stick mounts, so its scan begins with them ready.
            self._reader.prepare()
        try:
            stick.mount_path = self._mounter.mount(device)
        except DeviceError as exc:
            log.warning("stick %s not mounted: %s", device.name, exc)
            self._state(stick, "error", f"The stick could not be read: {exc}")
            with self._lock:
                self._sticks.pop(device.name, None)
            return
        self._state(stick, "mounted")
        if stick.cancel.is_set():
            self._finish(stick)
            return
        mode = self._safe_import_mode()
        self._state(stick, "importing")
        alive = _source_alive(stick)
        if mode == "play-from-stick":
            stick.played_from = True
            result = self._scanner.scan(stick.mount_path, cancel=stick.cancel)
            if result.status == "completed" and not stick.cancel.is_set():
                self._state(stick, "mounted")
                return  # stays mounted: its tracks play from it until it is ejected or pulled
        else:
            self._importer.import_from(stick.mount_path, cancel=stick.cancel, source_alive=alive)
        self._finish(stick)

    def _finish(self, stick: _Stick) -> None:
        """After a job: a pulled stick is cleaned up, a present one unmounted and declared safe to remove."""
        if stick.removed.is_set():
            return  # its "remove" command is queued and finishes the job
        if stick.mount_path is not None and not _source_alive(stick)():
            # The mount died; udev's removal usually follows within moments. Never call it "safe to remove".
            if stick.removed.wait(1.0):
                return
            if stick.played_from:
                self._forget_tracks(stick)
            try:
                self._mounter.unmount(stick.device, stick.mount_path, lazy=True)
            except DeviceError as exc:
                log.warning("stick %s: lazy unmount of a dead mount failed: %s", stick.device.name, exc)
            self._state(stick, "error", "The stick stopped answering. Pull it out and plug it in again.")
            stick.mount_path = None
            return
        self._release(stick, publish=True)

    def _release(self, stick: _Stick, *, publish: bool) -> None:
        if stick.played_from:
            self._forget_tracks(stick)
        if stick.mount_path is not None:
            if publish:
                self._state(stick, "unmounting")
            try:
                self._mounter.unmount(stick.device, stick.mount_path)
            except DeviceError as exc:
                log.warning("stick %s: unmount failed: %s", stick.device.name, exc)
                if publish:
                    self._state(stick, "error", f"The stick could not be unmounted: {exc}")
                return
            stick.mount_path = None
        if publish:
            self._state(stick, "safe-to-remove")

    def _release_all(self, *, publish: bool) -> None:
        with self._lock:
            sticks = [s for s in self._sticks.values() if s.mount_path is not None and not s.removed.is_set()]
        for stick in sticks:
            self._release(stick, publish=publish)

    def _handle_removed(self, device: StickDevice) -> None:
        with self._lock:
            stick = self._sticks.pop(device.name, None)
        if stick is None:
            return
        if stick.played_from:
            self._forget_tracks(stick)
        if stick.mount_path is not None:
            try:
                self._mounter.unmount(stick.device, stick.mount_path, lazy=True)
            except DeviceError as exc:
                log.warning("stick %s: lazy unmount after removal failed: %s", device.name, exc)
            stick.mount_path = None
        self._state(stick, "removed")

    def _forget_tracks(self, stick: _Stick) -> None:
        if stick.mount_path is None:
            return
        stale = self._store.file_stats_under(str(stick.mount_path))
        if stale:
            self._store.delete_tracks([fs.track_id for fs in stale])
        stick.played_from = False

    def _safe_import_mode(self) -> str:
        try:
            return self._import_mode()
        except Exception:
            log.exception("import.mode unreadable; copying")
            return "copy"


def _source_alive(stick: _Stick) -> Callable[[], bool]:
    def alive() -> bool:
        if stick.removed.is_set() or stick.mount_path is None:
            return False
        try:
            os.stat(stick.mount_path)
            os.listdir(stick.mount_path)
        except OSError:
            return False
        return True

    return alive


class NoMounter:
    """``[usb] mount_helper = "none"``: sticks are noticed and reported, never mounted."""

    def mount(self, device: StickDevice) -> Path:
        raise DeviceError("mounting sticks is switched off ([usb] mount_helper = none)")

    def unmount(self, device: StickDevice, mount_path: Path, *, lazy: bool = False) -> None:
        return None


def build_mounter(config: Any) -> Mounter:
    """From ``[usb] mount_helper``: 'systemd' (the privileged helper's socket), 'fusefat', 'kernel' or 'none'."""
    helper = config.usb.mount_helper
    if helper == "none":
        return NoMounter()
    root = Path(config.usb.mount_root)
    if helper == "fusefat":
        return FuseFatMounter(root)
    if helper == "kernel":
        return KernelMounter(root)
    if helper == "systemd":
        return HelperMounter()
    raise DeviceError(f"[usb] mount_helper {helper!r} is not one of systemd, fusefat, kernel, none")


def build_stick_service(config: Any, bus: EventBus, jukebox: Any, store: LibraryStore) -> StickService:
    """The app's entry point: a stick service wired to the config, registered as the jukebox's ejector.

    Call ``start()`` when the app is up and ``stop()`` on the way out.
    """
    reader = ProcessTagReader(config.covers_dir)

    def import_mode() -> str:
        return str(jukebox.settings().get("import.mode", "copy"))

    service = StickService(bus, store, build_mounter(config), reader, config.music_dir, import_mode=import_mode)
    jukebox.set_ejector(service.eject)
    return service
