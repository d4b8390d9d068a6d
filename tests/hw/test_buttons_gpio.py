"""Buttons and the knob on gpiozero's mock pins: the real device classes, our logic, a command sink.

Mock pins call back in the thread that drives them, so the threaded tests drive pins from their
own thread (as lgpio's callback thread does on a Pi) and wait for results with a deadline.
The command sink here is a plain recorder; tests/hw/test_buttons_core.py checks the real Jukebox.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any

import pytest
from gpiozero import DigitalInputDevice
from gpiozero.pins.mock import MockFactory

from kiosk.core.bus import RecordingBus
from kiosk.core.errors import DeviceError
from kiosk.core.events import ImportState
from kiosk.hw.buttons import Controls, Press, build_controls
from kiosk.hw.controls_config import ControlsConfigError
from kiosk.hw.controls_timer import ManualScheduler

DEFAULT_MAP: dict[str, Any] = {
    "buttons": {
        "pins": {
            "17": {"name": "Previous", "short": "previous"},
            "27": {"name": "Next", "short": "next"},
            "23": {"name": "Favorite", "short": "favorite", "long": "mute"},
            "24": {"name": "Mode", "short": "shuffle", "long": "repeat"},
            "25": {"name": "Eject", "short": "eject"},
            "22": {"name": "Vol+", "short": "volume_up", "repeat": True},
        },
        "repeat_delay_ms": 100,
        "repeat_interval_ms": 50,
    },
    "encoder": {"a": 5, "b": 6, "button": {"pin": 13, "short": "play_pause", "long": "stop"}},
    "leds": {"playing": 12, "importing": 16, "error": 26},
}


class RecordingCommands:
    """The jukebox's button-facing commands, recorded; every Future is already answered."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.lock = threading.Lock()

    def _record(self, *call: Any) -> Future[Any]:
        with self.lock:
            self.calls.append(call)
        future: Future[Any] = Future()
        future.set_result(None)
        return future

    def toggle_play(self) -> Future[Any]:
        return self._record("toggle_play")

    def stop(self) -> Future[Any]:
        return self._record("stop")

    def next(self) -> Future[Any]:
        return self._record("next")

    def previous(self) -> Future[Any]:
        return self._record("previous")

    def step_volume(self, steps: int) -> Future[Any]:
        return self._record("step_volume", steps)

    def toggle_mute(self) -> Future[Any]:
        return self._record("toggle_mute")

    def toggle_shuffle(self) -> Future[Any]:
        return self._record("toggle_shuffle")

    def cycle_repeat(self) -> Future[Any]:
        return self._record("cycle_repeat")

    def toggle_favorite_current(self) -> Future[Any]:
        return self._record("toggle_favorite_current")

    def eject(self) -> Future[Any]:
        return self._record("eject")

    def snapshot(self) -> list[tuple[Any, ...]]:
        with self.lock:
            return list(self.calls)


def wait_for(condition: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.002)


def in_thread(fn: Callable[[], None]) -> threading.Thread:
    """Runs ``fn`` in a new thread (as lgpio's callback thread would deliver edges) and returns it."""
    errors: list[BaseException] = []

    def body() -> None:
        try:
            fn()
        except BaseException as exc:  # reported by the join below
            errors.append(exc)

    thread = threading.Thread(target=body, name="pin-driver", daemon=True)
    thread.errors = errors  # type: ignore[attr-defined]
    thread.start()
    return thread


def join(thread: threading.Thread) -> None:
    thread.join(timeout=10)
    assert not thread.is_alive(), "the pin-driving thread is stuck"
    assert not thread.errors, thread.errors  # type: ignore[attr-defined]


@pytest.fixture
def commands() -> RecordingCommands:
    return RecordingCommands()


@pytest.fixture
def presses() -> list[Press]:
    """Every press the ``controls`` fixture reported, in order."""
    return []


