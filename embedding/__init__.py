"""Audio decoding and limits, encoder backends, MuLan tagging, the Ray Data job and the embedding store.

Public names are imported lazily so that `import embedding.audio` (Ray decode tasks, upload validation)
does not pay for importing torch and MuQ.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from embedding.audio import AudioError, AudioLimits, SegmentedAudio, load_segments
    from embedding.encoders import (
        Encoder,
        EncoderError,
        EncoderNotCachedError,
        MuQEncoder,
        RandomEncoderWarning,
        build_small_muq,
        load_encoder,
        save_encoder_checkpoint,
        small_muq_config,
    )

_EXPORTS = {
    "AudioError": "embedding.audio",
    "AudioLimits": "embedding.audio",
    "SegmentedAudio": "embedding.audio",
    "load_segments": "embedding.audio",
    "Encoder": "embedding.encoders",
    "EncoderError": "embedding.encoders",
    "EncoderNotCachedError": "embedding.encoders",
    "MuQEncoder": "embedding.encoders",
    "RandomEncoderWarning": "embedding.encoders",
    "build_small_muq": "embedding.encoders",
    "load_encoder": "embedding.encoders",
    "save_encoder_checkpoint": "embedding.encoders",
    "small_muq_config": "embedding.encoders",
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
