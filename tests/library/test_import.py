"""Copy-import into the library folder: sanitised paths, duplicates, free space, a full disk, cancelling.

The "stick" here is a plain folder; tests/hw/test_usb_import.py does the same with a real FAT stick.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from kiosk.core.bus import RecordingBus
from kiosk.core.events import ImportState, LibraryScanComplete, LibraryScanProgress
from kiosk.core.models import TrackInfo
from kiosk.core.ports.usb import TagRequest
from kiosk.library.importer import StickImporter, plan_destination, safe_component
from kiosk.library.scanner import Scanner
from kiosk.library.store import SqlLibraryStore
from kiosk.library.tags import COPY_TIMED_OUT, ProcessTagReader, copy_and_read_track
from tests.conftest import skip_or_fail
from tests.media import ffmpeg_available, make_tone

pytestmark = pytest.mark.skipif(not ffmpeg_available(), reason="ffmpeg is needed to make audio files")


@pytest.fixture
def reader(tmp_path: Path) -> Iterator[ProcessTagReader]:
    r = ProcessTagReader(tmp_path / "covers", workers=2)
    yield r
    r.close()


@pytest.fixture
def store(tmp_path: Path, bus: RecordingBus) -> Iterator[SqlLibraryStore]:
    with SqlLibraryStore(tmp_path / "library.db", bus) as s:
        yield s


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:32]


def _tree_state(root: Path) -> dict[str, tuple[int, int, str]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns, _digest(p))
        for p in sorted(root.rglob("*")) if p.is_file()
    }


def _stick(root: Path, media_cache: Path, count: int = 4, seconds: float = 1.0) -> list[Path]:
    """A stick folder with tagged FLAC files spread over dir0 and dir1."""
    for folder in ("dir0", "dir1"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(count):
        tags = {"title": f"Track {i}", "artist": "Band", "album": "Live", "track": f"{i + 1}/{count}"}
        files.append(
            make_tone(root / f"dir{i % 2}" / f"f{i}.flac", "flac", seconds=seconds, freq=200 + 30 * i, tags=tags,
                      cache_dir=media_cache)
        )
    return files


def _assert_rows_point_at_whole_files(store: SqlLibraryStore, music: Path) -> None:
    for track in store.list_tracks(limit=1000):
        path = Path(track.path)
        assert path.is_file() and music in path.parents, track.path
        assert _digest(path) == track.content_hash, f"{track.path} is not the file that was scanned"
    assert not list(music.rglob("*.part")), "a temp file was left behind"


def test_import_copies_with_names_from_tags_and_leaves_the_stick_alone(
    tmp_path: Path, media_cache: Path, store: SqlLibraryStore, bus: RecordingBus, reader: ProcessTagReader
) -> None:
    stick, music = tmp_path / "stick", tmp_path / "music"
    sources = _stick(stick, media_cache)
    before = _tree_state(stick)
    result = StickImporter(store, bus, reader, music).import_from(stick)
    assert (result.status, result.added, result.errors) == ("completed", 4, 0)
    paths = sorted(Path(t.path).relative_to(music).as_posix() for t in store.list_tracks(limit=100))
    assert paths == [f"Band/Live/0{i + 1} Track {i}.flac" for i in range(4)]
    assert sorted(t.source_path or "" for t in store.list_tracks(limit=100)) == sorted(
        str(p.relative_to(stick)) for p in sources
    )
    _assert_rows_point_at_whole_files(store, music)
    assert _tree_state(stick) == before  # nothing written to the stick
    states = bus.of_type(ImportState)
    assert states[0].state == "started" and states[-1].state == "completed"
    assert states[-1].files_done == states[-1].files_total == 4
    assert states[-1].bytes_done == states[-1].bytes_total == sum(p.stat().st_size for p in sources)


def test_a_second_import_of_the_same_music_skips_every_file(
    tmp_path: Path, media_cache: Path, store: SqlLibraryStore, bus: RecordingBus, reader: ProcessTagReader
) -> None:
    stick, music = tmp_path / "stick", tmp_path / "music"
    _stick(stick, media_cache)
    (stick / "copy-of-f0.flac").write_bytes((stick / "dir0" / "f0.flac").read_bytes())  # same content twice
    first = StickImporter(store, bus, reader, music).import_from(stick)
    assert (first.added, first.skipped) == (4, 1)
    # The repeat was found as it was copied (hashed while written): its copy is gone, and it came off the totals.
    _assert_rows_point_at_whole_files(store, music)
    assert len([p for p in music.rglob("*") if p.is_file()]) == 4
    states = bus.of_type(ImportState)
    assert (states[0].files_total, states[-1].files_done, states[-1].files_total) == (5, 4, 4)
    library_folder_before = music.stat().st_mtime_ns
    second = StickImporter(store, bus, reader, music).import_from(stick)
    assert (second.status, second.added, second.skipped) == ("completed", 0, 5)
    assert store.count_tracks() == 4
    # Every file has the size of a library file, so none was handed to the copies during the walk: not one
    # temp copy was made (making and removing one would have changed the library folder).
    assert music.stat().st_mtime_ns == library_folder_before


def test_music_already_scanned_in_place_is_not_imported_again(
    tmp_path: Path, media_cache: Path, store: SqlLibraryStore, bus: RecordingBus, reader: ProcessTagReader
) -> None:
    """A scan in place makes no content hash; an import that meets a file of the same size hashes the
    library's file then, skips the twin on the stick, and keeps the hash it made."""
    folder, stick, music = tmp_path / "folder", tmp_path / "stick", tmp_path / "music"
    in_place = _stick(folder, media_cache, count=2)
    Scanner(store, bus, reader).scan(folder)
    assert {t.content_hash for t in store.list_tracks(limit=10)} == {""}
    shutil.copytree(folder, stick)  # the same two songs, byte for byte
    make_tone(stick / "new.flac", "flac", freq=900, tags={"title": "New"}, cache_dir=media_cache)
    result = StickImporter(store, bus, reader, music).import_from(stick)
    assert (result.status, result.added, result.skipped, result.errors) == ("completed", 1, 2, 0)
    hashes = {t.path: t.content_hash for t in store.list_tracks(limit=10)}
    assert [hashes[str(p)] for p in in_place] == [_digest(p) for p in in_place]


