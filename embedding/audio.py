"""The audio front end shared by library embedding and user uploads: decode, guard, segment, resample.

`load_segments` turns a file (or the bytes of an upload) into a few fixed-length mono clips at the encoder's
sample rate. It reads only the spans it needs, so a long track costs the same as a short one, and every
failure is an `AudioError` whose `reason` says which guard rail was hit.

Segment policy (N clips of S seconds over a track of D seconds):
- D >= N*S: N clips centred at (i + 0.5) / N of the track, so intro, middle and outro are all heard.
- S <= D < N*S: k = floor(D / S) clips, centred the same way at (i + 0.5) / k. They never overlap, so each
  clip is independent evidence and no compute is spent on audio already embedded; at most S seconds of the
  track go unheard.
- min_seconds <= D < S: one clip that loops the whole track until it is S seconds long. Looping (LAION-CLAP's
  "repeatpad") keeps every encoder frame on real music; zero-padding would fill up to 80 % of the frames with
  silence, and the mean-pooled vector would then mostly describe silence rather than the track.
- D < min_seconds: rejected (`too_short`).

Truncation policy: a file whose decodable audio ends well before its header says (an MP3 cut mid-download,
an FMA file "far shorter than its listing") is salvaged when what decodes is still >= min_seconds: the clips
are re-planned over the audio that really decodes and the result is marked `truncated=True`, with
`duration_seconds` set to the decodable length. Rejecting such files would drop tracks that still hold
usable music; only when less than min_seconds decodes is it an `AudioError(reason="truncated")`.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile as sf
import soxr

from museed.errors import PipelineError

AudioErrorReason = Literal[
    "missing", "empty", "too_large", "not_audio", "truncated", "too_short", "silent", "non_finite"
]

SILENCE_RMS = 1e-5  # below this RMS (about -100 dBFS) the audio is digital silence, not quiet music
_TRUNCATION_TOLERANCE_SECONDS = 0.5  # header lengths of MP3/OGG are estimates; ignore small shortfalls
_TRUNCATION_TOLERANCE_FRACTION = 0.02
_MAX_PLAUSIBLE_FRAMES = 10**12  # libsndfile reports a huge count when it cannot know the length
_BLOCK_FRAMES = 65_536  # sequential decode block


class AudioError(PipelineError):
    """Audio that cannot be turned into segments; `reason` names the guard rail that rejected it."""

    def __init__(self, reason: AudioErrorReason, message: str) -> None:
        super().__init__(message)
        self.reason: AudioErrorReason = reason

    def __repr__(self) -> str:
        return f"AudioError(reason={self.reason!r}, message={str(self)!r})"


@dataclass(frozen=True)
class AudioLimits:
    """Guard rails applied before and while decoding."""

    max_bytes: int = 200 * 1024 * 1024
    max_read_seconds: float = 600.0  # never decode more than this much of a file
    min_seconds: float = 2.0  # shorter audio is rejected (reason too_short)


@dataclass
class SegmentedAudio:
    """Fixed-length mono clips of one track, ready for an encoder."""

    segments: np.ndarray  # float32 (n_segments, segment_samples), mono, at `sample_rate`
    sample_rate: int
    duration_seconds: float  # duration of the whole file (header where possible; decodable length if truncated)
    seconds_read: float  # audio actually decoded, at the file's own rate
    truncated: bool = False  # the header promised clearly more audio than decodes
    segment_starts: list[float] = field(default_factory=list)  # start of each clip in the track, seconds


@dataclass(frozen=True)
class _Span:
    start: int  # frames at the source rate
    length: int


def load_segments(
    source: Path | str | bytes,
    sample_rate: int = 24000,
    segment_seconds: float = 10.0,
    n_segments: int = 3,
    limits: AudioLimits = AudioLimits(),
) -> SegmentedAudio:
    """Decode `source` (a path or the raw bytes of an upload) into at most `n_segments` mono clips.

    Each clip is `segment_seconds` long at `sample_rate`, chosen and filled as described in the module
    docstring. mp3/ogg/flac/wav go through libsndfile (seeking straight to the clips); anything else goes
    through audioread (ffmpeg when installed), decoded sequentially and never beyond
    `limits.max_read_seconds`. Raises `AudioError` for every kind of bad input, never a library exception.
    """
    if sample_rate <= 0 or segment_seconds <= 0 or n_segments < 1:
        raise ValueError("sample_rate and segment_seconds must be positive and n_segments >= 1")
    if limits.max_read_seconds < segment_seconds:
        raise ValueError("limits.max_read_seconds must be at least one segment long")
    data, path = _check_source(source, limits)
    with _open_decoder(data, path) as decoder:
        return _segment(decoder, sample_rate, segment_seconds, n_segments, limits)


def _check_source(source: Path | str | bytes, limits: AudioLimits) -> tuple[bytes | None, Path | None]:
    """Size guard rails that run before any decoding."""
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        if len(data) == 0:
            raise AudioError("empty", "the uploaded audio is empty (0 bytes)")
        if len(data) > limits.max_bytes:
            raise AudioError("too_large", _too_large_message(len(data), limits.max_bytes))
        return data, None
    path = Path(source)
    if not path.exists():
        raise AudioError("missing", f"no audio file at {path}")
    if not path.is_file():
        raise AudioError("not_audio", f"{path} is not a regular file")
    size = path.stat().st_size
    if size == 0:
        raise AudioError("empty", f"{path} is empty (0 bytes)")
    if size > limits.max_bytes:
        raise AudioError("too_large", f"{path}: " + _too_large_message(size, limits.max_bytes))
    return None, path


def _too_large_message(size: int, max_bytes: int) -> str:
    return f"audio is {size / 2**20:.1f} MiB; at most {max_bytes / 2**20:.1f} MiB is accepted"


class _Decoder:
    """What `_segment` needs from a decoding library."""

    name: str
    samplerate: int
    frames: int | None  # from the header; None when unknown
    seekable: bool

    def read_span(self, span: _Span) -> np.ndarray:
        """Mono float32 frames of one span (shorter than asked when the file ends early)."""
        raise NotImplementedError

    def read_from_start(self, max_frames: int) -> np.ndarray:
        """Mono float32 frames from the beginning, stopping at `max_frames` or the end of the stream."""
        raise NotImplementedError


class _SoundfileDecoder(_Decoder):
    name = "libsndfile"

    def __init__(self, handle: sf.SoundFile) -> None:
        self._f = handle
        self.samplerate = int(handle.samplerate)
        frames = int(handle.frames)
        self.frames = frames if 0 <= frames < _MAX_PLAUSIBLE_FRAMES else None
        self.seekable = bool(handle.seekable()) and self.frames is not None

    def read_span(self, span: _Span) -> np.ndarray:
        try:
            self._f.seek(span.start)
            block = self._f.read(span.length, dtype="float32", always_2d=True)
        except (sf.SoundFileError, RuntimeError, ValueError):
            # seeking past the decodable end of a truncated stream fails; the caller re-reads from the start
            return np.zeros(0, dtype=np.float32)
        return _downmix(block)

    def read_from_start(self, max_frames: int) -> np.ndarray:
        parts: list[np.ndarray] = []
        total = 0
        try:
            self._f.seek(0)
            while total < max_frames:
                block = self._f.read(min(_BLOCK_FRAMES, max_frames - total), dtype="float32", always_2d=True)
                if len(block) == 0:
                    break
                parts.append(_downmix(block))
                total += len(block)
        except (sf.SoundFileError, RuntimeError, ValueError):
            pass  # a corrupt tail ends the stream; what decoded so far is kept
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


class _AudioreadDecoder(_Decoder):
    name = "audioread"
    seekable = False

    def __init__(self, handle: object) -> None:
        self._f = handle
        self.samplerate = int(handle.samplerate)  # type: ignore[attr-defined]
        self._channels = int(handle.channels)  # type: ignore[attr-defined]
        duration = getattr(handle, "duration", None)
        self.frames = round(duration * self.samplerate) if duration and duration > 0 else None

    def read_span(self, span: _Span) -> np.ndarray:
        raise NotImplementedError("audioread streams cannot seek")

    def read_from_start(self, max_frames: int) -> np.ndarray:
        parts: list[np.ndarray] = []
        total = 0
        try:
            for buf in self._f:  # type: ignore[attr-defined]
                pcm = np.frombuffer(buf, dtype="<i2").astype(np.float32) / 32768.0
                block = pcm[: len(pcm) - len(pcm) % self._channels].reshape(-1, self._channels)
                parts.append(_downmix(block[: max_frames - total]))
                total += len(parts[-1])
                if total >= max_frames:
                    break
        except Exception:
            pass
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


@contextlib.contextmanager
def _open_decoder(data: bytes | None, path: Path | None) -> Iterator[_Decoder]:
    """libsndfile first (reads from memory and seeks); audioread/ffmpeg for the formats it cannot open."""
    label = str(path) if path is not None else "the uploaded audio"
    try:
        handle = sf.SoundFile(io.BytesIO(data) if data is not None else str(path))
    except (sf.SoundFileError, RuntimeError, TypeError, ValueError) as error:
        sf_error: Exception = error
    else:
        with handle:
            if handle.samplerate <= 0 or handle.channels <= 0:
                raise AudioError("not_audio", f"{label} has an invalid header (rate {handle.samplerate})")
            yield _SoundfileDecoder(handle)
        return
    # outside the except block, so errors raised by the caller are not chained to libsndfile's
    with _audioread_decoder(data, path, label, sf_error) as decoder:
        yield decoder


@contextlib.contextmanager
def _audioread_decoder(data: bytes | None, path: Path | None, label: str, sf_error: Exception) -> Iterator[_Decoder]:
    import audioread  # imported lazily: only formats libsndfile cannot read get here

    tmp_path: str | None = None
    try:
        if data is not None:
            # audioread backends (ffmpeg) read files, not memory
            fd, tmp_path = tempfile.mkstemp(prefix="museed-upload-")
            with os.fdopen(fd, "wb") as tmp:
                tmp.write(data)
        try:
            handle = audioread.audio_open(tmp_path or str(path))
        except Exception as error:
            backends = ", ".join(b.__name__ for b in audioread.available_backends()) or "none"
            raise AudioError(
                "not_audio",
                f"{label} could not be decoded as audio: libsndfile said '{_short(sf_error)}' and audioread "
                f"(backends: {backends}; m4a/aac need ffmpeg) said '{_short(error)}'",
            ) from None
        with handle:
            if int(handle.samplerate) <= 0 or int(handle.channels) <= 0:
                raise AudioError("not_audio", f"{label} has an invalid header")
            yield _AudioreadDecoder(handle)
    finally:
        if tmp_path is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp_path)


def _short(error: Exception) -> str:
    text = str(error) or type(error).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _segment(
    decoder: _Decoder, sample_rate: int, segment_seconds: float, n_segments: int, limits: AudioLimits
) -> SegmentedAudio:
    sr_in = decoder.samplerate
    seg_frames = max(1, round(segment_seconds * sr_in))
    seg_samples = max(1, round(segment_seconds * sample_rate))
    min_frames = math.ceil(limits.min_seconds * sr_in)
    max_read_frames = max(1, int(limits.max_read_seconds * sr_in))
    header = decoder.frames

    if header is not None:
        if header == 0:
            raise AudioError("empty", "the file holds no audio samples")
        if header < min_frames:
            raise AudioError("too_short", _too_short_message(header / sr_in, limits.min_seconds))

    seconds_read = 0.0
    truncated = False
    duration_frames: int
    if header is not None and decoder.seekable:
        spans = _plan_spans(header, seg_frames, n_segments, max_read_frames)
        clips = [decoder.read_span(span) for span in spans]
        seconds_read += sum(len(c) for c in clips) / sr_in
        if all(len(c) == span.length for c, span in zip(clips, spans, strict=True)):
            return _finish(clips, spans, sr_in, header, seconds_read, False, sample_rate, seg_samples)
        # a span came back short: the header over-promises, so find the real end by decoding from the start
        cap = min(header, max_read_frames)
        audio = decoder.read_from_start(cap)
        seconds_read += len(audio) / sr_in
        duration_frames = len(audio)
        # only an end of stream before the read cap says how much really decodes
        truncated = len(audio) < cap and _is_truncated(len(audio), header, sr_in)
    else:
        # sequential decoders: plan over the readable prefix and stop decoding at the last clip's end
        domain = min(header, max_read_frames) if header is not None else max_read_frames
        spans = _plan_spans(domain, seg_frames, n_segments, max_read_frames)
        needed = max(s.start + s.length for s in spans) if header is not None else max_read_frames
        audio = decoder.read_from_start(needed)
        seconds_read += len(audio) / sr_in
        if header is not None and len(audio) >= needed:
            clips = [audio[s.start : s.start + s.length] for s in spans]
            return _finish(clips, spans, sr_in, header, seconds_read, False, sample_rate, seg_samples)
        duration_frames = len(audio)
        truncated = header is not None and _is_truncated(len(audio), header, sr_in)

    if len(audio) < min_frames:
        if header is not None and truncated:
            raise AudioError(
                "truncated",
                f"the header promises {header / sr_in:.1f} s but only {len(audio) / sr_in:.1f} s decodes; "
                f"at least {limits.min_seconds:.1f} s is needed",
            )
        if len(audio) == 0:
            raise AudioError("empty", "the file holds no decodable audio samples")
        raise AudioError("too_short", _too_short_message(len(audio) / sr_in, limits.min_seconds))
    spans = _plan_spans(len(audio), seg_frames, n_segments, max_read_frames)
    clips = [audio[s.start : s.start + s.length] for s in spans]
    reported = duration_frames if truncated or header is None else header
    return _finish(clips, spans, sr_in, reported, seconds_read, truncated, sample_rate, seg_samples)


def _plan_spans(total_frames: int, seg_frames: int, n_segments: int, max_read_frames: int) -> list[_Span]:
    """Clip positions per the module docstring's segment policy (non-overlapping, evenly spread)."""
    if total_frames < seg_frames:
        return [_Span(0, total_frames)]
    k = min(n_segments, total_frames // seg_frames, max(1, max_read_frames // seg_frames))
    spans = []
    for i in range(k):
        centre = (i + 0.5) / k * total_frames
        start = round(centre - seg_frames / 2)
        spans.append(_Span(min(max(start, 0), total_frames - seg_frames), seg_frames))
    return spans


def _is_truncated(decoded_frames: int, header_frames: int, sr_in: int) -> bool:
    shortfall = header_frames - decoded_frames
    tolerance = max(_TRUNCATION_TOLERANCE_SECONDS * sr_in, _TRUNCATION_TOLERANCE_FRACTION * header_frames)
    return shortfall > tolerance


def _finish(
    clips: list[np.ndarray],
    spans: list[_Span],
    sr_in: int,
    duration_frames: int,
    seconds_read: float,
    truncated: bool,
    sample_rate: int,
    seg_samples: int,
) -> SegmentedAudio:
    """Check, resample and loop-fill the clips into the (n, segment_samples) array."""
    read = np.concatenate(clips)
    if not np.isfinite(read).all():
        raise AudioError("non_finite", "the audio contains NaN or infinite sample values")
    rms = float(np.sqrt(np.mean(np.square(read, dtype=np.float64))))
    if rms < SILENCE_RMS:
        raise AudioError(
            "silent",
            f"the {len(read) / sr_in:.1f} s of audio read are digital silence (RMS {rms:.1e} < {SILENCE_RMS:.0e})",
        )
    segments = np.empty((len(clips), seg_samples), dtype=np.float32)
    for row, clip in enumerate(clips):
        if sr_in != sample_rate:
            clip = soxr.resample(clip, sr_in, sample_rate, quality="HQ")
        # np.resize repeats the clip cyclically: loop-fill for short tracks, and absorbs +-1 sample rounding
        segments[row] = np.resize(clip.astype(np.float32, copy=False), seg_samples)
    return SegmentedAudio(
        segments=segments,
        sample_rate=sample_rate,
        duration_seconds=duration_frames / sr_in,
        seconds_read=seconds_read,
        truncated=truncated,
        segment_starts=[s.start / sr_in for s in spans],
    )


def _too_short_message(seconds: float, min_seconds: float) -> str:
    return f"audio is {seconds:.1f} s long; at least {min_seconds:.1f} s is needed"


def _downmix(block: np.ndarray) -> np.ndarray:
    """(frames, channels) -> mono float32 (frames,)."""
    if block.ndim == 1:
        return block.astype(np.float32, copy=False)
    if block.shape[1] == 1:
        return np.ascontiguousarray(block[:, 0], dtype=np.float32)
    mono: np.ndarray = block.mean(axis=1, dtype=np.float32)
    return mono
