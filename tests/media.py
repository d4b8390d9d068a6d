"""Generate small, real, tagged audio files in every format the jukebox plays (with ffmpeg).

Files are made once per (format, length, tone, tags) and cached per test session, so the suite
stays fast; tests copy them where they need them.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

#: format name -> (file suffix, ffmpeg codec arguments)
FORMATS: dict[str, tuple[str, list[str]]] = {
    "mp3": (".mp3", ["-c:a", "libmp3lame", "-b:a", "128k"]),
    "flac": (".flac", ["-c:a", "flac"]),
    "ogg": (".ogg", ["-c:a", "libvorbis", "-q:a", "3"]),
    "opus": (".opus", ["-c:a", "libopus", "-b:a", "96k"]),
    "m4a": (".m4a", ["-c:a", "aac", "-b:a", "128k"]),
    "alac": (".m4a", ["-c:a", "alac"]),
    "wav": (".wav", ["-c:a", "pcm_s16le"]),
    "aiff": (".aiff", ["-c:a", "pcm_s16be"]),
    "wma": (".wma", ["-c:a", "wmav2", "-b:a", "128k"]),
}


def ffmpeg_available() -> bool:
    return shutil.which("ffmpeg") is not None


def make_tone(
    path: Path,
    fmt: str,
    *,
    seconds: float = 1.0,
    freq: float = 440.0,
    rate: int = 44100,
    channels: int = 2,
    tags: dict[str, str] | None = None,
    cache_dir: Path | None = None,
) -> Path:
    """Write a sine tone of ``seconds`` to ``path`` in ``fmt`` with the given tags; returns ``path``.

    ``tags`` uses ffmpeg metadata names: title, artist, album, album_artist, track ("3/12"),
    disc ("1/2"), date, genre. Opus is always encoded at 48 kHz (the codec's only rate).
    """
    suffix, codec = FORMATS[fmt]
    if path.suffix.lower() != suffix:
        raise ValueError(f"{fmt} files end in {suffix}, not {path.name}")
    key = hashlib.sha1(json.dumps([fmt, seconds, freq, rate, channels, tags or {}]).encode()).hexdigest()
    cached = (cache_dir / f"{key}{suffix}") if cache_dir else None
    if cached is not None and cached.exists():
        shutil.copyfile(cached, path)
        return path
    out_rate = 48000 if fmt == "opus" else rate
    cmd = [
        "ffmpeg", "-nostdin", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", f"sine=frequency={freq}:sample_rate={rate}:duration={seconds}",
        "-ac", str(channels), "-ar", str(out_rate),
    ]
    for key_name, value in (tags or {}).items():
        cmd += ["-metadata", f"{key_name}={value}"]
    cmd += [*codec, str(path)]
    subprocess.run(cmd, check=True)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, cached)
    return path
