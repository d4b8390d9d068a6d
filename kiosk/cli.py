"""The ``kiosk`` command: no arguments starts the jukebox; subcommands do the headless jobs."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from kiosk import __version__
from kiosk.config import ConfigError, default_data_dir, load_config
from kiosk.core.errors import KioskError

log = logging.getLogger(__name__)

#: Adapter modules that add their own subcommands (scan, play, buttons ...) when present.
SUBCOMMAND_MODULES = ("kiosk.library.cli", "kiosk.audio.cli", "kiosk.hw.cli")


def _events_schema(args: argparse.Namespace) -> int:
    from kiosk.core.events import events_schema

    json.dump(events_schema(), sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


def _run(args: argparse.Namespace) -> int:
    from kiosk.app import run_jukebox

    return run_jukebox(args.config, windowed=args.windowed)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kiosk", description="A touchscreen jukebox for the Raspberry Pi.")
    parser.add_argument("--version", action="version", version=f"kiosk {__version__}")
    parser.add_argument(
        "--data-dir", type=Path, default=None,
        help=f"data folder: database, imported music, covers (default: $KIOSK_DATA_DIR or {default_data_dir()})",
    )
    parser.add_argument("--config", dest="config_file", type=Path, default=None, help="TOML config file")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    parser.add_argument("--windowed", action="store_true", help="run in a window (development)")
    parser.set_defaults(func=_run)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    run = sub.add_parser("run", help="start the jukebox (the default)")
    run.add_argument(
        "--windowed", action="store_true", default=argparse.SUPPRESS, help="run in a window (development)"
    )
    run.set_defaults(func=_run)

    events = sub.add_parser("events", help="the event vocabulary")
    events_sub = events.add_subparsers(title="events commands", metavar="COMMAND", required=True)
    schema = events_sub.add_parser("schema", help="print every event's name, fields and types as JSON")
    schema.set_defaults(func=_events_schema)

    for module_name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        args.config = load_config(args.data_dir, args.config_file)
        args.data_dir = args.config.data_dir
        return int(args.func(args))
    except (ConfigError, KioskError) as exc:
        print(f"kiosk: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
