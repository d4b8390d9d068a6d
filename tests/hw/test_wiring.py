"""hardware/wiring.md must describe the box the default config drives, pin for pin.

The table is parsed and compared with the embedded default [buttons]/[encoder]/[leds]; header
pin numbers and grounds are checked against gpiozero's own board data for the 40-pin header.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from kiosk.config import embedded_defaults
from kiosk.hw.controls_config import HAT_PINS, ControlsConfig, controls_from_config

WIRING = Path(__file__).resolve().parents[2] / "hardware" / "wiring.md"
HEADER = MockFactory().board_info.headers["J8"].pins  # physical number -> PinInfo


def wiring_rows() -> list[dict[str, str]]:
    """The rows of the table whose header row starts with ``| BCM |``."""
    lines = WIRING.read_text("utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| BCM |"))
    names = [c.strip() for c in lines[start].strip("|").split("|")]
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(names, (c.strip() for c in line.strip("|").split("|")), strict=True)))
    return rows


def config_rows(spec: ControlsConfig) -> dict[int, tuple[str, str]]:
    """pin -> (role, does) as the wiring table writes them."""
    rows: dict[int, tuple[str, str]] = {b.pin: ("button", b.describe()) for b in spec.buttons}
    if spec.encoder is not None:
        enc = spec.encoder
        rows[enc.a] = ("encoder-a", f"clockwise={enc.clockwise}")
        rows[enc.b] = ("encoder-b", f"counterclockwise={enc.counterclockwise}")
        if enc.button is not None:
            rows[enc.button.pin] = ("encoder-button", enc.button.describe())
    for led in spec.leds:
        rows[led.pin] = (f"led-{led.role}", "")
    return rows


@pytest.fixture(scope="module")
def spec() -> ControlsConfig:
    return controls_from_config(embedded_defaults())


def test_the_wiring_table_lists_exactly_the_pins_and_actions_of_the_default_config(spec: ControlsConfig) -> None:
    table = {int(r["BCM"]): (r["Role"], "" if r["Role"].startswith("led-") else r["Does"]) for r in wiring_rows()}
    assert table == config_rows(spec)


def test_button_names_in_the_table_match_the_config(spec: ControlsConfig) -> None:
    parts = {int(r["BCM"]): r["Part"] for r in wiring_rows()}
    for button in spec.buttons:
        assert parts[button.pin] == f'Button "{button.name}"'


def test_header_pins_and_grounds_in_the_table_are_right_for_a_raspberry_pi() -> None:
    for row in wiring_rows():
        info = HEADER[int(row["Header pin"])]
        assert info.name == f"GPIO{row['BCM']}", f"BCM {row['BCM']} is not on header pin {row['Header pin']}"
        grounds = [int(n) for n in re.findall(r"GND, header pin (\d+)", row["Other side to"])]
        assert grounds, f"row for BCM {row['BCM']} names no ground pin"
        for ground in grounds:
            assert HEADER[ground].name == "GND", f"header pin {ground} is {HEADER[ground].name}, not a ground"


def test_the_diagram_marks_the_used_and_the_hat_pins_where_they_are(spec: ControlsConfig) -> None:
    text = WIRING.read_text("utf-8")
    diagram = text[text.index("Raspberry Pi 40-pin header (J8)") :]
    diagram = diagram[: diagram.index("```")]
    marked: dict[str, set[int]] = {"*": set(), "H": set()}
    seen = 0
    for line in diagram.splitlines():
        match = re.match(r"^  (.) (.*?) \(\s*(\d+)\) \(\s*(\d+)\) (.*?)(?:\s{2,}([*HG]))?$", line)
        if not match:
            continue
        seen += 1
        left_mark, left_text, left_pin, right_pin, right_text, right_mark = match.groups()
        for mark, label, pin in ((left_mark, left_text, left_pin), (right_mark, right_text, right_pin)):
            info = HEADER[int(pin)]
            gpio = re.search(r"GPIO (\d+)", label)
            if gpio:
                assert info.name == f"GPIO{gpio.group(1)}", f"diagram puts GPIO {gpio.group(1)} on pin {pin}"
            for power in {"GND", "3V3", "5V"} & set(label.split()):
                assert info.name == power, f"diagram puts {power} on pin {pin}, which is {info.name}"
            if mark in marked and info.name.startswith("GPIO"):
                marked[mark].add(int(info.name[4:]))
    assert seen == 20
    assert marked["*"] == set(spec.pins_used())
    assert marked["H"] == set(HAT_PINS["i2s-dac"])
