"""The PyAV decoder against the ffmpeg command's own decode of real files in every format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kiosk.audio.decoder import PyAVDecoder, has_wide_samples, probe_duration_ms
from kiosk.core.ports.audio import DecodeError, MissingFileError, PcmFormat
from tests.audio.conftest import RATE, MediaMaker, ffmpeg_decode
from tests.media import FORMATS

OUT = PcmFormat(RATE, 2, "s16")
LOSSLESS = ("flac", "wav", "aiff", "alac")


def decode(path: Path, start_ms: int = 0, out: PcmFormat = OUT) -> np.ndarray[Any, Any]:
    decoder = PyAVDecoder(str(path), out, start_ms)
    try:
        data = b"".join(decoder.chunks())
    finally:
        decoder.close()
    return np.frombuffer(data, dtype="<i2").reshape(-1, out.channels)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_format_decodes_like_the_ffmpeg_command(fmt: str, media: MediaMaker) -> None:
    path = media.noise(fmt, seconds=2.0)
    ours, reference = decode(path), ffmpeg_decode(path)
    if fmt == "m4a":
        # The AAC decode carries the encoder's padding; the stream duration says 2 s exactly.
        assert len(reference) > 2 * RATE
        assert len(ours) == 2 * RATE
        reference = reference[: len(ours)]
    assert len(ours) == len(reference)
    if fmt in (*LOSSLESS, "mp3"):
        assert np.array_equal(ours, reference)
    else:  # float decoders: the float-to-16-bit rounding of a few dozen samples differs by one step
        difference = np.abs(ours.astype(int) - reference.astype(int))
        assert difference.max() <= 1
        assert np.count_nonzero(difference) < len(ours) // 1000


@pytest.mark.parametrize("fmt", ["flac", "wav", "alac", "mp3", "ogg", "m4a"])
@pytest.mark.parametrize("start_ms", [500, 1234])
def test_a_seek_lands_on_the_exact_sample(fmt: str, start_ms: int, media: MediaMaker) -> None:
    """Decoding from ``start_ms`` gives the full decode from sample ``start_ms * 44.1`` on: the count
    says where it starts, and the content matches there and nowhere within 500 samples of it."""
    # AAC replaces noise with the decoder's own random noise (PNS), different after every seek: use tones.
    path = media.chirp(fmt) if fmt == "m4a" else media.noise(fmt, seconds=3.0)
    full, part = decode(path), decode(path, start_ms)
    target = start_ms * RATE // 1000
    assert len(part) == len(full) - target
    probe = part[3000:5000, 0].astype(int)
    best = min(range(target - 500, target + 500), key=lambda o: int(np.abs(full[o + 3000 : o + 5000, 0] - probe).sum()))
    assert best == target
    if fmt == "m4a":
        # AAC frames overlap their neighbours: right after a seek the first samples differ slightly.
        assert np.abs(full[target + 2048 :].astype(int) - part[2048:].astype(int)).max() <= 16
    else:
        assert np.array_equal(full[target:], part)


def test_mp3_start_offset_is_taken_into_account(media: MediaMaker) -> None:
    """MP3 streams start at the encoder delay (about 25 ms); a seek counted from zero would be early."""
    import av

    path = media.noise("mp3", seconds=2.0)
    with av.open(str(path)) as container:
        assert (container.streams.audio[0].start_time or 0) > 0
    full, part = decode(path), decode(path, 1000)
    assert np.array_equal(full[RATE:], part)


def test_resampling_to_a_device_rate(media: MediaMaker) -> None:
    path = media.noise("flac", seconds=2.0)
    ours = decode(path, out=PcmFormat(48000))
    reference = ffmpeg_decode(path, rate=48000)
    assert abs(len(ours) - 2 * 48000) <= 1
    n = min(len(ours), len(reference))
    assert np.abs(ours[:n].astype(int) - reference[:n].astype(int)).max() <= 2


@pytest.mark.parametrize("fmt", ["mp3", "m4a", "ogg", "flac"])
@pytest.mark.parametrize("rate", [RATE, 48000])
def test_conversion_gives_exactly_what_pyavs_resampler_gives(fmt: str, rate: int, media: MediaMaker) -> None:
    """The decoder converts in FFmpeg's filter graphs itself (a first block packet by packet, then
    decoded in the graph at the file's rate; packet by packet when resampling): every sample must
    equal what ``av.AudioResampler`` makes of a plain PyAV decode, at the file's rate and resampled."""
    import av

    path = media.noise(fmt, seconds=2.0)
    resampler = av.AudioResampler(format="s16", layout="stereo", rate=rate)
    pieces = []
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            pieces += [bytes(out.planes[0])[: out.samples * 4] for out in resampler.resample(frame)]
    pieces += [bytes(out.planes[0])[: out.samples * 4] for out in resampler.resample(None)]
    reference = np.frombuffer(b"".join(pieces), dtype="<i2").reshape(-1, 2)
    ours = decode(path, out=PcmFormat(rate))
    tail = 0
    if fmt == "m4a":  # the decoder cuts the encoder's padding off at the stream's duration
        assert len(ours) < len(reference)
        reference = reference[: len(ours)]
        # The cut is made before resampling: the resampler's filter then ends differently in its last samples.
        tail = 64 if rate != RATE else 0
    assert len(ours) == len(reference)
    assert np.array_equal(ours[: len(ours) - tail], reference[: len(ours) - tail])


