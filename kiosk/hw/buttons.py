"""GPIO buttons, a rotary encoder and status LEDs, wired to the jukebox's commands.

``build_controls(config, jukebox, bus)`` checks the config, claims every pin (all or none), and
returns ``Controls``; ``start()`` lets presses through. gpiozero's callback thread only records an
edge and returns; the controls' own timer thread settles each press (see ``debounce``) and sends the
command, which the jukebox queues and answers with a Future at once, so nothing here ever waits.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kiosk.core.actions import Commands, perform
from kiosk.core.bus import EventBus
from kiosk.core.errors import DeviceError
from kiosk.hw.controls_config import ButtonSpec, ControlsConfig, PressKind, controls_from_config
from kiosk.hw.controls_timer import Scheduler, ThreadScheduler
from kiosk.hw.debounce import ButtonLogic, Fired
from kiosk.hw.leds import StatusLeds

log = logging.getLogger(__name__)


class GpioUnavailableError(DeviceError):
    """This machine has no GPIO that gpiozero can drive (no Pi, or no lgpio)."""


@dataclass(frozen=True, slots=True)
class Press:
    """One decided action of a physical control, as sent to the core and shown by ``buttons test``."""

    pins: tuple[int, ...]
    control: str
    kind: PressKind
    action: str
    #: The controls' clock when the action was decided.
    at: float


PressListener = Callable[[Press], None]


def resolve_pin_factory(pin_factory: Any = None) -> Any:
    """The given factory, else gpiozero's default (lgpio on a Pi); ``GpioUnavailableError`` if none works."""
    if pin_factory is not None:
        return pin_factory
    from gpiozero import Device

    if Device.pin_factory is not None:
        return Device.pin_factory
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            Device.ensure_pin_factory()
        except Exception as exc:
            reasons = "; ".join(str(w.message) for w in caught) or str(exc)
            raise GpioUnavailableError(
                f"no GPIO on this machine, so buttons, knob and LEDs are off ({reasons}). "
                "On a Raspberry Pi install lgpio; elsewhere try `kiosk buttons test --mock`."
            ) from None
    return Device.pin_factory


class _Button:
    """A claimed contact and its press logic; edges arrive on gpiozero's thread, deadlines on ours."""

    def __init__(self, controls: Controls, spec: ButtonSpec, device: Any, control: str) -> None:
        self.controls = controls
        self.spec = spec
        self.device = device
        self.control = control
        self.lock = threading.Lock()
        self.logic: ButtonLogic | None = None

    def start(self) -> None:
        with self.lock:
            self.logic = ButtonLogic(self.spec, self.controls.spec.timing, bool(self.device.is_active))
        self.device.when_activated = self._closed
        self.device.when_deactivated = self._opened

    def stop(self) -> None:
        with self.lock:
            self.logic = None  # a deadline still queued on the timer now finds nothing to do
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # gpiozero warns on None in case it was a typo; here it is meant
            self.device.when_activated = None
            self.device.when_deactivated = None

    def _closed(self) -> None:
        self._edge(True)

    def _opened(self) -> None:
        self._edge(False)

    def _edge(self, active: bool) -> None:
        with self.lock:
            if self.logic is None:
                return
            fired = self.logic.edge(active, self.controls.scheduler.now())
            self._after(fired)

    def wake(self) -> None:
        with self.lock:
            if self.logic is not None:
                self._after(self.logic.poll(self.controls.scheduler.now()))

    def _after(self, fired: list[Fired]) -> None:
        # Under the lock, so one button's actions reach the core in the order they were decided.
        assert self.logic is not None
        for f in fired:
            self.controls._emit(Press((self.spec.pin,), self.control, f.kind, f.action, f.at))
        deadline = self.logic.next_deadline()
        if deadline is not None:
            self.controls.scheduler.call_at(deadline, self.wake)


