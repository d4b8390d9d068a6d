"""Cover art from untrusted files to a thumbnail cache, with Pillow held on a short leash.

Only JPEG, PNG and WebP are decoded, images above a pixel budget are refused (Pillow's
decompression-bomb check turned into an error), and the raw bytes are capped before Pillow sees them.
A cover's id is the hash of its bytes, so one album's art is stored once however many tracks carry it.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import warnings
from pathlib import Path

from PIL import Image, JpegImagePlugin, PngImagePlugin, WebPImagePlugin

# Imported here so a worker's first cover does not make Pillow import every plugin it has (and so the
# fork server preloads them); these three are all ``store_cover`` opens.
_PLUGINS = (JpegImagePlugin, PngImagePlugin, WebPImagePlugin)

log = logging.getLogger(__name__)

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP")
MAX_COVER_BYTES = 16 * 1024 * 1024
MAX_COVER_PIXELS = 30_000_000
THUMBNAIL_SIZE = (320, 320)
#: File names looked for beside the audio when a file carries no picture itself.
FOLDER_COVER_NAMES = ("cover", "folder", "front", "album", "albumart")
FOLDER_COVER_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


class CoverError(ValueError):
    """The picture is not one we accept (format, size, pixels, broken data)."""


def cover_id_for(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=12).hexdigest()


def thumbnail_path(covers_dir: Path, cover_id: str) -> Path:
    return covers_dir / f"{cover_id}.jpg"


def is_folder_cover_name(name: str) -> bool:
    stem, dot, suffix = name.lower().rpartition(".")
    return bool(dot) and stem in FOLDER_COVER_NAMES and "." + suffix in FOLDER_COVER_SUFFIXES


def store_cover(data: bytes, covers_dir: Path) -> str:
    """Writes a JPEG thumbnail of ``data`` (if not cached yet) and returns its cover id; raises ``CoverError``."""
    if len(data) > MAX_COVER_BYTES:
        raise CoverError(f"cover image too large ({len(data)} bytes)")
    if not data:
        raise CoverError("empty cover image")
    cover_id = cover_id_for(data)
    target = thumbnail_path(covers_dir, cover_id)
    if target.exists():
        return cover_id
    Image.MAX_IMAGE_PIXELS = MAX_COVER_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS) as image:
                width, height = image.size
                if width * height > MAX_COVER_PIXELS:
                    raise CoverError(f"cover image has too many pixels ({width}x{height})")
                image.draft("RGB", THUMBNAIL_SIZE)
                image.thumbnail(THUMBNAIL_SIZE)
                thumb = image.convert("RGB")
    except CoverError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise CoverError(f"cover image refused: {exc}") from None
    except (OSError, ValueError, SyntaxError, MemoryError) as exc:  # Pillow reports broken data in these
        raise CoverError(f"unreadable cover image: {type(exc).__name__}") from None
    covers_dir.mkdir(parents=True, exist_ok=True)
    tmp = covers_dir / f".{cover_id}.{os.getpid()}.tmp"
    try:
        thumb.save(tmp, "JPEG", quality=85)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return cover_id