def test_a_missing_file_is_a_missing_file_error(tmp_path: Path) -> None:
    with pytest.raises(MissingFileError, match=r"gone\.flac is missing"):
        PyAVDecoder(str(tmp_path / "gone.flac"), OUT)


def test_a_file_that_is_not_audio_is_a_decode_error(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.mp3"
    bogus.write_bytes(b"this is a shopping list, not an mp3\n" * 50)
    with pytest.raises(DecodeError):
        decoder = PyAVDecoder(str(bogus), OUT)
        b"".join(decoder.chunks())


def test_a_file_cut_short_plays_what_is_there_and_ends(tmp_path: Path, media: MediaMaker) -> None:
    """A half-copied file (stick pulled during a copy): what is there plays, then the track ends
    or reports a DecodeError -- nothing else escapes."""
    whole = media.noise("flac", seconds=2.0).read_bytes()
    cut = tmp_path / "cut.flac"
    cut.write_bytes(whole[: len(whole) // 2])
    decoder = PyAVDecoder(str(cut), OUT)
    got = bytearray()
    try:
        for chunk in decoder.chunks():
            got += chunk
    except DecodeError:
        pass
    decoder.close()
    frames = len(got) // 4
    assert 0.5 * RATE <= frames < 2 * RATE
    reference = ffmpeg_decode(media.noise("flac", seconds=2.0))
    head = np.frombuffer(bytes(got), dtype="<i2").reshape(-1, 2)[: RATE // 2]
    assert np.array_equal(head, reference[: RATE // 2])


def test_probe_duration(media: MediaMaker, tmp_path: Path) -> None:
    assert probe_duration_ms(str(media.noise("flac", seconds=2.0))) == 2000
    assert probe_duration_ms(str(tmp_path / "nothing.flac")) == 0


@pytest.mark.parametrize("fmt", ["flac", "wav", "alac", "aiff"])
def test_a_24_bit_file_decodes_bit_exact_to_32_bit_samples(fmt: str, media: MediaMaker) -> None:
    path = media.noise(fmt, seconds=1.0, seed=5, bits=24)
    assert has_wide_samples(str(path))
    decoder = PyAVDecoder(str(path), PcmFormat(RATE, 2, "s32"))
    try:
        ours = np.frombuffer(b"".join(decoder.chunks()), dtype="<i4").reshape(-1, 2)
    finally:
        decoder.close()
    assert np.array_equal(ours, ffmpeg_decode(path, bits=32))
    assert np.count_nonzero(ours & 0xFF00) > ours.size // 2  # more than 16 bits of it


@pytest.mark.parametrize("fmt", ["flac", "wav", "alac", "aiff", "mp3", "m4a", "ogg"])
def test_16_bit_and_lossy_files_are_not_taken_for_wide_ones(fmt: str, media: MediaMaker, tmp_path: Path) -> None:
    assert not has_wide_samples(str(media.noise(fmt, seconds=0.5)))
    assert not has_wide_samples(str(tmp_path / "gone.flac"))  # the decoder reports a missing file, not this


def _decode_skipping_damage(path: Path) -> np.ndarray[Any, Any]:
    """A plain PyAV decode of every packet that decodes, converted by ``av.AudioResampler``: what
    uninterrupted packet-by-packet decoding of a damaged file gives."""
    import av

    resampler = av.AudioResampler(format="s16", layout="stereo", rate=RATE)
    pieces = []
    with av.open(str(path)) as container:
        for packet in container.demux(audio=0):
            try:
                frames = packet.decode()
            except av.error.FFmpegError:
                continue
            for frame in frames:
                pieces += [bytes(out.planes[0])[: out.samples * 4] for out in resampler.resample(frame)]
    pieces += [bytes(out.planes[0])[: out.samples * 4] for out in resampler.resample(None)]
    return np.frombuffer(b"".join(pieces), dtype="<i2").reshape(-1, 2)


def _damage(clean: Path, folder: Path) -> Path:
    """A copy of ``clean`` with garbage over a stretch in its middle, as a bad copy leaves it."""
    data = bytearray(clean.read_bytes())
    rng = np.random.default_rng(3)
    for offset in range(len(data) // 2, len(data) // 2 + 6000, 500):
        data[offset : offset + 100] = rng.integers(0, 256, 100, dtype=np.uint8).tobytes()
    damaged = folder / f"damaged{clean.suffix}"
    damaged.write_bytes(bytes(data))
    return damaged


@pytest.mark.parametrize("fmt, bits", [("mp3", 16), ("flac", 24)])
def test_a_damaged_stretch_mid_file_is_decoded_past_without_a_seam(
    fmt: str, bits: int, media: MediaMaker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """FFmpeg's in-graph decoder (used where samples are converted: MP3, 24-bit FLAC to 16 bits)
    stops at the damage, and decoding goes on packet by packet from the first sample not yet handed
    out, skipping the damaged packets. The result is what uninterrupted packet-by-packet decoding
    gives, sample for sample: nothing lost, repeated or shifted where the two meet."""
    clean = media.noise(fmt, seconds=4.0, seed=21, bits=bits)
    damaged = _damage(clean, tmp_path)
    with caplog.at_level("INFO", logger="kiosk.audio.decoder"):
        ours = decode(damaged)
    assert any("going on packet by packet" in r.getMessage() for r in caplog.records)
    assert np.array_equal(ours, _decode_skipping_damage(damaged))
    undamaged = decode(clean)
    assert 3 * RATE < len(ours) <= len(undamaged)
    assert np.array_equal(ours[: len(undamaged) // 4], undamaged[: len(undamaged) // 4])


def test_a_damaged_aac_file_plays_past_the_damage(
    media: MediaMaker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Damaged AAC packets make FFmpeg's AAC decoder answer EPERM, not only InvalidDataError: it is
    skipped like any damaged packet and the track plays on to its end. (Past the damage the samples
    are not compared: garbage can switch the AAC decoder's state, differently after a seek.)"""
    clean = media.chirp("m4a", seconds=4.0)
    with caplog.at_level("INFO", logger="kiosk.audio.decoder"):
        ours = decode(_damage(clean, tmp_path))
    assert any("going on packet by packet" in r.getMessage() for r in caplog.records)
    undamaged = decode(clean)
    assert 3.5 * RATE < len(ours) <= len(undamaged)
    assert np.array_equal(ours[: len(undamaged) // 4], undamaged[: len(undamaged) // 4])


@pytest.mark.parametrize("fmt", ["mp3", "flac"])
def test_a_relative_file_name_that_looks_like_an_ffmpeg_protocol_is_read_as_a_file(
    fmt: str, media: MediaMaker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``concat:...`` or ``subfile,...`` from a stranger's stick must name a file, never pick FFmpeg's
    protocol: opened relative to the current folder, it decodes to the same samples as by full path."""
    source = media.noise(fmt, seconds=1.0)
    (tmp_path / f"concat:{source.name}").write_bytes(source.read_bytes())
    monkeypatch.chdir(tmp_path)
    relative = Path(f"concat:{source.name}")
    assert probe_duration_ms(str(relative)) == probe_duration_ms(str(source))
    assert np.array_equal(decode(relative), decode(source))
