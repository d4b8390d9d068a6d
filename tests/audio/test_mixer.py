"""Volume and ReplayGain arithmetic, and the mixer choice on a machine without a sound card."""

from __future__ import annotations

import numpy as np
import pytest

from kiosk.audio.mixer import SoftwareMixer, build_mixer, replaygain_gain, scale_pcm, software_gain


def test_a_configured_mixer_element_that_is_absent_falls_back_to_software_volume() -> None:
    """No sound card exists here (so the ALSA mixer path itself runs only on the Pi): asking for
    'Master' must still give working volume, in software, instead of an error."""
    mixer = build_mixer("Master", 0)
    assert isinstance(mixer, SoftwareMixer) and mixer.hardware is False
    assert mixer.apply(100, False) == 1.0
    assert mixer.apply(50, False) == pytest.approx(0.125)
    assert mixer.apply(80, True) == 0.0
    assert isinstance(build_mixer(None), SoftwareMixer)


def test_the_software_curve_is_monotonic_and_bounded() -> None:
    gains = [software_gain(p) for p in range(-5, 106)]
    assert gains == sorted(gains)
    assert gains[0] == 0.0 and gains[-1] == 1.0


def test_gain_clips_at_full_scale_instead_of_wrapping_around() -> None:
    loud = np.array([30000, -30000, 100, -32768, 32767], dtype="<i2").tobytes()
    doubled = np.frombuffer(scale_pcm(loud, "s16", 2.0), dtype="<i2")
    assert doubled.tolist() == [32767, -32768, 200, -32768, 32767]
    floats = np.array([0.75, -0.75, 0.1], dtype="<f4").tobytes()
    assert np.frombuffer(scale_pcm(floats, "flt", 2.0), dtype="<f4").tolist() == pytest.approx([1.0, -1.0, 0.2])
    wide = np.array([2**30, -(2**31)], dtype="<i4").tobytes()
    assert np.frombuffer(scale_pcm(wide, "s32", 4.0), dtype="<i4").tolist() == [2**31 - 1, -(2**31)]
    assert scale_pcm(loud, "s16", 1.0) is loud  # unity gain leaves the bytes alone (bit-exact playback)


def test_replaygain_modes() -> None:
    tags = {"track_gain": -6.0, "track_peak": 0.5, "album_gain": -9.0, "album_peak": 0.9}
    assert replaygain_gain("off", 6.0, True, **tags) == 1.0
    assert replaygain_gain("track", 0.0, True, **tags) == pytest.approx(10 ** (-6 / 20))
    assert replaygain_gain("album", 0.0, True, **tags) == pytest.approx(10 ** (-9 / 20))
    # album mode without album tags uses the track's
    assert replaygain_gain("album", 0.0, True, track_gain=-3.0, track_peak=None, album_gain=None,
                           album_peak=None) == pytest.approx(10 ** (-3 / 20))
    # untagged tracks are left alone, preamp included
    assert replaygain_gain("track", 6.0, True, track_gain=None, track_peak=None, album_gain=None,
                           album_peak=None) == 1.0
    # +10 dB on a peak of 0.5 would clip: limited to 2.0
    assert replaygain_gain("track", 16.0, True, **tags) == pytest.approx(2.0)
    assert replaygain_gain("track", 16.0, False, **tags) == pytest.approx(10 ** (10 / 20))
