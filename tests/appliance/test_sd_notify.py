"""kiosk.service speaks sd_notify over a real unix datagram socket, the way systemd listens for it.

systemd itself does not run as PID 1 here, so each test binds the socket systemd would bind and
reads what arrives. The Kivy test runs a real (offscreen) Kivy main loop in a child process.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pytest

from kiosk import service
from kiosk.service import Watchdog, notify, notify_ready, notify_status, notify_stopping, watchdog_interval

REPO = Path(__file__).resolve().parents[2]


class NotifyListener:
    """The receiving end of $NOTIFY_SOCKET: collects each datagram as a dict of its assignments."""

    def __init__(self, address: str, sock: socket.socket) -> None:
        self.address = address
        self.sock = sock

    def receive(self, timeout: float = 10.0) -> dict[str, str]:
        self.sock.settimeout(timeout)
        data = self.sock.recv(4096).decode()
        return dict(line.split("=", 1) for line in data.splitlines() if line)

    def receive_until(
        self, key: str, timeout: float = 20.0, child: subprocess.Popen[str] | None = None
    ) -> list[tuple[float, dict[str, str]]]:
        """Every message (with its arrival time) up to and including the first that sets ``key``.

        Gives up early when ``child`` (the sender) has exited, reporting its stderr.
        """
        deadline = time.monotonic() + timeout
        got: list[tuple[float, dict[str, str]]] = []
        while time.monotonic() < deadline:
            try:
                message = self.receive(timeout=0.5)
            except TimeoutError as timeout_error:
                if child is not None and child.poll() is not None:
                    _, err = child.communicate()
                    raise AssertionError(
                        f"sender exited {child.returncode} before {key}: {err and err[-3000:]}"
                    ) from timeout_error
                continue
            got.append((time.monotonic(), message))
            if key in message:
                return got
        raise AssertionError(f"no {key} within {timeout} s; got {got}")

    def pending(self) -> list[dict[str, str]]:
        out = []
        self.sock.setblocking(False)
        try:
            while True:
                out.append(dict(line.split("=", 1) for line in self.sock.recv(4096).decode().splitlines() if line))
        except BlockingIOError:
            return out
        finally:
            self.sock.setblocking(True)


@pytest.fixture
def listener(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[NotifyListener]:
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    try:
        yield NotifyListener(str(path), sock)
    finally:
        sock.close()


def test_ready_carries_pid_and_status(listener: NotifyListener) -> None:
    assert notify_ready("Playing from the library") is True
    message = listener.receive()
    assert message == {"READY": "1", "MAINPID": str(os.getpid()), "STATUS": "Playing from the library"}


def test_stopping_and_status(listener: NotifyListener) -> None:
    assert notify_stopping() is True
    assert listener.receive()["STOPPING"] == "1"
    assert notify_status("Importing 3/40 from MUSIC") is True
    assert listener.receive() == {"STATUS": "Importing 3/40 from MUSIC"}


def test_abstract_namespace_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    """systemd may hand out '@name' (abstract socket, no file): the leading @ becomes a NUL byte."""
    name = f"kiosk-test-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert notify("READY=1") is True
        sock.settimeout(10)
        assert sock.recv(100) == b"READY=1"


def test_without_systemd_nothing_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    assert notify_ready() is False
    watchdog = Watchdog()  # no WATCHDOG_USEC in a plain test run either
    assert not watchdog.enabled
    watchdog.beat()
    assert watchdog.sent == 0


def test_dead_socket_is_logged_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A NOTIFY_SOCKET that names nothing (systemd gone, stale env) must not crash the jukebox."""
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "missing.sock"))
    with caplog.at_level(logging.WARNING, logger="kiosk.service"):
        assert notify("WATCHDOG=1") is False
    assert "cannot notify systemd" in caplog.text


