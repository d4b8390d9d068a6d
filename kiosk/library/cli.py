"""``kiosk scan PATH [--db FILE] [--copy-to DIR] [--json]``: scan or import a folder from the shell.

A progress bar on a terminal; with ``--json`` every event as one line of JSON, the last one
``library:scan-complete``. Exit status 0 when the scan completed (even with unreadable files), 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path
from typing import Any

from kiosk.core.bus import EventBus
from kiosk.core.events import Event, LibraryScanComplete, LibraryScanProgress


def register(subparsers: argparse._SubParsersAction) -> None:
    scan = subparsers.add_parser("scan", help="add a folder's music to the library (or copy it in)")
    scan.add_argument("path", type=Path, help="folder to scan")
    scan.add_argument("--db", type=Path, default=None, help="library database (default: from the config)")
    scan.add_argument("--copy-to", type=Path, default=None, help="copy the music into this folder, like a stick")
    scan.add_argument("--json", action="store_true", help="print every event as a line of JSON")
    scan.set_defaults(func=run_scan)


class _ProgressBar:
    """tqdm fed from scan events; the bar's total appears once the inventory is done."""

    def __init__(self) -> None:
        from tqdm import tqdm

        self._bar = tqdm(unit="file", dynamic_ncols=True, file=sys.stderr)
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self._lock:
            if isinstance(event, LibraryScanProgress):
                if event.total is not None and self._bar.total != event.total:
                    self._bar.reset(total=event.total)
                self._bar.n = event.scanned
                self._bar.set_description(event.status, refresh=False)
                self._bar.set_postfix(found=event.found, errors=event.errors, refresh=False)
                self._bar.refresh()
            elif isinstance(event, LibraryScanComplete):
                self._bar.close()


def run_scan(args: argparse.Namespace) -> int:
    from kiosk.library.importer import StickImporter
    from kiosk.library.scanner import Scanner
    from kiosk.library.store import SqlLibraryStore
    from kiosk.library.tags import ProcessTagReader

    config = args.config
    db_path = args.db or config.database
    db_path.parent.mkdir(parents=True, exist_ok=True)
    bus = EventBus()
    out_lock = threading.Lock()

    def print_json(event: Event) -> None:
        with out_lock:
            sys.stdout.write(event.to_json() + "\n")
            sys.stdout.flush()

    subscriber: Any = print_json if args.json else _ProgressBar() if sys.stderr.isatty() else None
    if subscriber is not None:
        bus.subscribe_all(subscriber)
    store = SqlLibraryStore(db_path, bus)
    reader = ProcessTagReader(config.covers_dir)
    try:
        if args.copy_to is not None:
            args.copy_to.mkdir(parents=True, exist_ok=True)
            result = StickImporter(store, bus, reader, args.copy_to.resolve()).import_from(args.path)
        else:
            result = Scanner(store, bus, reader).scan(args.path)
    finally:
        reader.close()
        store.close()
    if not args.json:
        summary = {k: v for k, v in result.payload().items() if k != "job_id"}
        print(json.dumps(summary, ensure_ascii=False, indent=2))
    return 0 if result.status == "completed" else 1
