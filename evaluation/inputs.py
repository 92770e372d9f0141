"""What `museed evaluate` reads, checked before any metric is computed: the request, the vector sets (aligned by
track id), the catalog, the tags file, the ground truth of the synthetic corpus, the optional MFCC baseline, the
held-out tracks and a `museed train` run directory.

Every unusable input stops here with an EvaluationError that says what is wrong and what to do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from evaluation.markdown import pct
from evaluation.metrics import encode_labels, l2_normalise
from museed.catalog import Catalog
from museed.errors import PipelineError
from museed.rundir import STEPS_CSV, VAL_CSV, has_training_logs
from museed.splits import TrackTableError, split_of, track_table
from museed.tags import TrackTags
from museed.vectorset import VectorSet, VectorSetManifest, load_vector_set

Progress = Callable[[int, int], None] | None
Log = Callable[[str], None]

BASELINE_DIR: Final = "baseline-mfcc"
GROUND_TRUTH_FILE: Final = "synth_ground_truth.csv"


class EvaluationError(PipelineError):
    """Inputs that cannot be evaluated together (missing paths, mismatched track sets, uncovered tags ...)."""


@dataclass(frozen=True)
class EvaluationConfig:
    """What to compute and how; every random choice is seeded."""

    k: int = 10  # k-NN neighbours
    bootstrap: int = 1000  # resamples over query tracks
    confidence: float = 0.95
    seed: int = 0
    silhouette_sample: int = 5000
    map_queries: int = 5000  # mAP ranks the whole catalogue per query: subsample queries above this
    tsne_points: int = 3000
    minority_share: float = 0.02  # genres below this share of the labelled tracks are called minority
    baseline: str | None = None  # "mfcc": add the MFCC-statistics baseline
    workers: int = 2  # processes for the baseline's audio decoding


@dataclass
class LabelSet:
    """One labelling of the evaluated tracks (codes aligned with the track order; -1 = no label)."""

    key: str
    title: str
    source: str
    codes: np.ndarray
    names: list[str]


@dataclass
class EvaluatedSet:
    """One vector set under evaluation."""

    name: str
    path: Path
    role: str  # reference | compare | baseline
    manifest: VectorSetManifest
    vectors: np.ndarray  # aligned with the evaluated track order, L2-normalised


@dataclass
class Inputs:
    """The vector sets and everything known about their tracks, in one track order (`ids`, ascending)."""

    sets: list[EvaluatedSet]
    ids: np.ndarray
    catalog: Catalog
    tags: dict[int, TrackTags]
    artists: np.ndarray  # artist id per track
    genre_values: list[str | None]  # the catalog's genre_top per track (None when it has none)


@dataclass
class Labels:
    """The label sets to score (genre always; mood and ground truth when there are 2+ classes)."""

    sets: dict[str, LabelSet]
    taggers: list[str]
    truth_file: Path | None  # the ground truth that was used (synthetic corpus only)
    truth_notes: list[str]


# ------------------------------------------------------------------------------------------------ checks


def require(path: Path | None, what: str, *, directory: bool | None = None) -> Path:
    """`path` as a Path; EvaluationError when it is missing, absent, or not a directory/file as asked."""
    if path is None:
        raise EvaluationError(f"{what} is required")
    p = Path(path)
    if not p.exists():
        raise EvaluationError(f"{what} not found: {p}")
    if directory is True and not p.is_dir():
        raise EvaluationError(f"{what} must be a directory: {p}")
    if directory is False and not p.is_file():
        raise EvaluationError(f"{what} must be a file: {p}")
    return p


def check_request(cfg: EvaluationConfig, tags: Path, fma: Path, train_run: Path | None) -> None:
    """The config and the paths that need no loading, before anything is read."""
    if cfg.k < 1 or cfg.bootstrap < 1 or not 0 < cfg.confidence < 1:
        raise EvaluationError("k and bootstrap must be >= 1 and confidence between 0 and 1")
    if cfg.baseline not in (None, "mfcc"):
        raise EvaluationError(f"unknown baseline {cfg.baseline!r}: use 'mfcc' or none")
    require(tags, "tags file", directory=False)
    require(fma, "FMA root", directory=True)
    if train_run is not None:
        check_training_run(Path(train_run))


def check_training_run(run_dir: Path) -> None:
    """EvaluationError unless `run_dir` is a directory holding a run's steps or validation log."""
    require(run_dir, "training run directory", directory=True)
    if not has_training_logs(run_dir):
        raise EvaluationError(f"{run_dir} is not a training run directory: neither {STEPS_CSV} nor {VAL_CSV} is there")


