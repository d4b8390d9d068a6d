"""The USB stick panel: the scan and the import live, then "safe to remove" or why it stopped.

Scan progress can arrive as fast as the scanner publishes it; handlers here only keep the latest
event of each kind and pull a ``Clock.create_trigger``, so the panel redraws at most once a frame
however many events arrive in between.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from kivy.clock import Clock
from kivy.metrics import dp, sp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.progressbar import ProgressBar
from kivy.uix.screenmanager import Screen
from kivy.uix.widget import Widget

from kiosk.core.events import ImportState, LibraryScanComplete, LibraryScanProgress, StickState
from kiosk.ui import theme
from kiosk.ui.context import UiContext
from kiosk.ui.futures import when_done
from kiosk.ui.widgets import Filled, Panel, Tappable, Text, with_icon

log = logging.getLogger(__name__)

PHASES = {
    "inventory": "Looking for music",
    "reading": "Reading songs",
    "importing": "Adding songs",
    "finishing": "Finishing",
}


def describe_eta(seconds: float) -> str:
    if seconds < 60:
        return "less than a minute left"
    minutes = round(seconds / 60)
    return f"about {minutes} minute{'s' if minutes != 1 else ''} left"


class Rate:
    """Time left from work done so far: (elapsed / done) × remaining, once there is enough to judge."""

    def __init__(self) -> None:
        self.key: str | None = None
        self.started = 0.0
        self.first_done = 0

    def eta(self, key: str, done: int, total: int, now: float) -> float | None:
        if key != self.key:
            self.key, self.started, self.first_done = key, now, done
            return None
        elapsed, progressed = now - self.started, done - self.first_done
        if progressed < 3 or elapsed < 1.0 or total <= done:
            return None
        return elapsed / progressed * (total - done)


class ImportScreen(Screen):
    def __init__(self, ctx: UiContext, **kwargs: Any) -> None:
        super().__init__(name="import", **kwargs)
        self.ctx = ctx
        self.stick: StickState | None = None
        self.scan: LibraryScanProgress | None = None
        self.scan_done: LibraryScanComplete | None = None
        self.copy: ImportState | None = None
        self.renders = 0  # how often the panel was drawn, for tests of the coalescing
        self._rate = Rate()
        self._render = Clock.create_trigger(self.render, 0)
        #: Called when a stick starts doing something (inserted, a new scan): the shell brings the panel up.
        self.on_attention: Callable[[], None] = lambda: None

        root = Filled(orientation="vertical", color=list(theme.BACKGROUND), padding=dp(24), spacing=dp(14))
        self.headline = Text(font_size=sp(theme.HEADLINE), bold=True, size_hint_y=None, height=dp(76), markup=True,
                             wrap=True)
        self.detail = Text(font_size=sp(theme.TITLE), size_hint_y=None, height=dp(36))
        self.progress = ProgressBar(max=1, value=0, size_hint_y=None, height=dp(24))
        numbers = Panel(orientation="vertical", size_hint_y=None, height=dp(130), padding=dp(14), spacing=dp(4))
        self.counts = Text(font_size=sp(theme.TITLE))
        self.eta = Text(color=theme.TEXT_MUTED)
        self.current = Text(font_size=sp(theme.CAPTION), color=theme.TEXT_MUTED)
        for widget in (self.counts, self.eta, self.current):
            numbers.add_widget(widget)
        self.errors = Text(font_size=sp(theme.CAPTION), color=theme.DANGER, wrap=True, valign="top")
        buttons = BoxLayout(size_hint_y=None, height=dp(theme.TOUCH), spacing=dp(12))
        self.eject_button = Tappable(text=with_icon("⏏", "Eject stick"), action="eject",
                                     on_release=lambda *_: when_done(self.ctx.jukebox.eject()))
        self.close_button = Tappable(text="Done", action="close", on_release=lambda *_: self.ctx.go_to("now"))
        buttons.add_widget(self.eject_button)
        buttons.add_widget(self.close_button)
        for widget in (self.headline, self.detail, self.progress, numbers, self.errors, Widget(), buttons):
            root.add_widget(widget)
        self.add_widget(root)

        bridge = ctx.bridge
        bridge.bind(on_usb_stick_state=self._on_stick, on_library_scan_progress=self._on_scan,
                    on_library_scan_complete=self._on_scan_complete, on_import_state=self._on_import)
        self.render()

    # --- events: keep the latest, draw once per frame -------------------------------------------

    def _on_stick(self, _bridge: Any, event: StickState) -> None:
        if event.state == "inserted":
            self.scan = self.scan_done = self.copy = None
        self.stick = event
        self._render()
        if event.state in ("inserted", "error"):
            self.on_attention()

    def _on_scan(self, _bridge: Any, event: LibraryScanProgress) -> None:
        new_job = self.scan is None or self.scan.job_id != event.job_id
        if new_job:
            self.scan_done = self.copy = None
        self.scan = event
        self._render()
        if new_job:
            self.on_attention()

    def _on_scan_complete(self, _bridge: Any, event: LibraryScanComplete) -> None:
        self.scan_done = event
        self._render()

    def _on_import(self, _bridge: Any, event: ImportState) -> None:
        self.copy = event
        self._render()

    # --- drawing --------------------------------------------------------------------------------

    def _set_headline(self, text: str, color: tuple[float, ...] = theme.TEXT) -> None:
        self.headline.text = text
        self.headline.color = color

    def render(self, *_: Any) -> None:
        self.renders += 1
        stick, scan, done, copy = self.stick, self.scan, self.scan_done, self.copy
        label = (stick.label or stick.device) if stick else ""
        self.detail.text = f"Stick “{label}”" if label else ""
        self.eject_button.disabled = stick is None or stick.state not in ("mounted", "error")
        self.current.text = ""
        self.eta.text = ""
        errors = (copy and copy.state in ("aborted", "failed") and copy.message) or ""
        reasons = list(done.error_reasons) if done else []
        now = time.monotonic()

        if stick is None and scan is None and copy is None:
            self._set_headline("No USB stick")
            self.counts.text = "Plug in a stick with music to add it to the jukebox."
            self.progress.value, self.progress.max = 0, 1
        elif stick is not None and stick.state == "safe-to-remove":
            self._set_headline(with_icon("✓", "Safe to remove the stick"), theme.SUCCESS)
            self.counts.text = self._summary(done, copy)
            self.progress.max, self.progress.value = 1, 1
        elif stick is not None and stick.state == "removed":
            self._set_headline("Stick removed")
            self.counts.text = self._summary(done, copy)
        elif stick is not None and stick.state == "error":
            self._set_headline("The stick could not be used", theme.DANGER)
            errors = stick.message or errors
        elif copy is not None and copy.state in ("aborted", "failed"):
            self._set_headline("Import stopped", theme.DANGER)
            self.counts.text = f"{copy.files_done:,} of {copy.files_total:,} files copied"
        elif done is not None and done.status in ("aborted", "failed") and (copy is None or copy.state != "copying"):
            self._set_headline("Import stopped", theme.DANGER)
            self.counts.text = self._summary(done, copy)
            if not reasons and not errors:
                errors = "The scan " + ("was stopped (was the stick pulled out?)" if done.status == "aborted"
                                        else "failed")
        elif stick is not None and stick.state == "unmounting":
            self._set_headline("Finishing… don't remove the stick yet")
            self.counts.text = self._summary(done, copy)
        elif copy is not None and copy.state in ("started", "copying"):
            self._set_headline("Copying music… don't remove the stick")
            total = max(1, copy.files_total)
            self.progress.max, self.progress.value = total, min(copy.files_done, total)
            self.counts.text = f"{copy.files_done:,} of {copy.files_total:,} files"
            self.current.text = copy.current_path or ""
            eta = self._rate.eta(f"copy:{copy.job_id}", copy.files_done, copy.files_total, now)
            self.eta.text = describe_eta(eta) if eta is not None else ""
        elif scan is not None and done is None:
            self._set_headline(PHASES.get(scan.status, scan.status.capitalize()) + "… don't remove the stick")
            if scan.total:
                self.progress.max, self.progress.value = scan.total, min(scan.scanned, scan.total)
                self.counts.text = f"{scan.scanned:,} of {scan.total:,} files · {scan.found:,} songs"
                eta = self._rate.eta(f"scan:{scan.job_id}", scan.scanned, scan.total, now)
                self.eta.text = describe_eta(eta) if eta is not None else ""
            else:
                self.progress.max, self.progress.value = 1, 0
                self.counts.text = f"{scan.scanned:,} files looked at · {scan.found:,} songs"
            self.current.text = scan.current_path or ""
            if scan.errors:
                errors = f"{scan.errors} file{'s' if scan.errors != 1 else ''} could not be read"
        elif done is not None or (copy is not None and copy.state == "completed"):
            playing_from_stick = self.ctx.jukebox.settings().get("import.mode") == "play-from-stick"
            self._set_headline("Playing from the stick: keep it plugged in" if playing_from_stick
                               else "Done. Waiting to release the stick…")
            self.counts.text = self._summary(done, copy)
            self.progress.max, self.progress.value = 1, 1
        elif stick is not None:
            self._set_headline("Reading the stick…")
            self.counts.text = ""
        if reasons:
            errors = (errors + "\n" if errors else "") + "\n".join(reasons[:4])
        self.errors.text = errors

    @staticmethod
    def _summary(done: LibraryScanComplete | None, copy: ImportState | None) -> str:
        parts = []
        if done is not None:
            parts.append(f"{done.added:,} songs added")
            if done.skipped:
                parts.append(f"{done.skipped:,} already there or not music")
            if done.errors:
                parts.append(f"{done.errors:,} unreadable")
        elif copy is not None:
            parts.append(f"{copy.files_done:,} of {copy.files_total:,} files copied")
        return " · ".join(parts)

    @property
    def busy(self) -> bool:
        """A stick is being read or copied: pulling it now would lose something."""
        if self.stick is not None and self.stick.state in ("safe-to-remove", "removed", "error"):
            return False
        if self.copy is not None and self.copy.state in ("started", "copying"):
            return True
        return self.scan is not None and self.scan_done is None
