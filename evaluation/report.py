"""`museed evaluate`: compare vector sets on genre and mood, and write a self-contained report.

`run_evaluation` loads the vector sets (the first is the reference, e.g. the un-tuned encoder; the others are
compared with it, e.g. the fine-tuned one; optionally an MFCC baseline built here), joins them with the catalog
(genre = FMA's `genre_top`), the tags file (mood_style) and, on the synthetic corpus, the ground truth, computes
every metric of `evaluation.metrics`, and writes into the output directory:

    report.md          the report (tables, figures, case studies, caveats)
    metrics.json       every number in the report, machine-readable
    *.png              t-SNE maps, per-genre bars, k-occurrence histograms, training curves
    baseline-mfcc/     the MFCC baseline vector set (reused when it covers the same tracks)

`metrics.json` is the single source: the markdown is rendered from it.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np

from embedding.store import VectorSet, VectorSetManifest, load_vector_set
from evaluation import figures
from evaluation.markdown import HEADLINE_METRICS, METRIC_TITLES, ci, pct, pp, render_markdown
from evaluation.metrics import (
    NeighbourLists,
    average_precision,
    bootstrap_ci,
    encode_labels,
    hubness,
    k_occurrence,
    knn_correct,
    l2_normalise,
    macro_mean,
    per_class_table,
    precision_at_k,
    silhouette,
    top_k_neighbours,
)

Progress = Callable[[int, int], None] | None
Log = Callable[[str], None]

REPORT_MD: Final = "report.md"
METRICS_JSON: Final = "metrics.json"
BASELINE_DIR: Final = "baseline-mfcc"
TSNE_PNG: Final = "tsne_genre.png"
PER_GENRE_PNG: Final = "per_genre_knn.png"
K_OCCURRENCE_PNG: Final = "k_occurrence.png"
TRAINING_PNG: Final = "training_curves.png"
GROUND_TRUTH_FILE: Final = "synth_ground_truth.csv"
#: P@10, mAP's neighbour lists for hubness and the case-study playlists all use the top 10
RETRIEVAL_K: Final = 10
MAJOR_GENRES: Final = ("Rock", "Pop")
MINORITY_GENRES: Final = ("Easy Listening", "Spoken")


class EvaluationError(ValueError):
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
class _Set:
    name: str
    path: Path
    role: str  # reference | compare | baseline
    manifest: VectorSetManifest
    vectors: np.ndarray  # aligned with the evaluated track order, L2-normalised


@dataclass
class EvaluationResult:
    """Where the report went and its headline numbers (the full set is `metrics`, as in metrics.json)."""

    out: Path
    report: Path
    metrics_file: Path
    metrics: dict[str, Any]
    figures: list[Path] = field(default_factory=list)
    wall_seconds: float = 0.0

    def headline(self, label_key: str, metric: str) -> list[tuple[str, dict[str, Any]]]:
        """(vector set, {value, ci}) of one label set and metric, in vector-set order."""
        return [
            (vs["name"], self.metrics["results"][vs["name"]][label_key][metric])
            for vs in self.metrics["vector_sets"]
            if label_key in self.metrics["results"][vs["name"]]
        ]

    def summary_lines(self) -> list[str]:
        """Before/after headline figures for the CLI."""
        m = self.metrics
        lines = [f"evaluated {m['tracks']['evaluated']} tracks, {len(m['vector_sets'])} vector sets:"]
        for key, ls in m["label_sets"].items():
            for metric in HEADLINE_METRICS:
                cells = [f"{name} {pct(v['value'])} {ci(v['ci'])}" for name, v in self.headline(key, metric)]
                lines.append(f"  {ls['title']:<26} {METRIC_TITLES[metric]:<14} " + " | ".join(cells))
        for comp in m["comparisons"]:
            if comp["label_set"] in ("genre", "mood_style_truth", "mood_style"):
                d = comp["knn_accuracy"]
                lines.append(
                    f"  {comp['other']} - {comp['reference']}, {m['label_sets'][comp['label_set']]['title']} "
                    f"k-NN accuracy: {pp(d['diff'])} {ci(d['ci'], signed=True)}"
                )
        for note in (vs["note"] for vs in m["vector_sets"] if vs["note"]):
            lines.append(f"  note: {note}")
        lines.append(f"report: {self.report}  (numbers: {self.metrics_file})")
        return lines


# ------------------------------------------------------------------------------------------------ output


def _json_ready(value: Any) -> Any:
    """numpy scalars -> Python, NaN/inf -> None, Paths -> str, recursively."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    return value


