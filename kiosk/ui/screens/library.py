"""The library: artists, a grid of album covers, all songs, and search as you type.

Built for 50,000 tracks: every list draws a screenful of widgets, whatever the count. The song list
is a ``VirtualList`` (only a height and a few views, no entry per song) whose songs are fetched a page
at a time as they come into view; artists and albums are read when their tab is first shown, albums a
page at a time as the grid nears its end; searches ask for a limited number of results and only the
newest answer is shown; covers load off the main thread.
"""

from __future__ import annotations

import gc
import logging
from collections import OrderedDict
from functools import partial
from typing import Any

from kivy.clock import Clock
from kivy.graphics import Color, Rectangle
from kivy.metrics import dp, sp
from kivy.properties import NumericProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.recycleboxlayout import RecycleBoxLayout
from kivy.uix.recyclegridlayout import RecycleGridLayout
from kivy.uix.recycleview import RecycleView
from kivy.uix.recycleview.views import RecycleDataViewBehavior
from kivy.uix.screenmanager import NoTransition, Screen, ScreenManager

from kiosk.core.models import AlbumSummary, ArtistSummary, Track
from kiosk.ui import theme
from kiosk.ui.context import UiContext
from kiosk.ui.futures import Coalesce, LatestOnly, when_done
from kiosk.ui.keyboard import OnScreenKeyboard, make_text_input
from kiosk.ui.widgets import (
    CoverImage,
    Filled,
    RoundedPlate,
    Tappable,
    Text,
    VirtualList,
    forget_recycled_views,
    stop_animations,
)

log = logging.getLogger(__name__)

PAGE = 100  # songs fetched per query
BLOCK = 10  # songs per recycled view of the all-songs list
KEPT_PAGES = 6  # pages kept in memory (600 songs, 75 screenfuls), the rest asked again when scrolled back to
SEARCH_LIMIT = 100
CHUNK = 500  # artists fetched per query
ALBUM_TILE_HEIGHT = dp(220)
ALBUM_PAGE = 200  # albums fetched per query; the next page only when the grid is scrolled near its end


def _vertical_list(viewclass: type, row_height: float) -> RecycleView:
    rv = RecycleView(do_scroll_x=False, bar_width=dp(6), scroll_type=["bars", "content"])
    layout = RecycleBoxLayout(orientation="vertical", size_hint_y=None, default_size=(None, row_height),
                              default_size_hint=(1, None))
    layout.bind(minimum_height=layout.setter("height"))
    rv.add_widget(layout)
    rv.viewclass = viewclass  # only after the layout: RecycleView passes it on to its layout manager
    return rv