@pytest.fixture
def controls(
    factory: MockFactory, commands: RecordingCommands, bus: RecordingBus, presses: list[Press]
) -> Iterator[Controls]:
    c = build_controls(DEFAULT_MAP, commands, bus, pin_factory=factory)
    c.add_listener(presses.append)
    c.start()
    yield c
    c.close()


def detent(factory: MockFactory, clockwise: bool) -> None:
    """One detent of the knob: clockwise is A low, B low, A high, B high."""
    a, b = factory.pin(5), factory.pin(6)
    first, second = (a, b) if clockwise else (b, a)
    first.drive_low()
    second.drive_low()
    first.drive_high()
    second.drive_high()


# --- from other threads, on the real clock --------------------------------------------------------


@pytest.mark.parametrize(
    ("pin", "expected"),
    [
        (17, ("previous",)),
        (27, ("next",)),
        (23, ("toggle_favorite_current",)),
        (24, ("toggle_shuffle",)),
        (25, ("eject",)),
        (13, ("toggle_play",)),
        (22, ("step_volume", 1)),
    ],
)
def test_a_press_from_another_thread_reaches_the_core_once(
    factory: MockFactory, controls: Controls, commands: RecordingCommands, pin: int, expected: tuple[Any, ...]
) -> None:
    mock = factory.pin(pin)

    def tap() -> None:
        mock.drive_low()
        time.sleep(0.05)  # a short press (long-press buttons act on release, after 0.8 s they would go long)
        mock.drive_high()

    join(in_thread(tap))
    wait_for(lambda: len(commands.snapshot()) >= 1, what="the command")
    time.sleep(0.1)  # anything extra (a double action) would arrive in this window
    assert commands.snapshot() == [expected]


def test_many_presses_on_several_buttons_from_several_threads_each_reach_the_core_once(
    factory: MockFactory, controls: Controls, commands: RecordingCommands, presses: list[Press]
) -> None:
    def tapper(pin: int, times: int) -> Callable[[], None]:
        def more_presses_than(count: int) -> Callable[[], bool]:
            return lambda: sum(1 for p in presses if p.pins == (pin,)) > count

        def run() -> None:
            mock = factory.pin(pin)
            for k in range(times):
                mock.drive_low()
                wait_for(more_presses_than(k), what=f"press {k}")
                mock.drive_high()
                time.sleep(controls.spec.timing.debounce * 2)  # let the release settle before the next press

        return run

    threads = [in_thread(tapper(17, 8)), in_thread(tapper(27, 8)), in_thread(tapper(25, 5))]
    for thread in threads:
        join(thread)
    time.sleep(0.1)
    calls = commands.snapshot()
    assert calls.count(("previous",)) == 8
    assert calls.count(("next",)) == 8
    assert calls.count(("eject",)) == 5
    assert len(calls) == 21


def test_long_press_from_another_thread_sends_the_long_action_only(
    factory: MockFactory, controls: Controls, commands: RecordingCommands, presses: list[Press]
) -> None:
    mock = factory.pin(24)

    def hold() -> None:
        mock.drive_low()
        wait_for(lambda: bool(commands.snapshot()), what="the long press")
        mock.drive_high()

    join(in_thread(hold))
    time.sleep(0.1)
    assert commands.snapshot() == [("cycle_repeat",)]
    assert [(p.kind, p.action) for p in presses] == [("long", "repeat")]


def test_hold_to_repeat_from_another_thread_steps_the_volume_until_released(
    factory: MockFactory, controls: Controls, commands: RecordingCommands, presses: list[Press]
) -> None:
    mock = factory.pin(22)

    def hold() -> None:
        mock.drive_low()
        wait_for(lambda: len(commands.snapshot()) >= 4, what="three repeats")
        mock.drive_high()

    join(in_thread(hold))
    time.sleep(0.1)  # the settled release stops the repeats
    count = len(commands.snapshot())
    time.sleep(0.3)  # 6 repeat intervals: none may come now
    calls = commands.snapshot()
    assert len(calls) == count >= 4
    assert set(calls) == {("step_volume", 1)}
    kinds = [p.kind for p in presses]
    assert kinds[0] == "short" and set(kinds[1:]) == {"repeat"}


