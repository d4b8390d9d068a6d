"""Decoding with PyAV (FFmpeg): every format a stranger's stick carries, sample-accurate.

FFmpeg reads, decodes and converts inside its own filter graph and hands over blocks of about
0.74 s, so Python does no work per packet; a damaged file is decoded packet by packet from the
point where that stopped, skipping what cannot be decoded.

Two FFmpeg habits are corrected here. MP4/M4A files (AAC) decode with the encoder's padding at the
end; the stream's duration holds the exact length, so the audio is cut there (otherwise two tracks
of a live album would have a gap between them). After a seek FFmpeg starts at a packet boundary
before the target; samples are dropped up to the target, counted from the stream's start time
(MP3's encoder delay), so the first sample heard is the one asked for.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Generator, Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error
import numpy as np
from av.filter import Graph

from kiosk.core.ports.audio import DecodeError, MissingFileError, PcmFormat

log = logging.getLogger(__name__)

#: Containers whose audio stream duration is exact (sample table and edit list), so trimming is safe.
_EXACT_DURATION_CONTAINERS = ("mov", "mp4", "m4a")
#: Packets in a row that may fail to decode before the file is given up as broken.
MAX_BAD_PACKETS = 8

#: Samples per chunk when PyAV converts the sample format (MP3, AAC, Vorbis...): one pull, one chunk and
#: one write per ~0.19 s at 44.1 kHz instead of one per codec frame; decoding them takes well under a ms.
BLOCK_SAMPLES = 8192
#: Samples per block from FFmpeg's graph once the first block is out (``_decode_in_graph``). Each block
#: costs a pull, a frame object, a FIFO copy and the arithmetic placing it; at 32768 (0.74 s) that is
#: about 8% less CPU per second of MP3 or AAC than at 8192. The first sound never waits for such a block
#: (the first block is ``BLOCK_SAMPLES``), and one takes about 0.4 ms to decode on a desktop core, a few
#: ms on a Pi: far less than the device's buffer, and it delays a command only when it lands mid-decode.
GRAPH_BLOCK_SAMPLES = 32768

#: How far before a seek target decoding starts, so the codec has warmed up by the target.
SEEK_PREROLL_MS = 200

_LAYOUTS = {1: "mono", 2: "stereo"}


def _local(path: str | Path) -> str:
    """The file's absolute path: FFmpeg reads a relative name such as ``concat:x.mp3`` or
    ``subfile,...`` as a protocol, and a stranger's file names must never choose one."""
    return os.path.abspath(path)


