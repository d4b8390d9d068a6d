"""The touch screen with 50,000 tracks: start to first frame, frame times while scrolling and during a
scan's progress flood, and memory phase by phase; with an empty Kivy window as the baseline.

``python -m tests.benchmarks ui`` (``--runs N``, default 3: each scenario runs N times, each time in its
own process, and the run with the median peak is shown). Kivy has one window per process and peak RSS
is per process. The window is 800x480 on Xvfb with Mesa's software GL (llvmpipe); without ``xvfb-run``
it falls back to SDL's offscreen driver, whose memory grows with every frame drawn (about 0.4 MB a
frame for one slider, measured here; none under Xvfb), so its memory figures are not the UI's. Kivy's
frame limiter is off (``maxfps = 0``) and every frame is redrawn, so a frame's time is the work it
costs: clock callbacks, layout, and drawing.

Every scenario runs with the glibc allocator settings of systemd/kiosk.service (its MALLOC_... lines),
as the appliance does. Memory: the session scenario goes through every phase in one process (start,
first frame, library, a fling through the songs, the album grid, artists, search, a scan's progress,
every screen) and reads /proc/self/status and smaps after each: RSS, the peak so far (VmHWM),
anonymous and file-backed pages, and the pages of the software renderer's own files (libLLVM,
swrast_dri), which a Pi drawing with its GPU does not use; those are shown apart and never left out
of the peak.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypedDict

if TYPE_CHECKING:  # the scenarios import these in their own process, after the window is set up
    from kivy.core.window import WindowBase

    from kiosk.core.bus import EventBus
    from kiosk.core.jukebox import Jukebox
    from kiosk.ui.screens.library import LibraryScreen
    from kiosk.ui.shell import KioskRoot

TRACKS = 50_000
FRAMES = 600
ROWS_PER_FRAME = 10


class ScenarioResult(TypedDict, total=False):
    """What a scenario's process reports (as JSON, so the phases' tuples come back as lists)."""

    frames: list[float]  # ms per frame
    peak_mb: float
    peaks: list[float]  # the peak of every run, added by _median_run
    renderer: str
    first_frame_s: float
    songs_ready_s: float
    memory: dict[str, float]
    phases: list[tuple[str, dict[str, float]]]
    settle_frames: int
    queries: int
    events_per_s: float
    renders: int


#: Figures that are the median of all runs rather than those of the run shown.
MEDIAN_OF_RUNS: tuple[Literal["first_frame_s", "songs_ready_s"], ...] = ("first_frame_s", "songs_ready_s")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _build_library(folder: Path) -> Path:
    from kiosk.core.bus import EventBus
    from kiosk.library.store import SqlLibraryStore
    from tests.ui.conftest import make_cover, track_infos

    covers = [make_cover(folder / "covers", i) for i in range(200)]
    store = SqlLibraryStore.open(folder / "library.db", EventBus())
    for start in range(0, TRACKS, 10_000):
        store.add_tracks(track_infos(10_000, covers, start=start, per_album=12))
    store.close()
    return folder


# --- inside a scenario's own process ------------------------------------------------------------


def _window() -> WindowBase:
    os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")
    os.environ.setdefault("KIVY_CLIPBOARD", "dummy")
    from kivy.config import Config

    from kiosk.ui.kivyconfig import configure_graphics

    if os.environ.get("BENCH_KIVY_DEFAULT_GRAPHICS") is None:
        configure_graphics()  # as the appliance runs; the default-config window is measured as a baseline too
    Config.set("graphics", "maxfps", "0")
    Config.set("graphics", "width", "800")
    Config.set("graphics", "height", "480")
    Config.set("input", "mouse", "")
    from kivy.base import EventLoop

    EventLoop.ensure_window()
    return EventLoop.window


def _frame_times(count: int, before_frame: Callable[[int], None] | None = None) -> list[float]:
    from kivy.base import EventLoop
    from kivy.graphics import Color, Rectangle

    window = EventLoop.window
    drawn = [0]
    window.bind(on_flip=lambda *_: drawn.__setitem__(0, drawn[0] + 1))
    with window.canvas.after:  # an invisible pixel that changes every frame: Kivy redraws the whole window
        dirt = Color(0, 0, 0, 0)
        Rectangle(size=(1, 1))
    times = []
    for i in range(count):
        if before_frame is not None:
            before_frame(i)
        dirt.a = 0.001 if i % 2 else 0.0
        start = time.perf_counter()
        EventLoop.idle()  # clock callbacks, input, layout and the draw, as in the app's loop
        times.append((time.perf_counter() - start) * 1000)
    if drawn[0] < count:
        raise RuntimeError(f"only {drawn[0]} of {count} frames were drawn")
    return times


def _renderer() -> str:
    from kivy.graphics.opengl import GL_RENDERER, glGetString

    value = glGetString(GL_RENDERER)
    return value.decode() if isinstance(value, bytes) else str(value)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


#: Files of the software renderer (Mesa's llvmpipe and the LLVM it compiles shaders with). A Pi draws
#: with its GPU (v3d) and does not run this code; these pages are shown apart, never left out of the peak.
SOFTWARE_GL_FILES = ("libLLVM", "swrast_dri", "libgallium", "kms_swrast_dri")


def _memory() -> dict[str, float]:
    """This process now: RSS, its peak (VmHWM), anonymous and file-backed parts, and the software
    renderer's file-backed pages, in MB."""
    status = {}
    with open("/proc/self/status") as file:
        for line in file:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                status[key] = int(value.split()[0]) / 1024
    software_gl = 0
    path = ""
    with open("/proc/self/smaps") as file:
        for line in file:
            first = line.split(maxsplit=6)
            if "-" in first[0] and len(first) >= 5 and ":" in first[3]:  # a mapping's header line
                path = first[5].strip() if len(first) > 5 else ""
            elif first[0] == "Rss:" and any(name in path for name in SOFTWARE_GL_FILES):
                software_gl += int(first[1])
    return {"rss": status["VmRSS"], "hwm": status["VmHWM"], "anon": status["RssAnon"], "file": status["RssFile"],
            "software_gl": software_gl / 1024}


