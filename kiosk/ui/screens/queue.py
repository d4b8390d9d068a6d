"""The queue as the core has it: current entry marked, tap to jump, drag ≡ to reorder, swipe or ✕ to remove.

The screen keeps nothing of the queue's state: every redraw reads ``jukebox.queue_snapshot()``.
A drag or swipe only sends a command; the rows move when the core's event comes back, so a
button pressed at the same moment can never leave screen and player disagreeing. While a drag
holds near the list's top or bottom edge the list scrolls, so an entry can go anywhere in a long
queue; only a line shows where it will land until the core has moved it.
"""

from __future__ import annotations

import logging
from typing import Any

from kivy.clock import Clock
from kivy.graphics import Color, Rectangle
from kivy.metrics import dp, sp
from kivy.properties import BooleanProperty, NumericProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.recycleboxlayout import RecycleBoxLayout
from kivy.uix.recycleview import RecycleView
from kivy.uix.recycleview.views import RecycleDataViewBehavior
from kivy.uix.screenmanager import Screen
from kivy.uix.widget import Widget

from kiosk.ui import theme
from kiosk.ui.context import UiContext
from kiosk.ui.futures import when_done
from kiosk.ui.widgets import Filled, IconButton, Links, Tappable, Text

log = logging.getLogger(__name__)

SWIPE_FRACTION = 0.3  # of the row's width: a horizontal move this long removes the entry
EDGE_ZONE = 56  # dp: a dragging finger this close to the list's top or bottom edge scrolls it
EDGE_SPEED = 700  # dp per second at the very edge (slower further in, so the finger can aim)


