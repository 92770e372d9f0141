"""`museed evaluate`: compare vector sets on genre and mood, and write a self-contained report.

`run_evaluation` loads the vector sets (the first is the reference, e.g. the un-tuned encoder; the others are
compared with it, e.g. the fine-tuned one; optionally an MFCC baseline built here), joins them with the catalog
(genre = FMA's `genre_top`), the tags file (mood_style) and, on the synthetic corpus, the ground truth, computes
every metric of `evaluation.metrics`, and writes into the output directory:

    report.md          the report (tables, figures, case studies, caveats)
    metrics.json       every number in the report, machine-readable
    *.png              t-SNE maps, per-genre bars, k-occurrence histograms, training curves
    baseline-mfcc/     the MFCC baseline vector set (reused when it covers the same tracks)

`metrics.json` is the single source: the markdown is rendered from it. One module per step: `evaluation.inputs`
(loading and checking), `evaluation.scoring` (metrics per set, differences), `evaluation.cases` (playlists),
`evaluation.figures`, `evaluation.markdown`; this module assembles the report.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np

from discovery.measure import hubness_and_diversity
from evaluation import figures
from evaluation.cases import case_studies
from evaluation.inputs import (
    GROUND_TRUTH_FILE,
    EvaluatedSet,
    EvaluationConfig,
    EvaluationError,
    Inputs,
    Labels,
    LabelSet,
    Log,
    Progress,
    build_label_sets,
    check_request,
    check_training_run,
    encoder_note,
    held_out_mask,
    is_random_init,
    load_inputs,
    mfcc_set,
)
from evaluation.markdown import HEADLINE_METRICS, METRIC_TITLES, ci, pct, pp, render_markdown
from evaluation.scoring import RETRIEVAL_K, Scores, compare_sets, label_summary, score_sets
from museed.rundir import read_curves, read_summary

__all__ = ["EvaluationConfig", "EvaluationError", "EvaluationResult", "cli_command", "run_evaluation"]

REPORT_MD: Final = "report.md"
METRICS_JSON: Final = "metrics.json"
TSNE_PNG: Final = "tsne_genre.png"
PER_GENRE_PNG: Final = "per_genre_knn.png"
K_OCCURRENCE_PNG: Final = "k_occurrence.png"
TRAINING_PNG: Final = "training_curves.png"


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


# ------------------------------------------------------------------------------------------------ sections


def json_ready(value: Any) -> Any:
    """numpy scalars -> Python, NaN/inf -> None, Paths -> str, recursively."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    return value


def training_section(run_dir: Path, out: Path) -> dict[str, Any]:
    """Loss per step and validation metrics per epoch from a `museed train` run directory (+ a figure)."""
    import pandas as pd

    check_training_run(run_dir)
    steps, val = read_curves(run_dir)
    figure = figures.training_curves(steps, val, out / TRAINING_PNG)
    summary = read_summary(run_dir)
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


def caveats(
    sets: list[EvaluatedSet], label_sets: dict[str, LabelSet], taggers: list[str], has_truth: bool, held_split: str
) -> list[str]:
    """What the figures cannot say: circular mood labels, in-sample fine-tuning, random encoders, small genres."""
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


@dataclass
class Sections:
    """What the report is computed from, beyond its inputs and labels (in the order `run_evaluation` makes it)."""

    held_out: np.ndarray  # bool per track: outside the triplets' training split
    split_source: str
    scores: Scores
    comparisons: list[dict[str, Any]]
    case_studies: dict[str, Any]
    figures: dict[str, Path]
    tsne_points: int
    training: dict[str, Any] | None


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
    cfg = config or EvaluationConfig()
    say = log or (lambda _msg: None)
    started = time.perf_counter()
    check_request(cfg, tags, fma, train_run)
    inputs = load_inputs(embeddings, compare, tags, fma)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    say(f"{len(inputs.ids)} tracks, vector sets: {', '.join(s.name for s in inputs.sets)}")
    if cfg.baseline == "mfcc":
        inputs.sets.append(mfcc_set(inputs, out, cfg, settings, say, progress))
    labels = build_label_sets(inputs, fma, say)
    held_out, split_source = held_out_mask(inputs)
    scores = score_sets(inputs.sets, labels.sets, inputs.ids, inputs.artists, inputs.genre_values, held_out, cfg, say)
    comparisons = compare_sets(inputs.sets, labels.sets, scores, cfg)
    say("case studies, t-SNE and figures")
    cases = case_studies(
        inputs.sets, scores.full, inputs.ids, labels.sets["genre"], inputs.catalog, inputs.tags, inputs.artists
    )
    figure_files, tsne_points = draw_figures(inputs, labels, scores, cfg, out)
    training = training_section(Path(train_run), out) if train_run is not None else None
    if training is not None:
        figure_files["training"] = out / training["figure"]
    sections = Sections(held_out, split_source, scores, comparisons, cases, figure_files, tsne_points, training)
    request = {"fma": fma, "tags": tags, "train_run": train_run}
    metrics = assemble_metrics(cfg, command, request, inputs, labels, sections)
    if len(inputs.ids) > RETRIEVAL_K:
        say("hubness and diversity before and after the hubness correction (CSLS)")
        metrics["hubness_correction"] = {
            s.name: hubness_and_diversity(s.vectors, RETRIEVAL_K, scores.full[s.name].index[:, :RETRIEVAL_K]).as_dict()
            for s in inputs.sets
        }
    return write_report(out, metrics, list(sections.figures.values()), started)