def _scenario_baseline(started: float) -> ScenarioResult:
    _window()
    from kivy.base import EventLoop

    EventLoop.idle()
    first_frame = time.perf_counter() - started
    _frame_times(60)
    times = _frame_times(FRAMES)
    return {"frames": times, "peak_mb": _peak_mb(), "renderer": _renderer(), "first_frame_s": first_frame,
            "memory": _memory()}


def _open_ui(folder: Path) -> tuple[KioskRoot, EventBus, Jukebox]:
    from kiosk.core.bus import EventBus
    from kiosk.core.jukebox import Jukebox
    from kiosk.library.store import SqlLibraryStore
    from kiosk.ui.bridge import KivyEventBridge
    from kiosk.ui.context import UiContext
    from kiosk.ui.covers import CoverCache, covers_dir_resolver
    from kiosk.ui.shell import KioskRoot

    bus = EventBus()
    store = SqlLibraryStore.open(folder / "library.db", bus)
    jukebox = Jukebox(store, bus)
    ctx = UiContext(jukebox, KivyEventBridge(bus), CoverCache(covers_dir_resolver(folder / "covers")))
    return KioskRoot(ctx), bus, jukebox


def _scenario_idle(folder: Path) -> ScenarioResult:
    """The jukebox UI on the now-playing screen, nothing happening, every frame redrawn."""
    window = _window()
    root, _bus, _jukebox = _open_ui(folder)
    window.add_widget(root)
    _frame_times(120)
    return {"frames": _frame_times(FRAMES), "peak_mb": _peak_mb()}


def _scenario_start(folder: Path, started: float) -> ScenarioResult:
    window = _window()
    from kivy.base import EventLoop

    root, _bus, _jukebox = _open_ui(folder)
    window.add_widget(root)
    EventLoop.idle()
    first_frame = time.perf_counter() - started
    at_first_frame = _memory()
    root.go_to("library")
    library = root.library
    while library.source.count < TRACKS or any(
        row.title.text == "…" for block in library.song_blocks() for row in block.rows if row.opacity
    ):
        EventLoop.idle()
    ready = time.perf_counter() - started
    return {"first_frame_s": first_frame, "songs_ready_s": ready, "peak_mb": _peak_mb(), "renderer": _renderer(),
            "memory": at_first_frame}


def _scenario_scroll(folder: Path) -> ScenarioResult:
    window = _window()
    root, _bus, _jukebox = _open_ui(folder)
    window.add_widget(root)
    root.go_to("library")
    library = root.library
    library.show_tab("songs")
    from kivy.base import EventLoop

    while library.source.count < TRACKS:
        EventLoop.idle()
    _frame_times(60)
    songs = library.songs
    # A fast fling: 10 rows a frame (600 songs a second at 60 fps) through 5,400 songs, then 60 jumps
    # to far places in the list.
    step = ROWS_PER_FRAME / TRACKS

    def scroll(i: int) -> None:
        if i < FRAMES - 60:
            songs.scroll_y = max(0.0, 1.0 - i * step)
        else:
            songs.scroll_y = ((i * 7919) % 1000) / 1000

    times = _frame_times(FRAMES, scroll)
    settle_frames = 0
    while any(row.title.text == "…" for block in library.song_blocks() for row in block.rows if row.opacity):
        _frame_times(1)
        settle_frames += 1
    return {"frames": times, "peak_mb": _peak_mb(), "settle_frames": settle_frames,
            "queries": library.source.queries}


