"""The stick service end to end with real parts: loop-device FAT sticks, udev events, read-only fusefat
mounts, the worker pool, the SQLite library. Loop partitions stand in for USB ones through the rule."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from kiosk.core.bus import RecordingBus
from kiosk.core.events import ImportState, LibraryScanComplete, StickState
from kiosk.core.ports.usb import StickDevice
from kiosk.hw.mount import FuseFatMounter, HelperMounter, handle_request, udev_properties
from kiosk.hw.usb import StickService
from kiosk.library.store import SqlLibraryStore
from kiosk.library.tags import ProcessTagReader
from tests.hw.conftest import LoopStick, make_stick_image, unmount_all_under
from tests.media import make_tone
from tests.processes import parent_pids


def wait_for(condition: Callable[[], object], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Rig:
    """A stick service wired to real parts, accepting only the loop partitions this test made."""

    def __init__(self, tmp: Path, mode: str = "copy", mounter: type[FuseFatMounter] = FuseFatMounter) -> None:
        self.bus = RecordingBus()
        self.store = SqlLibraryStore(tmp / "library.db", self.bus)
        self.mount_root = tmp / "mnt"
        self.mounter = mounter(self.mount_root)
        self.reader = ProcessTagReader(tmp / "covers", workers=2)
        self.music = tmp / "music"
        self.ours: set[str] = set()
        self.mode = mode
        self.service = StickService(
            self.bus, self.store, self.mounter, self.reader, self.music,
            import_mode=lambda: self.mode, rule=self.rule,
        )

    def rule(self, props: Mapping[str, str]) -> bool:
        return props.get("DEVNAME", "") in self.ours and props.get("ID_FS_TYPE") == "vfat"

    def states(self, device: str) -> list[str]:
        return [e.state for e in self.bus.of_type(StickState) if e.device == device]

    def close(self) -> None:
        self.service.stop()
        unmount_all_under(self.mount_root)
        self.store.close()


@pytest.fixture
def rig(tmp_path: Path, udevd: None) -> Iterator[Rig]:
    r = Rig(tmp_path)
    yield r
    r.close()


def _stick(
    tmp: Path, name: str, media_cache: Path, count: int, seconds: float = 1.0, fmt: str = "flac", size_mb: int = 64
) -> LoopStick:
    files: dict[str, Path | bytes] = {}
    for i in range(count):
        tags = {"title": f"{name} {i}", "artist": name, "album": "Stick", "track": str(i + 1)}
        suffix = ".wav" if fmt == "wav" else ".flac"
        files[f"Music/{name}{i}{suffix}"] = make_tone(
            tmp / f"{name}{i}{suffix}", fmt, seconds=seconds, freq=150 + 37 * i + len(name), tags=tags,
            cache_dir=media_cache,
        )
    files["cover.jpg"] = b"not really a jpeg"
    return LoopStick(make_stick_image(tmp / f"{name}.img", files, label=name.upper()[:11], size_mb=size_mb))


def _plug(rig: Rig, stick: LoopStick, sticks: list[LoopStick]) -> None:
    sticks.append(stick)
    stick.attach()
    rig.ours.add(stick.partition)
    stick.plug()


def test_a_stick_is_imported_unmounted_and_declared_safe(
    tmp_path: Path, media_cache: Path, rig: Rig, loop_sticks: list[LoopStick]
) -> None:
    stick = _stick(tmp_path, "alpha", media_cache, count=3)
    image_before = sha(stick.image)
    rig.service.start()
    _plug(rig, stick, loop_sticks)
    name = stick.partition_name
    wait_for(lambda: "safe-to-remove" in rig.states(name), "safe-to-remove")
    assert rig.states(name) == ["inserted", "mounted", "importing", "unmounting", "safe-to-remove"]
    mounted = next(e for e in rig.bus.of_type(StickState) if e.state == "mounted")
    assert mounted.mount_path == str(rig.mount_root / name) and mounted.label == "ALPHA"
    assert not os.path.ismount(rig.mount_root / name)
    complete = rig.bus.of_type(LibraryScanComplete)[-1]
    assert (complete.status, complete.added, complete.errors) == ("completed", 3, 0)
    tracks = rig.store.list_tracks()
    assert sorted(t.title for t in tracks) == ["alpha 0", "alpha 1", "alpha 2"]
    for track in tracks:
        assert rig.music in Path(track.path).parents and Path(track.path).is_file()
    assert rig.bus.of_type(ImportState)[-1].state == "completed"
    stick.pull()
    wait_for(lambda: "removed" in rig.states(name), "removed")
    assert sha(stick.image) == image_before  # nothing was written to the stick


def _tag_workers() -> set[int]:
    """The pids of this test process's fork-server children: the tag reader's worker processes."""
    parents = parent_pids()
    children = {pid for pid, parent in parents.items() if parent == os.getpid()}
    workers = set()
    for pid, parent in parents.items():
        if parent in children:
            with contextlib.suppress(OSError):
                if b"forkserver" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    workers.add(pid)
    return workers


class WorkerWatchingMounter(FuseFatMounter):
    """Mounts with fusefat once tag workers are running that were not before the stick came (waits up to
    10 s for them; records what it found)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.workers_before = _tag_workers()
        self.new_workers_at_mount: set[int] = set()

    def mount(self, device: StickDevice) -> Path:
        deadline = time.monotonic() + 10
        while not (new := _tag_workers() - self.workers_before) and time.monotonic() < deadline:
            time.sleep(0.02)
        self.new_workers_at_mount = new
        return super().mount(device)


