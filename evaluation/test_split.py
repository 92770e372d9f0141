"""Scoring on the artist-disjoint test split alone, with paired bootstrap intervals between vector sets.

`museed evaluate` scores every track as a query among all tracks and reports the held-out queries as a slice;
here the population itself is the test split (`museed.splits`, the rule `museed triplets` draws its triplets
by), so neither the queries nor their neighbours were ever seen in training. The k-NN, precision and paired
difference arithmetic is `evaluation.scoring`'s.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Final

import numpy as np

from evaluation.inputs import GROUND_TRUTH_FILE, EvaluatedSet, EvaluationConfig, EvaluationError, Inputs, LabelSet
from evaluation.metrics import encode_labels
from evaluation.report import REPORT_MD
from evaluation.scoring import NeighbourCache, PerQuery, difference, evaluate_label_set
from museed.splits import split_of, track_table

#: the figure that decides which vector set is served: genre k-NN accuracy among other artists' tracks
SERVING_HEADLINE: Final = ("genre", "knn_accuracy_other_artists")
SERVED_SET_JSON: Final = "served_set.json"


def split_mask(inputs: Inputs, split: str = "test") -> np.ndarray:
    """Bool per evaluated track: in `split` of the artist-disjoint splits."""
    table, _ = track_table(inputs.catalog.tracks, inputs.tags)
    of = split_of(table)
    mask = np.asarray([of.get(int(t)) == split for t in inputs.ids])
    if mask.sum() < 2:
        raise EvaluationError(f"fewer than 2 evaluated tracks are in the {split} split")
    return mask


def truth_label_sets(inputs: Inputs, fma: Path) -> dict[str, LabelSet]:
    """Genre (the catalog's genre_top) and, on the synthetic corpus, the ground-truth mood_style."""
    from museed.tags import ground_truth_tags

    codes, names = encode_labels(inputs.genre_values)
    sets = {"genre": LabelSet("genre", "genre", "FMA genre_top (catalog)", codes, names)}
    truth_file = Path(fma) / GROUND_TRUTH_FILE
    if truth_file.is_file():
        truth = ground_truth_tags(truth_file)
        codes, names = encode_labels([truth[int(t)].mood_style if int(t) in truth else None for t in inputs.ids])
        sets["mood_style_truth"] = LabelSet(
            "mood_style_truth", "mood_style (ground truth)", GROUND_TRUTH_FILE, codes, names
        )
    return sets


def score_split(
    sets: list[EvaluatedSet], label_sets: dict[str, LabelSet], inputs: Inputs, mask: np.ndarray, cfg: EvaluationConfig
) -> tuple[dict[str, dict[str, Any]], dict[tuple[str, str], PerQuery]]:
    """Every metric of every set with the population cut to `mask`: (results by set and label, per-query values)."""
    results: dict[str, dict[str, Any]] = {}
    per_query: dict[tuple[str, str], PerQuery] = {}
    inside = {key: replace(ls, codes=np.where(mask, ls.codes, -1)) for key, ls in label_sets.items()}
    for s in sets:
        cache: NeighbourCache = {}
        results[s.name] = {}
        for key, ls in inside.items():
            result, pq, _ = evaluate_label_set(s.vectors, inputs.artists, mask, ls, cfg, cache)
            results[s.name][key] = result
            per_query[(s.name, key)] = pq
    return results, per_query


def paired(
    per_query: dict[tuple[str, str], PerQuery],
    reference: str,
    other: str,
    label: str,
    metric: str,
    cfg: EvaluationConfig,
) -> dict[str, Any]:
    """`other` minus `reference` on the same queries: mean, percentile bootstrap interval, whether it excludes 0."""
    a, b = per_query[(reference, label)], per_query[(other, label)]
    diff: np.ndarray = getattr(b, metric) - getattr(a, metric)
    return difference(diff, cfg)


@dataclass
class ServedChoice:
    """Which of an un-tuned and a fine-tuned vector set to serve, decided on the held-out test split."""

    served: str  # "untuned" or "finetuned"
    path: Path  # the chosen vector set
    reason: str
    split: str
    test_tracks: int
    label: str
    metric: str
    untuned: dict[str, Any]  # {value, ci, n} on the test split
    finetuned: dict[str, Any]
    finetuned_minus_untuned: dict[str, Any]  # paired difference {diff, ci, excludes_zero, n}
    others: dict[str, dict[str, Any]]  # the other label sets' paired differences, for the record

    def summary_lines(self) -> list[str]:
        """What was chosen and why, for the demo and the report."""
        lines = [f"served vector set: {self.served} ({self.path}): {self.reason}"]
        for label, d in self.others.items():
            lines.append(
                f"  for the record, {label} k-NN (other artists), fine-tuned minus un-tuned: "
                f"{100 * d['diff']:+.1f} pp [{100 * d['ci'][0]:+.1f}, {100 * d['ci'][1]:+.1f}]"
            )
        return lines

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (the path as a string)."""
        return {**asdict(self), "path": str(self.path)}


def serving_decision(diff: dict[str, Any]) -> tuple[str, str]:
    """("finetuned" | "untuned", why) from a paired fine-tuned minus un-tuned difference (`paired`'s dict): the
    fine-tuned set only when the whole interval lies above zero."""
    low, high = diff["ci"]
    if low > 0:
        return "finetuned", "fine-tuning measurably helps"
    if high < 0:
        return "untuned", "fine-tuning measurably hurts"
    return "untuned", "no measurable gain from fine-tuning (the interval includes 0)"


def choose_served_set(
    untuned: Path, finetuned: Path, tags: Path, fma: Path, cfg: EvaluationConfig | None = None, split: str = "test"
) -> ServedChoice:
    """Serve the fine-tuned set only when it measurably beats the un-tuned one on the held-out `split`.

    The headline (`SERVING_HEADLINE`: genre k-NN accuracy among other artists' tracks) is scored with the
    population cut to `split` (artists the training never saw), and the fine-tuned set wins only when the
    paired bootstrap interval of fine-tuned minus un-tuned lies above zero; otherwise (worse, or no
    measurable gain) the un-tuned set is served.
    """
    from evaluation.inputs import load_inputs

    cfg = cfg or EvaluationConfig()
    inputs = load_inputs(untuned, [finetuned], tags, fma)
    names = ("untuned", "finetuned")
    for s, name in zip(inputs.sets, names, strict=True):
        s.name = name  # load_sets names by directory; the two may share a name
    labels = truth_label_sets(inputs, fma)
    label, metric = SERVING_HEADLINE
    try:
        mask = split_mask(inputs, split)
    except EvaluationError as error:  # a corpus too small to hold a test split: nothing to judge by
        nothing = {"value": float("nan"), "ci": [float("nan"), float("nan")], "n": 0}
        return ServedChoice(
            served="untuned",
            path=Path(untuned),
            reason=f"no measurable gain from fine-tuning: cannot be judged ({error})",
            split=split,
            test_tracks=0,
            label=label,
            metric=metric,
            untuned=nothing,
            finetuned=nothing,
            finetuned_minus_untuned={
                "diff": float("nan"),
                "ci": [float("nan"), float("nan")],
                "excludes_zero": False,
                "n": 0,
            },
            others={},
        )
    results, per_query = score_split(inputs.sets, labels, inputs, mask, cfg)
    diff = paired(per_query, "untuned", "finetuned", label, metric, cfg)
    base, tuned = results["untuned"][label][metric], results["finetuned"][label][metric]
    figures = (
        f"{label} k-NN accuracy among other artists on the {split} split ({int(mask.sum())} tracks): un-tuned "
        f"{100 * base['value']:.1f} %, fine-tuned {100 * tuned['value']:.1f} %, difference "
        f"{100 * diff['diff']:+.1f} pp [{100 * diff['ci'][0]:+.1f}, {100 * diff['ci'][1]:+.1f}]"
    )
    served, why = serving_decision(diff)
    path = Path(finetuned) if served == "finetuned" else Path(untuned)
    others = {key: paired(per_query, "untuned", "finetuned", key, metric, cfg) for key in labels if key != label}
    return ServedChoice(
        served=served,
        path=path,
        reason=f"{why}; {figures}",
        split=split,
        test_tracks=int(mask.sum()),
        label=label,
        metric=metric,
        untuned=base,
        finetuned=tuned,
        finetuned_minus_untuned=diff,
        others=others,
    )


def write_choice(report_dir: Path, choice: ServedChoice) -> Path:
    """`served_set.json` in the report directory, and a "Served vector set" section appended to its report.md."""
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    out = report_dir / SERVED_SET_JSON
    out.write_text(json.dumps(choice.to_json(), indent=2, default=float) + "\n")
    report = report_dir / REPORT_MD
    if report.is_file():
        section = "\n## Served vector set\n\n" + "\n".join(f"- {line.strip()}" for line in choice.summary_lines())
        report.write_text(report.read_text().rstrip("\n") + "\n" + section + "\n")
    return out
