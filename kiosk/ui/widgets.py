"""The few building blocks every screen is made of, styled from ``theme`` alone."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from kivy.clock import Clock
from kivy.graphics import Color, Mesh, Rectangle, SmoothRoundedRectangle
from kivy.graphics.texture import Texture
from kivy.lang import Builder
from kivy.metrics import dp, sp
from kivy.properties import BooleanProperty, ListProperty, NumericProperty, ObjectProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.label import Label
from kivy.uix.relativelayout import RelativeLayout
from kivy.uix.scrollview import ScrollView
from kivy.uix.slider import Slider
from kivy.uix.widget import Widget

from kiosk.ui import theme


def release_rendered_text() -> None:
    """Kivy's SDL2 text renderer keeps every label's last drawing (an SDL surface, 4 bytes a pixel)
    after copying it into the label's texture, so each label holds its pixels twice: about 9 MB with
    every screen visited. The surface is only read right after drawing (a texture that must be
    refilled, after a GL context loss, draws the text again), so it is let go there."""
    from kivy.core.text import Label as CoreLabel

    render_end = CoreLabel._render_end
    if getattr(render_end, "releases_surface", False):
        return

    def _render_end(self: Any) -> Any:
        try:
            return render_end(self)
        finally:
            if getattr(self, "_surface", None) is not None:
                self._surface = None

    _render_end.releases_surface = True  # type: ignore[attr-defined]
    CoreLabel._render_end = _render_end


release_rendered_text()

Builder.load_string(
    f"""
<Text>:
    color: {theme.TEXT}
    font_size: sp({theme.BODY})
    text_size: (self.width, None) if self.wrap else (self.width, self.height)
    shorten: not self.wrap
    shorten_from: 'right'
    halign: 'left'
    valign: 'middle'

<Tappable>:
    color: {theme.TEXT}
    font_size: sp({theme.BODY})
    halign: 'center'
    valign: 'middle'
    text_size: self.size
    shorten: True
    markup: True
    size_hint_min: dp({theme.TOUCH}), dp({theme.TOUCH})

<IconButton>:
    font_name: r'{theme.icon_font()}'
    shorten: False
    font_size: sp({theme.HEADLINE})
"""
)


class Text(Label):
    """A label that clips to its box (or wraps), left-aligned, in the theme's colours."""

    wrap = BooleanProperty(False)


def with_icon(symbol: str, text: str) -> str:
    """Button text with a symbol from the icon font in front (Roboto has no ▶ or ⏏)."""
    return f"[font={theme.icon_font()}]{symbol}[/font] {text}"


class RoundedPlate:
    """A rounded rectangle in one colour, antialiased, as one GL instruction: a mesh over the shared
    ``corner_texture``. ``SmoothRoundedRectangle`` draws the same with two (the shape and its antialiased
    edge), and a software renderer (Mesa's llvmpipe) keeps about 64 KB for every instruction it has drawn,
    for as long as the instruction lives. A fully transparent plate has no vertices and is not drawn at all
    (an icon button at rest, a cover's placeholder under its art)."""

    def __init__(self, radius: float) -> None:
        self.radius = radius
        self.color = Color(0, 0, 0, 0)
        self.mesh = Mesh(mode="triangles", texture=corner_texture(max(1, round(radius))) if radius > 0 else None)

    def update(self, pos: Sequence[float], size: Sequence[float], rgba: Sequence[float]) -> None:
        self.color.rgba = rgba
        vertices: list[float] = []
        indices: list[int] = []
        if rgba[3] > 0 and size[0] > 0 and size[1] > 0:
            if self.radius > 0:
                add_plate(vertices, indices, pos[0], pos[1], size[0], size[1], self.radius)
            else:  # square corners: one quad, no texture
                x, y, w, h = pos[0], pos[1], size[0], size[1]
                vertices = [x, y, 0, 0, x + w, y, 1, 0, x + w, y + h, 1, 1, x, y + h, 0, 1]
                indices = [0, 1, 2, 2, 3, 0]
        self.mesh.vertices, self.mesh.indices = vertices, indices


class Tappable(ButtonBehavior, Label):
    """A finger-sized button: flat, rounded, pressed state in the accent."""

    bg_color = ListProperty(list(theme.SURFACE_RAISED))
    pressed_color = ListProperty(list(theme.tint(theme.ACCENT_DEFAULT, 0.5, theme.SURFACE_RAISED)))
    action = StringProperty("")  # a name for tests and logs

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        with self.canvas.before:
            self._plate = RoundedPlate(dp(theme.RADIUS))
        for name in ("pos", "size", "state", "bg_color", "pressed_color"):
            self.fbind(name, self._paint_plate)
        self._paint_plate()

    def _paint_plate(self, *_: Any) -> None:
        self._plate.update(self.pos, self.size, self.pressed_color if self.state == "down" else self.bg_color)


