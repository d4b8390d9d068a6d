"""Now playing: cover, title/artist/album, a seek bar to drag, transport, volume, shuffle, repeat, heart."""

from __future__ import annotations

import logging
from typing import Any

from kivy.metrics import dp, sp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.screenmanager import Screen
from kivy.uix.widget import Widget

from kiosk.core.events import FavoritesUpdated, LibraryUpdated, PlayerState
from kiosk.core.models import Track
from kiosk.ui import theme
from kiosk.ui.context import UiContext
from kiosk.ui.futures import LatestOnly, when_done
from kiosk.ui.widgets import Backdrop, CoverImage, DragSlider, IconButton, Text

log = logging.getLogger(__name__)

PLAY, PAUSE = "▶", "▌▐"
REPEAT_SYMBOL = {"off": "↻", "all": "↻", "one": "↻¹"}


class NowPlayingScreen(Screen):
    def __init__(self, ctx: UiContext, **kwargs: Any) -> None:
        super().__init__(name="now", **kwargs)
        self.ctx = ctx
        self.track: Track | None = None
        self.track_id: int | None = None
        self.playing = False
        self.favorite = False
        self._cover_ticket = LatestOnly()
        self._fav_ticket = LatestOnly()

        self.backdrop = Backdrop(color=list(theme.tint(ctx.accent, 0.16)))
        self.add_widget(self.backdrop)
        self.body = BoxLayout(padding=dp(theme.GAP * 2), spacing=dp(theme.GAP * 2))
        self.add_widget(self.body)

        self.cover = CoverImage()
        self.info = BoxLayout(orientation="vertical", spacing=dp(4))
        self.title = Text(text="Nothing playing", font_size=sp(theme.HEADLINE), bold=True, size_hint_y=None,
                          height=dp(44))
        self.artist = Text(font_size=sp(theme.TITLE), size_hint_y=None, height=dp(34))
        self.album = Text(color=theme.TEXT_MUTED, size_hint_y=None, height=dp(30))
        self.seek = DragSlider(min=0, max=1, value=0)
        self.seek.bind(on_release_value=self._seek_released)
        times = BoxLayout(size_hint_y=None, height=dp(24), padding=(dp(18), 0))
        self.elapsed = Text(text="0:00", font_size=sp(theme.CAPTION), color=theme.TEXT_MUTED)
        self.remaining = Text(text="0:00", font_size=sp(theme.CAPTION), color=theme.TEXT_MUTED, halign="right")
        times.add_widget(self.elapsed)
        times.add_widget(self.remaining)

        transport = BoxLayout(size_hint_y=None, height=dp(76), spacing=dp(theme.GAP))
        self.shuffle_button = IconButton(text="⇄", action="shuffle",
                                         on_release=lambda *_: self._command("toggle_shuffle"))
        self.prev_button = IconButton(text="▮◀", action="previous", on_release=lambda *_: self._command("previous"))
        self.play_button = IconButton(text=PLAY, action="toggle_play", font_size=sp(theme.HEADLINE + 4),
                                      on_release=lambda *_: self._command("toggle_play"))
        self.next_button = IconButton(text="▶▮", action="next", on_release=lambda *_: self._command("next"))
        self.repeat_button = IconButton(text="↻", action="repeat", on_release=lambda *_: self._command("cycle_repeat"))
        for button in (self.shuffle_button, self.prev_button, self.play_button, self.next_button, self.repeat_button):
            transport.add_widget(button)

        volume_row = BoxLayout(size_hint_y=None, height=dp(theme.TOUCH), spacing=dp(theme.GAP))
        self.heart_button = IconButton(text="♡", action="favorite", size_hint_x=None, width=dp(theme.TOUCH),
                                       on_release=lambda *_: self._toggle_favorite())
        self.heart_button.active_color = list(theme.HEART)
        self.volume_down = IconButton(text="−", action="volume_down", size_hint_x=None, width=dp(theme.TOUCH),
                                      on_release=lambda *_: self._volume_step(-1))
        self.volume = DragSlider(min=0, max=100, value=ctx.jukebox.volume if ctx.jukebox else 0)
        self.volume.bind(on_release_value=self._volume_released)
        self.volume_up = IconButton(text="+", action="volume_up", size_hint_x=None, width=dp(theme.TOUCH),
                                    on_release=lambda *_: self._volume_step(1))
        for widget in (self.heart_button, self.volume_down, self.volume, self.volume_up):
            volume_row.add_widget(widget)

        for widget in (Widget(), self.title, self.artist, self.album, Widget(size_hint_y=None, height=dp(8)),
                       self.seek, times, transport, volume_row, Widget()):
            self.info.add_widget(widget)
        self.body.add_widget(self.cover)
        self.body.add_widget(self.info)
        self.bind(size=self._relayout)
        ctx.bind(accent=self._accent_changed)
        self._show_nothing()

        bridge = ctx.bridge
        bridge.bind(on_player_state=self._on_player_state, on_queue_state_changed=self._on_queue_changed,
                    on_queue_updated=self._on_queue_changed, on_favorites_updated=self._on_favorites,
                    on_library_updated=self._on_library)
        self.refresh()

    # --- layout ---------------------------------------------------------------------------------

    def _relayout(self, *_: Any) -> None:
        landscape = self.width >= self.height
        self.body.orientation = "horizontal" if landscape else "vertical"
        if landscape:
            side = min(self.height - dp(48), self.width * 0.44)
            self.cover.size_hint = (None, 1)
            self.cover.width = side
        else:
            side = min(self.width - dp(48), self.height * 0.45)
            self.cover.size_hint = (1, None)
            self.cover.height = side

    def _accent_changed(self, _ctx: Any, accent: list[float]) -> None:
        self.backdrop.color = list(theme.tint(accent, 0.16))
        for slider in (self.seek, self.volume):
            slider.accent = accent
        for button in (self.shuffle_button, self.repeat_button):
            button.active_color = accent

    # --- state from the core --------------------------------------------------------------------

    def refresh(self) -> None:
        """Read everything afresh from the core (start-up, and after a reload)."""
        jukebox = self.ctx.jukebox
        state = jukebox.player_state()
        if state is not None:
            self._on_player_state(None, state)
        else:
            self.volume.push(jukebox.volume)
        self._on_queue_changed(None, None)

    def _current_track_id(self) -> int | None:
        state = self.ctx.jukebox.player_state()
        if state is not None and state.track_id is not None:
            return int(state.track_id)
        return self.ctx.jukebox.queue_snapshot().current_track_id

    def _on_queue_changed(self, _bridge: Any, _event: Any) -> None:
        snapshot = self.ctx.jukebox.queue_snapshot()
        self.shuffle_button.active = snapshot.shuffle
        self.repeat_button.active = snapshot.repeat != "off"
        self.repeat_button.text = REPEAT_SYMBOL[snapshot.repeat]
        self._show_track(self._current_track_id())

    def _on_player_state(self, _bridge: Any, state: PlayerState) -> None:
        self.playing = state.state == "playing"
        self.play_button.text = PAUSE if self.playing else PLAY
        self.volume.push(state.volume)
        self.volume_down.text = "−" if not state.muted else "×"
        duration = max(1, state.duration_ms or (self.track.duration_ms if self.track else 0))
        self.seek.max = duration
        self.seek.push(state.position_ms)
        if not self.seek.dragging:
            self._show_times(state.position_ms, duration)
        self._show_track(state.track_id if state.track_id is not None else self._current_track_id())

    def _show_times(self, position_ms: float, duration_ms: float) -> None:
        self.elapsed.text = theme.format_ms(int(position_ms))
        self.remaining.text = "-" + theme.format_ms(int(max(0, duration_ms - position_ms)))

    def _show_track(self, track_id: int | None) -> None:
        if track_id == self.track_id and (track_id is None or self.track is not None):
            return
        self.track_id = track_id
        if track_id is None:
            self._show_nothing()
            return
        self.heart_button.disabled = False
        self.ctx.tracks.ensure([track_id], lambda: self._track_known(track_id))

    def _show_nothing(self) -> None:
        self.track = None
        self.title.text, self.artist.text, self.album.text = "Nothing playing", "Choose music in the library", ""
        self.cover.texture = None
        self.heart_button.disabled = True
        self.ctx.accent = list(theme.ACCENT_DEFAULT)

    def _track_known(self, track_id: int) -> None:
        if track_id != self.track_id:
            return
        track = self.ctx.tracks.get(track_id)
        self.track = track
        if track is None:
            self.title.text, self.artist.text, self.album.text = "Unknown track", "", ""
            return
        self.title.text = track.title or track.path.rsplit("/", 1)[-1]
        self.artist.text = track.display_artist
        self.album.text = track.album + (f" · {track.year}" if track.year else "")
        if self.seek.max <= 1 and track.duration_ms:
            self.seek.max = track.duration_ms
            self._show_times(self.seek.value, track.duration_ms)
        ticket = self._cover_ticket.next()
        self.ctx.covers.request(track.cover_id, theme.COVER_LARGE, lambda tex, avg: self._cover(ticket, tex, avg))
        fav_ticket = self._fav_ticket.next()

        def favorite_known(on: bool) -> None:
            if self._fav_ticket.is_current(fav_ticket):
                self._set_favorite(bool(on))

        when_done(self.ctx.jukebox.is_favorite(track_id), favorite_known)

    def _cover(self, ticket: int, texture: Any, average: tuple[float, float, float] | None) -> None:
        if not self._cover_ticket.is_current(ticket):
            return
        self.cover.texture = texture
        self.ctx.accent = list(theme.accent_from_rgb(*average) if average else theme.ACCENT_DEFAULT)

    def _set_favorite(self, on: bool) -> None:
        self.favorite = on
        self.heart_button.text = "♥" if on else "♡"
        self.heart_button.active = on

    def _on_favorites(self, _bridge: Any, event: FavoritesUpdated) -> None:
        if event.track_id == self.track_id:
            self._set_favorite(event.action == "added")

    def _on_library(self, _bridge: Any, event: LibraryUpdated) -> None:
        if self.track_id is not None and (not event.track_ids or self.track_id in event.track_ids):
            current, self.track_id, self.track = self.track_id, None, None
            self._show_track(current if event.action != "deleted" else self._current_track_id())

    # --- commands -------------------------------------------------------------------------------

    def _command(self, name: str) -> None:
        when_done(getattr(self.ctx.jukebox, name)())

    def _toggle_favorite(self) -> None:
        if self.track_id is not None:
            when_done(self.ctx.jukebox.set_favorite(self.track_id, not self.favorite))

    def _seek_released(self, _slider: Any, value: float) -> None:
        self._show_times(value, self.seek.max)
        when_done(self.ctx.jukebox.seek(int(value)))

    def _volume_released(self, _slider: Any, value: float) -> None:
        when_done(self.ctx.jukebox.set_volume(round(value)), self.volume.push)

    def _volume_step(self, steps: int) -> None:
        when_done(self.ctx.jukebox.step_volume(steps), self.volume.push)
