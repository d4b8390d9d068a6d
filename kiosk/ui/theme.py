"""One palette, one type scale, one set of sizes: every screen takes its look from here.

The accent colour follows the album art of the track playing (see ``accent_from_rgb``), so the
screen's main colour is the music's; everything else stays neutral and dark, calm at night.
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

RGBA = tuple[float, float, float, float]


def hex_rgba(code: str, alpha: float = 1.0) -> RGBA:
    code = code.lstrip("#")
    r, g, b = (int(code[i : i + 2], 16) / 255 for i in (0, 2, 4))
    return (r, g, b, alpha)


# --- palette --------------------------------------------------------------------------------------
BACKGROUND = hex_rgba("#121417")
SURFACE = hex_rgba("#1b1e23")
SURFACE_RAISED = hex_rgba("#262a31")
DIVIDER = hex_rgba("#2f343c")
TEXT = hex_rgba("#eceef1")
TEXT_MUTED = hex_rgba("#9aa1ab")
ACCENT_DEFAULT = hex_rgba("#4fb3a9")
DANGER = hex_rgba("#e5645a")
SUCCESS = hex_rgba("#5cc27a")
HEART = hex_rgba("#ef5b7b")

# --- type scale (sp): five steps, nothing else ------------------------------------------------------
CAPTION = 15
BODY = 19
TITLE = 23
HEADLINE = 30
DISPLAY = 40

# --- sizes (dp) -------------------------------------------------------------------------------------
TOUCH = 56  # smallest thing a finger must hit
ROW = 64  # list rows
NAV_RAIL = 92  # nav width in landscape
NAV_BAR = 72  # nav height in portrait
GAP = 12
RADIUS = 12
COVER_THUMB = 160  # px of cached thumbnails for grids and rows
COVER_LARGE = 480  # px of the now-playing cover

# --- fonts ------------------------------------------------------------------------------------------
TEXT_FONT = "Roboto"
TEXT_FONT_BOLD = "Roboto"


def icon_font() -> str:
    """DejaVu Sans ships with Kivy and holds the symbols we use (▶ ❚❚ ♥ ⇄ ↻ ⚙ ☰ ⌫ ⇧ ✕ ✓ ✎ ⏏)."""
    return str(Path(str(resources.files("kivy"))) / "data" / "fonts" / "DejaVuSans.ttf")


def accent_from_rgb(r: float, g: float, b: float) -> RGBA:
    """A cover's average colour turned into an accent readable on the dark background.

    Saturation is lifted a little and lightness kept in a narrow band, so a black or a white cover
    still gives a usable colour and no cover makes text unreadable.
    """
    h, lightness, s = colorsys.rgb_to_hls(r, g, b)
    s = min(1.0, max(0.35, s * 1.3)) if s > 0.08 else s
    lightness = min(0.68, max(0.5, lightness))
    rr, gg, bb = colorsys.hls_to_rgb(h, lightness, s)
    return (rr, gg, bb, 1.0)


def tint(color: Sequence[float], amount: float, base: Sequence[float] = BACKGROUND) -> RGBA:
    """``color`` mixed into ``base``: used for the now-playing backdrop and selected rows."""
    return (
        base[0] + (color[0] - base[0]) * amount,
        base[1] + (color[1] - base[1]) * amount,
        base[2] + (color[2] - base[2]) * amount,
        1.0,
    )


def format_ms(ms: int) -> str:
    seconds = max(0, int(ms) // 1000)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