def test_a_stick_file_of_the_same_size_but_other_content_is_imported(
    tmp_path: Path, media_cache: Path, store: SqlLibraryStore, bus: RecordingBus, reader: ProcessTagReader
) -> None:
    """The same size is only a reason to compare hashes: one byte of audio different is another song."""
    first, second, music = tmp_path / "first", tmp_path / "second", tmp_path / "music"
    source = _stick(first, media_cache, count=1)[0]
    StickImporter(store, bus, reader, music).import_from(first)
    twin = second / "dir0" / "f0.flac"
    twin.parent.mkdir(parents=True)
    data = bytearray(source.read_bytes())
    data[-1] ^= 0xFF  # the last byte of the last audio frame
    twin.write_bytes(data)
    result = StickImporter(store, bus, reader, music).import_from(second)
    assert (result.status, result.added, result.skipped) == ("completed", 1, 0)
    assert store.count_tracks() == 2
    _assert_rows_point_at_whole_files(store, music)


def test_paths_from_hostile_tags_stay_inside_the_library() -> None:
    from kiosk.core.models import TrackInfo

    music = Path("/lib/music")
    taken: set[str] = set()
    evil = TrackInfo(path="/s/x.MP3", title="../../etc/passwd", artist="..", album="a/b\\c:d\x00e\x1b", track_number=1)
    dest = Path(plan_destination(evil, music, taken))
    assert dest.parent.parent.parent == music
    assert [p for p in dest.relative_to(music).parts] == ["Unknown artist", "a_b_c_d e", "01 .._.._etc_passwd.mp3"]
    long = TrackInfo(path="/s/y.flac", title="é" * 1000, artist="x" * 1000)
    dest = Path(plan_destination(long, music, taken))
    assert all(len(part.encode()) <= 130 for part in dest.relative_to(music).parts)
    twin = Path(plan_destination(evil, music, taken))
    assert twin.name == "01 .._.._etc_passwd (2).mp3"
    assert safe_component("...", "fallback") == "fallback"
    assert safe_component(" .hidden", "f") == "hidden"