class IconButton(Tappable):
    """A symbol from the icon font; ``active`` shows it in the accent (shuffle on, heart set)."""

    active = BooleanProperty(False)
    active_color = ListProperty(list(theme.ACCENT_DEFAULT))

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("bg_color", [0, 0, 0, 0])
        super().__init__(**kwargs)
        self.bind(active=self._recolor, active_color=self._recolor)
        self._recolor()

    def _recolor(self, *_: Any) -> None:
        self.color = self.active_color if self.active else theme.TEXT


class Panel(BoxLayout):
    """A box with the surface colour behind it."""

    bg_color = ListProperty(list(theme.SURFACE))
    radius = NumericProperty(theme.RADIUS)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        with self.canvas.before:
            self._plate = RoundedPlate(dp(self.radius))
        for name in ("pos", "size", "bg_color", "radius"):
            self.fbind(name, self._paint_plate)
        self._paint_plate()

    def _paint_plate(self, *_: Any) -> None:
        if self._plate.radius != dp(self.radius):
            self._plate.radius = dp(self.radius)
            self._plate.mesh.texture = corner_texture(max(1, round(self._plate.radius)))
        self._plate.update(self.pos, self.size, self.bg_color)


class _FlatColor:
    """Paints one flat colour (the ``color`` property) behind the widget, following its size."""

    def _paint_background(self: Any) -> None:
        with self.canvas.before:
            self._c = Color(*self.color)
            self._r = Rectangle(pos=self.pos, size=self.size)
        self.bind(pos=self._sync, size=self._sync, color=self._sync)

    def _sync(self: Any, *_: Any) -> None:
        self._c.rgba = self.color
        self._r.pos, self._r.size = self.pos, self.size


class Backdrop(_FlatColor, Widget):
    """Fills its parent's area with one colour (screens' backgrounds)."""

    color = ListProperty(list(theme.BACKGROUND))

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._paint_background()


class Filled(_FlatColor, BoxLayout):
    """A BoxLayout with a flat background colour."""

    color = ListProperty(list(theme.BACKGROUND))

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._paint_background()


class DragSlider(Slider):
    """A slider that tells apart the user's drag from updates pushed by events.

    While a finger holds it, incoming values (position updates several times a second) are
    ignored, and the chosen value is reported once, on release, through ``on_release_value``.
    """

    dragging = BooleanProperty(False)
    accent = ListProperty(list(theme.ACCENT_DEFAULT))

    __events__ = ("on_release_value",)

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cursor_size", (dp(28), dp(28)))
        kwargs.setdefault("padding", dp(18))
        kwargs.setdefault("size_hint_y", None)
        kwargs.setdefault("height", dp(theme.TOUCH))
        super().__init__(**kwargs)
        self.value_track = True
        self.value_track_width = dp(4)
        self.bind(accent=lambda *_: setattr(self, "value_track_color", self.accent))
        self.value_track_color = self.accent

    def push(self, value: float) -> None:
        """Set from an event; a finger on the slider wins."""
        if not self.dragging:
            self.value = min(self.max, max(self.min, value))

    def on_touch_down(self, touch: Any) -> bool:
        if self.disabled or not self.collide_point(*touch.pos):
            return False
        self.dragging = True
        return bool(super().on_touch_down(touch))

    def on_touch_up(self, touch: Any) -> bool:
        if touch.grab_current is self and self.dragging:
            super().on_touch_up(touch)
            self.dragging = False
            self.dispatch("on_release_value", self.value)
            return True
        return bool(super().on_touch_up(touch))

    def on_release_value(self, value: float) -> None:
        pass


class Toast(Label):
    """A one-line notice at the bottom of the screen that goes away by itself."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("font_size", sp(theme.BODY))
        kwargs.setdefault("color", theme.TEXT)
        kwargs.setdefault("size_hint", (None, None))
        super().__init__(**kwargs)
        self.opacity = 0
        with self.canvas.before:
            self._plate = RoundedPlate(dp(theme.RADIUS))
        self.bind(pos=self._sync, size=self._sync, opacity=self._sync, texture_size=self._fit)
        self._hide = Clock.create_trigger(self._fade, 4.0)

    def _fit(self, *_: Any) -> None:
        self.size = (self.texture_size[0] + dp(32), self.texture_size[1] + dp(20))

    def _sync(self, *_: Any) -> None:
        shown = self.opacity > 0
        self._plate.update(self.pos, self.size, theme.tint(theme.DANGER, 0.55, theme.SURFACE_RAISED) if shown
                           else (0, 0, 0, 0))

    def show(self, text: str) -> None:
        self.text = text[:160]
        self.opacity = 1
        self._hide.cancel()
        self._hide()

    def _fade(self, *_: Any) -> None:
        self.opacity = 0


NOTE_STEP = 24  # px between the sizes of the placeholder note on covers without art


def note_texture(size: float) -> Any:
    """The placeholder's ♫ at ``size``, drawn once per size (covers use a few sizes, see ``NOTE_STEP``)."""
    texture = _note_textures.get(size)
    if texture is None:
        from kivy.core.text import Label as CoreLabel

        label = CoreLabel(text="♫", font_name=theme.icon_font(), font_size=size)
        label.refresh()
        texture = _note_textures[size] = label.texture
    return texture