# ------------------------------------------------------------------------------------------------ inputs


def _require(path: Path | None, what: str, *, directory: bool | None = None) -> Path:
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


def _is_random_init(manifest: VectorSetManifest) -> bool:
    note = encoder_note(manifest)
    return note is not None and "RANDOMLY INITIALISED" in note


def _load_sets(embeddings: Path, compare: Sequence[Path]) -> tuple[list[_Set], np.ndarray]:
    """Load every vector set, check they hold the same tracks, align them by track id."""
    loaded: list[tuple[Path, str, VectorSet]] = []
    for path, role in [(embeddings, "reference"), *[(c, "compare") for c in compare]]:
        _require(path, "vector set", directory=True)
        loaded.append((Path(path), role, load_vector_set(path)))
    ids = np.sort(loaded[0][2].track_ids)
    if len(ids) < 3:
        raise EvaluationError(f"{embeddings} holds {len(ids)} vectors: at least 3 are needed to evaluate")
    wanted = set(ids.tolist())
    sets: list[_Set] = []
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
        sets.append(_Set(name, path, role, vs.manifest, l2_normalise(vs.vectors[[where[int(t)] for t in ids]])))
    return sets, ids


def _held_out_mask(catalog: Any, tags: dict[int, Any], ids: np.ndarray) -> tuple[np.ndarray, str]:
    """Tracks outside the triplets' training split (artist-disjoint, the same rule as `museed triplets`)."""
    from training.triplets import TripletError, track_table

    try:
        table, facts = track_table(catalog.tracks, tags)
    except TripletError:
        return np.zeros(len(ids), dtype=bool), "none"
    split = dict(zip(table["track_id"].tolist(), table["split"].tolist(), strict=True))
    return np.asarray([split.get(int(t), "training") != "training" for t in ids]), str(facts["split_source"])


# ------------------------------------------------------------------------------------------------ metrics


@dataclass
class _PerQuery:
    """Per-query values of one vector set on one label set (for CIs and paired differences)."""

    knn_accuracy: np.ndarray
    knn_accuracy_other_artists: np.ndarray
    precision_at_10: np.ndarray
    map: np.ndarray  # NaN outside the mAP query sample
    held_out: np.ndarray  # bool, aligned with the rows of the label set's population


def _metric(values: np.ndarray, cfg: EvaluationConfig) -> dict[str, Any]:
    v = values[~np.isnan(values)]
    return {
        "value": float(v.mean()) if len(v) else float("nan"),
        "ci": list(bootstrap_ci(v, cfg.bootstrap, cfg.confidence, cfg.seed)),
        "n": len(v),
    }


def _neighbours_for(
    vectors: np.ndarray, artists: np.ndarray, mask: np.ndarray, k: int, cache: dict[bytes, Any]
) -> tuple[NeighbourLists, NeighbourLists]:
    key = np.packbits(mask).tobytes() + len(mask).to_bytes(8, "little")
    if key not in cache:
        plain, other_artists = top_k_neighbours(vectors[mask], k, exclude_groups=artists[mask])
        assert other_artists is not None
        cache[key] = (plain, other_artists)
    return cache[key]


