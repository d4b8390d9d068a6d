"""Modal panels: what to do with a song, a name to type, a PIN to enter, a full-screen message."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from kivy.metrics import dp, sp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.modalview import ModalView
from kivy.uix.recycleboxlayout import RecycleBoxLayout
from kivy.uix.recycleview import RecycleView
from kivy.uix.recycleview.views import RecycleDataViewBehavior
from kivy.uix.widget import Widget
from kivy.utils import escape_markup, get_hex_from_color

from kiosk.core.models import Playlist, Track
from kiosk.ui import theme
from kiosk.ui.context import UiContext
from kiosk.ui.futures import when_done
from kiosk.ui.keyboard import OnScreenKeyboard, make_text_input
from kiosk.ui.widgets import Filled, Panel, Tappable, Text, with_icon

log = logging.getLogger(__name__)

_MUTED = get_hex_from_color(theme.TEXT_MUTED)  # for markup: [color=#rrggbbaa]


def _modal(size_hint: tuple[float, float]) -> ModalView:
    return ModalView(size_hint=size_hint, background="", background_color=(0, 0, 0, 0),
                     overlay_color=(0, 0, 0, 0.6), auto_dismiss=True)


class PlaylistChoice(RecycleDataViewBehavior, Tappable):
    """One playlist in the chooser, finger-sized; a tap runs ``on_tap`` from its data."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data: dict[str, Any] = {}

    def refresh_view_attrs(self, rv: Any, index: int, data: dict[str, Any]) -> None:
        self.data = data
        self.index = index
        self.text = data.get("text", "")
        self.action = data.get("action", "")

    def on_release(self) -> None:
        tap = self.data.get("on_tap")
        if tap is not None:
            tap()


def playlist_chooser_list() -> RecycleView:
    """A recycled, scrollable list of every playlist: hundreds cost a screenful of widgets."""
    rv = RecycleView(do_scroll_x=False, bar_width=dp(8), scroll_type=["bars", "content"])
    layout = RecycleBoxLayout(orientation="vertical", size_hint_y=None, spacing=dp(8), padding=(0, 0, dp(14), 0),
                              default_size=(None, dp(theme.TOUCH)), default_size_hint=(1, None))
    layout.bind(minimum_height=layout.setter("height"))
    rv.add_widget(layout)
    rv.viewclass = PlaylistChoice  # only after the layout: RecycleView passes it on to its layout manager
    return rv


