"""Multi-axis tags for every track (`multi_axis_analysis_results.jsonl`): MuQ-MuLan zero-shot or weights-free DSP.

Two taggers write the same `museed.tags.TrackTags` records; `genre` always comes from the catalog metadata.

**MuLan** (`tag_from_embeddings`, the seed's `analyze_from_embeddings.py`): the stored MuLan-space audio vectors
are scored against text prompts embedded once with the MuQ-MuLan text tower. Each label has several prompts
whose L2-normalised text vectors are averaged and re-normalised (prompt ensembling: one phrasing's quirks do
not decide a label). Scores are cosine similarities. Calibration: each label's scores are z-scored over the
library before the argmax. Raw zero-shot cosines carry a per-label offset (a prompt that is close to *all*
music, e.g. "electronic" for any synthesiser-heavy library, wins for every track), so the raw argmax lets one
label swallow an axis; after z-scoring, a label wins where a track is unusually close to it *relative to the
library*, which balances the labels without fitting anything to ground truth. The margin is best minus
runner-up in those z units; below `MULAN_LOW_CONFIDENCE` (0.25 library standard deviations) the axis is
listed in `low_confidence`.

**DSP** (`tag_from_audio`, tagger "dsp-v1"): when no MuLan weights exist. One clip of up to 30 s at 22.05 kHz
per track; features from a 2048/512 STFT (see `audio_features`); every feature is robust-z-scored over the
library (median / IQR), and the ones that depend on the genre's idiom (tempo, brightness, register) within the
catalog genre. Decisions use only those unsupervised statistics, never the ground truth:
- energy: loudness (mean and 95th-percentile frame level) and onset density, split at the library terciles;
- valence: mode (Krumhansl-Schmuckler key-profile correlation on a harmonic chroma, major minus minor, plus the
  major-vs-minor third above the estimated tonic), tempo and brightness within genre; positive above the median;
- source: timbre statistics (flatness of the percussive 6-14 kHz band: noise cymbals, breath and bow vs
  square-wave hats and oscillator partials; the noise floor of the quietest frames; harmonic/percussive
  ratio; decay after onsets), electronic above the library median;
- mood_style: articulation, register and space (onset density and sharpness, pulse clarity, syncopation,
  register, reverberant tail / dynamic depth), one score per style, z-scored over the library (the same
  balancing as MuLan's), argmax.
Margins are distances to the decision boundary (energy, valence, source) or best minus runner-up (mood) in
library z units; below `DSP_LOW_CONFIDENCE` an axis is low-confidence.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

import numpy as np

from museed.parallel import map_in_processes
from museed.tags import TAGS_FILE, TrackTags, ground_truth_tags, write_tags
from museed.vocab import AXES, MOOD_STYLES

if TYPE_CHECKING:
    from embedding.store import VectorSet
    from museed.catalog import Catalog

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None] | None

MULAN_TAGGER: Final = "mulan-zeroshot-v1"
DSP_TAGGER: Final = "dsp-v1"
MULAN_LOW_CONFIDENCE: Final = 0.25  # z units: a quarter of the library's spread between best and runner-up
DSP_LOW_CONFIDENCE: Final = 0.25  # z units from the decision boundary
GROUND_TRUTH_FILE: Final = "synth_ground_truth.csv"
REPORT_MD: Final = "tag_report.md"
REPORT_JSON: Final = "tag_report.json"
FAILURES_FILE: Final = "tag_failures.jsonl"


class TaggingError(ValueError):
    """Tagging cannot run: wrong vector space, no tagger available, or nothing to tag."""


# ---------------------------------------------------------------------------------------------------------
# prompts (MuLan)

#: several phrasings per label; their text vectors are averaged (prompt ensembling)
PROMPTS: Final[dict[str, dict[str, tuple[str, ...]]]] = {
    "affect.energy": {
        "high": (
            "a loud, energetic, intense track with dense drums",
            "high energy music, powerful and fast",
            "an upbeat, driving, loud song full of activity",
        ),
        "medium": (
            "a moderately energetic track at a medium level",
            "music with moderate energy, neither calm nor intense",
            "a mid-tempo song with a relaxed groove",
        ),
        "low": (
            "a quiet, calm, low energy track",
            "soft, gentle and sparse music",
            "a slow, peaceful, subdued piece",
        ),
    },
    "affect.valence": {
        "positive": (
            "a happy, cheerful song in a major key",
            "bright, joyful and uplifting music",
            "a positive, optimistic and warm track",
        ),
        "negative": (
            "a sad, dark song in a minor key",
            "gloomy, melancholic and tense music",
            "a negative, sorrowful and brooding track",
        ),
    },
    "instrumentation.source": {
        "acoustic": (
            "acoustic instruments played by musicians: guitar, piano, strings, flute, drums",
            "an acoustic recording of real instruments in a room",
            "unplugged, natural, organic instrumental sound",
        ),
        "electronic": (
            "electronic music made with synthesizers and a drum machine",
            "synthetic sounds, sawtooth synth leads and programmed beats",
            "a track produced on computers with electronic instruments",
        ),
    },
    "mood_style": {
        "dreamy": (
            "dreamy, ethereal music with long reverb and legato pads",
            "a floating, hazy, atmospheric track with slow swells",
            "wide lush chords washing in a reverberant space",
        ),
        "driving": (
            "driving music with a steady straight pulse and strong downbeats",
            "a relentless staccato ostinato pushing forward",
            "a propulsive, insistent groove on every beat",
        ),
        "playful": (
            "playful, bouncy music with syncopated short notes",
            "a light, whimsical tune in a high register with skips",
            "a cheeky, jumpy, fun melody",
        ),
        "somber": (
            "somber music in a low register, sparse and slow",
            "a grave, mournful piece with slow descending lines",
            "dark, heavy and solemn low notes",
        ),
    },
}


def all_prompt_texts() -> list[str]:
    """Every prompt text (the vocabulary of the small offline MuLan's tokenizer is trained on these)."""
    return [p for labels in PROMPTS.values() for prompts in labels.values() for p in prompts]


class TextEncoder(Protocol):
    """What the MuLan tagger needs: texts -> L2-normalised vectors in the audio vectors' space."""

    dim: int

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) L2-normalised text vectors."""
        ...


def label_text_vectors(text_encoder: TextEncoder) -> dict[str, np.ndarray]:
    """Per axis, a (n_labels, dim) matrix of prompt-ensembled, L2-normalised label vectors (one encoder call)."""
    texts = all_prompt_texts()
    vectors = np.asarray(text_encoder.embed_texts(texts), dtype=np.float64)
    if vectors.shape != (len(texts), text_encoder.dim):
        raise TaggingError(f"text encoder returned shape {vectors.shape}, expected ({len(texts)}, {text_encoder.dim})")
    out: dict[str, np.ndarray] = {}
    row = 0
    for axis, vocab in AXES.items():
        rows = []
        for label in vocab:
            n = len(PROMPTS[axis][label])
            mean = vectors[row : row + n].mean(axis=0)
            rows.append(mean / max(float(np.linalg.norm(mean)), 1e-12))
            row += n
        out[axis] = np.stack(rows)
    return out


def calibrate_scores(scores: np.ndarray) -> np.ndarray:
    """Z-score each label's column over the library, so a label with a high raw offset cannot take every track.

    With fewer than 2 tracks there is no library statistic, and the raw scores are returned unchanged.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or len(scores) < 2:
        return scores
    std = scores.std(axis=0)
    return (scores - scores.mean(axis=0)) / np.where(std > 1e-12, std, 1.0)


