"""What both taggers share: the error, the per-label calibration, argmax with margin, and the `TrackTags` records.

`genre` always comes from the catalog metadata (`catalog_genres`), whichever tagger decides the other axes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from museed.errors import PipelineError
from museed.tags import TrackTags
from museed.vocab import AXES

if TYPE_CHECKING:
    from museed.catalog import Catalog

Progress = Callable[[int, int], None] | None


class TaggingError(PipelineError):
    """Tagging cannot run: wrong vector space, no tagger available, or nothing to tag."""


def calibrate_scores(scores: np.ndarray) -> np.ndarray:
    """Z-score each label's column over the library, so a label with a high raw offset cannot take every track.

    With fewer than 2 tracks there is no library statistic, and the raw scores are returned unchanged.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or len(scores) < 2:
        return scores
    std = scores.std(axis=0)
    calibrated: np.ndarray = (scores - scores.mean(axis=0)) / np.where(std > 1e-12, std, 1.0)
    return calibrated


def argmax_margin(calibrated: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the best column and its margin over the runner-up (in the units of `calibrated`)."""
    order = np.argsort(-calibrated, axis=1)
    best = order[:, 0]
    rows = np.arange(len(calibrated))
    margin = calibrated[rows, best] - calibrated[rows, order[:, 1]]
    return best, margin


def catalog_genres(catalog: Catalog) -> dict[int, str | None]:
    """Track id -> top-level genre from the catalog metadata (None when FMA leaves genre_top empty)."""
    t = catalog.tracks
    return {int(tid): g if isinstance(g, str) and g else None for tid, g in zip(t.index, t["genre_top"], strict=True)}


def records(
    track_ids: Sequence[int] | np.ndarray,
    chosen: Mapping[str, tuple[np.ndarray, np.ndarray]],
    genres: Mapping[int, str | None],
    tagger: str,
    low_confidence: float,
) -> list[TrackTags]:
    """One validated `TrackTags` per track from the per-axis (labels, margins) of a tagger."""
    out = []
    for i, tid in enumerate(track_ids):
        margins = {axis: float(chosen[axis][1][i]) for axis in AXES}
        out.append(
            TrackTags.from_labels(
                track_id=int(tid),
                tagger=tagger,
                genre=genres.get(int(tid)),
                labels={axis: str(chosen[axis][0][i]) for axis in AXES},
                margins=margins,
                low_confidence=tuple(a for a in AXES if margins[a] < low_confidence),
            ).validate()
        )
    return out