def test_the_tag_workers_start_while_the_stick_mounts(
    tmp_path: Path, media_cache: Path, udevd: None, loop_sticks: list[LoopStick]
) -> None:
    """The scan should find its worker processes running, not wait for them after the mount: the service
    starts them when the stick is inserted. The mount here waits for them; without the early start it
    would wait its full 10 s and see none."""
    rig = Rig(tmp_path, mounter=WorkerWatchingMounter)
    try:
        stick = _stick(tmp_path, "early", media_cache, count=2)
        rig.service.start()
        _plug(rig, stick, loop_sticks)
        name = stick.partition_name
        wait_for(lambda: "safe-to-remove" in rig.states(name), "safe-to-remove")
        assert isinstance(rig.mounter, WorkerWatchingMounter)
        assert rig.mounter.new_workers_at_mount, "no tag worker was running when the stick was mounted"
        assert rig.bus.of_type(LibraryScanComplete)[-1].added == 2
    finally:
        rig.close()


def test_a_stick_pulled_mid_import_aborts_cleanly_and_the_next_one_imports(
    tmp_path: Path, media_cache: Path, rig: Rig, loop_sticks: list[LoopStick]
) -> None:
    """The stick dies as the second file starts: its FUSE mount goes away and udev reports the removal."""
    first = _stick(tmp_path, "pulled", media_cache, count=5, seconds=8.0, fmt="wav")  # about 1.4 MB each
    pulled_at: list[float] = []

    def pull_on_second_file(event: ImportState) -> None:
        if event.state == "copying" and event.files_done == 1 and not pulled_at:
            process = rig.mounter.processes[first.partition_name]
            process.kill()
            process.wait()
            first.pull()
            pulled_at.append(time.monotonic())

    rig.bus.subscribe(ImportState, pull_on_second_file)
    rig.service._importer._progress_interval = 0  # every copying event, so the pull lands on the second file
    rig.service.start()
    _plug(rig, first, loop_sticks)
    name = first.partition_name
    wait_for(lambda: "removed" in rig.states(name), "the removal")
    complete = rig.bus.of_type(LibraryScanComplete)[-1]
    assert complete.status == "aborted"
    assert rig.bus.of_type(ImportState)[-1].state == "aborted"
    assert rig.states(name)[-1] == "removed" and "safe-to-remove" not in rig.states(name)
    tracks = rig.store.list_tracks()
    # The first file was copied before the pull; the copy threads may have finished the second and the
    # third whole meanwhile (one file per thread in flight); nothing after them started before the pull.
    assert 1 <= complete.added == len(tracks) <= 3
    for track in tracks:
        assert hashlib.sha256(Path(track.path).read_bytes()).hexdigest()[:32] == track.content_hash
    assert sorted(Path(t.path) for t in tracks) == sorted(p for p in rig.music.rglob("*") if p.is_file())
    assert not os.path.ismount(rig.mount_root / name)
    # The next stick imports as if nothing happened.
    second = _stick(tmp_path, "next", media_cache, count=2)
    _plug(rig, second, loop_sticks)
    wait_for(lambda: "safe-to-remove" in rig.states(second.partition_name), "the next stick")
    assert rig.bus.of_type(LibraryScanComplete)[-1].status == "completed"
    assert sorted(t.title for t in rig.store.list_tracks()) == sorted(["next 0", "next 1", *(t.title for t in tracks)])


