"""DSP features for the weights-free tagger: one clip of up to 30 s at 22.05 kHz per track, described by a
2048/512 STFT (loudness, onsets, tempo and pulse, syncopation, harmonic/percussive split, timbre, register,
noise floor, envelope, key-profile mode). Decoding runs in worker processes (`extract_library_features`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np

from embedding.audio import AudioError, load_segments
from museed.parallel import map_in_processes
from tagging.base import Progress

DSP_SAMPLE_RATE: Final = 22_050
DSP_MAX_SECONDS: Final = 30.0
_N_FFT: Final = 2048
_HOP: Final = 512
#: Krumhansl-Kessler key profiles (probe-tone ratings), C major / C minor
_KK_MAJOR: Final = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_KK_MINOR: Final = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def audio_features(y: np.ndarray, sr: int = DSP_SAMPLE_RATE) -> dict[str, float]:
    """Signal-processing descriptors of one mono clip (loudness, rhythm, harmony, timbre, space)."""
    from scipy.ndimage import median_filter

    y = np.asarray(y, dtype=np.float64)
    if len(y) < _N_FFT:
        y = np.pad(y, (0, _N_FFT - len(y)))
    fps = sr / _HOP
    padded = np.pad(y, (_N_FFT // 2, _N_FFT // 2), mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, _N_FFT)[::_HOP]
    spec = np.abs(np.fft.rfft(frames * np.hanning(_N_FFT), axis=1))
    power = spec**2
    freqs = np.fft.rfftfreq(_N_FFT, 1.0 / sr)
    eps = 1e-12
    n_frames = len(spec)
    duration = len(y) / sr

    # loudness and dynamics
    frame_db = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-10)
    loud_db = 10 * np.log10(np.mean(y**2) + 1e-10)
    loud_p95 = float(np.percentile(frame_db, 95))
    dyn_depth = loud_p95 - float(np.percentile(frame_db, 10))  # dry staccato: deep dips; legato/reverb: shallow

    # onsets: log-compressed spectral flux, adaptive peak picking
    band = (freqs > 30) & (freqs < 11_000)
    log_spec = np.log1p(100.0 * spec[:, band] / (spec[:, band].max() + eps))
    flux = np.r_[0.0, np.maximum(0.0, np.diff(log_spec, axis=0)).sum(axis=1)]
    win = max(3, int(0.25 * fps))
    local_mean = np.convolve(flux, np.ones(2 * win + 1) / (2 * win + 1), mode="same")
    local_max = np.lib.stride_tricks.sliding_window_view(np.pad(flux, 3, mode="edge"), 7).max(axis=1)
    threshold = local_mean + 0.5 * flux.std()
    onsets = np.flatnonzero((flux >= local_max) & (flux > threshold) & (flux > 0))
    onset_rate = len(onsets) / duration
    attack = float(np.median(flux[onsets]) / (flux.mean() + eps)) if len(onsets) else 0.0

    # tempo and pulse clarity: autocorrelation of the flux, log-Gaussian tempo prior around 120 BPM
    centred = flux - flux.mean()
    ac = np.fft.irfft(np.abs(np.fft.rfft(centred, 2 * n_frames)) ** 2)[:n_frames]
    ac = ac / (ac[0] + eps)
    lags = np.arange(max(2, int(60 * fps / 220)), min(n_frames - 1, int(60 * fps / 50)) + 1)
    if len(lags):
        bpm = 60 * fps / lags
        weighted = ac[lags] * np.exp(-0.5 * np.log2(bpm / 120.0) ** 2)
        lag = int(lags[int(np.argmax(weighted))])
        tempo, pulse = float(60 * fps / lag), float(max(ac[lag], 0.0))
    else:
        lag, tempo, pulse = max(1, int(fps / 2)), 120.0, 0.0
    # syncopation: flux on off-beat 16ths relative to beats, after aligning the beat grid to the flux
    period = float(lag)
    phases = np.arange(max(1, int(period)))
    beat_sum = [flux[np.arange(p, n_frames, period).astype(int)].mean() for p in phases]
    phase = int(phases[int(np.argmax(beat_sum))])

    def grid_mean(offset: float) -> float:
        idx = np.round(np.arange(phase + offset, n_frames, period)).astype(int)
        idx = idx[idx < n_frames]
        return float(flux[idx].mean()) if len(idx) else 0.0

    on_beat = grid_mean(0.0)
    syncopation = (grid_mean(period / 4) + grid_mean(3 * period / 4)) / (2 * on_beat + eps)
    offbeat8 = grid_mean(period / 2) / (on_beat + eps)
    # timing looseness: onset distance from the nearest 16th of that grid (humanised vs quantised)
    if len(onsets) >= 4:
        step = period / 4
        pos = ((onsets - phase) / step) % 1.0
        looseness = float(np.mean(np.minimum(pos, 1 - pos)))
    else:
        looseness = 0.0

    # harmonic / percussive split (median filtering across time vs across frequency)
    harmonic = median_filter(spec, size=(17, 1), mode="nearest")
    percussive = median_filter(spec, size=(1, 17), mode="nearest")
    h_energy, p_energy = float((harmonic**2).sum()), float((percussive**2).sum())
    harm_ratio = h_energy / (h_energy + p_energy + eps)

    # timbre and register
    frame_energy = power.sum(axis=1) + eps
    weights = frame_energy / frame_energy.sum()
    centroid = float(np.sum(weights * (power @ freqs) / frame_energy))
    hmask = (freqs >= 80) & (freqs <= 4000)
    h_pow = harmonic[:, hmask] ** 2
    register = float(np.sum(h_pow.sum(axis=0) * np.log2(freqs[hmask])) / (h_pow.sum() + eps))
    hf_ratio = float(power[:, freqs > 5000].sum() / frame_energy.sum())
    fmask = (freqs > 500) & (freqs < 10_000)
    band_pow = power[:, fmask] + eps
    flat_frames = np.exp(np.mean(np.log(band_pow), axis=1)) / np.mean(band_pow, axis=1)
    flatness = float(np.median(flat_frames))
    quiet = frame_db <= np.percentile(frame_db, 20)
    noise_flatness = float(np.median(flat_frames[quiet])) if quiet.any() else flatness
    noise_floor = float(np.percentile(frame_db, 5) - loud_p95)  # a microphone noise floor lifts the quietest frames

    # high band (6-14 kHz): noise cymbals and breath are flat there, square-wave hats and oscillator partials
    # are not; a microphone noise floor keeps the band's quietest frames close to its loudest
    hb = (freqs >= 6000) & (freqs <= 14_000)
    p_hb = percussive[:, hb] ** 2 + eps
    hf_perc_flatness = float(np.median(np.exp(np.mean(np.log(p_hb), axis=1)) / np.mean(p_hb, axis=1)))
    hb_db = 10 * np.log10(power[:, hb].sum(axis=1) + 1e-10)
    hf_floor = float(np.percentile(hb_db, 10) - np.percentile(hb_db, 90))
    bin_db = 10 * np.log10(power[:, (freqs >= 200) & (freqs <= 14_000)] + 1e-10)
    spectral_floor = float(np.median(np.percentile(bin_db, 5, axis=0) - np.percentile(bin_db, 95, axis=0)))

    # spectral stability: cosine between consecutive frames away from onsets (vibrato / jitter lower it)
    smask = (freqs >= 150) & (freqs <= 4000)
    s = spec[:, smask]
    cos = (s[1:] * s[:-1]).sum(axis=1) / (np.linalg.norm(s[1:], axis=1) * np.linalg.norm(s[:-1], axis=1) + eps)
    near_onset = np.zeros(n_frames, dtype=bool)
    for o in onsets:
        near_onset[max(0, o - 2) : o + 3] = True
    steady = ~near_onset[1:] & (frame_db[1:] > loud_p95 - 30)
    stability = float(np.median(cos[steady])) if steady.sum() >= 5 else float(np.median(cos))

    # envelope after onsets: decay slope (dB/s) over 40-400 ms and the level left at 400 ms (tail)
    slopes, tails = [], []
    d0, d1 = max(1, int(0.04 * fps)), max(2, int(0.4 * fps))
    for o in onsets:
        seg = frame_db[o : o + d1 + 1]
        if len(seg) > d1:
            t = np.arange(d0, d1 + 1) / fps
            slopes.append(float(np.polyfit(t, seg[d0:], 1)[0]))
            tails.append(float(seg[-1] - seg[: d0 + 1].max()))
    decay_slope = float(np.median(slopes)) if slopes else 0.0
    tail_db = float(np.median(tails)) if tails else 0.0

    # chroma of the harmonic part (65 Hz - 2.1 kHz), Krumhansl-Schmuckler mode, third above the tonic
    cmask = (freqs >= 65) & (freqs <= 2100)
    pitch_class = np.round(69 + 12 * np.log2(freqs[cmask] / 440.0)).astype(int) % 12
    frame_h = harmonic[:, cmask]
    frame_h = frame_h / (frame_h.sum(axis=1, keepdims=True) + eps)  # every frame counts equally
    chroma = np.bincount(pitch_class, weights=frame_h.sum(axis=0), minlength=12)
    chroma = chroma / (chroma.sum() + eps)
    # the tonic is heard in the bass: key-profile correlation on the bass chroma (40-260 Hz) plus the harmony
    bmask = (freqs >= 40) & (freqs <= 260)
    bass_pc = np.round(69 + 12 * np.log2(freqs[bmask] / 440.0)).astype(int) % 12
    bass = np.bincount(bass_pc, weights=(harmonic[:, bmask] ** 2).sum(axis=0), minlength=12)
    bass = bass / (bass.sum() + eps)
    chroma = 0.5 * (chroma + bass)
    major = np.array([np.corrcoef(chroma, np.roll(_KK_MAJOR, k))[0, 1] for k in range(12)])
    minor = np.array([np.corrcoef(chroma, np.roll(_KK_MINOR, k))[0, 1] for k in range(12)])
    major, minor = np.nan_to_num(major), np.nan_to_num(minor)
    mode_ks = float(major.max() - minor.max())
    tonic = int(np.argmax(np.maximum(major, minor)))
    third = float(chroma[(tonic + 4) % 12] - chroma[(tonic + 3) % 12])
    second = float(chroma[(tonic + 2) % 12] - chroma[(tonic + 1) % 12])  # Phrygian / Hijaz flatten the 2nd

    return {
        "loud_db": float(loud_db),
        "loud_p95": loud_p95,
        "dyn_depth": dyn_depth,
        "onset_rate": float(onset_rate),
        "attack": attack,
        "tempo": tempo,
        "pulse": pulse,
        "syncopation": float(syncopation),
        "offbeat8": float(offbeat8),
        "looseness": looseness,
        "harm_ratio": harm_ratio,
        "centroid": centroid,
        "register": register,
        "hf_ratio": hf_ratio,
        "flatness": flatness,
        "noise_flatness": noise_flatness,
        "noise_floor": noise_floor,
        "stability": stability,
        "hf_perc_flatness": hf_perc_flatness,
        "hf_floor": hf_floor,
        "spectral_floor": spectral_floor,
        "decay_slope": decay_slope,
        "tail_db": tail_db,
        "mode_ks": mode_ks,
        "third": third,
        "second": second,
    }


def track_features(path: str) -> dict[str, float]:
    """Decode up to `DSP_MAX_SECONDS` of a track (centre clip, 22.05 kHz mono) and describe it (raises AudioError)."""
    import soundfile as sf

    try:
        duration = float(sf.info(path).duration)
    except Exception:
        duration = 10.0  # unknown header length: load_segments still applies its own guards
    seconds = min(DSP_MAX_SECONDS, duration) if duration >= 2.0 else 10.0
    seg = load_segments(Path(path), sample_rate=DSP_SAMPLE_RATE, segment_seconds=seconds, n_segments=1)
    return audio_features(seg.segments[0], DSP_SAMPLE_RATE)


def _features_job(item: tuple[int, str | None]) -> tuple[int, dict[str, float] | None, dict[str, Any] | None]:
    tid, path = item
    if path is None:
        return tid, None, {"track_id": tid, "path": None, "stage": "decode", "reason": "missing"}
    try:
        return tid, track_features(path), None
    except AudioError as exc:
        return tid, None, {"track_id": tid, "path": path, "stage": "decode", "reason": exc.reason, "detail": str(exc)}
    except Exception as exc:  # one odd file must not end a library-scale job
        return (
            tid,
            None,
            {"track_id": tid, "path": path, "stage": "features", "reason": type(exc).__name__, "detail": str(exc)},
        )


def extract_library_features(
    tracks: Sequence[tuple[int, str | None]], workers: int = 2, progress: Progress = None
) -> tuple[dict[int, dict[str, float]], list[dict[str, Any]]]:
    """Features of every (track_id, path), decoded in `workers` processes; returns (features, failures)."""
    features: dict[int, dict[str, float]] = {}
    failures: list[dict[str, Any]] = []
    done = 0

    def collect(result: tuple[int, dict[str, float] | None, dict[str, Any] | None]) -> None:
        nonlocal done
        tid, feats, failure = result
        if feats is not None:
            features[tid] = feats
        if failure is not None:
            failures.append(failure)
        done += 1
        if progress:
            progress(done, len(tracks))

    for result in map_in_processes(_features_job, tracks, workers, preload=["tagging.dsp_features"]):
        collect(result)
    return features, failures
