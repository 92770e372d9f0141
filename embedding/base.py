"""What every encoder backend shares: the `Encoder` protocol, its errors, and the reproducibility helpers.

A neutral module so that the backends (`embedding.muq_encoder`, `embedding.mulan`, `embedding.checkpoint`) and
the registry (`embedding.encoders.load_encoder`) depend on it and never on each other in a circle. Torch is
imported inside the helpers that need it, so importing the errors stays cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import metadata
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from museed.errors import PipelineError

if TYPE_CHECKING:
    import numpy as np
    from torch import nn


class EncoderError(PipelineError):
    """An encoder spec, directory or checkpoint that cannot be loaded, or input an encoder cannot embed."""


class EncoderNotCachedError(EncoderError):
    """The requested hub model is not in the local Hugging Face cache (the only case "auto" falls back on)."""


class RandomEncoderWarning(UserWarning):
    """Issued when MUSEED falls back to a randomly initialised MuQ: its vectors are not MuQ embeddings."""


@runtime_checkable
class Encoder(Protocol):
    """What the embedding job, the upload path and training need from an audio encoder."""

    encoder_id: str  # stable id recorded with every vector set
    sample_rate: int
    dim: int
    layer: int  # hidden state used
    pooling: str  # "mean"

    def describe(self) -> dict[str, Any]:
        """Everything needed to reproduce the vectors (kind, source, config, layer, versions, config_hash)."""
        ...

    def embed_segments(self, segments: np.ndarray) -> np.ndarray:
        """(n, samples) float32 clips -> (n, dim) float32 clip vectors, not normalised."""
        ...

    def embed_tracks(self, tracks: Sequence[np.ndarray]) -> np.ndarray:
        """List of (n_i, samples) clip arrays -> (len, dim) L2-normalised track vectors."""
        ...


def state_dict_digest(module: nn.Module) -> str:
    """sha256 over the names, shapes and bytes of all parameters and buffers (cheap for small models)."""
    import hashlib

    import torch

    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    """Versions of the libraries that determine the vectors."""
    import torch
    import transformers

    versions = {"torch": torch.__version__, "transformers": transformers.__version__}
    for dist in ("muq", "museed"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    return versions