def test_the_knob_steps_the_volume_both_ways_one_command_per_detent(
    factory: MockFactory, controls: Controls, commands: RecordingCommands, presses: list[Press]
) -> None:
    def turn() -> None:
        for _ in range(3):
            detent(factory, clockwise=True)
        for _ in range(5):
            detent(factory, clockwise=False)

    join(in_thread(turn))
    assert commands.snapshot() == [("step_volume", 1)] * 3 + [("step_volume", -1)] * 5
    assert [p.kind for p in presses] == ["clockwise"] * 3 + ["counterclockwise"] * 5


def test_a_wiggling_knob_contact_still_gives_one_step_per_detent(
    factory: MockFactory, controls: Controls, commands: RecordingCommands
) -> None:
    a, b = factory.pin(5), factory.pin(6)

    def turn() -> None:
        for _ in range(4):
            a.drive_low()
            for _ in range(3):  # A chatters while B is still open
                a.drive_high()
                a.drive_low()
            b.drive_low()
            for _ in range(3):  # B chatters at the bottom of the detent
                b.drive_high()
                b.drive_low()
            a.drive_high()
            b.drive_high()

    join(in_thread(turn))
    assert commands.snapshot() == [("step_volume", 1)] * 4


def test_callbacks_never_wait_for_the_core(factory: MockFactory, bus: RecordingBus) -> None:
    """A core that is stuck must not stall gpiozero's thread: presses are handed over, not awaited."""
    release_core = threading.Event()
    pending: list[Future[Any]] = []

    class StuckCore(RecordingCommands):
        def _record(self, *call: Any) -> Future[Any]:
            super()._record(*call)
            future: Future[Any] = Future()  # answered only when the core is released
            pending.append(future)
            return future

    core = StuckCore()
    with build_controls(DEFAULT_MAP, core, bus, pin_factory=factory) as controls:
        controls.start()

        def drive() -> None:
            for _ in range(10):
                detent(factory, clockwise=True)
            factory.pin(27).drive_low()
            wait_for(lambda: len(core.snapshot()) == 11, what="the press")
            factory.pin(27).drive_high()

        join(in_thread(drive))  # finishes while the core still has not answered anything
        assert not any(f.done() for f in pending) and len(pending) == 11
        release_core.set()
        for future in pending:
            future.set_exception(RuntimeError("refused"))  # failures are logged, never raised back


def test_a_press_during_an_import_reaches_the_core_while_import_events_stream(
    factory: MockFactory, controls: Controls, commands: RecordingCommands, bus: RecordingBus, presses: list[Press]
) -> None:
    stop = threading.Event()

    def importer() -> None:
        n = 0
        bus.publish(ImportState("job", "started", 0, 10_000, 0, 10**9))
        while not stop.is_set():
            n += 1
            bus.publish(ImportState("job", "copying", n, 10_000, n * 1000, 10**9, current_path=f"a/{n}.flac"))
        bus.publish(ImportState("job", "completed", n, n, n * 1000, n * 1000))

    thread = threading.Thread(target=importer, name="importer", daemon=True)
    thread.start()
    try:
        wait_for(lambda: len(bus.of_type(ImportState)) > 100, what="the import to run")
        assert controls.leds is not None
        wait_for(lambda: controls.leds is not None and controls.leds.wanted("importing") == "blink")

        def pressed(count: int) -> Callable[[], bool]:
            return lambda: len(presses) == count

        def press_and_turn() -> None:
            for count, pin in enumerate((27, 27, 17), start=1):
                factory.pin(pin).drive_low()
                wait_for(pressed(count), what=f"press {count}")
                factory.pin(pin).drive_high()
                time.sleep(controls.spec.timing.debounce * 2)
            detent(factory, clockwise=False)

        join(in_thread(press_and_turn))
    finally:
        stop.set()
        thread.join(timeout=10)
    assert commands.snapshot() == [("next",), ("next",), ("previous",), ("step_volume", -1)]
    wait_for(lambda: controls.leds is not None and controls.leds.wanted("importing") == "off", what="import LED off")


