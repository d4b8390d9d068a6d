"""Favorites and playlists: browse, play, create, rename, delete, add the track playing now."""

from __future__ import annotations

import logging
from typing import Any

from kivy.clock import Clock
from kivy.metrics import dp, sp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.screenmanager import Screen

from kiosk.core.events import PlaylistsUpdated
from kiosk.core.models import Playlist, PlaylistDetail, Track
from kiosk.ui import theme
from kiosk.ui.context import UiContext
from kiosk.ui.futures import Coalesce, LatestOnly, report_error, when_done
from kiosk.ui.screens.library import ListRow, _vertical_list
from kiosk.ui.widgets import Filled, Links, Tappable, Text, with_icon

log = logging.getLogger(__name__)

FAVORITES = -1  # the id the favorites take in this screen's selection


class PlaylistsScreen(Screen):
    def __init__(self, ctx: UiContext, **kwargs: Any) -> None:
        super().__init__(name="playlists", **kwargs)
        self.ctx = ctx
        self.selected: int = FAVORITES
        self.playlists: list[Playlist] = []
        self.shown_track_ids: list[int] = []
        self._detail_ticket = LatestOnly()
        self._reload_list = Coalesce(self.load_list, 0.5)
        self._reload_detail = Coalesce(self.load_detail, 0.5)
        self._delete_armed = False
        self._disarm = Clock.create_trigger(self._disarm_delete, 3)

        root = Filled(color=list(theme.BACKGROUND), spacing=dp(theme.GAP), padding=dp(8))
        self.root_box = root
        left = BoxLayout(orientation="vertical", spacing=dp(8), size_hint_x=0.38)
        self.new_button = Tappable(text="+ New playlist", action="new_playlist", size_hint_y=None,
                                   height=dp(theme.TOUCH), on_release=lambda *_: self._ask_new())
        self.list = _vertical_list(ListRow, dp(theme.ROW))
        left.add_widget(self.new_button)
        left.add_widget(self.list)
        right = BoxLayout(orientation="vertical", spacing=dp(8), size_hint_x=0.62)
        head = BoxLayout(size_hint_y=None, height=dp(40))
        self.title = Text(text="Favorites", font_size=sp(theme.TITLE), bold=True)
        self.count = Text(font_size=sp(theme.CAPTION), color=theme.TEXT_MUTED, halign="right", size_hint_x=0.4)
        head.add_widget(self.title)
        head.add_widget(self.count)
        buttons = BoxLayout(size_hint_y=None, height=dp(theme.TOUCH), spacing=dp(8))
        self.play_button = Tappable(text=with_icon("▶", "Play"), action="play", on_release=lambda *_: self._play())
        self.add_current_button = Tappable(text="+ Current", action="add_current",
                                           on_release=lambda *_: self._add_current())
        self.rename_button = Tappable(text="Rename", action="rename", on_release=lambda *_: self._ask_rename())
        self.delete_button = Tappable(text="Delete", action="delete", on_release=lambda *_: self._delete_pressed())
        for button in (self.play_button, self.add_current_button, self.rename_button, self.delete_button):
            buttons.add_widget(button)
        self.tracks = _vertical_list(ListRow, dp(theme.ROW))
        self.empty = Text(text="", color=theme.TEXT_MUTED, halign="center", size_hint_y=None, height=0, wrap=True)
        for widget in (head, buttons, self.empty, self.tracks):
            right.add_widget(widget)
        root.add_widget(left)
        root.add_widget(right)
        self.left_pane, self.right_pane = left, right
        self.add_widget(root)
        self.bind(size=self._relayout)

        self.links = Links()
        self.links.bind(ctx.bridge, on_playlists_updated=self._on_playlists, on_favorites_updated=self._on_favorites,
                        on_library_updated=self._on_library)
        self.load_list()
        self.load_detail()

    def release(self) -> dict[str, int]:
        """The shell lets this screen go when it is left; the next visit opens the same list again."""
        self.links.release()
        self._disarm.cancel()
        return {"selected": self.selected}

    def restore(self, state: dict[str, int]) -> None:
        if state.get("selected", FAVORITES) != FAVORITES:
            self.select(state["selected"])

    def _relayout(self, *_: Any) -> None:
        portrait = self.height > self.width
        self.root_box.orientation = "vertical" if portrait else "horizontal"
        self.left_pane.size_hint = (1, 0.36) if portrait else (0.38, 1)
        self.right_pane.size_hint = (1, 0.64) if portrait else (0.62, 1)

    # --- events ---------------------------------------------------------------------------------

    def _on_playlists(self, _bridge: Any, event: PlaylistsUpdated) -> None:
        self._reload_list()
        if event.playlist_id == self.selected:
            if event.action == "deleted":
                self.select(FAVORITES)
            else:
                self._reload_detail()

    def _on_library(self, _bridge: Any, _event: Any) -> None:
        self._reload_list()
        self._reload_detail()

    def _on_favorites(self, _bridge: Any, _event: Any) -> None:
        self._reload_list()
        if self.selected == FAVORITES:
            self._reload_detail()

    # --- loading --------------------------------------------------------------------------------

    def load_list(self, *_: Any) -> None:
        when_done(self.ctx.jukebox.list_playlists(), self._list_arrived)

    def _list_arrived(self, playlists: list[Playlist]) -> None:
        self.playlists = playlists
        rows = [{"title": "Favorites", "subtitle": "Songs with the heart", "on_tap": lambda: self.select(FAVORITES)}]
        rows += [
            {"title": p.name, "subtitle": f"{p.track_count} song{'s' if p.track_count != 1 else ''}",
             "on_tap": lambda pid=p.id: self.select(pid)}
            for p in playlists
        ]
        self.list.data = rows
        if self.selected != FAVORITES and all(p.id != self.selected for p in playlists):
            self.select(FAVORITES)
        else:
            self._show_title()

    def _show_title(self) -> None:
        if self.selected == FAVORITES:
            self.title.text = "Favorites"
        else:
            playlist = next((p for p in self.playlists if p.id == self.selected), None)
            self.title.text = playlist.name if playlist else ""
        own = self.selected != FAVORITES
        self.rename_button.disabled = self.delete_button.disabled = not own

    def select(self, playlist_id: int) -> None:
        self.selected = playlist_id
        self._disarm_delete()
        self._show_title()
        self.load_detail()

    def load_detail(self, *_: Any) -> None:
        ticket = self._detail_ticket.next()
        selected = self.selected
        if selected == FAVORITES:
            when_done(self.ctx.jukebox.list_favorites(), lambda tracks: self._tracks_arrived(ticket, tracks))
        else:
            when_done(self.ctx.jukebox.get_playlist(selected), lambda detail: self._detail_arrived(ticket, detail),
                      lambda exc: self.select(FAVORITES) if self._detail_ticket.is_current(ticket) else None)

    def _detail_arrived(self, ticket: int, detail: PlaylistDetail) -> None:
        if not self._detail_ticket.is_current(ticket):
            return
        ids = list(detail.track_ids)
        self.ctx.tracks.ensure(ids, lambda: self._tracks_arrived(
            ticket, [t for t in (self.ctx.tracks.get(i) for i in ids) if t is not None]))

    def _tracks_arrived(self, ticket: int, tracks: list[Track]) -> None:
        if not self._detail_ticket.is_current(ticket):
            return
        self.ctx.tracks.put(tracks)
        self.shown_track_ids = [t.id for t in tracks]
        self.tracks.data = [
            {"title": t.title, "subtitle": t.display_artist, "trailing": theme.format_ms(t.duration_ms),
             "on_tap": lambda t=t: self.ctx.show_track_actions(t)}
            for t in tracks
        ]
        count = len(tracks)
        self.count.text = f"{count} song{'s' if count != 1 else ''}"
        self.play_button.disabled = count == 0
        if count == 0:
            self.empty.text = ("Tap the heart while a song plays to keep it here." if self.selected == FAVORITES
                               else "Empty. Add the song playing now with “+ Current”.")
            self.empty.height = dp(60)
        else:
            self.empty.text, self.empty.height = "", 0

    # --- commands -------------------------------------------------------------------------------

    def _play(self) -> None:
        if self.selected == FAVORITES:
            if self.shown_track_ids:
                when_done(self.ctx.jukebox.replace_and_play(self.shown_track_ids))
        else:
            when_done(self.ctx.jukebox.play_playlist(self.selected))

    def _current_track_id(self) -> int | None:
        state = self.ctx.jukebox.player_state()
        if state is not None and state.track_id is not None:
            return int(state.track_id)
        return self.ctx.jukebox.queue_snapshot().current_track_id

    def _add_current(self) -> None:
        track_id = self._current_track_id()
        if track_id is None:
            report_error("Nothing is playing to add.")
            return
        if self.selected == FAVORITES:
            when_done(self.ctx.jukebox.set_favorite(track_id, True))
        else:
            when_done(self.ctx.jukebox.add_to_playlist(self.selected, [track_id]))

    def _ask_new(self) -> None:
        self.ctx.ask_text("New playlist", "", self._create)

    def _create(self, name: str) -> None:
        when_done(self.ctx.jukebox.create_playlist(name.strip()), lambda p: self.select(p.id))

    def _ask_rename(self) -> None:
        if self.selected != FAVORITES:
            pid = self.selected
            self.ctx.ask_text("Rename playlist", self.title.text,
                              lambda name: when_done(self.ctx.jukebox.rename_playlist(pid, name.strip())))

    def _delete_pressed(self) -> None:
        if self.selected == FAVORITES:
            return
        if not self._delete_armed:
            self._delete_armed = True
            self.delete_button.text = "Tap again"
            self.delete_button.bg_color = list(theme.tint(theme.DANGER, 0.6, theme.SURFACE_RAISED))
            self._disarm()
            return
        self._disarm_delete()
        when_done(self.ctx.jukebox.delete_playlist(self.selected))

    def _disarm_delete(self, *_: Any) -> None:
        self._delete_armed = False
        self.delete_button.text = "Delete"
        self.delete_button.bg_color = list(theme.SURFACE_RAISED)