def assemble_metrics(
    cfg: EvaluationConfig,
    command: str | None,
    request: dict[str, Path | None],
    inputs: Inputs,
    labels: Labels,
    sections: Sections,
) -> dict[str, Any]:
    """The metrics.json content (before `json_ready`), in its fixed key order; `request`: fma, tags, train_run."""
    return {
        "schema_version": 1,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "config": {**asdict(cfg), "retrieval_k": RETRIEVAL_K},
        "inputs": {
            "fma": str(request["fma"]),
            "tags": str(request["tags"]),
            "taggers": labels.taggers,
            "train_run": str(request["train_run"]) if request["train_run"] else None,
            "ground_truth": str(labels.truth_file) if labels.truth_file is not None else None,
        },
        "tracks": {
            "evaluated": len(inputs.ids),
            "artists": len(np.unique(inputs.artists)),
            "held_out": int(sections.held_out.sum()),
            "split_source": sections.split_source,
            "tsne_points": sections.tsne_points,
        },
        "vector_sets": [vector_set_entry(s) for s in inputs.sets],
        "label_sets": {key: label_summary(ls) for key, ls in labels.sets.items()},
        "ground_truth_notes": labels.truth_notes,
        "results": sections.scores.results,
        "comparisons": sections.comparisons,
        "case_studies": sections.case_studies,
        "training": sections.training,
        "figures": {k: v.name for k, v in sections.figures.items()},
        "caveats": caveats(
            inputs.sets, labels.sets, labels.taggers, labels.truth_file is not None, sections.split_source
        ),
    }


def draw_figures(
    inputs: Inputs, labels: Labels, scores: Scores, cfg: EvaluationConfig, out: Path
) -> tuple[dict[str, Path], int]:
    """t-SNE maps (of a seeded sample of at most `tsne_points` tracks), per-genre bars, k-occurrence histograms.

    Returns the figure files by key and the number of t-SNE points.
    """
    ids, genre_values = inputs.ids, inputs.genre_values
    by_size = list(label_summary(labels.sets["genre"])["classes"])
    rng = np.random.default_rng(cfg.seed)
    tsne_rows = np.sort(rng.choice(len(ids), min(len(ids), cfg.tsne_points), replace=False))
    figure_files = {
        "tsne": figures.tsne_maps(
            {s.name: s.vectors[tsne_rows] for s in inputs.sets},
            [genre_values[i] for i in tsne_rows],
            by_size,
            out / TSNE_PNG,
            seed=cfg.seed,
        ),
        "per_genre": figures.per_genre_bars(scores.per_genre, out / PER_GENRE_PNG),
        "k_occurrence": figures.k_occurrence_histograms(scores.occurrences, RETRIEVAL_K, out / K_OCCURRENCE_PNG),
    }
    return figure_files, len(tsne_rows)


def vector_set_entry(s: EvaluatedSet) -> dict[str, Any]:
    """A vector set as metrics.json lists it."""
    return {
        "name": s.name,
        "path": str(s.path),
        "role": s.role,
        "vector_set_id": s.manifest.vector_set_id,
        "encoder_id": s.manifest.encoder_id,
        "dim": s.manifest.dim,
        "note": encoder_note(s.manifest),
        "random_init": is_random_init(s.manifest),
    }


def write_report(out: Path, metrics: dict[str, Any], figure_files: list[Path], started: float) -> EvaluationResult:
    """metrics.json (JSON-ready: NaN as null) and report.md rendered from it."""
    metrics = json_ready(metrics)
    metrics_file = out / METRICS_JSON
    metrics_file.write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")
    report = out / REPORT_MD
    report.write_text(render_markdown(metrics), encoding="utf-8")
    return EvaluationResult(
        out=out,
        report=report,
        metrics_file=metrics_file,
        metrics=metrics,
        figures=figure_files,
        wall_seconds=time.perf_counter() - started,
    )


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