def test_play_from_stick_keeps_it_mounted_until_ejected(
    tmp_path: Path, media_cache: Path, rig: Rig, loop_sticks: list[LoopStick]
) -> None:
    rig.mode = "play-from-stick"
    stick = _stick(tmp_path, "live", media_cache, count=2)
    rig.service.start()
    _plug(rig, stick, loop_sticks)
    name = stick.partition_name
    wait_for(lambda: rig.states(name).count("mounted") == 2, "mounted after the scan")
    tracks = rig.store.list_tracks()
    assert len(tracks) == 2 and all(t.path.startswith(str(rig.mount_root / name)) for t in tracks)
    assert not rig.music.exists()  # nothing copied
    rig.service.eject()
    wait_for(lambda: "safe-to-remove" in rig.states(name), "safe-to-remove after eject")
    assert rig.store.count_tracks() == 0  # no row points at a stick that is gone
    assert not os.path.ismount(rig.mount_root / name)


def test_the_mount_helper_checks_requests_and_mounts_read_only(
    tmp_path: Path, media_cache: Path, udevd: None, loop_sticks: list[LoopStick]
) -> None:
    """The privileged helper's protocol over a real Unix socket, mounting with fusefat in place of mount(8)."""
    stick = _stick(tmp_path, "helper", media_cache, count=1)
    loop_sticks.append(stick)
    stick.attach()
    stick.plug()
    root = tmp_path / "mnt"
    mounter = FuseFatMounter(root)
    name = stick.partition_name

    def loop_rule(props: Mapping[str, str]) -> bool:
        return props.get("DEVNAME") == stick.partition and props.get("ID_FS_TYPE") == "vfat"

    def lookup(dev: str) -> Mapping[str, str] | None:
        deadline = time.monotonic() + 10
        while True:  # udev may still be probing the new partition
            props = udev_properties(dev)
            if props is None or props.get("ID_FS_TYPE") or time.monotonic() > deadline:
                return props
            time.sleep(0.1)

    sock_path = tmp_path / "helper.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(sock_path))
    server.listen()

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                line = conn.makefile("r").readline(256)
                answer = handle_request(line, mounter, mount_root=root, lookup=lookup, rule=loop_rule)
                conn.sendall((answer + "\n").encode())

    threading.Thread(target=serve, daemon=True).start()
    client = HelperMounter(sock_path, timeout=30)
    device = StickDevice(name=name, devnode=stick.partition, fs_type="vfat")
    try:
        mount_path = client.mount(device)
        assert mount_path == root / name and os.path.ismount(mount_path)
        assert (mount_path / "Music" / "helper0.flac").is_file()
        with pytest.raises(OSError):
            (mount_path / "new.txt").write_bytes(b"x")  # read-only
        client.unmount(device, mount_path)
        assert not os.path.ismount(mount_path)
        # What a confused or hostile client might send:
        assert handle_request("mount ../../etc", mounter, mount_root=root).startswith("error")
        assert handle_request("mount sda1 now", mounter, mount_root=root).startswith("error")
        assert handle_request("format " + name, mounter, mount_root=root).startswith("error")
        assert handle_request("mount " + name, mounter, mount_root=root, lookup=lookup).startswith("error")  # not USB
        with pytest.raises(Exception, match="not a kernel partition name"):
            client.mount(StickDevice(name="../x", devnode="/dev/x"))
    finally:
        server.close()
        unmount_all_under(root)


