"""The MuQ backend: `MuQEncoder`, one hidden layer of a `muq.MuQ` mean-pooled over time, optional projection head.

Every encoder maps 24 kHz mono clips to one vector per clip (mean over time of one MuQ hidden layer) and one
L2-normalised vector per track (mean of its clip vectors, `embedding.pooling`). `describe()` records everything
needed to reproduce the vectors, and `config_hash` changes whenever the weights, layer, pooling or head change,
so a vector set written by another encoder is detected as stale.

Layer choice. MuQ returns 13 hidden states for the published 12-layer model (index 0 = conformer input,
12 = last layer). Probing studies of self-supervised music encoders (MERT, MuQ and the MARBLE benchmark) find
genre, mood and tagging information peaking in the upper-middle layers, while the last layers specialise in
the pre-training target (predicting Mel-RVQ tokens of masked frames). MUSEED therefore uses layer 10 of a
12-layer MuQ; a model of any other depth (the small random one, which has no pre-training target to
specialise in) uses its last layer.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from embedding.base import EncoderError, library_versions, state_dict_digest
from embedding.pooling import mean_over_time, pool_tracks

if TYPE_CHECKING:
    from muq import MuQ

MUQ_SAMPLE_RATE = 24_000  # MuQ's mel front end is built for 24 kHz
PRETRAINED_LAYER = 10  # see the module docstring
PRETRAINED_DEPTH = 12
POOLING = "mean"
#: the terms of MuQ's published weights (OpenMuQ model cards), recorded with every vector set they make
MUQ_WEIGHTS_LICENCE = "MuQ weights: CC BY-NC 4.0 (OpenMuQ model card); MuQ code: MIT"
RANDOM_WEIGHTS_LICENCE = "randomly initialised from a seed: no pretrained weights, no licence terms"
MIN_SEGMENT_SAMPLES = 2048  # MuQ's STFT (n_fft 2048, reflect padding) needs at least this much audio


class MuQEncoder:
    """An `Encoder` around a `muq.MuQ` module: mean over time of one hidden layer, optional projection head.

    The model is kept in eval mode for embedding (BatchNorm uses its running statistics) and runs under
    `torch.inference_mode()`: float32 on CPU, optionally float16/bfloat16 autocast on CUDA. Torch thread
    counts are left to the caller. On CPU the same input always gives bit-identical output.
    """

    pooling = POOLING

    def __init__(
        self,
        model: MuQ,
        *,
        source: str,
        layer: int | None = None,
        device: str | None = None,
        dtype: torch.dtype | None = None,
        batch_size: int = 8,
        kind: str = "muq",
        weights_fingerprint: str | None = None,
        head: nn.Module | None = None,
        head_spec: Mapping[str, Any] | None = None,
        label: str | None = None,
        provenance: Mapping[str, Any] | None = None,
        weights_licence: str | None = None,
    ) -> None:
        check_encoder_args(batch_size, head, head_spec)
        self.model = model
        self.kind = kind
        self.source = source
        self.batch_size = batch_size
        self.sample_rate = MUQ_SAMPLE_RATE
        self.muq_config = muq_config_dict(model)
        depth = int(self.muq_config["encoder_depth"])
        self.n_hidden_states = depth + 1
        self.layer = default_layer(depth) if layer is None else int(layer)
        if not 0 <= self.layer <= depth:
            raise EncoderError(f"layer {self.layer} does not exist: this MuQ has hidden states 0..{depth}")
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.dtype = dtype or torch.float32
        if self.dtype not in (torch.float32, torch.float16, torch.bfloat16):
            raise EncoderError(f"unsupported dtype {self.dtype}; use float32, float16 or bfloat16")
        if self.dtype != torch.float32 and self.device.type != "cuda":
            raise EncoderError("half-precision autocast is only used on CUDA; CPU embedding runs in float32")
        self.head = head
        self.head_spec = dict(head_spec) if head_spec is not None else None
        self.dim = int(self.head_spec["out_dim"]) if self.head_spec else int(self.muq_config["encoder_dim"])
        self.weights_fingerprint = weights_fingerprint or f"sha256:{state_dict_digest(model)}"
        self.provenance = dict(provenance or {})
        self.weights_licence = weights_licence or (
            RANDOM_WEIGHTS_LICENCE if kind.endswith("-random") else MUQ_WEIGHTS_LICENCE
        )
        self.place_on_device()
        self.config_hash = _config_hash(
            kind=kind,
            muq_config=self.muq_config,
            layer=self.layer,
            pooling=self.pooling,
            head=self.head_spec,
            weights=self.weights_fingerprint,
        )
        label = label or source
        self.encoder_id = (
            f"muq:{source}:L{self.layer}-{self.pooling}"
            if kind == "muq"
            else f"{kind}:{label}:L{self.layer}-{self.pooling}:{self.config_hash[:8]}"
        )

    def place_on_device(self) -> None:
        """The backbone (and head) on `self.device`, in eval mode."""
        self.model.to(self.device).eval()
        if self.head is not None:
            self.head.to(self.device).eval()

    def __repr__(self) -> str:
        return f"MuQEncoder({self.encoder_id!r}, dim={self.dim}, device={self.device})"

    def describe(self) -> dict[str, Any]:
        """Everything needed to reproduce this encoder's vectors (JSON-serialisable)."""
        return {
            "encoder_id": self.encoder_id,
            "kind": self.kind,
            "source": self.source,
            "sample_rate": self.sample_rate,
            "dim": self.dim,
            "layer": self.layer,
            "n_hidden_states": self.n_hidden_states,
            "pooling": self.pooling,
            "normalise": "segment vectors averaged per track, then L2-normalised (embed_tracks only)",
            "head": self.head_spec,
            "muq_config": self.muq_config,
            "dtype": str(self.dtype).removeprefix("torch."),
            "device": str(self.device),
            "batch_size": self.batch_size,
            "weights_fingerprint": self.weights_fingerprint,
            "weights_licence": self.weights_licence,
            "config_hash": self.config_hash,
            "provenance": self.provenance,
            "versions": library_versions(),
        }

    @property
    def backbone_dim(self) -> int:
        """Width of the pooled hidden layer (the input of a projection head)."""
        return int(self.muq_config["encoder_dim"])

    def checkpoint_fields(self) -> dict[str, Any]:
        """What a MUSEED checkpoint records to rebuild this backbone (`embedding.checkpoint`)."""
        return {"backbone": "muq", "muq_config": self.muq_config}

    def with_head(self, head: nn.Module, head_spec: Mapping[str, Any], provenance: Mapping[str, Any]) -> MuQEncoder:
        """This backbone (shared, not copied) with a new projection head: the encoder training starts from."""
        return type(self)(
            self.model,
            source=self.source,
            layer=self.layer,
            device=str(self.device),
            batch_size=self.batch_size,
            kind=self.kind,
            weights_fingerprint=self.weights_fingerprint,  # the checkpoint's `base` records where training started
            head=head,
            head_spec=head_spec,
            label=self.encoder_id.removeprefix(f"{self.kind}:"),  # the kind prefixes the new id once
            provenance=provenance,
            weights_licence=self.weights_licence,
        )

    def backbone_modules(self, unfreeze: str) -> list[nn.Module]:
        """The backbone modules the unfreeze policy trains: `head` none, `top:K` the K conformer layers below
        the pooled layer (plus the final layer norm when the last layer is pooled), `all` front end and conformer."""
        inner = self.model.model
        if unfreeze == "all":
            return [inner.conv, inner.conformer]
        if unfreeze.startswith("top:"):
            k = int(unfreeze[4:])
            modules: list[nn.Module] = list(inner.conformer.layers[max(0, self.layer - k) : self.layer])
            if self.layer == len(inner.conformer.layers):  # the last hidden state includes the final norm
                modules.append(inner.conformer.layer_norm)
            return modules
        return []

    def pooled(self, waveforms: torch.Tensor) -> torch.Tensor:
        """(batch, samples) waveforms -> (batch, dim) pooled vectors, differentiable (for training).

        Runs in whatever mode the modules are in; a fine-tuning loop should keep MuQ's BatchNorm layers in
        eval mode on small triplet batches.
        """
        out = self.model(waveforms, output_hidden_states=True)
        vectors = mean_over_time(out.hidden_states[self.layer])
        return self.head(vectors) if self.head is not None else vectors

    def embed_segments(self, segments: np.ndarray) -> np.ndarray:
        """(n, samples) float32 clips at 24 kHz -> (n, dim) float32 vectors, in chunks of `batch_size`."""
        batch = _check_segments(segments)
        if len(batch) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = []
        with self._eval_mode(), torch.inference_mode(), self._autocast():
            for start in range(0, len(batch), self.batch_size):
                chunk = torch.from_numpy(batch[start : start + self.batch_size]).to(self.device)
                parts.append(self.pooled(chunk).float().cpu().numpy())
        return np.concatenate(parts).astype(np.float32, copy=False)

    def embed_tracks(self, tracks: Sequence[np.ndarray]) -> np.ndarray:
        """Clip arrays per track -> (len(tracks), dim) L2-normalised track vectors.

        All clips of all tracks go through the model together (in `batch_size` chunks); each track's clip
        vectors are then averaged and the mean is L2-normalised.
        """
        if len(tracks) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        arrays = [_check_segments(t) for t in tracks]
        for i, arr in enumerate(arrays):
            if len(arr) == 0:
                raise EncoderError(f"track {i} has no segments")
        clip_vectors: list[np.ndarray | None] = [None] * len(arrays)
        # clips of equal length are batched together; load_segments always yields one length
        by_length: dict[int, list[int]] = {}
        for i, arr in enumerate(arrays):
            by_length.setdefault(arr.shape[1], []).append(i)
        for indices in by_length.values():
            vectors = self.embed_segments(np.concatenate([arrays[i] for i in indices]))
            offset = 0
            for i in indices:
                n = len(arrays[i])
                clip_vectors[i] = vectors[offset : offset + n]
                offset += n
        return pool_tracks(clip_vectors, self.dim)

    @contextlib.contextmanager
    def _eval_mode(self) -> Iterator[None]:
        # a training loop may hand over a model in train mode; embedding always uses eval behaviour
        modules = [m for m in (self.model, self.head) if m is not None]
        was_training = [m.training for m in modules]
        for m in modules:
            m.eval()
        try:
            yield
        finally:
            for m, mode in zip(modules, was_training, strict=True):
                m.train(mode)

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.device.type == "cuda" and self.dtype != torch.float32:
            return torch.autocast(device_type="cuda", dtype=self.dtype)
        return contextlib.nullcontext()