def test_non_utf8_names_on_the_stick_import_under_their_tag_names(
    tmp_path: Path, media_cache: Path, store: SqlLibraryStore, bus: RecordingBus, reader: ProcessTagReader
) -> None:
    stick, music = tmp_path / "stick", tmp_path / "music"
    stick.mkdir()
    good = make_tone(tmp_path / "g.flac", "flac", tags={"title": "Café", "artist": "A"}, cache_dir=media_cache)
    os.rename(good, os.fsencode(stick) + b"/caf\xe9.flac")  # a Latin-1 name, as old Windows sticks have
    result = StickImporter(store, bus, reader, music).import_from(stick)
    assert (result.added, result.errors) == (1, 0)
    (track,) = store.list_tracks()
    assert Path(track.path).name == "Café.flac"
    assert track.source_path == "caf\ufffd.flac"


def test_not_enough_space_stops_before_copying(
    tmp_path: Path, media_cache: Path, store: SqlLibraryStore, bus: RecordingBus, reader: ProcessTagReader
) -> None:
    stick = tmp_path / "stick"
    _stick(stick, media_cache)
    result = StickImporter(store, bus, reader, tmp_path / "music", reserve_bytes=10**15).import_from(stick)
    assert result.status == "failed" and result.added == 0
    assert "not enough space" in result.error_reasons[0]
    assert bus.of_type(ImportState)[-1].state == "failed"
    assert not (tmp_path / "music").exists() and store.count_tracks() == 0


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 3 MB tmpfs: a real disk that really fills up."""
    if os.geteuid() != 0:
        skip_or_fail("mounting a small tmpfs needs root")
    target = tmp_path / "small"
    target.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(target)], check=True)
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False)


def test_a_stick_that_fits_only_without_its_repeats_is_imported(
    tmp_path: Path, media_cache: Path, store: SqlLibraryStore, bus: RecordingBus, reader: ProcessTagReader,
    small_disk: Path,
) -> None:
    """Tried: the same 1.6 MB song twice on a stick, a 3 MB library disk. Both copies would not fit; the song
    once does, so the repeats are hashed before the copy and the song is imported once, never refused."""
    stick = tmp_path / "stick"
    stick.mkdir()
    song = make_tone(stick / "a.wav", "wav", seconds=9.0, tags={"title": "Twice"}, cache_dir=media_cache)
    shutil.copyfile(song, stick / "b.wav")
    music = small_disk / "music"
    assert 2 * song.stat().st_size > shutil.disk_usage(small_disk).free > song.stat().st_size
    importer = StickImporter(store, bus, reader, music, reserve_bytes=0)
    result = importer.import_from(stick)
    assert (result.status, result.added, result.skipped, result.errors) == ("completed", 1, 1, 0)
    assert importer.last_timings.hashed_first == 2
    (track,) = store.list_tracks()
    assert track.source_path == "a.wav"
    _assert_rows_point_at_whole_files(store, music)


def grow_then_copy(request: TagRequest, covers_dir: str | None, copy_to: str) -> TrackInfo:
    """The stick file grows between the inventory and its copy (something still writing to it)."""
    with open(request.path, "ab") as f:
        f.write(b"\0" * 10)
    return copy_and_read_track(request, covers_dir, copy_to)


def change_then_copy(request: TagRequest, covers_dir: str | None, copy_to: str) -> TrackInfo:
    """One byte of the stick file changes (the size stays) between its hash before the copy and the copy."""
    data = bytearray(Path(request.path).read_bytes())
    data[-1] ^= 0xFF
    Path(request.path).write_bytes(data)
    return copy_and_read_track(request, covers_dir, copy_to)


@pytest.mark.parametrize("seconds", [1.0, 20.0], ids=["read-whole", "copied-in-chunks"])
def test_a_file_that_grew_after_the_inventory_is_not_imported(
    tmp_path: Path, media_cache: Path, store: SqlLibraryStore, bus: RecordingBus, seconds: float
) -> None:
    """Tried: a stick file longer at its copy than the inventory saw (a small FLAC read whole; a 3.5 MB WAV
    copied in chunks). Must survive: nothing of it in the library (no row, no file, no temp copy), its reason
    in the result, and the stick untouched otherwise."""
    stick, music = tmp_path / "stick", tmp_path / "music"
    stick.mkdir()
    make_tone(stick / "s.wav", "wav", seconds=seconds, tags={"title": "Grows"}, cache_dir=media_cache)
    reader = ProcessTagReader(tmp_path / "covers", workers=1, copy_function=grow_then_copy)
    try:
        result = StickImporter(store, bus, reader, music).import_from(stick)
    finally:
        reader.close()
    assert (result.status, result.added, result.errors) == ("completed", 0, 1)
    assert result.error_reasons == ("s.wav: the file changed between scan and copy",)
    assert store.count_tracks() == 0 and not [p for p in music.rglob("*") if p.is_file()]


def test_a_file_that_changed_after_its_hash_was_made_is_not_imported(
    tmp_path: Path, media_cache: Path, store: SqlLibraryStore, bus: RecordingBus, reader: ProcessTagReader
) -> None:
    """Tried: a stick file of the size of a library file (so hashed before the copy, and not a duplicate) whose
    last byte changes before its copy. Must survive: the library as it was, the file refused with its reason,
    no temp copy."""
    first, second, music = tmp_path / "first", tmp_path / "second", tmp_path / "music"
    source = _stick(first, media_cache, count=1)[0]
    StickImporter(store, bus, reader, music).import_from(first)
    twin = second / "f0.flac"
    twin.parent.mkdir(parents=True)
    data = bytearray(source.read_bytes())
    data[-2] ^= 0xFF
    twin.write_bytes(data)
    changing = ProcessTagReader(tmp_path / "covers", workers=1, copy_function=change_then_copy)
    try:
        result = StickImporter(store, bus, changing, music).import_from(second)
    finally:
        changing.close()
    assert (result.status, result.added, result.errors) == ("completed", 0, 1)
    assert result.error_reasons == ("f0.flac: the file changed between scan and copy",)
    assert store.count_tracks() == 1
    _assert_rows_point_at_whole_files(store, music)
    assert len([p for p in music.rglob("*") if p.is_file()]) == 1


def test_import_events_end_with_scan_complete(
    tmp_path: Path, media_cache: Path, store: SqlLibraryStore, bus: RecordingBus, reader: ProcessTagReader
) -> None:
    stick = tmp_path / "stick"
    _stick(stick, media_cache, count=2)
    StickImporter(store, bus, reader, tmp_path / "music").import_from(stick)
    assert isinstance(bus.events[-1], LibraryScanComplete)


def test_every_change_of_import_state_is_published_however_quick(
    tmp_path: Path, media_cache: Path, store: SqlLibraryStore, bus: RecordingBus, reader: ProcessTagReader
) -> None:
    """A clock that never moves holds all progress back, yet started, copying and completed each go out."""
    stick = tmp_path / "stick"
    _stick(stick, media_cache, count=4)
    importer = StickImporter(store, bus, reader, tmp_path / "music", progress_interval=10.0, clock=lambda: 0.0)
    assert importer.import_from(stick).added == 4
    states = [(e.state, e.files_done) for e in bus.of_type(ImportState)]
    assert states == [("started", 0), ("copying", 0), ("completed", 4)]  # "copying" as the first file starts


def test_small_batches_settle_while_the_next_copies_and_every_row_is_a_whole_file(
    tmp_path: Path, media_cache: Path, store: SqlLibraryStore, bus: RecordingBus, reader: ProcessTagReader
) -> None:
    """Seven files in batches of two: four batches synced and committed on the settling thread, none lost."""
    stick, music = tmp_path / "stick", tmp_path / "music"
    sources = _stick(stick, media_cache, count=7)
    result = StickImporter(store, bus, reader, music, batch_size=2).import_from(stick)
    assert (result.status, result.added, result.errors) == ("completed", 7, 0)
    assert store.count_tracks() == 7
    assert sorted(t.source_path or "" for t in store.list_tracks(limit=100)) == sorted(
        str(p.relative_to(stick)) for p in sources
    )
    _assert_rows_point_at_whole_files(store, music)
    assert isinstance(bus.events[-1], LibraryScanComplete)  # after every batch's library:updated


def test_a_stop_between_batches_keeps_the_settled_rows_and_leaves_nothing_half_done(
    tmp_path: Path, media_cache: Path, store: SqlLibraryStore, bus: RecordingBus, reader: ProcessTagReader
) -> None:
    """Stopped while a batch settles on its thread and the next is copying: whole copies get rows, no temp files."""
    stick, music = tmp_path / "stick", tmp_path / "music"
    _stick(stick, media_cache, count=8)
    cancel = threading.Event()

    def stop_after_five(event: ImportState) -> None:
        if event.state == "copying" and event.files_done >= 5:
            cancel.set()

    bus.subscribe(ImportState, stop_after_five)
    result = StickImporter(store, bus, reader, music, batch_size=2, progress_interval=0).import_from(
        stick, cancel=cancel
    )
    assert result.status == "aborted"
    assert result.added == store.count_tracks() == 5  # two settled batches, and the whole copy made before the stop
    _assert_rows_point_at_whole_files(store, music)
    assert len([p for p in music.rglob("*") if p.is_file()]) == 5, "a file without a row was left in the library"


# Copy functions for the tests below: the real ``copy_and_read_track``, run by a real ProcessTagReader in its
# worker processes, one file per task (chunk_files=1) so that a file that waits holds up no other file's result.
# The stick is tmp_path/"stick" and the library tmp_path/"music", so a worker finds the library from the path.


def _library_of(request: TagRequest) -> Path:
    return next(p for p in Path(request.path).parents if p.name == "stick").parent / "music"


def copy_last_after_the_others_are_in_place(request: TagRequest, covers_dir: str | None, copy_to: str) -> TrackInfo:
    """Copies ``zz-last.flac`` only once the four songs before it are renamed into the library (or a minute has
    passed), and puts in its title how many it found: batches settle while later files are still copied."""
    if os.path.basename(request.path) != "zz-last.flac":
        return copy_and_read_track(request, covers_dir, copy_to)
    music, in_place = _library_of(request), 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        in_place = len([p for p in music.rglob("*.flac") if p.is_file()]) if music.is_dir() else 0
        if in_place >= 4:
            break
        time.sleep(0.05)
    info = copy_and_read_track(request, covers_dir, copy_to)
    return replace(info, title=f"copied with {in_place} songs in place")


def copy_first_slowly(request: TagRequest, covers_dir: str | None, copy_to: str) -> TrackInfo:
    """The first file in path order answers a second late, so its result comes after the second file's."""
    if os.path.basename(request.path) == "a.flac":
        time.sleep(1.0)
    return copy_and_read_track(request, covers_dir, copy_to)