class TrackActions:
    """Play now, play next, add to queue, add to a playlist: the choices a tap on a song opens."""

    def __init__(self, ctx: UiContext) -> None:
        self.ctx = ctx
        self.view: ModalView | None = None
        self.chooser: RecycleView | None = None

    def open(self, track: Track) -> None:
        view = _modal((0.8, 0.8))
        panel = Panel(orientation="vertical", padding=dp(18), spacing=dp(10), bg_color=list(theme.SURFACE))
        panel.add_widget(Text(text=track.title, font_size=sp(theme.TITLE), bold=True, size_hint_y=None, height=dp(36)))
        panel.add_widget(Text(text=f"{track.display_artist} · {track.album}" if track.album else track.display_artist,
                              color=theme.TEXT_MUTED, size_hint_y=None, height=dp(28)))
        grid = GridLayout(cols=2, spacing=dp(10))
        ids = [track.id]
        for label, action, command in (
            (with_icon("▶", "Play now"), "play_now", lambda: self.ctx.jukebox.play_now(ids)),
            ("Play next", "play_next", lambda: self.ctx.jukebox.insert_next(ids)),
            ("Add to queue", "add_to_queue", lambda: self.ctx.jukebox.append(ids)),
            ("Add to playlist…", "add_to_playlist", None),
        ):
            button = Tappable(text=label, action=action, font_size=sp(theme.BODY))
            if command is None:
                button.bind(on_release=lambda *_: self._choose_playlist(track))
            else:
                button.bind(on_release=lambda _b, c=command: self._run(c))
            grid.add_widget(button)
        panel.add_widget(grid)
        panel.add_widget(Tappable(text="Cancel", action="cancel", size_hint_y=None, height=dp(theme.TOUCH),
                                  on_release=lambda *_: view.dismiss()))
        view.add_widget(panel)
        self.view = view
        view.open(animation=False)

    def _run(self, command: Callable[[], Any]) -> None:
        when_done(command())
        self.close()

    def close(self) -> None:
        if self.view is not None:
            self.view.dismiss(animation=False)
            self.view = None
        self.chooser = None

    def _choose_playlist(self, track: Track) -> None:
        when_done(self.ctx.jukebox.list_playlists(), lambda playlists: self._show_playlists(track, playlists))

    def _show_playlists(self, track: Track, playlists: list[Playlist]) -> None:
        """Every playlist in a scrolling list, and a new one named on the on-screen keyboard."""
        self.close()
        view = _modal((0.82, 0.94))
        panel = Panel(orientation="vertical", padding=dp(14), spacing=dp(10), bg_color=list(theme.SURFACE))
        panel.add_widget(Text(text=f"Add “{track.title}” to", font_size=sp(theme.TITLE), size_hint_y=None,
                              height=dp(36)))
        self.chooser = chooser = playlist_chooser_list()
        chooser.data = [
            {"text": f"{escape_markup(p.name)}  [size={int(sp(theme.CAPTION))}][color={_MUTED}]"
                     f"{p.track_count} song{'s' if p.track_count != 1 else ''}[/color][/size]",
             "action": f"playlist:{p.id}",
             "on_tap": lambda p=p: self._run(lambda: self.ctx.jukebox.add_to_playlist(p.id, [track.id]))}
            for p in playlists
        ]
        if playlists:
            panel.add_widget(chooser)
        else:
            panel.add_widget(Text(text="No playlists yet: make the first one.", color=theme.TEXT_MUTED,
                                  halign="center"))
        buttons = BoxLayout(size_hint_y=None, height=dp(theme.TOUCH), spacing=dp(10))
        buttons.add_widget(Tappable(text="+ New playlist…", action="new_playlist_with_track",
                                    on_release=lambda *_: self._ask_new_playlist(track)))
        buttons.add_widget(Tappable(text="Cancel", action="cancel", on_release=lambda *_: self.close()))
        panel.add_widget(buttons)
        view.add_widget(panel)
        self.view = view
        view.open(animation=False)

    def _ask_new_playlist(self, track: Track) -> None:
        self.close()
        self.ctx.ask_text("New playlist", "", lambda name: when_done(
            self.ctx.jukebox.create_playlist(name.strip(), [track.id])))


class TextPrompt:
    """A name to type with the on-screen keyboard (new playlist, rename)."""

    def __init__(self) -> None:
        self.view: ModalView | None = None
        self.field: Any = None

    def open(self, title: str, text: str, done: Callable[[str], None]) -> None:
        view = _modal((0.96, 0.96))
        panel = Panel(orientation="vertical", padding=dp(12), spacing=dp(8), bg_color=list(theme.SURFACE))
        head = BoxLayout(size_hint_y=None, height=dp(theme.TOUCH), spacing=dp(8))
        head.add_widget(Text(text=title, font_size=sp(theme.TITLE), bold=True))
        head.add_widget(Tappable(text="Cancel", action="cancel", size_hint_x=None, width=dp(120),
                                 on_release=lambda *_: self.close()))
        self.field = make_text_input(text=text)
        keyboard = OnScreenKeyboard(self.field)

        def finish(*_: Any) -> None:
            value = self.field.text.strip()
            if value:
                self.close()
                done(value)

        keyboard.bind(on_enter=finish)
        self.field.bind(on_text_validate=finish)
        for widget in (head, self.field, keyboard):
            panel.add_widget(widget)
        view.add_widget(panel)
        self.view = view
        view.open(animation=False)
        self.field.focus = True

    def close(self) -> None:
        if self.view is not None:
            self.view.dismiss(animation=False)
            self.view = None