def test_unsupported_socket_kind_is_refused(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", "vsock:2:1234")
    with caplog.at_level(logging.WARNING, logger="kiosk.service"):
        assert notify("READY=1") is False
    assert "not a unix socket path" in caplog.text


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WATCHDOG_USEC": "20000000"}, 20.0),
        ({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "4242"}, 20.0),
        ({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "4243"}, None),  # meant for another process
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "me"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval_follows_sd_watchdog_enabled(env: dict[str, str], expected: float | None) -> None:
    assert watchdog_interval(env, pid=4242) == expected


def test_watchdog_beats_at_a_quarter_of_the_timeout(listener: NotifyListener) -> None:
    """A beat() every second for a minute with an 8 s timeout sends one WATCHDOG=1 every 2 s, all received."""
    now = [0.0]
    watchdog = Watchdog(interval=8.0, clock=lambda: now[0])
    sent_at = []
    received = []
    for second in range(60):
        now[0] = float(second)
        before = watchdog.sent
        watchdog.beat(1.0)
        if watchdog.sent > before:
            sent_at.append(second)
        received += listener.pending()
    assert sent_at == list(range(0, 60, 2))
    assert received == [{"WATCHDOG": "1"}] * 30


def test_watchdog_retries_at_once_after_a_failed_send() -> None:
    """A lost beat is not counted as sent, so the next beat() tries again instead of waiting a full gap."""
    results = iter([False, True])
    watchdog = Watchdog(interval=8.0, send=lambda *lines: next(results), clock=lambda: 100.0)
    watchdog.beat()
    assert watchdog.sent == 0
    watchdog.beat()
    assert watchdog.sent == 1


CHILD_SIGTERM = """
import sys, time
from kiosk import service
stopped = []
service.install_stop_handler(lambda: stopped.append(True))
service.notify_ready("child up")
deadline = time.monotonic() + 30
while not stopped and time.monotonic() < deadline:
    time.sleep(0.01)
print("clean shutdown" if stopped else "never stopped", flush=True)
sys.exit(0 if stopped else 3)
"""


def _child_env(listener: NotifyListener, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        NOTIFY_SOCKET=listener.address,
        PYTHONPATH=str(REPO),
        KIVY_NO_ARGS="1",
        KIVY_HOME=str(tmp_path / "kivy-home"),
        KIVY_LOG_MODE="PYTHON",
        KIVY_NO_FILELOG="1",
        SDL_VIDEODRIVER="offscreen",
        **extra,
    )
    return env


def test_sigterm_sends_stopping_then_runs_the_stop_callback(listener: NotifyListener, tmp_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD_SIGTERM], env=_child_env(listener, tmp_path), stdout=subprocess.PIPE, text=True
    )
    try:
        ready = listener.receive_until("READY", child=child)[-1][1]
        assert ready["MAINPID"] == str(child.pid)
        child.send_signal(signal.SIGTERM)
        assert "STOPPING" in listener.receive_until("STOPPING", child=child)[-1][1]
        out, _ = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0
    assert out.strip() == "clean shutdown"


CHILD_KIVY = """
import time
from kivy.app import App
from kivy.clock import Clock
from kivy.uix.label import Label
from kiosk import service

class Beating(App):
    def build(self):
        return Label(text="jukebox")

    def on_start(self):
        self.watchdog = service.Watchdog()
        self.stopped = False
        Clock.schedule_interval(self.watchdog.beat, 0.05)
        service.notify_ready("ui up")
        Clock.schedule_once(self.freeze, 1.0)

    def freeze(self, dt):
        time.sleep(1.5)   # a hung main loop: no frames, so no beats
        Clock.schedule_once(lambda dt: self.stop(), 1.0)

    def on_stop(self):
        if not self.stopped:
            self.stopped = True
            service.notify_stopping()

Beating().run()
"""


def test_kivy_main_loop_feeds_the_watchdog_and_a_frozen_loop_does_not(
    listener: NotifyListener, tmp_path: Path
) -> None:
    """Beats come from Clock on the Kivy thread: they flow while it runs and stop while it is blocked."""
    env = _child_env(listener, tmp_path, WATCHDOG_USEC="400000")  # 0.4 s timeout: a beat at most every 0.1 s
    script = tmp_path / "beating_app.py"  # Kivy looks for the app's .kv beside its source file
    script.write_text(CHILD_KIVY)
    child = subprocess.Popen([sys.executable, str(script)], env=env, stderr=subprocess.PIPE, text=True)
    try:
        messages = listener.receive_until("STOPPING", timeout=60, child=child)
        _, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, err[-2000:]
    assert any("READY" in m for _, m in messages)
    beats = [t for t, m in messages if m == {"WATCHDOG": "1"}]
    assert len(beats) >= 4, messages
    gaps = [b - a for a, b in pairwise(beats)]
    frozen_at = max(range(len(gaps)), key=gaps.__getitem__)
    assert gaps[frozen_at] >= 1.4  # the 1.5 s freeze shows up as silence
    assert len(beats[: frozen_at + 1]) >= 2, "beats before the freeze"
    assert len(beats[frozen_at + 1 :]) >= 1, "beats after the freeze"
    assert service.Watchdog(interval=0.4).min_gap == pytest.approx(0.1)