def copy_slow_one_after_a_minute(request: TagRequest, covers_dir: str | None, copy_to: str) -> TrackInfo:
    """``zz-slow.flac``'s worker writes its pid beside the temp file's name, waits a minute, then copies."""
    if os.path.basename(request.path) == "zz-slow.flac":
        Path(copy_to + ".worker").write_text(str(os.getpid()))
        time.sleep(60)
    return copy_and_read_track(request, covers_dir, copy_to)


def copy_hanging_on_one(request: TagRequest, covers_dir: str | None, copy_to: str) -> TrackInfo:
    """``f1.flac``'s copy never finishes: a stick that stopped answering in the middle of a file."""
    if os.path.basename(request.path) == "f1.flac":
        time.sleep(3600)
    return copy_and_read_track(request, covers_dir, copy_to)


def test_a_copy_that_runs_out_of_time_costs_that_file_and_says_it_was_the_copy(
    tmp_path: Path, media_cache: Path, store: SqlLibraryStore, bus: RecordingBus
) -> None:
    """Tried: one file's copy hangs (the worker's alarm ends it after its allowance). Must survive: the other
    songs are imported, the hung one is an error whose reason names the copy (not the tag reader), and no
    temp copy is left."""
    stick, music = tmp_path / "stick", tmp_path / "music"
    _stick(stick, media_cache)
    reader = ProcessTagReader(tmp_path / "covers", workers=2, chunk_files=1, seconds_per_file=1.0,
                              copy_seconds_per_mb=0.1, copy_function=copy_hanging_on_one)
    try:
        result = StickImporter(store, bus, reader, music, progress_interval=0).import_from(stick)
    finally:
        reader.close()
    assert (result.status, result.added, result.errors) == ("completed", 3, 1)
    assert any(r.endswith(f"f1.flac: {COPY_TIMED_OUT}") for r in result.error_reasons), result.error_reasons
    assert store.count_tracks() == 3
    assert not list(music.rglob("*.part"))
    _assert_rows_point_at_whole_files(store, music)


