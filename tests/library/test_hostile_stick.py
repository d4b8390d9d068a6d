"""A stick made to hurt: the scan and the import finish, count what they refused and why, and keep clean rows.

Each hostile item sits beside good music in one tree: a symlink out of the stick, a symlink loop,
a FIFO and a device node named like music, a very deep tree, a 255-byte name, a non-UTF-8 name,
1 MB tag values, control characters and Kivy markup in tags, truncated and garbage audio, and an
oversized cover. Good files must all arrive; nothing hostile may reach a row, a thread, or /etc.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import TypedDict

import pytest
from mutagen.id3 import APIC, ID3, TIT2, TPE1
from PIL import Image

from kiosk.core.bus import RecordingBus
from kiosk.core.models import Track
from kiosk.library.importer import StickImporter
from kiosk.library.scanner import MAX_DEPTH, Scanner
from kiosk.library.store import SqlLibraryStore
from kiosk.library.tags import MAX_TEXT_CHARS, ProcessTagReader
from tests.media import ffmpeg_available, make_tone

pytestmark = pytest.mark.skipif(not ffmpeg_available(), reason="ffmpeg is needed to make audio files")


@pytest.fixture
def reader(tmp_path: Path) -> Iterator[ProcessTagReader]:
    # Nothing here hangs; a loaded 2-core machine once took over 5 s for the file with 1 MB tags and a huge
    # cover, which then timed out and was missing. The allowance is generous so only a real hang runs out.
    r = ProcessTagReader(tmp_path / "covers", workers=2, seconds_per_file=30)
    yield r
    r.close()


@pytest.fixture
def store(tmp_path: Path, bus: RecordingBus) -> Iterator[SqlLibraryStore]:
    with SqlLibraryStore(tmp_path / "library.db", bus) as s:
        yield s


class HostileStickExpectations(TypedDict):
    """What the tests expect of a hostile stick."""

    good: list[str]  # titles of the files that must be read
    errors: set[str]  # names of the files refused with an error


def build_hostile_stick(root: Path, media_cache: Path) -> HostileStickExpectations:
    """Returns what the test expects: names of good files and of each refused item."""
    root.mkdir()
    good: list[str] = []

    def tone(path: Path | bytes, title: str) -> None:
        src = make_tone(root.parent / f"src-{len(good)}.mp3", "mp3", freq=200 + 10 * len(good),
                        tags={"title": title, "artist": "Good"}, cache_dir=media_cache)
        os.rename(src, path)
        good.append(title)

    tone(root / "plain.mp3", "Plain")
    # Links: out of the stick, and a folder loop. Never followed.
    (root / "passwd.mp3").symlink_to("/etc/passwd")
    (root / "loop").mkdir()
    (root / "loop" / "again").symlink_to("..")
    # A FIFO and a character device named like music: never opened (opening the FIFO would hang).
    os.mkfifo(root / "pipe.mp3")
    os.mknod(root / "zero.flac", 0o600 | stat.S_IFCHR, os.makedev(1, 5))  # /dev/zero
    # A tree deeper than the limit with music at the bottom, and one just inside it.
    deep = root
    for level in range(MAX_DEPTH + 3):
        deep = deep / f"d{level}"
        if level == MAX_DEPTH - 2:
            deep.mkdir(parents=True)
            tone(deep / "deep-ok.mp3", "Deep enough")
    deep.mkdir(parents=True)
    tone(deep / "too-deep.mp3", "Too deep")
    good.remove("Too deep")
    # Long and undecodable names.
    tone(root / ("n" * 251 + ".mp3"), "Long name")
    tone(os.fsencode(root) + b"/latin\xe9.mp3", "Latin-1 name")
    # Tags: 1 MB values, control characters, Kivy markup, an oversized cover.
    hostile_tags = root / "tags.mp3"
    tone(hostile_tags, "placeholder")
    good.remove("placeholder")
    id3 = ID3(hostile_tags)
    id3.add(TIT2(text=["[color=ff0000][b]Loud[/b][/color]\x1b[2J\r\nTitle" + "x" * 1_000_000]))
    id3.add(TPE1(text=["\u202eArtist\x07" + "y" * 1_000_000]))
    bomb = io.BytesIO()
    Image.new("1", (20000, 20000)).save(bomb, "PNG")
    id3.add(APIC(mime="image/png", type=3, desc="", data=bomb.getvalue()))
    id3.save(hostile_tags)
    # Broken audio.
    whole = make_tone(root.parent / "whole.flac", "flac", cache_dir=media_cache).read_bytes()
    (root / "truncated.flac").write_bytes(whole[:100])
    (root / "garbage.mp3").write_bytes(os.urandom(4096))
    (root / "empty.m4a").write_bytes(b"")
    return {"good": good, "errors": {"truncated.flac", "garbage.mp3", "empty.m4a"}}


def _assert_clean(track: Track) -> None:
    for value in (track.title, track.artist, track.album, track.album_artist, track.genre):
        assert len(value) <= MAX_TEXT_CHARS
        assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or 0x202A <= ord(c) <= 0x202E for c in value), value
    assert Path(track.path).is_file() and not Path(track.path).is_symlink()


def test_scanning_a_hostile_stick_in_place(
    tmp_path: Path, media_cache: Path, store: SqlLibraryStore, bus: RecordingBus, reader: ProcessTagReader
) -> None:
    root = tmp_path / "stick"
    expected = build_hostile_stick(root, media_cache)
    result = Scanner(store, bus, reader).scan(root)
    assert result.status == "completed"
    tracks = store.list_tracks(limit=100)
    titles = sorted(t.title for t in tracks)
    # In place, the Latin-1 name cannot be stored as a path: refused with its reason.
    good = [t for t in expected["good"] if t != "Latin-1 name"]
    hostile_titles = [t for t in titles if t.startswith("[color=ff0000][b]Loud[/b][/color] [2J Title")]
    assert sorted(set(titles) - set(hostile_titles)) == sorted(good)
    assert len(hostile_titles) == 1 and len(hostile_titles[0]) == MAX_TEXT_CHARS, result.error_reasons
    for track in tracks:
        _assert_clean(track)
        assert root in Path(track.path).parents
    hostile = next(t for t in tracks if t.title.startswith("[color"))
    assert hostile.artist.startswith("Artist") and hostile.cover_id is None
    reasons = "\n".join(result.skip_reasons)
    for needle in ("passwd.mp3: symbolic link", "again: symbolic link", "pipe.mp3: not a regular file",
                   "zero.flac: not a regular file", f"nested deeper than {MAX_DEPTH}", "not valid UTF-8"):
        assert needle in reasons, f"{needle!r} missing from {reasons}"
    failed = {reason.split(":")[0] for reason in result.error_reasons}
    assert failed == expected["errors"]
    assert result.errors == 3


def test_importing_a_hostile_stick(
    tmp_path: Path, media_cache: Path, store: SqlLibraryStore, bus: RecordingBus, reader: ProcessTagReader
) -> None:
    root = tmp_path / "stick"
    expected = build_hostile_stick(root, media_cache)
    music = tmp_path / "music"
    result = StickImporter(store, bus, reader, music).import_from(root)
    assert result.status == "completed"
    tracks = store.list_tracks(limit=100)
    titles = {t.title for t in tracks}
    assert set(expected["good"]) <= titles
    assert "Latin-1 name" in titles  # an import renames it from its tags
    assert len(tracks) == len(expected["good"]) + 1, result.error_reasons
    for track in tracks:
        _assert_clean(track)
        assert music in Path(track.path).parents
        assert all(len(part.encode()) <= 130 for part in Path(track.path).relative_to(music).parts)
    assert result.errors == 3
    assert not (music / "etc").exists()
    assert all(p.is_file() or p.is_dir() for p in music.rglob("*"))  # no links, FIFOs or devices copied
