"""Library store: bulk insert speed and full-text search latency, each against a baseline in the same run.

    python -m tests.benchmarks.bench_store [--tracks 50000] [--queries 600] [--dir FOLDER]

Inserts generated tracks with ``SqlLibraryStore.add_tracks`` (one call, then in scanner-sized batches),
against row-at-a-time ``executemany`` into the same schema. Then times ``search()`` for prefix queries
as typed (one letter, two, three ... of words from real titles, artists and albums, and two-word
queries) against a ``LIKE '%q%'`` scan over the same four columns, both returning ``Track`` models.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy import text

from kiosk.core.bus import EventBus
from kiosk.core.models import Track, TrackInfo
from kiosk.library.store import SqlLibraryStore
from kiosk.library.tables import TRACK_COLUMNS

#: Syllables that words are made of; a few accented ones, so diacritic folding is exercised too.
SYLLABLES = (
    *("ka", "la", "mi", "no", "ra", "se", "ti", "vo", "bel", "dor", "fen", "gar", "hal", "jun", "kor"),
    *("len", "mar", "nor", "pel", "quin", "ros", "sul", "tan", "ver", "wil", "bri", "cha", "dra", "fle"),
    *("glo", "pra", "stre", "tho", "a", "e", "i", "o", "u", "é", "ö", "ä", "ñ"),
)


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.choice((1, 2, 2, 3, 3, 4))))


def generate_tracks(count: int, seed: int = 7) -> list[TrackInfo]:
    """A library shaped like a real one: artists with albums of about a dozen tracks, Zipf-ish words."""
    rng = random.Random(seed)
    vocabulary = [_word(rng) for _ in range(6_000)]
    weights = [1 / (rank + 1) for rank in range(len(vocabulary))]

    def words(n: int) -> str:
        return " ".join(rng.choices(vocabulary, weights, k=n)).title()

    infos: list[TrackInfo] = []
    artist_no = 0
    while len(infos) < count:
        artist_no += 1
        artist = words(rng.choice((1, 2, 2, 3)))
        for album_no in range(rng.choice((1, 1, 2, 3, 4))):
            album = words(rng.choice((1, 2, 3)))
            year = rng.randint(1960, 2024)
            for track_no in range(1, rng.randint(8, 15)):
                n = len(infos)
                infos.append(
                    TrackInfo(
                        path=f"/music/{artist_no:05d} {artist}/{album_no} {album}/{track_no:02d} {n}.flac",
                        title=words(rng.choice((1, 2, 2, 3, 4, 5))),
                        artist=artist,
                        album=album,
                        album_artist=artist,
                        track_number=track_no,
                        year=year,
                        genre=rng.choice(("Rock", "Pop", "Jazz", "Folk", "Electronic")),
                        duration_ms=rng.randint(90_000, 420_000),
                        codec="flac",
                        sample_rate=44_100,
                        channels=2,
                        file_size=rng.randint(3_000_000, 40_000_000),
                        mtime_ns=1_700_000_000_000_000_000 + n,
                        content_hash=f"{rng.getrandbits(160):040x}",
                    )
                )
                if len(infos) == count:
                    return infos
    return infos


def generate_queries(infos: Sequence[TrackInfo], count: int, seed: int = 11) -> list[str]:
    """What people type: prefixes of a word (one letter first), or a prefix after a whole first word."""
    rng = random.Random(seed)
    queries: list[str] = []
    while len(queries) < count:
        info = rng.choice(infos)
        field = rng.choice((info.title, info.title, info.artist, info.album))
        field_words = field.split()
        word = rng.choice(field_words)
        if len(field_words) > 1 and rng.random() < 0.3:
            first, second = field_words[0], field_words[1]
            queries.append(f"{first} {second[: rng.randint(1, len(second))]}")
        else:
            queries.append(word[: rng.randint(1, min(len(word), 6))])
    return queries


def _fresh(folder: Path, name: str) -> SqlLibraryStore:
    for leftover in folder.glob(f"{name}.db*"):
        leftover.unlink()
    return SqlLibraryStore.open(folder / f"{name}.db", EventBus())


def _rates(count: int, runs: list[tuple[float, float]]) -> str:
    """Best and median wall-clock rate of the repeats, and the rate per CPU-second of the best run.

    The machine may be shared: the best run is the least disturbed, and CPU time shows what the work
    costs when it has a core to itself (it leaves out waiting for fsync).
    """
    walls = [wall for wall, _ in runs]
    best_wall, best_cpu = min(runs)
    return (
        f"{count / best_wall:,.0f} (median {count / statistics.median(walls):,.0f}) rows/s; "
        f"{count / best_cpu:,.0f} rows/CPU-s"
    )


class _Timer:
    """Wall-clock and CPU time of a block."""

    def __enter__(self) -> _Timer:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.result = (time.perf_counter() - self.wall, time.process_time() - self.cpu)


def _insert_naive(store: SqlLibraryStore, infos: Sequence[TrackInfo]) -> tuple[float, float]:
    """The baseline: one INSERT statement per row (executemany), same schema and triggers, one transaction."""
    columns = [c for c in TRACK_COLUMNS if c not in ("id", "last_played")]
    sql = f"INSERT INTO tracks ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    now = time.time()
    own = {"added_at": now, "play_count": 0}
    rows = [tuple(own[c] if c in own else getattr(i, c) for c in columns) for i in infos]
    conn = sqlite3.connect(store.db_path, isolation_level=None)
    conn.execute("PRAGMA synchronous = FULL")
    with _Timer() as timer:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(sql, rows)
        conn.execute("COMMIT")
    conn.close()
    return timer.result


def _like_search(store: SqlLibraryStore) -> Callable[[str], list[Track]]:
    """The baseline search: every word must appear somewhere in the four columns (LIKE '%word%')."""
    columns = ", ".join(TRACK_COLUMNS)

    def search(query: str) -> list[Track]:
        words = query.split()
        where = " AND ".join(
            f"(title LIKE :w{i} OR artist LIKE :w{i} OR album LIKE :w{i} OR album_artist LIKE :w{i})"
            for i in range(len(words))
        )
        params = {f"w{i}": f"%{w}%" for i, w in enumerate(words)}
        with store._engine.connect() as conn:
            rows = conn.execute(text(f"SELECT {columns} FROM tracks WHERE {where} LIMIT 50"), params)
            return [Track(**dict(zip(TRACK_COLUMNS, row, strict=True))) for row in rows]

    return search


def _latencies(search: Callable[[str], list[Track]], queries: Sequence[str]) -> tuple[list[float], int]:
    times, hits = [], 0
    for q in queries:
        started = time.perf_counter()
        hits += len(search(q))
        times.append((time.perf_counter() - started) * 1000)
    return times, hits


def _pct(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _filesystem(folder: Path) -> str:
    best, kind = "", "?"
    with open("/proc/mounts") as mounts:
        for line in mounts:
            parts = line.split()
            if str(folder.resolve()).startswith(parts[1]) and len(parts[1]) > len(best):
                best, kind = parts[1], parts[2]
    return kind


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracks", type=int, default=50_000, help="tracks to insert (default 50000)")
    parser.add_argument("--queries", type=int, default=600, help="search queries to time (default 600)")
    parser.add_argument("--batch", type=int, default=500, help="batch size for the batched insert (default 500)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each insert (default 3)")
    parser.add_argument("--dir", type=Path, default=None, help="folder for the databases (default: a temp folder)")
    args = parser.parse_args(argv)

    infos = generate_tracks(args.tracks)
    queries = generate_queries(infos, args.queries)
    with tempfile.TemporaryDirectory(prefix="bench-store-", dir=args.dir) as tmp:
        folder = Path(tmp)
        rows: list[tuple[str, str, str]] = []
        one_call: list[tuple[float, float]] = []
        batched: list[tuple[float, float]] = []
        naive: list[tuple[float, float]] = []
        for _ in range(args.repeat):
            store = _fresh(folder, "batched")
            with _Timer() as timer:
                for start in range(0, len(infos), args.batch):
                    store.add_tracks(infos[start : start + args.batch])
            batched.append(timer.result)
            store.close()

            store = _fresh(folder, "naive")
            naive.append(_insert_naive(store, infos))
            store.close()

            store = _fresh(folder, "one-call")  # the last of these stays open for the searches
            with _Timer() as timer:
                store.add_tracks(infos)
            one_call.append(timer.result)
            if len(one_call) < args.repeat:
                store.close()
        rows.append(
            (f"insert {len(infos):,} tracks: add_tracks, one call", _rates(len(infos), one_call), "40,000+ rows/s")
        )
        rows.append((f"insert: add_tracks in batches of {args.batch}", _rates(len(infos), batched), ""))
        rows.append(("baseline: executemany, one row per statement", _rates(len(infos), naive), ""))

        fts_search = store.search
        like_search = _like_search(store)
        for q in queries[:20]:  # warm the page cache and the pool for both
            fts_search(q)
            like_search(q)
        fts_times, fts_hits = _latencies(fts_search, queries)
        like_times, like_hits = _latencies(like_search, queries)
        one_letter = [i for i, q in enumerate(queries) if len(q) == 1]

        def summary(times: list[float]) -> str:
            return f"{statistics.median(times):.2f} / {_pct(times, 95):.2f} / {_pct(times, 99):.2f} ms"

        rows.append((f"search FTS5 p50 / p95 / p99 ({len(queries)} queries)", summary(fts_times), "p95 < 10 ms"))
        rows.append(("baseline: LIKE '%q%' scan p50 / p95 / p99", summary(like_times), ""))
        if one_letter:
            one_letter_fts = summary([fts_times[i] for i in one_letter])
            rows.append((f"  one-letter queries only ({len(one_letter)}): FTS5", one_letter_fts, ""))
            rows.append(("  one-letter queries only: LIKE", summary([like_times[i] for i in one_letter]), ""))
        rows.append(("results returned (limit 50 each): FTS5 / LIKE", f"{fts_hits:,} / {like_hits:,}", ""))
        first_album = store.list_albums(limit=1)[0]
        browse: list[tuple[str, Callable[[], object]]] = [
            ("browse: list_artists, first 200", lambda: store.list_artists()),
            ("browse: list_albums, first 200", lambda: store.list_albums()),
            ("browse: album_tracks", lambda: store.album_tracks(first_album.album, first_album.album_artist)),
            ("browse: list_tracks by artist, middle page", lambda: store.list_tracks(len(infos) // 2, 100, "artist")),
        ]
        for label, call in browse:
            times = []
            for _ in range(20):
                started = time.perf_counter()
                call()
                times.append((time.perf_counter() - started) * 1000)
            rows.append((label + " (median of 20)", f"{statistics.median(times):.2f} ms", ""))
        fs = _filesystem(folder)
        store.close()

    width = max(len(r[0]) for r in rows)
    value_width = max(len(r[1]) for r in rows)
    load = os.getloadavg()[0]
    print(
        f"database on {fs} ({'tmpfs: fsync costs nothing here' if fs == 'tmpfs' else 'a real file system'}), "
        f"WAL, synchronous=FULL; {len(infos):,} tracks; {os.cpu_count()} CPUs, load average {load:.1f} at the end"
    )
    print(f"| {'measure':<{width}} | {'result':<{value_width}} | goal |")
    print(f"|{'-' * (width + 2)}|{'-' * (value_width + 2)}|------|")
    for measure, value, goal in rows:
        print(f"| {measure:<{width}} | {value:<{value_width}} | {goal} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
