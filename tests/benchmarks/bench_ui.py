"""The touch screen with 50,000 tracks: start to first frame, frame times while scrolling and during a
scan's progress flood, and peak memory; with an empty Kivy window's idle frame loop as the baseline.

``python -m tests.benchmarks.bench_ui``. Each scenario runs in its own process (Kivy has one window
per process, and peak RSS is per process) in an 800x480 window on Xvfb with Mesa's software GL
(llvmpipe); without ``xvfb-run`` it falls back to SDL's offscreen driver, whose memory grows with
every frame drawn (about 0.4 MB a frame for one slider, measured here; none under Xvfb), so its
memory figures are not the UI's. Kivy's frame limiter is off (``maxfps = 0``) and every frame is
redrawn, so a frame's time is the work it costs: clock callbacks, layout, and drawing.
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
from pathlib import Path

TRACKS = 50_000
FRAMES = 600
ROWS_PER_FRAME = 10


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


def _window() -> object:
    os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")
    os.environ.setdefault("KIVY_CLIPBOARD", "dummy")
    from kivy.config import Config

    Config.set("graphics", "maxfps", "0")
    Config.set("graphics", "width", "800")
    Config.set("graphics", "height", "480")
    Config.set("input", "mouse", "")
    from kivy.base import EventLoop

    EventLoop.ensure_window()
    return EventLoop.window


def _frame_times(count: int, before_frame: object = None) -> list[float]:
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
            before_frame(i)  # type: ignore[operator]
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


def _scenario_baseline(started: float) -> dict[str, object]:
    _window()
    from kivy.base import EventLoop

    EventLoop.idle()
    first_frame = time.perf_counter() - started
    _frame_times(60)
    times = _frame_times(FRAMES)
    return {"frames": times, "peak_mb": _peak_mb(), "renderer": _renderer(), "first_frame_s": first_frame}


def _open_ui(folder: Path) -> tuple[object, object, object]:
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


def _scenario_idle(folder: Path) -> dict[str, object]:
    """The jukebox UI on the now-playing screen, nothing happening, every frame redrawn."""
    window = _window()
    root, _bus, _jukebox = _open_ui(folder)
    window.add_widget(root)  # type: ignore[attr-defined]
    _frame_times(120)
    return {"frames": _frame_times(FRAMES), "peak_mb": _peak_mb()}


def _scenario_start(folder: Path, started: float) -> dict[str, object]:
    window = _window()
    from kivy.base import EventLoop

    root, _bus, _jukebox = _open_ui(folder)
    window.add_widget(root)  # type: ignore[attr-defined]
    EventLoop.idle()
    first_frame = time.perf_counter() - started
    library = root.library  # type: ignore[attr-defined]
    while library.source.count < TRACKS or any(
        row.title.text == "…" for block in library.song_blocks() for row in block.rows if row.opacity
    ):
        EventLoop.idle()
    ready = time.perf_counter() - started
    return {"first_frame_s": first_frame, "songs_ready_s": ready, "peak_mb": _peak_mb(), "renderer": _renderer()}


def _scenario_scroll(folder: Path) -> dict[str, object]:
    window = _window()
    root, _bus, _jukebox = _open_ui(folder)
    window.add_widget(root)  # type: ignore[attr-defined]
    root.go_to("library")  # type: ignore[attr-defined]
    library = root.library  # type: ignore[attr-defined]
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


def _scenario_scan(folder: Path, rate: float | None) -> dict[str, object]:
    window = _window()
    root, bus, _jukebox = _open_ui(folder)
    window.add_widget(root)  # type: ignore[attr-defined]
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
            "renders": root.importing.renders}  # type: ignore[attr-defined]


def _child(scenario: str, folder: str, started: float) -> None:
    path = Path(folder)
    if scenario == "baseline":
        result = _scenario_baseline(started)
    elif scenario == "idle":
        result = _scenario_idle(path)
    elif scenario == "start":
        result = _scenario_start(path, started)
    elif scenario == "scroll":
        result = _scenario_scroll(path)
    elif scenario == "scan":
        result = _scenario_scan(path, 1000.0)
    else:
        result = _scenario_scan(path, None)
    print("RESULT " + json.dumps(result), flush=True)
    os._exit(0)  # skip Kivy's and the pools' teardown: the figures are out


def _run_child(scenario: str, folder: Path, kivy_home: Path) -> dict[str, object]:
    env = dict(os.environ)
    env.update(SDL_VIDEODRIVER="offscreen", KIVY_HOME=str(kivy_home), KIVY_NO_ARGS="1", KIVY_LOG_MODE="PYTHON",
               KIVY_NO_FILELOG="1", KIVY_CLIPBOARD="dummy")
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
            return json.loads(line[7:])  # type: ignore[no-any-return]
    raise RuntimeError(f"scenario {scenario} failed: {out.stderr[-2000:]}")


def main(argv: list[str] | None = None) -> int:
    with tempfile.TemporaryDirectory(prefix="bench-ui-") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        _build_library(folder)
        print(f"library of {TRACKS:,} tracks built in {time.perf_counter() - t0:.1f} s", flush=True)
        results = {name: _run_child(name, folder, folder / f"kivy-{name}")
                   for name in ("baseline", "idle", "start", "scroll", "scan", "flood")}
    base, idle, start, scroll, scan, flood = (
        results[k] for k in ("baseline", "idle", "start", "scroll", "scan", "flood")
    )
    display = "Xvfb 800x480" if shutil.which("xvfb-run") else "SDL offscreen: memory figures not valid"
    print(f"\nrenderer: {base['renderer']} ({display}), frame limiter off, every frame redrawn\n")
    print(f"{'measure':<58} {'p50 ms':>8} {'p99 ms':>8} {'peak MB':>8}")
    print("-" * 86)

    def row(label: str, data: dict[str, object]) -> None:
        frames = data["frames"]
        assert isinstance(frames, list)
        print(f"{label:<58} {statistics.median(frames):>8.2f} {_percentile(frames, 0.99):>8.2f} "
              f"{data['peak_mb']:>8.0f}")

    row("baseline: empty Kivy window, idle frame loop", base)
    row(f"baseline: jukebox UI idle, {TRACKS:,} tracks, now playing", idle)
    row(f"scroll the song list, {ROWS_PER_FRAME} rows/frame + 60 far jumps", scroll)
    row(f"scan progress, {scan['events_per_s']:,.0f} events/s (scanner sends <= 4/s)", scan)
    row(f"scan progress unthrottled, {flood['events_per_s']:,.0f} events/s", flood)
    print("-" * 86)
    print(f"{'start to first frame, ' + format(TRACKS, ',') + ' tracks':<58} {start['first_frame_s'] * 1000:>8.0f} ms"
          f"{'':>9}{start['peak_mb']:>8.0f}")
    print(f"{'start to song list filled (count + first page)':<58} {start['songs_ready_s'] * 1000:>8.0f} ms")
    print(f"{'baseline: start to first frame, empty Kivy window':<58} {base['first_frame_s'] * 1000:>8.0f} ms"
          f"{'':>9}{base['peak_mb']:>8.0f}")
    print(f"scroll: {scroll['queries']} page queries for {FRAMES} frames; after the fling stopped, every row showed"
          f" its song {scroll['settle_frames']} frames later")
    print(f"scan: import panel redrawn {scan['renders']} times in {FRAMES + 60} frames at 1,000 events/s, "
          f"{flood['renders']} times unthrottled")
    peak = max(float(r["peak_mb"]) for r in (start, scroll, scan, flood))  # type: ignore[arg-type]
    print(f"peak memory with {TRACKS:,} tracks: {peak:.0f} MB (goal < 200 MB); empty window: {base['peak_mb']:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