def fill_the_disk_before_the_third_file(request: TagRequest, covers_dir: str | None, copy_to: str) -> TrackInfo:
    """Before ``f2.flac`` is copied, something else takes all the space left on the library disk."""
    if os.path.basename(request.path) == "f2.flac":
        with open(Path(copy_to).parent.parent / "filler", "ab") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
    return copy_and_read_track(request, covers_dir, copy_to)


@pytest.mark.parametrize("batch_size", [100, 1], ids=["one-batch", "a-batch-per-file-settling-while-copying"])
def test_a_disk_that_fills_up_mid_import_stops_cleanly(
    tmp_path: Path, media_cache: Path, store: SqlLibraryStore, bus: RecordingBus, small_disk: Path, batch_size: int,
) -> None:
    """Tried: free space looked fine, then something else filled the library disk just before the third file's
    copy (from inside the worker that copies it). Must survive: the import stops as failed with the reason,
    every row points at a whole file, no temp copy is left; with one file per batch, a batch may still be
    syncing on the settling thread when the disk fills."""
    stick = tmp_path / "stick"
    _stick(stick, media_cache, count=6, seconds=3.0)  # about 6 x 300 kB; dir0 holds f0, f2, f4
    music = small_disk / "music"
    reader = ProcessTagReader(tmp_path / "covers", workers=2, chunk_files=1,
                              copy_function=fill_the_disk_before_the_third_file)
    try:
        result = StickImporter(
            store, bus, reader, music, reserve_bytes=0, progress_interval=0, batch_size=batch_size
        ).import_from(stick)
    finally:
        reader.close()
    assert (small_disk / "filler").stat().st_size > 0, "the disk was never filled"
    assert result.status == "failed"
    assert any("full" in r for r in result.error_reasons)
    assert 1 <= store.count_tracks() < 6  # dir0/f0.flac, copied before the disk filled, is kept
    _assert_rows_point_at_whole_files(store, music)
    assert bus.of_type(ImportState)[-1].state == "failed"


