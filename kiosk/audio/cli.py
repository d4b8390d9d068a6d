"""``kiosk play FILE... [--device PCM] [--json]``: play files in order through the real engine.

A small stand-in for the core (a list of tracks made from the files) drives the same engine the
jukebox uses, so this command checks a sound set-up end to end on the Pi.
"""

from __future__ import annotations

import argparse
import logging
import queue
import sys
import threading
from pathlib import Path
from typing import Any

from kiosk.core.bus import EventBus
from kiosk.core.errors import DeviceError
from kiosk.core.events import Event, PlayerError, PlayerState
from kiosk.core.models import Track

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser("play", help="play audio files in order, then exit")
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="audio files, played in this order")
    parser.add_argument("--device", default=None, help="ALSA PCM to play to (default: [audio] device in the config)")
    parser.add_argument("--json", action="store_true", help="print every player event as a JSON line")
    parser.set_defaults(func=run_play)


class FileListHost:
    """The core's part for a fixed list: each track is followed by the next, then the end."""

    def __init__(self, tracks: list[Track]) -> None:
        self.tracks = tracks
        self.index = 0
        self.finished = threading.Event()
        self.heard: list[int] = []

    def track_ended(self, track_id: int) -> tuple[Track, int] | None:
        if self.index + 1 < len(self.tracks):
            self.index += 1
            return self.tracks[self.index], self.index
        self.finished.set()
        return None

    def track_heard(self, track_id: int) -> None:
        self.heard.append(track_id)


def tracks_for(files: list[Path]) -> list[Track]:
    from kiosk.audio.decoder import probe

    tracks = []
    for number, file in enumerate(files, start=1):
        duration_ms, rate = probe(str(file))
        tracks.append(Track(id=number, path=str(file), title=file.name, duration_ms=duration_ms, sample_rate=rate))
    return tracks


def _clock(ms: int) -> str:
    seconds = ms // 1000
    return f"{seconds // 60}:{seconds % 60:02d}"


def run_play(args: argparse.Namespace) -> int:
    from kiosk.audio import build_player
    from kiosk.audio.output import silence_alsa_lib_errors

    silence_alsa_lib_errors()
    tracks = tracks_for(list(args.files))
    bus = EventBus()
    events: queue.SimpleQueue[Event] = queue.SimpleQueue()
    bus.subscribe_all(events.put)  # printed on this thread, never on the player's
    try:
        player = build_player(args.config, bus, device=args.device)
    except DeviceError as exc:
        print(f"kiosk play: {exc}", file=sys.stderr)
        return 2
    host = FileListHost(tracks)
    player.attach(host)
    player.play(tracks[0], 0)
    interactive = sys.stdout.isatty() and not args.json
    failures = 0
    last_track: int | None = None
    try:
        while True:
            event = events.get()
            if isinstance(event, PlayerError):
                failures += 1
            if args.json:
                print(event.to_json(), flush=True)
            elif isinstance(event, PlayerError):
                print(("\n" if interactive else "") + f"kiosk play: {event.message}", file=sys.stderr)
            elif isinstance(event, PlayerState) and event.track_id is not None and event.state == "playing":
                track = tracks[event.track_id - 1]
                where = f"{_clock(event.position_ms)} / {_clock(event.duration_ms)}"
                line = f"{event.track_id}/{len(tracks)} {track.title}  {where}"
                if interactive:
                    print("\r" + line.ljust(78)[:78], end="", flush=True)
                elif event.track_id != last_track:
                    print(line, flush=True)
                last_track = event.track_id
            if isinstance(event, PlayerState) and event.state == "stopped" and host.finished.is_set():
                break
    except KeyboardInterrupt:
        return 130
    finally:
        player.close()
        if interactive:
            print()
    return 1 if failures else 0