class QueueRow(RecycleDataViewBehavior, BoxLayout):
    """One entry: marker, title and artist, duration, ✕, and the ≡ handle to drag."""

    position = NumericProperty(-1)
    current = BooleanProperty(False)
    shift = NumericProperty(0)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(padding=(dp(12), 0, 0, 0), spacing=dp(8), **kwargs)
        self.track_id: int | None = None
        self.screen: QueueScreen | None = None
        with self.canvas.before:
            self._bg = Color(*theme.BACKGROUND)
            self._rect = Rectangle()
            Color(*theme.DIVIDER)
            self._line = Rectangle()
        self.marker = Text(text="", font_name=theme.icon_font(), size_hint_x=None, width=dp(28), halign="center")
        texts = BoxLayout(orientation="vertical", padding=(0, dp(6)))
        self.title = Text(font_size=sp(theme.BODY))
        self.subtitle = Text(font_size=sp(theme.CAPTION), color=theme.TEXT_MUTED)
        texts.add_widget(self.title)
        texts.add_widget(self.subtitle)
        self.duration = Text(font_size=sp(theme.CAPTION), color=theme.TEXT_MUTED, size_hint_x=None, width=dp(56),
                             halign="right")
        self.remove_button = IconButton(text="✕", action="remove", font_size=sp(theme.TITLE), size_hint_x=None,
                                        width=dp(theme.TOUCH), on_release=lambda *_: self._remove())
        self.handle = IconButton(text="≡", action="drag", font_size=sp(theme.HEADLINE), size_hint_x=None,
                                 width=dp(theme.TOUCH))
        for widget in (self.marker, texts, self.duration, self.remove_button, self.handle):
            self.add_widget(widget)
        self.bind(pos=self._sync, size=self._sync, current=self._sync, shift=self._sync)
        self._swipe_start: tuple[float, float] | None = None

    def _sync(self, *_: Any) -> None:
        accent = self.screen.ctx.accent if self.screen else theme.ACCENT_DEFAULT
        self._bg.rgba = theme.tint(accent, 0.28) if self.current else theme.BACKGROUND
        self._rect.pos = (self.x + self.shift, self.y)
        self._rect.size = self.size
        self._line.pos, self._line.size = (self.x, self.y), (self.width, 1)
        self.marker.text = "▶" if self.current else ""
        self.marker.color = accent

    def refresh_view_attrs(self, rv: Any, index: int, data: dict[str, Any]) -> None:
        self.screen = rv.screen
        self.track_id = data["track_id"]
        self.shift = 0
        super().refresh_view_attrs(rv, index, data)
        self.show_details()

    def show_details(self) -> None:
        assert self.screen is not None
        track = self.screen.ctx.tracks.get(self.track_id)
        if track is None:
            self.title.text, self.subtitle.text, self.duration.text = "…", "", ""
            if self.track_id is not None:
                self.screen.need(self.track_id)
            return
        self.title.text = track.title
        self.subtitle.text = f"{track.display_artist} · {track.album}" if track.album else track.display_artist
        self.duration.text = theme.format_ms(track.duration_ms)

    def _remove(self) -> None:
        if self.screen is not None:
            self.screen.remove_position(int(self.position))

    # --- swipe to remove, tap to jump; the handle starts a drag (see QueueList) -----------------

    def on_touch_down(self, touch: Any) -> bool:
        if not self.collide_point(*touch.pos):
            return False
        if self.remove_button.collide_point(*touch.pos):
            return bool(super().on_touch_down(touch))
        if self.handle.collide_point(*touch.pos) and self.screen is not None:
            # The screen takes the touch: this row may be recycled for another entry while the list scrolls.
            self.screen.start_drag(self, self.to_window(*touch.pos), touch)
            return True
        # From where the finger first went down: the scroll view may hand the touch over only later.
        self.start_swipe(touch, (touch.ox, touch.oy))
        return True

    def start_swipe(self, touch: Any, start: tuple[float, float]) -> None:
        touch.grab(self)
        self._swipe_start = start
        self.shift = touch.x - start[0]

    def on_touch_move(self, touch: Any) -> bool:
        if touch.grab_current is not self:
            return bool(super().on_touch_move(touch))
        if self._swipe_start is not None:
            self.shift = touch.x - self._swipe_start[0]
        return True

    def on_touch_up(self, touch: Any) -> bool:
        if touch.grab_current is not self:
            return bool(super().on_touch_up(touch))
        touch.ungrab(self)
        screen = self.screen
        start, self._swipe_start = self._swipe_start, None
        self.shift = 0
        if start is None or screen is None:
            return True
        dx, dy = touch.x - start[0], touch.y - start[1]
        if abs(dx) >= self.width * SWIPE_FRACTION and abs(dx) > 2 * abs(dy):
            screen.remove_position(int(self.position))
        elif abs(dx) < dp(12) and abs(dy) < dp(12):
            screen.jump_to(int(self.position))
        return True


