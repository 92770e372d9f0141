"""The audio front end: formats, segment policy, guard rails, bytes == path, the audioread fallback."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from embedding import audio
from embedding.audio import AudioError, AudioLimits, load_segments

SR = 24_000
SEG = SR * 10


def tone(seconds: float, sr: int = 44_100, freq: float = 440.0, channels: int = 1, amp: float = 0.3) -> np.ndarray:
    """A sine tone with a little noise, (frames, channels); channel c is scaled by 1 / (c + 1)."""
    t = np.arange(round(seconds * sr)) / sr
    rng = np.random.default_rng(int(freq))
    mono = amp * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(t.size)
    return np.stack([mono / (c + 1) for c in range(channels)], axis=1).astype(np.float32)


def write(path: Path, data: np.ndarray, sr: int = 44_100, **kwargs: object) -> Path:
    sf.write(str(path), data, sr, **kwargs)
    return path


def dominant_hz(x: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / sr)[int(np.argmax(spectrum))])


@pytest.fixture(scope="module")
def mp3_40s(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write(tmp_path_factory.mktemp("mp3") / "song.mp3", tone(40.0, sr=24_000), sr=24_000, format="MP3")


@pytest.mark.parametrize(("suffix", "kwargs"), [("wav", {}), ("flac", {}), ("ogg", {}), ("mp3", {"format": "MP3"})])
def test_formats_give_three_mono_float32_segments(tmp_path: Path, suffix: str, kwargs: dict) -> None:
    path = write(tmp_path / f"song.{suffix}", tone(35.0, channels=2), **kwargs)
    result = load_segments(path)
    assert result.segments.shape == (3, SEG)
    assert result.segments.dtype == np.float32
    assert result.sample_rate == SR
    assert result.duration_seconds == pytest.approx(35.0, abs=0.1)
    assert result.seconds_read == pytest.approx(30.0, abs=0.1)
    assert not result.truncated
    # clips centred at 1/6, 3/6, 5/6 of the track
    assert result.segment_starts == pytest.approx([35 / 6 - 5, 35 / 2 - 5, 5 * 35 / 6 - 5], abs=0.05)
    # resampled 44.1 kHz -> 24 kHz keeps the pitch
    assert dominant_hz(result.segments[1], SR) == pytest.approx(440.0, abs=2.0)


def test_stereo_is_downmixed_by_averaging_channels(tmp_path: Path) -> None:
    stereo = tone(12.0, sr=SR, channels=2)  # right channel = left / 2
    result = load_segments(write(tmp_path / "s.wav", stereo, sr=SR, subtype="FLOAT"))
    expected = stereo.mean(axis=1)[SR : SR + SEG]  # one clip of a 12 s track starts at 1 s
    assert result.segments.shape == (1, SEG)
    np.testing.assert_allclose(result.segments[0], expected, atol=1e-6)


def test_long_track_reads_only_the_segments(tmp_path: Path) -> None:
    path = write(tmp_path / "long.flac", tone(300.0, sr=16_000), sr=16_000)
    result = load_segments(path)
    assert result.duration_seconds == pytest.approx(300.0)
    assert result.seconds_read == pytest.approx(30.0)
    assert result.segment_starts == pytest.approx([45.0, 145.0, 245.0])


def test_max_read_seconds_caps_the_number_of_segments(tmp_path: Path) -> None:
    path = write(tmp_path / "long.flac", tone(120.0, sr=16_000), sr=16_000)
    result = load_segments(path, limits=AudioLimits(max_read_seconds=20.0))
    assert result.segments.shape == (2, SEG)
    assert result.seconds_read <= 20.0


def test_track_shorter_than_n_segments_gets_fewer_non_overlapping_clips(tmp_path: Path) -> None:
    result = load_segments(write(tmp_path / "a.wav", tone(25.0, sr=SR), sr=SR))
    assert result.segments.shape == (2, SEG)
    assert result.segment_starts == pytest.approx([1.25, 13.75])


def test_track_shorter_than_one_segment_is_looped(tmp_path: Path) -> None:
    clip = tone(4.0, sr=SR)[:, 0]
    result = load_segments(write(tmp_path / "short.wav", clip, sr=SR, subtype="FLOAT"))
    assert result.segments.shape == (1, SEG)
    assert result.duration_seconds == pytest.approx(4.0)
    segment = result.segments[0]
    np.testing.assert_array_equal(segment[: len(clip)], clip)
    np.testing.assert_array_equal(segment[len(clip) : 2 * len(clip)], clip)  # looped, not zero-padded
    np.testing.assert_array_equal(segment[2 * len(clip) :], clip[: SEG - 2 * len(clip)])


def test_too_short(tmp_path: Path) -> None:
    with pytest.raises(AudioError) as info:
        load_segments(write(tmp_path / "blip.wav", tone(1.0, sr=SR), sr=SR))
    assert info.value.reason == "too_short"
    assert "1.0 s" in str(info.value) and "2.0 s" in str(info.value)


def test_empty_file_bytes_and_zero_frames(tmp_path: Path) -> None:
    (tmp_path / "empty.mp3").write_bytes(b"")
    for source in (tmp_path / "empty.mp3", b""):
        with pytest.raises(AudioError) as info:
            load_segments(source)
        assert info.value.reason == "empty"
    no_frames = write(tmp_path / "no_frames.wav", np.zeros((0, 1), np.float32), sr=SR)
    with pytest.raises(AudioError) as info:
        load_segments(no_frames)
    assert info.value.reason == "empty"


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(AudioError) as info:
        load_segments(tmp_path / "nope.mp3")
    assert info.value.reason == "missing"


@pytest.mark.parametrize(
    "content",
    [np.random.default_rng(0).bytes(100_000), b"this is a text file, not audio\n" * 100],
    ids=["random-bytes", "text"],
)
def test_not_audio(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "track.mp3"
    path.write_bytes(content)
    for source in (path, content):
        with pytest.raises(AudioError) as info:
            load_segments(source)
        assert info.value.reason == "not_audio"
        assert "could not be decoded" in str(info.value)


def test_directory_is_not_audio(tmp_path: Path) -> None:
    with pytest.raises(AudioError) as info:
        load_segments(tmp_path)
    assert info.value.reason == "not_audio"


def test_truncated_mp3_is_salvaged_when_enough_decodes(tmp_path: Path, mp3_40s: Path) -> None:
    data = mp3_40s.read_bytes()
    half = tmp_path / "half.mp3"
    half.write_bytes(data[: len(data) // 2])
    assert sf.info(str(half)).duration == pytest.approx(40.0, abs=0.5)  # the header still promises 40 s
    result = load_segments(half)
    assert result.truncated
    assert 15.0 < result.duration_seconds < 25.0
    # clips re-planned over the audio that decodes: floor(decodable / 10 s) of them
    assert result.segments.shape == (int(result.duration_seconds // 10), SEG)
    assert np.abs(result.segments).max() > 0.1
    full = load_segments(mp3_40s)
    assert not full.truncated and full.duration_seconds == pytest.approx(40.0, abs=0.5)


def test_truncated_mp3_with_too_little_audio_is_rejected(tmp_path: Path, mp3_40s: Path) -> None:
    data = mp3_40s.read_bytes()
    stub = tmp_path / "stub.mp3"
    stub.write_bytes(data[: len(data) // 40])  # about 1 s of a 40 s file
    with pytest.raises(AudioError) as info:
        load_segments(stub)
    assert info.value.reason == "truncated"
    assert "promises 40" in str(info.value)


def test_silence(tmp_path: Path) -> None:
    for name, level in (("zeros", 0.0), ("hiss", 1e-7)):
        noise = level * np.random.default_rng(0).standard_normal((SR * 12, 1))
        path = write(tmp_path / f"{name}.wav", noise.astype(np.float32), sr=SR, subtype="FLOAT")
        with pytest.raises(AudioError) as info:
            load_segments(path)
        assert info.value.reason == "silent"


def test_quiet_music_is_not_silence(tmp_path: Path) -> None:
    path = write(tmp_path / "quiet.wav", tone(12.0, sr=SR, amp=1e-3), sr=SR, subtype="FLOAT")
    assert load_segments(path).segments.shape == (1, SEG)


def test_non_finite(tmp_path: Path) -> None:
    data = tone(12.0, sr=SR)
    data[SR * 5, 0] = np.nan
    with pytest.raises(AudioError) as info:
        load_segments(write(tmp_path / "nan.wav", data, sr=SR, subtype="FLOAT"))
    assert info.value.reason == "non_finite"


def test_too_large_is_checked_before_decoding(tmp_path: Path) -> None:
    path = write(tmp_path / "song.wav", tone(12.0, sr=SR), sr=SR)
    limits = AudioLimits(max_bytes=1000)
    for source in (path, path.read_bytes()):
        with pytest.raises(AudioError) as info:
            load_segments(source, limits=limits)
        assert info.value.reason == "too_large"
        assert "MiB" in str(info.value)


@pytest.mark.parametrize("suffix", ["wav", "mp3"])
def test_bytes_input_equals_path_input(tmp_path: Path, suffix: str, mp3_40s: Path) -> None:
    path = mp3_40s if suffix == "mp3" else write(tmp_path / "song.wav", tone(33.0, channels=2))
    from_path = load_segments(path)
    from_bytes = load_segments(path.read_bytes())
    np.testing.assert_array_equal(from_path.segments, from_bytes.segments)
    assert from_path.duration_seconds == from_bytes.duration_seconds


def refuse_libsndfile(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make libsndfile refuse everything, as it does for m4a, so the audioread path runs (call after writing)."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise sf.SoundFileRuntimeError("Format not recognised.")

    monkeypatch.setattr(audio.sf, "SoundFile", refuse)


def test_audioread_fallback_decodes_what_libsndfile_cannot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # audioread's stdlib backend reads 16-bit WAV here; with ffmpeg installed the same path reads m4a
    data = tone(35.0, sr=SR, channels=2)
    path = write(tmp_path / "song.wav", data, sr=SR, subtype="PCM_16")
    refuse_libsndfile(monkeypatch)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where uploads are spooled for audioread
    for source in (path, path.read_bytes()):
        result = load_segments(source)
        assert result.segments.shape == (3, SEG)
        assert result.duration_seconds == pytest.approx(35.0)
        assert result.seconds_read == pytest.approx(5 * 35 / 6 + 5, abs=0.1)  # stops at the last clip's end
        start = round(35 / 6 * SR) - SEG // 2
        np.testing.assert_allclose(result.segments[0], data.mean(axis=1)[start : start + SEG], atol=2e-4)
    assert list(scratch.iterdir()) == []  # the spooled upload is deleted


def test_audioread_fallback_respects_max_read_seconds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "long.wav", tone(60.0, sr=SR), sr=SR, subtype="PCM_16")
    refuse_libsndfile(monkeypatch)
    result = load_segments(path, limits=AudioLimits(max_read_seconds=25.0))
    assert result.seconds_read <= 25.0
    assert result.segments.shape == (2, SEG)
    assert result.duration_seconds == pytest.approx(60.0)


def test_audioread_fallback_reports_not_audio(monkeypatch: pytest.MonkeyPatch) -> None:
    refuse_libsndfile(monkeypatch)
    with pytest.raises(AudioError) as info:
        load_segments(b"definitely not audio" * 50)
    assert info.value.reason == "not_audio"
    assert "audioread" in str(info.value)


def test_max_read_shorter_than_a_segment_is_a_caller_error(tmp_path: Path) -> None:
    path = write(tmp_path / "song.wav", tone(12.0, sr=SR), sr=SR)
    with pytest.raises(ValueError, match="max_read_seconds"):
        load_segments(path, limits=AudioLimits(max_read_seconds=5.0))