def test_batches_settle_while_later_files_are_still_being_copied(
    tmp_path: Path, media_cache: Path, store: SqlLibraryStore, bus: RecordingBus
) -> None:
    """The last file is copied only once the four files before it are in the library: if nothing settled
    before every copy was done, that copy would wait a minute in vain and its title would say so."""
    stick, music = tmp_path / "stick", tmp_path / "music"
    sources = _stick(stick, media_cache)
    tags = {"title": "Last", "artist": "Band", "album": "Live"}
    last = make_tone(stick / "zz-last.flac", "flac", freq=900, tags=tags, cache_dir=media_cache)
    reader = ProcessTagReader(tmp_path / "covers", workers=2, seconds_per_file=120, chunk_files=1,
                              copy_function=copy_last_after_the_others_are_in_place)
    try:
        result = StickImporter(store, bus, reader, music, batch_size=1).import_from(stick)
    finally:
        reader.close()
    assert (result.status, result.added, result.errors) == ("completed", 5, 0)
    titles = {t.source_path or "": t.title for t in store.list_tracks(limit=10)}
    assert titles["zz-last.flac"] == "copied with 4 songs in place"
    assert sorted(titles) == sorted(str(p.relative_to(stick)) for p in [*sources, last])
    _assert_rows_point_at_whole_files(store, music)


def test_names_follow_path_order_whatever_order_the_copies_finish_in(
    tmp_path: Path, media_cache: Path, store: SqlLibraryStore, bus: RecordingBus
) -> None:
    """Two different songs with the same tags: the first in path order gets the plain name even though its
    copy and tags arrive a second after the other's."""
    stick, music = tmp_path / "stick", tmp_path / "music"
    same = {"title": "Same", "artist": "Band", "album": "Live"}
    (stick / "dir0").mkdir(parents=True)
    (stick / "dir1").mkdir()
    make_tone(stick / "dir0" / "a.flac", "flac", freq=300, tags=same, cache_dir=media_cache)
    make_tone(stick / "dir1" / "b.flac", "flac", freq=600, tags=same, cache_dir=media_cache)
    reader = ProcessTagReader(tmp_path / "covers", workers=2, chunk_files=1, copy_function=copy_first_slowly)
    try:
        result = StickImporter(store, bus, reader, music).import_from(stick)
    finally:
        reader.close()
    assert (result.status, result.added) == ("completed", 2)
    names = {t.source_path: Path(t.path).name for t in store.list_tracks(limit=10)}
    assert names == {"dir0/a.flac": "Same.flac", "dir1/b.flac": "Same (2).flac"}


