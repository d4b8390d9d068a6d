"""Event delivery: core bus throughput, and latency from a worker thread to a bound Kivy handler.

Latency is measured in a real Kivy event loop (offscreen window) with 4 publisher threads at a
combined 1,000 events/s, for the bus + ``KivyEventBridge`` path and, as the floor, a bare
``Clock.schedule_once`` from the same threads; each Kivy clock type runs in its own process
because Kivy reads ``KIVY_CLOCK`` at import.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from kiosk.core.bus import EventBus
from kiosk.core.events import FavoritesUpdated, QueueUpdated


def _bus_throughput(n: int, threads: int) -> float:
    bus = EventBus()
    count = [0]

    def handler(_event: object) -> None:
        count[0] += 1

    bus.subscribe(FavoritesUpdated, handler)
    bus.subscribe(QueueUpdated, handler)  # a second type, so lookup is by type for real
    event = FavoritesUpdated(action="added", track_id=1)
    per = n // threads

    def run() -> None:
        publish = bus.publish
        for _ in range(per):
            publish(event)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return per * threads / (time.perf_counter() - start)


def _plain_call_throughput(n: int) -> float:
    count = [0]

    def handler(_event: object) -> None:
        count[0] += 1

    event = FavoritesUpdated(action="added", track_id=1)
    start = time.perf_counter()
    for _ in range(n):
        handler(event)
    return n / (time.perf_counter() - start)


def _build_event(n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        FavoritesUpdated(action="added", track_id=i)
    return n / (time.perf_counter() - start)


LATENCY_CHILD = r"""
import json, os, sys, threading, time
from kivy.app import App
from kivy.clock import Clock
from kivy.uix.label import Label
from kiosk.core.bus import EventBus
from kiosk.core.events import FavoritesUpdated
from kiosk.ui.bridge import KivyEventBridge

MODE, SECONDS, RATE, THREADS = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), 4
sent = {}
lat = []
bus = EventBus()
bridge = KivyEventBridge(bus)

def got(_b, event):
    lat.append(time.perf_counter() - sent[event.track_id])

def got_direct(ident, _dt):
    lat.append(time.perf_counter() - sent[ident])

bridge.bind(on_favorites_updated=got)

def publisher(t):
    period = THREADS / RATE
    nxt = time.perf_counter()
    for i in range(int(SECONDS * RATE / THREADS)):
        ident = t * 10_000_000 + i
        nxt += period
        delay = nxt - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        sent[ident] = time.perf_counter()
        if MODE == "bridge":
            bus.publish(FavoritesUpdated(action="added", track_id=ident))
        else:
            Clock.schedule_once(lambda dt, ident=ident: got_direct(ident, dt), 0)

class Bench(App):
    def build(self):
        return Label(text="latency")
    def on_start(self):
        threads = [threading.Thread(target=publisher, args=(t,), daemon=True) for t in range(THREADS)]
        for th in threads:
            th.start()
        def finish(_dt):
            if all(not th.is_alive() for th in threads) and len(lat) >= len(sent):
                self.stop()
                return False
        Clock.schedule_interval(finish, 0.1)

Bench().run()
print("RESULT " + json.dumps(lat))
"""


def _latency(mode: str, clock: str, seconds: float = 5.0, rate: int = 1000) -> list[float]:
    env = dict(os.environ)
    env.update(
        KIVY_NO_ARGS="1",
        KIVY_NO_FILELOG="1",
        KIVY_CLOCK=clock,
        SDL_VIDEODRIVER=env.get("SDL_VIDEODRIVER", "offscreen"),
        KIVY_HOME=tempfile.mkdtemp(prefix="kivy-bench-"),
    )
    with tempfile.TemporaryDirectory() as tmp:
        script = os.path.join(tmp, "latency_child.py")  # Kivy's App wants a real source file
        with open(script, "w") as f:
            f.write(LATENCY_CHILD)
        out = subprocess.run(
            [sys.executable, script, mode, str(seconds), str(rate)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"latency run failed: {out.stderr[-2000:]}")
    return [x * 1000 for x in json.loads(line[7:])]


def _pct(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=1000)[int(p * 10) - 1] if len(values) > 10 else max(values)


def main(argv: list[str]) -> int:
    n = 400_000
    print("Core bus throughput (no Kivy), one no-op subscriber")
    print("| path | events/s |")
    print("|---|---:|")
    print(f"| baseline: plain function call, prebuilt event | {_plain_call_throughput(n):,.0f} |")
    print(f"| building a frozen event object | {_build_event(n):,.0f} |")
    print(f"| EventBus.publish, 1 thread | {_bus_throughput(n, 1):,.0f} |")
    print(f"| EventBus.publish, 4 threads | {_bus_throughput(n, 4):,.0f} |")
    print()
    print("Publish on a worker thread -> handler on the Kivy main thread, 4 threads at 1,000 events/s total")
    print("| path | Kivy clock | events | p50 ms | p99 ms | max ms |")
    print("|---|---|---:|---:|---:|---:|")
    for clock in ("default", "interrupt"):
        for mode, label in (("direct", "baseline: bare Clock.schedule_once"), ("bridge", "EventBus + KivyEventBridge")):
            lat = _latency(mode, clock)
            print(
                f"| {label} | {clock} | {len(lat)} | {statistics.median(lat):.2f} | {_pct(lat, 99):.2f} "
                f"| {max(lat):.2f} |",
                flush=True,
            )
    print("\nGoals: bus 100,000+ events/s on one core; p99 latency under one 60 Hz frame (16.7 ms).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
