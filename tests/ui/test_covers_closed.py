"""A cover asked for after the screen closed its loader gets no cover and no error."""

from __future__ import annotations

from pathlib import Path

from kiosk.ui.covers import CoverCache


def test_a_request_after_close_answers_no_cover_instead_of_raising(tmp_path: Path) -> None:
    cache = CoverCache(lambda cover_id: tmp_path / f"{cover_id}.jpg")
    cache.close()
    answers: list[tuple[object, object]] = []
    cache.request("abc", 64, lambda texture, average: answers.append((texture, average)))
    assert answers == [(None, None)]
