"""Dragging a queue entry to the list's edge scrolls the list, so an entry can be moved anywhere in a
long queue. Real touches on an offscreen window; the real Jukebox and SQLite store say where it went.
While the finger holds, the rows stay as the core has them: only the drop line moves."""

from __future__ import annotations

import time

from kivy.metrics import dp

from kiosk.ui import theme
from kiosk.ui.screens.queue import QueueRow


def _queue_screen(ui, count):
    ui.jukebox.replace_and_play(ui.track_ids[:count], 0).result(10)
    ui.root.go_to("queue")
    queue = ui.root.queue
    ui.wait_until(lambda: len(queue.list.data) == count and queue.visible_rows(), what="queue rows")
    ui.settle(0.3)
    return queue


def _row_at(queue, position):
    return next(r for r in queue.visible_rows() if isinstance(r, QueueRow) and int(r.position) == position)


def _list_box(queue):
    _x, bottom = queue.list.to_window(queue.list.x, queue.list.y)
    return bottom, bottom + queue.list.height


def _shown_ids(queue):
    return tuple(d["track_id"] for d in queue.list.data)


def _hold(ui, touch, queue, until, what, timeout=30.0):
    """Keeps the finger still and runs frames until ``until()``; checks the rows never leave the core's order."""
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, f"timed out holding for {what} (scroll_y {queue.list.scroll_y})"
        ui.frames(1)
        assert _shown_ids(queue) == ui.jukebox.queue_snapshot().track_ids, "a local reorder on screen"
        assert touch.grab_list, "the drag lost its finger"
        time.sleep(0.01)


def _moved(ids, source, target):
    ids = list(ids)
    ids.insert(target, ids.pop(source))
    return tuple(ids)


def test_holding_at_the_bottom_edge_scrolls_and_drops_beyond_the_first_screenful(make_ui) -> None:
    ui = make_ui(tracks=60)
    queue = _queue_screen(ui, 60)
    before = ui.jukebox.queue_snapshot().track_ids
    screenful = int(queue.list.height // dp(theme.ROW)) + 1  # rows that fit, counting a part-shown one
    assert queue.list.scroll_y == 1.0
    handle = _row_at(queue, 0).handle
    x, y = handle.to_window(*handle.center)
    bottom, _top = _list_box(queue)
    touch = ui.touch_at(x, y)
    touch.touch_down()
    ui.frames(1)
    assert queue.dragging and queue.drag_source == 0
    edge_y = bottom + dp(8)  # inside the edge zone, still on the list
    for i in range(1, 9):
        touch.touch_move(x, y + (edge_y - y) * i / 8)
        ui.frames(1)
    _hold(ui, touch, queue, lambda: queue.drag_target is not None and queue.drag_target >= screenful + 8,
          what="the list to scroll past the first screenful")
    assert queue.list.scroll_y < 1.0
    target = queue.drag_target
    touch.touch_up()
    expected = _moved(before, 0, target)
    ui.wait_until(lambda: ui.jukebox.queue_snapshot().track_ids == expected, what=f"entry 1 moved to {target + 1}")
    assert target >= screenful
    assert ui.jukebox.queue_snapshot().current_index == target  # the playing entry moved with its place
    ui.wait_until(lambda: _shown_ids(queue) == expected, what="the rows follow the core")
    assert not queue.dragging and queue.drop_line.opacity == 0


def test_holding_at_the_top_edge_scrolls_back_and_drops_at_the_start(make_ui) -> None:
    ui = make_ui(tracks=60)
    queue = _queue_screen(ui, 60)
    before = ui.jukebox.queue_snapshot().track_ids
    queue.list.scroll_y = 0.0  # the end of the queue on screen, as after scrolling down
    ui.settle(0.3)
    last = _row_at(queue, 59)
    x, y = last.handle.to_window(*last.handle.center)
    _bottom, top = _list_box(queue)
    touch = ui.touch_at(x, y)
    touch.touch_down()
    ui.frames(1)
    for i in range(1, 9):
        touch.touch_move(x, y + (top - dp(4) - y) * i / 8)
        ui.frames(1)
    _hold(ui, touch, queue, lambda: queue.drag_target == 0, what="the list to scroll back to the start")
    touch.touch_up()
    ui.wait_until(lambda: ui.jukebox.queue_snapshot().track_ids == _moved(before, 59, 0), what="the last entry first")


def test_an_entry_moved_by_someone_else_during_the_drag_is_still_the_one_dropped(make_ui) -> None:
    ui = make_ui(tracks=60)
    queue = _queue_screen(ui, 30)
    dragged = ui.jukebox.queue_snapshot().entries[3]
    handle = _row_at(queue, 3).handle
    x, y = handle.to_window(*handle.center)
    touch = ui.touch_at(x, y)
    touch.touch_down()
    ui.frames(1)
    row_below = y - dp(theme.ROW) * 2  # two rows further down: no edge, no scrolling
    touch.touch_move(x, row_below)
    ui.frames(2)
    target = queue.drag_target
    assert target == 5
    # A button (another thread) removes the first entry while the finger holds: the dragged entry is now 3rd.
    ui.from_worker(lambda: ui.jukebox.remove([0]).result(10))
    ui.wait_until(lambda: len(queue.list.data) == 29, what="the removal shown during the drag")
    touch.touch_up()
    ui.wait_until(lambda: ui.jukebox.queue_snapshot().entries[target].entry_id == dragged.entry_id,
                  what="the dragged entry at the drop place")
    assert [e.entry_id for e in ui.jukebox.queue_snapshot().entries].count(dragged.entry_id) == 1
