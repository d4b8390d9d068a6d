"""systemd integration: tell the service manager that the jukebox is ready, alive, and stopping.

The unit (systemd/kiosk.service) is ``Type=notify`` with a ``WatchdogSec``: systemd waits for
``READY=1`` before it counts the jukebox as started, and restarts it when ``WATCHDOG=1`` stops
arriving. The beats come from the Kivy main loop (``Watchdog.beat`` on a ``Clock`` interval),
so a frozen UI is restarted and a healthy one never is. Outside systemd (no ``$NOTIFY_SOCKET``)
every call here is a cheap no-op, so development runs and tests need no special casing.

The protocol is a few datagrams on a unix socket (sd_notify(3)); writing it here saves a
compiled dependency (systemd-python needs libsystemd headers to build).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from types import FrameType

log = logging.getLogger(__name__)

#: How long one notification may block when the service manager's queue is full.
SEND_TIMEOUT_S = 1.0


def _socket_address(raw: str) -> str | None:
    """The notify socket path; ``@name`` is Linux's abstract namespace. Other kinds (vsock) are not used here."""
    if raw.startswith("@"):
        return "\0" + raw[1:]
    if raw.startswith("/"):
        return raw
    log.warning("NOTIFY_SOCKET %r is not a unix socket path; systemd notifications are off", raw)
    return None


def notify(*assignments: str) -> bool:
    """Sends ``KEY=value`` lines to the service manager; False when not under systemd or the send failed.

    A failed send is logged, never raised: the jukebox keeps playing, and if it was a watchdog beat
    systemd will notice on its own.
    """
    raw = os.environ.get("NOTIFY_SOCKET")
    if not raw or not assignments:
        return False
    address = _socket_address(raw)
    if address is None:
        return False
    message = "\n".join(assignments).encode("utf-8")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            # A receiver that stops reading fills its queue; never let that freeze the UI thread for long.
            sock.settimeout(SEND_TIMEOUT_S)
            sock.connect(address)
            sock.sendall(message)
    except OSError as exc:
        log.warning("cannot notify systemd at %s: %s", raw, exc)
        return False
    return True


def notify_ready(status: str | None = None) -> bool:
    """The screen is up and the core is running: systemd may now count the unit as started."""
    lines = ["READY=1", f"MAINPID={os.getpid()}"]
    if status:
        lines.append(f"STATUS={status}")
    return notify(*lines)


def notify_stopping(status: str | None = "Saving the queue and stopping") -> bool:
    """Shutdown has begun: systemd shows 'deactivating' and stops expecting watchdog beats."""
    lines = ["STOPPING=1"]
    if status:
        lines.append(f"STATUS={status}")
    return notify(*lines)


def notify_status(status: str) -> bool:
    """A one-line status that ``systemctl status kiosk`` shows (e.g. 'Importing 12/40 from MUSIC')."""
    return notify(f"STATUS={status}")


def watchdog_interval(environ: dict[str, str] | None = None, pid: int | None = None) -> float | None:
    """The watchdog timeout in seconds systemd gave this process, or None when there is no watchdog.

    Follows sd_watchdog_enabled(3): ``WATCHDOG_USEC`` holds the timeout; when ``WATCHDOG_PID`` is set
    it must name this process (a child that inherited the variables must not feed the watchdog).
    """
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC")
    if not usec:
        return None
    try:
        micros = int(usec)
    except ValueError:
        log.warning("WATCHDOG_USEC=%r is not a number; watchdog off", usec)
        return None
    if micros <= 0:
        return None
    owner = env.get("WATCHDOG_PID")
    if owner:
        try:
            if int(owner) != (os.getpid() if pid is None else pid):
                return None
        except ValueError:
            return None
    return micros / 1_000_000


class Watchdog:
    """Feeds systemd's watchdog from the UI main loop.

    Call ``beat()`` about once a second from the Kivy main thread (``Clock.schedule_interval``).
    It sends ``WATCHDOG=1`` at most every quarter of the timeout, so a one-second beat costs one
    datagram every few seconds. When the main loop freezes, beats stop, and systemd kills and
    restarts the jukebox after ``WatchdogSec``. Without a watchdog (``interval`` None) ``beat()``
    does nothing.
    """

    def __init__(
        self,
        interval: float | None = None,
        *,
        send: Callable[..., bool] = notify,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = watchdog_interval() if interval is None else interval
        self._send = send
        self._clock = clock
        self._last_sent: float | None = None
        self.sent = 0

    @property
    def enabled(self) -> bool:
        return bool(self.interval)

    @property
    def min_gap(self) -> float:
        """Seconds between two beats actually sent: a quarter of the timeout, leaving room for a slow frame."""
        return (self.interval or 0.0) / 4

    def beat(self, *_args: object) -> None:
        """Tells systemd the main loop is alive, when a beat is due (``sent`` counts the beats sent).

        Accepts and ignores Kivy's ``dt`` argument, so ``Clock.schedule_interval(watchdog.beat, 1)`` works.
        Returns None on purpose: Kivy cancels an interval whose callback returns False.
        """
        if not self.enabled:
            return
        now = self._clock()
        if self._last_sent is not None and now - self._last_sent < self.min_gap:
            return
        if self._send("WATCHDOG=1"):
            self._last_sent = now
            self.sent += 1


def install_stop_handler(stop: Callable[[], None], signals: tuple[int, ...] = (signal.SIGTERM,)) -> None:
    """On SIGTERM (systemctl stop, shutdown): tell systemd we are stopping, then call ``stop``.

    ``stop`` runs in the main thread (Python runs signal handlers there, between bytecodes), which is
    the Kivy thread, so it may call ``App.stop()`` directly; the app's ``on_stop`` then saves the queue,
    closes the PCM and unmounts the stick. A second SIGTERM while stopping is ignored; systemd's
    ``TimeoutStopSec`` and its final SIGKILL bound a hung shutdown.
    """
    stopping = False

    def handler(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        if stopping:
            log.info("signal %s during shutdown ignored", signal.Signals(signum).name)
            return
        stopping = True
        log.info("signal %s: stopping", signal.Signals(signum).name)
        notify_stopping()
        stop()

    for signum in signals:
        signal.signal(signum, handler)
