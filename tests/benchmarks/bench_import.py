"""Copy-import speed against ``cp -r`` of the same tree and against ``cp -r`` + ``sync``; where its time goes.

``python -m tests.benchmarks import`` (or ``python -m tests.benchmarks.bench_import [--files N] [--repeat N]``)

The tree is bench_scan's: generated tagged files in mixed formats, 50 per album folder, cached under the
temp folder. Each round, in this order and each after an ``os.sync()`` so no one pays for another's
writes: one import into a fresh library (a fresh child process, so its peak memory is its own), ``cp -r``,
and ``cp -r`` + ``sync``.
The import promises more than ``cp -r``: every copy is hashed as it is written (and checked against the
size the scan saw, or the hash made first), and is on the disk (synced) before its row is committed, so
``cp -r`` + ``sync`` is the like-for-like baseline and plain ``cp -r`` the goal's (for the whole job).
Figures are the median of the rounds; each ratio is taken within its round first. Odd rounds run in the
other order, and nothing is deleted until every round has run: on some file systems (the test machine's
ext4, mounted with ``discard``) creating files right after deleting thousands costs several times more
for a while, which would charge whoever runs first for the round before.

The tag reader's worker processes are started before the clock, as the stick service starts them when a
stick is inserted (they come up while it mounts); their start is timed on its own. They copy each file and
read its tags from the same read; the importing process takes the results in path order, names them, and
settles batches (syncfs, rename, rows). The copies begin during the walk (the whole tree fits on the target), so
the inventory stage's time is shared with copying.

After ``cp -r`` + ``sync``, one bare ``mutagen.File`` loop per core reads the tags of that copy: the two
steps together are an import without names, hashes or rows, which shows what overlapping the copy with the
tag reading wins (the tag reading alone is the part of the job no copy can go without). CPU per file is
reported for each side (the import's own process and its tag workers, ``cp``, the bare loops): on two
cores, CPU sets the floor of the wall time whenever the disk is quick.

Last, when the machine allows it (root, a loop device, a block I/O cgroup; see ``stick_source``), the import
and ``cp -r`` of the first tree run again from a source that reads like a freshly inserted stick: an image
mounted afresh for each run, so nothing of it is cached. Once read at the disk's own speed, once at a USB 2
stick's pace; there the reads set the pace, as they do with a real stick.

A second, small tree of song-sized files (100 four-minute songs, about 390 MB) is imported and copied the
same way in every round: with 43 kB files the cost of each file (its tags, its name, its row, its creation
on the disk) rules; with songs, the bytes do (read, hash, write, sync).

In the first tree nearly every file shares its size with another (the files are made from a dozen seeds; real
songs almost never share an exact size). Only files of the size of a library file are hashed before the
copy (none here: the library starts empty); the stick's own repeats are found by the hash made as they copy.
"""

from __future__ import annotations

import argparse
import json
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

from tests.benchmarks import stick_source
from tests.benchmarks.bench_scan import (
    SEED_FORMATS,
    _descendants_cpu_and_peak,
    _files,
    _parallel_bare_loops,
    make_tree,
    run_child,
    start_workers,
)

#: The second tree: files the size of songs, where bytes cost more than files.
SONGS = 100