def _evaluate_label_set(
    x: np.ndarray,
    artists: np.ndarray,
    held_out: np.ndarray,
    ls: LabelSet,
    cfg: EvaluationConfig,
    cache: dict[bytes, Any],
) -> tuple[dict[str, Any], _PerQuery, list[dict[str, Any]] | None]:
    mask = ls.codes >= 0
    codes = ls.codes[mask]
    n_classes = len(ls.names)
    plain, other = _neighbours_for(x, artists, mask, max(cfg.k, RETRIEVAL_K), cache)
    k = min(cfg.k, plain.k)
    correct = knn_correct(plain.index[:, :k], codes, n_classes)
    correct_other = knn_correct(other.index[:, :k], codes, n_classes)
    p10 = precision_at_k(plain.index[:, :RETRIEVAL_K], codes)
    rng = np.random.default_rng(cfg.seed)
    population = int(mask.sum())
    queries = (
        np.arange(population)
        if population <= cfg.map_queries
        else np.sort(rng.choice(population, cfg.map_queries, replace=False))
    )
    ap = np.full(population, np.nan)
    ap[queries] = average_precision(x[mask], codes, queries)
    sil = silhouette(x[mask], codes, cfg.silhouette_sample, cfg.seed)
    per_query = _PerQuery(correct, correct_other, p10, ap, held_out[mask])
    held = per_query.held_out
    result: dict[str, Any] = {
        "tracks": population,
        "knn_accuracy": _metric(correct, cfg),
        "knn_macro_accuracy": macro_mean(correct, codes),
        "knn_accuracy_other_artists": _metric(correct_other, cfg),
        "knn_macro_accuracy_other_artists": macro_mean(correct_other, codes),
        "precision_at_10": _metric(p10, cfg),
        "map": {**_metric(ap, cfg), "queries": len(queries)},
        "silhouette": {"value": sil.value, "sample_size": sil.sample_size},
        "held_out": {
            "queries": int(held.sum()),
            "knn_accuracy": _metric(correct[held], cfg),
            "precision_at_10": _metric(p10[held], cfg),
            "map": _metric(ap[held], cfg),
        },
    }
    table = None
    if ls.key == "genre":
        rows = per_class_table(codes, ls.names, correct, p10, RETRIEVAL_K, sil, cfg.minority_share)
        table = [{"genre": r.name, **{k: v for k, v in asdict(r).items() if k != "name"}} for r in rows]
        for row, r in zip(table, rows, strict=True):
            row["precision_at_10"] = row.pop("precision_at_k")
            row["knn_accuracy_other_artists"] = float(correct_other[codes == ls.names.index(r.name)].mean())
    return result, per_query, table


def _label_summary(ls: LabelSet) -> dict[str, Any]:
    codes = ls.codes[ls.codes >= 0]
    counts = np.bincount(codes, minlength=len(ls.names))
    n = len(codes)
    shares = counts / max(1, n)
    # a random ranking puts a same-label track at any position with this probability
    random_precision = float(np.sum(counts * (counts - 1)) / max(1, n * (n - 1)))
    order = np.argsort(-counts, kind="stable")
    return {
        "title": ls.title,
        "source": ls.source,
        "tracks": n,
        "unlabelled": int((ls.codes < 0).sum()),
        "classes": {ls.names[i]: int(counts[i]) for i in order if counts[i]},
        "majority_share": float(shares.max(initial=0.0)),
        "random_precision": random_precision,
    }


# ------------------------------------------------------------------------------------------------ sections