# ------------------------------------------------------------------------------------------------ vector sets


def encoder_note(manifest: VectorSetManifest) -> str | None:
    """A plain statement when vectors do not come from pretrained MuQ (random init, or the MFCC baseline)."""
    from embedding.encoders import SMALL_RANDOM_KIND
    from evaluation.baseline import MFCC_ENCODER_ID

    if manifest.encoder_id == MFCC_ENCODER_ID:
        return "MFCC statistics: a signal-processing baseline, no learned encoder"
    if manifest.encoder_id.startswith(SMALL_RANDOM_KIND):
        return (
            f"encoder {manifest.encoder_id} is a SMALL RANDOMLY INITIALISED MuQ, not pretrained MuQ-large: "
            "its numbers say nothing about MuQ's own embeddings"
        )
    provenance = manifest.encoder.get("provenance") if isinstance(manifest.encoder, dict) else None
    base = (provenance or {}).get("base") or {}
    if str(base.get("encoder_id", "")).startswith(SMALL_RANDOM_KIND):
        return (
            f"encoder {manifest.encoder_id} was fine-tuned from a SMALL RANDOMLY INITIALISED MuQ "
            f"({base['encoder_id']}), not from pretrained MuQ-large"
        )
    return None


def is_random_init(manifest: VectorSetManifest) -> bool:
    """Whether the vectors come from a randomly initialised encoder (or one fine-tuned from it)."""
    note = encoder_note(manifest)
    return note is not None and "RANDOMLY INITIALISED" in note


def load_sets(embeddings: Path, compare: Sequence[Path]) -> tuple[list[EvaluatedSet], np.ndarray]:
    """Load every vector set, check they hold the same tracks, align them by track id."""
    loaded: list[tuple[Path, str, VectorSet]] = []
    for path, role in [(embeddings, "reference"), *[(c, "compare") for c in compare]]:
        require(path, "vector set", directory=True)
        loaded.append((Path(path), role, load_vector_set(path)))
    ids = np.sort(loaded[0][2].track_ids)
    if len(ids) < 3:
        raise EvaluationError(f"{embeddings} holds {len(ids)} vectors: at least 3 are needed to evaluate")
    wanted = set(ids.tolist())
    sets: list[EvaluatedSet] = []
    used: set[str] = set()
    for path, role, vs in loaded:
        have = set(vs.track_ids.tolist())
        if have != wanted:
            only_a, only_b = sorted(wanted - have), sorted(have - wanted)
            parts = [f"{len(only_a)} missing (e.g. {only_a[:5]})"] if only_a else []
            parts += [f"{len(only_b)} extra (e.g. {only_b[:5]})"] if only_b else []
            raise EvaluationError(
                f"{path} does not hold the same tracks as {embeddings}: {', '.join(parts)}; "
                "embed the same catalog into both"
            )
        where = vs.index_of()
        name = path.name or str(path)
        while name in used:  # two sets in directories of the same name
            name += "'"
        used.add(name)
        vectors = l2_normalise(vs.vectors[[where[int(t)] for t in ids]])
        sets.append(EvaluatedSet(name, path, role, vs.manifest, vectors))
    return sets, ids


def load_inputs(embeddings: Path, compare: Sequence[Path], tags: Path, fma: Path) -> Inputs:
    """The vector sets, then the catalog and the tags file, each checked to cover every evaluated track."""
    from museed.catalog import load_catalog
    from museed.tags import read_tags

    sets, ids = load_sets(embeddings, compare)
    catalog = load_catalog(fma, scan_unlisted=False)
    unknown = [int(t) for t in ids if int(t) not in catalog.tracks.index]
    if unknown:
        raise EvaluationError(
            f"{len(unknown)} of {len(ids)} vectors are of tracks the catalog at {fma} does not list "
            f"(e.g. {unknown[:5]}): wrong --fma?"
        )
    track_tags = read_tags(tags)
    uncovered = [int(t) for t in ids if int(t) not in track_tags]
    if uncovered:
        raise EvaluationError(
            f"the tags file {tags} covers {len(ids) - len(uncovered)} of the {len(ids)} evaluated tracks "
            f"(missing e.g. {uncovered[:5]}): tag the same catalog (`museed tag`) first"
        )
    meta = catalog.tracks.loc[ids]
    return Inputs(
        sets=sets,
        ids=ids,
        catalog=catalog,
        tags=track_tags,
        artists=meta["artist_id"].to_numpy(dtype=np.int64),
        genre_values=[g if isinstance(g, str) and g else None for g in meta["genre_top"]],
    )