def test_a_stick_pulled_in_the_middle_of_a_file_leaves_no_part_of_it(
    tmp_path: Path, media_cache: Path, rig: Rig, loop_sticks: list[LoopStick]
) -> None:
    """A slow stick pulled while its first file is partly copied: the half copy goes, no row, the next one imports.

    From the moment the copy starts, the stick's FUSE server runs only in short bursts (SIGSTOP/SIGCONT):
    a slow stick, so the pull lands in the middle of a file however fast the page cache would serve it.
    Then the FUSE server dies and the partition goes away (udev 'remove'), as when a real stick is pulled.
    """
    stick = _stick(tmp_path, "midfile", media_cache, count=2, seconds=300.0, fmt="wav", size_mb=160)  # 53 MB each
    pulled = threading.Event()
    partial_sizes: list[int] = []

    def crawl_then_pull(process: subprocess.Popen[bytes]) -> None:
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not partial_sizes:
                os.kill(process.pid, signal.SIGCONT)
                time.sleep(0.0005)
                os.kill(process.pid, signal.SIGSTOP)
                for part in rig.music.rglob("*.part") if rig.music.exists() else []:
                    with contextlib.suppress(OSError):
                        if part.stat().st_size > 0:
                            partial_sizes.append(part.stat().st_size)
                time.sleep(0.002)
        finally:
            process.kill()  # the stick is gone: its reads fail from here on
            process.wait()
            stick.pull()
            pulled.set()

    def on_copy_start(event: ImportState) -> None:
        if event.state == "copying" and not getattr(on_copy_start, "armed", False):
            on_copy_start.armed = True  # type: ignore[attr-defined]
            process = rig.mounter.processes[stick.partition_name]
            os.kill(process.pid, signal.SIGSTOP)  # before this handler returns and the first read starts
            threading.Thread(target=crawl_then_pull, args=(process,), daemon=True).start()

    rig.bus.subscribe(ImportState, on_copy_start)
    rig.service.start()
    _plug(rig, stick, loop_sticks)
    name = stick.partition_name
    # Generous: before the copy, the import hashes both files (they share a size) through FUSE while the tag
    # workers read them too, which a loaded machine makes slow.
    wait_for(lambda: {"removed", "safe-to-remove"} & set(rig.states(name)), "the removal", timeout=240)
    complete = rig.bus.of_type(LibraryScanComplete)[-1]
    assert getattr(on_copy_start, "armed", False), f"no copy ever started: {complete}"
    wait_for(pulled.is_set, "the pull")
    assert partial_sizes and partial_sizes[0] < (tmp_path / "midfile0.wav").stat().st_size, partial_sizes
    wait_for(lambda: "removed" in rig.states(name), "the removal")
    complete = rig.bus.of_type(LibraryScanComplete)[-1]
    assert (complete.status, complete.added) == ("aborted", 0), complete
    assert rig.bus.of_type(ImportState)[-1].state == "aborted"
    assert "safe-to-remove" not in rig.states(name)
    assert not [p for p in rig.music.rglob("*") if p.is_file()]  # no half copy, no temp file
    assert rig.store.count_tracks() == 0
    assert not os.path.ismount(rig.mount_root / name)
    # The next stick imports as if nothing happened.
    second = _stick(tmp_path, "after", media_cache, count=2)
    _plug(rig, second, loop_sticks)
    wait_for(lambda: "safe-to-remove" in rig.states(second.partition_name), "the next stick")
    assert rig.bus.of_type(LibraryScanComplete)[-1].status == "completed"
    tracks = rig.store.list_tracks()
    assert sorted(t.title for t in tracks) == ["after 0", "after 1"]
    assert sorted(Path(t.path) for t in tracks) == sorted(p for p in rig.music.rglob("*") if p.is_file())
    for track in tracks:
        assert hashlib.sha256(Path(track.path).read_bytes()).hexdigest()[:32] == track.content_hash