def _case_studies(
    sets: list[_Set],
    full: dict[str, NeighbourLists],
    ids: np.ndarray,
    genre: LabelSet,
    catalog: Any,
    tags: dict[int, Any],
    artists: np.ndarray,
) -> dict[str, Any]:
    """Top-10 playlists of seeds from major and minority genres, for every vector set."""
    counts = {name: int((genre.codes == i).sum()) for i, name in enumerate(genre.names)}
    present = [g for g, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if c > 0]
    notes: list[str] = []
    picks: list[tuple[str, str]] = []
    for group, wanted, fallback in (
        ("major", MAJOR_GENRES, present[:1]),
        ("minority", MINORITY_GENRES, [g for g in present[::-1] if counts[g] >= 2][:1] or present[-1:]),
    ):
        found = [g for g in wanted if counts.get(g, 0) > 0]
        if not found:
            found = [g for g in fallback if g not in {p for _, p in picks}]
            notes.append(
                f"none of the {group} genres {', '.join(wanted)} is present: using the "
                f"{'largest' if group == 'major' else 'smallest'} genre present, {', '.join(found) or 'none'}"
            )
        picks.extend((group, g) for g in found)

    def track_info(row: int) -> dict[str, Any]:
        tid = int(ids[row])
        meta = catalog.tracks.loc[tid]
        tag = tags.get(tid)
        return {
            "track_id": tid,
            "title": str(meta["title"]),
            "artist": str(meta["artist_name"]),
            "artist_id": int(meta["artist_id"]),
            "genre": genre.names[genre.codes[row]] if genre.codes[row] >= 0 else None,
            "mood_style": tag.mood_style if tag else None,
            "energy": tag.energy if tag else None,
            "valence": tag.valence if tag else None,
            "source": tag.source if tag else None,
        }

    seeds = []
    for group, g in picks:
        code = genre.names.index(g)
        seed_row = int(np.flatnonzero(genre.codes == code)[0])  # the genre's first track by id: not hand-picked
        playlists = {}
        for s in sets:
            nl = full[s.name]
            tracks = [
                {**track_info(int(j)), "similarity": float(sim)}
                for j, sim in zip(nl.index[seed_row, :RETRIEVAL_K], nl.similarity[seed_row, :RETRIEVAL_K], strict=True)
                if j >= 0
            ]
            same = sum(t["genre"] == g for t in tracks)
            same_artist = sum(t["artist_id"] == artists[seed_row] for t in tracks)
            playlists[s.name] = {
                "tracks": tracks,
                "same_genre": same / max(1, len(tracks)),
                "same_artist": same_artist / max(1, len(tracks)),
            }
        seeds.append(
            {
                "group": group,
                "genre": g,
                "genre_support": counts[g],
                "seed": track_info(seed_row),
                "playlists": playlists,
            }
        )
    return {"notes": notes, "seeds": seeds}


def _check_training_run(run_dir: Path) -> None:
    from training.train import STEPS_CSV, VAL_CSV

    _require(run_dir, "training run directory", directory=True)
    if not (run_dir / STEPS_CSV).exists() and not (run_dir / VAL_CSV).exists():
        raise EvaluationError(f"{run_dir} is not a training run directory: neither {STEPS_CSV} nor {VAL_CSV} is there")


def _read_training_run(run_dir: Path, out: Path) -> dict[str, Any]:
    """Loss per step and validation metrics per epoch from a `museed train` run directory (+ a figure)."""
    import pandas as pd

    from training.train import STEPS_CSV, SUMMARY_JSON, VAL_CSV

    _check_training_run(run_dir)
    steps_file, val_file = run_dir / STEPS_CSV, run_dir / VAL_CSV
    steps = pd.read_csv(steps_file) if steps_file.exists() else pd.DataFrame()
    val = pd.read_csv(val_file) if val_file.exists() else pd.DataFrame()
    figure = figures.training_curves(steps, val, out / TRAINING_PNG)
    summary = json.loads((run_dir / SUMMARY_JSON).read_text()) if (run_dir / SUMMARY_JSON).exists() else {}
    epochs = []
    for rec in val.to_dict("records"):
        epochs.append(
            {
                "epoch": int(rec["epoch"]),
                "step": int(rec.get("step", 0)),
                "train_loss": rec.get("triplet/loss"),
                "val_loss": rec.get("val/triplet_loss"),
                "val_accuracy": rec.get("val/triplet_acc"),
                "val_accuracy_by_level": {
                    k.rsplit("/", 1)[-1]: v for k, v in rec.items() if k.startswith("val/triplet_acc/level")
                },
                "backbone_val_accuracy": rec.get("val_backbone/triplet_acc"),
            }
        )
    loss = steps["triplet/loss"] if "triplet/loss" in steps else pd.Series(dtype=float)
    return {
        "run_dir": str(run_dir),
        "steps": len(steps),
        "first_step_loss": float(loss.iloc[0]) if len(loss) else None,
        "last_step_loss": float(loss.iloc[-1]) if len(loss) else None,
        "epochs": epochs,
        "best_epoch": summary.get("best_epoch"),
        "figure": figure.name,
    }


