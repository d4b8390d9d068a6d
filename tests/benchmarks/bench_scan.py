"""Scan speed on generated tagged files in mixed formats, with baselines from the same run.

``python -m tests.benchmarks.bench_scan [--files 10000]``

- initial scan (fresh database) files/s against a bare single-process ``mutagen.File`` loop, and against
  one such loop per core in parallel (the most the cores allow); once with the tag workers started by the
  scan (a folder scanned from the command line) and once with them started before it, as the stick service
  starts them while a stick mounts (the bare loop, too, has its parser imported before its clock starts);
- no-change rescan files/s;
- CPU time per file of the whole scan (scanning process, fork server, workers) against the bare loop's;
- peak memory of the scanning process and of its worker processes.

Every file is read once before the first round, so every measurement sees a warm page cache. Each of
``--repeat`` rounds measures everything back to back; the table shows the medians, and each ratio is
the median of the ratios taken within a round (the machine may be shared).

The files are a few real ffmpeg encodes per format, copied and re-tagged with mutagen (fast), and
cached under the temp folder between runs (bench_import copies the same tree). Each scan runs in a
fresh child process so its peak memory is its own.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import mutagen

from tests.processes import descendant_pids

if TYPE_CHECKING:
    from kiosk.library.tags import ProcessTagReader

SEED_FORMATS = ("mp3", "flac", "ogg", "opus", "m4a", "wma")
FILES_PER_FOLDER = 50


def _tag(path: Path, i: int) -> None:
    audio = mutagen.File(path)
    kind = type(audio).__name__
    title, artist, album = f"Song {i}", f"Artist {i // 500}", f"Album {i // FILES_PER_FOLDER}"
    track = str(i % FILES_PER_FOLDER + 1)
    if kind == "MP3":
        from mutagen.id3 import TALB, TIT2, TPE1, TRCK

        assert audio.tags is not None
        audio.tags.setall("TIT2", [TIT2(text=[title])])
        audio.tags.setall("TPE1", [TPE1(text=[artist])])
        audio.tags.setall("TALB", [TALB(text=[album])])
        audio.tags.setall("TRCK", [TRCK(text=[track])])
    elif kind == "MP4":
        audio["\xa9nam"], audio["\xa9ART"], audio["\xa9alb"] = [title], [artist], [album]
        audio["trkn"] = [(int(track), FILES_PER_FOLDER)]
    elif kind == "ASF":
        audio["Title"], audio["Author"], audio["WM/AlbumTitle"] = [title], [artist], [album]
        audio["WM/TrackNumber"] = [track]
    else:
        audio["title"], audio["artist"], audio["album"], audio["tracknumber"] = [title], [artist], [album], [track]
    audio.save()


def make_tree(count: int) -> Path:
    """``count`` tagged files, 50 per album folder, cached under the temp folder."""
    from tests.media import FORMATS, make_tone

    root = Path(tempfile.gettempdir()) / f"kiosk-bench-scan-{count}"
    done = root / ".complete"
    if done.exists():
        return root / "music"
    shutil.rmtree(root, ignore_errors=True)
    seeds_dir = root / "seeds"
    seeds_dir.mkdir(parents=True)
    seeds = []
    for n, fmt in enumerate(SEED_FORMATS):
        for k in range(2):
            seeds.append(make_tone(seeds_dir / f"{fmt}{k}{FORMATS[fmt][0]}", fmt, seconds=3.0, freq=220 + 40 * n + k))
    music = root / "music"
    started = time.perf_counter()
    for i in range(count):
        seed = seeds[i % len(seeds)]
        folder = music / f"Artist {i // 500:03d}" / f"Album {i // FILES_PER_FOLDER:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{i % FILES_PER_FOLDER + 1:02d} Song {i}{seed.suffix}"
        shutil.copyfile(seed, target)
        _tag(target, i)
    print(f"(generated {count} files in {time.perf_counter() - started:.1f} s, cached in {root})", file=sys.stderr)
    done.touch()
    return music


def _files(root: Path) -> list[str]:
    return sorted(str(p) for p in root.rglob("*") if p.is_file())


def _warm_page_cache(files: list[str]) -> None:
    """Reads every file once, so every measurement after it sees the same, warm page cache."""
    for path in files:
        with open(path, "rb") as f:
            while f.read(1 << 20):
                pass


def _bare_loop(files: list[str]) -> tuple[float, float]:
    """The baseline: ``mutagen.File`` on every file in this one process; (wall seconds, CPU seconds)."""
    started, cpu = time.perf_counter(), time.process_time()
    for path in files:
        mutagen.File(path)
    return time.perf_counter() - started, time.process_time() - cpu


def _bare_loop_part(files: list[str]) -> None:
    for path in files:
        mutagen.File(path)


def _parallel_bare_loops(files: list[str]) -> float:
    """What the cores allow: one bare loop per core over its share of the files, forked; wall seconds.

    Not the goal's baseline (that is one loop): it shows how far two busy cores of this machine are
    from twice one (shared caches, a shared host).
    """
    cores = os.cpu_count() or 1
    context = multiprocessing.get_context("fork")  # this process runs no threads here
    loops = [context.Process(target=_bare_loop_part, args=(files[i::cores],)) for i in range(cores)]
    started = time.perf_counter()
    for loop in loops:
        loop.start()
    for loop in loops:
        loop.join()
    return time.perf_counter() - started


def _descendants_cpu_and_peak() -> tuple[float, float]:
    """CPU seconds (user + system) and the largest peak RSS (MB) of this process's live descendants.

    Read once, when the scan is over and before the reader closes: the fork server and the tag workers
    are still up then (a worker is recycled only after 500 tasks, more than a 10,000-file scan gives it),
    and no sampling thread competes with the scan for the two cores.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    cpu_s, peak_kb = 0.0, 0
    for pid in descendant_pids():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        cpu_s += (int(fields[11]) + int(fields[12])) / ticks
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peak_kb = max(peak_kb, int(line.split()[1]))
    return cpu_s, peak_kb / 1024