def test_a_file_whose_tags_fail_leaves_no_copy_and_no_row_while_the_others_import(
    tmp_path: Path, media_cache: Path, store: SqlLibraryStore, bus: RecordingBus, reader: ProcessTagReader
) -> None:
    """Tried: a stick with four songs and a ``.flac`` that is not audio at all, copied before its tags are
    read. Must survive: the four songs (files and rows); the broken file is an error with its reason, its
    temp copy is gone, and it comes off the import's totals so the progress ends full."""
    stick, music = tmp_path / "stick", tmp_path / "music"
    sources = _stick(stick, media_cache)
    broken = stick / "dir0" / "broken.flac"
    broken.write_bytes(os.urandom(50_000))  # a size no other file has: copied without a hash made first
    result = StickImporter(store, bus, reader, music).import_from(stick)
    assert (result.status, result.added, result.errors) == ("completed", 4, 1)
    assert result.error_reasons[0].startswith("dir0/broken.flac: ")
    assert sorted(t.source_path or "" for t in store.list_tracks(limit=10)) == sorted(
        str(p.relative_to(stick)) for p in sources
    )
    _assert_rows_point_at_whole_files(store, music)
    assert len([p for p in music.rglob("*") if p.is_file()]) == 4
    final = bus.of_type(ImportState)[-1]
    good_bytes = sum(p.stat().st_size for p in sources)
    assert (final.state, final.files_done, final.files_total, final.bytes_done, final.bytes_total) == (
        "completed", 4, 4, good_bytes, good_bytes
    )
    assert bus.of_type(ImportState)[0].files_total == 5  # before its tags failed, it was to be imported


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1].startswith("Z")  # killed, not yet reaped


