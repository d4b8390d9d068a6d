"""Reading tags of untrusted audio files with mutagen, in worker processes that may die.

``read_track`` turns one file into a clean ``TrackInfo`` (control characters stripped, lengths capped,
numbers range-checked, title from the file name when missing, content hash, cover thumbnail).
``ProcessTagReader`` runs it on every core with pebble: files go out in small chunks, a chunk that hangs
or kills its worker is retried file by file, so a hostile file costs itself and nothing else.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import dataclasses
import io
import logging
import math
import multiprocessing
import operator
import os
import queue
import re
import resource
import signal
import stat
import struct
import threading
import unicodedata
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

import mutagen
from mutagen.aiff import AIFF
from mutagen.asf import ASF
from mutagen.asf._objects import HeaderObject
from mutagen.flac import FLAC, Picture
from mutagen.mp3 import MP3
from mutagen.mp4 import MP4
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis
from mutagen.wave import WAVE
from pebble import ProcessExpired, ProcessPool

from kiosk.core.models import TrackInfo
from kiosk.core.ports.usb import TagRequest, TagResult
from kiosk.library import covers
from kiosk.library.safecopy import (
    CHANGED_SINCE_SCAN,
    COPY_CHUNK,
    DiskFull,
    SourceGone,
    copy_open_file,
    staged_temp_path,
    write_new_file,
)

log = logging.getLogger(__name__)

#: Suffixes the scanner hands to the tag reader (what the player can play).
AUDIO_SUFFIXES = frozenset(
    {".mp3", ".flac", ".ogg", ".oga", ".opus", ".m4a", ".m4b", ".mp4", ".aac", ".wav", ".aif", ".aiff", ".aifc", ".wma"}
)
MAX_TEXT_CHARS = 256
MAX_PICTURE_BYTES = covers.MAX_COVER_BYTES
# Control characters, bidi overrides/isolates, zero-width joiners games, lone surrogates, BOM, specials.
_UNWANTED = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff\ufff0-\ufffc\ufffe\uffff\ud800-\udfff]"
)
_SPACES = re.compile(r"\s+")


class UnreadableFile(Exception):
    """The file is not audio we can read; the message is the reason shown in the scan report."""


# --- cleaning tag values --------------------------------------------------------------------------


def clean_text(value: object, limit: int = MAX_TEXT_CHARS) -> str:
    """One line of printable text: control and bidi characters gone, whitespace collapsed, capped."""
    text = value if isinstance(value, str) else str(value)
    if len(text) <= limit and text.isascii() and text.isprintable() and "  " not in text:
        return text.strip()  # the common case: nothing to remove, normalise or collapse
    text = text[: limit * 4]  # a 1 MB tag costs nothing past here
    text = unicodedata.normalize("NFC", text)
    text = _UNWANTED.sub(" ", text)
    text = _SPACES.sub(" ", text).strip()
    return text[:limit].rstrip()


def parse_number_pair(value: object) -> tuple[int | None, int | None]:
    """'3/12', '3', (3, 12) -> (3, 12); anything odd or out of range -> None."""
    if value == "" or value is None:
        return None, None
    if isinstance(value, tuple):
        parts: list[Any] = list(value[:2])
    else:
        parts = str(value)[:32].split("/", 1)
    out: list[int | None] = []
    for part in [*parts, None][:2]:
        try:
            number = int(str(part).strip()) if part is not None else None
        except ValueError:
            number = None
        out.append(number if number is not None and 0 < number < 10000 else None)
    return out[0], out[1]


def parse_year(value: object) -> int | None:
    match = re.search(r"\b(\d{4})\b", str(value)[:64])
    if match and 1000 <= int(match.group(1)) <= 2999:
        return int(match.group(1))
    return None


def parse_gain(value: object, low: float, high: float) -> float | None:
    match = re.match(r"\s*([+-]?\d+(?:\.\d+)?)", str(value)[:64])
    if not match:
        return None
    number = float(match.group(1))
    return number if math.isfinite(number) and low <= number <= high else None


def title_from_file_name(path: str) -> str:
    stem = os.path.splitext(os.path.basename(path))[0]
    stem = stem.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    stem = re.sub(r"^\s*\d{1,3}\s*[-._)]\s*", "", stem)  # "03 - Song" -> "Song"
    return clean_text(stem.replace("_", " ")) or "Untitled"


# --- per-format tag access ------------------------------------------------------------------------

_ID3 = {
    "title": "TIT2", "artist": "TPE1", "album": "TALB", "album_artist": "TPE2", "track": "TRCK",
    "disc": "TPOS", "date": "TDRC", "genre": "TCON",
}
_MP4 = {
    "title": "\xa9nam", "artist": "\xa9ART", "album": "\xa9alb", "album_artist": "aART", "track": "trkn",
    "disc": "disk", "date": "\xa9day", "genre": "\xa9gen",
}
_ASF = {
    "title": "Title", "artist": "Author", "album": "WM/AlbumTitle", "album_artist": "WM/AlbumArtist",
    "track": "WM/TrackNumber", "disc": "WM/PartOfSet", "date": "WM/Year", "genre": "WM/Genre",
}
_VORBIS = {
    "title": "title", "artist": "artist", "album": "album", "album_artist": "albumartist", "track": "tracknumber",
    "disc": "discnumber", "date": "date", "genre": "genre",
}
_VORBIS_FIELDS = {
    **{key: field for field, key in _VORBIS.items()},
    **{key: key for key in ("tracktotal", "totaltracks", "disctotal", "totaldiscs", "album artist")},
    **{key: key for key in ("replaygain_track_gain", "replaygain_track_peak", "replaygain_album_gain",
                            "replaygain_album_peak")},
}
_RIFF_INFO = {"INAM": "title", "IART": "artist", "IPRD": "album", "IPRT": "track", "ITRK": "track",
              "ICRD": "date", "IGNR": "genre"}
_AIFF_TEXT = {b"NAME": "title", b"AUTH": "artist"}
_ITUNES = "----:com.apple.itunes:"
_RG_KEYS = ("replaygain_track_gain", "replaygain_track_peak", "replaygain_album_gain", "replaygain_album_peak")


def _first(value: Any) -> Any:
    if isinstance(value, list | tuple) and value and not isinstance(value, str):
        value = value[0]
    if hasattr(value, "text") and isinstance(value.text, list):  # ID3 text frame
        return value.text[0] if value.text else ""
    if hasattr(value, "value") and not isinstance(value, bytes | str):  # ASF attribute
        return value.value
    if isinstance(value, bytes):  # MP4 freeform atoms
        return value[:4096].decode("utf-8", "replace")
    return value


def _generic_fields(tags: Any) -> dict[str, Any]:
    """The raw values of the fields we keep, whatever the tag format.

    Keys are looked up in a set of the tag's keys: mutagen's ``key in tags`` raises and catches a
    KeyError for every field a file lacks (a linear search for WMA), which cost more than the parse.
    """
    out: dict[str, Any] = {}
    if tags is None:
        return out
    kind = type(tags).__name__
    if kind not in ("ID3", "_WaveID3", "_IFFID3", "EasyID3", "MP4Tags", "ASFTags"):
        # Vorbis comments (FLAC, Ogg Vorbis, Opus): a list of pairs; one pass, first value wins
        for key, value in tags:
            field = _VORBIS_FIELDS.get(key.lower())
            if field is not None and field not in out:
                out[field] = value
        if "album_artist" not in out and "album artist" in out:
            out["album_artist"] = out["album artist"]
        return out
    present = set(tags.keys())
    if kind == "MP4Tags":
        table = _MP4
        for key in present:
            if key.startswith("----:") and (name := key.lower().removeprefix(_ITUNES)) in _RG_KEYS:
                out.setdefault(name, _first(tags[key]))
    elif kind == "ASFTags":
        table = _ASF
        for key in _RG_KEYS:
            if key in present:
                out[key] = _first(tags[key])
    else:
        table = _ID3
        for frame in tags.getall("TXXX"):
            if frame.desc.lower() in _RG_KEYS and frame.text:
                out[frame.desc.lower()] = frame.text[0]
    for field, key in table.items():
        if key in present:
            try:
                out[field] = _first(tags[key])
            except (ValueError, KeyError, TypeError):
                continue
    if kind == "ASFTags" and "date" not in out and "date" in present:  # what ffmpeg and some rippers write
        out["date"] = _first(tags["date"])
    return out


def _iff_chunks(f: Any, form: bytes, form_types: tuple[bytes, ...], size_format: str) -> Iterator[tuple[bytes, int]]:
    """The top-level chunks of a RIFF or AIFF file as (id, size), the file positioned at each chunk's body.

    Bounded: at most 256 chunks, never past the size the header declares.
    """
    f.seek(0)
    head = f.read(12)
    if len(head) < 12 or head[:4] != form or head[8:12] not in form_types:
        return
    pos, end = 12, 8 + struct.unpack(size_format, head[4:8])[0]
    for _ in range(256):
        if pos + 8 > end:
            return
        f.seek(pos)
        chunk = f.read(8)
        if len(chunk) < 8:
            return
        size = struct.unpack(size_format, chunk[4:8])[0]
        yield chunk[:4], size
        pos += 8 + size + (size & 1)


def _read_riff_info(f: Any, limit: int = 1 << 20) -> dict[str, Any]:
    """Text from a WAV file's LIST/INFO chunk (what most tools and ffmpeg write)."""
    out: dict[str, Any] = {}
    for cid, size in _iff_chunks(f, b"RIFF", (b"WAVE",), "<I"):
        if cid != b"LIST" or size > limit:
            continue
        body = f.read(size)
        if body[:4] != b"INFO":
            continue
        sub = 4
        while sub + 8 <= len(body):
            sid, ssize = body[sub : sub + 4].decode("latin-1"), struct.unpack("<I", body[sub + 4 : sub + 8])[0]
            if sid in _RIFF_INFO:
                out.setdefault(_RIFF_INFO[sid], _decode_legacy(body[sub + 8 : sub + 8 + ssize].split(b"\0", 1)[0]))
            sub += 8 + ssize + (ssize & 1)
    return out