_note_textures: dict[float, Any] = {}


class CoverImage(Widget):
    """Album art (or a calm placeholder note) filling a square, kept square.

    The placeholder's plate and note are meshes that are empty, so not drawn at all, while there is art:
    a widget hidden by opacity is still drawn, and a software renderer keeps about 64 KB for every
    instruction it has drawn (a grid of 24 tiles would keep 24 hidden plates and notes)."""

    texture = ObjectProperty(None, allownone=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        with self.canvas:
            self._plate = RoundedPlate(dp(theme.RADIUS))
            Color(*theme.TEXT_MUTED)
            self._note = Mesh(mode="triangles")
            self._img_color = Color(1, 1, 1, 1)
            self._img = SmoothRoundedRectangle(radius=[dp(theme.RADIUS)])
        self.bind(pos=self._sync, size=self._sync, texture=self._sync)
        self._sync()

    def _sync(self, *_: Any) -> None:
        side = min(self.width, self.height)
        x = self.x + (self.width - side) / 2
        y = self.y + (self.height - side) / 2
        covered = self.texture is not None
        self._plate.update((x, y), (side, side), (0, 0, 0, 0) if covered else theme.SURFACE_RAISED)
        self._img.pos, self._img.size = (x, y), (side, side)
        self._img.texture = self.texture
        self._img_color.a = 1 if covered else 0
        if covered or side <= 0:
            self._note.vertices, self._note.indices = [], []
            return
        # A few sizes only: every distinct size opens the icon font anew in SDL_ttf (about 0.2 MB each, up
        # to 64 kept), and a cover passes through many sizes while a grid or a window is laid out.
        note = note_texture(max(NOTE_STEP, side * 0.4 // NOTE_STEP * NOTE_STEP))
        w, h = note.size
        nx, ny = int(x + (side - w) / 2), int(y + (side - h) / 2)
        self._note.texture = note  # a label's texture is stored top row first: v runs downwards
        self._note.vertices = [nx, ny, 0, 1, nx + w, ny, 1, 1, nx + w, ny + h, 1, 0, nx, ny + h, 0, 0]
        self._note.indices = [0, 1, 2, 2, 3, 0]


def corner_texture(radius: int) -> Texture:
    """A white disc of ``radius`` px, antialiased (16 samples a pixel), in a 2r x 2r texture: its four
    quarters are a rounded plate's corners and its middle row and column the plate's edges and inside.
    One per radius, shared by every plate (and filled again if the GL context is ever rebuilt)."""
    texture = _corner_textures.get(radius)
    if texture is None:
        texture = _corner_textures[radius] = Texture.create(size=(2 * radius, 2 * radius), colorfmt="rgba")
        texture.add_reload_observer(lambda fresh: _fill_corner(fresh, radius))
        _fill_corner(texture, radius)
    return texture


_corner_textures: dict[int, Texture] = {}


def _fill_corner(texture: Texture, radius: int) -> None:
    side = 2 * radius
    steps = [(i + 0.5) / 4 for i in range(4)]
    alpha = bytearray()
    for row in range(side):
        for col in range(side):
            inside = sum((col + sx - radius) ** 2 + (row + sy - radius) ** 2 <= radius * radius
                         for sx in steps for sy in steps)
            alpha.append(round(inside * 255 / 16))
    pixels = bytearray(side * side * 4)
    pixels[0::4] = pixels[1::4] = pixels[2::4] = b"\xff" * (side * side)
    pixels[3::4] = alpha
    texture.blit_buffer(bytes(pixels), colorfmt="rgba", bufferfmt="ubyte")


def add_plate(vertices: list[float], indices: list[int], x: float, y: float, w: float, h: float,
              radius: float) -> None:
    """A rounded rectangle as nine quads over ``corner_texture``: corners from its quarters, the rest from
    its middle (a 4 x 4 grid of vertices: x, y, u, v each)."""
    r = max(0.0, min(radius, w / 2, h / 2))
    xs, ys, uvs = (x, x + r, x + w - r, x + w), (y, y + r, y + h - r, y + h), (0.0, 0.5, 0.5, 1.0)
    first = len(vertices) // 4
    for row in range(4):
        for col in range(4):
            vertices.extend((xs[col], ys[row], uvs[col], uvs[row]))
    for row in range(3):
        for col in range(3):
            a = first + row * 4 + col
            indices.extend((a, a + 1, a + 5, a + 5, a + 4, a))


class Links:
    """Handlers a screen binds on long-lived dispatchers (the event bridge, the context), unbound together
    when the shell lets the screen go, so nothing long-lived keeps a left screen and its widgets alive."""

    def __init__(self) -> None:
        self._bound: list[tuple[Any, str, int]] = []

    def bind(self, dispatcher: Any, **handlers: Callable[..., Any]) -> None:
        for name, handler in handlers.items():
            self._bound.append((dispatcher, name, dispatcher.fbind(name, handler)))

    def release(self) -> None:
        for dispatcher, name, uid in self._bound:
            dispatcher.unbind_uid(name, uid)
        self._bound.clear()


def stop_animations(widget: Widget) -> None:
    """Stops the animations running on ``widget`` and everything in it: Kivy's ``Animation`` keeps each
    running one, and with it its widget, in a class-wide set, so a list let go while its scroll bar fades
    out (or its scroll effect settles) would otherwise stay alive with all its rows and their GL buffers."""
    from kivy.animation import Animation

    for child in widget.walk(restrict=True):
        Animation.cancel_all(child)


def forget_recycled_views(*viewclasses: type) -> None:
    """Drops the unused views that Kivy keeps for any RecycleView to reuse (a module-wide cache of up to
    1,000 widgets, with their textures and the data they last showed, whose callbacks hold their screen):
    of these classes, or of every class when none is named. The next list builds its few views afresh."""
    from kivy.uix.recycleview import views

    cached = getattr(views, "_cached_views", None)
    if cached is None or not hasattr(views, "_cache_count"):
        return
    for viewclass in viewclasses or tuple(cached):
        views._cache_count -= len(cached.pop(viewclass, ()))


class VirtualList(ScrollView):
    """A scrolling column of ``count`` equal-height items, drawn by the few views that fit on screen.

    A RecycleView keeps a data entry and a layout entry per item (50,000 songs cost megabytes before
    a row is drawn); here the list is only a height, and each view is told which index it shows.
    ``make_view()`` builds a view with ``show(index)``; views are reused as the list scrolls.
    """

    def __init__(self, make_view: Callable[[], Widget], item_height: float, **kwargs: Any) -> None:
        kwargs.setdefault("do_scroll_x", False)
        kwargs.setdefault("bar_width", dp(6))
        kwargs.setdefault("scroll_type", ["bars", "content"])
        super().__init__(**kwargs)
        self._make_view = make_view
        self.item_height = item_height
        self.count = 0
        self.content = RelativeLayout(size_hint_y=None, height=0)
        self.add_widget(self.content)
        self.views: list[Widget] = []  # every view built; those not showing an item have index -1
        self.parked = False  # hidden, views let go: nothing is placed until ``show_views``
        self.bind(scroll_y=self._place, height=self._place)

    def set_count(self, count: int) -> None:
        """A new item count; every view shows its item afresh (what is at an index may have changed)."""
        self.count = count
        self.content.height = count * self.item_height
        self._place(refresh=True)

    def release_views(self) -> None:
        """Lets every view go while the list is hidden; ``show_views`` builds the few needed again."""
        self.content.clear_widgets()
        self.views = []
        self.parked = True

    def show_views(self) -> None:
        self.parked = False
        self._place(refresh=True)

    def visible_range(self) -> range:
        """Indices of the items on screen now."""
        if self.count == 0 or self.height <= 0:
            return range(0)
        total, seen = self.content.height, self.height
        bottom = self.scroll_y * (total - seen) if total > seen else 0.0  # the viewport's bottom, in content
        first = int(max(0.0, total - bottom - seen) // self.item_height)
        last = int(max(0.0, total - bottom - 1) // self.item_height)
        return range(first, min(last, self.count - 1) + 1)

    def _place(self, *_: Any, refresh: bool = False) -> None:
        if self.parked:
            return
        wanted = self.visible_range()
        while len(self.views) < len(wanted):
            view = self._make_view()
            view.size_hint = (1, None)
            view.height = self.item_height
            view.index = -1
            self.views.append(view)
            self.content.add_widget(view)
        shown = {view.index: view for view in self.views if view.index in wanted}
        free = [view for view in self.views if shown.get(view.index) is not view]
        for index in wanted:
            view = shown.get(index)
            fresh = view is None
            if view is None:
                view = free.pop()
            view.y = self.content.height - (index + 1) * self.item_height
            view.opacity = 1
            if fresh or refresh:
                view.show(index)
        for view in free:  # more views than items on screen (the list got shorter): park them
            view.index = -1
            view.opacity = 0
            view.y = -10 * self.item_height
