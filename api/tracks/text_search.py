"""Text to tracks: a prompt ("calm acoustic guitar at night") through the MuQ-MuLan text tower, scored against the
library's MuLan audio vectors (the vector set `museed embed --encoder mulan` writes, the one MuLan tagging reads).

Loaded once per process (`load_text_search`, in the app's lifespan) from `MUSEED_TEXT_SEARCH_VECTORS`: the vector
set, then the MuQ-MuLan its manifest names (`embedding.mulan.load_mulan`, local files only), so the text tower is
the one that made the audio vectors. Where either is missing the state says why, and the routes answer 501
`text_search_unavailable` with that reason: there is no fallback that would pretend to understand text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Protocol

import numpy as np
import structlog
from fastapi import Depends, Request

from api.errors import MuseedError
from museed.settings import Settings

log = structlog.get_logger("museed.text_search")
#: the longest prompt embedded (characters): MuLan's text tower reads at most a few dozen tokens anyway
MAX_PROMPT_CHARS = 300


class TextSearchUnavailable(MuseedError):
    """This deployment has no MuQ-MuLan text tower or no MuLan audio vectors: not the request's fault (so not a
    4xx), not temporary (so not 503 + Retry-After) and not a bug (so not 500), but a capability the server lacks
    until an operator adds it: 501, the missing piece named in `detail`."""

    status, title, type_slug = 501, "Text search unavailable", "text_search_unavailable"


class TextTower(Protocol):
    """What text search needs of an encoder: texts -> L2-normalised vectors in the audio vectors' space."""

    encoder_id: str
    dim: int

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) L2-normalised text vectors."""
        ...


@dataclass(frozen=True)
class TextIndex:
    """The library's MuLan audio vectors (unit rows) and the text tower of the MuQ-MuLan that made them."""

    tower: TextTower
    track_ids: np.ndarray
    vectors: np.ndarray
    vector_set_id: str

    def search(self, prompt: str, k: int, exclude: Sequence[int] = ()) -> list[tuple[int, float]]:
        """The `k` tracks whose audio vectors are nearest the prompt's text vector: (track id, cosine), best first."""
        query = np.asarray(self.tower.embed_texts([prompt]), dtype=np.float32).ravel()
        scores = self.vectors @ query
        if exclude:
            scores = np.where(np.isin(self.track_ids, np.asarray(list(exclude))), -np.inf, scores)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(self.track_ids[i]), float(scores[i])) for i in top if np.isfinite(scores[i])]


@dataclass(frozen=True)
class TextSearchState:
    """Whether this process can search by text, and why not when it cannot."""

    index: TextIndex | None
    reason: str = ""

    @property
    def available(self) -> bool:
        """True when a text tower and MuLan audio vectors are loaded."""
        return self.index is not None

    def describe(self) -> dict[str, Any]:
        """What /readyz and /v1/meta say about text search."""
        if self.index is None:
            return {"available": False, "reason": self.reason}
        return {
            "available": True,
            "encoder_id": self.index.tower.encoder_id,
            "vector_set_id": self.index.vector_set_id,
            "tracks": len(self.index.track_ids),
        }

    def require(self) -> TextIndex:
        """The loaded index, or 501 `text_search_unavailable` naming what is missing."""
        if self.index is None:
            raise TextSearchUnavailable(
                f"text search is not available on this server: {self.reason}", reason="text_search_unavailable"
            )
        return self.index


def _require_mulan_space(manifest: Any) -> None:
    """ValueError unless the vector set was made by a MuQ-MuLan audio tower (the space its text tower shares)."""
    encoder = manifest.encoder if isinstance(manifest.encoder, dict) else {}
    if encoder.get("space") != "mulan" and not str(manifest.encoder_id).startswith(("mulan:", "mulan-")):
        raise ValueError(
            f"vector set {manifest.vector_set_id} was made by {manifest.encoder_id}, not a MuQ-MuLan audio tower: "
            "text prompts can only be scored against MuLan-space vectors"
        )


def text_index_from(vector_set: Any, tower: TextTower) -> TextIndex:
    """A text index over a loaded MuLan vector set (`museed.vectorset.VectorSet`) and a text tower of its space;
    ValueError when the vectors are not MuLan-space or the dimensions differ."""
    manifest = vector_set.manifest
    _require_mulan_space(manifest)
    if int(manifest.dim) != int(tower.dim):
        raise ValueError(f"the audio vectors have dim {manifest.dim} but the text tower gives {tower.dim}")
    if len(vector_set.track_ids) == 0:
        raise ValueError(f"vector set {manifest.vector_set_id} is empty")
    vectors = np.asarray(vector_set.vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 1e-8)
    return TextIndex(tower, np.asarray(vector_set.track_ids, dtype=np.int64), vectors, str(manifest.vector_set_id))


def load_text_search(settings: Settings) -> TextSearchState:
    """The process's text search: the MuLan vector set at `settings.text_search_vectors` and the MuQ-MuLan its
    manifest names. Never raises: a missing piece becomes the state's reason."""
    path: Path | None = settings.text_search_vectors
    if path is None:
        return TextSearchState(
            None,
            "no MuLan audio vector set is configured (set MUSEED_TEXT_SEARCH_VECTORS to a vector set embedded with "
            "`museed embed --encoder mulan`; the MuQ-MuLan weights it names must be in the local Hugging Face cache)",
        )
    from museed.vectorset import load_vector_set

    try:
        vector_set = load_vector_set(path)
    except Exception as exc:
        return TextSearchState(None, f"the MuLan vector set {path} cannot be read: {exc}")
    try:
        _require_mulan_space(vector_set.manifest)  # before loading any weights: they would be the wrong ones
    except ValueError as exc:
        return TextSearchState(None, str(exc))
    encoder = vector_set.manifest.encoder if isinstance(vector_set.manifest.encoder, dict) else {}
    source = encoder.get("source")
    if not source:
        return TextSearchState(None, f"{path}: the manifest does not say which MuQ-MuLan made the vectors")
    try:
        from embedding.mulan import load_mulan  # torch and muq only where text search is configured

        tower: TextTower = load_mulan(f"mulan:{source}")
    except Exception as exc:  # EncoderNotCachedError (no weights here), a broken directory, no muq package
        return TextSearchState(None, f"the MuQ-MuLan weights {source!r} cannot be loaded: {exc}")
    try:
        index = text_index_from(vector_set, tower)
    except ValueError as exc:
        return TextSearchState(None, str(exc))
    log.info(
        "text search loaded", encoder=tower.encoder_id, vector_set=index.vector_set_id, tracks=len(index.track_ids)
    )
    return TextSearchState(index)


async def get_text_search(request: Request) -> TextSearchState:
    """The app's text search state (made at start-up)."""
    state: TextSearchState | None = getattr(request.app.state, "text_search", None)
    return state or TextSearchState(None, "text search was not loaded in this process")


TextSearchDep = Annotated[TextSearchState, Depends(get_text_search)]
