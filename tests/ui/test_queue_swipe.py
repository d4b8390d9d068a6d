"""A quick sideways swipe on a queue row removes the entry, however fast the finger is: the list's
scroll view must not hold the touch back and then hand it to the row as a tap (which would jump)."""

from __future__ import annotations

from kiosk.ui.screens.queue import QueueRow


def _rows(ui):
    ui.settle(0.3)
    return sorted((r for r in ui.root.queue.visible_rows() if isinstance(r, QueueRow)), key=lambda r: -r.y)


def test_a_quick_swipe_removes_and_does_not_jump(make_ui) -> None:
    ui = make_ui(tracks=10)
    ui.jukebox.replace_and_play(ui.track_ids[:5], 0).result(10)
    ui.root.go_to("queue")
    rows = ui.wait_until(lambda: len(_rows(ui)) == 5 and _rows(ui), what="queue rows")
    row = rows[2]
    x, y = row.title.to_window(*row.title.center)
    touch = ui.touch_at(x, y)
    touch.touch_down()
    for i in (1, 2, 3):  # no pause: the whole swipe within one scroll timeout
        touch.touch_move(x + row.width * 0.2 * i, y + 2)
    touch.touch_up()
    ui.wait_until(lambda: ui.jukebox.queue_snapshot().track_ids == (ui.track_ids[0], ui.track_ids[1],
                                                                     ui.track_ids[3], ui.track_ids[4]),
                  what="the 3rd entry swiped away")
    ui.settle(0.5)
    assert ui.jukebox.queue_snapshot().current_index == 0, "the swipe must not jump to the entry"



def test_an_upward_drag_on_the_rows_still_scrolls_and_changes_nothing(make_ui) -> None:
    ui = make_ui(tracks=40)
    ui.jukebox.replace_and_play(ui.track_ids[:30], 0).result(10)
    ui.root.go_to("queue")
    rows = ui.wait_until(lambda: len(_rows(ui)) > 3 and _rows(ui), what="queue rows")
    queue = ui.root.queue
    assert queue.list.scroll_y == 1.0
    x, y = rows[-2].title.to_window(*rows[-2].title.center)
    before = ui.jukebox.queue_snapshot()
    ui.drag((x, y), (x + 15, y + 200), hold=0.0, steps=6)  # mostly upward, a little sideways
    ui.settle(0.5)
    assert queue.list.scroll_y < 1.0, "the list scrolled"
    after = ui.jukebox.queue_snapshot()
    assert (after.entries, after.current_index) == (before.entries, before.current_index)
