"""The press logic on a fake clock: bounce bursts, ghost spikes, long presses and hold-to-repeat.

Each test feeds raw contact edges at chosen times, with a timer that wakes the logic at every
deadline it asks for (as the controls' thread does), and checks which actions come out.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk.hw.controls_config import ButtonSpec, Timing
from kiosk.hw.debounce import ButtonLogic, Fired

TIMING = Timing(ghost=0.002, debounce=0.020, long_press=0.8, repeat_delay=0.4, repeat_interval=0.15)
PLAIN = ButtonSpec(pin=17, name="Next", short="next")
WITH_LONG = ButtonSpec(pin=24, name="Mode", short="shuffle", long="repeat")
REPEATING = ButtonSpec(pin=16, name="Vol+", short="volume_up", repeat=True)


def run(spec: ButtonSpec, edges: list[tuple[float, bool]], until: float, initially_active: bool = False) -> list[Fired]:
    """Feeds ``edges`` (time, contact closed) and wakes the logic at its deadlines up to ``until``."""
    logic = ButtonLogic(spec, TIMING, initially_active)
    fired: list[Fired] = []

    def wake_until(t: float) -> None:
        while (deadline := logic.next_deadline()) is not None and deadline <= t:
            fired.extend(logic.poll(deadline))

    for when, active in edges:
        wake_until(when)
        fired.extend(logic.edge(active, when))
    wake_until(until)
    fired.extend(logic.poll(until))
    return fired


def kinds(fired: list[Fired]) -> list[tuple[str, str]]:
    return [(f.kind, f.action) for f in fired]


def press(start: float, hold: float) -> list[tuple[float, bool]]:
    return [(start, True), (start + hold, False)]


def test_a_clean_press_acts_once_as_soon_as_the_ghost_window_has_passed() -> None:
    fired = run(PLAIN, press(0.0, 0.1), until=1.0)
    assert kinds(fired) == [("short", "next")]
    assert fired[0].at == TIMING.ghost  # decided after 2 ms of closed contact, not at release


def test_ghost_spikes_shorter_than_the_ghost_window_are_not_presses() -> None:
    spikes = [edge for k in range(20) for edge in press(k * 0.05, 0.0015)]
    assert run(PLAIN, spikes, until=2.0) == []


def test_waking_early_or_twice_changes_nothing() -> None:
    logic = ButtonLogic(PLAIN, TIMING)
    assert logic.edge(True, 0.0) == []
    assert logic.poll(0.001) == []  # before the ghost window ends
    assert kinds(logic.poll(0.0025)) == [("short", "next")]
    assert logic.poll(0.0025) == [] and logic.poll(0.5) == []
    assert logic.edge(True, 0.6) == []  # a repeated report of the same level is no new edge


# A physical press: the contact chatters while closing and while opening. Chatter segments last up
# to 3 ms and every open gap inside a burst is shorter than the 20 ms release debounce.
chatter = st.lists(st.floats(min_value=0.00005, max_value=0.003), min_size=0, max_size=12)


def bouncy_press(start: float, closing: list[float], hold: float, opening: list[float]) -> list[tuple[float, bool]]:
    edges: list[tuple[float, bool]] = []
    t, level = start, True
    for segment in closing:  # closed, open, closed, open ... ending closed
        edges.append((t, level))
        t += segment
        level = not level
    if not level:
        edges.append((t, False))
        t += 0.0005
    edges.append((t, True))
    t += hold
    level = False
    for segment in opening:  # open, closed, open ... ending open
        edges.append((t, level))
        t += segment
        level = not level
    edges.append((t, False))
    # Drop repeated levels (two closures in a row are one closure).
    out = [edges[0]]
    for edge in edges[1:]:
        if edge[1] != out[-1][1]:
            out.append(edge)
    return out


@settings(max_examples=300, deadline=None)
@given(closing=chatter, opening=chatter, hold=st.floats(min_value=0.03, max_value=0.7), presses=st.integers(1, 4))
def test_every_bouncing_press_acts_exactly_once(
    closing: list[float], opening: list[float], hold: float, presses: int
) -> None:
    edges: list[tuple[float, bool]] = []
    for k in range(presses):  # presses 1.5 s apart
        edges += bouncy_press(k * 1.5, closing, hold, opening)
    assert kinds(run(PLAIN, edges, until=presses * 1.5 + 1)) == [("short", "next")] * presses


@settings(max_examples=200, deadline=None)
@given(closing=chatter, opening=chatter, held_long=st.booleans())
def test_a_bouncing_press_on_a_long_press_button_is_short_or_long_never_both(
    closing: list[float], opening: list[float], held_long: bool
) -> None:
    hold = 1.0 if held_long else 0.3  # well clear of the 0.8 s threshold, chatter included
    fired = run(WITH_LONG, bouncy_press(0.0, closing, hold, opening), until=3.0)
    assert kinds(fired) == ([("long", "repeat")] if held_long else [("short", "shuffle")])


def test_long_press_acts_while_still_held_and_the_release_adds_nothing() -> None:
    fired = run(WITH_LONG, press(0.0, 2.0), until=3.0)
    assert kinds(fired) == [("long", "repeat")]
    assert fired[0].at == TIMING.long_press  # at the deadline, not at release


def test_short_press_on_a_long_press_button_acts_at_release() -> None:
    fired = run(WITH_LONG, press(0.0, 0.5), until=2.0)
    assert kinds(fired) == [("short", "shuffle")]
    assert fired[0].at == 0.5 + TIMING.debounce  # once the release has settled


def test_a_bounce_across_the_long_deadline_still_gives_one_long_press() -> None:
    # The contact opens for 5 ms just before the deadline and closes again after it: still held.
    edges = [(0.0, True), (0.797, False), (0.802, True), (1.5, False)]
    assert kinds(run(WITH_LONG, edges, until=3.0)) == [("long", "repeat")]


def test_a_release_just_before_the_long_deadline_is_a_short_press() -> None:
    edges = [(0.0, True), (0.79, False)]  # released 10 ms early; settles after the deadline
    assert kinds(run(WITH_LONG, edges, until=3.0)) == [("short", "shuffle")]


def test_hold_to_repeat_acts_on_press_then_after_the_delay_at_the_interval() -> None:
    fired = run(REPEATING, press(0.0, 1.02), until=3.0)
    # press at 2 ms; repeats at 0.40, 0.55, 0.70, 0.85, 1.00 s; release at 1.02 s stops it.
    assert kinds(fired) == [("short", "volume_up")] + [("repeat", "volume_up")] * 5
    assert [round(f.at, 3) for f in fired[1:]] == [0.4, 0.55, 0.7, 0.85, 1.0]


def test_a_short_tap_on_a_repeat_button_acts_once() -> None:
    assert kinds(run(REPEATING, press(0.0, 0.1), until=2.0)) == [("short", "volume_up")]


def test_a_button_held_when_the_jukebox_starts_does_nothing_until_pressed_again() -> None:
    edges = [(0.5, False), (1.0, True), (1.1, False)]
    assert kinds(run(WITH_LONG, edges, until=2.0, initially_active=True)) == [("short", "shuffle")]


def test_late_wake_ups_give_the_same_answer_as_punctual_ones() -> None:
    """A stalled timer thread: the logic is only woken by the next edge, long after its deadlines."""
    logic = ButtonLogic(WITH_LONG, TIMING)
    fired = logic.edge(True, 0.0)
    fired += logic.edge(False, 0.3)  # no wake-up in between
    fired += logic.edge(True, 5.0)  # the release settled at 0.32 s; this is a new press
    fired += logic.edge(False, 6.0)
    fired += logic.poll(10.0)
    assert kinds(fired) == [("short", "shuffle"), ("long", "repeat")]
    assert [f.at for f in fired] == [0.3 + TIMING.debounce, 5.0 + TIMING.long_press]