def _scenario_scan(folder: Path, rate: float | None) -> ScenarioResult:
    window = _window()
    root, bus, _jukebox = _open_ui(folder)
    window.add_widget(root)
    from kivy.base import EventLoop

    from kiosk.core.events import LibraryScanProgress

    for _ in range(60):
        EventLoop.idle()
    stop = threading.Event()
    published = [0]

    def flood() -> None:
        i = 0
        begun = time.perf_counter()
        while not stop.is_set():
            i += 1
            bus.publish(LibraryScanProgress(job_id="bench", status="reading", scanned=i, found=i, errors=0,
                                            current_path=f"Artist/Album/{i:06d}.flac", total=10_000_000))
            if rate is not None:
                ahead = i / rate - (time.perf_counter() - begun)
                if ahead > 0:
                    time.sleep(ahead)
        published[0] = i

    thread = threading.Thread(target=flood, daemon=True)
    started = time.perf_counter()
    thread.start()
    times = _frame_times(FRAMES)
    stop.set()
    thread.join()
    elapsed = time.perf_counter() - started
    return {"frames": times, "peak_mb": _peak_mb(), "events_per_s": published[0] / elapsed,
            "renders": root.importing.renders}


def _scenario_session(folder: Path) -> ScenarioResult:
    """One process through a visit of everything, memory read after each phase (the peak is the
    process's high-water mark, VmHWM, so a short burst between two readings still counts)."""
    phases: list[tuple[str, dict[str, float]]] = [("python started", _memory())]
    from kiosk.core.jukebox import Jukebox  # noqa: F401  (the import cost is the phase)
    from kiosk.library.store import SqlLibraryStore  # noqa: F401

    phases.append(("core and library store imported", _memory()))
    window = _window()
    from kivy.base import EventLoop

    EventLoop.idle()
    phases.append(("Kivy window open, one frame", _memory()))
    root, bus, _jukebox = _open_ui(folder)
    window.add_widget(root)
    EventLoop.idle()
    phases.append(("jukebox UI built, first frame", _memory()))
    _frame_times(120)
    phases.append(("now playing, 120 frames", _memory()))

    root.go_to("library")
    library = root.library
    library.show_tab("songs")
    _until(lambda: library.source.count == TRACKS and _songs_shown(library))
    phases.append(("library open: song count and first page", _memory()))
    songs = library.songs
    step = ROWS_PER_FRAME / TRACKS
    _frame_times(FRAMES, lambda i: setattr(songs, "scroll_y", max(0.0, 1.0 - i * step) if i < FRAMES - 60
                                           else ((i * 7919) % 1000) / 1000))
    _until(lambda: _songs_shown(library))
    phases.append((f"songs: fling through {(FRAMES - 60) * ROWS_PER_FRAME:,}, 60 far jumps", _memory()))

    library.show_tab("albums")
    _until(lambda: library.albums.data)
    from kivy.metrics import dp

    def album_fling(i: int) -> None:  # half a row of tiles a frame: 150 rows, 600 albums in 300 frames
        # The grid is read from the library each time, never kept here: the library lets its grid go when
        # the tab is left, and a reference held by the benchmark would keep every tile (and its GL buffers).
        albums = library.albums
        scrollable = max(1.0, library.album_grid.height - albums.height)
        albums.scroll_y = max(0.0, 1.0 - i * dp(110) / scrollable)

    _frame_times(300, album_fling)
    _until(lambda: all(t.cover.texture is not None for t in library.album_grid.children if t.album is not None),
           timeout=30)
    phases.append((f"albums: grid flung through {len(library.albums.data):,} albums", _memory()))
    library.show_tab("artists")
    _until(lambda: library.artists.data)
    phases.append(("artists", _memory()))

    library.show_tab("search")

    def answered(query: str) -> Callable[[], bool]:
        return lambda: f"“{query}”" in library.search_status.text

    for query in ("b", "bl", "blu", "blue", "blue m", "night", "orbit 0", "e", "signal river"):
        library.search_field.text = query
        _until(answered(query))
    phases.append(("search: 9 queries typed, 100 results each", _memory()))

    root.go_to("import")
    from kiosk.core.events import LibraryScanProgress

    def progress(i: int) -> None:
        for j in range(17):  # about 1,000 events a second at 60 frames a second
            n = i * 17 + j
            bus.publish(LibraryScanProgress(job_id="bench", status="reading", scanned=n, found=n, errors=0,
                                            current_path=f"Artist/Album/{n:06d}.flac", total=10_000_000))

    _frame_times(FRAMES, progress)
    phases.append(("scan progress: 10,200 events on the import panel", _memory()))
    for name in ("queue", "playlists", "settings", "now"):
        root.go_to(name)
        _frame_times(30)
    phases.append(("every screen visited", _memory()))
    return {"phases": phases, "peak_mb": _peak_mb()}


