"""A small demo library, generated on first start so a new jukebox has something to play.

The tunes are synthesised (no recordings ship with the product) and encoded to FLAC with PyAV,
tagged like real music so every screen has something to show.
"""

from __future__ import annotations

import array
import logging
import math
from pathlib import Path

import av

from kiosk.core.models import TrackInfo
from kiosk.library.safecopy import content_digest, content_hash_of

log = logging.getLogger(__name__)

RATE = 44100
#: Each tune is played this many times over, for tracks long enough to try seeking and skipping.
REPEATS = 4
#: (title, artist, album, notes as (MIDI note, beats)), at 120 beats per minute.
TUNES: tuple[tuple[str, str, str, tuple[tuple[int, float], ...]], ...] = (
    (
        "Morning Scale",
        "The Demo Band",
        "First Light",
        ((60, 1), (62, 1), (64, 1), (65, 1), (67, 1), (69, 1), (71, 1), (72, 2)),
    ),
    (
        "Evening Scale",
        "The Demo Band",
        "First Light",
        ((72, 1), (71, 1), (69, 1), (67, 1), (65, 1), (64, 1), (62, 1), (60, 2)),
    ),
    ("Little Arpeggio", "The Demo Band", "First Light", ((60, 0.5), (64, 0.5), (67, 0.5), (72, 0.5)) * 3),
    ("Twinkle", "Sine Choir", "Nursery Tones", ((60, 1), (60, 1), (67, 1), (67, 1), (69, 1), (69, 1), (67, 2))),
    ("Ode", "Sine Choir", "Nursery Tones", ((64, 1), (64, 1), (65, 1), (67, 1), (67, 1), (65, 1), (64, 1), (62, 1))),
)


def _render(notes: tuple[tuple[int, float], ...]) -> bytes:
    """Stereo 16-bit PCM of the notes, each with a short fade so notes do not click."""
    samples = array.array("h")
    for note, beats in notes:
        freq = 440.0 * 2 ** ((note - 69) / 12)
        count = int(RATE * beats * 0.5)
        fade = min(count // 4, RATE // 50)
        step = 2 * math.pi * freq / RATE
        for i in range(count):
            env = min(1.0, i / fade, (count - i) / fade) if fade else 1.0
            value = int(9000 * env * math.sin(step * i))
            samples.append(value)
            samples.append(value)
    return samples.tobytes()


def _encode_flac(path: Path, pcm: bytes, tags: dict[str, str]) -> None:
    tmp = path.with_suffix(".tmp")
    with av.open(str(tmp), "w", format="flac") as out:
        for key, value in tags.items():
            out.metadata[key] = value
        stream = out.add_stream("flac", rate=RATE, layout="stereo")
        frame_samples = 4096
        bytes_per_frame = frame_samples * 4
        for start in range(0, len(pcm), bytes_per_frame):
            chunk = pcm[start : start + bytes_per_frame]
            frame = av.AudioFrame(format="s16", layout="stereo", samples=len(chunk) // 4)
            frame.planes[0].update(chunk)
            frame.sample_rate = RATE
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    tmp.replace(path)


def make_demo_library(folder: Path) -> list[TrackInfo]:
    """Writes the demo tunes into ``folder`` (skipping ones already there); returns their track info."""
    folder.mkdir(parents=True, exist_ok=True)
    infos = []
    for number, (title, artist, album, notes) in enumerate(TUNES, start=1):
        path = folder / f"{number:02d} {title}.flac"
        if not path.exists():
            log.info("generating demo track %s", path.name)
            _encode_flac(
                path,
                _render(notes * REPEATS),
                {
                    "title": title,
                    "artist": artist,
                    "album": album,
                    "album_artist": artist,
                    "track": str(number),
                    "date": "2026",
                    "genre": "Demo",
                },
            )
        digest = content_digest(path.read_bytes())  # the scanner's hash: a stick with this file is a duplicate
        beats = sum(b for _, b in notes) * REPEATS
        stat = path.stat()
        infos.append(
            TrackInfo(
                path=str(path),
                title=title,
                artist=artist,
                album=album,
                album_artist=artist,
                track_number=number,
                year=2026,
                genre="Demo",
                duration_ms=int(beats * 500),
                codec="flac",
                sample_rate=RATE,
                channels=2,
                file_size=stat.st_size,
                mtime_ns=stat.st_mtime_ns,
                content_hash=content_hash_of(digest),
            )
        )
    return infos