# --- bounce bursts through the real device classes, on a fake clock ---------------------------------


def test_bounce_bursts_on_mock_pins_give_one_action_per_press(
    factory: MockFactory, commands: RecordingCommands, bus: RecordingBus
) -> None:
    clock = ManualScheduler()
    with build_controls(DEFAULT_MAP, commands, bus, pin_factory=factory, scheduler=clock) as controls:
        controls.start()
        pin = factory.pin(27)
        for _ in range(5):
            # Closing: 0.3 ms closed, 0.2 ms open, 1 ms closed, 0.5 ms open, then closed for 80 ms.
            for level, dwell in [(0, 0.0003), (1, 0.0002), (0, 0.001), (1, 0.0005), (0, 0.08)]:
                (pin.drive_low if level == 0 else pin.drive_high)()
                clock.advance(dwell)
            # Opening: open 1 ms, closed 0.1 ms, open 4 ms, closed 2.5 ms, then open for good.
            for level, dwell in [(1, 0.001), (0, 0.0001), (1, 0.004), (0, 0.0025), (1, 0.5)]:
                (pin.drive_low if level == 0 else pin.drive_high)()
                clock.advance(dwell)
        assert commands.snapshot() == [("next",)] * 5


def test_ghost_spikes_on_mock_pins_are_ignored(
    factory: MockFactory, commands: RecordingCommands, bus: RecordingBus
) -> None:
    clock = ManualScheduler()
    with build_controls(DEFAULT_MAP, commands, bus, pin_factory=factory, scheduler=clock) as controls:
        controls.start()
        for pin_number in (17, 27, 25, 13):
            pin = factory.pin(pin_number)
            for _ in range(10):
                pin.drive_low()
                clock.advance(0.0005)  # half a millisecond of interference
                pin.drive_high()
                clock.advance(0.05)
        clock.advance(2.0)
        assert commands.snapshot() == []


# --- claiming pins: all or nothing ------------------------------------------------------------------


def test_a_bad_config_claims_no_pin(factory: MockFactory, commands: RecordingCommands, bus: RecordingBus) -> None:
    bad = {**DEFAULT_MAP, "leds": {"playing": 17}}  # pin 17 is a button already
    with pytest.raises(ControlsConfigError, match="pin 17 is used twice"):
        build_controls(bad, commands, bus, pin_factory=factory)
    assert factory.pins == {}  # not one pin was even looked up


def test_a_pin_that_will_not_open_frees_the_ones_opened_before_it(
    factory: MockFactory, commands: RecordingCommands, bus: RecordingBus
) -> None:
    squatter = DigitalInputDevice(26, pin_factory=factory)  # the error LED's pin is taken
    try:
        with pytest.raises(DeviceError, match="pin 26"):
            build_controls(DEFAULT_MAP, commands, bus, pin_factory=factory)
        # Every other pin of the map is free again: opening them all succeeds.
        opened = [DigitalInputDevice(p, pin_factory=factory) for p in (17, 27, 23, 24, 25, 22, 5, 6, 13, 12, 16)]
        for device in opened:
            device.close()
    finally:
        squatter.close()


def test_close_frees_every_pin_and_stops_presses(
    factory: MockFactory, commands: RecordingCommands, bus: RecordingBus
) -> None:
    controls = build_controls(DEFAULT_MAP, commands, bus, pin_factory=factory)
    controls.start()
    controls.close()
    controls.close()  # twice is fine
    again = build_controls(DEFAULT_MAP, commands, bus, pin_factory=factory)  # would raise GPIOPinInUse
    again.close()
    assert commands.snapshot() == []