class ListRow(RecycleDataViewBehavior, ButtonBehavior, BoxLayout):
    """A two-line row with a divider; tapping calls ``on_tap`` from its data."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(padding=(dp(16), dp(6)), spacing=dp(12), **kwargs)
        with self.canvas.before:
            self._bg = RoundedPlate(0)  # drawn only while pressed
            Color(*theme.DIVIDER)
            self._line = Rectangle()
        texts = BoxLayout(orientation="vertical")
        self.title = Text()
        self.subtitle = Text(font_size=sp(theme.CAPTION), color=theme.TEXT_MUTED)
        texts.add_widget(self.title)
        texts.add_widget(self.subtitle)
        self.add_widget(texts)
        self.trailing = Text(font_size=sp(theme.CAPTION), color=theme.TEXT_MUTED, size_hint_x=None, width=dp(64),
                             halign="right")
        self.add_widget(self.trailing)
        self.bind(pos=self._sync, size=self._sync, state=self._sync)
        self.data: dict[str, Any] = {}

    def _sync(self, *_: Any) -> None:
        self._bg.update(self.pos, self.size, theme.SURFACE_RAISED if self.state == "down" else (0, 0, 0, 0))
        self._line.pos, self._line.size = (self.x + dp(16), self.y), (self.width - dp(16), 1)

    def refresh_view_attrs(self, rv: Any, index: int, data: dict[str, Any]) -> None:
        self.data = data
        self.index = index
        self.title.text = data.get("title", "")
        self.subtitle.text = data.get("subtitle", "")
        self.trailing.text = data.get("trailing", "")

    def on_release(self) -> None:
        tap = self.data.get("on_tap")
        if tap is not None:
            tap()


class SongRow(ListRow):
    """One song of the all-songs list; its block tells it which index it shows."""

    def __init__(self, source: PagedSongs, **kwargs: Any) -> None:
        super().__init__(size_hint_y=None, height=dp(theme.ROW), **kwargs)
        self.source = source
        self.index = -1

    def show(self, index: int) -> None:
        self.index = index
        self.opacity = 1 if index < self.source.count else 0
        track = self.source.get(index)
        if track is None:
            self.title.text, self.subtitle.text, self.trailing.text = ("…", "", "") if self.opacity else ("", "", "")
            return
        self.title.text = track.title
        self.subtitle.text = f"{track.display_artist} · {track.album}" if track.album else track.display_artist
        self.trailing.text = theme.format_ms(track.duration_ms)

    def on_release(self) -> None:
        track = self.source.get(self.index) if self.opacity else None
        if track is not None:
            self.source.ctx.show_track_actions(track)


class SongBlock(BoxLayout):
    """``BLOCK`` songs in one view of the song list's ``VirtualList``: one view per block keeps the
    work per scrolled frame small (a view is placed, not each row)."""

    def __init__(self, source: PagedSongs, **kwargs: Any) -> None:
        super().__init__(orientation="vertical", **kwargs)
        self.rows = [SongRow(source) for _ in range(BLOCK)]
        for row in self.rows:
            self.add_widget(row)
        self.index = -1  # which block of ``BLOCK`` songs this view shows

    def show(self, index: int | None = None) -> None:
        if index is not None:
            self.index = index
        for offset, row in enumerate(self.rows):
            row.show(self.index * BLOCK + offset)


class PagedSongs:
    """Songs by index, fetched a page at a time through ``list_tracks(offset, limit)``, a few pages kept.

    Only pages still on screen are asked for, at most ``IN_FLIGHT`` at a time: a fling through
    thousands of songs must not queue a query for every page it passed.
    """

    #: One query at a time: the jukebox reads on up to two threads, each with its own SQLite connection
    #: and page cache (2 MB once a fling has walked the title index); a second page in flight only made the
    #: second connection fill its cache too (2.4 MB more from the fling on, measured by the UI benchmark).
    IN_FLIGHT = 1

    def __init__(self, ctx: UiContext, on_page: Any, visible_pages: Any) -> None:
        self.ctx = ctx
        self._pages: OrderedDict[int, list[Track]] = OrderedDict()
        self._asked: set[int] = set()
        self._on_page = on_page
        self._visible_pages = visible_pages
        self._generation = 0
        self._fetch = Clock.create_trigger(self._fetch_visible, 0.03)
        self.count = 0
        self.queries = 0  # for the benchmark: how many pages were fetched

    @property
    def pages_kept(self) -> int:
        return len(self._pages)

    def reset(self, count: int) -> None:
        self._generation += 1
        self._pages.clear()
        self._asked.clear()
        self.count = count

    def forget_pages(self) -> None:
        """Lets the kept songs go (the tab is hidden); the count stays, the pages are asked again when shown."""
        self.reset(self.count)

    def get(self, index: int) -> Track | None:
        page_no, offset = divmod(index, PAGE)
        page = self._pages.get(page_no)
        if page is None:
            self._fetch()
            return None
        self._pages.move_to_end(page_no)
        return page[offset] if offset < len(page) else None

    def _fetch_visible(self, *_: Any) -> None:
        for page_no in sorted(self._visible_pages()):
            if len(self._asked) >= self.IN_FLIGHT:
                return
            if page_no in self._pages or page_no in self._asked or page_no * PAGE >= self.count:
                continue
            self._asked.add(page_no)
            self.queries += 1
            generation = self._generation
            when_done(
                self.ctx.jukebox.list_tracks(page_no * PAGE, PAGE, "title"),
                partial(self._arrived, generation, page_no),
                partial(self._failed, page_no),
            )

    def _failed(self, page_no: int, exc: BaseException) -> None:
        log.warning("songs %d-%d could not be read: %s", page_no * PAGE, page_no * PAGE + PAGE - 1, exc)
        self._asked.discard(page_no)

    def _arrived(self, generation: int, page_no: int, tracks: list[Track]) -> None:
        self._asked.discard(page_no)
        if generation != self._generation:
            return
        self._pages[page_no] = tracks
        while len(self._pages) > KEPT_PAGES:
            self._pages.popitem(last=False)
        self._on_page(page_no)
        self._fetch()  # the next page still on screen, if any


class AlbumTile(RecycleDataViewBehavior, ButtonBehavior, BoxLayout):
    """A cover with the album's name and artist under it; the cover loads when the tile is shown."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(orientation="vertical", padding=dp(8), spacing=dp(4), **kwargs)
        self.cover = CoverImage()
        self.name = Text(font_size=sp(theme.CAPTION), size_hint_y=None, height=dp(20), bold=True)
        self.artist = Text(font_size=sp(theme.CAPTION), color=theme.TEXT_MUTED, size_hint_y=None, height=dp(18))
        for widget in (self.cover, self.name, self.artist):
            self.add_widget(widget)
        self.album: AlbumSummary | None = None
        self.screen: LibraryScreen | None = None

    def refresh_view_attrs(self, rv: Any, index: int, data: dict[str, Any]) -> None:
        album: AlbumSummary = data["album"]
        self.album, self.screen = album, rv.screen
        self.name.text = album.album or "Unknown album"
        self.artist.text = album.album_artist or ""
        self.cover.texture = None
        assert self.screen is not None
        cover_id = album.cover_id
        self.screen.ctx.covers.request(
            cover_id, theme.COVER_THUMB, lambda tex, _avg: self._cover(album, tex)
        )

    def _cover(self, album: AlbumSummary, texture: Any) -> None:
        if self.album is album:
            self.cover.texture = texture

    def on_release(self) -> None:
        if self.album is not None and self.screen is not None:
            self.screen.open_album(self.album)