class QueueList(RecycleView):
    """A recycled list; a touch on a row's ≡ handle goes straight to the row (no scroll delay)."""

    def __init__(self, screen: QueueScreen, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.screen = screen
        self.do_scroll_x = False
        self.bar_width = dp(6)
        self.scroll_type = ["bars", "content"]
        layout = RecycleBoxLayout(orientation="vertical", size_hint_y=None, default_size=(None, dp(theme.ROW)),
                                  default_size_hint=(1, None))
        layout.bind(minimum_height=layout.setter("height"))
        self.add_widget(layout)
        self.viewclass = QueueRow

    def on_touch_move(self, touch: Any) -> bool:
        if touch.grab_current is self and self._take_as_swipe(touch):
            return True
        return bool(super().on_touch_move(touch))

    def _take_as_swipe(self, touch: Any) -> bool:
        """A sideways move before the scroll view has decided is a swipe on the row it started on.

        The scroll view would hold the touch for its timeout and then give the row a touch at the
        finger's current place (or a tap where it lifted), so a quick swipe would be lost.
        """
        state = touch.ud.get(self._get_uid())
        undecided: Any = getattr(self, "_touch", None)  # the touch the scroll view is still deciding about
        if undecided is not touch or not state or state.get("mode") != "unknown" or self.layout_manager is None:
            return False
        dx, dy = touch.x - touch.ox, touch.y - touch.oy
        if abs(dx) < self.scroll_distance or abs(dx) <= 2 * abs(dy):
            return False
        touch.push()
        touch.apply_transform_2d(self.to_local)
        try:
            row = next((r for r in self.layout_manager.children
                        if isinstance(r, QueueRow) and r.collide_point(touch.ox, touch.oy)), None)
            if row is None:
                return False
            touch.ungrab(self)  # as the scroll view does when it gives a touch to its children
            self._touch = None
            del touch.ud[self._get_uid()]
            if self.effect_y is not None:
                self.effect_y.cancel()
            row.start_swipe(touch, (touch.ox, touch.oy))
        finally:
            touch.pop()
        return True

    def on_touch_down(self, touch: Any) -> bool:
        if self.collide_point(*touch.pos) and self.layout_manager is not None:
            touch.push()
            touch.apply_transform_2d(self.to_local)
            try:
                for row in self.layout_manager.children:
                    if row.handle.collide_point(*touch.pos):
                        return bool(row.on_touch_down(touch))
            finally:
                touch.pop()
        return bool(super().on_touch_down(touch))


class QueueScreen(Screen):
    def __init__(self, ctx: UiContext, **kwargs: Any) -> None:
        super().__init__(name="queue", **kwargs)
        self.ctx = ctx
        self.drag_entry_id: int | None = None  # the entry being dragged, by identity, not by row widget
        self.drag_source: int | None = None
        self.drag_target: int | None = None
        self._finger: tuple[float, float] = (0.0, 0.0)  # window coordinates of the dragging finger
        self._auto_scroll = Clock.create_trigger(self._scroll_step, 1 / 30, interval=True)
        self._needed: set[int] = set()
        self._fetch = Clock.create_trigger(self._fetch_needed, 0)
        self._redraw = Clock.create_trigger(self.redraw, 0)

        root = Filled(orientation="vertical", color=list(theme.BACKGROUND))
        header = BoxLayout(size_hint_y=None, height=dp(theme.TOUCH + 16), padding=dp(8), spacing=dp(theme.GAP))
        self.heading = Text(text="Queue", font_size=sp(theme.TITLE), bold=True)
        self.summary = Text(font_size=sp(theme.CAPTION), color=theme.TEXT_MUTED, halign="right")
        self.current_button = Tappable(text="Now", action="show_current", size_hint_x=None, width=dp(96),
                                       on_release=lambda *_: self.scroll_to_current())
        self.clear_button = Tappable(text="Clear", action="clear", size_hint_x=None, width=dp(120),
                                     on_release=lambda *_: self._clear_pressed())
        for widget in (self.heading, self.summary, self.current_button, self.clear_button):
            header.add_widget(widget)
        self.list = QueueList(self)
        self.empty = Text(text="The queue is empty.\nChoose music in the library.", wrap=True, halign="center",
                          color=theme.TEXT_MUTED, font_size=sp(theme.TITLE))
        self.drop_line = Widget(size_hint=(None, None), opacity=0)
        with self.drop_line.canvas:
            self._drop_color = Color(*theme.ACCENT_DEFAULT)
            self._drop_rect = Rectangle()
        self.drop_line.bind(pos=self._sync_drop, size=self._sync_drop)
        root.add_widget(header)
        self.body = BoxLayout()
        self.body.add_widget(self.list)
        root.add_widget(self.body)
        self.add_widget(root)
        self.add_widget(self.drop_line)
        self._clear_armed = False
        self._disarm = Clock.create_trigger(self._disarm_clear, 3)

        self.links = Links()  # unbound when the shell lets the screen go
        self.links.bind(ctx.bridge, on_queue_updated=lambda *_: self._redraw(),
                        on_queue_state_changed=lambda *_: self._redraw(), on_library_updated=lambda *_: self._redraw())
        self.links.bind(ctx, accent=lambda *_: self._recolor())
        self.redraw()

    def release(self) -> dict[str, float]:
        """The shell lets this screen go when it is left (its rows are several GL instructions each); the
        next visit builds it from the core's queue again, scrolled where it was."""
        self.links.release()
        for trigger in (self._auto_scroll, self._fetch, self._redraw, self._disarm):
            trigger.cancel()
        return {"scroll_y": float(self.list.scroll_y)}

    def restore(self, state: dict[str, float]) -> None:
        self.list.scroll_y = state.get("scroll_y", 1.0)

    # --- view of the core's queue ---------------------------------------------------------------

    def redraw(self, *_: Any) -> None:
        snapshot = self.ctx.jukebox.queue_snapshot()
        current = snapshot.current_index
        self.list.data = [
            {"track_id": entry.track_id, "position": i, "current": i == current}
            for i, entry in enumerate(snapshot.entries)
        ]
        self.list.refresh_from_data()
        count = len(snapshot.entries)
        self.summary.text = f"{count} track{'s' if count != 1 else ''}" + (
            f" · playing {current + 1}" if current is not None else ""
        )
        self.clear_button.disabled = count == 0
        showing_empty = self.empty.parent is not None
        if count == 0 and not showing_empty:
            self.body.clear_widgets()
            self.body.add_widget(self.empty)
        elif count and showing_empty:
            self.body.clear_widgets()
            self.body.add_widget(self.list)

    def _recolor(self) -> None:
        for row in self.visible_rows():
            row._sync()

    def need(self, track_id: int) -> None:
        self._needed.add(track_id)
        self._fetch()

    def _fetch_needed(self, *_: Any) -> None:
        ids, self._needed = sorted(self._needed), set()
        if ids:
            self.ctx.tracks.ensure(ids, self._details_arrived)

    def _details_arrived(self) -> None:
        for row in self.visible_rows():
            row.show_details()

    def visible_rows(self) -> list[QueueRow]:
        manager = self.list.layout_manager
        return [] if manager is None else [w for w in manager.children if isinstance(w, QueueRow)]

    def scroll_to_current(self) -> None:
        snapshot = self.ctx.jukebox.queue_snapshot()
        if snapshot.current_index is None or len(snapshot.entries) < 2:
            return
        fraction = snapshot.current_index / (len(snapshot.entries) - 1)
        self.list.scroll_y = max(0.0, min(1.0, 1.0 - fraction))

    # --- commands -------------------------------------------------------------------------------

    def jump_to(self, position: int) -> None:
        when_done(self.ctx.jukebox.jump_to(position))

    def remove_position(self, position: int) -> None:
        when_done(self.ctx.jukebox.remove([position]))

    def _clear_pressed(self) -> None:
        if not self._clear_armed:
            self._clear_armed = True
            self.clear_button.text = "Tap again"
            self.clear_button.bg_color = list(theme.tint(theme.DANGER, 0.6, theme.SURFACE_RAISED))
            self._disarm()
            return
        self._disarm_clear()
        when_done(self.ctx.jukebox.clear())

    def _disarm_clear(self, *_: Any) -> None:
        self._clear_armed = False
        self.clear_button.text = "Clear"
        self.clear_button.bg_color = list(theme.SURFACE_RAISED)

    # --- drag to reorder ------------------------------------------------------------------------

    @property
    def dragging(self) -> bool:
        return self.drag_entry_id is not None

    def start_drag(self, row: QueueRow, window_pos: tuple[float, float], touch: Any) -> None:
        position = int(row.position)
        entries = self.ctx.jukebox.queue_snapshot().entries
        if not 0 <= position < len(entries):
            return
        self.drag_entry_id = entries[position].entry_id
        self.drag_source = position
        touch.grab(self)
        self._drop_color.rgba = self.ctx.accent
        self.drop_line.opacity = 1
        self.drag_to(window_pos)

    def on_touch_move(self, touch: Any) -> bool:
        if touch.grab_current is self:
            self.drag_to(self.to_window(*touch.pos))
            return True
        return bool(super().on_touch_move(touch))

    def on_touch_up(self, touch: Any) -> bool:
        if touch.grab_current is self:
            touch.ungrab(self)
            self.drag_to(self.to_window(*touch.pos))
            self.end_drag()
            return True
        return bool(super().on_touch_up(touch))

    def _list_box(self) -> tuple[float, float]:
        """The list's bottom and top edges in window coordinates."""
        _x, bottom = self.list.to_window(self.list.x, self.list.y)
        return bottom, bottom + self.list.height

    def _hidden_height(self) -> float:
        """How much of the list's content does not fit on screen, in pixels."""
        manager = self.list.layout_manager
        return max(0.0, manager.height - self.list.height) if manager is not None else 0.0

    def _scrolled_past(self) -> float:
        """How far the list's content is scrolled down from its top, in pixels."""
        return self._hidden_height() * (1.0 - min(1.0, max(0.0, self.list.scroll_y)))

    def _target_at(self, window_y: float) -> int:
        """The entry under the finger, from the scroll position (not from row widgets, which are recycled)."""
        _bottom, top = self._list_box()
        count = len(self.list.data)
        return max(0, min(count - 1, int((top - window_y + self._scrolled_past()) / dp(theme.ROW))))

    def drag_to(self, window_pos: tuple[float, float]) -> None:
        if self.drag_source is None:
            return
        self._finger = window_pos
        self.drag_target = self._target_at(window_pos[1])
        self._show_drop_line()
        if not self._edge_speed():
            self._auto_scroll.cancel()
        elif not self._auto_scroll.is_triggered:
            self._auto_scroll()

    def _show_drop_line(self) -> None:
        assert self.drag_source is not None and self.drag_target is not None
        edge = self.drag_target + (1 if self.drag_target > self.drag_source else 0)
        bottom, top = self._list_box()
        window_y = min(top, max(bottom, top - edge * dp(theme.ROW) + self._scrolled_past()))
        lx, _ = self.to_widget(*self.list.to_window(self.list.x, self.list.y))
        _, y = self.to_widget(0, window_y)
        self.drop_line.size = (self.list.width, dp(4))
        self.drop_line.pos = (lx, y - dp(2))

    def _edge_speed(self) -> float:
        """Pixels per second to scroll the content: above 0 towards the end of the queue, below 0 back."""
        bottom, top = self._list_box()
        zone = dp(EDGE_ZONE)
        y = self._finger[1]
        if y < bottom + zone:
            return dp(EDGE_SPEED) * min(1.0, (bottom + zone - y) / zone)
        if y > top - zone:
            return -dp(EDGE_SPEED) * min(1.0, (y - (top - zone)) / zone)
        return 0.0

    def _scroll_step(self, dt: float) -> bool:
        """One auto-scroll step while the finger holds near an edge; returning False stops the interval."""
        hidden = self._hidden_height()
        speed = self._edge_speed()
        if self.drag_source is None or not speed or hidden <= 0:
            return False
        before = self.list.scroll_y
        self.list.scroll_y = min(1.0, max(0.0, before - speed * min(dt, 0.1) / hidden))
        self.drag_target = self._target_at(self._finger[1])
        self._show_drop_line()
        return self.list.scroll_y != before

    def end_drag(self) -> None:
        """Sends the move, for the entry dragged wherever the core has it now (a button may have moved it)."""
        self._auto_scroll.cancel()
        self.drop_line.opacity = 0
        entry_id, target = self.drag_entry_id, self.drag_target
        self.drag_entry_id = self.drag_source = self.drag_target = None
        entries = self.ctx.jukebox.queue_snapshot().entries
        source = next((i for i, e in enumerate(entries) if e.entry_id == entry_id), None)
        if source is None or target is None:
            return  # removed meanwhile: nothing to move
        target = min(target, len(entries) - 1)
        if target != source:
            when_done(self.ctx.jukebox.move(source, target))

    def _sync_drop(self, *_: Any) -> None:
        self._drop_rect.pos, self._drop_rect.size = self.drop_line.pos, self.drop_line.size