def mfcc_set(
    inputs: Inputs, out: Path, cfg: EvaluationConfig, settings: Any, say: Log, progress: Progress
) -> EvaluatedSet:
    """Build (or reuse) the MFCC baseline over the same tracks and segment policy as `museed embed`."""
    from embedding.job import SegmentPolicy, TrackAudio
    from evaluation.baseline import MfccConfig, build_mfcc_baseline
    from museed.settings import get_settings

    settings = settings or get_settings()
    policy = SegmentPolicy.from_settings(settings)
    audio = inputs.catalog.audio_paths()
    tracks = [TrackAudio(int(t), audio[int(t)]) for t in inputs.ids]
    target = out / BASELINE_DIR
    rep = build_mfcc_baseline(tracks, target, MfccConfig.for_policy(policy), workers=cfg.workers, progress=progress)
    say(
        f"MFCC baseline {'reused' if rep.reused else 'built'} at {target} "
        f"({rep.computed} tracks computed, {rep.wall_seconds:.1f} s)"
    )
    vs = load_vector_set(target)
    where = vs.index_of()
    return EvaluatedSet(
        "baseline-mfcc", target, "baseline", vs.manifest, vs.vectors[[where[int(t)] for t in inputs.ids]]
    )


# ------------------------------------------------------------------------------------------------ labels


def build_label_sets(inputs: Inputs, fma: Path, say: Log) -> Labels:
    """Genre (catalog), mood_style (tags file) and, on the synthetic corpus, their ground truth where it differs."""
    from museed.tags import ground_truth_tags

    ids, track_tags, genre_values = inputs.ids, inputs.tags, inputs.genre_values
    label_sets: dict[str, LabelSet] = {}
    codes, names = encode_labels(genre_values)
    label_sets["genre"] = LabelSet("genre", "genre", "FMA genre_top (catalog)", codes, names)
    taggers = sorted({track_tags[int(t)].tagger for t in ids})
    codes, names = encode_labels([track_tags[int(t)].mood_style for t in ids])
    label_sets["mood_style"] = LabelSet("mood_style", "mood_style", f"tags file ({', '.join(taggers)})", codes, names)
    truth_file = Path(fma) / GROUND_TRUTH_FILE
    truth = ground_truth_tags(truth_file) if truth_file.is_file() else None
    truth_notes: list[str] = []
    if truth is not None:
        truth_genre = [truth[int(t)].genre if int(t) in truth else None for t in ids]
        if truth_genre != genre_values:
            codes, names = encode_labels(truth_genre)
            label_sets["genre_truth"] = LabelSet("genre_truth", "genre (ground truth)", GROUND_TRUTH_FILE, codes, names)
        else:
            truth_notes.append(f"the catalog's genre_top equals the ground-truth genre of all {len(ids)} tracks")
        truth_mood = [truth[int(t)].mood_style if int(t) in truth else None for t in ids]
        agree = np.mean([track_tags[int(t)].mood_style == m for t, m in zip(ids, truth_mood, strict=True) if m])
        truth_notes.append(f"the tags file's mood_style agrees with the ground truth on {pct(float(agree))} of tracks")
        if agree < 1.0:
            codes, names = encode_labels(truth_mood)
            label_sets["mood_style_truth"] = LabelSet(
                "mood_style_truth", "mood_style (ground truth)", GROUND_TRUTH_FILE, codes, names
            )
    for key, ls in list(label_sets.items()):
        if len(ls.names) < 2:
            say(f"skipping {ls.title}: fewer than 2 classes among the evaluated tracks")
            del label_sets[key]
    if "genre" not in label_sets:
        raise EvaluationError("fewer than 2 genres among the evaluated tracks: nothing to compare")
    return Labels(label_sets, taggers, truth_file if truth is not None else None, truth_notes)


def held_out_mask(inputs: Inputs) -> tuple[np.ndarray, str]:
    """Tracks outside the triplets' training split (artist-disjoint, the same rule as `museed triplets`)."""
    try:
        table, facts = track_table(inputs.catalog.tracks, inputs.tags)
    except TrackTableError:
        return np.zeros(len(inputs.ids), dtype=bool), "none"
    split = split_of(table)
    return np.asarray([split.get(int(t), "training") != "training" for t in inputs.ids]), str(facts["split_source"])