def _songs_shown(library: LibraryScreen) -> bool:
    return not any(row.title.text == "…" for block in library.song_blocks() for row in block.rows if row.opacity)


def _until(predicate: Callable[[], object], timeout: float = 60.0) -> None:
    """Frames until ``predicate()`` holds: the store's threads answer meanwhile."""
    from kivy.base import EventLoop

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {predicate}")
        EventLoop.idle()
        time.sleep(0.002)


def _child(scenario: str, folder: str, started: float) -> None:
    path = Path(folder)
    if scenario in ("baseline", "baseline-default"):
        result = _scenario_baseline(started)
    elif scenario == "idle":
        result = _scenario_idle(path)
    elif scenario == "start":
        result = _scenario_start(path, started)
    elif scenario == "scroll":
        result = _scenario_scroll(path)
    elif scenario == "session":
        result = _scenario_session(path)
    elif scenario == "scan":
        result = _scenario_scan(path, 1000.0)
    else:
        result = _scenario_scan(path, None)
    print("RESULT " + json.dumps(result), flush=True)
    os._exit(0)  # skip Kivy's and the pools' teardown: the figures are out


#: The unit the jukebox runs under on the Pi; its allocator settings apply to every scenario.
UNIT_FILE = Path(__file__).resolve().parents[2] / "systemd" / "kiosk.service"


def unit_malloc_env(unit: Path = UNIT_FILE) -> dict[str, str]:
    """The glibc allocator settings (``Environment=MALLOC_...``) of the systemd unit, read from the file
    so the benchmark measures the process the way the appliance starts it."""
    env = {}
    for line in unit.read_text().splitlines():
        key, _, value = line.strip().partition("=")
        if key == "Environment" and value.startswith("MALLOC_"):
            name, _, setting = value.partition("=")
            env[name] = setting
    return env


def _run_child(scenario: str, folder: Path, kivy_home: Path) -> ScenarioResult:
    env = dict(os.environ)
    env.update(unit_malloc_env())
    env.update(SDL_VIDEODRIVER="offscreen", KIVY_HOME=str(kivy_home), KIVY_NO_ARGS="1", KIVY_LOG_MODE="PYTHON",
               KIVY_NO_FILELOG="1", KIVY_CLIPBOARD="dummy")
    if scenario == "baseline-default":
        env["BENCH_KIVY_DEFAULT_GRAPHICS"] = "1"
    code = (f"import time; t = time.perf_counter(); from tests.benchmarks.bench_ui import _child; "
            f"_child({scenario!r}, {str(folder)!r}, t)")
    root = Path(__file__).resolve().parents[2]
    command = [sys.executable, "-c", code]
    if shutil.which("xvfb-run"):
        env["SDL_VIDEODRIVER"] = "x11"
        command = ["xvfb-run", "-a", "-s", "-screen 0 800x480x24", *command]
    out = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=900)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            result: ScenarioResult = json.loads(line[7:])
            return result
    raise RuntimeError(f"scenario {scenario} failed: {out.stderr[-2000:]}")