def _caveats(
    sets: list[_Set], label_sets: dict[str, LabelSet], taggers: list[str], has_truth: bool, held_split: str
) -> list[str]:
    out = []
    tagger = ", ".join(taggers)
    out.append(
        "Mood labels made by MuQ-MuLan (tagger `mulan-zeroshot-v1`) come from an audio tower of the same family as "
        "the MuQ encoder being evaluated, so mood k-NN on MuQ vectors is partly circular: it measures agreement "
        "between two views of one model family, not mood as listeners hear it."
    )
    if any(t.startswith("mulan") for t in taggers):
        out.append(f"The mood labels of this run come from `{tagger}`: the circularity above applies here.")
    else:
        out.append(
            f"The mood labels of this run come from `{tagger}` (signal-processing features), not MuLan; they share "
            "the hand-crafted view of the MFCC baseline, so the baseline's mood figures are the partly circular "
            "ones here."
        )
    if has_truth:
        out.append(
            f"This is the synthetic corpus: `{GROUND_TRUTH_FILE}` holds the true genre and mood of every track, and "
            "the `(ground truth)` rows score against it; they are the mood figures to trust. Numbers on a "
            "synthetic corpus say nothing about real FMA."
        )
    else:
        out.append("No ground truth is available: mood figures measure agreement with the tagger, not correctness.")
    if "mood_style" in label_sets and any(s.role == "compare" for s in sets):
        out.append(
            "Fine-tuning used triplets built from these same genre and tag labels, over the same tracks: "
            "figures over all tracks are partly in-sample. The held-out rows (queries from the artists of the "
            f"validation and test splits, split source: {held_split}) are the fairer before/after comparison."
        )
    for s in sets:
        note = encoder_note(s.manifest)
        if note and s.role != "baseline":
            out.append(f"`{s.name}`: {note}.")
    out.append(
        "A k-NN vote needs a plurality of the k neighbours, which a genre of a few tracks rarely gets, and P@10 of a "
        "genre with n tracks is at most (n - 1)/10: minority genres are limited by their size (see the ceiling "
        "column), and their intervals are wide."
    )
    out.append(
        "Tracks of one artist share a sound (and on FMA often an album): plain k-NN and P@10 reward finding the "
        "same artist; the 'other artists' column removes that shortcut."
    )
    return out


# ------------------------------------------------------------------------------------------------ run


