"""The owner's TOML config: embedded defaults, where the file is found, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.config import ConfigError, default_data_dir, load_config


def test_embedded_defaults_alone_give_a_working_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KIOSK_CONFIG", raising=False)
    config = load_config(tmp_path)
    assert config.source is None
    assert config.database == tmp_path / "library.db"
    assert config.music_dir == tmp_path / "music"
    assert config.audio.device == "default"


def test_data_dir_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIOSK_DATA_DIR", str(tmp_path / "data"))
    assert default_data_dir() == tmp_path / "data"
    monkeypatch.delenv("KIOSK_DATA_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_data_dir() == tmp_path / "xdg" / "kiosk"


def test_config_toml_in_the_data_folder_is_merged_over_the_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KIOSK_CONFIG", raising=False)
    (tmp_path / "config.toml").write_text('[audio]\ndevice = "hw:1,0"\n[paths]\nmusic = "/srv/music"\n')
    config = load_config(tmp_path)
    assert config.source == tmp_path / "config.toml"
    assert config.audio.device == "hw:1,0"
    assert config.audio.buffer_ms == 200  # untouched keys keep their defaults
    assert config.music_dir == Path("/srv/music")


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("[audio\ndevice = 1", "not valid TOML"),
        ('[audio]\ndevise = "hw:0"\n', "audio.devise"),
        ("[audio]\nperiod_ms = 0\n", "audio.period_ms"),
        ('[screen]\nfullscreen = "yes please"\n', "screen.fullscreen"),
        ("[nonsense]\nx = 1\n", "nonsense"),
    ],
)
def test_a_bad_config_file_is_refused_naming_the_file_and_key(tmp_path: Path, text: str, complaint: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, path)
    assert complaint in str(info.value)
    assert str(path) in str(info.value)


def test_a_missing_config_file_named_explicitly_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path, tmp_path / "nowhere.toml")
