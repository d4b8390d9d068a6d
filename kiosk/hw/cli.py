"""``kiosk buttons``: show the checked button map, and print each press as it happens on a new box.

``kiosk buttons test`` claims the configured pins and prints every decided press (pin, press type,
action) without sending anything to a jukebox, for checking the wiring. ``--mock`` runs the same code
on gpiozero's mock pins and reads simulated presses from standard input, for a demo without a Pi.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from typing import Any, TextIO

from kiosk.core.actions import ACTIONS
from kiosk.core.errors import InvalidRequestError
from kiosk.hw.buttons import Controls, Press, build_controls
from kiosk.hw.controls_config import ControlsConfig, controls_from_config

log = logging.getLogger(__name__)

MOCK_HELP = """\
mock pins: type a line per simulated action, then Enter (Ctrl-D or 'quit' ends):
  press PIN            press and release a button
  hold PIN SECONDS     hold a button (long press, or hold-to-repeat)
  bounce PIN           a press whose contact bounces on closing and opening
  turn cw|ccw [N]      turn the knob N detents (default 1)
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    buttons = subparsers.add_parser("buttons", help="GPIO buttons, knob and LEDs")
    sub = buttons.add_subparsers(title="buttons commands", metavar="COMMAND", required=True)

    show = sub.add_parser("show", help="check the [buttons], [encoder] and [leds] config and print the map")
    show.set_defaults(func=_show)

    test = sub.add_parser("test", help="print each press as it happens, to check the wiring (Ctrl-C ends)")
    test.add_argument("--mock", action="store_true", help="use mock pins and read simulated presses from stdin")
    test.add_argument("--seconds", type=float, default=None, help="stop after this long (default: until Ctrl-C)")
    test.add_argument("--leds", action="store_true", help="first light each configured LED in turn for a second")
    test.set_defaults(func=_test)


def describe(spec: ControlsConfig) -> list[str]:
    """The map as aligned lines: pin, part, what it does."""
    rows: list[tuple[str, str, str]] = []
    for b in spec.buttons:
        rows.append((str(b.pin), f"button {b.name!r}", b.describe()))
    if spec.encoder is not None:
        enc = spec.encoder
        turns = f"clockwise={enc.clockwise}; counterclockwise={enc.counterclockwise}"
        rows.append((f"{enc.a}/{enc.b}", "knob (A/B)", turns))
        if enc.button is not None:
            rows.append((str(enc.button.pin), "knob push switch", enc.button.describe()))
    for led in spec.leds:
        rows.append((str(led.pin), f"LED {led.role!r}", "output"))
    rows.sort(key=lambda r: int(r[0].split("/")[0]))
    return [f"  BCM {pin:<6} {part:<22} {does}" for pin, part, does in rows]


def _show(args: argparse.Namespace) -> int:
    spec = controls_from_config(args.config)
    print(f"audio HAT pins kept free: {spec.audio_hat}")
    print("\n".join(describe(spec)) or "  (no buttons, knob or LEDs configured)")
    return 0


def format_press(press: Press) -> str:
    pins = "/".join(map(str, press.pins))
    return f"pin {pins:<6} {press.kind:<17} {press.action:<12} ({press.control})"


def _test(args: argparse.Namespace) -> int:
    out: TextIO = sys.stdout
    pin_factory: Any = None
    if args.mock:
        from gpiozero.pins.mock import MockFactory

        pin_factory = MockFactory()
    controls = build_controls(args.config, jukebox=None, bus=None, pin_factory=pin_factory)
    lock = threading.Lock()

    def show(press: Press) -> None:
        with lock:
            out.write(format_press(press) + "\n")
            out.flush()

    controls.add_listener(show)
    with controls:
        print(f"listening on {'mock' if args.mock else 'GPIO'} pins:", file=out)
        print("\n".join(describe(controls.spec)), file=out, flush=True)
        if args.leds:
            _flash_leds(controls, out)
        controls.start()
        try:
            if args.mock:
                _mock_session(controls, pin_factory, sys.stdin, out, args.seconds)
            else:
                print("press the buttons and turn the knob; Ctrl-C ends", file=out, flush=True)
                threading.Event().wait(args.seconds)
        except KeyboardInterrupt:
            pass
    return 0


def _flash_leds(controls: Controls, out: TextIO) -> None:
    for role, device in controls.led_devices.items():
        print(f"LED {role!r} on pin {controls.spec.pins_by_led()[role]}: on for a second", file=out, flush=True)
        device.on()
        time.sleep(1.0)
        device.off()


def _mock_session(controls: Controls, factory: Any, stdin: TextIO, out: TextIO, seconds: float | None) -> None:
    """Reads simulated actions from ``stdin`` and plays them on the mock pins."""
    if stdin.isatty():
        out.write(MOCK_HELP)
        out.flush()
    deadline = None if seconds is None else time.monotonic() + seconds
    settle = controls.spec.timing.debounce + 0.05
    for line in stdin:
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        if words[0] in ("quit", "exit"):
            break
        try:
            _simulate(factory, controls, words, settle)
        except (InvalidRequestError, ValueError, IndexError) as exc:
            out.write(f"? {exc}\n{MOCK_HELP}")
            out.flush()
        if deadline is not None and time.monotonic() > deadline:
            break
    time.sleep(settle)


def _simulate(factory: Any, controls: Controls, words: list[str], settle: float) -> None:
    command, rest = words[0], words[1:]
    spec = controls.spec
    buttons = {b.pin for b in spec.all_buttons}
    if command in ("press", "hold", "bounce"):
        pin = int(rest[0])
        if pin not in buttons:
            raise InvalidRequestError(f"no button on pin {pin} (buttons: {', '.join(map(str, sorted(buttons)))})")
        mock = factory.pin(pin)
        if command == "bounce":
            for _ in range(5):  # contact chatter well inside the debounce window
                mock.drive_low()
                mock.drive_high()
        mock.drive_low()
        time.sleep(float(rest[1]) if command == "hold" else max(0.05, spec.timing.ghost * 5))
        if command == "bounce":
            for _ in range(5):
                mock.drive_high()
                mock.drive_low()
        mock.drive_high()
        time.sleep(settle)
    elif command == "turn":
        if spec.encoder is None:
            raise InvalidRequestError("no knob configured")
        direction = rest[0] if rest else "cw"
        if direction not in ("cw", "ccw"):
            raise InvalidRequestError("turn cw or turn ccw")
        a, b = factory.pin(spec.encoder.a), factory.pin(spec.encoder.b)
        first, second = (a, b) if direction == "cw" else (b, a)
        for _ in range(int(rest[1]) if len(rest) > 1 else 1):
            # One detent: the leading contact closes, then the other, then they open in the same order.
            first.drive_low()
            second.drive_low()
            first.drive_high()
            second.drive_high()
    elif command == "help":
        raise InvalidRequestError("commands")
    else:
        raise InvalidRequestError(f"unknown command {command!r}; actions are {', '.join(ACTIONS)}")
