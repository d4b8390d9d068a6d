"""Cover thumbnails: decoded and scaled off the main thread, turned into textures on it, cached.

A grid of album covers scrolling past must not decode JPEGs in the Kivy loop: Pillow does the
work on a small thread pool, and only the final ``blit_buffer`` (GL, main thread only) runs in
the loop. Textures are kept in an LRU bounded by count and by bytes (a texture's pixels live in
the GPU's memory, which on a software renderer is the process's own), so scrolling back is cheap and
a long scroll through the album grid does not grow the process; the average colour of each cover is
kept too, for the accent colour.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kivy.clock import Clock
from kivy.graphics.texture import Texture
from PIL import Image

log = logging.getLogger(__name__)

CoverCallback = Callable[[Texture | None, tuple[float, float, float] | None], None]

COVER_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


def covers_dir_resolver(covers_dir: Path | None) -> Callable[[str], Path | None]:
    """Finds ``<covers_dir>/<cover_id>.<jpg|png|webp>`` (or one level of fan-out by prefix)."""

    def resolve(cover_id: str) -> Path | None:
        if covers_dir is None or not cover_id or "/" in cover_id or cover_id.startswith("."):
            return None
        for folder in (covers_dir, covers_dir / cover_id[:2]):
            for suffix in COVER_SUFFIXES:
                candidate = folder / f"{cover_id}{suffix}"
                if candidate.is_file():
                    return candidate
        return None

    return resolve


def _decode(path: Path, size: int) -> tuple[bytes, int, int, tuple[float, float, float]]:
    with Image.open(path) as img:
        img.draft("RGB", (size, size))  # JPEG: decode at reduced scale, much faster
        rgb = img.convert("RGB")
        rgb.thumbnail((size, size))
        average = rgb.resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))
        assert isinstance(average, tuple)
        flipped = rgb.transpose(Image.Transpose.FLIP_TOP_BOTTOM)  # GL's origin is bottom-left
        return flipped.tobytes(), rgb.width, rgb.height, (average[0] / 255, average[1] / 255, average[2] / 255)


def _texture_bytes(texture: Texture | None) -> int:
    return 0 if texture is None else int(texture.width * texture.height * 4)


class CoverCache:
    """``request(cover_id, size, callback)``: callback(texture, average_rgb) on the main thread."""

    def __init__(self, resolve: Callable[[str], Path | None], *, capacity: int = 300, max_bytes: int = 2 << 20,
                 workers: int = 2) -> None:
        self._resolve = resolve
        self._capacity = capacity
        self._max_bytes = max_bytes
        self.cached_bytes = 0  # pixels of the cached textures, at 4 bytes a pixel as GL keeps them
        self._cache: OrderedDict[tuple[str, int], tuple[Texture | None, tuple[float, float, float] | None]] = (
            OrderedDict()
        )
        self._waiting: dict[tuple[str, int], list[CoverCallback]] = {}
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="covers")
        self.decoded = 0  # for tests and the benchmark: how many files were actually decoded
        self._closed = False

    def cached(self, cover_id: str, size: int) -> Texture | None:
        hit = self._cache.get((cover_id, size))
        return hit[0] if hit else None

    def request(self, cover_id: str | None, size: int, callback: CoverCallback) -> None:
        if not cover_id:
            callback(None, None)
            return
        key = (cover_id, size)
        if key in self._cache:
            self._cache.move_to_end(key)
            texture, average = self._cache[key]
            callback(texture, average)
            return
        if key in self._waiting:
            self._waiting[key].append(callback)
            return
        if self._closed:
            callback(None, None)  # a view refreshed while the screen shuts down: no cover, no error
            return
        self._waiting[key] = [callback]
        self._pool.submit(self._load, key)

    def _load(self, key: tuple[str, int]) -> None:
        cover_id, size = key
        result: tuple[bytes, int, int, tuple[float, float, float]] | None = None
        try:
            path = self._resolve(cover_id)
            if path is not None:
                result = _decode(path, size)
        except Exception as exc:  # a broken image on a stranger's stick: no cover, no crash
            log.info("cover %s unreadable: %s", cover_id, exc)
        Clock.schedule_once(lambda _dt: self._finish(key, result), 0)

    def _finish(self, key: tuple[str, int], result: tuple[bytes, int, int, tuple[float, float, float]] | None) -> None:
        texture: Texture | None = None
        average = None
        if result is not None:
            data, width, height, average = result
            texture = Texture.create(size=(width, height), colorfmt="rgb")
            texture.blit_buffer(data, colorfmt="rgb", bufferfmt="ubyte")
            self.decoded += 1
        self._cache[key] = (texture, average)
        self.cached_bytes += _texture_bytes(texture)
        while len(self._cache) > 1 and (len(self._cache) > self._capacity or self.cached_bytes > self._max_bytes):
            _key, (evicted, _average) = self._cache.popitem(last=False)
            self.cached_bytes -= _texture_bytes(evicted)
        for callback in self._waiting.pop(key, []):
            callback(texture, average)

    def close(self) -> None:
        self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)
