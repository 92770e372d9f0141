"""Audio decoding and limits, encoder backends (MuQ, small random MuQ, checkpoints, MuQ-MuLan), pooling, and the
single-process and Ray Data embedding jobs. (Tagging is its own package, `tagging`; the vector-set store is
`museed.vectorset`.)

Public names are imported lazily so that `import embedding.audio` (Ray decode tasks, upload validation)
does not pay for importing torch and MuQ.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from embedding.audio import AudioError, AudioLimits, SegmentedAudio, load_segments
    from embedding.base import Encoder, EncoderError, EncoderNotCachedError, RandomEncoderWarning
    from embedding.checkpoint import save_encoder_checkpoint
    from embedding.encoders import load_encoder
    from embedding.muq_encoder import MuQEncoder
    from embedding.small_muq import build_small_muq, small_muq_config

_EXPORTS = {
    "AudioError": "embedding.audio",
    "AudioLimits": "embedding.audio",
    "SegmentedAudio": "embedding.audio",
    "load_segments": "embedding.audio",
    "Encoder": "embedding.base",
    "EncoderError": "embedding.base",
    "EncoderNotCachedError": "embedding.base",
    "MuQEncoder": "embedding.muq_encoder",
    "RandomEncoderWarning": "embedding.base",
    "build_small_muq": "embedding.small_muq",
    "load_encoder": "embedding.encoders",
    "save_encoder_checkpoint": "embedding.checkpoint",
    "small_muq_config": "embedding.small_muq",
}

__all__ = [
    "AudioError",
    "AudioLimits",
    "Encoder",
    "EncoderError",
    "EncoderNotCachedError",
    "MuQEncoder",
    "RandomEncoderWarning",
    "SegmentedAudio",
    "build_small_muq",
    "load_encoder",
    "load_segments",
    "save_encoder_checkpoint",
    "small_muq_config",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'embedding' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