def check_encoder_args(batch_size: int, head: nn.Module | None, head_spec: Mapping[str, Any] | None) -> None:
    """What every encoder backend refuses at construction: an empty batch, a head without its spec (or the
    reverse)."""
    if batch_size < 1:
        raise EncoderError("batch_size must be >= 1")
    if (head is None) != (head_spec is None):
        raise EncoderError("a projection head needs both the module and its spec")


def _check_segments(segments: np.ndarray) -> np.ndarray:
    arr = np.asarray(segments)
    if arr.ndim != 2:
        raise EncoderError(f"segments must be a 2-D (n_segments, samples) array, got shape {arr.shape}")
    if len(arr) and arr.shape[1] < MIN_SEGMENT_SAMPLES:
        raise EncoderError(f"segments of {arr.shape[1]} samples are too short (>= {MIN_SEGMENT_SAMPLES} needed)")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        raise EncoderError("segments contain NaN or infinite values")
    return arr


def default_layer(encoder_depth: int) -> int:
    """Layer 10 for the published 12-layer MuQ, else the last layer (see the module docstring)."""
    return PRETRAINED_LAYER if encoder_depth == PRETRAINED_DEPTH else encoder_depth


def muq_config_dict(model: MuQ) -> dict[str, Any]:
    """The MuQConfig of `model` as a plain, JSON-serialisable dict."""
    config = model.config
    as_dict = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)  # type: ignore[arg-type]
    plain: dict[str, Any] = json.loads(json.dumps(as_dict, default=str))
    return plain


def _config_hash(**fields: Any) -> str:
    # the weights fingerprint (not the path) identifies the weights, so a moved checkpoint keeps its hash
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
