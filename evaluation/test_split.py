"""Scoring on the artist-disjoint test split alone, with paired bootstrap intervals between vector sets.

`museed evaluate` scores every track as a query among all tracks and reports the held-out queries as a slice;
here the population itself is the test split (`museed.splits`, the rule `museed triplets` draws its triplets
by), so neither the queries nor their neighbours were ever seen in training. The k-NN, precision and paired
difference arithmetic is `evaluation.scoring`'s.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from evaluation.inputs import GROUND_TRUTH_FILE, EvaluatedSet, EvaluationConfig, EvaluationError, Inputs, LabelSet
from evaluation.metrics import encode_labels
from evaluation.scoring import NeighbourCache, PerQuery, difference, evaluate_label_set
from museed.splits import split_of, track_table


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