def _median_run(scenario: str, folder: Path, runs: int) -> ScenarioResult:
    """Runs a scenario ``runs`` times (each in a fresh process); the run with the median peak is kept
    whole, so every figure printed for it comes from one and the same process."""
    results = [_run_child(scenario, folder, folder / f"kivy-{scenario}-{i}") for i in range(runs)]
    results.sort(key=lambda r: r["peak_mb"])
    chosen = results[len(results) // 2]
    chosen["peaks"] = [r["peak_mb"] for r in results]
    for key in MEDIAN_OF_RUNS:
        if key in chosen:
            chosen[key] = statistics.median(r[key] for r in results)
    return chosen


def main(argv: list[str] | None = None) -> int:
    args = list(argv or [])
    runs = int(args[args.index("--runs") + 1]) if "--runs" in args else 3
    names = ("baseline", "baseline-default", "session", "start", "idle", "scroll", "scan", "flood")
    with tempfile.TemporaryDirectory(prefix="bench-ui-") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        _build_library(folder)
        print(f"library of {TRACKS:,} tracks built in {time.perf_counter() - t0:.1f} s; each scenario runs {runs}"
              " times in its own process, the median run is shown", flush=True)
        results = {name: _median_run(name, folder, runs) for name in names}
    base, base_default, session, start, idle, scroll, scan, flood = (results[k] for k in names)
    display = "Xvfb 800x480" if shutil.which("xvfb-run") else "SDL offscreen: memory figures not valid"
    print(f"\nrenderer: {base['renderer']} ({display}), frame limiter off, every frame redrawn; allocator settings "
          f"of the unit: {' '.join(f'{k}={v}' for k, v in unit_malloc_env().items())}\n")

    print("memory, MB, one process through every phase (session); peak = VmHWM, the most the process ever held")
    print(f"{'phase':<58} {'RSS':>6} {'peak':>6} {'anon':>6} {'file':>6} {'sw GL':>6} {'peak-GL':>7}")
    print("-" * 100)

    def mem_row(label: str, m: dict[str, float]) -> None:
        print(f"{label:<58} {m['rss']:>6.0f} {m['hwm']:>6.0f} {m['anon']:>6.0f} {m['file']:>6.0f} "
              f"{m['software_gl']:>6.0f} {m['hwm'] - m['software_gl']:>7.0f}")

    mem_row("baseline: empty Kivy window, Kivy's default graphics", base_default["memory"])
    mem_row("baseline: empty Kivy window, the jukebox's graphics", base["memory"])
    for label, memory in session["phases"]:
        mem_row(label, memory)
    print("-" * 100)
    print("sw GL: file-backed pages of the software renderer (libLLVM, swrast_dri), which a Pi's v3d GPU does not"
          " use;\npeak-GL: the peak without them (its JIT code, textures and framebuffers stay counted in anon)\n")

    print(f"{'frame times':<58} {'p50 ms':>8} {'p99 ms':>8} {'peak MB':>8}")
    print("-" * 86)

    def row(label: str, data: ScenarioResult) -> None:
        frames = data["frames"]
        print(f"{label:<58} {statistics.median(frames):>8.2f} {_percentile(frames, 0.99):>8.2f} "
              f"{data['peak_mb']:>8.0f}")

    row("baseline: empty Kivy window, idle frame loop", base)
    row(f"baseline: jukebox UI idle, {TRACKS:,} tracks, now playing", idle)
    row(f"scroll the song list, {ROWS_PER_FRAME} rows/frame + 60 far jumps", scroll)
    row(f"scan progress, {scan['events_per_s']:,.0f} events/s (scanner sends <= 4/s)", scan)
    row(f"scan progress unthrottled, {flood['events_per_s']:,.0f} events/s", flood)
    print("-" * 86)
    print(f"{'start to first frame, ' + format(TRACKS, ',') + ' tracks':<58} {start['first_frame_s'] * 1000:>8.0f} ms"
          f"{'':>9}{start['memory']['hwm']:>8.0f}")
    print(f"{'start to song list filled (first frame, open the library)':<58} {start['songs_ready_s'] * 1000:>8.0f} ms")
    print(f"{'baseline: start to first frame, empty Kivy window':<58} {base['first_frame_s'] * 1000:>8.0f} ms"
          f"{'':>9}{base['peak_mb']:>8.0f}")
    print(f"scroll: {scroll['queries']} page queries for {FRAMES} frames; after the fling stopped, every row showed"
          f" its song {scroll['settle_frames']} frames later")
    print(f"scan: import panel redrawn {scan['renders']} times in {FRAMES + 60} frames at 1,000 events/s, "
          f"{flood['renders']} times unthrottled")
    jukebox_runs = (session, start, idle, scroll, scan, flood)
    peak = max(r["peak_mb"] for r in jukebox_runs)
    software_gl = session["phases"][-1][1]["software_gl"]
    print(f"peak memory with {TRACKS:,} tracks: {peak:.0f} MB (goal < 200 MB; runs of the session: "
          f"{', '.join(f'{p:.0f}' for p in session['peaks'])}); "
          f"without the software renderer's files: {peak - software_gl:.0f} MB; empty window: {base['peak_mb']:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