def _same_work_loop(files: list[str]) -> tuple[float, float]:
    """What each worker does per file (read, tags, cleaning), in one process: (wall, CPU)."""
    from kiosk.core.ports.usb import TagRequest
    from kiosk.library.tags import read_track

    requests = [TagRequest(f, os.path.getsize(f), 0) for f in files]
    started, cpu = time.perf_counter(), time.process_time()
    for request in requests:
        read_track(request, None)
    return time.perf_counter() - started, time.process_time() - cpu


def _child(argv: list[str]) -> int:
    """In a fresh process: a scan into a fresh library, then a no-change rescan; prints timings and memory."""
    from kiosk.core.bus import EventBus
    from kiosk.library.scanner import Scanner
    from kiosk.library.store import SqlLibraryStore
    from kiosk.library.tags import ProcessTagReader

    root, work = Path(argv[0]), Path(argv[1])
    bus = EventBus()
    store = SqlLibraryStore(work / "library.db", bus)
    reader = ProcessTagReader(work / "covers")
    out: dict[str, float | int | str] = {}
    try:
        started, cpu = time.perf_counter(), time.process_time()
        first = Scanner(store, bus, reader).scan(root)
        out["scan_s"] = time.perf_counter() - started
        out["scan_cpu_s"] = time.process_time() - cpu
        out["workers_cpu_s"], out["rss_workers_mb"] = _descendants_cpu_and_peak()
        out["added"], out["errors"] = first.added, first.errors
        started = time.perf_counter()
        again = Scanner(store, bus, reader).scan(root)
        out["rescan_s"] = time.perf_counter() - started
        out["rescan_skipped"], out["rescan_added"] = again.skipped, again.added
    finally:
        reader.close()
        store.close()
    out["warm_scan_s"] = _scan_with_workers_started(root, work / "warm")
    out["rss_self_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(out))
    return 0


def start_workers(reader: ProcessTagReader, root: Path) -> float:
    """Starts the reader's workers as the stick service does when a stick is inserted (``prepare``) and waits
    for them by reading the first file under ``root``; the seconds that took."""
    from kiosk.core.ports.usb import TagRequest

    started = time.perf_counter()
    reader.prepare()
    first = next(p for p in root.rglob("*") if p.is_file())
    assert next(iter(reader.read([TagRequest(str(first), first.stat().st_size, 0)]))).info is not None
    return time.perf_counter() - started


def _scan_with_workers_started(root: Path, work: Path) -> float:
    """A scan into another fresh library, its tag workers started before the clock: the stick service
    starts them when a stick is inserted, so they come up while it mounts (here: waited for by reading
    one file). Wall seconds."""
    from kiosk.core.bus import EventBus
    from kiosk.library.scanner import Scanner
    from kiosk.library.store import SqlLibraryStore
    from kiosk.library.tags import ProcessTagReader

    work.mkdir()
    bus = EventBus()
    store = SqlLibraryStore(work / "library.db", bus)
    reader = ProcessTagReader(work / "covers")
    try:
        start_workers(reader, root)
        started = time.perf_counter()
        result = Scanner(store, bus, reader).scan(root)
        elapsed = time.perf_counter() - started
        assert result.added > 0 and result.errors == 0, result
        return elapsed
    finally:
        reader.close()
        store.close()


def run_child(
    module: str, root: Path, work: Path, preexec_fn: Callable[[], None] | None = None
) -> dict[str, float]:
    """Runs ``module --child ROOT WORK`` in a fresh process (its own peak memory) and reads its RESULT line;
    ``preexec_fn`` runs in that process first."""
    result = subprocess.run(
        [sys.executable, "-m", module, "--child", str(root), str(work)], capture_output=True, text=True, check=True,
        preexec_fn=preexec_fn,
    )
    line = next(ln for ln in result.stdout.splitlines() if ln.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


def _median(rounds: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in rounds)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench_scan")
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the table shows their medians")
    parser.add_argument("--child", nargs=2, default=None)
    args = parser.parse_args(argv)
    if args.child:
        return _child(args.child)
    music = make_tree(args.files)
    files = _files(music)
    n = len(files)
    size_mb = sum(os.path.getsize(f) for f in files) / 1e6
    _warm_page_cache(files)
    load_before = os.getloadavg()[0]
    # The machine may be shared: each round measures everything back to back, and each ratio is taken
    # within its round before the median is.
    rounds: list[dict[str, float]] = []
    for round_no in range(args.repeat):
        row: dict[str, float] = {}
        row["bare_s"], row["bare_cpu_s"] = _bare_loop(files)
        row["same_s"], row["same_cpu_s"] = _same_work_loop(files)
        row["parallel_bare_s"] = _parallel_bare_loops(files)
        with tempfile.TemporaryDirectory(prefix="bench-scan-") as tmp:
            row.update(run_child("tests.benchmarks.bench_scan", music, Path(tmp)))
        rounds.append(row)
        print(
            f"(round {round_no + 1} of {args.repeat}: scan {n / row['scan_s']:,.0f} files/s, "
            f"with workers started {n / row['warm_scan_s']:,.0f}, "
            f"bare loop {n / row['bare_s']:,.0f} files/s, {row['bare_s'] / row['scan_s']:.2f}x)",
            file=sys.stderr,
        )
    last = rounds[-1]
    print(f"{n} files, {size_mb:.0f} MB, formats {', '.join(SEED_FORMATS)}; {os.cpu_count()} cores")
    print(f"scan: {last['added']} added, {last['errors']} errors; rescan skipped {last['rescan_skipped']}")
    print(f"median of {len(rounds)} rounds; page cache warm for every measurement (all files read once first)")
    print(f"machine load (1-minute average) at the start and the end: {load_before:.1f}, {os.getloadavg()[0]:.1f}")
    print()

    def ratio(ours: str, baseline: str) -> float:
        return statistics.median(r[baseline] / r[ours] for r in rounds)

    def cpu_us(key: str) -> float:
        return _median(rounds, key) / n * 1e6

    for r in rounds:
        r["all_scan_cpu_s"] = r["scan_cpu_s"] + r["workers_cpu_s"]
    scan_s, bare_s, same_s = _median(rounds, "scan_s"), _median(rounds, "bare_s"), _median(rounds, "same_s")
    print("| measure | ours | baseline | ratio | goal |")
    print("|---|---:|---:|---:|---|")
    print(
        f"| initial scan, files/s, workers started by the scan (vs bare single-process mutagen.File loop) "
        f"| {n / scan_s:,.0f} | {n / bare_s:,.0f} | {ratio('scan_s', 'bare_s'):.2f}x | 1.5x |"
    )
    print(
        f"| initial scan, files/s, workers started as a stick is inserted (vs bare loop) "
        f"| {n / _median(rounds, 'warm_scan_s'):,.0f} | {n / bare_s:,.0f} "
        f"| {ratio('warm_scan_s', 'bare_s'):.2f}x | 1.5x |"
    )
    print(
        f"| initial scan, files/s (vs the same work, read_track, in one process) | {n / scan_s:,.0f} "
        f"| {n / same_s:,.0f} | {ratio('scan_s', 'same_s'):.2f}x | |"
    )
    print(
        f"| initial scan, files/s (vs one bare loop per core in parallel: what {os.cpu_count()} cores allow) "
        f"| {n / scan_s:,.0f} | {n / _median(rounds, 'parallel_bare_s'):,.0f} "
        f"| {ratio('scan_s', 'parallel_bare_s'):.2f}x | |"
    )
    print(
        f"| bare loops: one per core in parallel vs one (the most two cores gave here) "
        f"| {n / _median(rounds, 'parallel_bare_s'):,.0f} | {n / bare_s:,.0f} "
        f"| {ratio('parallel_bare_s', 'bare_s'):.2f}x | |"
    )
    print(
        f"| CPU per file, us: whole scan, all processes (vs bare loop; lower is better) "
        f"| {cpu_us('all_scan_cpu_s'):,.0f} | {cpu_us('bare_cpu_s'):,.0f} "
        f"| {ratio('bare_cpu_s', 'all_scan_cpu_s'):.2f}x | |"
    )
    print(f"| CPU per file, us: of which the scanning process (walk, rows) | {cpu_us('scan_cpu_s'):,.0f} | | | |")
    print(f"| CPU per file, us: of which the fork server and the workers | {cpu_us('workers_cpu_s'):,.0f} | | | |")
    print(
        f"| CPU per file, us: read_track in one process (vs bare loop; lower is better) "
        f"| {cpu_us('same_cpu_s'):,.0f} | {cpu_us('bare_cpu_s'):,.0f} "
        f"| {ratio('bare_cpu_s', 'same_cpu_s'):.2f}x | |"
    )
    print(f"| no-change rescan, files/s | {n / _median(rounds, 'rescan_s'):,.0f} | | | 50,000+ |")
    rss_self, rss_workers = max(r["rss_self_mb"] for r in rounds), max(r["rss_workers_mb"] for r in rounds)
    print(f"| peak memory, scanning process (MB RSS) | {rss_self:.0f} | | | |")
    print(f"| peak memory, largest tag worker process (MB RSS) | {rss_workers:.0f} | | | |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
