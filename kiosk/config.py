"""The owner's one-time set-up (sound device, buttons, paths) from a TOML file, with embedded defaults.

Run-time choices made on the screen (volume limit, import mode...) are settings in the database,
not here. Where the file is: ``--config``, else ``$KIOSK_CONFIG``, else ``config.toml`` in the data
folder if present, else ``/etc/kiosk/config.toml`` if present, else the embedded defaults alone.
"""

from __future__ import annotations

import logging
import os
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kiosk.core.errors import KioskError

log = logging.getLogger(__name__)

SYSTEM_CONFIG = Path("/etc/kiosk/config.toml")


class ConfigError(KioskError):
    """The config file is missing, not TOML, or holds a value the jukebox cannot use."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PathsSection(_Section):
    database: Path | None = Field(None, description="SQLite library file; default: <data dir>/library.db")
    music: Path | None = Field(None, description="Where imported music is copied; default: <data dir>/music")
    covers: Path | None = Field(None, description="Cover thumbnail cache; default: <data dir>/covers")


class LibrarySection(_Section):
    demo: bool = Field(True, description="Fill an empty library with a few generated demo tracks.")
    scan_dirs: list[Path] = Field(default_factory=list, description="Folders scanned at start-up.")


class AudioSection(_Section):
    device: str = Field("default", description="ALSA PCM to play to.")
    mixer_control: str | None = Field(None, description="ALSA mixer element for volume; None: software gain.")
    mixer_card_index: int = Field(0, ge=0, description="Card whose mixer element is used.")
    period_ms: int = Field(20, ge=2, le=200, description="ALSA period length.")
    buffer_ms: int = Field(200, ge=20, le=2000, description="ALSA buffer length.")


class ScreenSection(_Section):
    fullscreen: bool = True
    show_cursor: bool = False


class UsbSection(_Section):
    enabled: bool = True
    mount_root: Path = Field(Path("/run/kiosk/usb"), description="Sticks are mounted below here.")
    mount_helper: str = Field(
        "systemd", description="'systemd' (systemd-mount via udev, on the Pi), 'fusefat' or 'none'."
    )


class ConfigFile(_Section):
    paths: PathsSection = PathsSection()
    library: LibrarySection = LibrarySection()
    audio: AudioSection = AudioSection()
    screen: ScreenSection = ScreenSection()
    usb: UsbSection = UsbSection()
    # Sections validated by their adapters (kiosk.hw.buttons): kept as plain tables here.
    buttons: dict[str, Any] = Field(default_factory=dict)
    encoder: dict[str, Any] = Field(default_factory=dict)
    leds: dict[str, Any] = Field(default_factory=dict)
    controls: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True)
class Config:
    """The resolved configuration: typed sections, absolute paths, and the merged raw TOML."""

    data_dir: Path
    source: Path | None
    file: ConfigFile
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def database(self) -> Path:
        return self.file.paths.database or self.data_dir / "library.db"

    @property
    def music_dir(self) -> Path:
        return self.file.paths.music or self.data_dir / "music"

    @property
    def covers_dir(self) -> Path:
        return self.file.paths.covers or self.data_dir / "covers"

    @property
    def audio(self) -> AudioSection:
        return self.file.audio

    @property
    def screen(self) -> ScreenSection:
        return self.file.screen

    @property
    def usb(self) -> UsbSection:
        return self.file.usb

    @property
    def library(self) -> LibrarySection:
        return self.file.library


def default_data_dir() -> Path:
    """``$KIOSK_DATA_DIR``, else the per-user data folder (XDG)."""
    if env := os.environ.get("KIOSK_DATA_DIR"):
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "kiosk"


def embedded_defaults() -> dict[str, Any]:
    text = resources.files("kiosk").joinpath("data/default-config.toml").read_text("utf-8")
    return tomllib.loads(text)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def find_config_file(data_dir: Path, explicit: Path | None = None) -> Path | None:
    if explicit is not None:
        return explicit
    if env := os.environ.get("KIOSK_CONFIG"):
        return Path(env)
    for candidate in (data_dir / "config.toml", SYSTEM_CONFIG):
        if candidate.is_file():
            return candidate
    return None


def load_config(data_dir: Path | None = None, config_file: Path | None = None) -> Config:
    """Reads and validates the config; raises ``ConfigError`` naming the file and the bad key."""
    data_dir = (data_dir or default_data_dir()).expanduser().resolve()
    source = find_config_file(data_dir, config_file)
    raw = embedded_defaults()
    if source is not None:
        try:
            user = tomllib.loads(source.read_text("utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {source} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read config file {source}: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {source} is not valid TOML: {exc}") from None
        # A user's [buttons] replaces the default map whole: merging two maps would wire pins twice.
        for section in ("buttons", "encoder", "leds"):
            if section in user:
                raw.pop(section, None)
        raw = _merge(raw, user)
    try:
        parsed = ConfigFile.model_validate(raw)
    except ValidationError as exc:
        where = source or "the embedded defaults"
        problems = "; ".join(
            f"[{'.'.join(str(p) for p in err['loc'])}] {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"config file {where}: {problems}") from None
    log.debug("config from %s, data folder %s", source or "defaults", data_dir)
    return Config(data_dir=data_dir, source=source, file=parsed, raw=raw)
