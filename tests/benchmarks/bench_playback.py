"""Playback cost: CPU per second of audio, command-to-first-frame latency, peak memory.

Run: ``python -m tests.benchmarks.bench_playback`` (or ``python -m tests.benchmarks playback``).

Everything plays to the same ALSA file-plugin device (a ``plug`` in front of ``file`` -> ``null``),
which takes audio as fast as it comes, so CPU time is the whole cost of decoding and writing.
The baseline is ``ffmpeg -i FILE -f alsa default`` to that device in the same run. Each player runs
in its own process; CPU and peak RSS come from ``wait4`` (whole process) and, for the engine, also
from inside the process around playback only (imports excluded).
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
FORMATS = {"mp3": ("mp3", ["-c:a", "libmp3lame", "-b:a", "192k"]),
           "flac": ("flac", ["-c:a", "flac"]),
           "aac": ("m4a", ["-c:a", "aac", "-b:a", "192k"])}
LATENCY_ROUNDS = 60
REPEATS = 3


def _write_alsa_config(folder: Path) -> Path:
    conf = folder / "asound.conf"
    conf.write_text(
        "</usr/share/alsa/alsa.conf>\n"
        f'pcm.tap {{ type file slave.pcm "null" file "{folder / "capture.raw"}" format "raw" }}\n'
        'pcm.!default { type plug slave.pcm "tap" }\n'
    )
    return conf


def _make_media(folder: Path) -> dict[str, Path]:
    files = {}
    for name, (suffix, codec) in FORMATS.items():
        path = folder / f"bench-{name}.{suffix}"
        # Two detuned tones over pink noise: closer to music for the encoders than a pure sine.
        source = (f"anoisesrc=d={SECONDS}:c=pink:r=44100:a=0.1,"
                  f"volume=1[n];sine=f=220:d={SECONDS}:r=44100[a];sine=f=331:d={SECONDS}:r=44100[b];"
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
    tracks = [Track(id=i + 1, path=f, title=f, sample_rate=44100) for i, f in enumerate(files)]
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
        files = _make_media(folder)
        me = [sys.executable, "-m", "tests.benchmarks.bench_playback", "--driver"]

        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"CPU per second of audio ({SECONDS} s files, 44.1 kHz stereo, to an ALSA file-plugin device; "
              f"median of {REPEATS}; {os.cpu_count()} cores, load average {load})")
        print("| format | engine, playback only | engine, whole process (imports too) | ffmpeg -f alsa (baseline) "
              "| engine peak RSS | ffmpeg peak RSS |")
        print("|---|---:|---:|---:|---:|---:|")
        for name, path in files.items():
            ours, theirs = [], []
            for _ in range(REPEATS):  # interleaved, median taken: the machine may be shared
                whole_s, rss_kib, out = _run_measured([*me, "cpu", str(path)], env)
                ours.append((json.loads(out.strip().splitlines()[-1])["cpu_s"], whole_s, rss_kib, out))
                theirs.append(_run_measured(
                    ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(path), "-f", "alsa", "default"], env
                ))
            ours.sort(key=lambda r: r[0])
            theirs.sort(key=lambda r: r[0])
            _, whole_s, rss_kib, out = ours[len(ours) // 2]
            inner = json.loads(out.strip().splitlines()[-1])
            ff_s, ff_rss, _ = theirs[len(theirs) // 2]
            print(f"| {name} | {inner['cpu_s'] * 1000 / SECONDS:.2f} ms/s | {whole_s * 1000 / SECONDS:.2f} ms/s "
                  f"| {ff_s * 1000 / SECONDS:.2f} ms/s | {rss_kib / 1024:.0f} MiB "
                  f"(after imports {inner['rss_before_kib'] / 1024:.0f}) | {ff_rss / 1024:.0f} MiB |")

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