class LibraryScreen(Screen):
    tile_width = NumericProperty(dp(176))
    albums: RecycleView  # the album grid showing now; a fresh one replaces it when emptied
    album_grid: RecycleGridLayout

    def __init__(self, ctx: UiContext, **kwargs: Any) -> None:
        super().__init__(name="library", **kwargs)
        self.ctx = ctx
        self.artist_filter: str | None = None
        self._stale: set[str] = set()
        self._search_ticket = LatestOnly()
        self._albums_ticket = LatestOnly()
        self._reload = Coalesce(self.reload, 1.0)  # at once, but at most once a second while a scan adds
        self._search_trigger = Clock.create_trigger(self._run_search, 0.15)

        root = Filled(orientation="vertical", color=list(theme.BACKGROUND))
        self.tabs = BoxLayout(size_hint_y=None, height=dp(theme.TOUCH + 16), padding=dp(8), spacing=dp(8))
        self.tab_buttons: dict[str, Tappable] = {}
        for name, label in (("artists", "Artists"), ("albums", "Albums"), ("songs", "Songs"), ("search", "Search")):
            button = Tappable(text=label, action=f"tab:{name}", font_size=sp(theme.BODY))
            button.bind(on_release=lambda _b, n=name: self.show_tab(n))
            self.tab_buttons[name] = button
            self.tabs.add_widget(button)
        root.add_widget(self.tabs)
        self.pages = ScreenManager(transition=NoTransition())
        root.add_widget(self.pages)
        self.add_widget(root)

        # artists
        self.artists = _vertical_list(ListRow, dp(theme.ROW))
        self._page("artists", self.artists)
        # albums: a grid of covers, optionally one artist's
        albums_page = BoxLayout(orientation="vertical")
        self.albums_header = BoxLayout(size_hint_y=None, height=0, opacity=0, padding=(dp(8), 0), spacing=dp(8))
        self.albums_title = Text(font_size=sp(theme.TITLE), bold=True)
        self.all_albums_button = Tappable(text="All albums", action="all_albums", size_hint_x=None, width=dp(150),
                                          on_release=lambda *_: self.show_albums(None))
        self.albums_header.add_widget(self.albums_title)
        self.albums_header.add_widget(self.all_albums_button)
        self._more_albums: Any = None
        albums_page.add_widget(self.albums_header)
        self.albums_page = albums_page
        self._new_album_grid(replacing=False)
        self._page("albums", albums_page)
        # songs
        self.source = PagedSongs(ctx, self._page_arrived, self._visible_pages)
        self.songs = VirtualList(lambda: SongBlock(self.source), dp(theme.ROW) * BLOCK)
        self._page("songs", self.songs)
        # search
        search_page = BoxLayout(orientation="vertical", padding=(dp(8), 0), spacing=dp(6))
        bar = BoxLayout(size_hint_y=None, height=dp(theme.TOUCH), spacing=dp(8))
        self.search_field = make_text_input(hint_text="Title, artist or album")
        self.search_field.bind(text=lambda *_: self._search_trigger())
        self.keyboard_button = Tappable(text="Keyboard", action="toggle_keyboard", size_hint_x=None,
                                        width=dp(130), on_release=lambda *_: self.toggle_keyboard())
        bar.add_widget(self.search_field)
        bar.add_widget(self.keyboard_button)
        self.search_status = Text(font_size=sp(theme.CAPTION), color=theme.TEXT_MUTED, size_hint_y=None,
                                  height=dp(22))
        self.results = _vertical_list(ListRow, dp(theme.ROW))
        self.keyboard: OnScreenKeyboard | None = None  # built while shown: its 44 keys cost about 9 MB
        for widget in (bar, self.search_status, self.results):
            search_page.add_widget(widget)
        self.search_page = search_page
        self._page("search", search_page)
        # one album
        album_page = BoxLayout(orientation="vertical")
        album_head = BoxLayout(size_hint_y=None, height=dp(136), padding=dp(8), spacing=dp(12))
        self.album_cover = CoverImage(size_hint_x=None, width=dp(104))
        album_texts = BoxLayout(orientation="vertical")
        self.album_name = Text(font_size=sp(theme.TITLE), bold=True)
        self.album_artist = Text(color=theme.TEXT_MUTED)
        album_texts.add_widget(self.album_name)
        album_texts.add_widget(self.album_artist)
        album_buttons = BoxLayout(orientation="vertical", size_hint_x=None, width=dp(170), spacing=dp(6))
        album_buttons.add_widget(Tappable(text="Play album", action="play_album",
                                          on_release=lambda *_: self._album_command("replace_and_play")))
        album_buttons.add_widget(Tappable(text="Add to queue", action="queue_album",
                                          on_release=lambda *_: self._album_command("append")))
        for widget in (self.album_cover, album_texts, album_buttons):
            album_head.add_widget(widget)
        self.album_tracks = _vertical_list(ListRow, dp(theme.ROW))
        album_page.add_widget(album_head)
        album_page.add_widget(self.album_tracks)
        self._page("album", album_page)
        self.album_track_ids: list[int] = []

        self.bind(size=self._relayout)
        ctx.bind(accent=lambda *_: self._mark_tab(self.pages.current))
        ctx.bridge.bind(on_library_updated=lambda *_: self._reload())
        self.show_tab("songs")
        self.reload()

    def on_leave(self, *_: Any) -> None:
        """Another screen is showing: the library keeps its tabs and counts but lets go of its rows,
        tiles, covers and keys (the one-album page keeps its grid and tracks, for the way back)."""
        self._empty_hidden_pages("album" if self.pages.current == "album" else "")

    def on_pre_enter(self, *_: Any) -> None:
        if self.pages.current != "album":
            self.show_tab(self.pages.current)  # the tab it was left on, filled again

    def _new_album_grid(self, replacing: bool = True) -> None:
        """A fresh, empty grid of album tiles (the previous one, its tiles and covers are let go)."""
        if replacing:
            self.albums_page.remove_widget(self.albums)
            stop_animations(self.albums)
        self.albums = RecycleView(do_scroll_x=False, bar_width=dp(6), scroll_type=["bars", "content"])
        self.albums.screen = self
        self.album_grid = RecycleGridLayout(cols=max(2, int(self.width // self.tile_width)), size_hint_y=None,
                                            default_size_hint=(1, None), default_size=(None, ALBUM_TILE_HEIGHT),
                                            padding=dp(4))
        self.album_grid.bind(minimum_height=self.album_grid.setter("height"))
        self.albums.add_widget(self.album_grid)
        self.albums.viewclass = AlbumTile
        self.albums.bind(scroll_y=self._albums_near_end)
        self.albums_page.add_widget(self.albums)

    @staticmethod
    def _new_list(old: RecycleView) -> RecycleView:
        """An empty list in ``old``'s place: its rows (and the textures of their texts) are let go."""
        fresh = _vertical_list(ListRow, dp(theme.ROW))
        parent = old.parent
        if parent is not None:
            index = parent.children.index(old)
            parent.remove_widget(old)
            parent.add_widget(fresh, index=index)
        stop_animations(old)
        return fresh

    def _empty_hidden_pages(self, shown: str) -> None:
        """Only the page on screen holds rows, tiles and covers; the others are emptied and read again
        when shown (the one-album page keeps the grid it was opened from, for the way back)."""
        if shown != "artists" and self.artists.data:
            self.artists = self._new_list(self.artists)
            self._stale.add("artists")
        if shown not in ("albums", "album") and (self.albums.data or self._more_albums is not None):
            self._albums_ticket.next()
            self._more_albums = None
            self._new_album_grid()
            self._stale.add("albums")
        if shown != "songs":
            self.songs.release_views()
            self.source.forget_pages()  # 600 songs are about 2 MB of Python objects
        if shown != "search":
            self.search_field.focus = False
            self.toggle_keyboard(False)
            if self.results.data:
                self.results = self._new_list(self.results)
                self._search_ticket.next()
                self.search_status.text = ""
        if shown != "album" and self.album_tracks.data:
            self.album_tracks = self._new_list(self.album_tracks)
            self.album_track_ids = []
        forget_recycled_views(ListRow, AlbumTile)
        gc.collect()  # widgets hold reference cycles: free them now, for the page shown next to reuse

    def _page(self, name: str, content: Any) -> None:
        page = Screen(name=name)
        page.add_widget(content)
        self.pages.add_widget(page)

    def _relayout(self, *_: Any) -> None:
        self.album_grid.cols = max(2, int(self.width // self.tile_width))
        if self.keyboard is not None:
            self.keyboard.height = self._keyboard_height()

    def _keyboard_height(self) -> float:
        """Keys a finger can hit come first; the results get what is left (at least a row or two)."""
        return float(max(dp(220), min(self.height * 0.5, dp(340))))

    # --- tabs -----------------------------------------------------------------------------------

    def show_tab(self, name: str) -> None:
        self._empty_hidden_pages(name)
        self.pages.current = name
        self._mark_tab(name)
        self._load_if_stale(name)
        if name == "songs":
            self.songs.show_views()  # the views let go while hidden are built again
            self.source.get(0)  # rows drawn while the tab was hidden fetch their songs now
        if name == "search":
            self.search_field.focus = True
            self.toggle_keyboard(True)
            if self.search_field.text.strip() and not self.results.data:
                self._search_trigger()

    def _mark_tab(self, current: str) -> None:
        active = {"album": "albums"}.get(current, current)
        for name, button in self.tab_buttons.items():
            button.bg_color = (
                list(theme.tint(self.ctx.accent, 0.45, theme.SURFACE_RAISED)) if name == active
                else list(theme.SURFACE_RAISED)
            )

    def toggle_keyboard(self, show: bool | None = None) -> None:
        """Shows or hides the on-screen keyboard; a hidden keyboard is let go, not kept."""
        visible = self.keyboard is not None
        show = not visible if show is None else show
        if show and self.keyboard is None:
            self.keyboard = OnScreenKeyboard(self.search_field, size_hint_y=None, height=self._keyboard_height())
            self.keyboard.bind(on_enter=lambda *_: self.toggle_keyboard(False))
            self.search_page.add_widget(self.keyboard)
        elif not show and self.keyboard is not None:
            self.search_page.remove_widget(self.keyboard)
            self.keyboard = None
        self.keyboard_button.text = "Hide keys" if show else "Keyboard"

    # --- loading --------------------------------------------------------------------------------

    def reload(self, *_: Any) -> None:
        """Counts, artists and albums afresh (start-up, and after the library changed)."""
        when_done(self.ctx.jukebox.count_tracks(), self._count_known)
        # Artists and albums are read when their tab is shown: a library screen that only lists songs
        # never holds thousands of album entries.
        self._stale = {"artists", "albums"}
        self._load_if_stale(self.pages.current)
        if self.search_field.text.strip():
            self._search_trigger()

    def _count_known(self, count: int) -> None:
        self.source.reset(count)
        self.tab_buttons["songs"].text = f"Songs ({count:,})" if count else "Songs"
        self.songs.set_count((count + BLOCK - 1) // BLOCK)

    def song_blocks(self) -> list[SongBlock]:
        """The blocks of songs showing now (tests and the benchmark read their rows)."""
        return [b for b in self.songs.views if isinstance(b, SongBlock) and b.index >= 0]

    def _visible_pages(self) -> set[int]:
        if self.pages.current != "songs":
            return set()
        return {(block.index * BLOCK + i) // PAGE for block in self.song_blocks() for i in (0, BLOCK - 1)}

    def _page_arrived(self, page_no: int) -> None:
        for block in self.song_blocks():
            if page_no in ((block.index * BLOCK) // PAGE, (block.index * BLOCK + BLOCK - 1) // PAGE):
                block.show()

    def _load_if_stale(self, tab: str) -> None:
        if tab not in self._stale:
            return
        if tab == "artists":
            self._stale.discard(tab)
            self.artists.data = []
            self._load_artists(0)
        elif tab == "albums":
            self.show_albums(self.artist_filter, switch=False)

    def _load_artists(self, offset: int) -> None:
        when_done(self.ctx.jukebox.list_artists(offset, CHUNK), lambda found: self._artists_arrived(offset, found))

    def _artists_arrived(self, offset: int, artists: list[ArtistSummary]) -> None:
        rows = [
            {
                "title": a.name or "Unknown artist",
                "subtitle": f"{a.album_count} album{'s' if a.album_count != 1 else ''} · {a.track_count} songs",
                "on_tap": lambda name=a.name: self.show_albums(name),
            }
            for a in artists
        ]
        self.artists.data = [*self.artists.data, *rows] if offset else rows
        if len(artists) == CHUNK:
            self._load_artists(offset + CHUNK)

    def show_albums(self, artist: str | None, switch: bool = True) -> None:
        self.artist_filter = artist
        self._stale.discard("albums")
        ticket = self._albums_ticket.next()
        self._more_albums = None
        self._new_album_grid()
        self.albums_header.height = dp(theme.TOUCH) if artist is not None else 0
        self.albums_header.opacity = 1 if artist is not None else 0
        self.albums_title.text = artist or ""
        self._load_albums(ticket, artist, 0)
        if switch:
            self.show_tab("albums")

    def _load_albums(self, ticket: int, artist: str | None, offset: int) -> None:
        when_done(self.ctx.jukebox.list_albums(artist, offset, ALBUM_PAGE),
                  lambda found: self._albums_arrived(ticket, artist, offset, found))

    def _albums_arrived(self, ticket: int, artist: str | None, offset: int, albums: list[AlbumSummary]) -> None:
        if not self._albums_ticket.is_current(ticket):
            return
        self.albums.data = [*self.albums.data, *({"album": a} for a in albums)]
        if len(albums) == ALBUM_PAGE:
            self._more_albums = partial(self._load_albums, ticket, artist, offset + ALBUM_PAGE)
            self._albums_near_end()

    def _albums_near_end(self, *_: Any) -> None:
        """Fetches the next page of albums once less than two screens of the grid are left below."""
        rows = -(-len(self.albums.data) // max(1, self.album_grid.cols or 1))
        grid, seen = rows * ALBUM_TILE_HEIGHT, self.albums.height  # from the data: the layout may lag a frame
        left_below = self.albums.scroll_y * max(0.0, grid - seen)
        if self._more_albums is not None and left_below < 2 * seen:
            more, self._more_albums = self._more_albums, None
            more()

    def open_album(self, album: AlbumSummary) -> None:
        self.album_name.text = album.album or "Unknown album"
        self.album_artist.text = album.album_artist + (f" · {album.year}" if album.year else "")
        self.album_cover.texture = None
        self.ctx.covers.request(album.cover_id, theme.COVER_THUMB,
                                lambda tex, _a: setattr(self.album_cover, "texture", tex))
        self.album_tracks.data = []
        self.album_track_ids = []
        when_done(self.ctx.jukebox.album_tracks(album.album, album.album_artist), self._album_tracks_arrived)
        self.pages.current = "album"
        self._mark_tab("album")

    def _album_tracks_arrived(self, tracks: list[Track]) -> None:
        self.ctx.tracks.put(tracks)
        self.album_track_ids = [t.id for t in tracks]
        self.album_tracks.data = [self._track_row(t, f"{t.track_number or ''}") for t in tracks]

    def _album_command(self, command: str) -> None:
        if self.album_track_ids:
            when_done(getattr(self.ctx.jukebox, command)(self.album_track_ids))

    def _track_row(self, track: Track, prefix: str = "") -> dict[str, Any]:
        title = f"{prefix}. {track.title}" if prefix else track.title
        subtitle = f"{track.display_artist} · {track.album}" if track.album else track.display_artist
        return {"title": title, "subtitle": subtitle, "trailing": theme.format_ms(track.duration_ms),
                "on_tap": lambda t=track: self.ctx.show_track_actions(t)}

    # --- search as you type ---------------------------------------------------------------------

    def _run_search(self, *_: Any) -> None:
        query = self.search_field.text.strip()
        ticket = self._search_ticket.next()
        if not query:
            self.results.data = []
            self.search_status.text = ""
            return
        self.search_status.text = "Searching…"
        when_done(self.ctx.jukebox.search(query, SEARCH_LIMIT),
                  lambda tracks: self._results(ticket, query, tracks),
                  lambda exc: self._search_failed(ticket, exc))

    def _results(self, ticket: int, query: str, tracks: list[Track]) -> None:
        if not self._search_ticket.is_current(ticket):
            return  # typed on meanwhile; a newer answer is coming
        self.ctx.tracks.put(tracks)
        self.results.data = [self._track_row(t) for t in tracks]
        self.results.scroll_y = 1
        more = "+" if len(tracks) >= SEARCH_LIMIT else ""
        self.search_status.text = (
            f"{len(tracks)}{more} songs for “{query}”" if tracks else f"Nothing found for “{query}”"
        )

    def _search_failed(self, ticket: int, exc: BaseException) -> None:
        if self._search_ticket.is_current(ticket):
            self.search_status.text = f"Search failed: {exc}"