class PinPad(BoxLayout):
    """Digits, ⌫ and ✓ with dots for what was typed; ``on_pin`` fires with the digits on ✓."""

    __events__ = ("on_pin",)

    def __init__(self, title: str, **kwargs: Any) -> None:
        super().__init__(orientation="vertical", spacing=dp(8), padding=dp(12), **kwargs)
        self.digits = ""
        self.title = Text(text=title, font_size=sp(theme.TITLE), halign="center", size_hint_y=None, height=dp(36))
        self.dots = Text(text="", font_size=sp(theme.HEADLINE), halign="center", size_hint_y=None, height=dp(40))
        self.add_widget(self.title)
        self.add_widget(self.dots)
        grid = GridLayout(cols=3, spacing=dp(8))
        for label in ("1", "2", "3", "4", "5", "6", "7", "8", "9", "⌫", "0", "✓"):
            key = Tappable(text=label, action=f"pin:{label}", font_name=theme.icon_font(), font_size=sp(theme.HEADLINE))
            key.bind(on_release=lambda k: self.press(k.text))
            grid.add_widget(key)
        self.add_widget(grid)

    def press(self, label: str) -> None:
        if label == "⌫":
            self.digits = self.digits[:-1]
        elif label == "✓":
            digits, self.digits = self.digits, ""
            self.dispatch("on_pin", digits)
        elif len(self.digits) < 8:
            self.digits += label
        self.dots.text = "●" * len(self.digits)

    def on_pin(self, digits: str) -> None:
        pass

    def wrong(self) -> None:
        self.title.text = "Wrong PIN, try again"
        self.title.color = theme.DANGER


class PinPrompt:
    """Asks for a PIN in a modal; ``check`` decides, ``done`` runs when it passes."""

    def __init__(self) -> None:
        self.view: ModalView | None = None
        self.pad: PinPad | None = None

    def open(self, title: str, check: Callable[[str], bool], done: Callable[[str], None]) -> None:
        view = _modal((0.62, 0.98))
        self.pad = PinPad(title)
        panel = Panel(orientation="vertical", bg_color=list(theme.SURFACE))
        panel.add_widget(self.pad)
        panel.add_widget(Tappable(text="Cancel", action="cancel", size_hint_y=None, height=dp(theme.TOUCH),
                                  on_release=lambda *_: self.close()))

        def entered(pad: PinPad, digits: str) -> None:
            if check(digits):
                self.close()
                done(digits)
            else:
                pad.wrong()

        self.pad.bind(on_pin=entered)
        view.add_widget(panel)
        self.view = view
        view.open(animation=False)

    def close(self) -> None:
        if self.view is not None:
            self.view.dismiss(animation=False)
            self.view = None


class MessageView(Filled):
    """A calm full-screen message: no sound device, no database, nothing to play yet."""

    def __init__(self, headline: str, text: str = "", symbol: str = "♫", **kwargs: Any) -> None:
        super().__init__(orientation="vertical", color=list(theme.BACKGROUND), padding=dp(40), spacing=dp(16),
                         **kwargs)
        self.add_widget(Widget())
        self.symbol = Text(text=symbol, font_name=theme.icon_font(), font_size=sp(theme.DISPLAY * 2),
                           halign="center", color=theme.ACCENT_DEFAULT, size_hint_y=None, height=dp(110))
        self.headline = Text(text=headline, font_size=sp(theme.HEADLINE), bold=True, halign="center", wrap=True,
                             size_hint_y=None, height=dp(90))
        self.text = Text(text=text, font_size=sp(theme.TITLE), halign="center", wrap=True, color=theme.TEXT_MUTED,
                         size_hint_y=None, height=dp(90), valign="top")
        for widget in (self.symbol, self.headline, self.text):
            self.add_widget(widget)
        self.add_widget(Widget())

    def on_touch_down(self, touch: Any) -> bool:
        return bool(self.collide_point(*touch.pos))  # nothing behind a message reacts
