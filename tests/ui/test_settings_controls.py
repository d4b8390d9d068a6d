"""The settings screen's sliders (volume step, ReplayGain pre-amp, brightness) with real touches,
against the real Jukebox and SQLite store: what they show comes from the core, whoever changed it,
and what the core refuses is shown as refused and not kept."""

from __future__ import annotations

from kiosk.core.events import SettingsUpdated


def _open(ui):
    ui.root.go_to("settings")
    ui.settle(0.2)
    return ui.root.settings


def _scroll_to(ui, settings, widget):
    settings.scroll.scroll_to(widget, animate=False)
    ui.frames(3)


def test_the_new_controls_show_what_the_core_holds(make_ui) -> None:
    ui = make_ui(tracks=2, settings={"volume.step": 7, "replaygain.preamp_db": 1.5, "screen.brightness": 60})
    settings = _open(ui)
    shown = {key: (settings.controls[key].value, settings.value_labels[key].text)
             for key in ("volume.step", "replaygain.preamp_db", "screen.brightness")}
    assert shown == {"volume.step": (7, "7 %"), "replaygain.preamp_db": (1.5, "+1.5 dB"),
                     "screen.brightness": (60, "60 %")}
    # The ranges are the core's, not the screen's own.
    assert (settings.controls["volume.step"].min, settings.controls["volume.step"].max) == (1, 25)
    assert (settings.controls["replaygain.preamp_db"].min, settings.controls["replaygain.preamp_db"].max) == (-15, 15)
    assert (settings.controls["screen.brightness"].min, settings.controls["screen.brightness"].max) == (5, 100)


def test_controls_follow_settings_changed_elsewhere(make_ui) -> None:
    ui = make_ui(tracks=2)
    settings = _open(ui)
    published = len(ui.bus.of_type(SettingsUpdated))
    for key, value, text in (("volume.step", 12, "12 %"), ("replaygain.preamp_db", -6.5, "-6.5 dB"),
                             ("screen.brightness", 35, "35 %"), ("replaygain.preamp_db", 0.0, "0.0 dB")):
        # A command from another thread (a remote, a script): the screen learns of it from the event alone.
        ui.from_worker(lambda k=key, v=value: ui.jukebox.set_setting(k, v).result(10))
        assert ui.within_frames(lambda k=key, v=value, t=text: (settings.controls[k].value, settings.value_labels[k]
                                                                .text) == (v, t), frames=8), (key, value)
    assert len(ui.bus.of_type(SettingsUpdated)) == published + 4


def test_dragging_the_preamp_slider_stores_half_decibel_steps(make_ui) -> None:
    ui = make_ui(tracks=2)
    settings = _open(ui)
    slider = settings.controls["replaygain.preamp_db"]
    _scroll_to(ui, settings, slider)
    left = slider.x + slider.padding
    width = slider.width - 2 * slider.padding
    start = slider.to_window(left + width * 0.5, slider.center_y)  # the knob at 0 dB
    end = slider.to_window(left + width * 0.61, slider.center_y)  # about +3.3 dB
    ui.drag(start, end, hold=0.4)  # a still finger first: the scroll view hands the touch to the slider
    value = ui.wait_until(lambda: ui.store.get_setting("replaygain.preamp_db") != 0.0 and
                          ui.store.get_setting("replaygain.preamp_db"), what="a new pre-amp stored")
    assert value * 2 == round(value * 2), f"{value} is not on a 0.5 dB step"
    assert 2.5 <= value <= 4.0
    ui.wait_until(lambda: settings.value_labels["replaygain.preamp_db"].text == f"+{value:.1f} dB",
                  what="the stored value shown")
    assert slider.value == value


def test_plus_and_minus_step_and_the_core_refuses_past_the_range(make_ui) -> None:
    ui = make_ui(tracks=2, settings={"screen.brightness": 6, "replaygain.preamp_db": 14.5, "volume.step": 5})
    settings = _open(ui)
    less, _more = settings.nudge_buttons["screen.brightness"]
    _scroll_to(ui, settings, less)
    ui.tap(less)
    ui.wait_until(lambda: ui.store.get_setting("screen.brightness") == 5, what="one step down")
    ui.wait_until(lambda: settings.value_labels["screen.brightness"].text == "5 %", what="5 % shown")
    # Tried: one more step down, to 4 %, below what the core allows (5..100). Must survive: the stored 5 %,
    # the slider at 5 %, and a visible refusal with the core's reason.
    ui.tap(less)
    ui.wait_until(lambda: "refused" in settings.value_labels["screen.brightness"].text, what="shown as refused")
    assert ui.store.get_setting("screen.brightness") == 5
    assert settings.controls["screen.brightness"].value == 5
    assert settings.value_labels["screen.brightness"].text == "5 % · refused"
    assert ui.root.toast.opacity == 1 and "at least 5" in ui.root.toast.text

    _less, more = settings.nudge_buttons["replaygain.preamp_db"]
    _scroll_to(ui, settings, more)
    ui.tap(more)
    ui.wait_until(lambda: ui.store.get_setting("replaygain.preamp_db") == 15.0, what="+15 dB")
    ui.wait_until(lambda: settings.value_labels["replaygain.preamp_db"].text == "+15.0 dB", what="+15 dB shown")
    ui.tap(more)  # Tried: +15.5 dB. Must survive: +15 dB stored and shown, the refusal said.
    ui.wait_until(lambda: "refused" in settings.value_labels["replaygain.preamp_db"].text, what="refused")
    assert ui.store.get_setting("replaygain.preamp_db") == 15.0
    assert settings.controls["replaygain.preamp_db"].value == 15.0
    assert "at most 15" in ui.root.toast.text
    # The next change from anywhere clears the refusal mark.
    ui.from_worker(lambda: ui.jukebox.set_setting("replaygain.preamp_db", 3.0).result(10))
    ui.wait_until(lambda: settings.value_labels["replaygain.preamp_db"].text == "+3.0 dB", what="mark cleared")

    less, more = settings.nudge_buttons["volume.step"]
    _scroll_to(ui, settings, more)
    ui.tap(more)
    ui.wait_until(lambda: ui.store.get_setting("volume.step") == 6, what="volume step 6")
    # Two quick taps, the second before the core has answered the first: two steps, not one.
    x, y = less.to_window(*less.center)
    for _ in range(2):
        touch = ui.touch_at(x, y)
        touch.touch_down()
        touch.touch_up()
    ui.wait_until(lambda: ui.store.get_setting("volume.step") == 4, what="volume step 4")
    ui.wait_until(lambda: settings.controls["volume.step"].value == 4, what="slider at 4")


def test_screenshots_of_the_settings_screen(make_ui) -> None:
    ui = make_ui(tracks=2, settings={"replaygain.mode": "album", "replaygain.preamp_db": 1.5,
                                     "screen.brightness": 80})
    settings = _open(ui)
    top = ui.screenshot("settings-sound")
    _scroll_to(ui, settings, settings.controls["screen.sleep_after_s"])
    screen = ui.screenshot("settings-screen")
    assert top.stat().st_size > 5000 and screen.stat().st_size > 5000
