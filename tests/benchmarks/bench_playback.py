"""Playback cost: CPU per second of audio, command-to-first-frame latency, peak memory.

Run: ``python -m tests.benchmarks.bench_playback`` (or ``python -m tests.benchmarks playback``).

Everything plays to the same ALSA file-plugin device (a ``plug`` in front of ``file`` -> ``null``),
which takes audio as fast as it comes, so CPU time is the whole cost of decoding and writing.
The baseline is ``ffmpeg -i FILE -f alsa default`` to that device in the same run. Each player runs
in its own process; CPU and peak RSS come from ``wait4`` (the whole process, every thread) and, for
the engine, also from inside the process around playback only (``process_time``: every thread of
the process, imports and interpreter start excluded, opening the file and the device included).

Two figures per side: the whole run of a 60 s file divided by 60, and the marginal cost of one more
second of audio, (CPU for 60 s - CPU for 5 s) / 55 s, which takes every fixed cost out on both
sides (ffmpeg's own start-up of about 70 ms, the engine's file and device opening) and is what a
long track costs once playing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SECONDS = 60
#: The short file of each format, for the marginal cost per second (long minus short).
SHORT_SECONDS = 5
FORMATS = {"mp3": ("mp3", ["-c:a", "libmp3lame", "-b:a", "192k"]),
           "flac": ("flac", ["-c:a", "flac", "-sample_fmt", "s16"]),  # 16-bit, as a CD rip
           "aac": ("m4a", ["-c:a", "aac", "-b:a", "192k"])}
LATENCY_ROUNDS = 60
REPEATS = 5


def _write_alsa_config(folder: Path) -> Path:
    conf = folder / "asound.conf"
    conf.write_text(
        "</usr/share/alsa/alsa.conf>\n"
        f'pcm.tap {{ type file slave.pcm "null" file "{folder / "capture.raw"}" format "raw" }}\n'
        'pcm.!default { type plug slave.pcm "tap" }\n'
    )
    return conf


def _make_media(folder: Path, seconds: int) -> dict[str, Path]:
    files = {}
    for name, (suffix, codec) in FORMATS.items():
        path = folder / f"bench-{name}-{seconds}s.{suffix}"
        # Two detuned tones over pink noise: closer to music for the encoders than a pure sine.
        source = (f"anoisesrc=d={seconds}:c=pink:r=44100:a=0.1,"
                  f"volume=1[n];sine=f=220:d={seconds}:r=44100[a];sine=f=331:d={seconds}:r=44100[b];"
                  "[n][a][b]amix=inputs=3")
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-filter_complex", source,
                        "-ac", "2", "-ar", "44100", *codec, str(path)], check=True)
        files[name] = path
    return files


def _run_measured(cmd: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """Runs ``cmd``; returns its CPU seconds (user + system), peak RSS in KiB, and stdout."""
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise RuntimeError(f"{cmd[:4]} failed with {proc.returncode}")
        out.seek(0)
        return usage.ru_utime + usage.ru_stime, usage.ru_maxrss, out.read().decode()


# --- the measured side: runs in a child process ------------------------------------------------


def _driver(mode: str, files: list[str]) -> None:
    import resource
    import threading

    from kiosk.audio.engine import AudioEngine
    from kiosk.audio.mixer import SoftwareMixer
    from kiosk.audio.output import AlsaOutput
    from kiosk.core.bus import EventBus
    from kiosk.core.events import PlayerState
    from kiosk.core.models import Track

    class TimedOutput(AlsaOutput):
        """The real output, noting when the first frame after a drop was written."""

        first_write: float | None = None
        fresh = True

        def drop(self) -> None:
            super().drop()
            self.fresh = True

        def write(self, data: bytes | memoryview) -> None:
            super().write(data)
            if self.fresh:
                self.fresh, self.first_write = False, time.perf_counter()

    bus = EventBus()
    stopped = threading.Event()
    bus.subscribe(PlayerState, lambda s: stopped.set() if s.state == "stopped" else None)
    output = TimedOutput("default")
    engine = AudioEngine(bus, output, SoftwareMixer())
    codecs = {".mp3": "mp3", ".flac": "flac", ".m4a": "aac"}  # as the library's scan records them
    tracks = [Track(id=i + 1, path=f, title=f, sample_rate=44100, codec=codecs[Path(f).suffix])
              for i, f in enumerate(files)]
    rss_before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result: dict[str, Any] = {"rss_before_kib": rss_before_kib}
    if mode == "cpu":
        cpu0 = time.process_time()
        engine.play(tracks[0], 0)
        time.sleep(0.01)
        stopped.wait(600)
        result["cpu_s"] = time.process_time() - cpu0
    else:  # latency: a "next" (play while another track plays) to the first frame written
        latencies: list[float] = []
        engine.play(tracks[0], 0)
        time.sleep(0.05)
        for round_number in range(LATENCY_ROUNDS):
            track = tracks[round_number % len(tracks)]
            output.first_write = None
            started = time.perf_counter()
            engine.play(track, 0)
            while output.first_write is None:
                time.sleep(0.0002)
            latencies.append(output.first_write - started)
            time.sleep(0.02)
        result["latencies_s"] = latencies
    result["rss_peak_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    engine.close()
    print(json.dumps(result))


def _pyav_first_frame(path: Path, rounds: int = 20) -> list[float]:
    """Baseline for latency: PyAV alone opening the file and decoding its first frame."""
    import av

    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        with av.open(str(path)) as container:
            next(container.decode(audio=0))
        times.append(time.perf_counter() - started)
    return times


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main(argv: list[str]) -> int:
    if argv[:1] == ["--driver"]:
        _driver(argv[1], argv[2:])
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-playback-") as tmp:
        folder = Path(tmp)
        env = {**os.environ, "ALSA_CONFIG_PATH": str(_write_alsa_config(folder))}
        files, short_files = _make_media(folder, SECONDS), _make_media(folder, SHORT_SECONDS)
        me = [sys.executable, "-m", "tests.benchmarks.bench_playback", "--driver"]
        ffmpeg = ["ffmpeg", "-nostdin", "-loglevel", "error", "-i"]

        def engine_run(path: Path) -> tuple[float, float, int, dict[str, Any]]:
            whole_s, rss_kib, out = _run_measured([*me, "cpu", str(path)], env)
            inner = json.loads(out.strip().splitlines()[-1])
            return inner["cpu_s"], whole_s, rss_kib, inner

        def ffmpeg_run(path: Path) -> tuple[float, int]:
            cpu_s, rss_kib, _ = _run_measured([*ffmpeg, str(path), "-f", "alsa", "default"], env)
            return cpu_s, rss_kib

        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"CPU per second of audio ({SECONDS} s files, 44.1 kHz stereo, to an ALSA file-plugin device; "
              f"median of {REPEATS} interleaved runs; {os.cpu_count()} cores, load average {load})")
        print(f"marginal: (CPU for {SECONDS} s - CPU for {SHORT_SECONDS} s) / {SECONDS - SHORT_SECONDS} s, "
              "fixed costs (start-up, opening) taken out on both sides")
        print("| format | engine, playback only | engine, marginal | ffmpeg -f alsa, whole process (baseline) "
              "| ffmpeg, marginal (baseline) | engine, whole process (imports too) | engine peak RSS "
              "| ffmpeg peak RSS |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for name, path in files.items():
            ours, ours_short, theirs, theirs_short = [], [], [], []
            for _ in range(REPEATS):  # interleaved, median taken: the machine may be shared
                ours.append(engine_run(path))
                theirs.append(ffmpeg_run(path))
                ours_short.append(engine_run(short_files[name]))
                theirs_short.append(ffmpeg_run(short_files[name]))
            engine_s = _median([r[0] for r in ours])
            engine_marginal = (engine_s - _median([r[0] for r in ours_short])) / (SECONDS - SHORT_SECONDS)
            ff_s = _median([r[0] for r in theirs])
            ff_marginal = (ff_s - _median([r[0] for r in theirs_short])) / (SECONDS - SHORT_SECONDS)
            whole_s = _median([r[1] for r in ours])
            rss_kib, rss_before_kib = max(r[2] for r in ours), max(r[3]["rss_before_kib"] for r in ours)
            ff_rss = max(r[1] for r in theirs)
            print(f"| {name} | {engine_s * 1000 / SECONDS:.2f} ms/s | {engine_marginal * 1000:.2f} ms/s "
                  f"| {ff_s * 1000 / SECONDS:.2f} ms/s | {ff_marginal * 1000:.2f} ms/s "
                  f"| {whole_s * 1000 / SECONDS:.2f} ms/s | {rss_kib / 1024:.0f} MiB "
                  f"(after imports {rss_before_kib / 1024:.0f}) | {ff_rss / 1024:.0f} MiB |")

        _, _, out = _run_measured([*me, "latency", *(str(p) for p in files.values())], env)
        latencies = json.loads(out.strip().splitlines()[-1])["latencies_s"]
        baseline = [t for p in files.values() for t in _pyav_first_frame(p)]
        print()
        print(f"Command to first frame written ({LATENCY_ROUNDS} 'next' presses while playing, mp3/flac/aac in turn)")
        print("| path | p50 | p99 | max |")
        print("|---|---:|---:|---:|")
        print(f"| engine: play() to first frame written | {_pct(latencies, 0.5) * 1000:.1f} ms "
              f"| {_pct(latencies, 0.99) * 1000:.1f} ms | {max(latencies) * 1000:.1f} ms |")
        print(f"| baseline: PyAV open + first decoded frame | {_pct(baseline, 0.5) * 1000:.1f} ms "
              f"| {_pct(baseline, 0.99) * 1000:.1f} ms | {max(baseline) * 1000:.1f} ms |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
