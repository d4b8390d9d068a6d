"""The worker pool: a file that hangs, kills or starves its worker costs that file only.

mutagen has no known hang to reproduce on demand, so the misbehaviour comes from a reader function
defined here (a real function run in the real worker processes): it hangs, exits the process or
allocates without bound for marked file names and reads everything else with the real ``read_track``.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path

import pytest

from kiosk.core.models import TrackInfo
from kiosk.core.ports.usb import TagRequest
from kiosk.library.tags import ProcessTagReader, read_track
from tests.media import ffmpeg_available, make_tone

pytestmark = pytest.mark.skipif(not ffmpeg_available(), reason="ffmpeg is needed to make audio files")


def misbehaving_reader(request: TagRequest, covers_dir: str | None) -> TrackInfo:
    name = os.path.basename(request.path)
    if name.startswith("deaf-hang"):  # stuck where no signal reaches it, like a loop inside C code
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        time.sleep(3600)
    if name.startswith("hang"):
        time.sleep(3600)
    if name.startswith("crash"):
        os._exit(3)
    if name.startswith("hog"):
        hoard = []
        while True:
            hoard.append(bytearray(64 * 1024 * 1024))
    return read_track(request, covers_dir)


def _requests(paths: list[Path]) -> list[TagRequest]:
    return [TagRequest(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in paths]


def test_hang_crash_and_memory_blowup_cost_one_file_each(tmp_path: Path, media_cache: Path) -> None:
    good = [make_tone(tmp_path / f"good{i}.mp3", "mp3", freq=300 + i, cache_dir=media_cache) for i in range(30)]
    bad = []
    for name in ("hang.mp3", "deaf-hang.mp3", "crash.mp3", "hog.mp3"):
        (tmp_path / name).write_bytes(good[0].read_bytes())
        bad.append(tmp_path / name)
    files = good[:10] + bad + good[10:]
    reader = ProcessTagReader(
        workers=2, seconds_per_file=1.5, memory_limit=512 * 1024 * 1024, chunk_files=8,
        read_function=misbehaving_reader,
    )
    try:
        results = {r.path: r for r in reader.read(_requests(files))}
        assert set(results) == {str(p) for p in files}  # one result per file, none lost
        for path in good:
            assert results[str(path)].info is not None, results[str(path)].error
        assert results[str(tmp_path / "hang.mp3")].error == "tag reading timed out"
        assert results[str(tmp_path / "deaf-hang.mp3")].error == "tag reading timed out"  # the chunk's limit
        assert "crashed" in (results[str(tmp_path / "crash.mp3")].error or "")
        assert results[str(tmp_path / "hog.mp3")].error == "tag parser ran out of memory"
        # The pool replaced its workers and goes on working.
        again = list(reader.read(_requests(good[:4])))
        assert sorted(r.path for r in again if r.info) == sorted(str(p) for p in good[:4])
    finally:
        reader.close()


def test_a_hang_the_alarm_reaches_costs_only_that_file(
    tmp_path: Path, media_cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A parser stuck in Python code is stopped by its own file's alarm: the worker lives on, and the other
    files of its task are read in that same task, not retried one by one after the task's time limit."""
    good = [make_tone(tmp_path / f"good{i}.ogg", "ogg", freq=300 + i, cache_dir=media_cache) for i in range(12)]
    (tmp_path / "hang.ogg").write_bytes(good[0].read_bytes())
    files = [*good[:6], tmp_path / "hang.ogg", *good[6:]]
    reader = ProcessTagReader(workers=1, seconds_per_file=1.0, chunk_files=64, read_function=misbehaving_reader)
    try:
        list(reader.read(_requests(good[:1])))
        workers = _worker_pids(reader)
        with caplog.at_level(logging.INFO, logger="kiosk.library.tags"):
            results = {r.path: r for r in reader.read(_requests(files))}
        assert results[str(tmp_path / "hang.ogg")].error == "tag reading timed out"
        assert all(results[str(p)].info is not None for p in good)
        assert _worker_pids(reader) == workers, "the worker was killed: the task's limit ran out, not the file's"
        assert not [r for r in caplog.records if "retrying them one by one" in r.getMessage()]
    finally:
        reader.close()