def _argmax_margin(calibrated: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(-calibrated, axis=1)
    best = order[:, 0]
    rows = np.arange(len(calibrated))
    margin = calibrated[rows, best] - calibrated[rows, order[:, 1]]
    return best, margin


def catalog_genres(catalog: Catalog) -> dict[int, str | None]:
    """Track id -> top-level genre from the catalog metadata (None when FMA leaves genre_top empty)."""
    t = catalog.tracks
    return {int(tid): g if isinstance(g, str) and g else None for tid, g in zip(t.index, t["genre_top"], strict=True)}


def tag_from_embeddings(
    mulan_vectors: VectorSet,
    text_encoder: TextEncoder,
    catalog: Catalog | None,
    *,
    low_confidence: float = MULAN_LOW_CONFIDENCE,
) -> list[TrackTags]:
    """Zero-shot tags of every vector in a MuLan vector set (prompt ensembling, per-label z-score calibration)."""
    manifest = mulan_vectors.manifest
    space = manifest.encoder.get("space") if isinstance(manifest.encoder, dict) else None
    if space != "mulan" and not manifest.encoder_id.startswith(("mulan:", "mulan-")):
        raise TaggingError(
            f"vector set {manifest.vector_set_id} was made by {manifest.encoder_id}, not a MuQ-MuLan audio tower: "
            "text prompts can only be scored against MuLan-space vectors (embed with a mulan encoder)"
        )
    if manifest.dim != text_encoder.dim:
        raise TaggingError(f"audio vectors have dim {manifest.dim} but the text tower gives {text_encoder.dim}")
    if len(mulan_vectors) == 0:
        raise TaggingError("the vector set is empty")
    audio = np.asarray(mulan_vectors.vectors, dtype=np.float64)
    audio = audio / np.maximum(np.linalg.norm(audio, axis=1, keepdims=True), 1e-12)
    labels = label_text_vectors(text_encoder)
    chosen: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for axis, vocab in AXES.items():
        cosine = audio @ labels[axis].T  # (n_tracks, n_labels)
        best, margin = _argmax_margin(calibrate_scores(cosine))
        chosen[axis] = (np.asarray([vocab[i] for i in best]), margin)
    genres = catalog_genres(catalog) if catalog is not None else {}
    return _records(mulan_vectors.track_ids, chosen, genres, MULAN_TAGGER, low_confidence)


def _records(
    track_ids: Sequence[int] | np.ndarray,
    chosen: Mapping[str, tuple[np.ndarray, np.ndarray]],
    genres: Mapping[int, str | None],
    tagger: str,
    low_confidence: float,
) -> list[TrackTags]:
    out = []
    for i, tid in enumerate(track_ids):
        margins = {axis: float(chosen[axis][1][i]) for axis in AXES}
        out.append(
            TrackTags(
                track_id=int(tid),
                tagger=tagger,
                genre=genres.get(int(tid)),
                source=str(chosen["instrumentation.source"][0][i]),
                valence=str(chosen["affect.valence"][0][i]),
                energy=str(chosen["affect.energy"][0][i]),
                mood_style=str(chosen["mood_style"][0][i]),
                margins=margins,
                low_confidence=tuple(a for a in AXES if margins[a] < low_confidence),
            ).validate()
        )
    return out


# ---------------------------------------------------------------------------------------------------------
# DSP features

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

    from embedding.audio import load_segments

    try:
        duration = float(sf.info(path).duration)
    except Exception:
        duration = 10.0  # unknown header length: load_segments still applies its own guards
    seconds = min(DSP_MAX_SECONDS, duration) if duration >= 2.0 else 10.0
    seg = load_segments(Path(path), sample_rate=DSP_SAMPLE_RATE, segment_seconds=seconds, n_segments=1)
    return audio_features(seg.segments[0], DSP_SAMPLE_RATE)


def _features_job(item: tuple[int, str | None]) -> tuple[int, dict[str, float] | None, dict[str, Any] | None]:
    from embedding.audio import AudioError

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

    for result in map_in_processes(_features_job, tracks, workers, preload=["embedding.tagging"]):
        collect(result)
    return features, failures


# ---------------------------------------------------------------------------------------------------------
# DSP decisions: unsupervised library statistics only

_MIN_GENRE_TRACKS: Final = 8  # smaller genres are standardised over the whole library
#: per axis, (feature, sign, scope): sign +1 means "more of it pushes towards the first-named pole";
#: scope "genre" standardises within the catalog genre (idiom-dependent quantities), "library" over everything
ENERGY_FEATURES: Final = (("loud_db", 1.0, "library"), ("loud_p95", 1.0, "library"), ("onset_rate", 0.5, "library"))
VALENCE_FEATURES: Final = (  # towards positive
    ("mode_ks", 1.0, "library"),  # key-profile correlation: major minus minor
    ("second", 0.5, "library"),  # a major 2nd above the tonic; Phrygian / Hijaz flatten it
    ("third", 0.5, "library"),  # a major vs a minor 3rd above the tonic
    ("tempo_folded", 1.0, "genre"),  # faster than the genre's usual tempo
    ("centroid", 0.5, "genre"),  # brighter than the genre's usual timbre
    ("hf_ratio", 0.5, "genre"),
)
SOURCE_FEATURES: Final = (  # towards electronic
    ("hf_perc_flatness", -2.0, "library"),  # cymbals, breath and bow noise are flat in 6-14 kHz; square hats are not
    ("noise_flatness", -0.5, "genre"),  # the quietest frames of a recording hold the microphone's noise floor
    ("harm_ratio", 0.5, "genre"),  # oscillators sustain; struck/plucked notes leave broadband attacks
    ("tail_db", 0.5, "genre"),  # gated envelopes hold their level, natural decays fall
    ("decay_slope", 0.5, "genre"),
)
MOOD_FEATURES: Final[dict[str, tuple[tuple[str, float, str], ...]]] = {
    "dreamy": (
        ("noise_floor", 1.0, "library"),
        ("dyn_depth", -1.0, "library"),
        ("attack", -0.5, "library"),
        ("pulse", -0.5, "library"),
    ),
    "driving": (
        ("pulse", 1.0, "library"),
        ("onset_rate", 0.5, "library"),
        ("attack", 0.5, "library"),
        ("syncopation", -0.5, "library"),
    ),
    "playful": (
        ("centroid", 1.0, "library"),
        ("hf_ratio", 0.5, "library"),
        ("onset_rate", 0.5, "library"),
        ("syncopation", 0.5, "library"),
    ),
    "somber": (
        ("register", -1.0, "library"),
        ("centroid", -0.5, "library"),
        ("onset_rate", -0.5, "library"),
        ("tempo_folded", -0.5, "genre"),
    ),
}


def _robust_z(values: np.ndarray) -> np.ndarray:
    med = np.median(values)
    q75, q25 = np.percentile(values, [75, 25])
    scale = (q75 - q25) / 1.349  # IQR of a normal distribution in standard deviations
    if not scale > 1e-12:
        scale = float(values.std()) or 1.0
    return np.clip((values - med) / scale, -4.0, 4.0)  # one odd file must not dominate a sum


def _fold_tempo(tempo: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """log2 tempo folded into the octave around its genre's median: tempo estimates are octave-ambiguous."""
    log_t = np.log2(np.maximum(tempo, 1.0))
    out = np.empty_like(log_t)
    for g in np.unique(groups):
        m = groups == g
        centre = np.median(log_t[m])
        out[m] = centre + ((log_t[m] - centre + 0.5) % 1.0) - 0.5
    return out


class _Standardiser:
    """Robust z-scores of every feature over the library or within each genre."""

    def __init__(self, table: dict[str, np.ndarray], genres: Sequence[str | None]) -> None:
        names = np.asarray([g or "" for g in genres], dtype=object)
        counts = Counter(names.tolist())
        self.groups = np.asarray([g if counts[g] >= _MIN_GENRE_TRACKS and g else "" for g in names], dtype=object)
        self.table = table
        self.cache: dict[tuple[str, str], np.ndarray] = {}

    def z(self, name: str, scope: str) -> np.ndarray:
        key = (name, scope)
        if key not in self.cache:
            values = self.table[name]
            if scope == "library":
                self.cache[key] = _robust_z(values)
            else:
                out = np.empty_like(values)
                for g in np.unique(self.groups):
                    m = self.groups == g
                    out[m] = _robust_z(values[m]) if m.sum() >= 2 else 0.0
                self.cache[key] = out
        return self.cache[key]

    def score(self, spec: Sequence[tuple[str, float, str]]) -> np.ndarray:
        total = sum(abs(w) for _, w, _ in spec)
        return sum((w * self.z(n, s) for n, w, s in spec), np.zeros(len(self.groups))) / total


def dsp_decisions(
    features: Mapping[int, Mapping[str, float]], genres: Mapping[int, str | None]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per axis, (labels, margins) for the tracks of `features` in their iteration order."""
    ids = list(features)
    if not ids:
        raise TaggingError("no track could be decoded: nothing to tag")
    names = list(next(iter(features.values())))
    table = {n: np.asarray([features[t][n] for t in ids], dtype=np.float64) for n in names}
    table = {n: np.nan_to_num(v, nan=float(np.nanmedian(v)) if np.isfinite(v).any() else 0.0) for n, v in table.items()}
    track_genres = [genres.get(t) for t in ids]
    std = _Standardiser(table, track_genres)
    table["tempo_folded"] = _fold_tempo(table["tempo"], std.groups)

    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    # energy: library terciles of a loudness + density score; margin = distance to the nearest boundary
    energy = std.score(ENERGY_FEATURES)
    q1, q2 = np.quantile(energy, [1 / 3, 2 / 3])
    e_label = np.where(energy >= q2, "high", np.where(energy < q1, "low", "medium"))
    e_margin = np.where(
        e_label == "high", energy - q2, np.where(e_label == "low", q1 - energy, np.minimum(energy - q1, q2 - energy))
    )
    out["affect.energy"] = (e_label, np.abs(e_margin))
    # valence: positive above the library median of a mode + tempo + brightness score
    valence = std.score(VALENCE_FEATURES)
    out["affect.valence"] = (np.where(valence >= 0, "positive", "negative"), np.abs(valence))
    # source: electronic above the library median of the timbre score
    source = std.score(SOURCE_FEATURES)
    out["instrumentation.source"] = (np.where(source >= 0, "electronic", "acoustic"), np.abs(source))
    # mood: one score per style, balanced by z-scoring each over the library, argmax
    raw = np.stack([std.score(MOOD_FEATURES[m]) for m in MOOD_STYLES], axis=1)
    best, margin = _argmax_margin(calibrate_scores(raw))
    out["mood_style"] = (np.asarray([MOOD_STYLES[i] for i in best]), margin)
    return out


def tag_from_features(
    features: Mapping[int, Mapping[str, float]],
    genres: Mapping[int, str | None],
    *,
    low_confidence: float = DSP_LOW_CONFIDENCE,
) -> list[TrackTags]:
    """DSP tags from per-track features (see `audio_features`), decided with library statistics only."""
    chosen = dsp_decisions(features, genres)
    return _records(list(features), chosen, genres, DSP_TAGGER, low_confidence)


def tag_from_audio(
    tracks: Sequence[tuple[int, str | None]],
    catalog: Catalog | None = None,
    *,
    workers: int = 2,
    progress: Progress = None,
) -> tuple[list[TrackTags], list[dict[str, Any]]]:
    """The weights-free tagger: decode and describe every (track_id, audio path), then tag; (tags, failures)."""
    features, failures = extract_library_features(tracks, workers=workers, progress=progress)
    genres = catalog_genres(catalog) if catalog is not None else {}
    ordered = {tid: features[tid] for tid, _ in tracks if tid in features}
    return (tag_from_features(ordered, genres) if ordered else []), failures


# ---------------------------------------------------------------------------------------------------------
# tag quality report (synthetic corpus ground truth)


def tag_quality(tags: Sequence[TrackTags], truth: Mapping[int, TrackTags]) -> dict[str, Any]:
    """Agreement with ground truth per axis (accuracy, chance, confusion), label distribution per genre, and the
    share of low-confidence tags. `truth` is e.g. `museed.tags.ground_truth_tags(synth_ground_truth.csv)`."""
    matched = [t for t in tags if t.track_id in truth]
    axes: dict[str, Any] = {}
    for axis, vocab in AXES.items():
        confusion = {a: dict.fromkeys(vocab, 0) for a in vocab}
        for t in matched:
            confusion[truth[t.track_id].axis(axis)][t.axis(axis)] += 1
        correct = sum(confusion[a][a] for a in vocab)
        true_counts = Counter(truth[t.track_id].axis(axis) for t in matched)
        low = sum(axis in t.low_confidence for t in tags)
        confident = [t for t in matched if axis not in t.low_confidence]
        axes[axis] = {
            "accuracy": correct / len(matched) if matched else None,
            "chance_uniform": 1 / len(vocab),
            "majority_baseline": max(true_counts.values()) / len(matched) if matched else None,
            "accuracy_confident": (
                sum(t.axis(axis) == truth[t.track_id].axis(axis) for t in confident) / len(confident)
                if confident
                else None
            ),
            "low_confidence_share": low / len(tags) if tags else None,
            "predicted": dict(Counter(t.axis(axis) for t in tags)),
            "truth": dict(true_counts),
            "confusion": confusion,  # rows: ground truth, columns: predicted
        }
    per_genre: dict[str, dict[str, dict[str, int]]] = {}
    for t in tags:
        g = per_genre.setdefault(t.genre or "(no genre_top)", {a: {} for a in AXES})
        for axis in AXES:
            g[axis][t.axis(axis)] = g[axis].get(t.axis(axis), 0) + 1
    return {
        "tagger": sorted({t.tagger for t in tags}),
        "tracks_tagged": len(tags),
        "tracks_with_truth": len(matched),
        "any_low_confidence_share": sum(bool(t.low_confidence) for t in tags) / len(tags) if tags else None,
        "axes": axes,
        "per_genre": dict(sorted(per_genre.items(), key=lambda kv: -sum(kv[1]["affect.energy"].values()))),
    }


def write_tag_report(directory: Path, quality: Mapping[str, Any], command: str | None = None) -> list[Path]:
    """Write `tag_report.json` and a readable `tag_report.md` into `directory`; returns both paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    json_path, md_path = directory / REPORT_JSON, directory / REPORT_MD
    json_path.write_text(json.dumps({**quality, "command": command}, indent=2, ensure_ascii=False) + "\n")
    lines = [
        "# Tag quality vs the synthetic ground truth",
        "",
        f"tagger: {', '.join(quality['tagger'])}; tracks tagged {quality['tracks_tagged']}, "
        f"with ground truth {quality['tracks_with_truth']}; "
        f"tracks with any low-confidence axis: {_pct(quality['any_low_confidence_share'])}",
        "",
    ]
    if command:
        lines += [f"command: `{command}`", ""]
    lines += [
        "| axis | accuracy | uniform chance | majority baseline | accuracy (confident only) | low-confidence share |",
        "|---|---|---|---|---|---|",
    ]
    for axis, a in quality["axes"].items():
        lines.append(
            f"| {axis} | {_pct(a['accuracy'])} | {_pct(a['chance_uniform'])} | {_pct(a['majority_baseline'])} | "
            f"{_pct(a['accuracy_confident'])} | {_pct(a['low_confidence_share'])} |"
        )
    for axis, a in quality["axes"].items():
        vocab = list(AXES[axis])
        lines += [
            "",
            f"## {axis}: confusion (rows truth, columns predicted)",
            "",
            "| truth \\ pred | " + " | ".join(vocab) + " |",
        ]
        lines.append("|---" * (len(vocab) + 1) + "|")
        for true_label in vocab:
            row = a["confusion"][true_label]
            lines.append(f"| {true_label} | " + " | ".join(str(row[p]) for p in vocab) + " |")
    lines += ["", "## Label distribution per genre", "", "| genre | tracks | " + " | ".join(AXES) + " |"]
    lines.append("|---" * (len(AXES) + 2) + "|")
    for genre, dist in quality["per_genre"].items():
        n = sum(dist["affect.energy"].values())
        cells = [", ".join(f"{k} {v}" for k, v in sorted(dist[a].items(), key=lambda kv: -kv[1])) for a in AXES]
        lines.append(f"| {genre} | {n} | " + " | ".join(cells) + " |")
    md_path.write_text("\n".join(lines) + "\n")
    return [md_path, json_path]


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f} %"


# ---------------------------------------------------------------------------------------------------------
# the `museed tag` stage


@dataclass
class TagRunReport:
    """What `museed tag` did."""

    out: Path
    tagger: str
    tagged: int = 0
    failed: int = 0
    wall_seconds: float = 0.0
    notices: list[str] = field(default_factory=list)
    failures_path: Path | None = None
    report_paths: list[Path] = field(default_factory=list)
    quality: dict[str, Any] | None = None

    def summary_lines(self) -> list[str]:
        """Human-readable summary for the CLI."""
        lines = [*self.notices, f"tags: {self.out}  (tagger {self.tagger})"]
        lines.append(f"tracks tagged {self.tagged}, failed {self.failed}, wall {self.wall_seconds:.1f} s")
        if self.failures_path is not None:
            lines.append(f"failures: {self.failures_path}")
        if self.quality is not None:
            acc = ", ".join(f"{a} {_pct(v['accuracy'])}" for a, v in self.quality["axes"].items())
            lines.append(f"agreement with synth_ground_truth.csv: {acc}")
            lines.append("report: " + ", ".join(str(p) for p in self.report_paths))
        return lines


def run_tag(
    fma: Path,
    out: Path,
    *,
    mulan_vectors: Path | None = None,
    tagger: str = "auto",
    limit: int | None = None,
    workers: int = 2,
    progress: Progress = None,
) -> TagRunReport:
    """Tag every catalog track into the JSONL `out` (plus failures and, on a synthetic corpus, a quality report).

    `tagger`: "mulan" (score MuLan vectors, from `mulan_vectors` or embedded now with MuQ-MuLan from the HF cache),
    "dsp" (the weights-free tagger), "auto" (MuLan when vectors or weights are available, else DSP, announced).
    """
    from embedding.encoders import EncoderError
    from museed.catalog import load_catalog

    if tagger not in ("auto", "mulan", "dsp"):
        raise TaggingError(f"unknown tagger {tagger!r}: expected auto, mulan or dsp")
    started = time.perf_counter()
    out = Path(out)
    if out.suffix != ".jsonl":  # a directory was given: use the conventional file name inside it
        out = out / TAGS_FILE
    catalog = load_catalog(fma, scan_unlisted=False)
    items = [
        (int(tid), p if isinstance(p, str) else None)
        for tid, p in zip(catalog.tracks.index, catalog.tracks["audio_path"], strict=True)
    ][: limit or None]
    report = TagRunReport(out=out, tagger=tagger)

    tags: list[TrackTags] | None = None
    failures: list[dict[str, Any]] = []
    if tagger in ("auto", "mulan"):
        try:
            tags, failures = _tag_with_mulan(catalog, items, out, mulan_vectors, progress)
            report.tagger = MULAN_TAGGER
        except (EncoderError, TaggingError) as exc:
            if tagger == "mulan":
                raise TaggingError(f"MuLan tagging is not possible: {exc}") from exc
            report.notices.append(f"NO MuQ-MuLan AVAILABLE ({exc}); using the weights-free DSP tagger ({DSP_TAGGER})")
            log.warning(report.notices[-1])
    if tags is None:
        tags, failures = tag_from_audio(items, catalog, workers=workers, progress=progress)
        report.tagger = DSP_TAGGER
    if not tags:
        raise TaggingError(f"no track could be tagged ({len(failures)} failures)")
    report.tagged = write_tags(out, tags)
    report.failed = len(failures)
    failures_path = out.with_name(FAILURES_FILE)
    if failures:
        failures_path.write_text("".join(json.dumps(f, ensure_ascii=False) + "\n" for f in failures))
        report.failures_path = failures_path
    else:
        failures_path.unlink(missing_ok=True)  # a stale list from an earlier run would mislead
    truth_path = Path(fma) / GROUND_TRUTH_FILE
    if truth_path.is_file():
        report.quality = tag_quality(tags, ground_truth_tags(truth_path))
        command = f"museed tag --fma {fma} --out {out} --tagger {tagger}" + (f" --limit {limit}" if limit else "")
        report.report_paths = write_tag_report(out.parent, report.quality, command=command)
    report.wall_seconds = time.perf_counter() - started
    return report


def _tag_with_mulan(
    catalog: Catalog,
    items: Sequence[tuple[int, str | None]],
    out: Path,
    mulan_vectors: Path | None,
    progress: Progress,
) -> tuple[list[TrackTags], list[dict[str, Any]]]:
    """MuLan tags of `items`: from a stored MuLan vector set, or after embedding them with cached MuQ-MuLan."""
    from embedding.job import SegmentPolicy, TrackAudio, embed_plain
    from embedding.mulan import load_mulan
    from embedding.store import VectorSet, load_vector_set, read_failures

    if mulan_vectors is not None:
        vs = load_vector_set(mulan_vectors)
        source = vs.manifest.encoder.get("source") if isinstance(vs.manifest.encoder, dict) else None
        if not source:
            raise TaggingError(f"{mulan_vectors}: the manifest does not say which MuQ-MuLan made the vectors")
        encoder = load_mulan(f"mulan:{source}")
        where = Path(mulan_vectors)
    else:
        encoder = load_mulan("mulan")  # the HF cache or EncoderNotCachedError
        where = out.parent / "mulan_vectors"
        policy = SegmentPolicy(sample_rate=encoder.sample_rate, segment_seconds=10.0, n_segments=3)
        embed_plain([TrackAudio(t, p) for t, p in items], encoder, where, policy=policy, progress=progress)
        vs = load_vector_set(where)
    wanted = {t for t, _ in items}
    keep = np.asarray([int(t) in wanted for t in vs.track_ids], dtype=bool)
    subset = VectorSet(
        vs.manifest, vs.track_ids[keep], vs.vectors[keep], vs.n_segments[keep], vs.duration_seconds[keep]
    )
    if len(subset) == 0:
        raise TaggingError(f"{where} holds no vectors of the catalog's tracks")
    tags = tag_from_embeddings(subset, encoder, catalog)
    reasons = {int(f["track_id"]): f for f in read_failures(where) if f.get("track_id") is not None}
    have = {int(t) for t in subset.track_ids}
    failures = [
        reasons.get(t, {"track_id": t, "path": p, "stage": "embed", "reason": "not_in_vector_set"})
        for t, p in items
        if t not in have
    ]
    return tags, failures