class Controls:
    """The claimed buttons, encoder and LEDs of one box. ``start()`` to listen, ``close()`` to free the pins."""

    def __init__(
        self,
        spec: ControlsConfig,
        pin_factory: Any,
        *,
        bus: EventBus | None = None,
        scheduler: Scheduler | None = None,
    ) -> None:
        self.spec = spec
        self.pin_factory = pin_factory
        self.bus = bus
        self.scheduler: Scheduler = scheduler or ThreadScheduler()
        self._listeners: list[PressListener] = []
        self._buttons: list[_Button] = []
        self._encoder: Any = None
        self._leds: dict[str, Any] = {}
        self._status_leds: StatusLeds | None = None
        self._devices: list[Any] = []
        self._started = False
        self._closed = False

    # --- life cycle -----------------------------------------------------------------------------

    def claim(self) -> None:
        """Opens every pin, or none: on any failure the pins already opened are closed again."""
        from gpiozero import LED, DigitalInputDevice, RotaryEncoder

        spec, factory = self.spec, self.pin_factory
        try:
            # DigitalInputDevice rather than Button: press, hold and repeat are ours, and Button would
            # start an idle hold thread per pin. Buttons close to ground against the Pi's pull-up.
            for b in spec.buttons:
                device = self._open(b.pin, DigitalInputDevice, b.pin, pull_up=True, pin_factory=factory)
                self._buttons.append(_Button(self, b, device, f"button {b.name!r}"))
            if spec.encoder is not None:
                enc = spec.encoder
                # max_steps=0: count without limit; we only want the clockwise/counter-clockwise events.
                self._encoder = self._open(
                    f"{enc.a}/{enc.b}", RotaryEncoder, enc.a, enc.b, max_steps=0, pin_factory=factory
                )
                if enc.button is not None:
                    device = self._open(
                        enc.button.pin, DigitalInputDevice, enc.button.pin, pull_up=True, pin_factory=factory
                    )
                    self._buttons.append(_Button(self, enc.button, device, "encoder push switch"))
            for led in spec.leds:
                self._leds[led.role] = self._open(
                    led.pin, LED, led.pin, active_high=led.active_high, initial_value=False, pin_factory=factory
                )
        except BaseException:
            self._close_devices()
            raise

    def _open(self, pin: int | str, cls: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            device = cls(*args, **kwargs)
        except Exception as exc:
            raise DeviceError(f"pin {pin}: cannot open it as {cls.__name__}: {type(exc).__name__}: {exc}") from None
        self._devices.append(device)
        return device

    def start(self) -> None:
        """Lets presses through and lights the LEDs from bus events."""
        if self._started or self._closed:
            return
        self._started = True
        self.scheduler.start()
        for button in self._buttons:
            button.start()
        if self._encoder is not None and self.spec.encoder is not None:
            enc = self.spec.encoder
            pins = (enc.a, enc.b)
            self._encoder.when_rotated_clockwise = lambda: self._turn(pins, "clockwise", enc.clockwise)
            self._encoder.when_rotated_counter_clockwise = lambda: self._turn(
                pins, "counterclockwise", enc.counterclockwise
            )
        if self._leds and self.bus is not None:
            self._status_leds = StatusLeds(self._leds, self.scheduler, self.spec.error_hold)
            self._status_leds.attach(self.bus)
        log.info("controls started: %s", ", ".join(f"{p}={w}" for p, w in sorted(self.spec.pins_used().items())))

    def close(self) -> None:
        """Stops listening, switches the LEDs off and frees every pin. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._status_leds is not None:
            self._status_leds.detach()
        for button in self._buttons:
            button.stop()
        if self._encoder is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._encoder.when_rotated_clockwise = None
                self._encoder.when_rotated_counter_clockwise = None
        self.scheduler.close()
        for role, led in self._leds.items():
            try:
                led.off()  # a lit LED must not claim the jukebox still plays once it has stopped
            except Exception:
                log.exception("switching LED %r off failed", role)
        self._close_devices()

    def _close_devices(self) -> None:
        for device in reversed(self._devices):
            try:
                device.close()
            except Exception:
                log.exception("closing %r failed", device)
        self._devices.clear()

    def __enter__(self) -> Controls:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- presses ----------------------------------------------------------------------------------

    def add_listener(self, listener: PressListener) -> None:
        """``listener(press)`` runs for every decided action, in the deciding thread: keep it quick."""
        self._listeners.append(listener)

    @property
    def leds(self) -> StatusLeds | None:
        """What drives the LEDs from bus events, once started with a bus."""
        return self._status_leds

    @property
    def led_devices(self) -> dict[str, Any]:
        """The gpiozero ``LED`` of each configured role."""
        return dict(self._leds)

    def _turn(self, pins: tuple[int, int], kind: PressKind, action: str) -> None:
        # gpiozero's encoder decodes the quadrature itself and tolerates contact wiggle; one event per detent.
        self._emit(Press(pins, "encoder", kind, action, self.scheduler.now()))

    def _emit(self, press: Press) -> None:
        for listener in self._listeners:
            try:
                listener(press)
            except Exception:
                log.exception("press listener %r failed on %s", listener, press)


def command_sender(jukebox: Commands) -> PressListener:
    """A listener that sends each press's action to the jukebox (a Future, never a wait)."""

    def send(press: Press) -> None:
        perform(jukebox, press.action, source=f"{press.control} (pin {'/'.join(map(str, press.pins))}, {press.kind})")

    return send


def build_controls(
    config: Any,
    jukebox: Commands | None,
    bus: EventBus | None,
    pin_factory: Any = None,
    *,
    scheduler: Scheduler | None = None,
) -> Controls:
    """Checks ``config`` ([buttons], [encoder], [leds]), claims the pins and connects them to ``jukebox``.

    Raises ``ControlsConfigError`` (bad config, no pin touched), ``GpioUnavailableError`` (no GPIO
    here) or ``DeviceError`` (a pin would not open; the others are freed again). All are KioskErrors.
    """
    spec = controls_from_config(config)
    factory = resolve_pin_factory(pin_factory) if not spec.is_empty else pin_factory
    controls = Controls(spec, factory, bus=bus, scheduler=scheduler)
    controls.claim()
    if jukebox is not None:
        controls.add_listener(command_sender(jukebox))
    return controls
