"""The window's pixels in a test: a real frame, read back, addressed in Kivy's window coordinates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image

from tests.ui.conftest import UiHarness


def rgb(color: Any) -> tuple[int, int, int]:
    return tuple(round(c * 255) for c in color[:3])


def near(pixel: tuple[int, ...], color: Any, tolerance: int = 6) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], rgb(color), strict=True))


def vertex_instructions(canvas: Any) -> list[Any]:
    """Every GL drawing instruction in a canvas and the canvases in it (a child widget's canvas included)."""
    from kivy.graphics.instructions import InstructionGroup, VertexInstruction

    found: list[Any] = []
    stack: list[Any] = [canvas]
    while stack:
        item = stack.pop()
        if isinstance(item, VertexInstruction):
            found.append(item)
        if isinstance(item, InstructionGroup):  # a canvas's before and after are among its children
            stack.extend(item.children)
    return found


class Frame:
    """The window's pixels now (a frame drawn and read back), addressed with the origin bottom-left."""

    def __init__(self, window: Any, folder: Path, name: str) -> None:
        UiHarness.frames(3)
        self.image = Image.open(window.screenshot(name=str(folder / f"{name}.png"))).convert("RGB")
        self.height = self.image.height

    def at(self, x: float, y: float) -> tuple[int, int, int]:
        return self.image.getpixel((int(x), self.height - 1 - int(y)))  # type: ignore[return-value]

    def box(self, x: float, y: float, width: float, height: float) -> list[tuple[int, int, int]]:
        raw = self.image.crop((int(x), self.height - int(y + height), int(x + width), self.height - int(y))).tobytes()
        return [tuple(raw[i:i + 3]) for i in range(0, len(raw), 3)]  # type: ignore[misc]