def run_evaluation(
    embeddings: Path,
    tags: Path,
    out: Path,
    fma: Path,
    *,
    compare: Sequence[Path] = (),
    train_run: Path | None = None,
    config: EvaluationConfig | None = None,
    settings: Any = None,
    command: str | None = None,
    log: Log | None = None,
    progress: Progress = None,
) -> EvaluationResult:
    """Evaluate `embeddings` (the reference) and every `compare` set; write report.md, metrics.json and figures.

    Raises EvaluationError (and CatalogError / TagsError / VectorSetError from the loaders) on unusable input.
    """
    from museed.catalog import load_catalog
    from museed.tags import ground_truth_tags, read_tags

    cfg = config or EvaluationConfig()
    say = log or (lambda _msg: None)
    started = time.perf_counter()
    if cfg.k < 1 or cfg.bootstrap < 1 or not 0 < cfg.confidence < 1:
        raise EvaluationError("k and bootstrap must be >= 1 and confidence between 0 and 1")
    if cfg.baseline not in (None, "mfcc"):
        raise EvaluationError(f"unknown baseline {cfg.baseline!r}: use 'mfcc' or none")
    _require(tags, "tags file", directory=False)
    _require(fma, "FMA root", directory=True)
    if train_run is not None:
        _check_training_run(Path(train_run))

    sets, ids = _load_sets(embeddings, compare)
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
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    say(f"{len(ids)} tracks, vector sets: {', '.join(s.name for s in sets)}")

    if cfg.baseline == "mfcc":
        sets.append(_mfcc_set(ids, catalog, out, cfg, settings, say, progress))

    meta = catalog.tracks.loc[ids]
    artists = meta["artist_id"].to_numpy(dtype=np.int64)
    genre_values = [g if isinstance(g, str) and g else None for g in meta["genre_top"]]
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
    held_out, split_source = _held_out_mask(catalog, track_tags, ids)

    results: dict[str, Any] = {}
    per_query: dict[tuple[str, str], _PerQuery] = {}
    full: dict[str, NeighbourLists] = {}
    occurrences: dict[str, np.ndarray] = {}
    per_genre: dict[str, list[dict[str, Any]]] = {}
    everyone = np.ones(len(ids), dtype=bool)
    for s in sets:
        t0 = time.perf_counter()
        cache: dict[bytes, Any] = {}
        plain, _ = _neighbours_for(s.vectors, artists, everyone, max(cfg.k, RETRIEVAL_K), cache)
        full[s.name] = plain
        top10 = plain.index[:, :RETRIEVAL_K]
        hub = hubness(top10, len(ids))
        occurrences[s.name] = k_occurrence(top10, len(ids))
        res: dict[str, Any] = {
            "hubness": {
                **asdict(hub),
                "hubs": [
                    {"track_id": int(ids[row]), "k_occurrence": count, "genre": genre_values[row]}
                    for row, count in hub.hubs
                ],
            }
        }
        for key, ls in label_sets.items():
            res[key], per_query[(s.name, key)], table = _evaluate_label_set(
                s.vectors, artists, held_out, ls, cfg, cache
            )
            if table is not None:
                res["per_genre"] = table
                per_genre[s.name] = table
        results[s.name] = res
        say(f"{s.name}: metrics in {time.perf_counter() - t0:.1f} s")

    comparisons = []
    reference = sets[0]
    for other in sets[1:]:
        for key in label_sets:
            a, b = per_query[(reference.name, key)], per_query[(other.name, key)]
            comp: dict[str, Any] = {"reference": reference.name, "other": other.name, "label_set": key}
            for metric in HEADLINE_METRICS:
                diff = getattr(b, metric) - getattr(a, metric)
                comp[metric] = _difference(diff, cfg)
                comp[f"held_out_{metric}"] = _difference(diff[a.held_out], cfg)
            comparisons.append(comp)

    say("case studies, t-SNE and figures")
    case_studies = _case_studies(sets, full, ids, label_sets["genre"], catalog, track_tags, artists)
    by_size = list(_label_summary(label_sets["genre"])["classes"])
    rng = np.random.default_rng(cfg.seed)
    tsne_rows = np.sort(rng.choice(len(ids), min(len(ids), cfg.tsne_points), replace=False))
    figure_files = {
        "tsne": figures.tsne_maps(
            {s.name: s.vectors[tsne_rows] for s in sets},
            [genre_values[i] for i in tsne_rows],
            by_size,
            out / TSNE_PNG,
            seed=cfg.seed,
        ),
        "per_genre": figures.per_genre_bars(per_genre, out / PER_GENRE_PNG),
        "k_occurrence": figures.k_occurrence_histograms(occurrences, RETRIEVAL_K, out / K_OCCURRENCE_PNG),
    }
    training = _read_training_run(Path(train_run), out) if train_run is not None else None
    if training is not None:
        figure_files["training"] = out / training["figure"]

    metrics: dict[str, Any] = {
        "schema_version": 1,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "config": {**asdict(cfg), "retrieval_k": RETRIEVAL_K},
        "inputs": {
            "fma": str(fma),
            "tags": str(tags),
            "taggers": taggers,
            "train_run": str(train_run) if train_run else None,
            "ground_truth": str(truth_file) if truth is not None else None,
        },
        "tracks": {
            "evaluated": len(ids),
            "artists": len(np.unique(artists)),
            "held_out": int(held_out.sum()),
            "split_source": split_source,
            "tsne_points": len(tsne_rows),
        },
        "vector_sets": [
            {
                "name": s.name,
                "path": str(s.path),
                "role": s.role,
                "vector_set_id": s.manifest.vector_set_id,
                "encoder_id": s.manifest.encoder_id,
                "dim": s.manifest.dim,
                "note": encoder_note(s.manifest),
                "random_init": _is_random_init(s.manifest),
            }
            for s in sets
        ],
        "label_sets": {key: _label_summary(ls) for key, ls in label_sets.items()},
        "ground_truth_notes": truth_notes,
        "results": results,
        "comparisons": comparisons,
        "case_studies": case_studies,
        "training": training,
        "figures": {k: v.name for k, v in figure_files.items()},
        "caveats": _caveats(sets, label_sets, taggers, truth is not None, split_source),
    }
    metrics = _json_ready(metrics)
    metrics_file = out / METRICS_JSON
    metrics_file.write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")
    report = out / REPORT_MD
    report.write_text(render_markdown(metrics), encoding="utf-8")
    return EvaluationResult(
        out=out,
        report=report,
        metrics_file=metrics_file,
        metrics=metrics,
        figures=list(figure_files.values()),
        wall_seconds=time.perf_counter() - started,
    )


