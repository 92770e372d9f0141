"""MuQ-MuLan zero-shot tagging (`tag_from_embeddings`, tagger "mulan-zeroshot-v1", the seed's
`analyze_from_embeddings.py`).

The stored MuLan-space audio vectors are scored against text prompts (`tagging.prompts`) embedded once with the
MuQ-MuLan text tower. Each label has several prompts whose L2-normalised text vectors are averaged and re-normalised
(prompt ensembling: one phrasing's quirks do not decide a label). Scores are cosine similarities. Calibration: each
label's scores are z-scored over the library before the argmax. Raw zero-shot cosines carry a per-label offset (a
prompt that is close to *all* music, e.g. "electronic" for any synthesiser-heavy library, wins for every track), so
the raw argmax lets one label swallow an axis; after z-scoring, a label wins where a track is unusually close to it
*relative to the library*, which balances the labels without fitting anything to ground truth. The margin is best
minus runner-up in those z units; below `MULAN_LOW_CONFIDENCE` (0.25 library standard deviations) the axis is listed
in `low_confidence`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Final, Protocol

import numpy as np

from embedding.pooling import l2_normalise
from museed.tags import TrackTags
from museed.vocab import AXES
from tagging.base import TaggingError, argmax_margin, calibrate_scores, catalog_genres, records
from tagging.prompts import PROMPTS, all_prompt_texts

if TYPE_CHECKING:
    from museed.catalog import Catalog
    from museed.vectorset import VectorSet

MULAN_TAGGER: Final = "mulan-zeroshot-v1"
MULAN_LOW_CONFIDENCE: Final = 0.25  # z units: a quarter of the library's spread between best and runner-up


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
    audio = l2_normalise(np.asarray(mulan_vectors.vectors, dtype=np.float64), dtype=np.float64)
    labels = label_text_vectors(text_encoder)
    chosen: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for axis, vocab in AXES.items():
        cosine = audio @ labels[axis].T  # (n_tracks, n_labels)
        best, margin = argmax_margin(calibrate_scores(cosine))
        chosen[axis] = (np.asarray([vocab[i] for i in best]), margin)
    genres = catalog_genres(catalog) if catalog is not None else {}
    return records(mulan_vectors.track_ids, chosen, genres, MULAN_TAGGER, low_confidence)