def _child(root: Path, work: Path) -> int:
    """In a fresh process: one import into a fresh library; prints timings and peak memory as JSON."""
    from kiosk.core.bus import EventBus
    from kiosk.core.events import ImportState
    from kiosk.library.importer import StickImporter
    from kiosk.library.store import SqlLibraryStore
    from kiosk.library.tags import ProcessTagReader

    bus = EventBus()
    store = SqlLibraryStore(work / "library.db", bus)
    reader = ProcessTagReader(work / "covers")
    first_seen: dict[str, float] = {}

    def on_import(event: ImportState) -> None:
        first_seen.setdefault(event.state, time.perf_counter())

    bus.subscribe(ImportState, on_import)
    out: dict[str, float | int | str] = {}
    try:
        # The stick service starts the tag workers when a stick is inserted, so they come up while it mounts.
        out["workers_start_s"] = start_workers(reader, root)
        importer = StickImporter(store, bus, reader, work / "music")
        workers_cpu = _descendants_cpu_and_peak()[0]
        started, cpu = time.perf_counter(), time.process_time()
        result = importer.import_from(root)
        out["job_s"] = time.perf_counter() - started
        out["self_cpu_s"] = time.process_time() - cpu  # every thread of the importing process
        # Read once the job is over, as the scan benchmark does: the workers are still up (a completed import
        # leaves them running, and none is recycled within 10,000 files), and no sampling thread competes
        # with the import for the two cores.
        workers_cpu_after, out["rss_workers_mb"] = _descendants_cpu_and_peak()
        out["workers_cpu_s"] = workers_cpu_after - workers_cpu
        out["copy_s"] = first_seen[result.status] - first_seen["started"]
        stages = importer.last_timings
        out["inventory_s"], out["duplicates_s"] = stages.inventory_s, stages.duplicates_s
        out["shared_size"], out["hashed_first"] = stages.shared_size, stages.hashed_first
        out["added"], out["errors"], out["status"] = result.added, result.errors, result.status
        out["copied_mb"] = sum(p.stat().st_size for p in (work / "music").rglob("*") if p.is_file()) / 1e6
    finally:
        reader.close()
        store.close()
    out["rss_self_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(out))
    return 0


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cp(
    source: Path, target: Path, *, sync: bool, preexec_fn: Callable[[], None] | None = None
) -> tuple[float, float]:
    """``cp -r`` (and ``sync``): wall seconds, and the CPU seconds cp used."""
    started, cpu = time.perf_counter(), _children_cpu_s()
    subprocess.run(["cp", "-r", str(source), str(target)], check=True, preexec_fn=preexec_fn)
    cpu = _children_cpu_s() - cpu
    if sync:
        os.sync()  # what the import promises: the copies are on the disk when it says so
    return time.perf_counter() - started, cpu


def make_song_tree(count: int = SONGS) -> Path:
    """``count`` song-sized files (four minutes, MP3 and AAC at 128 kbit/s, about 3.9 MB each), 10 per album
    folder, each tagged apart (so no two share a hash); cached under the temp folder like bench_scan's tree."""
    from tests.benchmarks.bench_scan import _tag
    from tests.media import make_tone

    root = Path(tempfile.gettempdir()) / f"kiosk-bench-import-songs-{count}"
    if (root / ".complete").exists():
        return root / "music"
    shutil.rmtree(root, ignore_errors=True)
    (root / "seeds").mkdir(parents=True)
    seeds = [
        make_tone(root / "seeds" / f"seed{k}.{fmt}", fmt, seconds=240, freq=200 + 30 * k)
        for k, fmt in enumerate(("mp3", "m4a", "mp3", "m4a"))
    ]
    for i in range(count):
        seed = seeds[i % len(seeds)]
        folder = root / "music" / f"Artist {i // 50}" / f"Album {i // 10:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{i % 10 + 1:02d} Song {i}{seed.suffix}"
        shutil.copyfile(seed, target)
        _tag(target, i)
    (root / ".complete").touch()
    return root / "music"


def _round(tree: Path, work: Path, prefix: str, *, reverse: bool) -> dict[str, float]:
    """One tree's import, ``cp -r`` and ``cp -r`` + sync (then a bare ``mutagen.File`` loop per core over that
    copy), in turn; the figures' keys start with ``prefix``."""
    row: dict[str, float] = {}
    (work / f"{prefix}import").mkdir(parents=True)

    def run_import() -> None:
        found = run_child("tests.benchmarks.bench_import", tree, work / f"{prefix}import")
        row.update({f"{prefix}{key}": value for key, value in found.items()})

    def run_cp() -> None:
        row[f"{prefix}cp_s"], row[f"{prefix}cp_cpu_s"] = _cp(tree, work / f"{prefix}cp", sync=False)

    def run_cp_sync() -> None:
        row[f"{prefix}cp_sync_s"], _ = _cp(tree, work / f"{prefix}cp-sync", sync=True)
        # The two-step import without names, hashes or rows: copy, then read the copies' tags on every core.
        cpu = _children_cpu_s()
        row[f"{prefix}tags_after_cp_s"] = _parallel_bare_loops(_files(work / f"{prefix}cp-sync"))
        row[f"{prefix}tags_cpu_s"] = _children_cpu_s() - cpu

    _in_turn([run_import, run_cp, run_cp_sync], reverse=reverse)
    return row


def _in_turn(steps: list[Callable[[], None]], *, reverse: bool) -> None:
    """Runs ``steps`` in this order or the reverse (so no side always goes first), each after an ``os.sync()``
    (so no one pays for another's writes)."""
    for step in steps[::-1] if reverse else steps:
        os.sync()
        step()


def _stick_round(source: stick_source.StickImage, work: Path, *, reverse: bool, throttled: bool) -> dict[str, float]:
    """The import and ``cp -r`` from the stick image, each from a fresh mount; ``throttled``: in the cgroup
    that reads at a USB 2 stick's pace."""
    row: dict[str, float] = {}
    (work / "import").mkdir(parents=True)
    preexec_fn = source.enter_throttled_cgroup if throttled else None

    def run_import() -> None:
        found = run_child("tests.benchmarks.bench_import", source.fresh_mount(), work / "import", preexec_fn=preexec_fn)
        row.update({key: found[key] for key in ("job_s", "added", "errors")})

    def run_cp() -> None:
        row["cp_s"], _ = _cp(source.fresh_mount(), work / "cp", sync=False, preexec_fn=preexec_fn)

    _in_turn([run_import, run_cp], reverse=reverse)
    return row


def _tree_size(root: Path) -> tuple[int, float]:
    sizes = [p.stat().st_size for p in root.rglob("*") if p.is_file()]
    return len(sizes), sum(sizes) / 1e6


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench_import")
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the median counts")
    parser.add_argument("--target", default=None, help="where the copies go (default: the temp folder); "
                        "a tmpfs such as /dev/shm takes the disk out of both sides and leaves the CPU cost")
    parser.add_argument("--no-stick-image", action="store_true",
                        help="skip the rounds from a freshly mounted stick image (they take two minutes)")
    parser.add_argument("--child", nargs=2, default=None)
    args = parser.parse_args(argv)
    if args.child:
        return _child(Path(args.child[0]), Path(args.child[1]))
    music, songs = make_tree(args.files), make_song_tree()
    count, size_mb = _tree_size(music)
    song_count, song_mb = _tree_size(songs)
    for path in [*music.rglob("*"), *songs.rglob("*")]:  # the page cache warm for everyone, as after a scan
        if path.is_file():
            path.read_bytes()
    rounds: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-import-", dir=args.target) as tmp:
        for round_no in range(args.repeat):
            work = Path(tmp) / f"round-{round_no}"
            row = _round(music, work, "", reverse=round_no % 2 == 1)
            row.update(_round(songs, work, "songs_", reverse=round_no % 2 == 1))
            rounds.append(row)
            print(f"(round {round_no + 1} of {args.repeat}: whole job {size_mb / row['job_s']:.0f} MB/s, "
                  f"copy phase {size_mb / row['copy_s']:.0f} MB/s, "
                  f"cp -r {size_mb / row['cp_s']:.0f} MB/s, cp -r + sync {size_mb / row['cp_sync_s']:.0f} MB/s; "
                  f"songs {song_mb / row['songs_job_s']:.0f}, cp -r {song_mb / row['songs_cp_s']:.0f}, "
                  f"cp -r + sync {song_mb / row['songs_cp_sync_s']:.0f} MB/s)",
                  file=sys.stderr)

    stick_rounds: dict[bool, list[dict[str, float]]] = {False: [], True: []}  # by throttled
    no_stick_image = "--no-stick-image" if args.no_stick_image else stick_source.reason_unavailable()
    if not no_stick_image:
        with (
            tempfile.TemporaryDirectory(prefix="bench-import-stick-", dir=args.target) as tmp,
            stick_source.StickImage(music, Path(tmp)) as source,
        ):
            for round_no in range(args.repeat):
                for throttled, pace in ((False, "the disk's speed"), (True, "a USB 2 stick's pace")):
                    work = Path(tmp) / f"round-{round_no}-{'throttled' if throttled else 'cold'}"
                    found = _stick_round(source, work, reverse=round_no % 2 == 1, throttled=throttled)
                    stick_rounds[throttled].append(found)
                    print(f"(stick image at {pace}, round {round_no + 1} of {args.repeat}: whole job "
                          f"{size_mb / found['job_s']:.0f} MB/s, cp -r {size_mb / found['cp_s']:.0f} MB/s)",
                          file=sys.stderr)

    def median(key: str) -> float:
        return statistics.median(r[key] for r in rounds)

    def ratio(ours: str, baseline: str, found: list[dict[str, float]] = rounds) -> float:
        return statistics.median(r[baseline] / r[ours] for r in found)

    def spread(found: list[dict[str, float]], ours: str, baseline: str) -> str:
        """The median ratio with each round's: on a shared disk the rounds can differ several times over."""
        each = ", ".join(f"{r[baseline] / r[ours]:.2f}" for r in found)
        return f"{ratio(ours, baseline, found):.2f}x" + (f" (rounds {each})" if len(found) > 1 else "")

    last = rounds[-1]
    print(f"{count} files, {size_mb:.0f} MB ({size_mb * 1e3 / count:.0f} kB a file), formats "
          f"{', '.join(SEED_FORMATS)}; {os.cpu_count()} cores; median of {len(rounds)} rounds; "
          f"copies into {args.target or tempfile.gettempdir()}")
    print(f"import: {last['added']} added, {last['errors']} errors, {last['status']}; "
          f"{last['copied_mb']:.0f} MB copied")
    print()
    print("| measure | ours MB/s | cp -r MB/s | ratio | cp -r + sync MB/s | ratio | goal |")
    print("|---|---:|---:|---:|---:|---:|---|")
    cp, cp_sync = size_mb / median("cp_s"), size_mb / median("cp_sync_s")
    for label, key in (("copy phase: copy, hash and tags in the workers; syncfs, rename, rows", "copy_s"),
                       ("whole job: inventory, duplicate check, copy phase", "job_s")):
        print(f"| {label} | {size_mb / median(key):,.0f} | {cp:,.0f} | {spread(rounds, key, 'cp_s')} "
              f"| {cp_sync:,.0f} | {ratio(key, 'cp_sync_s'):.2f}x | {'0.8x of cp -r' if key != 'copy_s' else ''} |")
    songs_cp, songs_cp_sync = song_mb / median("songs_cp_s"), song_mb / median("songs_cp_sync_s")
    print(
        f"| song-sized files ({song_count} of {song_mb / song_count:.1f} MB, MP3 and AAC): whole job "
        f"| {song_mb / median('songs_job_s'):,.0f} | {songs_cp:,.0f} | {ratio('songs_job_s', 'songs_cp_s'):.2f}x "
        f"| {songs_cp_sync:,.0f} | {ratio('songs_job_s', 'songs_cp_sync_s'):.2f}x | |"
    )
    print(f"| peak memory, importing process (MB RSS) | {max(r['rss_self_mb'] for r in rounds):.0f} | | | | | |")
    print(f"| peak memory, largest tag worker (MB RSS) | {max(r['rss_workers_mb'] for r in rounds):.0f} | | | | | |")
    print()
    stick_pace = f"{stick_source.USB2_STICK_BPS / 1e6:.0f} MB/s"
    print("| from a freshly inserted stick: a loop-device image, mounted afresh for each run, so nothing of it is "
          "cached | ours MB/s | cp -r MB/s | ratio | goal |")
    print("|---|---:|---:|---:|---:|")
    if stick_rounds[False]:
        for throttled, pace in ((False, "read at the disk's own speed"),
                                (True, f"read at a USB 2 stick's pace ({stick_pace}, the block I/O cgroup)")):
            runs = stick_rounds[throttled]
            print(f"| whole job, small files, {pace} ({runs[-1]['added']:.0f} added, {runs[-1]['errors']:.0f} "
                  f"errors) | {size_mb / statistics.median(r['job_s'] for r in runs):,.0f} "
                  f"| {size_mb / statistics.median(r['cp_s'] for r in runs):,.0f} "
                  f"| {spread(runs, 'job_s', 'cp_s')} | 0.8x of cp -r |")
    else:
        print(f"| not measured: {no_stick_image} | | | | |")
    print()
    print("| two-step import: cp -r + sync, then tags read by one bare mutagen.File loop per core over the copy "
          "(no names, hashes or rows) | cp -r + sync s | tags s | two-step s | our whole job s | speed vs two-step |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, pre in (("small files", ""), ("song-sized files", "songs_")):
        two_step = [r[f"{pre}cp_sync_s"] + r[f"{pre}tags_after_cp_s"] for r in rounds]
        speed = statistics.median(t / r[f"{pre}job_s"] for t, r in zip(two_step, rounds, strict=True))
        print(f"| {label} | {median(f'{pre}cp_sync_s'):.2f} | {median(f'{pre}tags_after_cp_s'):.2f} "
              f"| {statistics.median(two_step):.2f} | {median(f'{pre}job_s'):.2f} | {speed:.2f}x |")
    print()
    print("| CPU per file, µs (user + system, all cores; median) | small files | song-sized files |")
    print("|---|---:|---:|")
    for label, key in (("our import: the importing process (walk, names, results, syncs, renames, rows)", "self_cpu_s"),
                       ("our import: the tag workers (copy, hash, tags)", "workers_cpu_s"),
                       ("cp -r", "cp_cpu_s"),
                       ("bare mutagen.File loops over the copy (the two-step's tags)", "tags_cpu_s")):
        print(f"| {label} | {median(key) / count * 1e6:,.0f} | {median(f'songs_{key}') / song_count * 1e6:,.0f} |")
    print()
    print("| stage of the import (median s) | seconds |")
    print("|---|---:|")
    shared, hashed = int(last["shared_size"]), int(last["hashed_first"])
    for label, key in (("inventory (the walk; copies begin during it)", "inventory_s"),
                       (f"duplicate check ({shared} of {count} files share a size; {hashed} hashed before the copy)",
                        "duplicates_s"),
                       ("copy phase (copy and tags)", "copy_s"),
                       ("whole job", "job_s"),
                       ("tag workers' start, before the clock (the app starts them while the stick mounts)",
                        "workers_start_s")):
        print(f"| {label} | {median(key):.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