def _difference(diff: np.ndarray, cfg: EvaluationConfig) -> dict[str, Any]:
    d = diff[~np.isnan(diff)]
    low, high = bootstrap_ci(d, cfg.bootstrap, cfg.confidence, cfg.seed)
    return {
        "diff": float(d.mean()) if len(d) else float("nan"),
        "ci": [low, high],
        "excludes_zero": bool(low > 0 or high < 0),
        "n": len(d),
    }


def _mfcc_set(
    ids: np.ndarray, catalog: Any, out: Path, cfg: EvaluationConfig, settings: Any, say: Log, progress: Progress
) -> _Set:
    """Build (or reuse) the MFCC baseline over the same tracks and segment policy as `museed embed`."""
    from embedding.job import SegmentPolicy, TrackAudio
    from evaluation.baseline import MfccConfig, build_mfcc_baseline
    from museed.settings import get_settings

    settings = settings or get_settings()
    policy = SegmentPolicy(
        sample_rate=settings.sample_rate,
        segment_seconds=settings.segment_seconds,
        n_segments=settings.segments_per_track,
    )
    paths = catalog.tracks["audio_path"]
    tracks = [TrackAudio(int(t), p if isinstance(p, str) else None) for t, p in zip(ids, paths.loc[ids], strict=True)]
    target = out / BASELINE_DIR
    rep = build_mfcc_baseline(tracks, target, MfccConfig.for_policy(policy), workers=cfg.workers, progress=progress)
    say(
        f"MFCC baseline {'reused' if rep.reused else 'built'} at {target} "
        f"({rep.computed} tracks computed, {rep.wall_seconds:.1f} s)"
    )
    vs = load_vector_set(target)
    where = vs.index_of()
    return _Set("baseline-mfcc", target, "baseline", vs.manifest, vs.vectors[[where[int(t)] for t in ids]])


def cli_command(
    embeddings: Path,
    tags: Path,
    out: Path,
    fma: Path,
    *,
    compare: Sequence[Path] = (),
    train_run: Path | None = None,
    config: EvaluationConfig | None = None,
) -> str:
    """The `museed evaluate` command line that reproduces a run (recorded in the report)."""
    import shlex

    cfg = config or EvaluationConfig()
    parts = ["museed", "evaluate", "--fma", str(fma), "--embeddings", str(embeddings)]
    for c in compare:
        parts += ["--compare", str(c)]
    parts += ["--tags", str(tags), "--out", str(out)]
    if train_run is not None:
        parts += ["--train-run", str(train_run)]
    if cfg.baseline:
        parts += ["--baseline", cfg.baseline]
    default = EvaluationConfig()
    for name in ("k", "bootstrap", "seed", "silhouette_sample", "map_queries", "tsne_points", "minority_share"):
        if getattr(cfg, name) != getattr(default, name):
            parts += [f"--{name.replace('_', '-')}", str(getattr(cfg, name))]
    return shlex.join(parts)
