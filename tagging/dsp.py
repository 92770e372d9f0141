"""The weights-free DSP tagger ("dsp-v1"): decisions from library statistics of `tagging.dsp_features`.

Used when no MuLan weights exist (`tag_from_audio`). One clip of up to 30 s at 22.05 kHz per track; features
from a 2048/512 STFT (see `tagging.dsp_features.audio_features`); every feature is robust-z-scored over the
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

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from museed.tags import TrackTags
from museed.vocab import MOOD_STYLES
from tagging.base import Progress, TaggingError, argmax_margin, calibrate_scores, catalog_genres, records
from tagging.dsp_features import extract_library_features

if TYPE_CHECKING:
    from museed.catalog import Catalog

DSP_TAGGER: Final = "dsp-v1"
DSP_LOW_CONFIDENCE: Final = 0.25  # z units from the decision boundary
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
    clipped: np.ndarray = np.clip((values - med) / scale, -4.0, 4.0)  # one odd file must not dominate a sum
    return clipped


def _fold_tempo(tempo: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """log2 tempo folded into the octave around its genre's median: tempo estimates are octave-ambiguous."""
    log_t: np.ndarray = np.log2(np.maximum(tempo, 1.0))
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
    best, margin = argmax_margin(calibrate_scores(raw))
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
    return records(list(features), chosen, genres, DSP_TAGGER, low_confidence)


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
