"""Status LEDs on mock output pins, driven by bus events published from other threads."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from kiosk.core.bus import RecordingBus
from kiosk.core.events import AppError, Event, ImportState, PlayerError, PlayerState, StickState
from kiosk.hw.buttons import Controls, build_controls
from kiosk.hw.controls_timer import ManualScheduler
from tests.hw.test_buttons_gpio import wait_for

LEDS: dict[str, Any] = {"leds": {"playing": 12, "importing": 16, "error": 26, "error_hold_s": 1}}


def player(state: str) -> PlayerState:
    return PlayerState(state=state, track_id=1, position_ms=0, duration_ms=1000, queue_index=0, volume=40)  # type: ignore[arg-type]


def importing(state: str) -> ImportState:
    return ImportState("job-1", state, 1, 10, 100, 1000)  # type: ignore[arg-type]


def publish_from_another_thread(bus: RecordingBus, *events: Event) -> None:
    def publish_all() -> None:
        for event in events:
            bus.publish(event)

    thread = threading.Thread(target=publish_all, name="publisher")
    thread.start()
    thread.join(timeout=10)


@pytest.fixture
def leds(factory: MockFactory, bus: RecordingBus) -> Iterator[Controls]:
    controls = build_controls(LEDS, None, bus, pin_factory=factory)
    controls.start()
    yield controls
    controls.close()


def test_the_playing_led_follows_the_player_state(factory: MockFactory, leds: Controls, bus: RecordingBus) -> None:
    pin = factory.pin(12)
    assert pin.state is False
    publish_from_another_thread(bus, player("playing"))
    wait_for(lambda: pin.state is True, what="playing LED on")
    publish_from_another_thread(bus, player("paused"))
    wait_for(lambda: pin.state is False, what="playing LED off")


def test_position_updates_while_playing_do_not_rewrite_the_pin(
    factory: MockFactory, leds: Controls, bus: RecordingBus
) -> None:
    pin = factory.pin(12)
    publish_from_another_thread(bus, *[player("playing") for _ in range(200)])
    wait_for(lambda: pin.state is True, what="playing LED on")
    publish_from_another_thread(bus, player("stopped"))
    wait_for(lambda: pin.state is False, what="playing LED off")
    assert [s.state for s in pin.states] == [False, True, False]  # one write per change, none per event


def test_the_importing_led_blinks_during_an_import_and_goes_dark_after(
    factory: MockFactory, leds: Controls, bus: RecordingBus
) -> None:
    pin = factory.pin(16)
    publish_from_another_thread(bus, importing("started"), importing("copying"))
    wait_for(lambda: [s.state for s in pin.states].count(True) >= 2, what="two blinks")
    publish_from_another_thread(bus, importing("completed"))
    wait_for(lambda: leds.leds is not None and leds.leds.wanted("importing") == "off")
    wait_for(lambda: pin.state is False, what="importing LED off")
    blinks = len(pin.states)
    threading.Event().wait(0.8)  # longer than a blink period: it must stay dark
    assert len(pin.states) == blinks and pin.state is False


def test_pulling_the_stick_mid_import_stops_the_blinking(
    factory: MockFactory, leds: Controls, bus: RecordingBus
) -> None:
    pin = factory.pin(16)
    publish_from_another_thread(bus, importing("copying"))
    wait_for(lambda: pin.state is True, what="blinking")
    publish_from_another_thread(bus, StickState("sda1", "removed"))
    wait_for(lambda: leds.leds is not None and leds.leds.wanted("importing") == "off")
    wait_for(lambda: pin.state is False, what="importing LED off")


def test_the_error_led_lights_for_the_hold_time_after_the_last_error(factory: MockFactory, bus: RecordingBus) -> None:
    clock = ManualScheduler()
    with build_controls(LEDS, None, bus, pin_factory=factory, scheduler=clock) as controls:
        controls.start()
        pin = factory.pin(26)
        bus.publish(PlayerError("decode", "Cannot play this file", 3))
        clock.advance(0)
        assert pin.state is True
        clock.advance(0.6)
        bus.publish(AppError("usb", "The stick could not be read"))  # a second error restarts the hold
        clock.advance(0.6)
        assert pin.state is True  # 1.2 s after the first error, 0.6 s after the second
        clock.advance(0.5)
        assert pin.state is False
        for failure in (importing("failed"), StickState("sda1", "error", message="bad stick")):
            bus.publish(failure)
            clock.advance(0)
            assert pin.state is True
            clock.advance(1.1)
            assert pin.state is False


def test_leds_wired_to_3v3_are_driven_inverted(factory: MockFactory, bus: RecordingBus) -> None:
    clock = ManualScheduler()
    config = {"leds": {"playing": 12, "active_high": False}}
    with build_controls(config, None, bus, pin_factory=factory, scheduler=clock) as controls:
        controls.start()
        clock.advance(0)
        assert factory.pin(12).state is True  # off: the pin is high
        bus.publish(player("playing"))
        clock.advance(0)
        assert factory.pin(12).state is False


def test_closing_switches_the_leds_off_and_stops_listening(factory: MockFactory, bus: RecordingBus) -> None:
    controls = build_controls(LEDS, None, bus, pin_factory=factory)
    controls.start()
    bus.publish(player("playing"))
    bus.publish(importing("copying"))
    wait_for(lambda: factory.pin(12).state is True, what="playing LED on")
    controls.close()
    assert factory.pin(12).state is False and factory.pin(16).state is False
    bus.publish(PlayerError("other", "late error"))  # no subscriber left to touch a closed pin
    assert factory.pin(26).state is False