def test_a_stop_while_a_worker_is_busy_ends_at_once_and_kills_the_worker(
    tmp_path: Path, media_cache: Path, store: SqlLibraryStore, bus: RecordingBus
) -> None:
    """Tried: the last file's worker takes a minute before its copy; the job is stopped then. Must survive: the
    job ends without waiting for it, and the worker is killed, so it can never write a temp copy into the
    library after the job has cleaned up; the songs before it are kept, and the reader imports again after."""
    stick, music = tmp_path / "stick", tmp_path / "music"
    _stick(stick, media_cache)
    make_tone(stick / "zz-slow.flac", "flac", freq=900, tags={"title": "Slow"}, cache_dir=media_cache)
    reader = ProcessTagReader(tmp_path / "covers", workers=2, seconds_per_file=120, chunk_files=1,
                              copy_function=copy_slow_one_after_a_minute)
    cancel = threading.Event()
    results: list[LibraryScanComplete] = []
    importer = StickImporter(store, bus, reader, music, batch_size=1, progress_interval=0)
    job = threading.Thread(target=lambda: results.append(importer.import_from(stick, cancel=cancel)))
    try:
        job.start()
        deadline = time.monotonic() + 60
        while not (list(music.glob(".import-*.part.worker")) and store.count_tracks() == 4):
            assert time.monotonic() < deadline, "the four songs before the slow one never settled"
            time.sleep(0.05)
        (marker,) = music.glob(".import-*.part.worker")
        worker = int(marker.read_text())
        cancel.set()
        job.join(timeout=30)  # far less than the minute the worker would take
        assert not job.is_alive(), "the job waited for the slow worker after it was stopped"
        deadline = time.monotonic() + 10
        while not _process_gone(worker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _process_gone(worker), "the busy worker was left running after the stop"
    finally:
        cancel.set()
        job.join()
    try:
        assert (results[0].status, results[0].added) == ("aborted", 4)
        assert store.count_tracks() == 4
        _assert_rows_point_at_whole_files(store, music)
        marker.unlink()
        assert len([p for p in music.rglob("*") if p.is_file()]) == 4
        (stick / "zz-slow.flac").unlink()
        (stick / "new.flac").write_bytes((stick / "dir0" / "f0.flac").read_bytes()[:-1] + b"\1")
        again = StickImporter(store, bus, reader, music).import_from(stick)  # new workers: the old were killed
    finally:
        reader.close()
    assert (again.status, again.added, again.skipped) == ("completed", 1, 4)


def test_temp_copies_left_by_a_power_cut_are_removed_by_the_next_import(
    tmp_path: Path, media_cache: Path, store: SqlLibraryStore, bus: RecordingBus, reader: ProcessTagReader
) -> None:
    """Tried: temp copies of an import cut off by a power cut lie in the library folder. Must survive: the
    next import removes them and imports as usual; the library's songs (even one whose name ends in .part)
    are untouched."""
    stick, music = tmp_path / "stick", tmp_path / "music"
    _stick(stick, media_cache)
    music.mkdir()
    leftovers = [music / ".import-cut-0123456789abcdef.part", music / ".import-older-1.part"]
    for leftover in leftovers:
        leftover.write_bytes(b"half a song")
    kept = music / "Band" / "a song.part"
    kept.parent.mkdir()
    kept.write_bytes(b"not ours to remove")
    result = StickImporter(store, bus, reader, music).import_from(stick)
    assert (result.status, result.added) == ("completed", 4)
    assert not any(p.exists() for p in leftovers)
    assert kept.read_bytes() == b"not ours to remove"


def _stick_of_folders(root: Path, media_cache: Path, folders: int) -> None:
    """A stick with two tagged FLAC files in each of ``folders`` album folders."""
    for f in range(folders):
        (root / f"album{f}").mkdir(parents=True)
        for i in range(2):
            tags = {"title": f"Song {i}", "artist": "Band", "album": f"Album {f}", "track": str(i + 1)}
            make_tone(root / f"album{f}" / f"{i}.flac", "flac", seconds=0.5, freq=300 + 40 * f + 7 * i, tags=tags,
                      cache_dir=media_cache)


def test_copies_begin_during_the_walk_and_a_stop_then_leaves_nothing(
    tmp_path: Path, media_cache: Path, store: SqlLibraryStore, bus: RecordingBus, reader: ProcessTagReader
) -> None:
    """Tried: a stick of 6 album folders whose walk is held after its second folder until a temp copy shows
    up in the library folder, then the job is stopped. The copies must begin while the walk goes on (a walk
    on a stick is slow too); after the stop no temp copy, no row and no song remain, the stick is untouched,
    and the next import of the stick brings in all 12 songs."""
    stick, music = tmp_path / "stick", tmp_path / "music"
    _stick_of_folders(stick, media_cache, 6)
    before = _tree_state(stick)
    cancel = threading.Event()
    copy_seen_during_walk: list[bool] = []

    def hold_the_walk(event: LibraryScanProgress) -> None:
        if event.status == "inventory" and event.found >= 4 and not copy_seen_during_walk:
            deadline = time.monotonic() + 30
            while not list(music.glob(".import-*.part")) and time.monotonic() < deadline:
                time.sleep(0.01)
            copy_seen_during_walk.append(bool(list(music.glob(".import-*.part"))))
            cancel.set()

    holding = bus.subscribe(LibraryScanProgress, hold_the_walk)
    importer = StickImporter(store, bus, reader, music, progress_interval=0, walk_handover_files=1)
    result = importer.import_from(stick, cancel=cancel)
    assert copy_seen_during_walk == [True], "no copy began before the walk ended"
    assert (result.status, result.added) == ("aborted", 0)
    assert store.count_tracks() == 0
    assert not [p for p in music.rglob("*") if p.is_file()], "a temp copy or a song was left behind"
    assert _tree_state(stick) == before
    holding.cancel()
    again = StickImporter(store, bus, reader, music, walk_handover_files=1).import_from(stick)
    assert (again.status, again.added, again.errors) == ("completed", 12, 0)
    assert sorted(Path(t.path).relative_to(music).as_posix() for t in store.list_tracks(limit=100)) == sorted(
        f"Band/Album {f}/0{i + 1} Song {i}.flac" for f in range(6) for i in range(2)
    )
    _assert_rows_point_at_whole_files(store, music)