class PyAVDecoder:
    """One audio file decoded, trimmed and resampled to the output's format by PyAV."""

    def __init__(self, path: str, output: PcmFormat, start_ms: int = 0) -> None:
        self._output = output
        self._path = _local(path)
        try:
            self._container = av.open(self._path, metadata_errors="ignore")
        except FileNotFoundError:
            raise MissingFileError(f"The file {Path(path).name} is missing.") from None
        except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
            log.info("cannot open %s: %s", path, exc)
            raise DecodeError(f"{Path(path).name} cannot be played: {_reason(exc)}.") from None
        try:
            if not self._container.streams.audio:
                raise DecodeError(f"{Path(path).name} holds no audio.")
            self._stream = stream = self._container.streams.audio[0]
            self._name = Path(path).name
            rate = stream.codec_context.sample_rate or stream.sample_rate
            if not rate or stream.time_base is None:
                raise DecodeError(f"{self._name} cannot be played: its sample rate is unknown.")
            self._source_rate: int = rate
            self._time_base: Fraction = stream.time_base
            self._start_pts = stream.start_time or 0
            self._duration_ms = self._find_duration_ms()
            self._end_sample: int | None = None
            if stream.duration and self._container.format.name.split(",")[0] in _EXACT_DURATION_CONTAINERS:
                self._end_sample = round(stream.duration * self._time_base * rate)
            self._start_sample = start_ms * rate // 1000
            self._next_sample = self._start_sample  # the first sample not yet handed out
            # Mono is copied to both sides at full level (FFmpeg's upmix would lower it by 3 dB).
            self._duplicate_mono = stream.codec_context.channels == 1 and output.channels == 2
            channels = 1 if self._duplicate_mono else output.channels
            self._layout = _LAYOUTS.get(channels, f"{channels}c")
            native = stream.codec_context.format
            # Decoded samples already as the device takes them (16-bit FLAC, WAV): nothing to convert.
            self._native = (
                native is not None and native.name == output.sample_format and stream.codec_context.channels == channels
            )
        except DecodeError:
            self._container.close()
            raise
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            self._container.close()
            log.info("cannot decode %s: %s", path, exc)
            raise DecodeError(f"{Path(path).name} cannot be played: {_reason(exc)}.") from None

    def _find_duration_ms(self) -> int:
        stream = self._stream
        if stream.duration and stream.time_base is not None:
            return int(stream.duration * stream.time_base * 1000)
        if self._container.duration:
            return int(self._container.duration // 1000)  # AV_TIME_BASE is microseconds
        return 0

    @property
    def duration_ms(self) -> int:
        return self._duration_ms

    @property
    def source_rate(self) -> int:
        return self._source_rate

    def chunks(self) -> Iterator[bytes | memoryview]:
        try:
            yield from self._decode()
        except DecodeError:
            raise
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            log.info("decoding %s failed: %s", self._name, exc)
            raise DecodeError(f"{self._name} broke off: {_reason(exc)}.") from None

    def _decode(self) -> Iterator[bytes | memoryview]:
        """Where samples need converting at the file's own rate (MP3, AAC, Vorbis: float to integers),
        FFmpeg decodes inside its filter graph (see ``_decode_in_graph``), after a first block decoded
        packet by packet from the container already open, so the first sound does not wait for the
        graph to open the file again. A decode error in the graph goes on packet by packet from the
        first sample not yet handed out, skipping damaged packets."""
        if self._source_rate != self._output.rate or self._native:
            # Without a conversion packets cost less than the graph's copying into blocks (FLAC frames
            # are large); a rate change is resampled packet by packet.
            yield from self._decode_packets(self._next_sample)
            return
        # The hand-over is placed by timestamps: only where they count single samples (not WMA's ms).
        exact_pts = self._time_base <= Fraction(1, self._source_rate)
        if exact_pts and (yield from self._decode_packets(self._next_sample, stop_after=BLOCK_SAMPLES)):
            return  # a track shorter than a block
        try:
            yield from self._decode_in_graph()
            return
        except av.error.FFmpegError as exc:
            log.info("%s: %s at sample %d; going on packet by packet", self._name, _reason(exc), self._next_sample)
        yield from self._decode_packets(self._next_sample)

    def _decode_in_graph(self) -> Iterator[bytes | memoryview]:
        """FFmpeg's ``amovie`` source reads, decodes and converts the file in C, in blocks of
        ``GRAPH_BLOCK_SAMPLES``: no Python object per packet or codec frame, which is most of what playing
        MP3 or AAC costs in Python. Blocks are placed by their timestamps (the stream's start time,
        MP3's encoder delay, taken off) and trimmed to the start sample and the exact length.

        ``amovie`` gives up at the first damaged packet (an FFmpegError here); ``_decode`` then goes on
        packet by packet from ``_next_sample``.
        """
        rate, graph = self._source_rate, Graph()
        skip_until = self._next_sample
        options = {"filename": self._path, "si": str(self._stream.index), "dec_threads": "1"}
        # Start a little early: AAC and MP3 frames need their predecessor to decode right.
        seek_sample = skip_until - SEEK_PREROLL_MS * rate // 1000
        if seek_sample > 0:
            options["seek_point"] = f"{seek_sample / rate:.6f}"
        sink = _converted_sink(
            graph, graph.add("amovie", **options), self._output.sample_format, self._layout, rate, GRAPH_BLOCK_SAMPLES
        )
        start_offset = round(self._start_pts * self._time_base * rate)
        end_sample = self._end_sample if self._end_sample is not None else 1 << 62
        frame_size = self._output.frame_bytes
        while True:
            try:
                block = _audio(sink.pull())
            except EOFError:
                return
            count = block.samples
            if block.pts is None or block.time_base is None:
                first = self._next_sample
            else:
                first = round(block.pts * block.time_base * rate) - start_offset
            data = self._frame_bytes(block)
            if first < skip_until or first + count > end_sample:
                if first >= end_sample:
                    return
                keep_from, keep_to = max(0, skip_until - first), min(count, end_sample - first)
                if keep_to <= keep_from:
                    continue
                data = memoryview(data)[keep_from * frame_size : keep_to * frame_size]
            self._next_sample = first + count
            yield data

    def _decode_packets(
        self, from_sample: int, stop_after: int | None = None
    ) -> Generator[bytes | memoryview, None, bool]:
        """Every decoded frame from ``from_sample`` through a converter; the trims happen only in the
        frames they touch. With ``stop_after``, stops once that many samples are decoded (the converter
        flushed, ``_next_sample`` where to go on). Returns whether the track is at its end.

        This loop runs once per codec frame (about 40 times a second of MP3 or AAC), so it keeps to
        locals and integer arithmetic: no Fractions, no attribute look-ups, no calls for frames kept whole.
        """
        rate = self._source_rate
        converter = _Converter(self._output.sample_format, self._layout, self._output.rate)
        stop_at = from_sample + stop_after if stop_after is not None else 1 << 62
        if from_sample > 0:
            # Start decoding a little early: AAC and MP3 frames need their predecessor to decode right.
            seek_sample = max(0, from_sample - SEEK_PREROLL_MS * rate // 1000)
            target = self._start_pts + int(Fraction(seek_sample, rate) / self._time_base)
            self._container.seek(target, stream=self._stream, backward=True, any_frame=False)
        next_sample = 0
        bad_packets = 0
        # pts -> sample number in integers (Fraction arithmetic per frame costs more than decoding FLAC)
        scale_num = self._time_base.numerator * rate * 2
        scale_den = self._time_base.denominator
        twice_den = 2 * scale_den
        start_pts = self._start_pts
        skip_until = from_sample
        end_sample = self._end_sample if self._end_sample is not None else 1 << 62
        resample, frame_bytes = converter.resample, self._frame_bytes
        for packet in self._container.demux(self._stream):
            try:
                frames = packet.decode()
            except av.error.FFmpegError as exc:  # damaged data: InvalidDataError mostly, some decoders EPERM
                bad_packets += 1
                if bad_packets > MAX_BAD_PACKETS:
                    log.info("%s: too many bad packets, last: %s", self._name, exc)
                    raise DecodeError(f"{self._name} is damaged and cannot be played further.") from None
                log.debug("%s: skipped a bad packet: %s", self._name, exc)
                continue
            bad_packets = 0
            for frame in frames:
                pts = frame.pts
                first = next_sample if pts is None else ((pts - start_pts) * scale_num + scale_den) // twice_den
                count = frame.samples
                next_sample = first + count
                if first < skip_until or next_sample > end_sample:
                    if first >= end_sample:
                        yield from self._flush(converter)
                        return True
                    keep_from, keep_to = max(0, skip_until - first), min(count, end_sample - first)
                    if keep_to <= keep_from:
                        continue
                    frame = _slice_frame(frame, keep_from, keep_to)
                for out in resample(frame):
                    yield frame_bytes(out)
                if next_sample >= stop_at:
                    yield from self._flush(converter)
                    self._next_sample = next_sample
                    return False
        yield from self._flush(converter)
        return True

    def _flush(self, converter: _Converter) -> Iterator[bytes | memoryview]:
        for out in converter.resample(None):
            yield self._frame_bytes(out)

    def _frame_bytes(self, frame: av.AudioFrame) -> bytes | memoryview:
        """The frame's samples without a copy (the view keeps the frame's buffer alive)."""
        if self._duplicate_mono:
            size = frame.samples * self._output.frame_bytes // 2
            view = memoryview(frame.planes[0]).cast("B")[:size]
            dtype = np.dtype({"s16": "<i2", "s32": "<i4", "flt": "<f4"}[self._output.sample_format])
            return np.repeat(np.frombuffer(view, dtype=dtype), 2).tobytes()
        size = frame.samples * self._output.frame_bytes
        return memoryview(frame.planes[0]).cast("B")[:size]

    def close(self) -> None:
        self._container.close()


def _reason(exc: BaseException) -> str:
    """FFmpeg's reason without the file's full path (``strerror`` of its errors)."""
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(reason).rstrip(".")


class _Converter:
    """PyAV's ``AudioResampler`` (the same filter graph, the same samples), in blocks and without its pull loop.

    ``AudioResampler.resample`` pulls until the graph answers EAGAIN, which PyAV raises as an exception,
    and hands out one frame per codec frame (1152 samples of MP3, 1024 of AAC): a Python object, a pull
    and a write per 25 ms of audio. At an unchanged rate the graph's sink is asked for blocks of
    ``BLOCK_SAMPLES`` instead, and pulled only once that many samples went in, so a format conversion
    costs one push per codec frame and one pull per block, never an exception. A rate change pulls until
    EAGAIN. The flush drains what the graph still holds.
    """

    def __init__(self, sample_format: str, layout: str, rate: int) -> None:
        self._format, self._layout, self._rate = sample_format, layout, rate
        self._graph: Graph | None = None
        self._source: Any = None
        self._sink: Any = None
        self._passthrough = False
        self._blocks = False
        self._held = 0  # samples pushed and not yet pulled (block mode)

    def resample(self, frame: av.AudioFrame | None) -> Sequence[av.AudioFrame]:
        if frame is None:
            return self._drain(flush=True) if self._graph is not None else ()
        if self._passthrough:
            return (frame,)
        if self._graph is None:
            if (frame.format.name, frame.layout.name, frame.sample_rate) == (self._format, self._layout, self._rate):
                self._passthrough = True
                return (frame,)
            self._build(frame)
        self._source.push(frame)
        if not self._blocks:
            return self._drain(flush=False)
        self._held += frame.samples
        if self._held < BLOCK_SAMPLES:
            return ()
        try:
            block = _audio(self._sink.pull())
        except av.error.BlockingIOError:  # not expected at an unchanged rate; the flush gets it
            return ()
        self._held -= block.samples
        return (block,)

    def _build(self, frame: av.AudioFrame) -> None:
        self._graph = graph = Graph()
        extra = {"time_base": str(frame.time_base)} if frame.time_base is not None else {}
        self._source = graph.add(
            "abuffer", sample_rate=str(frame.sample_rate), sample_fmt=frame.format.name,
            channel_layout=frame.layout.name, **extra,
        )
        self._blocks = frame.sample_rate == self._rate
        self._sink = _converted_sink(
            graph, self._source, self._format, self._layout, self._rate, BLOCK_SAMPLES if self._blocks else None
        )

    def _drain(self, flush: bool) -> list[av.AudioFrame]:
        if flush:
            self._source.push(None)
        frames = []
        while True:
            try:
                frames.append(_audio(self._sink.pull()))
            except (EOFError, av.error.BlockingIOError):
                return frames


def _converted_sink(graph: Graph, source: Any, sample_format: str, layout: str, rate: int,
                    block_samples: int | None) -> Any:
    """Completes ``source -> aformat -> abuffersink`` in ``graph`` and configures it; the sink hands out
    the device's format, in blocks of ``block_samples`` when given (only at an unchanged rate)."""
    convert = graph.add("aformat", sample_rates=str(rate), sample_fmts=sample_format, channel_layouts=layout)
    sink = graph.add("abuffersink")
    source.link_to(convert)
    convert.link_to(sink)
    graph.configure()
    if block_samples is not None:
        graph.set_audio_frame_size(block_samples)
    return sink


def _audio(frame: object) -> av.AudioFrame:
    assert isinstance(frame, av.AudioFrame)  # an audio graph gives audio frames
    return frame


def _slice_frame(frame: av.AudioFrame, start: int, stop: int) -> av.AudioFrame:
    """Samples ``start:stop`` of ``frame`` as a new frame (planar or interleaved)."""
    array = frame.to_ndarray()
    if frame.format.is_planar:
        part = array[:, start:stop]
    else:
        channels = frame.layout.nb_channels
        part = array[:, start * channels : stop * channels]
    out = av.AudioFrame.from_ndarray(part.copy(), format=frame.format.name, layout=frame.layout)
    out.sample_rate = frame.sample_rate
    return out


def open_decoder(path: str, output: PcmFormat, start_ms: int = 0) -> PyAVDecoder:
    """The engine's default ``DecoderFactory``."""
    return PyAVDecoder(path, output, start_ms)


#: Suffixes of lossy formats: their float decode gains nothing from more than 16 bits, so they are not probed.
_LOSSY_SUFFIXES = frozenset({".mp3", ".mp2", ".ogg", ".oga", ".opus", ".wma", ".aac"})
#: Decoded sample formats that carry more than 16 bits: FLAC, ALAC, WAV and AIFF at 24 or 32 bits.
_WIDE_FORMATS = frozenset({"s32", "s32p"})


def has_wide_samples(path: str) -> bool:
    """Whether a file holds more than 16 bits per sample, so the device should be asked for 32-bit samples.

    Lossless codecs decode 16-bit sources to s16 and anything wider (24-bit FLAC, ALAC, WAV, AIFF)
    to s32, left-justified, which a 32-bit device plays without losing a bit.
    """
    if Path(path).suffix.lower() in _LOSSY_SUFFIXES:
        return False
    try:
        with av.open(_local(path), metadata_errors="ignore") as container:
            if not container.streams.audio:
                return False
            sample_format = container.streams.audio[0].codec_context.format
            return sample_format is not None and sample_format.name in _WIDE_FORMATS
    except (av.error.FFmpegError, OSError, UnicodeDecodeError):
        return False  # the decoder reports what is wrong with the file when it opens it


def probe(path: str) -> tuple[int, int | None]:
    """Length in ms (0 when unknown) and sample rate of a file, for the ``kiosk play`` command."""
    try:
        with av.open(_local(path), metadata_errors="ignore") as container:
            if not container.streams.audio:
                return 0, None
            stream = container.streams.audio[0]
            rate = stream.codec_context.sample_rate or None
            if stream.duration and stream.time_base is not None:
                return int(stream.duration * stream.time_base * 1000), rate
            return int((container.duration or 0) // 1000), rate
    except (av.error.FFmpegError, OSError):
        return 0, None


def probe_duration_ms(path: str) -> int:
    return probe(path)[0]