def _read_aiff_text(f: Any, limit: int = 65536) -> dict[str, Any]:
    """Title and artist from an AIFF file's NAME and AUTH chunks (what ffmpeg writes)."""
    out: dict[str, Any] = {}
    for cid, size in _iff_chunks(f, b"FORM", (b"AIFF", b"AIFC"), ">I"):
        if cid in _AIFF_TEXT and size <= limit:
            out.setdefault(_AIFF_TEXT[cid], _decode_legacy(f.read(size).split(b"\0", 1)[0]))
    return out


def _decode_legacy(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _picture_data(audio: Any) -> bytes | None:
    """The first embedded picture's bytes, front cover preferred, or None."""
    tags = audio.tags
    candidates: list[tuple[int, bytes]] = []
    pictures = getattr(audio, "pictures", None)  # FLAC
    if pictures:
        candidates += [(p.type, p.data) for p in pictures]
    if tags is not None:
        kind = type(tags).__name__
        if kind in ("ID3", "_WaveID3", "_IFFID3"):
            candidates += [(frame.type, frame.data) for frame in tags.getall("APIC")]
        elif kind == "MP4Tags" and "covr" in tags:
            candidates += [(3, bytes(c)) for c in tags["covr"]]
        elif kind == "ASFTags" and "WM/Picture" in tags:
            for attr in tags["WM/Picture"]:
                raw = attr.value  # type, size, mime (utf-16z), description (utf-16z), data
                try:
                    pic_type = raw[0]
                    (size,) = struct.unpack("<I", raw[1:5])
                    candidates.append((pic_type, raw[len(raw) - size :]))
                except (IndexError, struct.error):
                    continue
        elif "metadata_block_picture" in tags:
            for encoded in tags["metadata_block_picture"][:4]:
                try:
                    pic = Picture(base64.b64decode(encoded[: MAX_PICTURE_BYTES * 2]))
                except (ValueError, TypeError, mutagen.MutagenError, struct.error):
                    continue
                candidates.append((pic.type, pic.data))
    if not candidates:
        return None
    candidates.sort(key=lambda c: c[0] != 3)  # type 3 is the front cover
    return candidates[0][1]


def _codec(audio: Any) -> str:
    kind = type(audio).__name__
    if kind == "MP4":
        codec = str(getattr(audio.info, "codec", ""))
        return "alac" if codec.startswith("alac") else "aac" if codec.startswith("mp4a") else codec[:16]
    return {
        "MP3": "mp3", "EasyMP3": "mp3", "FLAC": "flac", "OggVorbis": "vorbis", "OggOpus": "opus", "WAVE": "pcm",
        "AIFF": "pcm", "ASF": "wma", "AAC": "aac", "OggFLAC": "flac",
    }.get(kind, kind.lower()[:16])


def _positive_int(value: Any, high: int) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if 0 < number <= high else None


class _NamedBytes(io.BytesIO):
    """A small file read whole, in one system call; the name lets mutagen score by suffix."""

    def __init__(self, data: bytes, name: str) -> None:
        super().__init__(data)
        self.name = name


#: Files up to this size are read in one system call and parsed in memory. Larger ones are parsed from disk,
#: where mutagen reads the headers and tags it needs and seeks past the audio: the scan never reads a song's
#: audio (whole-file content hashes are made by the import, which reads every byte to copy it anyway).
WHOLE_FILE_LIMIT = 256 * 1024

_ASF_GUID = HeaderObject.GUID
_MPEG_SYNC = (b"\xff\xf2", b"\xff\xf3", b"\xff\xfa", b"\xff\xfb")  # the frame starts mutagen's MP3 scores


def _kind_by_signature(header: bytes, suffix: str) -> type[mutagen.FileType] | None:
    """The parser for a file whose first bytes name its format unambiguously, else None.

    ``mutagen.File`` imports and scores two dozen parsers for every file, which costs a third of the parse
    of a small file; for these signatures its choice is known in advance. The signature wins over the
    suffix: FLAC bytes named ``.mp3`` are read as FLAC (``mutagen.File`` would let the suffix pick its
    MP3 parser, which fails). An ID3 header or a bare MPEG frame can start other formats too, so those
    count as MP3 only with the ``.mp3`` suffix. Everything else goes to ``mutagen.File``.
    """
    if header.startswith(b"fLaC"):
        return FLAC
    if header.startswith(b"OggS"):
        return OggVorbis if header[28:35] == b"\x01vorbis" else OggOpus if header[28:36] == b"OpusHead" else None
    if header[4:8] == b"ftyp":
        return MP4
    if header.startswith(_ASF_GUID):
        return ASF
    if header.startswith(b"RIFF"):
        return WAVE if header[8:12] == b"WAVE" else None
    if header.startswith(b"FORM"):
        return AIFF if header[8:12] in (b"AIFF", b"AIFC") else None
    if suffix == ".mp3" and (header.startswith(b"ID3") or header.startswith(_MPEG_SYNC)):
        return MP3
    return None


def open_audio(source: Any, path: str, header: bytes) -> Any:
    """Parses ``source`` (a file object named ``path``, ``header`` its first bytes) with mutagen.

    Returns the mutagen file or None when no parser claims it; mutagen's own exceptions pass through.
    """
    kind = _kind_by_signature(header, os.path.splitext(path)[1].lower())
    if kind is None:
        return mutagen.File(source)
    return kind(source)


def _read_whole(fd: int, size: int) -> bytes:
    """The file's first ``size`` bytes (its size at ``fstat``): one read, more only after a short one (FUSE)."""
    data = os.read(fd, size)
    if len(data) < size:
        parts = [data]
        while size > (got := sum(map(len, parts))) and (more := os.read(fd, size - got)):
            parts.append(more)
        data = b"".join(parts)
    return data


def read_track(request: TagRequest, covers_dir: str | None) -> TrackInfo:
    """One file to a clean ``TrackInfo``; raises ``UnreadableFile`` with the reason.

    Opens without following symlinks and without blocking, and refuses anything but a regular file,
    so a FIFO or device node that slipped past the inventory is never read. A file up to
    ``WHOLE_FILE_LIMIT`` is read in one go; no content hash is made here.
    """
    return _read_source(request, covers_dir, None)


def copy_and_read_track(request: TagRequest, covers_dir: str | None, copy_to: str) -> TrackInfo:
    """``read_track`` that also copies the file into a new file ``copy_to`` from the same read, hashing it as
    it is written; the ``TrackInfo`` carries the copy's size, mtime and hash.

    A file up to ``WHOLE_FILE_LIMIT`` is read once, copied and parsed from memory; a larger one is copied in
    chunks and then parsed from the same open file (its pages are in the cache by then). Every failure,
    the copy's included (``DISK_FULL`` for a full disk), is an ``UnreadableFile`` and leaves no copy.
    """
    return _read_source(request, covers_dir, copy_to)


def _read_source(request: TagRequest, covers_dir: str | None, copy_to: str | None) -> TrackInfo:
    path = request.path
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise UnreadableFile(f"cannot open: {exc.strerror or exc}") from None
    copied = False
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnreadableFile("not a regular file")
        if copy_to is not None and st.st_size != request.file_size:
            raise UnreadableFile(CHANGED_SINCE_SCAN)
        content_hash = ""
        if st.st_size <= WHOLE_FILE_LIMIT:
            try:
                data = _read_whole(fd, st.st_size)
            except OSError as exc:
                raise UnreadableFile(f"cannot read: {exc.strerror or exc}") from None
            os.close(fd)
            fd = -1
            if copy_to is not None:
                st, content_hash = _copy_failures_unreadable(lambda: write_new_file(copy_to, data))
                copied = True
                if st.st_size != request.file_size:  # it shrank while it was read
                    raise UnreadableFile(CHANGED_SINCE_SCAN)
            info = _track_from(_NamedBytes(data, path), data[:128], request, st, covers_dir, content_hash)
        else:
            if copy_to is not None:
                st, content_hash = _copy_failures_unreadable(
                    lambda: copy_open_file(fd, copy_to, _never, _worker_copy_buffer())
                )
                copied = True
                if st.st_size != request.file_size:  # it grew or shrank while it was copied
                    raise UnreadableFile(CHANGED_SINCE_SCAN)
            with os.fdopen(fd, "rb", closefd=False) as f:
                f.seek(0)
                header = f.read(128)
                f.seek(0)
                info = _track_from(f, header, request, st, covers_dir, content_hash)
        copied = False  # whole, and its tags read: the caller's now
        return info
    finally:
        if fd >= 0:
            with contextlib.suppress(OSError):  # closing a file on a dead FUSE mount fails too
                os.close(fd)
        if copied and copy_to is not None:
            with contextlib.suppress(OSError):
                os.unlink(copy_to)


def _copy_failures_unreadable(copy: Callable[[], tuple[os.stat_result, str]]) -> tuple[os.stat_result, str]:
    """A failed copy is the file's ``UnreadableFile``, with the reason the importer acts on."""
    try:
        return copy()
    except (DiskFull, SourceGone) as exc:
        raise UnreadableFile(str(exc)) from None
    except OSError as exc:
        raise UnreadableFile(f"copy failed: {exc.strerror or exc}") from None


def _track_from(
    source: Any, header: bytes, request: TagRequest, st: os.stat_result, covers_dir: str | None,
    content_hash: str = "",
) -> TrackInfo:
    """Parses an opened file into a ``TrackInfo``."""
    path = request.path
    try:
        audio = open_audio(source, path, header)
    except MemoryError:
        raise UnreadableFile("tag parser ran out of memory") from None
    except Exception as exc:  # mutagen raises far more than MutagenError on hostile files
        raise UnreadableFile(f"not a readable audio file ({type(exc).__name__})") from None
    if audio is None or getattr(audio, "info", None) is None:
        raise UnreadableFile("not a recognised audio format")
    fields = _generic_fields(audio.tags)
    kind = type(audio).__name__
    if kind == "WAVE" and not fields:
        fields = _read_riff_info(source)
    elif kind == "AIFF" and not fields:
        fields = _read_aiff_text(source)
    info = audio.info
    length = getattr(info, "length", 0) or 0
    if not (isinstance(length, int | float) and math.isfinite(length) and 0 <= length < 360000):
        length = 0
    if length <= 0:
        raise UnreadableFile("no audio in the file (zero length)")
    track_number, track_total = parse_number_pair(fields.get("track", ""))
    disc_number, disc_total = parse_number_pair(fields.get("disc", ""))
    track_total = track_total or parse_number_pair(fields.get("tracktotal", fields.get("totaltracks", "")))[0]
    disc_total = disc_total or parse_number_pair(fields.get("disctotal", fields.get("totaldiscs", "")))[0]
    cover_id = None
    if covers_dir is not None:
        cover_id = _cover_for(audio, request.folder_cover, covers_dir)
    return TrackInfo(
        path=path,
        title=clean_text(fields.get("title", "")) or title_from_file_name(path),
        artist=clean_text(fields.get("artist", "")),
        album=clean_text(fields.get("album", "")),
        album_artist=clean_text(fields.get("album_artist", "")),
        track_number=track_number,
        track_total=track_total,
        disc_number=disc_number,
        disc_total=disc_total,
        year=parse_year(fields.get("date", "")),
        genre=clean_text(fields.get("genre", ""), 64),
        duration_ms=round(length * 1000),
        codec=_codec(audio),
        bitrate=_positive_int(getattr(info, "bitrate", None), 100_000_000),
        sample_rate=48000 if kind == "OggOpus" else _positive_int(getattr(info, "sample_rate", None), 1_000_000),
        channels=_positive_int(getattr(info, "channels", None), 64),
        replaygain_track_gain=parse_gain(fields.get("replaygain_track_gain", ""), -60, 60),
        replaygain_track_peak=parse_gain(fields.get("replaygain_track_peak", ""), 0, 10),
        replaygain_album_gain=parse_gain(fields.get("replaygain_album_gain", ""), -60, 60),
        replaygain_album_peak=parse_gain(fields.get("replaygain_album_peak", ""), 0, 10),
        file_size=st.st_size,
        mtime_ns=st.st_mtime_ns,
        content_hash=content_hash,
        cover_id=cover_id,
    )


_folder_cover_ids: dict[str, str | None] = {}  # per worker process: one album's folder art decoded once


def _cover_for(audio: Any, folder_cover: str | None, covers_dir: str) -> str | None:
    try:
        data = _picture_data(audio)
    except Exception as exc:  # a malformed picture frame must not cost the track
        log.debug("picture unreadable: %s", exc)
        data = None
    if data is not None:
        try:
            return covers.store_cover(data, Path(covers_dir))
        except covers.CoverError as exc:
            log.debug("embedded cover refused: %s", exc)
    if folder_cover is None:
        return None
    if folder_cover not in _folder_cover_ids:
        _folder_cover_ids[folder_cover] = _folder_cover(folder_cover, Path(covers_dir))
    return _folder_cover_ids[folder_cover]


def _folder_cover(path: str, covers_dir: Path) -> str | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            data = f.read(covers.MAX_COVER_BYTES + 1)
        return covers.store_cover(data, covers_dir)
    except (OSError, covers.CoverError) as exc:
        log.debug("folder cover %r refused: %s", path, exc)
        return None


# --- the worker pool ------------------------------------------------------------------------------

ReadFunction = Callable[[TagRequest, "str | None"], TrackInfo]
#: A read function that also copies the file to the path it is given (``copy_and_read_track``).
CopyFunction = Callable[[TagRequest, "str | None", str], TrackInfo]


#: Files with the workers or finished and not yet taken, at most (see ``_Reading``): about 2-3 MB of results.
MAX_FILES_IN_FLIGHT = 2048
#: A copying read's chunks stop at this many bytes (or one file), so results and progress keep coming.
COPY_BATCH_BYTES = 8 * 1024 * 1024
_copy_buffer: bytearray | None = None


def _worker_copy_buffer() -> bytearray:
    """The worker's one copy buffer (a worker copies one file at a time): a fresh megabyte per small file
    costs more than its copy."""
    global _copy_buffer
    if _copy_buffer is None:
        _copy_buffer = bytearray(COPY_CHUNK)
    return _copy_buffer


def _never() -> bool:
    return False


@dataclasses.dataclass(frozen=True, slots=True)
class CopyThenRead:
    """The import's read function for the workers: ``copy`` (``copy_and_read_track``) each file into its
    temp file in ``staging`` (see ``staged_temp_path``).

    One process reads each file once for its copy, its hash and its tags, and the copies run on every core,
    outside the app's GIL. A stop in the middle is the parent's to clean up: it kills the workers and removes
    the temp files by their names.
    """

    staging: str
    temp_prefix: str
    copy: CopyFunction

    def __call__(self, request: TagRequest, covers_dir: str | None) -> TrackInfo:
        return self.copy(request, covers_dir, staged_temp_path(self.staging, self.temp_prefix, request.path))


#: A file's result as it travels from a worker: (path, the TrackInfo's field values or None, error or None).
RawResult = tuple[str, tuple[Any, ...] | None, str | None]
_TRACK_FIELDS = tuple(f.name for f in dataclasses.fields(TrackInfo))
_track_values = operator.attrgetter(*_TRACK_FIELDS)
_request_values = operator.attrgetter(*(f.name for f in dataclasses.fields(TagRequest)))


class _FileTimedOut(BaseException):
    """Raised by the alarm in a worker; a BaseException, so no parser's ``except Exception`` swallows it."""


def _on_alarm(signum: int, frame: object) -> None:
    raise _FileTimedOut


TIMED_OUT = "tag reading timed out"
#: A copy reads the whole file: running out of time usually means a slow or failing stick, not a bad parser.
COPY_TIMED_OUT = "copying timed out (the stick may be failing)"


def read_chunk(
    read: ReadFunction, requests: Sequence[tuple[Any, ...]], covers_dir: str | None,
    limit: tuple[float, float] | None = None, timed_out: str = TIMED_OUT,
) -> list[RawResult]:
    """Runs in a worker: every file's own failure becomes its result, never the chunk's.

    ``limit`` (seconds per file, seconds per MB) arms an alarm for each file, so a parser stuck in Python
    code costs that file its own allowance and the rest of the chunk is read on; the chunk's time limit
    in the parent stays as the backstop for a hang that no signal interrupts.

    Requests and results travel as plain tuples: pickling a slotted dataclass runs Python code per
    object, ten times the cost, and the parent's side of it happens on pebble's one result thread,
    which every worker's next send waits on.
    """
    alarms = limit is not None and _alarms_work()
    previous = signal.signal(signal.SIGALRM, _on_alarm) if alarms else None
    results: list[RawResult] = []
    try:
        for fields in requests:
            request = TagRequest(*fields)
            try:
                if limit is not None and alarms:
                    signal.setitimer(signal.ITIMER_REAL, limit[0] + request.file_size / 1e6 * limit[1])
                results.append(_read_one(read, request, covers_dir))
            except _FileTimedOut:  # also when the alarm rang just as the file's own handling ended
                results.append((request.path, None, timed_out))
            finally:
                if alarms:
                    signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        if alarms:
            signal.signal(signal.SIGALRM, previous)
    return results


def _alarms_work() -> bool:
    """Whether this worker can time a file itself: only its main thread takes signals, and a system-call
    filter could refuse the timer (then the chunk's time limit alone guards it)."""
    if threading.current_thread() is not threading.main_thread():
        return False
    try:
        signal.setitimer(signal.ITIMER_REAL, 0)
    except OSError as exc:
        log.warning("tag reader cannot time single files: %s", exc)
        return False
    return True


def _read_one(read: ReadFunction, request: TagRequest, covers_dir: str | None) -> RawResult:
    try:
        return request.path, _track_values(read(request, covers_dir)), None
    except UnreadableFile as exc:
        return request.path, None, str(exc)
    except MemoryError:
        return request.path, None, "tag parser ran out of memory"
    except Exception as exc:
        return request.path, None, f"tag reader failed ({type(exc).__name__})"


def _tag_result(raw: RawResult) -> TagResult:
    path, values, error = raw
    if values is None:
        return TagResult(path, error=error)
    return TagResult(path, info=TrackInfo(**dict(zip(_TRACK_FIELDS, values, strict=True))))


def _worker_ready() -> None:
    """The first task of a warm-up: starting the pool is all it is for."""


def _limit_worker_memory(max_bytes: int) -> None:
    """Pool initializer: an address-space cap turns a parser's memory blow-up into a MemoryError."""
    if max_bytes > 0:
        try:
            resource.setrlimit(resource.RLIMIT_AS, (max_bytes, max_bytes))
        except (OSError, ValueError) as exc:  # a seccomp filter without setrlimit: read on, unguarded
            log.warning("cannot cap tag reader memory: %s", exc)


class ProcessTagReader:
    """A ``TagReader`` on a pebble process pool: every core, a time limit per file, stuck workers replaced.

    The pool starts on the first ``read`` that has work (so a no-change rescan costs no processes)
    and stays up until ``close``. Workers come from a fork server, never forked from the app's threads.
    """

    def __init__(
        self,
        covers_dir: Path | None = None,
        *,
        workers: int | None = None,
        seconds_per_file: float = 10.0,
        seconds_per_mb: float = 0.5,
        copy_seconds_per_mb: float = 2.0,
        memory_limit: int = 768 * 1024 * 1024,
        chunk_files: int = 64,
        max_files_in_flight: int = MAX_FILES_IN_FLIGHT,
        read_function: ReadFunction = read_track,
        copy_function: CopyFunction = copy_and_read_track,
    ) -> None:
        """``read_function`` and ``copy_function`` run in the workers (tests hand in ones that wait or fail)."""
        self._covers_dir = str(covers_dir) if covers_dir is not None else None
        self._workers = workers or os.cpu_count() or 1
        self._seconds_per_file, self._seconds_per_mb = seconds_per_file, seconds_per_mb
        self._copy_seconds_per_mb = copy_seconds_per_mb  # a copy reads the whole file: a slow stick needs time
        self._memory_limit, self._chunk_files = memory_limit, chunk_files
        self.max_files_in_flight = max(1, max_files_in_flight)
        self._read, self._copy = read_function, copy_function
        self._pool: ProcessPool | None = None
        self._pool_lock = threading.Lock()
        self._warm_up: threading.Thread | None = None

    def _time_limit(self, requests: Sequence[TagRequest], seconds_per_mb: float) -> float:
        # One hostile file's allowance per chunk, plus what honest files need: a chunk that runs out is
        # retried file by file, each with the full allowance.
        return self._seconds_per_file + sum(0.2 + r.file_size / 1e6 * seconds_per_mb for r in requests)

    def _ensure_pool(self) -> ProcessPool:
        with self._pool_lock:
            if self._pool is None:
                context = multiprocessing.get_context("forkserver")
                # The fork server imports the main module, mutagen's parsers and Pillow's plugins once;
                # the workers it forks inherit them instead of importing them each.
                context.set_forkserver_preload(["__main__", "kiosk.library.tags"])
                self._pool = ProcessPool(
                    max_workers=self._workers,
                    max_tasks=500,  # recycle workers now and then: a leaking parser cannot grow forever
                    initializer=_limit_worker_memory,
                    initargs=(self._memory_limit,),
                    context=context,
                )
            return self._pool

    def prepare(self) -> None:
        """Starts the workers in the background: the stick service calls this when a stick is inserted (they
        start while it mounts), a scan when its walk finds the first file to read.

        Starting the fork server and the workers takes a few tenths of a second; this way it overlaps the
        rest of the walk instead of following it. ``read`` waits for a start still under way.
        """
        with self._pool_lock:
            if self._pool is not None or (self._warm_up is not None and self._warm_up.is_alive()):
                return  # up, or coming up (after a stop that killed them, it starts them again)
            self._warm_up = threading.Thread(target=self._start_workers, name="tag-reader-start", daemon=True)
            self._warm_up.start()

    def _start_workers(self) -> None:
        try:
            self._ensure_pool().schedule(_worker_ready)  # pebble starts its workers with the first task
        except Exception as exc:  # read() will start (and report) again
            log.warning("tag reader workers did not start: %s", exc)

    def _chunks(self, requests: Sequence[TagRequest], max_bytes: int | None = None) -> list[list[TagRequest]]:
        # Small enough that both workers stay busy to the end, large enough that pipes cost little; with
        # ``max_bytes`` (copies) also small enough that results, and so progress, keep coming.
        size = max(1, min(self._chunk_files, len(requests) // (self._workers * 4) or 1))
        chunks: list[list[TagRequest]] = []
        chunk_bytes = 0
        for request in requests:
            too_big = max_bytes is not None and chunk_bytes + request.file_size > max_bytes
            if not chunks or len(chunks[-1]) >= size or too_big:
                chunks.append([])
                chunk_bytes = 0
            chunks[-1].append(request)
            chunk_bytes += request.file_size
        return chunks

    def _submit(
        self, chunk: list[TagRequest], read: ReadFunction, seconds_per_mb: float, timed_out: str
    ) -> Future[list[RawResult]]:
        pool = self._ensure_pool()
        requests = [_request_values(r) for r in chunk]
        limit = (self._seconds_per_file, seconds_per_mb)
        return pool.schedule(
            read_chunk, args=(read, requests, self._covers_dir, limit, timed_out),
            timeout=self._time_limit(chunk, seconds_per_mb),
        )

    def read(
        self, requests: Sequence[TagRequest], cancelled: Callable[[], bool] = lambda: False
    ) -> Iterator[TagResult]:
        reading = _Reading(self, self._read, self._seconds_per_mb, TIMED_OUT)
        reading.add(requests)
        return reading.results(cancelled)

    def start_copying(self, staging: str, temp_prefix: str) -> _Reading:
        """Copies each file added into its temp file in ``staging`` and reads its tags, in the workers (see
        ``CopyThenRead``). Files can be added while the walk that finds them goes on, so the copies overlap
        it. Left before its end (a stop, the stick gone, a full disk), the job kills the workers, so nothing
        writes in ``staging`` any more; the temp files of copies not handed out are the caller's to remove."""
        read = CopyThenRead(staging, temp_prefix, self._copy)
        return _Reading(
            self, read, self._copy_seconds_per_mb, COPY_TIMED_OUT, max_chunk_bytes=COPY_BATCH_BYTES,
            stop_workers_when_left=True,
        )

    def _stop_workers(self) -> None:
        """Kills the workers and what they were doing; the next read starts new ones."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.stop()
            pool.join(timeout=5)

    def close(self) -> None:
        if self._warm_up is not None:
            self._warm_up.join()
            self._warm_up = None
        if self._pool is not None:
            self._pool.stop()
            self._pool.join(timeout=10)
            self._pool = None

    def __enter__(self) -> ProcessTagReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Reading:
    """Files handed to the reader's workers in chunks, and their results as they finish: a chunk that fails
    is retried file by file, so one hostile file costs only itself. A copying one is ``start_copying``'s
    ``CopyJob``: files can be added until its results are taken.

    At most the reader's ``max_files_in_flight`` files are with the workers or finished and not yet taken;
    the rest of the chunks wait here and go out as results are taken. A finished result waits in memory
    until it is taken (a kilobyte or two), so without this a stick of 100,000 small files could pile up
    over a hundred megabytes whenever the taker is slower than the workers.
    """

    def __init__(
        self, reader: ProcessTagReader, read: ReadFunction, seconds_per_mb: float, timed_out: str, *,
        max_chunk_bytes: int | None = None, stop_workers_when_left: bool = False,
    ) -> None:
        self._reader, self._read, self._seconds_per_mb, self._timed_out = reader, read, seconds_per_mb, timed_out
        self._max_chunk_bytes, self._stop_workers_when_left = max_chunk_bytes, stop_workers_when_left
        self._pending: dict[Future[list[RawResult]], list[TagRequest]] = {}
        self._finished: queue.SimpleQueue[Future[list[RawResult]]] = queue.SimpleQueue()
        self._waiting: collections.deque[list[TagRequest]] = collections.deque()
        self._files_in_flight = 0

    def add(self, requests: Sequence[TagRequest]) -> None:
        self._waiting.extend(self._reader._chunks(requests, self._max_chunk_bytes))
        self._send_waiting()

    def _send_waiting(self) -> None:
        while self._waiting and self._files_in_flight < self._reader.max_files_in_flight:
            self._send(self._waiting.popleft())

    def _send(self, chunk: list[TagRequest]) -> None:
        future = self._reader._submit(chunk, self._read, self._seconds_per_mb, self._timed_out)
        self._pending[future] = chunk
        self._files_in_flight += len(chunk)
        future.add_done_callback(self._finished.put)  # one callback per chunk: no polling over all futures

    def results(self, cancelled: Callable[[], bool] = lambda: False) -> Generator[TagResult, None, None]:
        try:
            while self._pending or self._waiting:
                self._send_waiting()
                if cancelled():
                    return
                try:
                    future = self._finished.get(timeout=0.2)
                except queue.Empty:
                    continue
                chunk = self._pending.pop(future)
                self._files_in_flight -= len(chunk)
                self._send_waiting()  # before this chunk's results are handed out: the workers stay busy
                try:
                    yield from map(_tag_result, future.result())
                    continue
                except FutureTimeout:
                    reason = self._timed_out
                except ProcessExpired as exc:
                    reason = f"tag reader crashed (exit code {exc.exitcode})"
                except MemoryError:
                    reason = "tag parser ran out of memory"
                except Exception as exc:
                    reason = f"tag reader failed ({type(exc).__name__})"
                if len(chunk) == 1:
                    yield TagResult(chunk[0].path, error=reason)
                else:  # find the culprit: retry each file of the chunk alone, ahead of the chunks still waiting
                    log.info("a chunk of %d files failed (%s); retrying them one by one", len(chunk), reason)
                    self._waiting.extendleft([request] for request in reversed(chunk))
        finally:
            self.close()

    def close(self) -> None:
        """Cancels what has not run; with ``stop_workers_when_left``, kills the workers if anything had not
        finished (a copy still writing must not outlive the job)."""
        pending, self._pending = self._pending, {}
        self._waiting.clear()
        self._files_in_flight = 0
        for future in pending:
            future.cancel()
        if pending and self._stop_workers_when_left:
            self._reader._stop_workers()