def test_a_cancelled_read_stops_early(tmp_path: Path, media_cache: Path) -> None:
    files = [make_tone(tmp_path / f"s{i}.flac", "flac", freq=200 + i, cache_dir=media_cache) for i in range(40)]
    reader = ProcessTagReader(workers=2, chunk_files=1)
    seen = 0

    def cancelled() -> bool:
        return seen >= 3

    try:
        for _ in reader.read(_requests(files), cancelled):
            seen += 1
        assert 3 <= seen < 40
    finally:
        reader.close()


def test_no_requests_start_no_processes() -> None:
    reader = ProcessTagReader()
    assert list(reader.read([])) == []
    assert reader._pool is None
    reader.close()


def _worker_pids(reader: ProcessTagReader) -> set[int]:
    pool = reader._pool
    assert pool is not None
    return {w.pid for w in pool._pool_manager.worker_manager.workers.values() if w.pid is not None}


def test_prepare_starts_the_workers_before_the_first_read(tmp_path: Path, media_cache: Path) -> None:
    """``prepare`` returns at once; the workers it starts are the ones that then read, and close ends them."""
    files = [make_tone(tmp_path / f"p{i}.ogg", "ogg", freq=500 + i, cache_dir=media_cache) for i in range(6)]
    reader = ProcessTagReader(workers=2)
    try:
        reader.prepare()
        reader.prepare()  # a second call changes nothing
        deadline = time.monotonic() + 60
        while reader._pool is None or len(reader._pool._pool_manager.worker_manager.workers) < 2:
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.05)
        started = _worker_pids(reader)
        results = list(reader.read(_requests(files)))
        assert sorted(r.path for r in results if r.info) == sorted(str(p) for p in files)
        assert _worker_pids(reader) == started
    finally:
        reader.close()
    for pid in started:
        assert not os.path.exists(f"/proc/{pid}") or "zombie" in Path(f"/proc/{pid}/status").read_text()


def test_prepare_after_the_workers_were_killed_starts_new_ones(tmp_path: Path) -> None:
    """A stick pulled mid-import kills the workers; the next stick's ``prepare`` must start them again
    (the earlier start's finished thread must not count as a start under way)."""
    reader = ProcessTagReader(workers=1)
    try:
        reader.prepare()
        deadline = time.monotonic() + 60
        while reader._pool is None or not _worker_pids(reader):
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.05)
        killed = _worker_pids(reader)
        reader._stop_workers()  # what a copy left early does
        assert reader._pool is None
        reader.prepare()
        while reader._pool is None or not _worker_pids(reader):
            assert time.monotonic() < deadline, "prepare did not start new workers"
            time.sleep(0.05)
        assert _worker_pids(reader).isdisjoint(killed)
    finally:
        reader.close()


def test_close_right_after_prepare_leaves_no_pool(tmp_path: Path) -> None:
    reader = ProcessTagReader(workers=1)
    reader.prepare()
    reader.close()
    assert reader._pool is None


def reader_that_logs(request: TagRequest, covers_dir: str | None) -> TrackInfo:
    """Notes each file it reads in a log (in the folder handed in as ``covers_dir``), then reads it."""
    assert covers_dir is not None
    with open(os.path.join(covers_dir, "read.log"), "a") as log:
        log.write(os.path.basename(request.path) + "\n")
    return read_track(request, None)


def test_files_go_to_the_workers_only_as_their_results_are_taken(tmp_path: Path, media_cache: Path) -> None:
    """A taker slower than the workers (the importer naming its copies on a fast disk): at most
    ``max_files_in_flight`` files are read ahead of it, so finished results waiting in memory cannot grow
    with the stick's file count. Every file still gets its result."""
    files = [make_tone(tmp_path / f"s{i:02d}.ogg", "ogg", freq=200 + i, cache_dir=media_cache) for i in range(30)]
    log_dir = tmp_path / "log"
    log_dir.mkdir()
    reader = ProcessTagReader(
        log_dir, workers=2, chunk_files=1, max_files_in_flight=4, read_function=reader_that_logs
    )
    try:
        results = reader.read(_requests(files))
        first = next(results)
        time.sleep(1.0)  # long enough for two workers to read all 30 files, were they all handed out
        read_ahead = (log_dir / "read.log").read_text().split()
        assert len(read_ahead) <= 1 + 4, read_ahead  # the one taken, and the window's
        rest = list(results)
        assert sorted(r.path for r in [first, *rest] if r.info) == sorted(str(p) for p in files)
    finally:
        reader.close()
